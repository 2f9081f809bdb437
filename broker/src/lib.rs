//! Weir's broker: storage, the Kafka protocol, the HTTP API and the `weir` binary.
//!
//! Layout:
//! - `log`: the partition log, segments, indexes and crash recovery.
//! - `topic`: the registry of topics, their names and configs, persisted in the data
//!   directory.

pub mod log;
pub mod topic;
