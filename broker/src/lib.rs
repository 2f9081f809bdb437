//! Weir's broker: storage, the Kafka protocol, the HTTP API and the `weir` binary.
//!
//! Layout:
//! - `log`: the partition log, segments, indexes and crash recovery.
//! - `topic`: the registry of topics, their names and configs, persisted in the data
//!   directory.
//! - `storage`: the registry and every partition of one data directory, with the
//!   flusher and retention threads.

pub mod log;
pub mod storage;
pub mod topic;
