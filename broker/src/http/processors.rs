//! `/v1/processors`: deploy Wasm components, watch and steer them.
//!
//! | method and path                       | body                              | answer                  |
//! |---------------------------------------|-----------------------------------|-------------------------|
//! | `GET /v1/processors`                  |                                   | 200, `[ProcessorInfo]`  |
//! | `POST /v1/processors`                 | `{"manifest": {..}, "module": B64}` | 201, `ProcessorInfo`  |
//! | `GET /v1/processors/{name}`           |                                   | 200, `ProcessorInfo`    |
//! | `POST /v1/processors/{name}/pause`    |                                   | 200, `ProcessorInfo`    |
//! | `POST /v1/processors/{name}/resume`   |                                   | 200, `ProcessorInfo`    |
//! | `PUT /v1/processors/{name}/module`    | `{"module": B64, "config": {..}?}` | 200, `ProcessorInfo`   |
//! | `DELETE /v1/processors/{name}`        |                                   | 204                     |
//! | `GET /v1/processors/{name}/logs?after=SEQ&limit=N` |                      | 200, `[LogLine]`        |
//!
//! `module` is the component's bytes in standard base64 (line breaks allowed).
//! Logs are the lines with a sequence number above `after` (default 0), oldest
//! first, at most `limit` (default 100, at most 10000). They are read from the
//! internal topic `__weir_logs`, so they survive restarts; a line's `seq` is its
//! record's offset there plus one.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use weir_runtime::Manifest;

use super::extract::{Json, Path, Query};
use super::openapi::Route;
use super::{ApiError, AppState};
use crate::processors::{LogEntry, ProcessorError, ProcessorInfo};

/// Log lines answered when the request does not say.
pub const DEFAULT_LOG_LIMIT: usize = 100;
/// The most log lines one request may ask for.
pub const MAX_LOG_LIMIT: usize = 10_000;

/// The processor routes.
pub fn routes() -> Vec<Route> {
    let info = info_schema;
    vec![
        Route::get("/v1/processors", list, "listProcessors", "List processors").json(
            200,
            "Every deployed processor, by name",
            json!({ "type": "array", "items": info() }),
        ),
        Route::post("/v1/processors", deploy, "deployProcessor", "Deploy a processor")
            .describe(
                "Checks the manifest and its topics, compiles the module, creates the \
                 dead-letter topic and the state changelog, and starts the workers.",
            )
            .body(json!({
                "type": "object",
                "required": ["manifest", "module"],
                "properties": {
                    "manifest": manifest_schema(),
                    "module": module_schema(),
                },
            }))
            .json(201, "Deployed", info())
            .errors(&[400, 409, 413, 415, 422]),
        Route::get("/v1/processors/{name}", show, "getProcessor", "Show a processor")
            .json(200, "The processor and its status", info())
            .errors(&[404]),
        Route::delete("/v1/processors/{name}", delete, "deleteProcessor", "Delete a processor")
            .describe(
                "Stops it and deletes it with its state changelog and its consumer \
                 group's offsets; its dead-letter topic stays.",
            )
            .empty(204, "Deleted")
            .errors(&[404]),
        Route::post("/v1/processors/{name}/pause", pause, "pauseProcessor", "Pause a processor")
            .json(200, "Paused at the workers' next batch boundary", info())
            .errors(&[404]),
        Route::post(
            "/v1/processors/{name}/resume",
            resume,
            "resumeProcessor",
            "Resume a processor",
        )
        .json(200, "Resumed", info())
        .errors(&[404]),
        Route::put(
            "/v1/processors/{name}/module",
            upgrade,
            "upgradeProcessor",
            "Upgrade a processor's module",
        )
        .describe(
            "Swaps in a new module (and config, if given) at the workers' next \
             batch boundary, keeping offsets and state.",
        )
        .body(json!({
            "type": "object",
            "required": ["module"],
            "properties": {
                "module": module_schema(),
                "config": { "type": "object", "additionalProperties": { "type": "string" } },
            },
        }))
        .json(200, "Upgraded", info())
        .errors(&[400, 404, 413, 415, 422]),
        Route::get("/v1/processors/{name}/logs", logs, "processorLogs", "A processor's log lines")
            .query(
                "after",
                json!({ "type": "integer", "minimum": 0 }),
                "Lines with a greater sequence number (default 0)",
            )
            .query(
                "limit",
                json!({ "type": "integer", "minimum": 1, "maximum": MAX_LOG_LIMIT }),
                "At most this many lines (default 100)",
            )
            .json(
                200,
                "Lines, oldest first",
                json!({ "type": "array", "items": {
                "type": "object",
                "properties": {
                    "seq": { "type": "integer" },
                    "partition": { "type": ["integer", "null"] },
                    "timestamp_ms": { "type": "integer" },
                    "level": { "type": "string" },
                    "message": { "type": "string" },
                },
            } }),
            )
            .errors(&[400, 404]),
    ]
}

/// The `module` field of a deployment or an upgrade.
fn module_schema() -> Value {
    json!({ "type": "string", "description": "The Wasm component, standard base64" })
}

/// A deployment's manifest, as `weir_runtime::Manifest` reads it.
fn manifest_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name"],
        "description": "Give `input` or `inputs`",
        "properties": {
            "name": { "type": "string", "description": "Also its consumer group id" },
            "input": { "type": "string", "description": "The topic it consumes" },
            "inputs": {
                "type": "array",
                "items": { "type": "string" },
                "description": "Several topics it consumes, with the same partition count; \
                    partition p of each is merged by timestamp",
            },
            "allowed_lateness_ms": {
                "type": "integer",
                "minimum": 0,
                "description": "How far the watermark stays behind the least of the inputs' \
                    newest timestamps (default 0)",
            },
            "outputs": { "type": "array", "items": { "type": "string" } },
            "start": {
                "type": "object",
                "description": "Where it starts on partitions it never committed for: \
                    {\"kind\": \"earliest\"} (default), {\"kind\": \"latest\"}, \
                    {\"kind\": \"offset\", \"value\": N} or \
                    {\"kind\": \"timestamp\", \"value\": MS}",
            },
            "limits": { "type": "object", "description": "Sandbox limits" },
            "on_error": { "type": "string", "enum": ["dead-letter", "pause"] },
            "config": { "type": "object", "additionalProperties": { "type": "string" } },
        },
    })
}

/// A processor as the API shows it (`ProcessorInfo`).
fn info_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "manifest": manifest_schema(),
            "paused": { "type": "boolean" },
            "version": { "type": "integer", "description": "1 at deployment, +1 per upgrade" },
            "deployed_at_ms": { "type": "integer" },
            "status": { "type": "object", "description": "State and per-partition counters" },
        },
    })
}

/// The body of a deployment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    /// Name, input, outputs, start, limits, error policy, config.
    manifest: Manifest,
    /// The component, base64.
    module: String,
}

/// The body of an upgrade.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpgradeRequest {
    /// The new component, base64.
    module: String,
    /// A new config for `init`; absent keeps the current one.
    #[serde(default)]
    config: Option<BTreeMap<String, String>>,
}

/// The query of a logs request.
#[derive(Debug, Deserialize)]
struct LogsQuery {
    /// Answer lines with a greater sequence number.
    after: Option<u64>,
    /// At most this many lines.
    limit: Option<usize>,
}

async fn list(State(state): State<AppState>) -> axum::Json<Vec<ProcessorInfo>> {
    axum::Json(state.processors.list())
}

async fn deploy(
    State(state): State<AppState>,
    Json(request): Json<DeployRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let wasm = decode_module(&request.module)?;
    let processors = Arc::clone(&state.processors);
    let manifest = request.manifest;
    let info = blocking("deploying", move || processors.deploy(manifest, &wasm)).await?;
    let location = format!("/v1/processors/{}", info.manifest.name);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(info)))
}

async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::Json<ProcessorInfo>, ApiError> {
    Ok(axum::Json(state.processors.get(&name)?))
}

async fn pause(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::Json<ProcessorInfo>, ApiError> {
    Ok(axum::Json(state.processors.pause(&name)?))
}

async fn resume(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::Json<ProcessorInfo>, ApiError> {
    Ok(axum::Json(state.processors.resume(&name)?))
}

async fn upgrade(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<UpgradeRequest>,
) -> Result<axum::Json<ProcessorInfo>, ApiError> {
    let wasm = decode_module(&request.module)?;
    let processors = Arc::clone(&state.processors);
    let config = request.config;
    let info = blocking("upgrading", move || processors.upgrade(&name, &wasm, config)).await?;
    Ok(axum::Json(info))
}

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let processors = Arc::clone(&state.processors);
    blocking("deleting", move || processors.delete(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<LogsQuery>,
) -> Result<axum::Json<Vec<LogEntry>>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LOG_LIMIT);
    if !(1..=MAX_LOG_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit={limit} is out of range: ask for 1 to {MAX_LOG_LIMIT} lines"
        )));
    }
    let (processors, after) = (Arc::clone(&state.processors), query.after.unwrap_or(0));
    let lines = blocking("reading the logs of", move || processors.logs(&name, after, limit));
    Ok(axum::Json(lines.await?))
}

/// Runs `work` (which compiles modules or stops workers) on the blocking pool.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, ProcessorError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => Ok(result?),
        Err(e) => {
            tracing::error!(error = %e, "{what} a processor panicked or was cancelled");
            Err(ApiError::internal(what))
        }
    }
}

/// The bytes of the `module` field: standard base64, padded; line breaks and
/// spaces (as `base64` tools insert) are ignored.
fn decode_module(module: &str) -> Result<Vec<u8>, ApiError> {
    let decoded = if module.bytes().any(|b| b.is_ascii_whitespace()) {
        let packed: Vec<u8> = module.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        STANDARD.decode(packed)
    } else {
        STANDARD.decode(module)
    };
    let wasm = decoded.map_err(|e| {
        ApiError::bad_request(format!(
            "field `module` is not valid base64 ({e}): send the component's bytes in standard, \
             padded base64"
        ))
    })?;
    if wasm.is_empty() {
        return Err(ApiError::bad_request(
            "field `module` is empty: send the component's bytes in base64",
        ));
    }
    Ok(wasm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_modules_with_line_breaks_and_names_the_field_when_bad() {
        assert_eq!(decode_module("AGFzbQ==").unwrap(), b"\0asm");
        assert_eq!(decode_module("AGFz\nbQ==\n").unwrap(), b"\0asm");
        let bad = decode_module("not base64!").unwrap_err();
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.message.contains("field `module`"), "{}", bad.message);
        let empty = decode_module("").unwrap_err();
        assert!(empty.message.contains("field `module` is empty"), "{}", empty.message);
    }
}
