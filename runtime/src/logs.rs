//! A processor's log: the lines its instances write (through the `log`
//! interface, or to stdout/stderr) and the host's own notes about it (failures,
//! dead letters, upgrades), kept in a bounded ring in memory and mirrored to
//! `tracing`.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

use crate::limits::MAX_LOG_LINE;

/// How many lines a processor's log keeps; older ones are dropped.
pub const LOG_CAPACITY: usize = 10_000;

/// A log line's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Detailed.
    Debug,
    /// Normal operation.
    Info,
    /// Something to look at.
    Warn,
    /// A failure.
    Error,
}

/// One line of a processor's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Position in the processor's log, from 1; increases by one per line.
    pub seq: u64,
    /// The input partition whose worker wrote it; None for the processor as a whole.
    pub partition: Option<u32>,
    /// When it was written, ms since the epoch.
    pub timestamp_ms: i64,
    /// Its level.
    pub level: LogLevel,
    /// The text, at most `MAX_LOG_LINE` bytes.
    pub message: String,
}

/// The ring of a processor's recent lines.
#[derive(Debug)]
pub struct LogBuffer {
    /// The processor's name, for tracing.
    name: String,
    /// The lines and the next sequence number.
    inner: Mutex<(VecDeque<LogLine>, u64)>,
}

impl LogBuffer {
    /// An empty log for processor `name`.
    pub fn new(name: &str) -> Self {
        LogBuffer { name: name.to_string(), inner: Mutex::new((VecDeque::new(), 1)) }
    }

    /// Appends a line, cut to `MAX_LOG_LINE` bytes.
    pub fn write(&self, partition: Option<u32>, level: LogLevel, message: &str) {
        let message = truncate(message);
        let p = partition.map_or(-1, i64::from);
        match level {
            LogLevel::Error => tracing::error!(processor = %self.name, partition = p, "{message}"),
            LogLevel::Warn => tracing::warn!(processor = %self.name, partition = p, "{message}"),
            LogLevel::Info => tracing::info!(processor = %self.name, partition = p, "{message}"),
            LogLevel::Debug => tracing::debug!(processor = %self.name, partition = p, "{message}"),
            LogLevel::Trace => tracing::trace!(processor = %self.name, partition = p, "{message}"),
        }
        let mut inner = self.inner.lock();
        let seq = inner.1;
        inner.1 += 1;
        if inner.0.len() == LOG_CAPACITY {
            inner.0.pop_front();
        }
        inner.0.push_back(LogLine { seq, partition, timestamp_ms: now_ms(), level, message });
    }

    /// Up to `limit` lines with `seq > after`, oldest first.
    pub fn read(&self, after: u64, limit: usize) -> Vec<LogLine> {
        let inner = self.inner.lock();
        let first = inner.0.front().map_or(0, |l| l.seq);
        let skip = after.saturating_add(1).saturating_sub(first) as usize;
        inner.0.iter().skip(skip).take(limit).cloned().collect()
    }
}

/// `message` cut at a char boundary at most `MAX_LOG_LINE` bytes in, marked when cut.
fn truncate(message: &str) -> String {
    if message.len() <= MAX_LOG_LINE {
        return message.to_string();
    }
    let mut end = MAX_LOG_LINE - 3;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// Wall-clock milliseconds since the epoch (the host's clock, never the guest's).
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_after_a_sequence_number_and_drops_the_oldest() {
        let log = LogBuffer::new("p");
        for i in 0..LOG_CAPACITY + 5 {
            log.write(Some(0), LogLevel::Info, &format!("line {i}"));
        }
        let all = log.read(0, usize::MAX);
        assert_eq!(all.len(), LOG_CAPACITY);
        assert_eq!(all[0].seq, 6);
        assert_eq!(all[0].message, "line 5");
        let tail = log.read(LOG_CAPACITY as u64 + 3, 10);
        assert_eq!(
            tail.iter().map(|l| l.seq).collect::<Vec<_>>(),
            [LOG_CAPACITY as u64 + 4, LOG_CAPACITY as u64 + 5]
        );
        assert!(log.read(u64::MAX, 10).is_empty());
    }

    #[test]
    fn cuts_long_lines_at_a_char_boundary() {
        let log = LogBuffer::new("p");
        log.write(None, LogLevel::Warn, &"é".repeat(MAX_LOG_LINE));
        let line = &log.read(0, 1)[0];
        assert!(line.message.len() <= MAX_LOG_LINE);
        assert!(line.message.ends_with("..."));
    }
}
