//! The settings one partition's log runs under. Topics carry them as Kafka-style
//! `key=value` overrides (see `crate::topic::config`); this is the parsed form.

use std::time::Duration;

use super::conform::Conformance;

/// When appended bytes reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Appends return once written to the page cache; a background flusher fsyncs
    /// every partition with unflushed data at this interval. A crash may lose up to
    /// one interval of acknowledged appends (as with Kafka's defaults).
    Interval(Duration),
    /// Appends return only after an fsync covers them. Concurrent appends share one
    /// fsync (group commit).
    Sync,
}

/// Per-partition log settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll the active segment when the next batch would take it past this size.
    pub segment_bytes: u64,
    /// Roll the active segment when its first batch is older than this.
    pub segment_age: Duration,
    /// Delete the oldest segments while the log is bigger than this (None: no limit).
    pub retention_bytes: Option<u64>,
    /// Delete segments whose newest record is older than this (None: keep forever).
    pub retention_age: Option<Duration>,
    /// The largest batch a producer may append.
    pub max_message_bytes: u32,
    /// When appends are fsynced.
    pub durability: Durability,
    /// Bytes of log between two sparse index entries.
    pub index_interval_bytes: u32,
    /// The codec and timestamps batches are stored with.
    pub conformance: Conformance,
    /// Replicas an acks=all produce needs (`min.insync.replicas`); a single
    /// node has one.
    pub min_insync_replicas: u32,
    /// What happens to old records: deleted by retention, compacted, or both.
    pub cleanup: Cleanup,
}

/// `cleanup.policy` and compaction's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleanup {
    /// `delete` in the policy: retention deletes old segments.
    pub delete: bool,
    /// `compact` in the policy: the cleaner keeps the latest record of each key.
    pub compact: bool,
    /// `delete.retention.ms`: how long a tombstone stays readable once cleaned.
    pub delete_retention: Duration,
    /// `min.compaction.lag.ms`: records younger than this are never cleaned.
    pub min_lag: Duration,
    /// `max.compaction.lag.ms`: a record older than this is cleaned whatever the
    /// dirty ratio (None: no bound).
    pub max_lag: Option<Duration>,
    /// `min.cleanable.dirty.ratio` in millionths: the share of the log not yet
    /// cleaned that makes a cleaning worth it.
    pub min_dirty_ppm: u32,
}

impl Default for Cleanup {
    fn default() -> Self {
        Cleanup {
            delete: true,
            compact: false,
            delete_retention: Duration::from_secs(24 * 3600),
            min_lag: Duration::ZERO,
            max_lag: None,
            min_dirty_ppm: 500_000,
        }
    }
}

/// Kafka's `segment.bytes` default: 1 GiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 1 << 30;
/// Kafka's `segment.ms` and `retention.ms` default: 7 days.
pub const DEFAULT_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Kafka's `max.message.bytes` default.
pub const DEFAULT_MAX_MESSAGE_BYTES: u32 = 1_048_588;
/// Weir's default flush interval under `Durability::Interval`.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Kafka's `index.interval.bytes` default.
pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4096;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_age: DEFAULT_AGE,
            retention_bytes: None,
            retention_age: Some(DEFAULT_AGE),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            durability: Durability::Interval(DEFAULT_FLUSH_INTERVAL),
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
            conformance: Conformance::default(),
            min_insync_replicas: 1,
            cleanup: Cleanup::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafkas() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_age, Duration::from_millis(604_800_000));
        assert_eq!(c.retention_age, Some(Duration::from_millis(604_800_000)));
        assert_eq!(c.retention_bytes, None);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.durability, Durability::Interval(Duration::from_secs(1)));
    }
}
