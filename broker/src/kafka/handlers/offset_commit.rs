//! OffsetCommit (key 8): stores a group's consumed positions in
//! `__consumer_offsets`. Members commit with their generation; simple consumers
//! (generation -1, no member id) may commit while the group has no members.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, RequestHeader};

use super::ErrorCodes;
use crate::broker::Broker;
use crate::group::{MemberIdentity, OffsetAndMetadata, TopicPartition};
use crate::kafka::error_codes::ErrorCode;

/// Answers an OffsetCommit request.
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let version = header.request_api_version;
    let who = MemberIdentity {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
    };
    let offsets: Vec<(TopicPartition, OffsetAndMetadata)> = request
        .topics
        .iter()
        .flat_map(|topic| topic.partitions.iter().map(move |p| (topic, p)))
        .map(|(topic, p)| {
            let tp =
                TopicPartition { topic: topic.name.0.to_string(), partition: p.partition_index };
            let epoch = p.committed_leader_epoch;
            let offset = OffsetAndMetadata {
                offset: p.committed_offset,
                leader_epoch: (version >= 6 && epoch >= 0).then_some(epoch),
                metadata: p.committed_metadata.as_deref().unwrap_or("").to_owned(),
                commit_timestamp: 0,
            };
            (tp, offset)
        })
        .collect();
    let generation = request.generation_id_or_member_epoch;
    let answers =
        broker.groups.commit_offsets(&request.group_id.0, generation, &who, offsets).await;
    // Answers come back in request order; a whole-commit error applies to each.
    let mut codes = match &answers {
        Ok(per_partition) => per_partition
            .iter()
            .map(|(_, a)| a.as_ref().map_or_else(|e| e.error_code(), |()| 0))
            .collect(),
        Err(e) => vec![e.error_code(); request.topics.iter().map(|t| t.partitions.len()).sum()],
    }
    .into_iter();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(codes.next().unwrap_or(0))
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

impl ErrorCodes for OffsetCommitResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            topic.partitions.iter().for_each(|p| each(p.error_code));
        }
    }
}
