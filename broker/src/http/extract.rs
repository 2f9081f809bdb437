//! axum's extractors with their rejections answered in the API's error shape.
//!
//! A body that is not JSON, or JSON of the wrong shape, is a 400 naming the field
//! and position; a body over the limit is a 413; a query string or path that does
//! not parse is a 400.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::{ApiError, MAX_BODY_BYTES};

/// A JSON request body.
#[derive(Debug)]
pub struct Json<T>(pub T);

/// A query string.
#[derive(Debug)]
pub struct Query<T>(pub T);

/// Path parameters.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

/// What the rejection's own source says (serde's message, with the field path
/// and position), or its generic text.
fn cause(rejection: &(dyn std::error::Error + 'static), fallback: String) -> String {
    rejection.source().map(ToString::to_string).unwrap_or(fallback)
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let detail = cause(rejection, rejection.body_text());
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError::bad_request(format!(
            "the request body does not have the expected shape: {detail}"
        )),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request(format!("the request body is not valid JSON: {detail}"))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request body as JSON, with the header `Content-Type: application/json`",
        ),
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than {} MiB: send a smaller module, or fewer \
                 records per request",
                MAX_BODY_BYTES >> 20
            ),
        ),
        _ => ApiError::bad_request(format!("the request body could not be read: {detail}")),
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    let detail = cause(rejection, rejection.body_text());
    ApiError::bad_request(format!("the query string is not valid: {detail}"))
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    if rejection.status().is_server_error() {
        tracing::error!(error = %rejection.body_text(), "path parameters of a route");
        return ApiError::internal("routing the request");
    }
    ApiError::bad_request(format!("the path is not valid: {}", rejection.body_text()))
}
