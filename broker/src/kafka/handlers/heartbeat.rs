//! Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells
//! it to rejoin.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse};

use super::Api;
use crate::broker::Broker;
use crate::group::MemberIdentity;

/// Versions 0 to 4, as Kafka 3.0 serves.
pub const API: Api = Api { key: ApiKey::Heartbeat, min: 0, max: 4 };

/// Answers a Heartbeat request.
pub fn handle(broker: &Arc<Broker>, request: HeartbeatRequest) -> HeartbeatResponse {
    let who = MemberIdentity {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
    };
    let answer = broker.groups.heartbeat(&request.group_id.0, &who, request.generation_id);
    HeartbeatResponse::default().with_error_code(answer.map_or_else(|e| e.error_code(), |()| 0))
}
