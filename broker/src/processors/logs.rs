//! Processor logs kept durably, in the internal topic `__weir_logs`.
//!
//! The runtime keeps each processor's recent lines in a ring in memory, lost at
//! a restart. A shipper thread copies every processor's new lines into
//! `__weir_logs` every [`SHIP_EVERY`] (and a reader's request ships the lines
//! not yet copied first, so what was written is always there to read):
//!
//! - one partition; one batch per processor per shipment, so each batch holds one
//!   processor's lines; record key = the processor's name, value = the line as
//!   JSON (`{"partition", "timestamp_ms", "level", "message"}`), timestamp = the
//!   line's;
//! - retention 7 days or 1 GiB, whichever comes first (alter the topic's
//!   `retention.ms` / `retention.bytes` to change it); interval durability;
//! - lines are capped at the runtime's `MAX_LOG_LINE` bytes each, and each
//!   processor at [`LINES_PER_SECOND`] lines a second (bursts of [`BURST`]): the
//!   rest are dropped, and a `warn` line says how many.
//!
//! A line's `seq` is its record's offset in `__weir_logs` plus one: it grows
//! across restarts, with gaps where other processors' lines sit. In memory, an
//! index lists each processor's batches (first and last offset), rebuilt at open
//! by reading the topic, so reads go straight to a processor's batches. Lines
//! outlive their processor until retention removes them: one deployed again under
//! the same name shows them before its own.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use weir_runtime::{LogLevel, Processor};

use super::ProcessorError;
use crate::broker::Broker;
use crate::log::record::{BatchBuilder, Compression};
use crate::log::{AppendError, Partition, ReadError, Reader};
use crate::storage::StorageError;
use crate::topic::{TopicError, TopicSpec};

/// The internal topic processor logs are kept in.
pub const LOGS_TOPIC: &str = "__weir_logs";
/// How long lines are kept: 7 days.
pub const RETENTION_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// How many bytes of lines are kept: 1 GiB.
pub const RETENTION_BYTES: u64 = 1 << 30;
/// How often the shipper copies new lines.
pub const SHIP_EVERY: Duration = Duration::from_millis(200);
/// Lines a processor may store per second, on average.
pub const LINES_PER_SECOND: f64 = 1_000.0;
/// Lines a processor may store at once after a quiet spell.
pub const BURST: f64 = 2_000.0;
/// A batch is appended once it holds this many bytes of lines.
const MAX_BATCH_BYTES: usize = 256 << 10;

/// One line of a processor's log, as the API serves it (the runtime's `LogLine`
/// shape, with `seq` from the topic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The record's offset in `__weir_logs` plus one; increasing, with gaps.
    #[serde(default)]
    pub seq: u64,
    /// The input partition whose worker wrote it; None for the processor as a whole.
    pub partition: Option<u32>,
    /// When it was written, ms since the epoch.
    pub timestamp_ms: i64,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// A line as stored: the runtime's line without its in-memory sequence number.
#[derive(Serialize)]
struct StoredLine<'a> {
    /// See [`LogEntry::partition`].
    partition: Option<u32>,
    /// See [`LogEntry::timestamp_ms`].
    timestamp_ms: i64,
    /// See [`LogEntry::level`].
    level: LogLevel,
    /// See [`LogEntry::message`].
    message: &'a str,
}

/// Offsets of one batch of a processor's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// Its first record.
    first: u64,
    /// Its last record.
    last: u64,
}

/// Where a running processor's log has been shipped to, and its allowance.
#[derive(Debug)]
pub struct Cursor {
    /// The runtime's sequence number of the last line handled (stored or dropped).
    after: u64,
    /// Lines it may still store now.
    tokens: f64,
    /// When `tokens` was last topped up.
    refilled: Instant,
}

impl Cursor {
    /// A cursor at the start of a fresh processor's log (the runtime numbers a
    /// processor's lines from 1 each time it starts).
    pub fn new() -> Cursor {
        Cursor { after: 0, tokens: BURST, refilled: Instant::now() }
    }
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor::new()
    }
}

/// `__weir_logs` and the index of each processor's batches in it.
#[derive(Debug)]
pub struct ProcessorLogs {
    /// Partition 0 of `__weir_logs`.
    partition: Arc<Partition>,
    /// Each processor's batches, oldest first.
    index: RwLock<HashMap<String, VecDeque<Run>>>,
}

impl ProcessorLogs {
    /// Opens `__weir_logs`, creating it if missing, and indexes what it holds.
    pub fn open(broker: Arc<Broker>) -> Result<ProcessorLogs, ProcessorError> {
        let storage = &broker.storage;
        let storage_error =
            |source| ProcessorError::Storage { what: format!("opening {LOGS_TOPIC}"), source };
        if storage.topic(LOGS_TOPIC).is_none() {
            let configs = [
                ("retention.ms", RETENTION_MS.to_string()),
                ("retention.bytes", RETENTION_BYTES.to_string()),
                ("durability", "interval".to_owned()),
            ];
            let configs = configs.map(|(k, v)| (k.to_owned(), v)).into();
            let spec = TopicSpec { name: LOGS_TOPIC.to_owned(), partitions: 1, configs };
            match storage.create_topic(spec) {
                Ok(_) | Err(StorageError::Topic(TopicError::TopicAlreadyExists(_))) => {}
                Err(e) => return Err(storage_error(e)),
            }
        }
        let missing = || StorageError::Topic(TopicError::UnknownTopic(LOGS_TOPIC.to_owned()));
        let partition =
            storage.partition(LOGS_TOPIC, 0).ok_or_else(missing).map_err(storage_error)?;
        let index = replay(&partition)?;
        let lines: u64 = index.values().flatten().map(|r| r.last - r.first + 1).sum();
        info!(topic = LOGS_TOPIC, processors = index.len(), lines, "processor logs indexed");
        Ok(ProcessorLogs { partition, index: RwLock::new(index) })
    }

    /// Copies `processor`'s lines written since `cursor` into the topic, within
    /// its allowance; returns how many were stored.
    pub fn ship(&self, name: &str, processor: &Processor, cursor: &Mutex<Cursor>) -> usize {
        let mut cursor = cursor.lock();
        let lines = processor.logs(cursor.after, usize::MAX);
        let Some(newest) = lines.last().map(|l| l.seq) else { return 0 };
        // The ring drops its oldest lines when full: those were never seen.
        let lost = lines[0].seq.saturating_sub(cursor.after + 1);
        let now = Instant::now();
        let earned = now.duration_since(cursor.refilled).as_secs_f64() * LINES_PER_SECOND;
        cursor.tokens = (cursor.tokens + earned).min(BURST);
        cursor.refilled = now;
        let kept = lines.len().min(cursor.tokens as usize);
        let dropped = (lines.len() - kept) as u64 + lost;

        // Batches stay well under the topic's max.message.bytes (1 MiB).
        let mut batch = Batch::default();
        let mut stored = 0;
        for line in &lines[..kept] {
            batch.push(name, line.partition, line.timestamp_ms, line.level, &line.message);
            if batch.bytes >= MAX_BATCH_BYTES {
                let full = std::mem::take(&mut batch);
                let count = full.lines;
                if !self.store(name, full) {
                    return stored;
                }
                stored += count;
                cursor.after = line.seq;
                cursor.tokens -= count as f64;
            }
        }
        if dropped > 0 {
            let message = format!(
                "{dropped} log lines dropped: a processor may store {LINES_PER_SECOND} lines a \
                 second (bursts of {BURST}); log less, or per batch rather than per record"
            );
            let at = lines.last().map_or(0, |l| l.timestamp_ms);
            batch.push(name, None, at, LogLevel::Warn, &message);
        }
        let last = kept - stored;
        if batch.lines > 0 && !self.store(name, batch) {
            return stored;
        }
        cursor.after = newest;
        cursor.tokens -= last as f64;
        stored + last
    }

    /// Appends `batch`; false (after a warning) if that failed.
    fn store(&self, name: &str, batch: Batch) -> bool {
        match self.append(name, batch.builder) {
            Ok(()) => true,
            Err(AppendError::Closed) => false,
            Err(e) => {
                warn!(processor = name, error = %e, "storing processor log lines failed; retrying");
                false
            }
        }
    }

    fn append(&self, name: &str, batch: BatchBuilder) -> Result<(), AppendError> {
        let bytes = batch.build().map_err(|e| AppendError::Io {
            dir: self.partition.dir().to_owned(),
            source: std::io::Error::other(e),
        })?;
        let appended = self.partition.append(&bytes)?;
        let run = Run { first: appended.base_offset, last: appended.last_offset };
        self.index.write().entry(name.to_owned()).or_default().push_back(run);
        Ok(())
    }

    /// Up to `limit` of `name`'s lines with `seq` above `after`, oldest first.
    pub fn read(
        &self,
        name: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, ProcessorError> {
        self.prune();
        // seq > after <=> offset >= after: the runs from the first that ends there,
        // until they hold `limit` lines.
        let runs: Vec<Run> = {
            let index = self.index.read();
            let Some(runs) = index.get(name) else { return Ok(Vec::new()) };
            let start = runs.partition_point(|r| r.last < after);
            let mut lines = 0;
            let wanted = runs.range(start..).take_while(|r| {
                let more = lines < limit;
                lines += (r.last - r.first + 1) as usize;
                more
            });
            wanted.copied().collect()
        };
        let mut entries = Vec::new();
        for run in runs {
            // One batch: the run's, from its first line after `after`.
            let from = run.first.max(after);
            let count = (run.last + 1).saturating_sub(from) as usize;
            let walk = Reader::new(&self.partition, LOGS_TOPIC, 0, from).max_bytes(1);
            for r in walk.max_records(count).records() {
                let r = match r {
                    Ok(r) => r,
                    // Retention deleted it since the index was pruned.
                    Err(ReadError::OffsetOutOfRange { .. }) => break,
                    Err(ReadError::Io { dir, source }) => {
                        return Err(ProcessorError::Io { path: dir, source });
                    }
                };
                let offset = r.offset as u64;
                let Some(value) = r.value else { continue };
                match serde_json::from_slice::<LogEntry>(&value) {
                    Ok(entry) => entries.push(LogEntry { seq: offset + 1, ..entry }),
                    Err(e) => {
                        warn!(topic = LOGS_TOPIC, offset, error = %e, "skipping a processor log line")
                    }
                }
            }
        }
        entries.truncate(limit);
        Ok(entries)
    }

    /// Forgets batches retention deleted.
    pub fn prune(&self) {
        let start = self.partition.log_start_offset();
        let stale = |runs: &VecDeque<Run>| runs.front().is_some_and(|r| r.last < start);
        if !self.index.read().values().any(stale) {
            return;
        }
        let mut index = self.index.write();
        for runs in index.values_mut() {
            while runs.front().is_some_and(|r| r.last < start) {
                runs.pop_front();
            }
        }
        index.retain(|_, runs| !runs.is_empty());
    }
}

/// Lines on their way to one append.
struct Batch {
    /// The records so far.
    builder: BatchBuilder,
    /// How many.
    lines: usize,
    /// Roughly how many bytes.
    bytes: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Batch { builder: BatchBuilder::new(0, Compression::None), lines: 0, bytes: 0 }
    }
}

impl Batch {
    /// Adds one line: key the processor, value the stored line.
    fn push(
        &mut self,
        name: &str,
        partition: Option<u32>,
        timestamp_ms: i64,
        level: LogLevel,
        message: &str,
    ) {
        let line = StoredLine { partition, timestamp_ms, level, message };
        // A struct of plain fields always serializes.
        let value = serde_json::to_vec(&line).unwrap_or_default();
        self.builder.push(timestamp_ms, Some(name.as_bytes()), Some(&value), &[]);
        self.lines += 1;
        self.bytes += name.len() + value.len() + 24;
    }
}

/// Reads the whole topic with the log reader and lists each processor's batches
/// (a batch holds one processor's lines, keyed by its name). Batches without a
/// name are skipped; a damaged batch ends the index, as the reader's rule says.
fn replay(partition: &Partition) -> Result<HashMap<String, VecDeque<Run>>, ProcessorError> {
    let mut index: HashMap<String, VecDeque<Run>> = HashMap::new();
    for batch in Reader::from_log_start(partition, LOGS_TOPIC, 0).batches() {
        let batch = batch.map_err(|e| match e {
            ReadError::Io { dir, source } => ProcessorError::Io { path: dir, source },
            e => ProcessorError::Io { path: partition.dir().into(), source: io::Error::other(e) },
        })?;
        if batch.is_control() {
            continue;
        }
        let run = Run { first: batch.base_offset(), last: batch.last_offset() };
        let key = batch.records().ok().and_then(|r| r.into_iter().next()?.key);
        match key.as_deref().map(std::str::from_utf8) {
            Some(Ok(name)) => index.entry(name.to_owned()).or_default().push_back(run),
            _ => warn!(
                topic = LOGS_TOPIC,
                offset = run.first,
                "skipping a batch without a processor name"
            ),
        }
    }
    Ok(index)
}

/// The line a runtime `LogLine` becomes, for tests.
#[cfg(test)]
fn entry(seq: u64, line: &weir_runtime::LogLine) -> LogEntry {
    let level = serde_json::to_value(line.level).unwrap().as_str().unwrap().to_owned();
    LogEntry {
        seq,
        partition: line.partition,
        timestamp_ms: line.timestamp_ms,
        level,
        message: line.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_lines_read_back_in_the_runtime_shape_with_a_seq() {
        let line = weir_runtime::LogLine {
            seq: 9,
            partition: Some(2),
            timestamp_ms: 1_700_000_000_000,
            level: LogLevel::Warn,
            message: "careful".into(),
        };
        let stored = serde_json::to_value(StoredLine {
            partition: line.partition,
            timestamp_ms: line.timestamp_ms,
            level: line.level,
            message: &line.message,
        })
        .unwrap();
        let read: LogEntry = serde_json::from_value(stored).unwrap();
        assert_eq!(LogEntry { seq: 5, ..read.clone() }, entry(5, &line));
        let runtime = serde_json::to_value(&line).unwrap();
        let served = serde_json::to_value(LogEntry { seq: 9, ..read }).unwrap();
        assert_eq!(runtime, served, "the API keeps the runtime's JSON shape");
    }
}
