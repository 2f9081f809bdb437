//! IncrementalAlterConfigs (key 44): sets or deletes (back to the default) some
//! configs of a topic and keeps the others, as `kafka-configs --alter` and admin
//! clients' `incrementalAlterConfigs` do (`config_changes` applies them). APPEND
//! and SUBTRACT are for list configs, which no topic config Weir knows is:
//! INVALID_CONFIG, as Kafka answers them for a config of another type.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestHeader,
};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use super::config_changes::{alter, refused};
use crate::broker::Broker;

/// The operations of an entry: SET, DELETE, APPEND, SUBTRACT.
const SET: i8 = 0;
const DELETE: i8 = 1;

/// Answers an IncrementalAlterConfigs request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    // On the blocking pool: altering a topic fsyncs the registry.
    let broker = Arc::clone(broker);
    super::off_thread(move || {
        let validate_only = request.validate_only;
        let responses = request
            .resources
            .into_iter()
            .map(|resource| {
                let (code, message) = match changes(&resource) {
                    Ok(changes) => alter(
                        &broker,
                        resource.resource_type,
                        &resource.resource_name,
                        &changes,
                        validate_only,
                    ),
                    Err(refusal) => refusal,
                };
                AlterConfigsResourceResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string))
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name)
            })
            .collect();
        IncrementalAlterConfigsResponse::default().with_responses(responses)
    })
    .await
}

/// The resource's entries as changes; a refusal for an operation Weir does not
/// take, or a key named twice.
fn changes(
    resource: &AlterConfigsResource,
) -> Result<BTreeMap<String, Option<String>>, (i16, Option<String>)> {
    let mut changes = BTreeMap::new();
    for entry in &resource.configs {
        let value = match entry.config_operation {
            SET => Some(entry.value.as_deref().unwrap_or_default().to_owned()),
            DELETE => None,
            op => {
                let message = format!(
                    "{}: operation {op} (APPEND or SUBTRACT) is for list configs, and no \\
                     topic config Weir knows is a list: SET the whole value",
                    &*entry.name
                );
                return Err(refused(ResponseError::InvalidConfig, &message));
            }
        };
        if changes.insert(entry.name.to_string(), value).is_some() {
            let message = format!("{} is named twice in one resource", &*entry.name);
            return Err(refused(ResponseError::InvalidRequest, &message));
        }
    }
    Ok(changes)
}

impl ErrorCodes for IncrementalAlterConfigsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.responses.iter().for_each(|r| each(r.error_code))
    }
}
