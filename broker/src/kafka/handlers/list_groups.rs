//! ListGroups (key 16): every group this broker coordinates, with its protocol
//! type and (v4+) state, optionally filtered by state.

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::Api;
use crate::broker::Broker;

/// Versions 0 to 4, as Kafka 3.0 serves.
pub const API: Api = Api { key: ApiKey::ListGroups, min: 0, max: 4 };

/// Answers a ListGroups request.
pub fn handle(
    broker: &Arc<Broker>,
    request: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    let wanted: Vec<String> = request.states_filter.iter().map(|s| s.to_lowercase()).collect();
    let groups = broker
        .groups
        .list_groups()
        .into_iter()
        .filter(|g| wanted.is_empty() || wanted.contains(&g.state.name().to_lowercase()))
        .map(|g| {
            let state = if version >= 4 { g.state.name() } else { "" };
            ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type))
                .with_group_state(StrBytes::from_static_str(state))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
