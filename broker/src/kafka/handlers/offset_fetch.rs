//! OffsetFetch (key 9): a group's committed offsets, for the partitions asked for
//! or (null topics) all of them; -1 where nothing is committed. v8+ ask for several
//! groups at once.

use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, RequestHeader, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;
use crate::group::{OffsetAndMetadata, TopicPartition};

/// Offsets found, grouped by topic in first-seen order.
type ByTopic = Vec<(String, Vec<(i32, Option<OffsetAndMetadata>)>)>;

/// Answers an OffsetFetch request.
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = header.request_api_version;
    if version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|group| {
                let asked = group.topics.map(|topics| {
                    topics
                        .iter()
                        .flat_map(|t| partitions_of(&t.name, &t.partition_indexes))
                        .collect::<Vec<_>>()
                });
                let found =
                    by_topic(broker.groups.fetch_offsets(&group.group_id.0, asked.as_deref()));
                let topics = found
                    .into_iter()
                    .map(|(name, partitions)| {
                        let partitions = partitions
                            .into_iter()
                            .map(|(index, o)| {
                                let (offset, epoch, metadata) = fields(o);
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(index)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(epoch)
                                    .with_metadata(Some(metadata))
                            })
                            .collect();
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(StrBytes::from_string(name)))
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(group.group_id)
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let asked = request.topics.map(|topics| {
        topics.iter().flat_map(|t| partitions_of(&t.name, &t.partition_indexes)).collect::<Vec<_>>()
    });
    let found = by_topic(broker.groups.fetch_offsets(&request.group_id.0, asked.as_deref()));
    let topics = found
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, o)| {
                    let (offset, epoch, metadata) = fields(o);
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(index)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(metadata))
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

fn partitions_of(name: &TopicName, indexes: &[i32]) -> Vec<TopicPartition> {
    indexes
        .iter()
        .map(|&partition| TopicPartition { topic: name.0.to_string(), partition })
        .collect()
}

fn by_topic(found: Vec<(TopicPartition, Option<OffsetAndMetadata>)>) -> ByTopic {
    let mut grouped: ByTopic = Vec::new();
    for (tp, offset) in found {
        match grouped.iter_mut().find(|(name, _)| *name == tp.topic) {
            Some((_, partitions)) => partitions.push((tp.partition, offset)),
            None => grouped.push((tp.topic, vec![(tp.partition, offset)])),
        }
    }
    grouped
}

/// Offset, leader epoch and metadata as the response carries them: -1, -1 and ""
/// when nothing is committed.
fn fields(offset: Option<OffsetAndMetadata>) -> (i64, i32, StrBytes) {
    match offset {
        Some(o) => (o.offset, o.leader_epoch.unwrap_or(-1), StrBytes::from_string(o.metadata)),
        None => (-1, -1, StrBytes::default()),
    }
}

impl ErrorCodes for OffsetFetchResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        for topic in &self.topics {
            topic.partitions.iter().for_each(|p| each(p.error_code));
        }
        for group in &self.groups {
            each(group.error_code);
            for topic in &group.topics {
                topic.partitions.iter().for_each(|p| each(p.error_code));
            }
        }
    }
}
