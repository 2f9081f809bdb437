//! JoinGroup (key 11): a member joins (or rejoins) a group; the answer waits until
//! the group's join phase completes. On v4+ a member without an id is first
//! answered MEMBER_ID_REQUIRED with one, as Kafka does.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;
use crate::group::{GroupError, JoinRequest, JoinResponse, Protocol};
use crate::kafka::error_codes::ErrorCode;

/// Answers a JoinGroup request.
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = header.request_api_version;
    let member_id = request.member_id.to_string();
    let millis = |ms: i32| Duration::from_millis(ms.max(0) as u64);
    let session_timeout = millis(request.session_timeout_ms);
    let join = JoinRequest {
        group_id: request.group_id.0.to_string(),
        member_id: member_id.clone(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        client_id: header.client_id.as_deref().unwrap_or("").to_owned(),
        client_host: super::client_host(),
        session_timeout,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout: if version >= 1 {
            millis(request.rebalance_timeout_ms)
        } else {
            session_timeout
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| Protocol { name: p.name.to_string(), metadata: p.metadata })
            .collect(),
        require_known_member_id: version >= 4,
    };
    match broker.groups.join(join).await {
        Ok(joined) => joined_response(joined, version),
        Err(e) => error_response(&e, member_id, version),
    }
}

fn joined_response(joined: JoinResponse, version: i16) -> JoinGroupResponse {
    let members = joined
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
                .with_metadata(m.metadata)
        })
        .collect();
    JoinGroupResponse::default()
        .with_generation_id(joined.generation_id)
        .with_protocol_type(protocol_field(joined.protocol_type, version, 7))
        .with_protocol_name(protocol_field(joined.protocol_name, version, 7))
        .with_leader(StrBytes::from_string(joined.leader))
        .with_member_id(StrBytes::from_string(joined.member_id))
        .with_members(members)
}

fn error_response(e: &GroupError, member_id: String, version: i16) -> JoinGroupResponse {
    let member_id = match e {
        GroupError::MemberIdRequired(id) => id.clone(),
        _ => member_id,
    };
    JoinGroupResponse::default()
        .with_error_code(e.error_code())
        .with_generation_id(-1)
        .with_protocol_type(protocol_field(None, version, 7))
        .with_protocol_name(protocol_field(None, version, 7))
        .with_member_id(StrBytes::from_string(member_id))
}

/// A protocol type or name: nullable from `nullable_since`, "" before (as Kafka).
pub fn protocol_field(
    value: Option<String>,
    version: i16,
    nullable_since: i16,
) -> Option<StrBytes> {
    match value {
        Some(v) => Some(StrBytes::from_string(v)),
        None if version >= nullable_since => None,
        None => Some(StrBytes::default()),
    }
}

impl ErrorCodes for JoinGroupResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code)
    }
}
