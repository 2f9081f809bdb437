//! SyncGroup (key 14): the leader sends every member's assignment; each member
//! (the leader too) gets its own once the leader's has arrived.

use std::sync::Arc;

use kafka_protocol::messages::{RequestHeader, SyncGroupRequest, SyncGroupResponse};

use super::ErrorCodes;
use super::join_group::protocol_field;
use crate::broker::Broker;
use crate::group::SyncRequest;
use crate::kafka::error_codes::ErrorCode;

/// Answers a SyncGroup request.
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let version = header.request_api_version;
    let sync = SyncRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        generation_id: request.generation_id,
        protocol_type: request.protocol_type.map(|s| s.to_string()),
        protocol_name: request.protocol_name.map(|s| s.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    match broker.groups.sync(sync).await {
        Ok(synced) => SyncGroupResponse::default()
            .with_protocol_type(protocol_field(synced.protocol_type, version, 5))
            .with_protocol_name(protocol_field(synced.protocol_name, version, 5))
            .with_assignment(synced.assignment),
        Err(e) => SyncGroupResponse::default().with_error_code(e.error_code()),
    }
}

impl ErrorCodes for SyncGroupResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code)
    }
}
