//! The HTTP API: one file per resource, each with its own `router(state)`, merged
//! here into one service.
//!
//! - `health`: `/healthz` and `/readyz`.
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

mod error;
mod extract;
mod health;
mod processors;

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

/// Every route of the API, with the body limit and JSON answers for unknown paths
/// and methods.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router(state.clone()))
        .merge(processors::router(state))
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
        "no such endpoint {}: the API lives under /v1 (for example GET /v1/processors)",
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
