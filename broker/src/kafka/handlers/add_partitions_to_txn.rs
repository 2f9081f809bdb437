//! AddPartitionsToTxn (key 24): a transactional producer names the partitions its
//! open transaction writes to, before it produces to them. v0-3 carry one
//! transaction; v4+ (the batched form brokers send each other, KIP-890) carry
//! several, each answered on its own. A partition that does not exist is
//! UNKNOWN_TOPIC_OR_PARTITION and the others of its request OPERATION_NOT_ATTEMPTED,
//! as in Kafka: nothing is added unless all can be.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, RequestHeader, TransactionalId,
};

use super::{ErrorCodes, off_thread};
use crate::broker::Broker;
use crate::kafka::error_codes::refusal;

/// Answers an AddPartitionsToTxn request.
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let broker = Arc::clone(broker);
    if header.request_api_version <= 3 {
        let (id, pid, epoch) = (
            request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
        );
        let topics = request.v3_and_below_topics;
        let results = off_thread(move || add(&broker, &id, pid, epoch, &topics)).await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    let results = off_thread(move || {
        request
            .transactions
            .into_iter()
            .map(|t| {
                let topics =
                    add(&broker, &t.transactional_id, t.producer_id.0, t.producer_epoch, &t.topics);
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(t.transactional_id)
                    .with_topic_results(topics)
            })
            .collect()
    })
    .await;
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// Adds the partitions of one transaction; one result per partition asked.
fn add(
    broker: &Broker,
    id: &TransactionalId,
    producer_id: i64,
    epoch: i16,
    topics: &[AddPartitionsToTxnTopic],
) -> Vec<AddPartitionsToTxnTopicResult> {
    let exists = |topic: &str, p: i32| {
        u32::try_from(p).ok().and_then(|p| broker.storage.partition(topic, p)).is_some()
    };
    let all_exist = topics.iter().all(|t| t.partitions.iter().all(|&p| exists(&t.name.0, p)));
    let outcome = if all_exist {
        let wanted: Vec<(String, i32)> = topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|&p| (t.name.0.to_string(), p)))
            .collect();
        broker.txns.add_partitions(&id.0, producer_id, epoch, &wanted).map_err(|e| refusal(&e).0)
    } else {
        Err(ResponseError::OperationNotAttempted)
    };
    topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    let code = match &outcome {
                        Ok(()) => 0,
                        Err(_) if !exists(&t.name.0, p) => {
                            ResponseError::UnknownTopicOrPartition.code()
                        }
                        Err(e) => e.code(),
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(code)
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(partitions)
        })
        .collect()
}

impl ErrorCodes for AddPartitionsToTxnResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        let v4 = self.results_by_transaction.iter().flat_map(|t| &t.topic_results);
        for topic in self.results_by_topic_v3_and_below.iter().chain(v4) {
            topic.results_by_partition.iter().for_each(|p| each(p.partition_error_code));
        }
    }
}
