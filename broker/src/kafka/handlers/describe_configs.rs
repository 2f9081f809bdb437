//! DescribeConfigs (key 32): a topic's effective configs, each with where its value
//! comes from (the topic's override, the broker's flags, or Weir's default), from
//! `Broker::topic_configs`, as the HTTP API shows them.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use crate::broker::Broker;
use crate::topics::ConfigSource;

/// Kafka's ConfigResource.Type for a topic.
const TOPIC: i8 = 2;
/// Kafka's ConfigResource.Type for a broker.
const BROKER: i8 = 4;
/// ConfigSource: set on the topic.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
/// ConfigSource: set by the broker's flags or config file.
const STATIC_BROKER_CONFIG: i8 = 4;
/// ConfigSource: Weir's built-in default.
const DEFAULT_CONFIG: i8 = 5;

/// Answers a DescribeConfigs request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match resource.resource_type {
                TOPIC => match broker.topic_configs(&resource.resource_name) {
                    Some(configs) => {
                        let configs = configs
                            .into_iter()
                            .filter(|entry| {
                                resource
                                    .configuration_keys
                                    .as_ref()
                                    .is_none_or(|keys| keys.iter().any(|k| **k == *entry.name))
                            })
                            .map(|entry| {
                                let source = match entry.source {
                                    ConfigSource::Topic => DYNAMIC_TOPIC_CONFIG,
                                    ConfigSource::Broker => STATIC_BROKER_CONFIG,
                                    ConfigSource::Default => DEFAULT_CONFIG,
                                };
                                DescribeConfigsResourceResult::default()
                                    .with_name(StrBytes::from_string(entry.name))
                                    .with_value(Some(StrBytes::from_string(entry.value)))
                                    .with_config_source(source)
                            })
                            .collect();
                        result.with_configs(configs)
                    }
                    None => result
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(StrBytes::from_string(format!(
                            "topic {:?} does not exist",
                            &*resource.resource_name
                        )))),
                },
                // No broker configs are exposed yet: an empty, successful list.
                BROKER => result,
                other => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "resource type {other} is not supported"
                    )))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

impl ErrorCodes for DescribeConfigsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.results.iter().for_each(|r| each(r.error_code))
    }
}
