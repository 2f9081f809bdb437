//! `/v1/pipelines`: a pipeline declaration (topics and processors) planned,
//! applied, reported on or deleted as one unit. The broker keeps no copy of a
//! pipeline: each request carries it, as `weir pipeline` sends a file.
//!
//! | method and path                    | body       | answer                              |
//! |------------------------------------|------------|-------------------------------------|
//! | `POST /v1/pipelines/plan`          | `Pipeline` | 200, `{"changes": [Change]}`        |
//! | `POST /v1/pipelines/apply`         | `Pipeline` | 200, `{"changes": [Change]}` (made) |
//! | `POST /v1/pipelines/status`        | `Pipeline` | 200, `Status`                       |
//! | `POST /v1/pipelines/delete?topics=BOOL` | `Pipeline` | 200, `{"deleted": [String]}`   |
//!
//! A pipeline that cannot be applied answers 422 with every reason, and nothing
//! is changed; a change that fails after others were made answers 500 saying
//! which were made.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Json, Query};
use super::openapi::Route;
use super::{ApiError, AppState};
use crate::pipelines::{self, Pipeline, PipelineError};

/// The pipeline routes.
pub fn routes() -> Vec<Route> {
    let changes = || json!({ "type": "object", "properties": { "changes": { "type": "array" } } });
    vec![
        Route::post("/v1/pipelines/plan", plan, "planPipeline", "Plan a pipeline")
            .describe(
                "What applying the pipeline would change (in order), or every reason it \
                 cannot be applied. Changes nothing; compiles the modules it would deploy.",
            )
            .body(pipeline_schema())
            .json(200, "The changes apply would make", changes())
            .errors(&[400, 413, 422]),
        Route::post("/v1/pipelines/apply", apply, "applyPipeline", "Apply a pipeline")
            .describe(
                "Creates the missing topics, sets changed configs, deploys the missing \
                 processors upstream first and upgrades those whose module or config \
                 changed (keeping offsets and state). Nothing is changed unless the whole \
                 plan is sound.",
            )
            .body(pipeline_schema())
            .json(200, "The changes made (none: it was as declared)", changes())
            .errors(&[400, 413, 422, 500]),
        Route::post("/v1/pipelines/status", status, "pipelineStatus", "A pipeline's status")
            .describe("Each declared topic and processor as it runs, and what apply would change.")
            .body(pipeline_schema())
            .json(200, "The status", json!({ "type": "object" }))
            .errors(&[400, 413]),
        Route::post("/v1/pipelines/delete", delete, "deletePipeline", "Delete a pipeline")
            .describe(
                "Deletes the declared processors that are deployed (with their state and \
                 offsets), downstream first; with `topics=true` the declared topics too.",
            )
            .query("topics", json!({ "type": "boolean" }), "Delete the declared topics too")
            .body(pipeline_schema())
            .json(200, "What was deleted", json!({ "type": "object" }))
            .errors(&[400, 413, 500]),
    ]
}

fn pipeline_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": { "type": "string" },
            "topics": { "type": "array", "items": {
                "type": "object",
                "required": ["name", "partitions"],
                "properties": {
                    "name": { "type": "string" },
                    "partitions": { "type": "integer", "minimum": 1 },
                    "configs": { "type": "object", "additionalProperties": { "type": "string" } },
                    "feedback": { "type": "boolean" },
                },
            }},
            "processors": { "type": "array", "items": {
                "type": "object",
                "required": ["name", "module"],
                "description": "A processor manifest (as for POST /v1/processors) with its \
                                module, the component's bytes in standard base64",
            }},
        },
    })
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Invalid(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            PipelineError::Partial { .. } => {
                tracing::error!(error = %e, "applying a pipeline failed midway");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

/// Runs `work` on the blocking pool (it compiles modules and stops workers).
async fn blocking<T: Send + 'static>(
    state: AppState,
    work: impl FnOnce(&AppState) -> Result<T, PipelineError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(move || work(&state)).await {
        Ok(result) => Ok(result?),
        Err(e) => {
            tracing::error!(error = %e, "a pipeline operation panicked or was cancelled");
            Err(ApiError::internal("the pipeline operation"))
        }
    }
}

async fn plan(
    State(state): State<AppState>,
    Json(pipeline): Json<Pipeline>,
) -> Result<axum::Json<Value>, ApiError> {
    let pipeline = Arc::new(pipeline);
    let changes =
        blocking(state, move |s| pipelines::plan(&s.broker, &s.processors, &pipeline)).await?;
    Ok(axum::Json(json!({ "changes": changes })))
}

async fn apply(
    State(state): State<AppState>,
    Json(pipeline): Json<Pipeline>,
) -> Result<axum::Json<Value>, ApiError> {
    let changes =
        blocking(state, move |s| pipelines::apply(&s.broker, &s.processors, &pipeline)).await?;
    Ok(axum::Json(json!({ "changes": changes })))
}

async fn status(
    State(state): State<AppState>,
    Json(pipeline): Json<Pipeline>,
) -> Result<axum::Json<pipelines::Status>, ApiError> {
    let status =
        blocking(state, move |s| Ok(pipelines::status(&s.broker, &s.processors, &pipeline)))
            .await?;
    Ok(axum::Json(status))
}

/// `?topics=` of a delete.
#[derive(Debug, Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    topics: bool,
}

async fn delete(
    State(state): State<AppState>,
    Query(query): Query<DeleteQuery>,
    Json(pipeline): Json<Pipeline>,
) -> Result<axum::Json<Value>, ApiError> {
    let deleted = blocking(state, move |s| {
        pipelines::delete(&s.broker, &s.processors, &pipeline, query.topics)
    })
    .await?;
    Ok(axum::Json(json!({ "deleted": deleted })))
}
