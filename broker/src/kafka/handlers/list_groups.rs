//! ListGroups (key 16): every group this broker coordinates, with its protocol
//! type and (v4+) state, optionally filtered by state.

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;

/// Answers a ListGroups request.
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let version = header.request_api_version;
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

impl ErrorCodes for ListGroupsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code)
    }
}
