//! LeaveGroup (key 13): members leave, and the group rebalances without them.
//! v0-2 name one member and answer with one error; v3+ name a batch (by member id
//! or group.instance.id) and answer per member.

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse, RequestHeader};

use super::ErrorCodes;
use crate::broker::Broker;
use crate::group::MemberIdentity;
use crate::kafka::error_codes::ErrorCode;

/// Answers a LeaveGroup request.
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let version = header.request_api_version;
    let members: Vec<MemberIdentity> = if version >= 3 {
        let identity =
            |m: &kafka_protocol::messages::leave_group_request::MemberIdentity| MemberIdentity {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            };
        request.members.iter().map(identity).collect()
    } else {
        vec![MemberIdentity { member_id: request.member_id.to_string(), group_instance_id: None }]
    };
    let answers = match broker.groups.leave(&request.group_id.0, &members) {
        Ok(answers) => answers,
        Err(e) => return LeaveGroupResponse::default().with_error_code(e.error_code()),
    };
    let codes: Vec<i16> =
        answers.iter().map(|a| a.as_ref().map_or_else(|e| e.error_code(), |()| 0)).collect();
    if version < 3 {
        // As Kafka: the one member's error becomes the top-level error.
        let code = codes.iter().copied().find(|&c| c != 0).unwrap_or(0);
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let responses = members
        .into_iter()
        .zip(codes)
        .map(|(m, code)| {
            MemberResponse::default()
                .with_member_id(m.member_id.into())
                .with_group_instance_id(m.group_instance_id.map(Into::into))
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default().with_members(responses)
}

impl ErrorCodes for LeaveGroupResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        self.members.iter().for_each(|m| each(m.error_code));
    }
}
