//! DeleteGroups (key 42): deletes each named group that has no members, with
//! its committed offsets, as `GroupCoordinator::delete_group` does for the HTTP
//! API; a group with members is NON_EMPTY_GROUP, an unknown one
//! GROUP_ID_NOT_FOUND. (A processor's group is only a mirror of its offsets:
//! deleting it leaves the processor's changelog, and its next commit shows again.)

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, RequestHeader};

use super::ErrorCodes;
use crate::broker::Broker;
use crate::kafka::error_codes::refusal;

/// Answers a DeleteGroups request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    // On the blocking pool: each deletion appends tombstones to __consumer_offsets.
    let broker = Arc::clone(broker);
    super::off_thread(move || {
        let results = request
            .groups_names
            .into_iter()
            .map(|group_id| {
                let code = match broker.groups.delete_group(&group_id.0) {
                    Ok(()) => 0,
                    Err(e) => refusal(&e).0.code(),
                };
                DeletableGroupResult::default().with_group_id(group_id).with_error_code(code)
            })
            .collect();
        DeleteGroupsResponse::default().with_results(results)
    })
    .await
}

impl ErrorCodes for DeleteGroupsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.results.iter().for_each(|r| each(r.error_code))
    }
}
