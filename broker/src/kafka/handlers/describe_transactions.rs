//! DescribeTransactions (key 65): each transactional id's state, producer id and
//! epoch, timeout, start time and the partitions its open transaction wrote to.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;

/// Answers a DescribeTransactions request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            let Some(meta) = broker.txns.describe(&id.0) else {
                return TransactionState::default()
                    .with_transactional_id(id)
                    .with_error_code(ResponseError::TransactionalIdNotFound.code())
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1);
            };
            let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (topic, partition) in &meta.partitions {
                topics.entry(topic).or_default().push(*partition);
            }
            let topics = topics.into_iter().map(|(topic, partitions)| {
                TopicData::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(partitions)
            });
            TransactionState::default()
                .with_transactional_id(id)
                .with_transaction_state(StrBytes::from_static_str(meta.status.kafka_name()))
                .with_transaction_timeout_ms(meta.timeout_ms)
                .with_transaction_start_time_ms(if meta.started_ms > 0 {
                    meta.started_ms
                } else {
                    -1
                })
                .with_producer_id(ProducerId(meta.producer_id))
                .with_producer_epoch(meta.epoch)
                .with_topics(topics.collect())
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

impl ErrorCodes for DescribeTransactionsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.transaction_states.iter().for_each(|s| each(s.error_code));
    }
}
