//! Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells
//! it to rejoin.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse, RequestHeader};

use super::ErrorCodes;
use crate::broker::Broker;
use crate::group::MemberIdentity;
use crate::kafka::error_codes::ErrorCode;

/// Answers a Heartbeat request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let who = MemberIdentity {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
    };
    let answer = broker.groups.heartbeat(&request.group_id.0, &who, request.generation_id);
    HeartbeatResponse::default().with_error_code(answer.map_or_else(|e| e.error_code(), |()| 0))
}

impl ErrorCodes for HeartbeatResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code)
    }
}
