//! Log compaction: for topics with `cleanup.policy` `compact`, a background pass
//! keeps the latest record of each key and drops the rest, as Kafka's log cleaner
//! does.
//!
//! - `keys`: the latest offset per key of the dirty part, in bounded memory.
//! - `filter`: one batch, cut down to the records that stay.
//! - `pass`: one cleaning of a partition's sealed segments into `cleaning/`.
//! - `swap`: putting the cleaned segments in place, crash-safely, and the
//!   cleaner checkpoint.
//!
//! The rules, each in one place:
//! - What is cleaned (`pass::plan`): sealed segments only (never the active one),
//!   none with a record younger than `min.compaction.lag.ms`, and only once the
//!   share of bytes not yet cleaned reaches `min.cleanable.dirty.ratio` (or a
//!   record is older than `max.compaction.lag.ms`).
//! - What stays (`pass::keep`): a record that is its key's latest, a record
//!   without a key, every control batch; a tombstone only until its segment is
//!   older than `delete.retention.ms`.
//! - Offsets never change: kept batches keep their offsets, so a log that was
//!   cleaned has gaps (as in Kafka), and readers skip over them.

pub mod filter;
pub mod keys;
pub mod pass;
pub mod swap;

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The cleaner's limits, for the whole node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanerOptions {
    /// Memory for one pass's key map (Kafka's `log.cleaner.dedupe.buffer.size`).
    pub key_map_bytes: usize,
    /// Bytes read and written per second, at most (None: no limit; Kafka's
    /// `log.cleaner.io.max.bytes.per.second`).
    pub io_bytes_per_second: Option<u64>,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        CleanerOptions { key_map_bytes: 128 << 20, io_bytes_per_second: None }
    }
}

/// What one pass over a partition did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// Segments rewritten or removed.
    pub segments: u64,
    /// Bytes of the segments before.
    pub bytes_before: u64,
    /// Bytes of the segments after.
    pub bytes_after: u64,
    /// Records dropped.
    pub records_removed: u64,
    /// Offsets below this are now cleaned.
    pub cleaned_through: u64,
}

/// Keeps a pass's reads and writes under a rate, by sleeping between batches.
#[derive(Debug)]
pub struct Throttle {
    /// The rate, if any.
    rate: Option<u64>,
    /// When the pass started.
    start: Instant,
    /// Bytes moved since.
    bytes: u64,
}

impl Throttle {
    /// A throttle at `rate` bytes per second (None: never sleeps).
    pub fn new(rate: Option<u64>) -> Throttle {
        Throttle { rate, start: Instant::now(), bytes: 0 }
    }

    /// Counts `bytes` and sleeps as long as the pass is ahead of the rate.
    pub fn moved(&mut self, bytes: u64) {
        self.bytes += bytes;
        let Some(rate) = self.rate.filter(|&r| r > 0) else { return };
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        if let Some(ahead) = due.checked_sub(self.start.elapsed()) {
            thread::sleep(ahead);
        }
    }
}

/// What the cleaner did since the broker started, for metrics.
#[derive(Debug, Default)]
pub struct CleanerTotals {
    /// Passes that cleaned something.
    pub passes: AtomicU64,
    /// Segments rewritten or removed.
    pub segments: AtomicU64,
    /// Bytes those segments held before.
    pub bytes_before: AtomicU64,
    /// Bytes they hold after.
    pub bytes_after: AtomicU64,
    /// Records dropped.
    pub records_removed: AtomicU64,
    /// Passes that failed (damaged segments, I/O errors).
    pub errors: AtomicU64,
}

impl CleanerTotals {
    /// Adds one pass's figures.
    pub fn add(&self, stats: &CleanStats) {
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.segments.fetch_add(stats.segments, Ordering::Relaxed);
        self.bytes_before.fetch_add(stats.bytes_before, Ordering::Relaxed);
        self.bytes_after.fetch_add(stats.bytes_after, Ordering::Relaxed);
        self.records_removed.fetch_add(stats.records_removed, Ordering::Relaxed);
    }
}
