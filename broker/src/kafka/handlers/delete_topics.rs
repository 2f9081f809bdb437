//! DeleteTopics (key 20): removes topics by name (v0-5: `topic_names`) or by
//! name or id (v6: `topics`) with `Broker::delete_topic`, as the HTTP API does;
//! internal topics are refused, an unknown id is UNKNOWN_TOPIC_ID.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::ErrorCodes;
use crate::broker::Broker;
use crate::kafka::error_codes::refusal;

/// Answers a DeleteTopics request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    // On the blocking pool: deleting a topic removes its files.
    let broker = Arc::clone(broker);
    super::off_thread(move || answer(&broker, request)).await
}

fn answer(broker: &Arc<Broker>, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    // (name, id): v0-5 name topics; v6 names or ids.
    let asked: Vec<(Option<TopicName>, Uuid)> = request
        .topic_names
        .into_iter()
        .map(|name| (Some(name), Uuid::nil()))
        .chain(request.topics.into_iter().map(|t| (t.name, t.topic_id)))
        .collect();
    let responses = asked
        .into_iter()
        .map(|(name, id)| {
            let name = match name {
                Some(name) => Some(name.0.to_string()),
                None => broker.storage.topic_by_id(id).map(|spec| spec.name),
            };
            let result = DeletableTopicResult::default()
                .with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))))
                .with_topic_id(
                    name.as_deref().and_then(|n| broker.storage.topic_id(n)).unwrap_or(id),
                );
            let Some(name) = name else {
                return result
                    .with_error_code(ResponseError::UnknownTopicId.code())
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "no topic has id {id}"
                    ))));
            };
            match broker.delete_topic(&name) {
                Ok(()) => result,
                Err(e) => {
                    let (code, message) = refusal(&e);
                    result
                        .with_error_code(code.code())
                        .with_error_message(Some(StrBytes::from_string(message)))
                }
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

impl ErrorCodes for DeleteTopicsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.responses.iter().for_each(|t| each(t.error_code))
    }
}
