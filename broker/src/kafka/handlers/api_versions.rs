//! ApiVersions (key 18): the versions of every API Weir serves, computed from the
//! handler registry so it cannot drift from what the handlers do.
//!
//! The response header is always v0, even for flexible (v3+) requests. A request at
//! a version Weir does not serve (kafka-python 3 starts at v4) is answered in v0
//! with UNSUPPORTED_VERSION and the key list; the client retries at a version it
//! finds there. No optional tagged fields are sent: librdkafka 2.0 (Debian's kcat)
//! fails to parse them.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader};

use super::{APIS, ErrorCodes};
use crate::broker::Broker;

fn key_list() -> Vec<ApiVersion> {
    APIS.iter()
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(api.min)
                .with_max_version(api.max)
        })
        .collect()
}

/// Answers a request that decoded at a served version.
pub async fn handle(
    _broker: &Arc<Broker>,
    _header: &RequestHeader,
    _request: ApiVersionsRequest,
) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(key_list())
}

/// The answer to an ApiVersions request at an unserved version: encode it at v0.
pub fn unsupported() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(key_list())
}

impl ErrorCodes for ApiVersionsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code)
    }
}
