//! Metadata (key 3): this broker as the only node and leader of every partition,
//! and the topics asked for (all of them when the list is null) with their ids
//! (v10+), by name or (v12+) by id, auto-creating unknown names when the client
//! allows it and the broker is configured to; an unknown id is UNKNOWN_TOPIC_ID.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, MetadataRequest, MetadataResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::ErrorCodes;
use crate::broker::Broker;
use crate::kafka::error_codes::ErrorCode;
use crate::topic::{TopicSpec, is_internal};

/// Answers a Metadata request.
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: MetadataRequest,
) -> MetadataResponse {
    // On the blocking pool: naming a missing topic may create it.
    let (broker, header) = (Arc::clone(broker), header.clone());
    super::off_thread(move || answer(&broker, &header, request)).await
}

fn answer(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: MetadataRequest,
) -> MetadataResponse {
    let version = header.request_api_version;
    let node = BrokerId(broker.options.node_id);
    let me = MetadataResponseBroker::default()
        .with_node_id(node)
        .with_host(StrBytes::from_string(broker.advertised.host.clone()))
        .with_port(i32::from(broker.advertised.port));
    // Before v4 the request has no flag and the broker's setting decides.
    let may_create = version < 4 || request.allow_auto_topic_creation;
    // In v0 an empty list means every topic; later versions send null for that.
    let asked = request.topics.filter(|t| version > 0 || !t.is_empty());
    let describe = |spec: &TopicSpec| describe(spec, broker.storage.topic_id(&spec.name), node);
    let topics = match asked {
        None => broker.storage.topics().iter().map(describe).collect(),
        Some(asked) => asked
            .into_iter()
            .map(|t| {
                // v12+ may name a topic by its id alone.
                let Some(name) = t.name else {
                    return match broker.storage.topic_by_id(t.topic_id) {
                        Some(spec) => describe(&spec),
                        None => MetadataResponseTopic::default()
                            .with_topic_id(t.topic_id)
                            .with_error_code(ResponseError::UnknownTopicId.code()),
                    };
                };
                let looked_up = if may_create {
                    broker.topic_or_create(&name.0)
                } else {
                    Ok(broker.storage.topic(&name.0))
                };
                match looked_up {
                    Ok(Some(spec)) => describe(&spec),
                    Ok(None) => topic_error(name, ResponseError::UnknownTopicOrPartition.code()),
                    Err(e) => topic_error(name, e.error_code()),
                }
            })
            .collect(),
    };
    MetadataResponse::default()
        .with_brokers(vec![me])
        .with_cluster_id(Some(StrBytes::from_string(broker.options.cluster_id.clone())))
        .with_controller_id(node)
        .with_topics(topics)
}

fn topic_error(name: TopicName, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default().with_name(Some(name)).with_error_code(code)
}

fn describe(spec: &TopicSpec, id: Option<Uuid>, node: BrokerId) -> MetadataResponseTopic {
    let partitions = (0..spec.partitions as i32)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(node)
                // -1: Weir does not track leader epochs, so clients skip
                // OffsetForLeaderEpoch validation.
                .with_leader_epoch(-1)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(spec.name.clone()))))
        .with_topic_id(id.unwrap_or_default())
        .with_is_internal(is_internal(&spec.name))
        .with_partitions(partitions)
}

impl ErrorCodes for MetadataResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        each(self.error_code);
        for topic in &self.topics {
            each(topic.error_code);
            topic.partitions.iter().for_each(|p| each(p.error_code));
        }
    }
}
