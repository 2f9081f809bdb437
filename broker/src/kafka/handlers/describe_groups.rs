//! DescribeGroups (key 15): each group's state, protocol and members; member
//! metadata and assignments only when the group is Stable, as Kafka. An unknown
//! group is `Dead` with no error.

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;

/// Kafka's bit field of the operations allowed on a group: READ (3), DELETE (6)
/// and DESCRIBE (8), all of them since Weir has no ACLs.
const GROUP_OPERATIONS: i32 = 1 << 3 | 1 << 6 | 1 << 8;
/// Authorized operations when the client did not ask (kafka-python rejects -1).
const NOT_REQUESTED: i32 = i32::MIN;

/// Answers a DescribeGroups request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let operations =
        if request.include_authorized_operations { GROUP_OPERATIONS } else { NOT_REQUESTED };
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let described = broker.groups.describe_group(&group_id.0);
            let members = described
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_string(m.member_id))
                        .with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
                        .with_client_id(StrBytes::from_string(m.client_id))
                        .with_client_host(StrBytes::from_string(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(group_id)
                .with_group_state(StrBytes::from_static_str(described.state.name()))
                .with_protocol_type(StrBytes::from_string(described.protocol_type))
                .with_protocol_data(StrBytes::from_string(described.protocol))
                .with_members(members)
                .with_authorized_operations(operations)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

impl ErrorCodes for DescribeGroupsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.groups.iter().for_each(|g| each(g.error_code))
    }
}
