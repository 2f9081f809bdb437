//! EndTxn (key 26): commits or aborts the open transaction: markers to every
//! partition it wrote to and, on commit, its staged group offsets, before the
//! answer.

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, RequestHeader};

use super::{ErrorCodes, off_thread};
use crate::broker::Broker;
use crate::kafka::error_codes::refusal;

/// Answers an EndTxn request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: EndTxnRequest,
) -> EndTxnResponse {
    let broker = Arc::clone(broker);
    let ended = off_thread(move || {
        let (pid, epoch) = (request.producer_id.0, request.producer_epoch);
        let offsets = broker.groups.offsets();
        broker.txns.end(&request.transactional_id.0, pid, epoch, request.committed, offsets)
    })
    .await;
    let code = ended.map_or_else(|e| refusal(&e).0.code(), |()| 0);
    EndTxnResponse::default().with_error_code(code)
}

impl ErrorCodes for EndTxnResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code)
    }
}
