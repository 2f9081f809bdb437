//! The partition log: durable, CRC-checked, segmented storage of Kafka RecordBatch v2.
//!
//! Layout of this module, bottom up:
//! - `batch`: a zero-copy view over a RecordBatch v2 header; CRC-32C checks.
//! - `record`: record encoding and decoding (tests, HTTP API, runtime; never the
//!   broker's hot path); compression codecs from `kafka-protocol`.
//! - `index`: the memory-mapped sparse offset index and time index of a segment.
//! - `scan`: walking batch headers in a log file, with or without CRC checks.
//! - `segment`: one `{base_offset:020}.log` with its `.index` and `.timeindex`.
//! - `recovery`: opening a partition's segments, rescanning after a crash.
//! - `producers`: idempotent producers' epochs and last batches, the checks an
//!   append makes against them, and their snapshot file.
//! - `conform`: batches recompressed or stamped with the broker's clock, when
//!   their topic's `compression.type` or `message.timestamp.type` asks.
//! - `cleaner`: log compaction (`cleanup.policy=compact`): the latest record of
//!   each key kept, sealed segments rewritten and swapped in crash-safely.
//! - `partition`: append, read, offset-for-timestamp, retention, cleaning, flushing.
//! - `appends`: the signal an append sends readers waiting for records.
//! - `reader`: the one walk over a partition's batches and records from an offset,
//!   CRC-checked, with one rule for torn and corrupt batches; every caller that
//!   looks inside batches uses it (Fetch sends them unread).
//! - `traffic`: bytes and records in and out of a partition, for metrics.
//! - `flusher`: the background thread behind interval durability.
//! - `config`: the settings a partition's log runs under.
//!
//! On disk a partition is a directory of segments:
//!
//! ```text
//! orders-0/
//!   00000000000000000000.log        batches, exactly as produced (offsets patched)
//!   00000000000000000000.index      (relative offset u32, position u32) every 4 KiB
//!   00000000000000000000.timeindex  (max timestamp so far i64, relative offset u32)
//!   00000000000000052311.log        the active segment, and so on
//!   recovery-point                  offset below which everything is fsynced
//!   producer-state                  idempotent producers as of an offset (snapshot)
//!   cleaner-checkpoint              offsets below it were compacted (compacted topics)
//!   cleaning/, cleaning-swap        a compaction in progress (see `cleaner::swap`)
//!   .clean-shutdown                 present only while the partition is closed cleanly
//! ```

pub mod appends;
pub mod batch;
pub mod cleaner;
pub mod config;
pub mod conform;
pub mod flusher;
pub mod index;
pub mod partition;
pub mod producers;
pub mod reader;
pub mod record;
pub mod recovery;
pub mod scan;
pub mod segment;
pub mod traffic;

pub use config::{Cleanup, Durability, LogConfig};
pub use flusher::Flusher;
pub use partition::{
    ActiveProducer, AppendError, AppendInfo, FileSlice, Partition, ReadError, ReadResult,
};
pub use reader::{Reader, Stop};
