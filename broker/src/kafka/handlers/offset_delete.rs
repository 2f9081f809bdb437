//! OffsetDelete (key 47): deletes a group's committed offsets for some
//! partitions (`kafka-consumer-groups --delete-offsets`), with
//! `GroupCoordinator::delete_offsets`: never those of a topic the group's
//! members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC per partition); an unknown
//! group is GROUP_ID_NOT_FOUND and a group of members that are not consumers
//! NON_EMPTY_GROUP, for the whole request.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    OffsetDeleteRequest, OffsetDeleteResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;
use crate::group::TopicPartition;
use crate::kafka::error_codes::refusal;

/// Answers an OffsetDelete request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let broker = Arc::clone(broker);
    super::off_thread(move || answer(&broker, request)).await
}

fn answer(broker: &Broker, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let partitions: Vec<TopicPartition> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| TopicPartition {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
            })
        })
        .collect();
    let outcome = match broker.groups.delete_offsets(&request.group_id.0, &partitions) {
        Ok(outcome) => outcome,
        Err(e) => return OffsetDeleteResponse::default().with_error_code(refusal(&e).0.code()),
    };
    let mut topics: BTreeMap<String, Vec<OffsetDeleteResponsePartition>> = BTreeMap::new();
    for (tp, error) in outcome {
        let code = error.map_or(0, |e| refusal(&e).0.code());
        let partition = OffsetDeleteResponsePartition::default()
            .with_partition_index(tp.partition)
            .with_error_code(code);
        topics.entry(tp.topic).or_default().push(partition);
    }
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            OffsetDeleteResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}

impl ErrorCodes for OffsetDeleteResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        self.topics.iter().flat_map(|t| &t.partitions).for_each(|p| each(p.error_code))
    }
}
