//! DescribeConfigs (key 32): a topic's configs (`Broker::topic_configs`, as the
//! HTTP API shows them) or a broker's (`Broker::broker_configs`), each with its
//! value, where it comes from, its type, whether it is read-only, and, when
//! asked, its synonyms (the values set for it at each level, the one in force
//! first) and documentation.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, RequestHeader};
use kafka_protocol::protocol::StrBytes;

use super::ErrorCodes;
use super::config_changes::{BROKER, TOPIC};
use crate::broker::Broker;
use crate::topic::keys::{self, ConfigType};
use crate::topics::{ConfigSource, EffectiveConfig};

/// What the request asked besides the values.
#[derive(Clone, Copy)]
struct Asked {
    synonyms: bool,
    documentation: bool,
}

/// Answers a DescribeConfigs request.
pub async fn handle(
    broker: &Arc<Broker>,
    _header: &RequestHeader,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let asked =
        Asked { synonyms: request.include_synonyms, documentation: request.include_documentation };
    let results = request.resources.into_iter().map(|r| describe(broker, r, asked)).collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn describe(
    broker: &Broker,
    resource: DescribeConfigsResource,
    asked: Asked,
) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    let wanted = |name: &str| {
        resource.configuration_keys.as_ref().is_none_or(|keys| keys.iter().any(|k| **k == *name))
    };
    let refuse = |code: ResponseError, message: String| {
        result.clone().with_error_code(code.code()).with_error_message(Some(message.into()))
    };
    let name = &*resource.resource_name;
    let configs: Vec<DescribeConfigsResourceResult> = match resource.resource_type {
        TOPIC => match broker.topic_configs(name) {
            Some(configs) => configs
                .into_iter()
                .filter(|c| wanted(&c.name))
                .map(|c| {
                    let key = keys::key(&c.name).expect("topic configs are the known keys");
                    entry(c, key.kind, key.doc, false, asked)
                })
                .collect(),
            None => {
                let message = format!("topic {name:?} does not exist");
                return refuse(ResponseError::UnknownTopicOrPartition, message);
            }
        },
        BROKER => match broker.broker_scope(name) {
            Ok(scope) => broker
                .broker_configs(scope)
                .into_iter()
                .filter(|c| wanted(&c.config.name))
                .map(|c| entry(c.config, c.kind, c.doc, c.read_only, asked))
                .collect(),
            Err(e) => return refuse(ResponseError::InvalidRequest, e.to_string()),
        },
        other => {
            let message = format!(
                "resource type {other} has no configs in Weir: describe a topic (2) or a broker (4)"
            );
            return refuse(ResponseError::InvalidRequest, message);
        }
    };
    result.with_configs(configs)
}

/// One config as DescribeConfigs answers it.
fn entry(
    config: EffectiveConfig,
    kind: ConfigType,
    doc: &str,
    read_only: bool,
    asked: Asked,
) -> DescribeConfigsResourceResult {
    let synonyms = match asked.synonyms {
        true => config
            .synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(s.name))
                    .with_value(Some(StrBytes::from_string(s.value)))
                    .with_source(source_code(s.source))
            })
            .collect(),
        false => Vec::new(),
    };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(config.name))
        .with_value(Some(StrBytes::from_string(config.value)))
        .with_read_only(read_only)
        .with_config_source(source_code(config.source))
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_config_type(type_code(kind))
        .with_documentation(asked.documentation.then(|| StrBytes::from_string(doc.to_owned())))
}

/// Kafka's ConfigSource code.
pub(super) fn source_code(source: ConfigSource) -> i8 {
    match source {
        ConfigSource::Topic => 1,   // DYNAMIC_TOPIC_CONFIG
        ConfigSource::Node => 2,    // DYNAMIC_BROKER_CONFIG
        ConfigSource::Cluster => 3, // DYNAMIC_DEFAULT_BROKER_CONFIG
        ConfigSource::Broker => 4,  // STATIC_BROKER_CONFIG
        ConfigSource::Default => 5, // DEFAULT_CONFIG
    }
}

/// Kafka's ConfigType code.
fn type_code(kind: ConfigType) -> i8 {
    match kind {
        ConfigType::Boolean => 1,
        ConfigType::String => 2,
        ConfigType::Int => 3,
        ConfigType::Long => 5,
        ConfigType::Double => 6,
        ConfigType::List => 7,
    }
}

impl ErrorCodes for DescribeConfigsResponse {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        self.results.iter().for_each(|r| each(r.error_code))
    }
}
