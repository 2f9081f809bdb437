//! A partition's traffic counters: bytes and records appended (counted by
//! `Partition::append`) and fetched (counted by the Fetch handler). They live
//! beside the log so that storage depends on nothing above it; `/metrics` reads
//! them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes and records through one partition since the broker started.
#[derive(Debug, Default)]
pub struct PartitionTraffic {
    /// Bytes of record batches appended (duplicates skipped).
    bytes_in: AtomicU64,
    /// Records appended.
    records_in: AtomicU64,
    /// Bytes of record batches sent in Fetch responses.
    bytes_out: AtomicU64,
    /// Records sent in Fetch responses.
    records_out: AtomicU64,
}

/// A copy of [`PartitionTraffic`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficSnapshot {
    /// Bytes appended.
    pub bytes_in: u64,
    /// Records appended.
    pub records_in: u64,
    /// Bytes fetched.
    pub bytes_out: u64,
    /// Records fetched.
    pub records_out: u64,
}

impl PartitionTraffic {
    /// Counts an append.
    pub fn appended(&self, bytes: u64, records: u64) {
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        self.records_in.fetch_add(records, Ordering::Relaxed);
    }

    /// Counts batches sent to a consumer.
    pub fn fetched(&self, bytes: u64, records: u64) {
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        self.records_out.fetch_add(records, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> TrafficSnapshot {
        TrafficSnapshot {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            records_in: self.records_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
        }
    }
}
