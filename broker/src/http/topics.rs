//! `/v1/topics`: list, describe, create and delete topics, and change their
//! configs, through the same `Broker` methods the Kafka handlers use.
//!
//! | method and path                   | body                                    | answer         |
//! |-----------------------------------|-----------------------------------------|----------------|
//! | `GET /v1/topics?internal=true`    |                                         | 200, `[Topic]` |
//! | `POST /v1/topics`                 | `{"name", "partitions", "configs"}`     | 201, `Topic`   |
//! | `GET /v1/topics/{name}`           |                                         | 200, `Topic`   |
//! | `PATCH /v1/topics/{name}/configs` | `{"retention.ms": "3600000", ...}`      | 200, `Topic`   |
//! | `DELETE /v1/topics/{name}`        |                                         | 204            |
//! | `POST /v1/topics/{name}/delete-records` | `{"offsets": {"0": 42, "1": -1}}` | 200, `Topic`   |
//! | `POST /v1/topics/{name}/partitions` | `{"count": 6}`                       | 200, `Topic`   |
//!
//! A `Topic` is its name, whether it is internal, and each partition's log start
//! offset, high watermark, size in bytes and segment count; a single topic (not
//! the listing) also has `configs`: every config key with the value it runs
//! under and where that comes from (`topic`, `broker` or `default`).
//!
//! Config values are strings as Kafka writes them (`"-1"` for unlimited); JSON
//! numbers are taken as their text. In a PATCH, `null` removes the topic's
//! override (the key returns to its default) and keys left out are kept; the
//! body may also be wrapped as `{"configs": {..}}`. Internal topics (`__...`)
//! are listed only with `?internal=true`, and cannot be created, altered or
//! deleted here (400, 403).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::blocking;
use super::extract::{Json, Path, Query};
use super::openapi::Route;
use super::{ApiError, AppState};
use crate::broker::Broker;
use crate::topic::{TopicSpec, is_internal};
use crate::topics::ConfigSource;

/// The topic routes.
pub fn routes() -> Vec<Route> {
    let topic = topic_schema;
    vec![
        Route::get("/v1/topics", list, "listTopics", "List topics")
            .query("internal", json!({ "type": "boolean" }), "Include internal topics (`__...`)")
            .json(200, "Topics, sorted by name", json!({ "type": "array", "items": topic(false) }))
            .errors(&[400]),
        Route::post("/v1/topics", create, "createTopic", "Create a topic")
            .body(json!({
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {
                        "type": "string",
                        "description": "ASCII letters, digits, '.', '_', '-'",
                    },
                    "partitions": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Default: the broker's default partition count",
                    },
                    "configs": {
                        "type": "object",
                        "additionalProperties": config_value_schema(),
                        "description": "Overrides, e.g. {\"retention.ms\": \"86400000\"}",
                    },
                },
            }))
            .json(201, "Created", topic(true))
            .errors(&[400, 409, 415]),
        Route::get("/v1/topics/{name}", show, "getTopic", "Describe a topic")
            .json(200, "The topic, its partitions and its configs", topic(true))
            .errors(&[404]),
        Route::delete("/v1/topics/{name}", delete, "deleteTopic", "Delete a topic")
            .describe("Deletes the topic and all its records.")
            .empty(204, "Deleted")
            .errors(&[403, 404]),
        Route::patch(
            "/v1/topics/{name}/configs",
            alter,
            "alterTopicConfigs",
            "Change a topic's configs",
        )
        .describe(
            "Sets the configs given (retention, segment size, durability...) and keeps the \
             others; `null` returns a key to its default. The new values apply at once.",
        )
        .body(json!({ "type": "object", "additionalProperties": {
                "oneOf": [config_value_schema(), { "type": "null" }] } }))
        .json(200, "The topic with its new configs", topic(true))
        .errors(&[400, 403, 404, 415]),
        Route::post(
            "/v1/topics/{name}/delete-records",
            delete_records,
            "deleteRecords",
            "Delete a topic's oldest records",
        )
        .describe(
            "Moves each partition's log start to the offset given (-1: its high watermark), as \
             Kafka's DeleteRecords: records before it can no longer be read. The start never \
             moves back; an offset past the high watermark is refused.",
        )
        .body(json!({
            "type": "object",
            "required": ["offsets"],
            "properties": { "offsets": {
                "type": "object",
                "additionalProperties": { "type": "integer", "minimum": -1 },
                "description": "Partition → the offset to start at, e.g. {\"0\": 42}",
            } },
        }))
        .json(200, "The topic with its new log start offsets", topic(true))
        .errors(&[400, 403, 404, 415]),
        Route::post(
            "/v1/topics/{name}/partitions",
            add_partitions,
            "addPartitions",
            "Add partitions to a topic",
        )
        .describe(
            "Raises the partition count to `count`, as Kafka's CreatePartitions: records keep \
             their partitions, new keys spread over all of them, consumer groups rebalance and \
             processors start workers for the new ones. Partitions are never removed.",
        )
        .body(json!({
            "type": "object",
            "required": ["count"],
            "properties": { "count": { "type": "integer", "minimum": 1 } },
        }))
        .json(200, "The topic with its partitions", topic(true))
        .errors(&[400, 403, 404, 415]),
    ]
}

/// The body of an add-partitions request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddPartitionsBody {
    /// The new partition count.
    count: u32,
}

async fn add_partitions(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<AddPartitionsBody>,
) -> Result<axum::Json<TopicView>, ApiError> {
    let broker = Arc::clone(&state.broker);
    let topic = name.clone();
    let spec =
        blocking("adding partitions", move || broker.add_partitions(&topic, body.count, false))
            .await?;
    Ok(axum::Json(view(&state.broker, &spec, true)))
}

/// The body of a delete-records request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteRecordsBody {
    /// Partition (as a string key) → offset.
    offsets: BTreeMap<String, i64>,
}

async fn delete_records(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<DeleteRecordsBody>,
) -> Result<axum::Json<TopicView>, ApiError> {
    if body.offsets.is_empty() {
        return Err(ApiError::bad_request(
            "no partition given: send {\"offsets\": {\"0\": 42}} to start partition 0 at 42",
        ));
    }
    let mut offsets = Vec::new();
    for (partition, offset) in body.offsets {
        let p: i32 = partition.parse().map_err(|_| {
            ApiError::bad_request(format!("partition {partition:?} is not a partition number"))
        })?;
        offsets.push((p, offset));
    }
    let broker = Arc::clone(&state.broker);
    let topic = name.clone();
    blocking("deleting records", move || {
        offsets.iter().try_for_each(|(p, o)| broker.delete_records(&topic, *p, *o).map(drop))
    })
    .await?;
    let spec = state.broker.storage.topic(&name).ok_or_else(|| unknown_topic(&name))?;
    Ok(axum::Json(view(&state.broker, &spec, true)))
}

/// A config value as a request may give it.
fn config_value_schema() -> Value {
    json!({ "type": ["string", "number"] })
}

/// A topic as answered, with its configs or not.
fn topic_schema(configs: bool) -> Value {
    let mut schema = json!({
        "type": "object",
        "required": ["name", "internal", "partitions"],
        "properties": {
            "name": { "type": "string" },
            "internal": { "type": "boolean" },
            "partitions": { "type": "array", "items": {
                "type": "object",
                "properties": {
                    "partition": { "type": "integer" },
                    "log_start_offset": { "type": "integer" },
                    "high_watermark": {
                        "type": "integer",
                        "description": "The offset the next record gets",
                    },
                    "size_bytes": { "type": "integer" },
                    "segments": { "type": "integer" },
                },
            } },
        },
    });
    if configs {
        schema["properties"]["configs"] = json!({ "type": "array", "items": {
            "type": "object",
            "properties": {
                "name": { "type": "string" },
                "value": { "type": "string" },
                "source": { "type": "string", "enum": ["topic", "node", "cluster", "broker", "default"] },
                "is_default": { "type": "boolean", "description": "Not set on the topic" },
            },
        } });
    }
    schema
}

/// A topic as the API shows it.
#[derive(Debug, Serialize)]
struct TopicView {
    /// Its name.
    name: String,
    /// Whether it is one of the broker's internal topics.
    internal: bool,
    /// Its partitions, by index.
    partitions: Vec<PartitionView>,
    /// Every config with the value in force; only for a single topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    configs: Option<Vec<ConfigView>>,
}

/// A partition as the API shows it.
#[derive(Debug, Serialize)]
struct PartitionView {
    /// Its index.
    partition: u32,
    /// The first offset held.
    log_start_offset: u64,
    /// The offset the next record gets.
    high_watermark: u64,
    /// Bytes held, over all segments.
    size_bytes: u64,
    /// Segments, the active one included.
    segments: usize,
}

/// A config as the API shows it.
#[derive(Debug, Serialize)]
struct ConfigView {
    /// The key.
    name: String,
    /// The value in force.
    value: String,
    /// Where the value comes from.
    source: ConfigSource,
    /// True unless the topic overrides the key (Kafka's `isDefault`).
    is_default: bool,
}

/// The query of a listing.
#[derive(Debug, Deserialize)]
struct ListQuery {
    /// Include internal topics.
    #[serde(default)]
    internal: bool,
}

/// The body of a creation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    /// The new topic's name.
    name: String,
    /// Its partition count; the broker's default if absent.
    partitions: Option<u32>,
    /// Config overrides; strings, or numbers taken as their text.
    #[serde(default)]
    configs: BTreeMap<String, Value>,
}

/// The topic `spec` as the API shows it (partitions deleted meanwhile left out).
fn view(broker: &Broker, spec: &TopicSpec, with_configs: bool) -> TopicView {
    let partitions = (0..spec.partitions)
        .filter_map(|p| {
            let log = broker.storage.partition(&spec.name, p)?;
            Some(PartitionView {
                partition: p,
                log_start_offset: log.log_start_offset(),
                high_watermark: log.high_watermark(),
                size_bytes: log.size_bytes(),
                segments: log.segment_count(),
            })
        })
        .collect();
    let configs = with_configs.then(|| {
        let configs = broker.topic_configs(&spec.name).unwrap_or_default();
        let view = |c: crate::topics::EffectiveConfig| ConfigView {
            is_default: c.source != ConfigSource::Topic,
            name: c.name,
            value: c.value,
            source: c.source,
        };
        configs.into_iter().map(view).collect()
    });
    TopicView { name: spec.name.clone(), internal: is_internal(&spec.name), partitions, configs }
}

/// 404 for a topic that does not exist.
pub fn unknown_topic(name: &str) -> ApiError {
    ApiError::not_found(format!("topic {name:?} does not exist: GET /v1/topics lists the topics"))
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> axum::Json<Vec<TopicView>> {
    let broker = &state.broker;
    let topics = broker.storage.topics().into_iter();
    let shown = topics.filter(|t| query.internal || !is_internal(&t.name));
    axum::Json(shown.map(|spec| view(broker, &spec, false)).collect())
}

async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::Json<TopicView>, ApiError> {
    let spec = state.broker.storage.topic(&name).ok_or_else(|| unknown_topic(&name))?;
    Ok(axum::Json(view(&state.broker, &spec, true)))
}

async fn create(
    State(state): State<AppState>,
    Json(request): Json<CreateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let mut configs = BTreeMap::new();
    for (key, value) in &request.configs {
        if let Some(value) = config_value(key, value)? {
            configs.insert(key.clone(), value);
        }
    }
    let partitions = request.partitions.unwrap_or(state.broker.options.default_partitions);
    let spec = TopicSpec { name: request.name, partitions, configs };
    let broker = Arc::clone(&state.broker);
    let spec = blocking("creating a topic", move || broker.create_topic(spec, false)).await?;
    let location = format!("/v1/topics/{}", spec.name);
    let answer = axum::Json(view(&state.broker, &spec, true));
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], answer))
}

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let broker = Arc::clone(&state.broker);
    blocking("deleting a topic", move || broker.delete_topic(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn alter(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(mut body): Json<BTreeMap<String, Value>>,
) -> Result<axum::Json<TopicView>, ApiError> {
    // `{"configs": {..}}` is the same as the object inside: `configs` is no key.
    if body.len() == 1
        && let Some(Value::Object(inner)) = body.get("configs")
    {
        body = inner.clone().into_iter().collect();
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "no config to change: send the keys to set, e.g. {\"retention.ms\": \"86400000\"}, \
             with null for a key to return to its default",
        ));
    }
    let mut changes = BTreeMap::new();
    for (key, value) in &body {
        changes.insert(key.clone(), config_value(key, value)?);
    }
    let broker = Arc::clone(&state.broker);
    let spec =
        blocking("altering a topic", move || broker.alter_topic_configs(&name, &changes)).await?;
    Ok(axum::Json(view(&state.broker, &spec, true)))
}

/// A config value of a request: a string, or a number taken as its text; None
/// for null.
pub(super) fn config_value(key: &str, value: &Value) -> Result<Option<String>, ApiError> {
    match value {
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Null => Ok(None),
        other => Err(ApiError::bad_request(format!(
            "config {key:?} is {other}: give its value as a string, e.g. \"86400000\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_strings_or_numbers() {
        assert_eq!(config_value("k", &json!("1")).unwrap(), Some("1".into()));
        assert_eq!(config_value("k", &json!(86400000)).unwrap(), Some("86400000".into()));
        assert_eq!(config_value("k", &json!(-1)).unwrap(), Some("-1".into()));
        assert_eq!(config_value("k", &Value::Null).unwrap(), None);
        let e = config_value("retention.ms", &json!(true)).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("\"retention.ms\" is true"), "{}", e.message);
    }
}
