//! One file per Kafka API, each with an async `handle(broker, header, request)`;
//! the `registry!` below declares each API once (key, versions, handler file), and
//! what must agree with it is derived from that declaration:
//! - [`APIS`]: what ApiVersions advertises, the versions the connection accepts,
//!   and the metrics rows the listener exposes from the start;
//! - [`dispatch`]: decodes the request as the type its handler takes, calls the
//!   handler, and counts the error codes of its answer ([`ErrorCodes`], which each
//!   handler file implements for its response).
//!
//! Adding an API is a file here, its `mod` line and one entry in the registry.

use std::sync::Arc;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{
    ApiKey, FetchResponse, ProduceResponse, RequestHeader, ResponseKind,
};
use kafka_protocol::protocol::Decodable;

use crate::broker::Broker;
use crate::log::FileSlice;
use crate::metrics::ApiMetrics;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod api_versions;
mod config_changes;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_producers;
pub mod describe_transactions;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;

/// Builds [`APIS`] and [`dispatch`] from one list of `Key: min..=max => handler file`.
macro_rules! registry {
    ($($key:ident: $min:literal..=$max:literal => $module:ident,)*) => {
        /// Every API Weir serves, in the order of the registry.
        pub const APIS: &[Api] = &[$(Api { key: ApiKey::$key, min: $min, max: $max },)*];

        /// Decodes the body of a request for a registered API as its handler's
        /// request type, runs the handler, and counts its answer's error codes in
        /// `metrics`. Err when the body does not decode (or, which the connection
        /// rules out first, the API is not registered).
        pub async fn dispatch(
            broker: &Arc<Broker>,
            header: &RequestHeader,
            body: &mut Bytes,
            metrics: &ApiMetrics,
        ) -> anyhow::Result<Reply> {
            let version = header.request_api_version;
            match ApiKey::try_from(header.request_api_key) {
                $(Ok(ApiKey::$key) => {
                    let request = decode(body, version)?;
                    Ok(reply($module::handle(broker, header, request).await, metrics))
                })*
                _ => anyhow::bail!("no handler for API key {}", header.request_api_key),
            }
        }
    };
}

// The ranges lie within Apache Kafka 3.7's (Fetch 16 and Metadata 12, with topic
// ids, are its newest), raised to the lowest version the `kafka-protocol` crate
// decodes, and capped where Weir serves less; clients infer the broker's release
// from them (kafka-python reads 3.7 from Fetch 16; see KAFKA-COMPAT.md), so they
// change only on purpose.
registry! {
    Produce: 3..=9 => produce,                   // 3: the crate's lowest; v2 batches need it
    Fetch: 4..=16 => fetch,                      // 13+ name topics by id
    ListOffsets: 1..=7 => list_offsets,          // 7: max-timestamp lookups (-3)
    Metadata: 0..=12 => metadata,                // 10+ give topic ids, 12 takes them
    InitProducerId: 0..=4 => init_producer_id,
    ApiVersions: 0..=3 => api_versions,
    CreateTopics: 2..=7 => create_topics,
    DeleteTopics: 1..=6 => delete_topics,
    DescribeConfigs: 1..=4 => describe_configs,
    AlterConfigs: 0..=2 => alter_configs,
    OffsetCommit: 2..=8 => offset_commit,
    OffsetFetch: 1..=8 => offset_fetch,
    FindCoordinator: 0..=4 => find_coordinator,  // 4 batches keys
    JoinGroup: 0..=7 => join_group,
    Heartbeat: 0..=4 => heartbeat,
    LeaveGroup: 0..=4 => leave_group,
    SyncGroup: 0..=5 => sync_group,
    DescribeGroups: 0..=5 => describe_groups,
    ListGroups: 0..=4 => list_groups,
    DeleteRecords: 0..=2 => delete_records,
    CreatePartitions: 0..=3 => create_partitions,
    DeleteGroups: 0..=2 => delete_groups,
    OffsetDelete: 0..=0 => offset_delete,
    IncrementalAlterConfigs: 0..=1 => incremental_alter_configs,
    DescribeCluster: 0..=1 => describe_cluster,  // 1 names the endpoint type (kafka-python needs it)
    DescribeProducers: 0..=0 => describe_producers,
    AddPartitionsToTxn: 0..=4 => add_partitions_to_txn,  // 4: the batched form
    AddOffsetsToTxn: 0..=3 => add_offsets_to_txn,
    EndTxn: 0..=3 => end_txn,
    TxnOffsetCommit: 0..=3 => txn_offset_commit,
    DescribeTransactions: 0..=0 => describe_transactions,
    ListTransactions: 0..=0 => list_transactions,
}

tokio::task_local! {
    /// The client's address, set for each connection's task: what a handler
    /// reports of who asked (JoinGroup's client host), without every handler
    /// taking it.
    pub static PEER: std::net::SocketAddr;
}

/// The address of the client whose request is being handled, as Kafka writes
/// a member's client host (`/127.0.0.1`); empty outside a connection's task.
pub(crate) fn client_host() -> String {
    PEER.try_with(|peer| format!("/{}", peer.ip())).unwrap_or_default()
}

/// Runs a handler's blocking part (file system work, fsyncs, reads that may go
/// to disk) on the blocking pool, so a tokio worker never waits on a disk; a
/// panic there goes on in the caller, as it would have in place.
pub(crate) async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(answer) => answer,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// An API and the versions Weir serves of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The served versions of `key`, if it is served at all.
pub fn find(key: ApiKey) -> Option<&'static Api> {
    APIS.iter().find(|api| api.key == key)
}

/// What a handler answers, ready to encode.
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

/// Every error code a response carries, zeros (no error) included: the top-level
/// code and every per-topic, per-partition or per-member one, as Kafka counts
/// `ErrorsPerSec` from a response's error counts.
pub trait ErrorCodes {
    /// Calls `each` with every error code in the response.
    fn error_codes(&self, each: &mut dyn FnMut(i16));
}

/// What a handler may return: a response ([`ErrorCodes`] and a [`ResponseKind`]),
/// or one of the two special answers below.
pub trait Answer {
    /// Calls `each` with every error code of the answer.
    fn error_codes(&self, each: &mut dyn FnMut(i16));
    /// The reply to encode.
    fn into_reply(self) -> Reply;
}

impl<R: ErrorCodes + Into<ResponseKind>> Answer for R {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        ErrorCodes::error_codes(self, each)
    }
    fn into_reply(self) -> Reply {
        Reply::Message(self.into())
    }
}

/// Produce: None for acks=0.
impl Answer for Option<ProduceResponse> {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        if let Some(response) = self {
            ErrorCodes::error_codes(response, each)
        }
    }
    fn into_reply(self) -> Reply {
        self.map_or(Reply::Nothing, |r| Reply::Message(r.into()))
    }
}

/// Fetch: the response and the file slices its placeholders stand for.
impl Answer for (FetchResponse, Vec<FileSlice>) {
    fn error_codes(&self, each: &mut dyn FnMut(i16)) {
        ErrorCodes::error_codes(&self.0, each)
    }
    fn into_reply(self) -> Reply {
        Reply::Fetch(self.0, self.1)
    }
}

fn decode<R: Decodable>(body: &mut Bytes, version: i16) -> anyhow::Result<R> {
    let request = R::decode(body, version)?;
    if body.has_remaining() {
        let request = std::any::type_name::<R>().rsplit("::").next().unwrap_or("");
        tracing::debug!(
            request,
            version,
            trailing = body.remaining(),
            "request has trailing bytes"
        );
    }
    Ok(request)
}

fn reply(answer: impl Answer, metrics: &ApiMetrics) -> Reply {
    answer.error_codes(&mut |code| metrics.error(code));
    answer.into_reply()
}

#[cfg(test)]
mod tests;
