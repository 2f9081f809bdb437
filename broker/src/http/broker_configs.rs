//! `/v1/broker/configs`: the broker's own configs, as Kafka admin clients see
//! the BROKER resource of this node (`broker_configs`), through the same
//! `Broker` methods as DescribeConfigs and AlterConfigs.
//!
//! | method and path              | body                                  | answer            |
//! |------------------------------|---------------------------------------|-------------------|
//! | `GET /v1/broker/configs`     |                                       | 200, `[Config]`   |
//! | `PATCH /v1/broker/configs`   | `{"log.retention.ms": "86400000"}`    | 200, `[Config]`   |
//!
//! A `Config` is its broker-level name, the value in force, where that comes
//! from (`node`: changed at run time on this node, `cluster`: changed for the
//! cluster, `broker`: the node's flags, `default`), its type, whether it is
//! read-only, and what it does. A PATCH changes this node's dynamic configs
//! (Kafka's resource `0`): `null` returns a key to the level below, keys left
//! out are kept; every topic without an override of its own runs under the new
//! values at once, and they hold across restarts. Read-only and unknown keys
//! are 400, with the keys that change.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use serde::Serialize;
use serde_json::{Value, json};

use super::error::blocking;
use super::extract::Json;
use super::openapi::Route;
use super::topics::config_value;
use super::{ApiError, AppState};
use crate::broker_configs::{AlterBrokerError, BrokerConfig, BrokerScope};
use crate::topic::ConfigType;
use crate::topic::changes::{Changes, Op};
use crate::topics::{ConfigSource, TopicsError};

/// The broker config routes.
pub fn routes() -> Vec<Route> {
    let configs = || {
        json!({ "type": "array", "items": {
            "type": "object",
            "properties": {
                "name": { "type": "string" },
                "value": { "type": "string" },
                "source": { "type": "string", "enum": ["node", "cluster", "broker", "default"] },
                "type": { "type": "string", "enum": ["boolean", "string", "int", "long", "double", "list"] },
                "read_only": { "type": "boolean" },
                "documentation": { "type": "string" },
            },
        }})
    };
    vec![
        Route::get("/v1/broker/configs", list, "listBrokerConfigs", "The broker's configs")
            .describe(
                "Every config of this node under Kafka's broker-level names: the broker-wide \
                 defaults of topic configs, which change at run time, and the node's settings, \
                 which are its flags (read-only).",
            )
            .json(200, "Configs, sorted by name", configs()),
        Route::patch(
            "/v1/broker/configs",
            alter,
            "alterBrokerConfigs",
            "Change the broker's configs",
        )
        .describe(
            "Sets the broker-wide defaults given on this node and keeps the others; `null` \
                 returns a key to the level below. Topics without an override of their own run \
                 under the new values at once; they are kept across restarts.",
        )
        .body(json!({ "type": "object", "additionalProperties": {
                "oneOf": [{ "type": "string" }, { "type": "number" }, { "type": "null" }] } }))
        .json(200, "The broker's configs after the change", configs())
        .errors(&[400, 415]),
    ]
}

/// A config as the API shows it.
#[derive(Debug, Serialize)]
struct ConfigView {
    /// Kafka's broker-level name.
    name: String,
    /// The value in force.
    value: String,
    /// Where it comes from.
    source: ConfigSource,
    /// Its data type.
    #[serde(rename = "type")]
    kind: &'static str,
    /// True for the node's settings, which take a restart to change.
    read_only: bool,
    /// What it does.
    documentation: &'static str,
}

fn views(configs: Vec<BrokerConfig>) -> Vec<ConfigView> {
    configs
        .into_iter()
        .map(|c| ConfigView {
            name: c.config.name,
            value: c.config.value,
            source: c.config.source,
            kind: match c.kind {
                ConfigType::Boolean => "boolean",
                ConfigType::String => "string",
                ConfigType::Int => "int",
                ConfigType::Long => "long",
                ConfigType::Double => "double",
                ConfigType::List => "list",
            },
            read_only: c.read_only,
            documentation: c.doc,
        })
        .collect()
}

async fn list(State(state): State<AppState>) -> axum::Json<Vec<ConfigView>> {
    axum::Json(views(state.broker.broker_configs(BrokerScope::Node)))
}

async fn alter(
    State(state): State<AppState>,
    Json(body): Json<BTreeMap<String, Value>>,
) -> Result<axum::Json<Vec<ConfigView>>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "no config to change: send the keys to set, e.g. {\"log.retention.ms\": \"86400000\"}, \
             with null for a key to return to the level below",
        ));
    }
    let mut ops = Vec::with_capacity(body.len());
    for (key, value) in &body {
        let op = match config_value(key, value)? {
            Some(value) => Op::Set(value),
            None => Op::Delete,
        };
        ops.push((key.clone(), op));
    }
    let changes = Changes { replace: false, ops };
    let broker = Arc::clone(&state.broker);
    blocking("altering the broker's configs", move || {
        broker.alter_broker_configs(BrokerScope::Node, &changes, false)
    })
    .await?;
    Ok(axum::Json(views(state.broker.broker_configs(BrokerScope::Node))))
}

impl From<AlterBrokerError> for ApiError {
    fn from(e: AlterBrokerError) -> Self {
        match e {
            AlterBrokerError::Storage(e) => TopicsError::Storage(e).into(),
            client => ApiError::bad_request(client.to_string()),
        }
    }
}
