//! DescribeProducers (key 61): the idempotent producers each partition knows
//! (`Broker::active_producers`): id, epoch, last sequence and last timestamp,
//! as `kafka-transactions describe-producers` and admin clients'
//! `describeProducers` show them. With no transactions yet, no producer has a
//! coordinator epoch or an open transaction (-1 both). An unknown topic or
//! partition is UNKNOWN_TOPIC_OR_PARTITION for that partition alone.

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, ProducerId, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;
use crate::kafka::error_codes::refusal;

/// Answers a DescribeProducers request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let answer = PartitionResponse::default().with_partition_index(index);
                    match broker.active_producers(&topic.name.0, index) {
                        Ok(producers) => answer.with_active_producers(
                            producers
                                .into_iter()
                                .map(|p| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(p.producer_id))
                                        .with_producer_epoch(p.epoch.into())
                                        .with_last_sequence(p.last_sequence)
                                        .with_last_timestamp(p.last_timestamp)
                                        .with_coordinator_epoch(-1)
                                        .with_current_txn_start_offset(-1)
                                })
                                .collect(),
                        ),
                        Err(e) => {
                            let (code, message) = refusal(&e);
                            answer
                                .with_error_code(code.code())
                                .with_error_message(Some(StrBytes::from_string(message)))
                        }
                    }
                })
                .collect();
            TopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}

impl ErrorCodes for DescribeProducersResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.topics.iter().flat_map(|t| &t.partitions).for_each(|p| each(p.error_code))
    }
}
