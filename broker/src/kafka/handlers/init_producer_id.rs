//! InitProducerId (key 22): a producer id for an idempotent producer.
//!
//! As Kafka does for a null transactional id, every request gets a new producer id
//! at epoch 0, whatever producer id and epoch it carries (v3+): Kafka's
//! TransactionCoordinator "blindly accepts" these, and idempotent clients bump
//! their epoch themselves or take the new id. Transactions are not supported
//! yet: a transactional id is refused with UNSUPPORTED_VERSION, what Kafka
//! answers for a feature the broker has switched off (as for KIP-848's consumer
//! groups when disabled), and the broker logs why, once per id. Java producers
//! fail at once; librdkafka retries until `init_transactions` times out, then
//! reports "Broker: API version not supported". (It used to be
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which sends users looking for an ACL
//! problem that is not there.) An empty transactional id gets INVALID_REQUEST,
//! as from Kafka.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, RequestHeader,
};
use tracing::{debug, error, warn};

use super::ErrorCodes;
use crate::broker::Broker;
use crate::kafka::error_codes::ErrorCode;

/// Answers an InitProducerId request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    match request.transactional_id {
        Some(id) if id.0.is_empty() => return refused(ResponseError::InvalidRequest),
        Some(id) => {
            // librdkafka retries every half second until init_transactions times
            // out: say it once per transactional id, then quietly.
            if first_refusal(&id.0) {
                warn!(
                    transactional_id = %&*id.0,
                    "InitProducerId refused with UNSUPPORTED_VERSION: this broker does not \
                     support transactions yet; use an idempotent producer (enable.idempotence) \
                     without transactional.id"
                );
            } else {
                debug!(transactional_id = %&*id.0, "InitProducerId refused again");
            }
            return refused(ResponseError::UnsupportedVersion);
        }
        None => {}
    }
    let storage = Arc::clone(&broker.storage);
    match tokio::task::spawn_blocking(move || storage.allocate_producer_id()).await {
        Ok(Ok(id)) => {
            debug!(producer_id = id, previous = request.producer_id.0, "producer id allocated");
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0)
        }
        Ok(Err(e)) => {
            error!(error = %e, "allocating a producer id failed");
            refused(e.response_error())
        }
        Err(e) => {
            error!(error = %e, "allocating a producer id panicked");
            refused(ResponseError::UnknownServerError)
        }
    }
}

/// True the first time `id` is refused (of the last 1,000 ids refused).
fn first_refusal(id: &str) -> bool {
    static SEEN: std::sync::OnceLock<parking_lot::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    let mut seen = SEEN.get_or_init(Default::default).lock();
    if seen.len() >= 1_000 {
        seen.clear();
    }
    seen.insert(id.to_owned())
}

fn refused(code: ResponseError) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(code.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

impl ErrorCodes for InitProducerIdResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code)
    }
}
