//! The HTTP API: one file per resource, each listing its routes (`routes()`),
//! merged here into one service from the one list `RESOURCES`, from which the
//! OpenAPI document is built too: a route added to a resource's list is served
//! and documented alike.
//!
//! - `console`: the web console at `/` (embedded page, script and style) and
//!   `/v1/cluster`, the broker its header names.
//! - `broker_configs`: `/v1/broker/configs`: the broker's own configs, listed
//!   and changed at run time.
//! - `health`: `/healthz` and `/readyz`.
//! - `topics`: `/v1/topics/...`: list, describe, create, delete, alter configs.
//! - `records`: produce JSON records to a topic, read a partition's records.
//! - `groups`: `/v1/groups/...`: consumer groups, their members, offsets and lag;
//!   offset resets and deletion.
//! - `pipelines`: `/v1/pipelines/...`: plan, apply, status and delete a pipeline
//!   declaration (topics and processors as one unit).
//! - `openapi`: `Route`, the API as data, and `/openapi.json`, the document
//!   built from it.
//! - `metrics`: `/metrics`, in Prometheus text format.
//! - `processors`: `/v1/processors/...`: deploy, status, pause and resume,
//!   upgrade, delete, logs.
//! - `error`: the one error shape every route answers with,
//!   `{"error": "<what went wrong and what to do>"}`, and its status code.
//! - `extract`: axum's `Json`, `Query` and `Path` extractors with their
//!   rejections turned into that shape (400 for a body or query that does not
//!   parse, 413 for a body over [`MAX_BODY_BYTES`]).
//!
//! Handlers call the same domain methods the Kafka handlers and the CLI use; work
//! that blocks (compiling a module, stopping workers) runs on the blocking pool.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use tokio::net::TcpListener;
use tracing::{error, info};

use crate::broker::Broker;
use crate::processors::Processors;

mod broker_configs;
pub mod console;
mod error;
mod extract;
mod groups;
mod health;
pub mod metrics;
mod openapi;
mod pipelines;
mod processors;
mod records;
mod topics;

pub use error::ApiError;

/// The largest request body accepted: room for a 48 MiB module, base64-encoded.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// What every handler shares. It exists only between opening storage and the
/// processors and closing them, so a handler never sees either closed.
#[derive(Clone)]
pub struct AppState {
    /// Topics, partitions and groups.
    pub broker: Arc<Broker>,
    /// The deployed processors.
    pub processors: Arc<Processors>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("advertised", &self.broker.advertised)
            .finish_non_exhaustive()
    }
}

/// A resource of the API: its routes, and how the OpenAPI document tags them.
struct Resource {
    /// The tag of its operations.
    tag: &'static str,
    /// What the tag stands for.
    description: &'static str,
    /// Its routes.
    routes: fn() -> Vec<openapi::Route>,
}

/// Every documented resource: the router and the OpenAPI document are both built
/// from this list.
const RESOURCES: &[Resource] = &[
    Resource { tag: "topics", description: "Topics and their configs", routes: topics::routes },
    Resource { tag: "records", description: "Produce and read records", routes: records::routes },
    Resource { tag: "groups", description: "Consumer groups and lag", routes: groups::routes },
    Resource { tag: "processors", description: "Wasm processors", routes: processors::routes },
    Resource {
        tag: "pipelines",
        description: "Topics and processors applied as one unit",
        routes: pipelines::routes,
    },
    Resource { tag: "metrics", description: "Prometheus metrics", routes: metrics::routes },
    Resource { tag: "health", description: "Liveness and readiness", routes: health::routes },
    Resource { tag: "cluster", description: "This broker", routes: console::routes },
    Resource {
        tag: "broker",
        description: "The broker's own configs",
        routes: broker_configs::routes,
    },
    Resource { tag: "openapi", description: "This document", routes: openapi::routes },
];

/// Every route of the API, with the body limit and JSON answers for unknown paths
/// and methods.
pub fn router(state: AppState) -> Router {
    let routes = RESOURCES.iter().flat_map(|resource| (resource.routes)());
    routes
        .fold(Router::new(), |router, route| route.add_to(router))
        .merge(console::router())
        .with_state(state)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Serves the API on `listener` until `shutdown` completes, then lets requests in
/// flight finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "http api serving");
    }
    let served = axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await;
    match served {
        Ok(()) => info!("http api stopped"),
        Err(e) => error!(error = %e, "http api failed"),
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint {}: the API lives under /v1 (for example GET /v1/topics), and \
         GET /openapi.json lists every route",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}: the Allow header lists the methods it takes",
            uri.path()
        ),
    )
}
