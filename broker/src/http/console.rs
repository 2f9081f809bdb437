//! The web console: one page an operator leaves open, served at `/`.
//!
//! | method and path            | answer                                         |
//! |----------------------------|------------------------------------------------|
//! | `GET /`                    | the page, HTML                                 |
//! | `GET /console/console.js`  | its script                                     |
//! | `GET /console/console.css` | its style sheet                                |
//! | `GET /v1/cluster`          | 200, `{node_id, cluster_id, kafka_address, ..}` |
//!
//! The three files under `console/` are embedded in the binary with
//! `include_str!`: no build step, nothing fetched at run time. They are answered
//! with `Cache-Control: no-cache` and an `ETag` (a hash of the file, computed at
//! compile time), so a browser revalidates them and gets a 304 until the binary
//! changes.
//!
//! The script (plain JavaScript, no framework) polls the API every 2 s —
//! `/v1/cluster`, `/v1/topics`, `/v1/groups` and `/v1/processors` — and renders
//! three tables; rates (records per second) come from two successive polls.
//! A processor's logs (`/v1/processors/{name}/logs`, followed) and its
//! dead-letter topic's latest records (`/v1/topics/{t}/partitions/{p}/records`)
//! open in a panel below. A route that fails shows "unavailable" in its panel
//! and its error in a banner at the top. Only `/v1/cluster` is a route of the
//! API (and of its OpenAPI document); the page and its assets are not.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::json;

use super::AppState;
use super::openapi::Route;

/// One embedded file: its bytes, content type and entity tag.
struct Asset {
    /// The file.
    body: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its `ETag`: a quoted hash of `body`.
    etag: &'static str,
}

/// Declares an embedded asset, its entity tag computed at compile time.
macro_rules! asset {
    ($file:literal, $content_type:literal) => {{
        const BODY: &str = include_str!($file);
        const TAG: [u8; 18] = etag(BODY);
        const ETAG: &str = match std::str::from_utf8(&TAG) {
            Ok(tag) => tag,
            Err(_) => panic!("an entity tag is ASCII"),
        };
        Asset { body: BODY, content_type: $content_type, etag: ETAG }
    }};
}

/// The page.
const INDEX: Asset = asset!("console/index.html", "text/html; charset=utf-8");
/// Its script.
const SCRIPT: Asset = asset!("console/console.js", "text/javascript; charset=utf-8");
/// The pipeline graph's script.
const GRAPH: Asset = asset!("console/graph.js", "text/javascript; charset=utf-8");
/// Its style sheet.
const STYLE: Asset = asset!("console/console.css", "text/css; charset=utf-8");

/// The page and its assets; they use no state, so any router can merge them.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve(&INDEX, &headers) }))
        .route(
            "/console/console.js",
            get(|headers: HeaderMap| async move { serve(&SCRIPT, &headers) }),
        )
        .route(
            "/console/graph.js",
            get(|headers: HeaderMap| async move { serve(&GRAPH, &headers) }),
        )
        .route(
            "/console/console.css",
            get(|headers: HeaderMap| async move { serve(&STYLE, &headers) }),
        )
}

/// The API route the header of the page reads.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/v1/cluster", cluster, "getCluster", "This broker")
            .describe("This node's id, the cluster id, the address Kafka clients connect to, \
                       the version and the uptime.")
            .json(200, "The broker", json!({
                "type": "object",
                "properties": {
                    "node_id": { "type": "integer" },
                    "cluster_id": { "type": "string" },
                    "kafka_address": { "type": "string", "description": "host:port, as Metadata advertises it" },
                    "version": { "type": "string" },
                    "uptime_ms": { "type": "integer" },
                },
            })),
    ]
}

/// The answer of `GET /v1/cluster`.
#[derive(Debug, Serialize)]
struct Cluster {
    /// This node's id, as Metadata answers it.
    node_id: i32,
    /// The cluster id clients see.
    cluster_id: String,
    /// The address Kafka clients are told to connect to.
    kafka_address: String,
    /// The broker's version.
    version: &'static str,
    /// Time since the broker started, ms.
    uptime_ms: u64,
}

async fn cluster(State(state): State<AppState>) -> axum::Json<Cluster> {
    let broker = &state.broker;
    axum::Json(Cluster {
        node_id: broker.options.node_id,
        cluster_id: broker.options.cluster_id.clone(),
        kafka_address: broker.advertised.to_string(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_ms: u64::try_from(broker.metrics.uptime().as_millis()).unwrap_or(u64::MAX),
    })
}

/// `asset`, or 304 when the request already holds it (`If-None-Match`).
fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let cache = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, HeaderValue::from_static(asset.etag)),
    ];
    let held = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag == asset.etag);
    if held {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))];
    (content_type, cache, asset.body).into_response()
}

/// `"` + 16 hex digits of the 64-bit FNV-1a hash of `body` + `"`.
const fn etag(body: &str) -> [u8; 18] {
    let bytes = body.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    let hex = b"0123456789abcdef";
    let mut tag = [b'"'; 18];
    let mut digit = 0;
    while digit < 16 {
        tag[1 + digit] = hex[((hash >> (60 - 4 * digit)) & 0xf) as usize];
        digit += 1;
    }
    tag
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    fn get(asset: &Asset, if_none_match: Option<&str>) -> Response {
        let mut headers = HeaderMap::new();
        if let Some(tag) = if_none_match {
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(tag).unwrap());
        }
        serve(asset, &headers)
    }

    #[tokio::test]
    async fn serves_assets_with_their_types_and_cache_headers() {
        for (name, asset) in [("page", &INDEX), ("script", &SCRIPT), ("style", &STYLE)] {
            let response = get(asset, None);
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], asset.content_type, "{name}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{name}");
            assert_eq!(headers[header::ETAG], asset.etag, "{name}");
            let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
            assert_eq!(body, asset.body.as_bytes(), "{name}");

            let held = format!("\"0000000000000000\", {}", asset.etag);
            assert_eq!(get(asset, Some(&held)).status(), StatusCode::NOT_MODIFIED, "{name}");
            let stale = get(asset, Some("\"0000000000000000\""));
            assert_eq!(stale.status(), StatusCode::OK, "{name}");
        }
    }

    #[test]
    fn the_page_refers_only_to_its_own_assets() {
        assert!(INDEX.body.contains(r#"src="/console/console.js""#));
        assert!(INDEX.body.contains(r#"href="/console/console.css""#));
        for file in [INDEX.body, SCRIPT.body, STYLE.body] {
            assert!(!file.contains("http://") && !file.contains("https://"), "nothing remote");
        }
    }

    #[test]
    fn entity_tags_are_quoted_hex_and_differ_per_file() {
        assert_eq!(&etag(""), b"\"cbf29ce484222325\"");
        for tag in [INDEX.etag, SCRIPT.etag, STYLE.etag] {
            assert_eq!(tag.len(), 18);
            assert!(tag.starts_with('"') && tag.ends_with('"'));
        }
        assert_ne!(INDEX.etag, SCRIPT.etag);
    }
}
