//! CreateTopics (key 19): topics with a partition count (-1: the broker default),
//! a replication factor of 1 (-1: the default; there is one broker), and config
//! overrides, each validated as the registry does. Names starting with `__` are
//! reserved for internal topics, which only the broker creates.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Api, storage_error};
use crate::broker::Broker;
use crate::topic::{TopicSpec, is_internal, parse_log_config, validate_topic_name};

/// Versions 2 (the crate's lowest) to 7, as Kafka 3.0 serves.
pub const API: Api = Api { key: ApiKey::CreateTopics, min: 2, max: 7 };

/// Answers a CreateTopics request.
pub fn handle(broker: &Arc<Broker>, request: CreateTopicsRequest) -> CreateTopicsResponse {
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
            if is_internal(&topic.name.0) {
                return fail(
                    ResponseError::InvalidTopicException,
                    format!(
                        "{} starts with \"__\", which is reserved for internal topics: \
                         choose another name",
                        &*topic.name.0
                    ),
                );
            }
            if !topic.assignments.is_empty() {
                return fail(
                    ResponseError::InvalidRequest,
                    "manual replica assignment is not supported".into(),
                );
            }
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
            let outcome = if request.validate_only {
                validate(broker, &spec)
            } else {
                broker.storage.create_topic(spec).map(|_| ())
            };
            match outcome {
                Ok(()) => result.with_num_partitions(partitions as i32).with_replication_factor(1),
                Err(e) => {
                    let (code, message) = storage_error(&e);
                    fail(code, message)
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// What `create_topic` would refuse, without creating anything.
fn validate(broker: &Broker, spec: &TopicSpec) -> Result<(), crate::storage::StorageError> {
    validate_topic_name(&spec.name)?;
    if broker.storage.topic(&spec.name).is_some() {
        return Err(crate::topic::TopicError::TopicAlreadyExists(spec.name.clone()).into());
    }
    if spec.partitions == 0 || spec.partitions > crate::topic::MAX_PARTITIONS {
        return Err(crate::topic::TopicError::InvalidPartitions(spec.partitions).into());
    }
    parse_log_config(&spec.configs)?;
    Ok(())
}
