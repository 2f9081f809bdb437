//! Records in JSON: produce to a topic, read a partition from an offset or a time.
//!
//! | method and path                                          | answer                  |
//! |----------------------------------------------------------|-------------------------|
//! | `POST /v1/topics/{name}/records`                         | 200, `{topic, offsets}` |
//! | `GET /v1/topics/{name}/partitions/{partition}/records`   | 200, `{.., records}`    |
//!
//! ## Produce
//!
//! `{"records": [{"key": K, "value": V, "headers": H, "partition": P, "timestamp": MS}]}`,
//! every field optional. A key, value or header value is:
//! - a JSON string: its UTF-8 bytes;
//! - `{"base64": "..."}`: the decoded bytes (standard, padded base64), for binary;
//! - `null` or absent: Kafka's null (a null value is a tombstone);
//! - any other JSON (object, array, number, boolean): its JSON text.
//!
//! Headers are `{"name": V, ...}` or, to keep order and repeated names,
//! `[["name", V], ...]`. A record without `partition` goes where Kafka's clients
//! put it: by murmur2 of its key, or, without a key, to one partition per request
//! chosen round-robin (Kafka's sticky partitioner). `timestamp` defaults to now.
//! Each partition's records are appended as one batch, as Produce appends them;
//! the answer gives each record's partition and offset, in request order.
//!
//! ## Read
//!
//! Query: where to start, one of `offset=N`, `timestamp=MS` (the first record at
//! or after that time) or `from=beginning|end` (default `beginning`); `limit`
//! (default 100, at most 10,000 records); `format=json|base64`. At most 8 MiB of
//! the log is read per request: `next_offset` says where to continue. Under
//! `format=json` (the default) a key, value or header value that is UTF-8 is a
//! JSON string and other bytes are `{"base64": "..."}`; under `format=base64`
//! every one is `{"base64": "..."}`. Either way a record read can be produced
//! again as it is, giving the same bytes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use weir_runtime::partitioner::partition_for_key;

use super::error::blocking;
use super::extract::{Json, Path, Query};
use super::openapi::Route;
use super::topics::unknown_topic;
use super::{ApiError, AppState};
use crate::log::record::{BatchBuilder, Compression, Header};
use crate::log::{AppendError, Partition, ReadError, Reader, Stop};
use crate::topic::is_internal;
use crate::topics::{Acks, Position, TopicsError, offset_at};

/// Records answered when the request does not say.
pub const DEFAULT_LIMIT: usize = 100;
/// The most records one read may ask for.
pub const MAX_LIMIT: usize = 10_000;
/// The most log bytes one read decodes; a batch alone larger than this is not
/// served here (a Kafka client reads it).
pub const MAX_READ_BYTES: usize = 8 << 20;

/// The next partition for records without key or partition, round-robin over
/// requests.
static NEXT_PARTITION: AtomicU32 = AtomicU32::new(0);

/// The record routes.
pub fn routes() -> Vec<Route> {
    let bytes = bytes_schema;
    let headers_in = json!({ "oneOf": [
        { "type": "object", "additionalProperties": bytes() },
        { "type": "array", "items": {
            "type": "array",
            "prefixItems": [{ "type": "string" }, bytes()],
            "minItems": 2,
            "maxItems": 2,
        } },
    ] });
    let record_in = json!({
        "type": "object",
        "properties": {
            "key": bytes(),
            "value": bytes(),
            "headers": headers_in,
            "partition": {
                "type": "integer",
                "minimum": 0,
                "description": "Default: by the key's murmur2, or round-robin",
            },
            "timestamp": {
                "type": "integer",
                "minimum": 0,
                "description": "ms since the epoch; default now",
            },
        },
    });
    let record_out = json!({
        "type": "object",
        "properties": {
            "offset": { "type": "integer" },
            "timestamp": { "type": "integer" },
            "key": bytes(),
            "value": bytes(),
            "headers": { "type": "array", "items": { "type": "array" },
                         "description": "[name, value] pairs in order" },
        },
    });
    vec![
        Route::post("/v1/topics/{name}/records", produce, "produceRecords", "Produce records")
            .describe(
                "Appends the records, one batch per partition. A key, value or header value is \
                 a string (its UTF-8 bytes), `{\"base64\": \"...\"}` (binary), null, or any \
                 other JSON (its JSON text).",
            )
            .body(json!({
                "type": "object",
                "required": ["records"],
                "properties": { "records": { "type": "array", "minItems": 1, "items": record_in } },
            }))
            .json(200, "Each record's partition and offset, in request order", json!({
                "type": "object",
                "properties": {
                    "topic": { "type": "string" },
                    "offsets": { "type": "array", "items": { "type": "object", "properties": {
                        "partition": { "type": "integer" }, "offset": { "type": "integer" } } } },
                },
            }))
            .errors(&[400, 403, 404, 413, 415]),
        Route::get(
            "/v1/topics/{name}/partitions/{partition}/records",
            read,
            "readRecords",
            "Read records from a partition",
        )
        .path_param("partition", json!({ "type": "integer", "minimum": 0 }), "The partition")
        .query("offset", json!({ "type": "integer", "minimum": 0 }), "Start at this offset")
        .query(
            "timestamp",
            json!({ "type": "integer", "minimum": 0 }),
            "Start at the first record at or after this time (ms since the epoch)",
        )
        .query(
            "from",
            json!({ "type": "string", "enum": ["beginning", "end"] }),
            "Start at the log start (default) or the end",
        )
        .query(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT }),
            "At most this many records (default 100)",
        )
        .query(
            "format",
            json!({ "type": "string", "enum": ["json", "base64"] }),
            "json (default): UTF-8 as strings, other bytes as {\"base64\": ..}; base64: all \
             as {\"base64\": ..}",
        )
        .json(200, "Records from the start position, oldest first", json!({
            "type": "object",
            "properties": {
                "topic": { "type": "string" },
                "partition": { "type": "integer" },
                "log_start_offset": { "type": "integer" },
                "high_watermark": { "type": "integer" },
                "next_offset": { "type": "integer", "description": "Where to continue" },
                "records": { "type": "array", "items": record_out },
            },
        }))
        .errors(&[400, 404, 422]),
    ]
}

/// A key, value or header value.
fn bytes_schema() -> Value {
    json!({ "oneOf": [
        { "type": "string" },
        {
            "type": "object",
            "required": ["base64"],
            "properties": { "base64": { "type": "string" } },
        },
        { "type": "null" },
    ], "description": "Other JSON values are produced as their JSON text" })
}

/// The body of a produce request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProduceRequest {
    /// The records, in order.
    records: Vec<NewRecord>,
}

/// One record to produce.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRecord {
    /// Its key; null or absent for none.
    #[serde(default)]
    key: Value,
    /// Its value; null or absent for a tombstone.
    #[serde(default)]
    value: Value,
    /// Its headers: an object, or a list of [name, value] pairs.
    #[serde(default)]
    headers: Value,
    /// The partition; by key or round-robin if absent.
    partition: Option<u32>,
    /// Its timestamp, ms since the epoch; now if absent.
    timestamp: Option<i64>,
}

/// Where one produced record went.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct RecordOffset {
    /// Its partition.
    partition: u32,
    /// Its offset.
    offset: u64,
}

/// The answer to a produce request.
#[derive(Debug, Serialize)]
struct Produced {
    /// The topic.
    topic: String,
    /// Each record's partition and offset, in request order.
    offsets: Vec<RecordOffset>,
}

/// The records of one partition of a produce request.
struct PartitionBatch {
    /// Their batch, so far.
    builder: BatchBuilder,
    /// Their indexes in the request, in push order.
    indexes: Vec<usize>,
}

async fn produce(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<ProduceRequest>,
) -> Result<axum::Json<Produced>, ApiError> {
    let broker = &state.broker;
    let spec = broker.storage.topic(&name).ok_or_else(|| unknown_topic(&name))?;
    if is_internal(&name) {
        return Err(TopicsError::Internal { topic: name.clone(), operation: "produce to" }.into());
    }
    if request.records.is_empty() {
        return Err(ApiError::bad_request(
            "`records` is empty: send at least one, e.g. {\"records\": [{\"value\": \"hello\"}]}",
        ));
    }
    let now = now_ms();
    let mut sticky = None;
    let mut batches: BTreeMap<u32, PartitionBatch> = BTreeMap::new();
    for (i, record) in request.records.iter().enumerate() {
        let key = bytes_of(&format!("records[{i}].key"), &record.key)?;
        let value = bytes_of(&format!("records[{i}].value"), &record.value)?;
        let headers = headers_of(i, &record.headers)?;
        let timestamp = match record.timestamp {
            Some(ts) if ts < 0 => {
                return Err(ApiError::bad_request(format!(
                    "records[{i}].timestamp is {ts}: give milliseconds since the epoch, or leave \
                     it out for now"
                )));
            }
            Some(ts) => ts,
            None => now,
        };
        let partition = match (record.partition, &key) {
            (Some(p), _) if p >= spec.partitions => {
                return Err(ApiError::bad_request(format!(
                    "records[{i}].partition is {p}, but topic {name:?} has partitions 0 to {}: \
                     leave it out to partition by key",
                    spec.partitions - 1
                )));
            }
            (Some(p), _) => p,
            (None, Some(key)) => partition_for_key(key, spec.partitions),
            (None, None) => *sticky.get_or_insert_with(|| {
                NEXT_PARTITION.fetch_add(1, Ordering::Relaxed) % spec.partitions.max(1)
            }),
        };
        let batch = batches.entry(partition).or_insert_with(|| PartitionBatch {
            builder: BatchBuilder::new(0, Compression::None),
            indexes: Vec::new(),
        });
        batch.builder.push(timestamp, key.as_deref(), value.as_deref(), &headers);
        batch.indexes.push(i);
    }
    // Every batch is built and checked against its partition's limit before any
    // is appended, so a request too large for one partition writes nothing.
    let mut built = Vec::with_capacity(batches.len());
    for (partition, batch) in batches {
        let bytes = batch.builder.build().map_err(|e| {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("{e}: send fewer records"))
        })?;
        let log = broker.storage.partition(&name, partition).ok_or_else(|| unknown_topic(&name))?;
        let max = log.config().max_message_bytes;
        if bytes.len() > max as usize {
            let too_large = AppendError::TooLarge { size: bytes.len(), max };
            return Err(TopicsError::Append(too_large).into());
        }
        built.push((partition, bytes, batch.indexes));
    }
    let mut offsets = vec![RecordOffset::default(); request.records.len()];
    let mut outcome = Ok(());
    for (partition, bytes, indexes) in built {
        match broker.append(&name, partition as i32, bytes, Acks::Leader).await {
            Ok(info) => {
                for (delta, &i) in indexes.iter().enumerate() {
                    offsets[i] =
                        RecordOffset { partition, offset: info.base_offset + delta as u64 };
                }
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    outcome?;
    Ok(axum::Json(Produced { topic: name, offsets }))
}

/// The bytes a key, value or header value of a request stands for; `field`
/// names it in errors.
fn bytes_of(field: &str, value: &Value) -> Result<Option<Bytes>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(Bytes::copy_from_slice(text.as_bytes()))),
        Value::Object(object) if object.len() == 1 && object.contains_key("base64") => {
            let Some(Value::String(encoded)) = object.get("base64") else {
                return Err(ApiError::bad_request(format!(
                    "{field}.base64 is not a string: give the bytes as standard base64 text"
                )));
            };
            let decoded = STANDARD.decode(encoded).map_err(|e| {
                ApiError::bad_request(format!(
                    "{field}.base64 is not valid base64 ({e}): give the bytes in standard, padded \
                     base64"
                ))
            })?;
            Ok(Some(decoded.into()))
        }
        other => Ok(Some(other.to_string().into())),
    }
}

/// The headers of record `i`: an object, or a list of [name, value] pairs.
fn headers_of(i: usize, headers: &Value) -> Result<Vec<Header>, ApiError> {
    let header = |name: &str, value: &Value, at: String| {
        Ok(Header { key: name.to_owned(), value: bytes_of(&at, value)? })
    };
    match headers {
        Value::Null => Ok(Vec::new()),
        Value::Object(object) => object
            .iter()
            .map(|(name, value)| header(name, value, format!("records[{i}].headers.{name}")))
            .collect(),
        Value::Array(pairs) => pairs
            .iter()
            .enumerate()
            .map(|(j, pair)| match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(name), value]) => {
                    header(name, value, format!("records[{i}].headers[{j}][1]"))
                }
                _ => Err(ApiError::bad_request(format!(
                    "records[{i}].headers[{j}] is {pair}: give each header as [\"name\", value]"
                ))),
            })
            .collect(),
        other => Err(ApiError::bad_request(format!(
            "records[{i}].headers is {other}: give {{\"name\": value, ...}} or [[\"name\", value], \
             ...]"
        ))),
    }
}

/// Where a read starts, as the query says it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Start {
    /// The log start.
    Beginning,
    /// The high watermark: only records appended later (none, for this request).
    End,
}

/// How keys, values and header values are written in a read's answer.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Format {
    /// UTF-8 as a JSON string, other bytes as `{"base64": ".."}`.
    #[default]
    Json,
    /// All as `{"base64": ".."}`.
    Base64,
}

/// The query of a read.
#[derive(Debug, Deserialize)]
struct ReadQuery {
    /// Start at this offset.
    offset: Option<u64>,
    /// Start at the first record at or after this time.
    timestamp: Option<i64>,
    /// Start at the beginning or the end.
    from: Option<Start>,
    /// At most this many records.
    limit: Option<usize>,
    /// How bytes are written.
    #[serde(default)]
    format: Format,
}

/// One record read.
#[derive(Debug, Serialize)]
struct RecordView {
    /// Its offset.
    offset: i64,
    /// Its timestamp, ms since the epoch.
    timestamp: i64,
    /// Its key.
    key: Value,
    /// Its value.
    value: Value,
    /// Its headers as [name, value] pairs, in order.
    headers: Vec<(String, Value)>,
}

/// The answer to a read.
#[derive(Debug, Serialize)]
struct Records {
    /// The topic.
    topic: String,
    /// The partition.
    partition: u32,
    /// The first offset held.
    log_start_offset: u64,
    /// The offset the next record appended gets.
    high_watermark: u64,
    /// Where the next read continues.
    next_offset: u64,
    /// The records, oldest first.
    records: Vec<RecordView>,
}

async fn read(
    State(state): State<AppState>,
    Path((name, partition)): Path<(String, u32)>,
    Query(query): Query<ReadQuery>,
) -> Result<axum::Json<Records>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit={limit} is out of range: ask for 1 to {MAX_LIMIT} records"
        )));
    }
    let position = match (query.offset, query.timestamp, query.from) {
        (None, None, None | Some(Start::Beginning)) => Position::Earliest,
        (None, None, Some(Start::End)) => Position::Latest,
        (Some(offset), None, None) => Position::Offset(offset),
        (None, Some(ts), None) if ts >= 0 => Position::Timestamp(ts),
        (None, Some(ts), None) => {
            return Err(ApiError::bad_request(format!(
                "timestamp={ts} is negative: give milliseconds since the epoch"
            )));
        }
        _ => {
            return Err(ApiError::bad_request(
                "give one of offset=N, timestamp=MS or from=beginning|end, not several",
            ));
        }
    };
    let spec = state.broker.storage.topic(&name).ok_or_else(|| unknown_topic(&name))?;
    let log = state.broker.storage.partition(&name, partition).ok_or_else(|| {
        ApiError::not_found(format!(
            "topic {name:?} has no partition {partition}: it has partitions 0 to {}",
            spec.partitions.saturating_sub(1)
        ))
    })?;
    let format = query.format;
    let topic = name.clone();
    let records = blocking("reading records", move || {
        read_records(&log, &topic, partition, position, limit, format)
    })
    .await?;
    Ok(axum::Json(Records { topic: name, partition, ..records }))
}

/// Reads up to `limit` records of partition `partition` of `topic` from
/// `position` with the log reader, reading at most `MAX_READ_BYTES` of the log.
/// Blocks on file reads.
fn read_records(
    log: &Arc<Partition>,
    topic: &str,
    partition: u32,
    position: Position,
    limit: usize,
    format: Format,
) -> Result<Records, ApiError> {
    let start = offset_at(log, position).map_err(read_error)?;
    let (log_start_offset, high_watermark) = (log.log_start_offset(), log.high_watermark());
    if start < log_start_offset || start > high_watermark {
        return Err(out_of_range(start, log_start_offset, high_watermark));
    }
    // The byte limit is hard: it bounds the memory a request takes.
    let mut walk = Reader::new(log, topic, partition, start)
        .max_bytes(MAX_READ_BYTES)
        .strict_bytes()
        .max_records(limit)
        .records();
    let mut records = Vec::new();
    for r in &mut walk {
        let r = r.map_err(read_error)?;
        // The answer is of the log as its high watermark above says.
        if r.offset as u64 >= high_watermark {
            break;
        }
        records.push(RecordView {
            offset: r.offset,
            timestamp: r.timestamp,
            key: json_of(r.key.as_deref(), format),
            value: json_of(r.value.as_deref(), format),
            headers: r
                .headers
                .into_iter()
                .map(|h| (h.key, json_of(h.value.as_deref(), format)))
                .collect(),
        });
    }
    match walk.stop() {
        Some(Stop::Full { offset, size }) if records.is_empty() => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "the batch holding offset {offset} is {size} bytes, more than the {} MiB a \
                     request reads: read it with a Kafka client",
                    MAX_READ_BYTES >> 20
                ),
            ));
        }
        // Else a client paging on would see an empty answer, at the same offset,
        // for ever.
        Some(Stop::Damaged { offset, damage }) if records.is_empty() => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the batch at offset {offset} is damaged ({damage}): nothing from it on can \
                     be read until the log is repaired"
                ),
            ));
        }
        _ => {}
    }
    Ok(Records {
        topic: String::new(),
        partition: 0,
        log_start_offset,
        high_watermark,
        next_offset: walk.next_offset().min(high_watermark),
        records,
    })
}

/// A key, value or header value as a read answers it.
fn json_of(bytes: Option<&[u8]>, format: Format) -> Value {
    match (bytes, format) {
        (None, _) => Value::Null,
        (Some(bytes), Format::Json) => match std::str::from_utf8(bytes) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => json!({ "base64": STANDARD.encode(bytes) }),
        },
        (Some(bytes), Format::Base64) => json!({ "base64": STANDARD.encode(bytes) }),
    }
}

fn out_of_range(offset: u64, log_start_offset: u64, high_watermark: u64) -> ApiError {
    let held = if log_start_offset < high_watermark {
        format!("offsets {log_start_offset} to {}", high_watermark - 1)
    } else {
        "no records".to_owned()
    };
    ApiError::bad_request(format!(
        "offset {offset} is out of range: the partition holds {held} (the next record gets \
         {high_watermark}); ask for one of those, or from=beginning or from=end"
    ))
}

fn read_error(e: ReadError) -> ApiError {
    match e {
        ReadError::OffsetOutOfRange { offset, log_start_offset, high_watermark } => {
            out_of_range(offset, log_start_offset, high_watermark)
        }
        ReadError::Io { .. } => {
            tracing::error!(error = %e, "reading records failed");
            ApiError::internal("reading the records")
        }
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_through_their_json_forms() {
        let b = |v: Value| bytes_of("value", &v).unwrap();
        assert_eq!(b(json!("héllo")).as_deref(), Some("héllo".as_bytes()));
        assert_eq!(b(json!({ "base64": "AAEC" })).as_deref(), Some(&[0u8, 1, 2][..]));
        assert_eq!(b(json!({ "id": 7 })).as_deref(), Some(&br#"{"id":7}"#[..]));
        assert_eq!(b(json!(42)).as_deref(), Some(&b"42"[..]));
        assert_eq!(b(Value::Null), None);
        for bytes in [&b"text"[..], &[0xff, 0], b""] {
            for format in [Format::Json, Format::Base64] {
                let shown = json_of(Some(bytes), format);
                assert_eq!(bytes_of("v", &shown).unwrap().as_deref(), Some(bytes), "{shown}");
            }
        }
        assert_eq!(json_of(Some(&[0xff]), Format::Json), json!({ "base64": "/w==" }));
        let e = bytes_of("records[3].value", &json!({ "base64": "%%" })).unwrap_err();
        assert!(e.message.starts_with("records[3].value.base64 is not valid base64"), "{e:?}");
    }

    #[test]
    fn headers_are_an_object_or_ordered_pairs() {
        let pairs = headers_of(0, &json!([["a", "1"], ["a", null], ["b", { "base64": "AA==" }]]));
        let pairs = pairs.unwrap();
        assert_eq!(pairs.len(), 3);
        assert_eq!((pairs[1].key.as_str(), &pairs[1].value), ("a", &None));
        assert_eq!(pairs[2].value.as_deref(), Some(&[0u8][..]));
        let object = headers_of(0, &json!({ "trace": "x" })).unwrap();
        assert_eq!(object[0].value.as_deref(), Some(&b"x"[..]));
        for bad in [json!([["a"]]), json!([[1, "x"]]), json!("a=b")] {
            let e = headers_of(2, &bad).unwrap_err();
            assert!(e.message.starts_with("records[2].headers"), "{}", e.message);
        }
    }
}
