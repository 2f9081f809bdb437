//! Weir's broker: storage, the Kafka protocol, the HTTP API and processors, as a
//! library. The `weir` binary and what only it needs (flags, the HTTP client,
//! progress bars, librdkafka) are the `weir-cli` crate, which depends on this one,
//! never the other way round.
//!
//! Layout:
//! - `broker`: what every protocol handler shares (storage, groups, identity, options).
//! - `broker_configs`: the broker's own configs as admin clients see them (the
//!   broker-wide topic defaults, changeable at run time, and the node's settings).
//! - `group`: the group coordinator: consumer group membership (classic protocol)
//!   and committed offsets in `__consumer_offsets`.
//! - `http`: the HTTP API (axum): health, topics, records, groups, processors, and
//!   its OpenAPI document; one file per resource.
//! - `kafka`: the Kafka wire protocol server and one handler per API.
//! - `log`: the partition log, segments, indexes, crash recovery, and the one reader
//!   every caller that looks inside batches walks them with.
//! - `metrics`: request and traffic counters on the hot path (atomics), and the
//!   Prometheus text format `/metrics` is written in.
//! - `topic`: the registry of topics, their names and configs, persisted in the data
//!   directory.
//! - `node`: one node's start and shutdown, in order: storage, groups,
//!   processors, the Kafka and HTTP listeners (`weir serve`, `weir demo`, tests).
//! - `storage`: the registry and every partition of one data directory, with the
//!   flusher and retention threads.
//! - `topics`: what clients may do with topics (create, delete, alter configs,
//!   describe configs, append), the same for the Kafka handlers and the HTTP API.
//! - `producer_ids`: the allocator of idempotent producer ids, persisted in blocks.
//! - `txn`: the transaction coordinator (transactional ids, their producer ids
//!   and epochs, ending transactions with markers), kept in `__transaction_state`.
//! - `processors`: the registry of deployed Wasm processors, and the log as the
//!   runtime sees it (`LogStore`, state changelogs).

pub mod broker;
pub mod broker_configs;
pub mod group;
pub mod http;
pub mod kafka;
pub mod log;
pub mod metrics;
pub mod node;
pub mod pipelines;
pub mod processors;
pub mod producer_ids;
pub mod storage;
pub mod topic;
pub mod topics;
pub mod txn;
