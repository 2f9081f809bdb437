//! AlterConfigs (key 33), the older form: the configs given become the
//! topic's whole set of overrides, and every override left out returns to its
//! default (Kafka's replace semantics; IncrementalAlterConfigs changes only what
//! it names). `config_changes` applies them.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use super::config_changes::{TOPIC, alter};
use crate::broker::Broker;

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
                let mut changes: BTreeMap<String, Option<String>> = BTreeMap::new();
                // Overrides not named go back to their defaults.
                if resource.resource_type == TOPIC
                    && let Some(spec) = broker.storage.topic(&name)
                {
                    changes.extend(spec.configs.into_keys().map(|k| (k, None)));
                }
                for entry in &resource.configs {
                    changes.insert(
                        entry.name.to_string(),
                        entry.value.as_ref().map(|v| v.to_string()),
                    );
                }
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
