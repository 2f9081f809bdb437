//! What AlterConfigs and IncrementalAlterConfigs share: a resource's config
//! changes applied (or, validate-only, checked) with the same `Broker` and
//! `Storage` methods the HTTP API uses, and the code and message each resource
//! is answered with.
//!
//! A TOPIC resource changes the topic's overrides. A BROKER resource changes the
//! broker-wide topic defaults, under Kafka's broker-level names: the resource
//! named by this node's id its dynamic settings, `""` the cluster-wide ones
//! (`broker_configs`); the node's other settings are its flags, read-only.
//! APPEND and SUBTRACT apply to list configs (`cleanup.policy`), from the value
//! in force. Other resource types are INVALID_REQUEST, as from Kafka.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::broker_configs::{AlterBrokerError, BrokerConfigError};
use crate::kafka::error_codes::refusal;
use crate::topic::TopicError;
use crate::topic::changes::{ChangeError, Changes};
use crate::topics::TopicsError;

/// Kafka's resource type of a topic.
pub const TOPIC: i8 = 2;
/// Kafka's resource type of a broker.
pub const BROKER: i8 = 4;

/// Applies (or checks) `changes` to a resource: the error code and message to
/// answer it with.
pub fn alter(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    changes: &Changes,
    validate_only: bool,
) -> (i16, Option<String>) {
    let done = match resource_type {
        TOPIC => alter_topic(broker, name, changes, validate_only),
        BROKER => alter_broker(broker, name, changes, validate_only),
        other => Err(refused(
            ResponseError::InvalidRequest,
            &format!(
                "resource type {other} has no configs Weir can alter: alter a topic (2) or a \
                 broker (4)"
            ),
        )),
    };
    done.err().unwrap_or((0, None))
}

/// A refusal with `message`.
pub fn refused(code: ResponseError, message: &str) -> (i16, Option<String>) {
    (code.code(), Some(message.to_owned()))
}

fn topics_refusal(e: TopicsError) -> (i16, Option<String>) {
    let (code, message) = refusal(&e);
    (code.code(), Some(message))
}

fn alter_topic(
    broker: &Broker,
    name: &str,
    changes: &Changes,
    validate_only: bool,
) -> Result<(), (i16, Option<String>)> {
    let unknown = || TopicsError::Storage(TopicError::UnknownTopic(name.to_owned()).into());
    let current = broker.storage.topic(name).ok_or_else(unknown).map_err(topics_refusal)?.configs;
    let in_force = |key: &str| {
        let configs = broker.topic_configs(name).unwrap_or_default();
        configs.into_iter().find(|c| c.name == key).map(|c| c.value).unwrap_or_default()
    };
    let next = changes.apply(&current, in_force).map_err(change_refusal)?;
    // As changes: every override is set again or removed.
    let mut diff: BTreeMap<String, Option<String>> =
        current.keys().map(|k| (k.clone(), None)).collect();
    diff.extend(next.into_iter().map(|(k, v)| (k, Some(v))));
    let done = match validate_only {
        true => broker.check_topic_configs(name, &diff),
        false => broker.alter_topic_configs(name, &diff),
    };
    done.map(drop).map_err(topics_refusal)
}

fn alter_broker(
    broker: &Broker,
    name: &str,
    changes: &Changes,
    validate_only: bool,
) -> Result<(), (i16, Option<String>)> {
    let scope = broker
        .broker_scope(name)
        .map_err(|e| refused(ResponseError::InvalidRequest, &e.to_string()))?;
    broker.alter_broker_configs(scope, changes, validate_only).map_err(|e| match e {
        AlterBrokerError::Config(BrokerConfigError::UnknownBroker(..)) => {
            refused(ResponseError::InvalidRequest, &e.to_string())
        }
        AlterBrokerError::Config(_) => refused(ResponseError::InvalidConfig, &e.to_string()),
        AlterBrokerError::Change(e) => change_refusal(e),
        AlterBrokerError::Storage(e) => topics_refusal(TopicsError::Storage(e)),
    })
}

/// A change that cannot apply, as Kafka answers it.
fn change_refusal(e: ChangeError) -> (i16, Option<String>) {
    let code = match e {
        ChangeError::NamedTwice(_) => ResponseError::InvalidRequest,
        ChangeError::NotAList(_) => ResponseError::InvalidConfig,
    };
    refused(code, &e.to_string())
}
