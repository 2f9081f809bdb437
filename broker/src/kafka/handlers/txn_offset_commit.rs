//! TxnOffsetCommit (key 28): offsets a group commits if the transaction commits.
//! They are staged with the transaction coordinator and written to
//! `__consumer_offsets` by EndTxn's commit; an abort drops them.

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{RequestHeader, TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{ErrorCodes, off_thread};
use crate::broker::Broker;
use crate::kafka::error_codes::refusal;
use crate::txn::PendingOffset;

/// Answers a TxnOffsetCommit request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let staged: Vec<PendingOffset> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| PendingOffset {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.as_deref().unwrap_or_default().to_owned(),
            })
        })
        .collect();
    let broker = Arc::clone(broker);
    let (id, group) = (request.transactional_id.0.to_string(), request.group_id.0.to_string());
    let (pid, epoch) = (request.producer_id.0, request.producer_epoch);
    let stored =
        off_thread(move || broker.txns.stage_offsets(&id, pid, epoch, &group, staged)).await;
    let code = stored.map_or_else(|e| refusal(&e).0.code(), |()| 0);
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t.partitions.iter().map(|p| {
                TxnOffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code)
            });
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions.collect())
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

impl ErrorCodes for TxnOffsetCommitResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            topic.partitions.iter().for_each(|p| each(p.error_code));
        }
    }
}
