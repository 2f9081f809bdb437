//! `/v1/groups`: consumer groups, processors' included, with their members,
//! committed offsets and lag; offset resets and deletion.
//!
//! | method and path                | body                                          | answer     |
//! |--------------------------------|-----------------------------------------------|------------|
//! | `GET /v1/groups`               |                                               | 200, list  |
//! | `GET /v1/groups/{id}`          |                                               | 200, group |
//! | `POST /v1/groups/{id}/offsets` | `{"topic": T, "to": TO, "partitions": [..]?}` | 200, reset |
//! | `DELETE /v1/groups/{id}`       |                                               | 204        |
//!
//! Lag is what Kafka's tools show: per committed partition, the log end offset
//! minus the committed offset. A processor is the consumer group named like it:
//! its commits are mirrored there, so its lag shows here too (`processor: true`);
//! its own position lives in its state changelog (`GET /v1/processors/{name}`).
//!
//! A reset moves the offsets of a topic's partitions (all, or those listed) to
//! `"earliest"`, `"latest"`, `{"offset": N}` (clamped to what the partition
//! holds, as `kafka-consumer-groups --reset-offsets` does) or `{"timestamp": MS}`
//! (the first record at or after that time, else the end). As in Kafka, a group
//! with members is refused (409): stop its consumers first. A processor's group
//! is refused too: its position is in its changelog, so the processor would not
//! move.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::extract::{Json, Path};
use super::openapi::Route;
use super::topics::unknown_topic;
use super::{ApiError, AppState};
use crate::group::{GroupError, GroupState, MemberDescription, PartitionLag, TopicPartition};
use crate::topics::{Position, offset_at};

/// The group routes.
pub fn routes() -> Vec<Route> {
    let summary = json!({
        "type": "object",
        "properties": {
            "group_id": { "type": "string" },
            "state": {
                "type": "string",
                "enum": ["Empty", "PreparingRebalance", "CompletingRebalance", "Stable"],
            },
            "protocol_type": { "type": "string" },
            "members": { "type": "integer" },
            "lag": { "type": "integer", "description": "Summed over its committed partitions" },
            "processor": { "type": "boolean", "description": "The group of a deployed processor" },
        },
    });
    let mut group = summary.clone();
    group["properties"]["members"] = json!({ "type": "array", "items": {
        "type": "object",
        "properties": {
            "member_id": { "type": "string" },
            "group_instance_id": { "type": ["string", "null"] },
            "client_id": { "type": "string" },
            "client_host": { "type": "string" },
            "assignment": {
                "type": ["array", "null"],
                "description": "[{topic, partitions}] of a consumer in a Stable group",
                "items": { "type": "object" },
            },
        },
    } });
    group["properties"]["offsets"] = json!({ "type": "array", "items": {
        "type": "object",
        "properties": {
            "topic": { "type": "string" },
            "partition": { "type": "integer" },
            "committed_offset": { "type": "integer" },
            "log_end_offset": {
                "type": ["integer", "null"],
                "description": "null: the partition no longer exists",
            },
            "lag": { "type": ["integer", "null"] },
            "metadata": { "type": "string" },
        },
    } });
    vec![
        Route::get("/v1/groups", list, "listGroups", "List consumer groups")
            .json(
                200,
                "Groups, processors' included, sorted by id",
                json!({ "type": "array", "items": summary }),
            )
            .errors(&[503]),
        Route::get("/v1/groups/{id}", show, "getGroup", "Describe a consumer group")
            .json(200, "Members and per-partition committed offsets and lag", group)
            .errors(&[404]),
        Route::post(
            "/v1/groups/{id}/offsets",
            reset,
            "resetGroupOffsets",
            "Reset a group's offsets",
        )
        .describe(
            "Moves the committed offsets of a topic's partitions. Refused (409) while \
             the group has members, and for a processor's group.",
        )
        .body(json!({
            "type": "object",
            "required": ["topic", "to"],
            "properties": {
                "topic": { "type": "string" },
                "to": { "oneOf": [
                    { "type": "string", "enum": ["earliest", "latest"] },
                    {
                        "type": "object",
                        "required": ["offset"],
                        "properties": { "offset": { "type": "integer", "minimum": 0 } },
                    },
                    {
                        "type": "object",
                        "required": ["timestamp"],
                        "properties": { "timestamp": { "type": "integer", "minimum": 0 } },
                    },
                ] },
                "partitions": { "type": "array", "items": { "type": "integer", "minimum": 0 },
                                "description": "Default: every partition of the topic" },
            },
        }))
        .json(
            200,
            "The new offsets",
            json!({
                "type": "object",
                "properties": {
                    "group_id": { "type": "string" },
                    "topic": { "type": "string" },
                    "offsets": { "type": "array", "items": { "type": "object", "properties": {
                        "partition": { "type": "integer" },
                        "previous": { "type": ["integer", "null"] },
                        "offset": { "type": "integer" },
                    } } },
                },
            }),
        )
        .errors(&[400, 404, 409, 415]),
        Route::delete("/v1/groups/{id}", delete, "deleteGroup", "Delete a consumer group")
            .describe(
                "Deletes a group without members and its committed offsets. A \
                 processor's group goes with the processor: DELETE /v1/processors/{name}.",
            )
            .empty(204, "Deleted")
            .errors(&[404, 409]),
    ]
}

/// A group in the listing.
#[derive(Debug, Serialize)]
struct GroupSummary {
    /// Its id.
    group_id: String,
    /// Its state, as Kafka names it.
    state: &'static str,
    /// `consumer` for consumers; empty for groups that only commit offsets.
    protocol_type: String,
    /// How many members it has.
    members: usize,
    /// Records between its committed offsets and the log ends, summed.
    lag: u64,
    /// Whether it is a deployed processor's group.
    processor: bool,
}

/// A group described.
#[derive(Debug, Serialize)]
struct GroupView {
    /// Its id.
    group_id: String,
    /// Its state, as Kafka names it.
    state: &'static str,
    /// Its protocol type.
    protocol_type: String,
    /// The protocol (assignor) chosen; empty unless Stable.
    protocol: String,
    /// Whether it is a deployed processor's group.
    processor: bool,
    /// Total lag.
    lag: u64,
    /// Its members.
    members: Vec<MemberView>,
    /// Its committed offsets, by topic and partition.
    offsets: Vec<OffsetView>,
}

/// A member described.
#[derive(Debug, Serialize)]
struct MemberView {
    /// Its member id.
    member_id: String,
    /// Its group.instance.id, if static.
    group_instance_id: Option<String>,
    /// The client id it joined with.
    client_id: String,
    /// Its address.
    client_host: String,
    /// The partitions assigned to it, for a consumer in a Stable group.
    assignment: Option<Vec<Assigned>>,
}

/// Partitions of one topic assigned to a member.
#[derive(Debug, Serialize)]
struct Assigned {
    /// The topic.
    topic: String,
    /// Its partitions.
    partitions: Vec<i32>,
}

/// A committed offset and its lag.
#[derive(Debug, Serialize)]
struct OffsetView {
    /// The topic.
    topic: String,
    /// The partition.
    partition: i32,
    /// The offset committed: the next the group will consume.
    committed_offset: i64,
    /// The partition's high watermark; null if the partition no longer exists.
    log_end_offset: Option<u64>,
    /// Records left to consume; null if the partition no longer exists.
    lag: Option<u64>,
    /// The client's metadata string.
    metadata: String,
}

/// Where a reset moves offsets to.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ResetTo {
    /// The log start.
    Earliest,
    /// The log end.
    Latest,
    /// This offset, clamped to what the partition holds.
    Offset(u64),
    /// The first record at or after this time, else the log end.
    Timestamp(i64),
}

/// The body of a reset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    /// The topic whose partitions move.
    topic: String,
    /// Where to.
    to: ResetTo,
    /// Which partitions; all if absent.
    partitions: Option<Vec<u32>>,
}

/// One partition moved.
#[derive(Debug, Serialize)]
struct ResetOffset {
    /// The partition.
    partition: u32,
    /// The offset committed before, if any.
    previous: Option<i64>,
    /// The offset committed now.
    offset: i64,
}

/// The answer to a reset.
#[derive(Debug, Serialize)]
struct Reset {
    /// The group.
    group_id: String,
    /// The topic.
    topic: String,
    /// The partitions moved.
    offsets: Vec<ResetOffset>,
}

fn total_lag(lag: &[PartitionLag]) -> u64 {
    lag.iter().filter_map(|l| l.lag).sum()
}

fn is_processor(state: &AppState, id: &str) -> bool {
    state.processors.get(id).is_ok()
}

async fn list(State(state): State<AppState>) -> axum::Json<Vec<GroupSummary>> {
    let groups = &state.broker.groups;
    let processors: BTreeSet<String> =
        state.processors.list().into_iter().map(|p| p.manifest.name).collect();
    let mut ids: BTreeSet<String> =
        groups.list_groups().into_iter().map(|listing| listing.group_id).collect();
    ids.extend(processors.iter().cloned());
    let summaries = ids
        .into_iter()
        .map(|id| {
            let described = groups.describe_group(&id);
            let state = match described.state {
                // A processor that has not committed yet.
                GroupState::Dead => GroupState::Empty,
                other => other,
            };
            GroupSummary {
                state: state.name(),
                protocol_type: described.protocol_type,
                members: described.members.len(),
                lag: total_lag(&groups.lag(&id)),
                processor: processors.contains(&id),
                group_id: id,
            }
        })
        .collect();
    axum::Json(summaries)
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<GroupView>, ApiError> {
    let groups = &state.broker.groups;
    let described = groups.describe_group(&id);
    let processor = is_processor(&state, &id);
    if described.state == GroupState::Dead && !processor {
        return Err(unknown_group(&id));
    }
    let lag = groups.lag(&id);
    let consumer = described.protocol_type == "consumer";
    let members = described.members.into_iter().map(|m| member_view(m, consumer)).collect();
    let offsets = lag
        .iter()
        .map(|l| OffsetView {
            topic: l.partition.topic.clone(),
            partition: l.partition.partition,
            committed_offset: l.committed.offset,
            log_end_offset: l.log_end_offset,
            lag: l.lag,
            metadata: l.committed.metadata.clone(),
        })
        .collect();
    let state =
        if described.state == GroupState::Dead { GroupState::Empty } else { described.state };
    Ok(axum::Json(GroupView {
        group_id: id,
        state: state.name(),
        protocol_type: described.protocol_type,
        protocol: described.protocol,
        processor,
        lag: total_lag(&lag),
        members,
        offsets,
    }))
}

fn member_view(m: MemberDescription, consumer: bool) -> MemberView {
    let assignment =
        (consumer && !m.assignment.is_empty()).then(|| decode_assignment(m.assignment)).flatten();
    MemberView {
        member_id: m.member_id,
        group_instance_id: m.group_instance_id,
        client_id: m.client_id,
        client_host: m.client_host,
        assignment,
    }
}

/// A consumer's assignment (Kafka's ConsumerProtocolAssignment after its i16
/// version); None if it is not one. Later versions only add fields, so they are
/// read as the latest this crate knows.
fn decode_assignment(mut bytes: Bytes) -> Option<Vec<Assigned>> {
    if bytes.remaining() < 2 {
        return None;
    }
    let version = bytes.get_i16().clamp(0, 3);
    let assignment = ConsumerProtocolAssignment::decode(&mut bytes, version).ok()?;
    let assigned = assignment
        .assigned_partitions
        .into_iter()
        .map(|tp| Assigned { topic: tp.topic.0.to_string(), partitions: tp.partitions })
        .collect();
    Some(assigned)
}

async fn reset(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(request): Json<ResetRequest>,
) -> Result<axum::Json<Reset>, ApiError> {
    if is_processor(&state, &id) {
        return Err(ApiError::conflict(format!(
            "group {id:?} is processor {id:?}'s, whose position lives in its state changelog: \
             resetting the group would not move it; delete and redeploy the processor (`weir \
             processor delete {id}`) with the start position you want"
        )));
    }
    let position = match request.to {
        ResetTo::Earliest => Position::Earliest,
        ResetTo::Latest => Position::Latest,
        ResetTo::Offset(offset) => Position::Offset(offset),
        ResetTo::Timestamp(ts) if ts >= 0 => Position::Timestamp(ts),
        ResetTo::Timestamp(ts) => {
            return Err(ApiError::bad_request(format!(
                "`to.timestamp` is {ts}: give milliseconds since the epoch"
            )));
        }
    };
    let broker = &state.broker;
    let topic = request.topic;
    let spec = broker.storage.topic(&topic).ok_or_else(|| unknown_topic(&topic))?;
    let partitions = match request.partitions {
        Some(partitions) if partitions.is_empty() => {
            return Err(ApiError::bad_request(
                "`partitions` is empty: list some, or leave it out for all of them",
            ));
        }
        Some(partitions) => partitions,
        None => (0..spec.partitions).collect(),
    };
    let mut offsets = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        let log = broker.storage.partition(&topic, p).ok_or_else(|| {
            ApiError::bad_request(format!(
                "topic {topic:?} has no partition {p}: it has partitions 0 to {}",
                spec.partitions.saturating_sub(1)
            ))
        })?;
        let offset = offset_at(&log, position).map_err(|e| {
            tracing::error!(error = %e, "finding an offset failed");
            ApiError::internal("finding the offset")
        })?;
        let clamped = offset.clamp(log.log_start_offset(), log.high_watermark());
        offsets
            .push((TopicPartition { topic: topic.clone(), partition: p as i32 }, clamped as i64));
    }
    let previous: Vec<Option<i64>> = offsets
        .iter()
        .map(|(tp, _)| broker.groups.offsets().fetch(&id, tp).map(|o| o.offset))
        .collect();
    let answers = broker.groups.reset_offsets(&id, offsets.clone()).await.map_err(|e| match e {
        GroupError::NonEmptyGroup => has_members(&id, "reset its offsets"),
        other => group_error(other),
    })?;
    if let Some((tp, Err(e))) = answers.into_iter().find(|(_, a)| a.is_err()) {
        return Err(ApiError::not_found(format!("{}-{}: {e}", tp.topic, tp.partition)));
    }
    let offsets = offsets
        .into_iter()
        .zip(previous)
        .map(|((tp, offset), previous)| ResetOffset {
            partition: tp.partition as u32,
            previous,
            offset,
        })
        .collect();
    Ok(axum::Json(Reset { group_id: id, topic, offsets }))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if is_processor(&state, &id) {
        return Err(ApiError::conflict(format!(
            "group {id:?} belongs to processor {id:?}: delete the processor with `weir processor \
             delete {id}` (DELETE /v1/processors/{id}), which deletes its offsets too"
        )));
    }
    let broker = Arc::clone(&state.broker);
    let group = id.clone();
    let deleted = tokio::task::spawn_blocking(move || broker.groups.delete_group(&group)).await;
    match deleted {
        Ok(Ok(())) => Ok(StatusCode::NO_CONTENT),
        Ok(Err(GroupError::NonEmptyGroup)) => Err(has_members(&id, "delete it")),
        Ok(Err(GroupError::GroupIdNotFound)) => Err(unknown_group(&id)),
        Ok(Err(e)) => Err(group_error(e)),
        Err(e) => {
            tracing::error!(error = %e, "deleting a group panicked or was cancelled");
            Err(ApiError::internal("deleting the group"))
        }
    }
}

fn unknown_group(id: &str) -> ApiError {
    ApiError::not_found(format!("group {id:?} does not exist: GET /v1/groups lists the groups"))
}

fn has_members(id: &str, what: &str) -> ApiError {
    ApiError::conflict(format!(
        "group {id:?} has active members: stop its consumers (so that they leave the group), \
         then {what}; Kafka refuses the same"
    ))
}

/// The answer for the coordinator's other refusals and failures.
fn group_error(e: GroupError) -> ApiError {
    match e {
        GroupError::CoordinatorNotAvailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the group coordinator is shutting down: retry against the running broker",
        ),
        GroupError::InvalidGroupId => ApiError::bad_request("the group id is not valid"),
        GroupError::UnknownTopicOrPartition => ApiError::not_found(e.to_string()),
        other => {
            tracing::error!(error = %other, "group operation failed");
            ApiError::internal("the group operation")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Assignment;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn decodes_consumer_assignments_and_shrugs_at_others() {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            Assignment::default()
                .with_topic(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![0, 2]),
        ]);
        let mut bytes = bytes::BytesMut::new();
        bytes.put_i16(1);
        assignment.encode(&mut bytes, 1).unwrap();
        let decoded = decode_assignment(bytes.freeze()).unwrap();
        assert_eq!(
            (decoded[0].topic.as_str(), &decoded[0].partitions[..]),
            ("orders", &[0, 2][..])
        );
        assert!(decode_assignment(Bytes::from_static(b"p0,p1")).is_none());
        assert!(decode_assignment(Bytes::from_static(b"x")).is_none());
    }
}
