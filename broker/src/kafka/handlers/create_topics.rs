//! CreateTopics (key 19): topics with a partition count (-1: the broker default),
//! a replication factor of 1 (-1: the default; there is one broker), and config
//! overrides, created (or only validated) by `Broker::create_topic`, as the HTTP
//! API creates them. Names starting with `__` are reserved for internal topics,
//! which only the broker creates. A manual replica assignment is taken when it
//! is what one broker can hold: partitions 0 to n-1, each on this broker alone
//! (then the count and factor must be -1, as Kafka requires); anything else is
//! INVALID_REPLICA_ASSIGNMENT with what is wrong.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use super::describe_configs::source_code;
use crate::broker::Broker;
use crate::kafka::error_codes::refusal;
use crate::topic::TopicSpec;

/// Answers a CreateTopics request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    // On the blocking pool: creating a topic makes directories and fsyncs.
    let broker = Arc::clone(broker);
    super::off_thread(move || answer(&broker, request)).await
}

fn answer(broker: &Arc<Broker>, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let result = CreatableTopicResult::default().with_name(topic.name.clone());
            let partitions = if topic.num_partitions == -1 {
                broker.options.default_partitions as i64
            } else {
                topic.num_partitions as i64
            };
            let fail = |code: ResponseError, message: String| {
                result
                    .clone()
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message)))
            };
            if topic.replication_factor != -1 && topic.replication_factor != 1 {
                return fail(
                    ResponseError::InvalidReplicationFactor,
                    format!(
                        "replication factor {} is more than the 1 broker available",
                        topic.replication_factor
                    ),
                );
            }
            let partitions = match assigned(broker, &topic) {
                Ok(Some(count)) => count,
                Ok(None) => partitions,
                Err((code, message)) => return fail(code, message),
            };
            let Ok(partitions) = u32::try_from(partitions) else {
                return fail(
                    ResponseError::InvalidPartitions,
                    format!("invalid partition count {partitions}"),
                );
            };
            let configs: BTreeMap<String, String> = topic
                .configs
                .into_iter()
                .filter_map(|c| Some((c.name.to_string(), c.value?.to_string())))
                .collect();
            let spec = TopicSpec { name: topic.name.0.to_string(), partitions, configs };
            match broker.create_topic(spec, request.validate_only) {
                Ok(_) => {
                    let name = topic.name.0.as_str();
                    // The new topic's id and configs (v7, v5+); none yet when only validated.
                    let configs = broker.topic_configs(name).unwrap_or_default();
                    result
                        .with_num_partitions(partitions as i32)
                        .with_replication_factor(1)
                        .with_topic_id(broker.storage.topic_id(name).unwrap_or_default())
                        .with_configs(Some(
                            configs
                                .into_iter()
                                .map(|c| {
                                    CreatableTopicConfigs::default()
                                        .with_name(StrBytes::from_string(c.name))
                                        .with_value(Some(StrBytes::from_string(c.value)))
                                        .with_config_source(source_code(c.source))
                                })
                                .collect(),
                        ))
                }
                Err(e) => {
                    let (code, message) = refusal(&e);
                    fail(code, message)
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// The partition count a manual replica assignment gives (None without one),
/// or why one broker cannot hold it.
fn assigned(
    broker: &Broker,
    topic: &kafka_protocol::messages::create_topics_request::CreatableTopic,
) -> Result<Option<i64>, (ResponseError, String)> {
    if topic.assignments.is_empty() {
        return Ok(None);
    }
    if topic.num_partitions != -1 || topic.replication_factor != -1 {
        return Err((
            ResponseError::InvalidRequest,
            "a replica assignment was given with a partition count or replication factor: \
             set those to -1, the assignment says them"
                .into(),
        ));
    }
    let node = broker.options.node_id;
    let mut indexes: Vec<i32> = Vec::new();
    for a in &topic.assignments {
        let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
        if replicas != [node] {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "partition {} is assigned to brokers {replicas:?}: this cluster is broker \
                     {node} alone, so each partition is on [{node}]",
                    a.partition_index
                ),
            ));
        }
        indexes.push(a.partition_index);
    }
    indexes.sort_unstable();
    if indexes.iter().enumerate().any(|(i, p)| *p != i as i32) {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            format!("the assignment names partitions {indexes:?}: give each of 0 to n-1 once"),
        ));
    }
    Ok(Some(indexes.len() as i64))
}

impl ErrorCodes for CreateTopicsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.topics.iter().for_each(|t| each(t.error_code))
    }
}
