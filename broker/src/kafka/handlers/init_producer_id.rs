//! InitProducerId (key 22): a producer id for an idempotent or a transactional
//! producer.
//!
//! Without a transactional id, as Kafka does, every request gets a new producer
//! id at epoch 0, whatever producer id and epoch it carries (v3+): Kafka's
//! TransactionCoordinator "blindly accepts" these, and idempotent clients bump
//! their epoch themselves or take the new id. With one, the transaction
//! coordinator answers (`txn::TxnCoordinator::init_producer_id`): the id's producer
//! id at a new epoch, fencing the previous producer and aborting its open
//! transaction. An empty transactional id gets INVALID_REQUEST, as from Kafka.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId, RequestHeader,
};
use tracing::{debug, error};

use super::{ErrorCodes, off_thread};
use crate::broker::Broker;
use crate::kafka::error_codes::{ErrorCode, refusal};

/// Answers an InitProducerId request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    if let Some(id) = request.transactional_id {
        let broker = Arc::clone(broker);
        let current =
            (request.producer_id.0 >= 0).then_some((request.producer_id.0, request.producer_epoch));
        let timeout = request.transaction_timeout_ms;
        let answer = off_thread(move || {
            broker.txns.init_producer_id(&id.0, timeout, current, broker.groups.offsets())
        })
        .await;
        return match answer {
            Ok((producer_id, epoch)) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(epoch),
            Err(e) => refused(refusal(&e).0),
        };
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
