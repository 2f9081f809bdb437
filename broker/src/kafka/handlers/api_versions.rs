//! ApiVersions (key 18): the versions of every API Weir serves, computed from the
//! handler registry so it cannot drift from what the handlers do.
//!
//! The response header is always v0, even for flexible (v3+) requests. A request at
//! a version Weir does not serve (kafka-python 3 starts at v4) is answered in v0
//! with UNSUPPORTED_VERSION and the key list; the client retries at a version it
//! finds there. No optional tagged fields are sent: librdkafka 2.0 (Debian's kcat)
//! fails to parse them.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use super::{APIS, Api};

/// Versions 0 to 3, as Kafka 3.0 serves.
pub const API: Api = Api { key: ApiKey::ApiVersions, min: 0, max: 3 };

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
pub fn handle(_request: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(key_list())
}

/// The answer to an ApiVersions request at an unserved version: encode it at v0.
pub fn unsupported() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(key_list())
}
