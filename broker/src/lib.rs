//! Weir's broker: storage, the Kafka protocol, the HTTP API and the `weir` binary.
//!
//! Layout:
//! - `cli`: the `weir` command line, one file per subcommand.
//! - `broker`: what every protocol handler shares (storage, identity, options).
//! - `kafka`: the Kafka wire protocol server and one handler per API.
//! - `log`: the partition log, segments, indexes and crash recovery.
//! - `topic`: the registry of topics, their names and configs, persisted in the data
//!   directory.
//! - `storage`: the registry and every partition of one data directory, with the
//!   flusher and retention threads.

pub mod broker;
pub mod cli;
pub mod kafka;
pub mod log;
pub mod storage;
pub mod topic;
