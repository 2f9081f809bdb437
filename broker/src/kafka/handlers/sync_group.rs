//! SyncGroup (key 14): the leader sends every member's assignment; each member
//! (the leader too) gets its own once the leader's has arrived.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, SyncGroupRequest, SyncGroupResponse};

use super::Api;
use super::join_group::protocol_field;
use crate::broker::Broker;
use crate::group::SyncRequest;

/// Versions 0 to 5, as Kafka 3.0 serves.
pub const API: Api = Api { key: ApiKey::SyncGroup, min: 0, max: 5 };

/// Answers a SyncGroup request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: SyncGroupRequest,
    version: i16,
) -> SyncGroupResponse {
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
