//! DeleteTopics (key 20): removes topics by name (v0-5: `topic_names`; v6: `topics`)
//! with `Broker::delete_topic`, as the HTTP API does; internal topics are refused.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{Api, topics_error};
use crate::broker::Broker;

/// Versions 1 (the crate's lowest) to 6, as Kafka 3.0 serves.
pub const API: Api = Api { key: ApiKey::DeleteTopics, min: 1, max: 6 };

/// Answers a DeleteTopics request.
pub fn handle(broker: &Arc<Broker>, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let names: Vec<Option<TopicName>> = request
        .topic_names
        .into_iter()
        .map(Some)
        .chain(request.topics.into_iter().map(|t| t.name))
        .collect();
    let responses = names
        .into_iter()
        .map(|name| {
            let result = DeletableTopicResult::default().with_name(name.clone());
            let Some(name) = name else {
                return result
                    .with_error_code(ResponseError::UnknownTopicId.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "topics are deleted by name",
                    )));
            };
            match broker.delete_topic(&name.0) {
                Ok(()) => result,
                Err(e) => {
                    let (code, message) = topics_error(&e);
                    result
                        .with_error_code(code.code())
                        .with_error_message(Some(StrBytes::from_string(message)))
                }
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
