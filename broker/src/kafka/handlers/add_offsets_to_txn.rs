//! AddOffsetsToTxn (key 25): a transactional producer says its open transaction
//! commits offsets of a group (then sends them with TxnOffsetCommit).

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, RequestHeader};

use super::{ErrorCodes, off_thread};
use crate::broker::Broker;
use crate::kafka::error_codes::refusal;

/// Answers an AddOffsetsToTxn request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let broker = Arc::clone(broker);
    let added = off_thread(move || {
        let (id, group) = (&request.transactional_id.0, &request.group_id.0);
        broker.txns.add_offsets(id, request.producer_id.0, request.producer_epoch, group)
    })
    .await;
    let code = added.map_or_else(|e| refusal(&e).0.code(), |()| 0);
    AddOffsetsToTxnResponse::default().with_error_code(code)
}

impl ErrorCodes for AddOffsetsToTxnResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code)
    }
}
