//! Produce (key 0): append each partition's batches with `Broker::append` (the
//! HTTP API's path too), answering with the base offset. acks=0 gets no response;
//! acks=1 and acks=all are the same on a single node (but acks=all to a topic
//! whose min.insync.replicas is above 1 gets NOT_ENOUGH_REPLICAS, as from a
//! Kafka partition with one replica in sync), and durability is the topic's
//! setting (sync topics fsync before this returns). Idempotent producers' batches are checked by the partition: a
//! retry of a batch already written is answered with its original base offset, as
//! Kafka does; a gap gets OUT_OF_ORDER_SEQUENCE_NUMBER, a fenced epoch
//! INVALID_PRODUCER_EPOCH, and a transactional batch (no transaction can be
//! open yet) INVALID_TXN_STATE.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;
use tracing::{debug, warn};

use super::ErrorCodes;
use crate::broker::Broker;
use crate::kafka::error_codes::{is_server_fault, refusal};
use crate::log::AppendError;
use crate::topics::{Acks, TopicsError};

/// Answers a Produce request; None for acks=0.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let mut answer =
                PartitionProduceResponse::default().with_index(data.index).with_base_offset(-1);
            let result = match (acks, data.records) {
                // No records is an empty request, which the append refuses.
                (-1..=1, records) => broker
                    .append(&topic.name.0, data.index, records.unwrap_or_default(), acks_of(acks))
                    .await
                    .map_err(|e| produce_error(&topic.name.0, data.index, e)),
                _ => Err((
                    ResponseError::InvalidRequiredAcks,
                    format!("acks must be 0, 1 or -1, not {acks}"),
                    Vec::new(),
                )),
            };
            match result {
                Ok(info) => {
                    if info.duplicate {
                        let (topic, offset) = (&*topic.name.0, info.base_offset);
                        debug!(topic, partition = data.index, offset, "duplicate acknowledged");
                    }
                    answer = answer
                        .with_base_offset(info.base_offset as i64)
                        .with_log_append_time_ms(info.log_append_time.unwrap_or(-1))
                        .with_log_start_offset(info.log_start_offset as i64);
                }
                Err((code, message, records)) => {
                    // KIP-467: which records failed; the batch's others fail with them.
                    let record_errors = records
                        .into_iter()
                        .map(|i| {
                            BatchIndexAndErrorMessage::default()
                                .with_batch_index(i as i32)
                                .with_batch_index_error_message(Some(StrBytes::from_static_str(
                                    "a record of a compacted topic needs a key",
                                )))
                        })
                        .collect();
                    answer = answer
                        .with_error_code(code.code())
                        .with_error_message(Some(StrBytes::from_string(message)))
                        .with_record_errors(record_errors);
                }
            }
            partitions.push(answer);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

/// acks=-1 waits for every in-sync replica; 1 (and 0, which is not answered)
/// for the leader.
fn acks_of(acks: i16) -> Acks {
    match acks {
        -1 => Acks::All,
        _ => Acks::Leader,
    }
}

/// The error code, its message, and the records of the batch at fault, if the
/// error names them.
fn produce_error(
    topic: &str,
    partition: i32,
    e: TopicsError,
) -> (ResponseError, String, Vec<usize>) {
    let (code, message) = refusal(&e);
    let records = match &e {
        TopicsError::Append(AppendError::KeylessRecord { records, .. }) => records.clone(),
        _ => Vec::new(),
    };
    // Refusals by topic are the client's business; the broker's own faults were
    // logged by `refusal`.
    let by_topic = matches!(e, TopicsError::UnknownPartition { .. } | TopicsError::Internal { .. });
    if !by_topic && !is_server_fault(code) {
        warn!(topic, partition, error = %e, "produce refused");
    }
    (code, message, records)
}

impl ErrorCodes for ProduceResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        for topic in &self.responses {
            topic.partition_responses.iter().for_each(|p| each(p.error_code));
        }
    }
}
