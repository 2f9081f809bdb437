//! The API's one error shape: a status code and `{"error": "..."}`, whose message
//! says what went wrong and what to do about it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::error;

use crate::log::{AppendError, ReadError};
use crate::processors::ProcessorError;
use crate::storage::StorageError;
use crate::topic::TopicError;
use crate::topics::TopicsError;

/// An answer other than success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// 4xx for the caller's mistakes, 5xx for the broker's.
    pub status: StatusCode,
    /// Shown to the caller as is.
    pub message: String,
}

/// The body of every error answer.
#[derive(Serialize)]
struct ErrorBody<'a> {
    /// What went wrong and what to do.
    error: &'a str,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    /// 500: the broker failed; the details go to its log, not to the caller.
    pub fn internal(what: &str) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} failed inside the broker: see the broker's log, then retry"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: &self.message })).into_response()
    }
}

impl From<ProcessorError> for ApiError {
    fn from(e: ProcessorError) -> Self {
        let status =
            StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            error!(error = %e, "processor operation failed");
        }
        ApiError::new(status, e.to_string())
    }
}

impl From<TopicsError> for ApiError {
    fn from(e: TopicsError) -> Self {
        let message = e.to_string();
        let broker_fault = |what: &str| {
            error!(error = %e, "{what} failed");
            ApiError::internal(what)
        };
        match &e {
            TopicsError::ReservedName(_)
            | TopicsError::Storage(StorageError::Topic(
                TopicError::InvalidTopicName(_)
                | TopicError::InvalidPartitions(_)
                | TopicError::InvalidConfig { .. }
                | TopicError::UnknownConfig(_),
            )) => ApiError::bad_request(message),
            TopicsError::Internal { .. } => ApiError::new(StatusCode::FORBIDDEN, message),
            TopicsError::NotEnoughReplicas { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
            }
            TopicsError::UnknownPartition { .. } => ApiError::not_found(message),
            TopicsError::Storage(StorageError::Topic(TopicError::UnknownTopic(_))) => {
                ApiError::not_found(format!("{message}: GET /v1/topics lists the topics"))
            }
            TopicsError::Storage(StorageError::Topic(TopicError::TopicAlreadyExists(_))) => {
                ApiError::conflict(format!("{message}: choose another name, or delete it first"))
            }
            TopicsError::Append(AppendError::TooLarge { .. }) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{message}: send fewer or smaller records per request, or raise the \
                     topic's max.message.bytes"
                ),
            ),
            TopicsError::Append(AppendError::KeylessRecord { .. }) => ApiError::bad_request(
                format!("{message}: give every record a key, or use a topic that is not compacted"),
            ),
            TopicsError::Append(AppendError::Closed) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the partition is closed: the broker is shutting down",
            ),
            TopicsError::Append(_) => broker_fault("appending the records"),
            TopicsError::Read(ReadError::OffsetOutOfRange { .. })
            | TopicsError::BadOffset(_)
            | TopicsError::PartitionsNotAdded { .. } => ApiError::bad_request(message),
            TopicsError::Read(_) => broker_fault("moving the log start"),
            TopicsError::Storage(_) => broker_fault("updating the topic"),
        }
    }
}

/// Runs `work` (which writes files, fsyncs or reads the log) on the blocking pool.
pub async fn blocking<T, E>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Into::into),
        Err(e) => {
            error!(error = %e, "{what} panicked or was cancelled");
            Err(ApiError::internal(what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_json_with_the_status() {
        let response = ApiError::bad_request("field `module` is empty").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json, serde_json::json!({"error": "field `module` is empty"}));
    }
}
