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
use crate::broker_configs::BrokerConfigError;
use crate::kafka::error_codes::refusal;
use crate::storage::StorageError;
use crate::topic::keys::{self, ConfigType};
use crate::topic::{TopicError, default_value};
use crate::topics::TopicsError;

/// Kafka's resource type of a topic.
pub const TOPIC: i8 = 2;
/// Kafka's resource type of a broker.
pub const BROKER: i8 = 4;

/// One requested change of a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set it to this value.
    Set(String),
    /// Back to the level below.
    Delete,
    /// Add these items to a list config.
    Append(String),
    /// Remove these items from a list config.
    Subtract(String),
}

/// The changes a request asks of one resource.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// True for AlterConfigs: what is not named returns to the level below.
    pub replace: bool,
    /// Each config named, with its change, in request order.
    pub ops: Vec<(String, Op)>,
}

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
    let next = apply(&current, changes, in_force)?;
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
    // Kafka's broker-level names to the topic-level keys the layers hold.
    let mut ops = Vec::with_capacity(changes.ops.len());
    for (config, op) in &changes.ops {
        let key = broker.dynamic_key(config).map_err(|e| {
            let code = match e {
                BrokerConfigError::UnknownBroker(..) => ResponseError::InvalidRequest,
                _ => ResponseError::InvalidConfig,
            };
            refused(code, &e.to_string())
        })?;
        ops.push((key.to_owned(), op.clone()));
    }
    let changes = Changes { replace: changes.replace, ops };
    let in_force = |key: &str| {
        broker.storage.defaults().get(key).cloned().unwrap_or_else(|| default_value(key))
    };
    let change = |layer: &BTreeMap<String, String>| {
        apply(layer, &changes, in_force).map_err(Refusal::Client)
    };
    match broker.storage.alter_defaults(scope.layer(), change, validate_only) {
        Ok(_) => Ok(()),
        Err(Refusal::Client(refusal)) => Err(refusal),
        Err(Refusal::Storage(e)) => Err(topics_refusal(TopicsError::Storage(e))),
    }
}

/// Why a change of the broker-wide defaults was not made.
enum Refusal {
    /// The request's own fault, answered as is.
    Client((i16, Option<String>)),
    /// Checking the new defaults or storing them failed.
    Storage(StorageError),
}

impl From<StorageError> for Refusal {
    fn from(e: StorageError) -> Self {
        Refusal::Storage(e)
    }
}

/// `current` values with `changes` applied; `in_force` gives the value a list
/// config has before an APPEND or SUBTRACT when `current` does not hold it.
fn apply(
    current: &BTreeMap<String, String>,
    changes: &Changes,
    in_force: impl Fn(&str) -> String,
) -> Result<BTreeMap<String, String>, (i16, Option<String>)> {
    let mut next = match changes.replace {
        true => BTreeMap::new(),
        false => current.clone(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for (key, op) in &changes.ops {
        if !seen.insert(key.as_str()) {
            let message = format!("{key} is named twice in one resource");
            return Err(refused(ResponseError::InvalidRequest, &message));
        }
        match op {
            Op::Set(value) => {
                next.insert(key.clone(), value.clone());
            }
            Op::Delete => {
                next.remove(key);
            }
            Op::Append(items) | Op::Subtract(items) => {
                if keys::key(key).is_none_or(|k| k.kind != ConfigType::List) {
                    let message = format!(
                        "{key}: APPEND and SUBTRACT are for list configs, and {key} is not one: \
                         SET the whole value"
                    );
                    return Err(refused(ResponseError::InvalidConfig, &message));
                }
                let before = current.get(key).cloned().unwrap_or_else(|| in_force(key));
                let mut list: Vec<String> = split(&before);
                for item in split(items) {
                    match op {
                        Op::Append(_) if !list.contains(&item) => list.push(item),
                        Op::Subtract(_) => list.retain(|i| *i != item),
                        _ => {}
                    }
                }
                next.insert(key.clone(), list.join(","));
            }
        }
    }
    Ok(next)
}

/// A list config's items.
fn split(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn changes_set_delete_append_subtract_and_replace() {
        let current = map(&[("retention.ms", "1000"), ("segment.bytes", "4096")]);
        let ops = vec![
            ("retention.ms".to_string(), Op::Delete),
            ("flush.ms".to_string(), Op::Set("5".into())),
            ("cleanup.policy".to_string(), Op::Append("compact, delete".into())),
        ];
        let changes = Changes { replace: false, ops };
        let next = apply(&current, &changes, |_| "delete".into()).unwrap();
        let want = map(&[
            ("cleanup.policy", "delete,compact"),
            ("flush.ms", "5"),
            ("segment.bytes", "4096"),
        ]);
        assert_eq!(next, want);
        let subtract = vec![("cleanup.policy".to_string(), Op::Subtract("compact".into()))];
        let next =
            apply(&next, &Changes { replace: true, ops: subtract }, |_| unreachable!()).unwrap();
        assert_eq!(next, map(&[("cleanup.policy", "delete")]));

        let not_a_list = vec![("retention.ms".to_string(), Op::Append("5".into()))];
        let (code, message) =
            apply(&current, &Changes { replace: false, ops: not_a_list }, |_| String::new())
                .unwrap_err();
        assert_eq!(code, ResponseError::InvalidConfig.code());
        assert!(message.unwrap().contains("SET the whole value"));
        let twice = vec![
            ("flush.ms".to_string(), Op::Set("5".into())),
            ("flush.ms".to_string(), Op::Delete),
        ];
        let (code, _) = apply(&current, &Changes { replace: false, ops: twice }, |_| String::new())
            .unwrap_err();
        assert_eq!(code, ResponseError::InvalidRequest.code());
    }
}
