//! CreateTopics (key 19): topics with a partition count (-1: the broker default),
//! a replication factor of 1 (-1: the default; there is one broker), and config
//! overrides, created (or only validated) by `Broker::create_topic`, as the HTTP
//! API creates them. Names starting with `__` are reserved for internal topics,
//! which only the broker creates.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
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
            match broker.create_topic(spec, request.validate_only) {
                Ok(_) => result.with_num_partitions(partitions as i32).with_replication_factor(1),
                Err(e) => {
                    let (code, message) = refusal(&e);
                    fail(code, message)
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

impl ErrorCodes for CreateTopicsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.topics.iter().for_each(|t| each(t.error_code))
    }
}
