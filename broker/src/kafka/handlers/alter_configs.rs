//! AlterConfigs (key 33), the older form: the configs given become the
//! resource's whole set (a topic's overrides, a broker's dynamic configs), and
//! every one left out returns to the level below (Kafka's replace semantics;
//! IncrementalAlterConfigs changes only what it names). `config_changes`
//! applies them.

use std::sync::Arc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use super::config_changes::alter;
use crate::broker::Broker;
use crate::topic::changes::{Changes, Op};

/// Answers an AlterConfigs request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let broker = Arc::clone(broker);
    super::off_thread(move || {
        let validate_only = request.validate_only;
        let responses = request
            .resources
            .into_iter()
            .map(|resource| {
                let name = resource.resource_name.to_string();
                // What is not named goes back to the level below.
                let ops = resource
                    .configs
                    .iter()
                    .map(|entry| {
                        let op = match &entry.value {
                            Some(value) => Op::Set(value.to_string()),
                            None => Op::Delete,
                        };
                        (entry.name.to_string(), op)
                    })
                    .collect();
                let changes = Changes { replace: true, ops };
                let (code, message) =
                    alter(&broker, resource.resource_type, &name, &changes, validate_only);
                AlterConfigsResourceResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string))
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name)
            })
            .collect();
        AlterConfigsResponse::default().with_responses(responses)
    })
    .await
}

impl ErrorCodes for AlterConfigsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.responses.iter().for_each(|r| each(r.error_code))
    }
}
