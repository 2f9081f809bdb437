//! What AlterConfigs and IncrementalAlterConfigs share: a resource's config
//! changes applied (or, validate-only, checked) with the same `Broker` methods
//! the HTTP API uses, and the code and message each resource is answered with.
//!
//! Topics are altered; the broker's own configs are `weir serve`'s flags and are
//! refused with INVALID_CONFIG, saying so; other resource types are
//! INVALID_REQUEST, as from Kafka.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::kafka::error_codes::refusal;

/// Kafka's resource type of a topic.
pub const TOPIC: i8 = 2;
/// Kafka's resource type of a broker.
pub const BROKER: i8 = 4;

/// Applies (or checks) `changes` (Some sets, None back to the default) to a
/// resource: the error code and message to answer it with.
pub fn alter(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    changes: &BTreeMap<String, Option<String>>,
    validate_only: bool,
) -> (i16, Option<String>) {
    match resource_type {
        TOPIC => {
            let done = match validate_only {
                true => broker.check_topic_configs(name, changes),
                false => broker.alter_topic_configs(name, changes),
            };
            match done {
                Ok(_) => (0, None),
                Err(e) => {
                    let (code, message) = refusal(&e);
                    (code.code(), Some(message))
                }
            }
        }
        BROKER => refused(
            ResponseError::InvalidConfig,
            "the broker's configs are weir serve's flags and cannot change while it runs: \
             restart it with the flag changed (weir serve --help lists them)",
        ),
        other => refused(
            ResponseError::InvalidRequest,
            &format!("resource type {other} has no configs Weir can alter: alter a topic (2)"),
        ),
    }
}

/// A refusal with `message`.
pub fn refused(code: ResponseError, message: &str) -> (i16, Option<String>) {
    (code.code(), Some(message.to_owned()))
}
