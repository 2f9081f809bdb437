//! What the runtime needs of the log, as a trait: the broker implements it over
//! its partitions and internal topics; `MemoryStore` implements it in memory for
//! the runtime's own tests and benchmarks.
//!
//! Every method may block (disk I/O, fsync); workers call them from their own
//! threads, never from an async task.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

/// A record header (Kafka headers are ordered and keys may repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's name.
    pub key: String,
    /// Its value; None is a null value.
    pub value: Option<Bytes>,
}

/// A record read from an input partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    /// Which of the processor's inputs it came from, as an index into the
    /// manifest's `inputs`: stores read it as 0; the worker sets it.
    pub input: u32,
    /// The record's offset in its partition.
    pub offset: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The key; None is a null key.
    pub key: Option<Bytes>,
    /// The value; None is a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<Header>,
}

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    /// The key; None is a null key.
    pub key: Option<Bytes>,
    /// The value; None is a null value.
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
}

impl OutputRecord {
    /// Bytes this record counts against output caps: key, value and headers.
    pub fn size(&self) -> usize {
        let opt = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        opt(&self.key)
            + opt(&self.value)
            + self.headers.iter().map(|h| h.key.len() + opt(&h.value)).sum::<usize>()
    }
}

/// A partition's log bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The first offset still in the log.
    pub log_start: u64,
    /// The offset the next appended record will get.
    pub high_watermark: u64,
}

/// Where a (processor, input partition index) left off, loaded at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The next offset to process of each input, in the manifest's order; None
    /// (or missing) where the processor never committed for that input (the
    /// deployment's start position applies).
    pub next_offsets: Vec<Option<u64>>,
    /// The keyed state as of `next_offsets`.
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// What one processed batch commits, atomically: the state changes and the next
/// input offsets are made durable together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// The next offset to process of each input, in the manifest's order.
    pub next_offsets: Vec<u64>,
    /// Changed keys: Some is the new value, None deletes the key.
    pub state: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The topic does not exist.
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    /// The topic has no such partition.
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The missing partition.
        partition: u32,
    },
    /// The offset is below the log start (deleted by retention) or past the end.
    #[error("offset {offset} is outside {topic}-{partition} [{log_start}, {high_watermark}]")]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: u64,
        /// The first offset in the log.
        log_start: u64,
        /// The next offset to be written.
        high_watermark: u64,
    },
    /// A failure that may pass (I/O, a full disk, a partition closing): the
    /// same request is worth retrying.
    #[error("{0}")]
    Unavailable(String),
    /// A request that can never succeed as it is (a record over the topic's
    /// size limit, an internal topic): retrying it would fail forever, so the
    /// processor's error policy decides.
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    /// True when retrying the same request cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            StoreError::Refused(_)
                | StoreError::UnknownTopic(_)
                | StoreError::UnknownPartition { .. }
        )
    }
}

/// Bytes a record adds to a batch beyond its key, value and header bytes, at
/// most: the record's length, attributes, timestamp and offset deltas, and key,
/// value and header-count lengths, as varints.
pub const RECORD_OVERHEAD: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;
/// Bytes each header adds beyond its key and value, at most (two varint lengths).
pub const HEADER_OVERHEAD: usize = 10;
/// A RecordBatch v2 header.
pub const BATCH_OVERHEAD: usize = 61;

impl OutputRecord {
    /// The most bytes this record takes in an encoded batch.
    pub fn encoded_size(&self) -> usize {
        self.size() + RECORD_OVERHEAD + self.headers.len() * HEADER_OVERHEAD
    }

    /// The most bytes a batch holding only this record takes: what must fit a
    /// topic's max.message.bytes for the record to be written at all.
    pub fn alone_in_a_batch(&self) -> usize {
        self.encoded_size() + BATCH_OVERHEAD
    }
}

/// How long `wait_any` waits on its first partition before checking the others.
pub const WAIT_ANY_SLICE: Duration = Duration::from_millis(10);

/// The log as the runtime sees it.
pub trait LogStore: Send + Sync + 'static {
    /// The number of partitions of `topic`.
    fn partitions(&self, topic: &str) -> Result<u32, StoreError>;

    /// The largest batch `topic` takes, in bytes (Kafka's max.message.bytes);
    /// None if it takes any. A record that alone exceeds it is refused at emit.
    fn max_batch_bytes(&self, topic: &str) -> Result<Option<usize>, StoreError> {
        self.partitions(topic).map(|_| None)
    }

    /// The log start and high watermark of a partition.
    fn bounds(&self, topic: &str, partition: u32) -> Result<Bounds, StoreError>;

    /// The first offset whose timestamp is at or after `timestamp`; None if
    /// there is none yet.
    fn offset_for_timestamp(
        &self,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> Result<Option<u64>, StoreError>;

    /// Records at or after `offset`, in order: at least one if any exists (even
    /// when it is larger than `max_bytes`), at most `max_records`. Empty when
    /// `offset` is the high watermark.
    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<InputRecord>, StoreError>;

    /// Blocks until the partition's high watermark passes `offset` or `timeout`
    /// elapses; true if it did.
    fn wait(&self, topic: &str, partition: u32, offset: u64, timeout: Duration) -> bool;

    /// `wait` for several partitions: blocks until any of `positions` (topic,
    /// partition, offset) has its high watermark past its offset, or `timeout`
    /// elapses; true if one did. One position is `wait`; for more, this waits
    /// on the first in slices of `WAIT_ANY_SLICE`, checking the others' bounds
    /// between slices.
    fn wait_any(&self, positions: &[(&str, u32, u64)], timeout: Duration) -> bool {
        if let [(topic, partition, offset)] = positions {
            return self.wait(topic, *partition, *offset, timeout);
        }
        let Some(&(first, first_partition, first_offset)) = positions.first() else {
            return false;
        };
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let past = |(t, p, o): &(&str, u32, u64)| {
                self.bounds(t, *p).is_ok_and(|b| b.high_watermark > *o)
            };
            if positions.iter().any(past) {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            self.wait(first, first_partition, first_offset, left.min(WAIT_ANY_SLICE));
        }
    }

    /// Appends `records` to a partition, in order, in as few batches as the
    /// topic's batch size limit allows.
    fn append(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<OutputRecord>,
    ) -> Result<(), StoreError>;

    /// The processor's checkpoint for an input partition index.
    fn load_checkpoint(&self, processor: &str, partition: u32) -> Result<Checkpoint, StoreError>;

    /// Makes `commit` durable atomically, for the processor's input partition index.
    fn commit(&self, processor: &str, partition: u32, commit: &Commit) -> Result<(), StoreError>;
}
