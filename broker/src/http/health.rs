//! Liveness and readiness, for process supervisors and load balancers.
//!
//! - `GET /healthz`: 200 `ok` while the process serves HTTP.
//! - `GET /readyz`: 200 `ready` while storage and the processors are open (the
//!   state handlers get exists only then) and the data directory is reachable;
//!   503 with the reason otherwise.

use axum::extract::State;
use axum::http::StatusCode;

use super::openapi::Route;
use super::{ApiError, AppState};

/// The health routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/healthz", healthz, "healthz", "Liveness")
            .describe("200 `ok` while the process serves HTTP.")
            .text(200, "The process is alive"),
        Route::get("/readyz", readyz, "readyz", "Readiness")
            .describe(
                "200 `ready` while storage and the processors are open and the data \
                 directory is reachable; 503 with the reason otherwise.",
            )
            .text(200, "Ready to serve")
            .errors(&[503]),
    ]
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    let dir = state.broker.storage.dir();
    match tokio::fs::metadata(dir).await {
        Ok(meta) if meta.is_dir() => Ok("ready"),
        Ok(_) => {
            Err(unavailable(format!("the data directory {} is not a directory", dir.display())))
        }
        Err(e) => Err(unavailable(format!(
            "the data directory {} cannot be reached ({e}): check the disk it lives on",
            dir.display()
        ))),
    }
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
}
