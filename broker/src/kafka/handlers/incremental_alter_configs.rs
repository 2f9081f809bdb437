//! IncrementalAlterConfigs (key 44): sets or deletes (back to the level below)
//! some configs of a topic or a broker and keeps the others, as `kafka-configs
//! --alter` and admin clients' `incrementalAlterConfigs` do; APPEND and
//! SUBTRACT add items to or remove them from a list config (`cleanup.policy`),
//! and are INVALID_CONFIG for a config of another type, as from Kafka.
//! `config_changes` applies them.

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
use crate::topic::changes::{Changes, Op};

/// The operations of an entry: SET, DELETE, APPEND, SUBTRACT.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

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

/// The resource's entries as changes; a refusal for an operation Kafka does
/// not define.
fn changes(resource: &AlterConfigsResource) -> Result<Changes, (i16, Option<String>)> {
    let mut ops = Vec::with_capacity(resource.configs.len());
    for entry in &resource.configs {
        let value = || entry.value.as_deref().unwrap_or_default().to_owned();
        let op = match entry.config_operation {
            SET => Op::Set(value()),
            DELETE => Op::Delete,
            APPEND => Op::Append(value()),
            SUBTRACT => Op::Subtract(value()),
            op => {
                let message = format!(
                    "{}: operation {op} is not one of SET (0), DELETE (1), APPEND (2), SUBTRACT (3)",
                    &*entry.name
                );
                return Err(refused(ResponseError::InvalidRequest, &message));
            }
        };
        ops.push((entry.name.to_string(), op));
    }
    Ok(Changes { replace: false, ops })
}

impl ErrorCodes for IncrementalAlterConfigsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.responses.iter().for_each(|r| each(r.error_code))
    }
}
