//! DeleteTopics (key 20): removes topics by name (v0-5: `topic_names`; v6: `topics`)
//! with `Broker::delete_topic`, as the HTTP API does; internal topics are refused.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;

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
