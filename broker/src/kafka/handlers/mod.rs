//! One file per Kafka API. Each declares the versions it serves (`API`) and a
//! `handle` function; [`APIS`] is the registry ApiVersions is computed from, and
//! [`dispatch`] routes a decoded request to its handler.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, FetchResponse, RequestHeader, RequestKind, ResponseKind};

use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::log::FileSlice;
use crate::storage::StorageError;
use crate::topic::TopicError;
use crate::topics::TopicsError;

pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;

/// An API and the versions Weir serves of it.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    /// The API.
    pub key: ApiKey,
    /// Lowest version served.
    pub min: i16,
    /// Highest version served.
    pub max: i16,
}

impl Api {
    /// True when `version` is served.
    pub fn serves(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

/// Every API Weir serves. The ranges follow Apache Kafka 3.0 (the last release
/// before Fetch needed topic ids), raised to what the `kafka-protocol` crate decodes.
pub const APIS: &[Api] = &[
    produce::API,
    fetch::API,
    list_offsets::API,
    metadata::API,
    init_producer_id::API,
    api_versions::API,
    create_topics::API,
    delete_topics::API,
    describe_configs::API,
    offset_commit::API,
    offset_fetch::API,
    find_coordinator::API,
    join_group::API,
    heartbeat::API,
    leave_group::API,
    sync_group::API,
    describe_groups::API,
    list_groups::API,
];

/// The served versions of `key`, if it is served at all.
pub fn find(key: ApiKey) -> Option<&'static Api> {
    APIS.iter().find(|api| api.key == key)
}

/// What a handler answers.
#[derive(Debug)]
pub enum Reply {
    /// An ordinary response.
    Message(ResponseKind),
    /// A Fetch response whose records fields are placeholders for these slices, in
    /// encoding order.
    Fetch(FetchResponse, Vec<FileSlice>),
    /// No response at all (Produce with acks=0).
    Nothing,
}

/// Routes a decoded request to its handler. Requests for APIs not in [`APIS`]
/// never get here: the connection checks first.
pub async fn dispatch(broker: &Arc<Broker>, header: &RequestHeader, request: RequestKind) -> Reply {
    let version = header.request_api_version;
    match request {
        RequestKind::ApiVersions(r) => {
            Reply::Message(ResponseKind::ApiVersions(api_versions::handle(r, version)))
        }
        RequestKind::Metadata(r) => {
            Reply::Message(ResponseKind::Metadata(metadata::handle(broker, r, version)))
        }
        RequestKind::Produce(r) => match produce::handle(broker, r).await {
            Some(response) => Reply::Message(ResponseKind::Produce(response)),
            None => Reply::Nothing,
        },
        RequestKind::Fetch(r) => {
            let (response, slices) = fetch::handle(broker, r, version).await;
            Reply::Fetch(response, slices)
        }
        RequestKind::ListOffsets(r) => {
            Reply::Message(ResponseKind::ListOffsets(list_offsets::handle(broker, r)))
        }
        RequestKind::CreateTopics(r) => {
            Reply::Message(ResponseKind::CreateTopics(create_topics::handle(broker, r)))
        }
        RequestKind::DescribeConfigs(r) => {
            Reply::Message(ResponseKind::DescribeConfigs(describe_configs::handle(broker, r)))
        }
        RequestKind::DeleteTopics(r) => {
            Reply::Message(ResponseKind::DeleteTopics(delete_topics::handle(broker, r)))
        }
        RequestKind::InitProducerId(r) => {
            Reply::Message(ResponseKind::InitProducerId(init_producer_id::handle(broker, r).await))
        }
        RequestKind::FindCoordinator(r) => Reply::Message(ResponseKind::FindCoordinator(
            find_coordinator::handle(broker, r, version),
        )),
        RequestKind::JoinGroup(r) => Reply::Message(ResponseKind::JoinGroup(
            join_group::handle(broker, header, r, version).await,
        )),
        RequestKind::SyncGroup(r) => {
            Reply::Message(ResponseKind::SyncGroup(sync_group::handle(broker, r, version).await))
        }
        RequestKind::Heartbeat(r) => {
            Reply::Message(ResponseKind::Heartbeat(heartbeat::handle(broker, r)))
        }
        RequestKind::LeaveGroup(r) => {
            Reply::Message(ResponseKind::LeaveGroup(leave_group::handle(broker, r, version)))
        }
        RequestKind::OffsetCommit(r) => Reply::Message(ResponseKind::OffsetCommit(
            offset_commit::handle(broker, r, version).await,
        )),
        RequestKind::OffsetFetch(r) => {
            Reply::Message(ResponseKind::OffsetFetch(offset_fetch::handle(broker, r, version)))
        }
        RequestKind::ListGroups(r) => {
            Reply::Message(ResponseKind::ListGroups(list_groups::handle(broker, r, version)))
        }
        RequestKind::DescribeGroups(r) => {
            Reply::Message(ResponseKind::DescribeGroups(describe_groups::handle(broker, r)))
        }
        other => unreachable!("no handler registered for {other:?}"),
    }
}

/// The Kafka error code for a registry error.
pub fn topic_error_code(e: &TopicError) -> i16 {
    topic_error(e).code()
}

fn topic_error(e: &TopicError) -> ResponseError {
    match e {
        TopicError::InvalidTopicName(_) => ResponseError::InvalidTopicException,
        TopicError::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidConfig { .. } | TopicError::UnknownConfig(_) => {
            ResponseError::InvalidConfig
        }
        TopicError::Io { .. } | TopicError::Corrupt { .. } => ResponseError::UnknownServerError,
    }
}

/// The Kafka error code and message for a refused or failed topic operation.
pub fn topics_error(e: &TopicsError) -> (ResponseError, String) {
    match e {
        TopicsError::ReservedName(_) => (ResponseError::InvalidTopicException, e.to_string()),
        TopicsError::Internal { .. } => (ResponseError::InvalidRequest, e.to_string()),
        TopicsError::UnknownPartition { .. } => {
            (ResponseError::UnknownTopicOrPartition, e.to_string())
        }
        TopicsError::Storage(e) => storage_error(e),
        TopicsError::Append(_) => {
            tracing::error!(error = %e, "topic operation failed");
            (ResponseError::UnknownServerError, e.to_string())
        }
    }
}

/// The Kafka error code and message for a storage error; the broker's own faults
/// are logged, and the client reads only that the server failed.
pub fn storage_error(e: &StorageError) -> (ResponseError, String) {
    match e {
        StorageError::Topic(t) => {
            let code = topic_error(t);
            if code == ResponseError::UnknownServerError {
                tracing::error!(error = %e, "topic operation failed");
            }
            (code, e.to_string())
        }
        StorageError::Partition { .. } | StorageError::ProducerIds(_) => {
            tracing::error!(error = %e, "topic operation failed");
            (
                ResponseError::KafkaStorageError,
                "the broker failed to update its storage; see its log".into(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_range_is_one_the_crate_can_decode() {
        for api in APIS {
            let crate_range = api.key.valid_versions();
            assert!(api.min <= api.max, "{:?}", api.key);
            assert!(
                api.min >= crate_range.min && api.max <= crate_range.max,
                "{:?}: {}..={} vs crate {:?}",
                api.key,
                api.min,
                api.max,
                crate_range
            );
        }
        let mut keys: Vec<i16> = APIS.iter().map(|a| a.key as i16).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), APIS.len(), "an API is registered twice");
    }
}
