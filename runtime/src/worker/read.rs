//! Reading a batch: each input's records are read ahead from its next offset;
//! with one input the batch is what was read, with several the inputs are
//! merged oldest timestamp first, as Kafka Streams does for a task's
//! partitions.
//!
//! The merge stops as soon as an input that may have more records runs out of
//! records read ahead: its next ones could be older than the other inputs'
//! heads. An input with nothing to read (caught up) does not hold the others
//! back; its later records are as late as their timestamps make them, which
//! the deployment's `allowed_lateness_ms` absorbs for event-time timers.

use std::collections::VecDeque;

use super::{MAX_BATCH_BYTES, Worker};
use crate::logs::LogLevel;
use crate::store::{InputRecord, StoreError};

/// What a read came to.
pub(super) enum Read {
    /// Records to process, in order.
    Batch(Vec<InputRecord>),
    /// Nothing to read in any input.
    Idle,
    /// A read failed (the worker is retrying) or skipped past retention: try again.
    Again,
}

impl Worker {
    /// The next batch: at most `max_batch_records` records.
    pub(super) fn read_batch(&mut self) -> Read {
        let max = self.manifest.limits.max_batch_records as usize;
        let inputs = self.manifest.inputs.len();
        let mut at_end = Vec::with_capacity(inputs);
        for i in 0..inputs {
            let mut end = false;
            if self.ahead[i].is_empty() {
                match self.read_input(i, max, MAX_BATCH_BYTES / inputs) {
                    Ok(records) if records.is_empty() => end = true,
                    Ok(records) => self.ahead[i] = records.into(),
                    Err(()) => return Read::Again,
                }
            }
            at_end.push(end);
        }
        if self.ahead.iter().all(VecDeque::is_empty) {
            return Read::Idle;
        }
        if inputs == 1 {
            return Read::Batch(Vec::from(std::mem::take(&mut self.ahead[0])));
        }
        Read::Batch(merge(&mut self.ahead, &at_end, max))
    }

    /// Reads input `i` from its next offset; on a failure the worker is told
    /// (retrying, or skipping what retention deleted).
    fn read_input(
        &mut self,
        i: usize,
        max: usize,
        max_bytes: usize,
    ) -> Result<Vec<InputRecord>, ()> {
        let topic = &self.manifest.inputs[i];
        let next = self.next_offsets[i];
        match self.store.read(topic, self.partition, next, max, max_bytes) {
            Ok(mut records) => {
                for r in &mut records {
                    r.input = i as u32;
                }
                Ok(records)
            }
            Err(StoreError::OffsetOutOfRange { log_start, .. }) if next < log_start => {
                let message = format!(
                    "{topic}-{} offsets {next}..{log_start} were deleted by retention before \
                     they were processed; skipping to {log_start}",
                    self.partition
                );
                self.note(LogLevel::Warn, &message);
                self.next_offsets[i] = log_start;
                Err(())
            }
            Err(e) => {
                self.retrying(format!("reading {topic}-{}: {e}", self.partition));
                Err(())
            }
        }
    }
}

/// Takes up to `max` records from the inputs' read-ahead, oldest timestamp
/// first (ties: the input listed first), stopping when an input that is not
/// `at_end` runs out.
fn merge(ahead: &mut [VecDeque<InputRecord>], at_end: &[bool], max: usize) -> Vec<InputRecord> {
    let mut batch = Vec::new();
    while batch.len() < max {
        let next =
            (0..ahead.len()).filter_map(|i| ahead[i].front().map(|r| (r.timestamp, i))).min();
        let Some((_, i)) = next else { break };
        batch.extend(ahead[i].pop_front());
        if ahead[i].is_empty() && !at_end[i] {
            break;
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(input: u32, offset: u64, timestamp: i64) -> InputRecord {
        InputRecord { input, offset, timestamp, key: None, value: None, headers: Vec::new() }
    }

    fn ids(batch: &[InputRecord]) -> Vec<(u32, u64)> {
        batch.iter().map(|r| (r.input, r.offset)).collect()
    }

    #[test]
    fn inputs_merge_by_timestamp_and_stop_where_an_input_may_have_more() {
        let mut ahead = vec![
            VecDeque::from([record(0, 0, 10), record(0, 1, 30), record(0, 2, 50)]),
            VecDeque::from([record(1, 7, 10), record(1, 8, 20)]),
        ];
        // Input 1 runs out after ts 20 and may have more: stop there.
        let batch = merge(&mut ahead, &[false, false], 100);
        assert_eq!(ids(&batch), [(0, 0), (1, 7), (1, 8)]);
        // Once input 1 is known to be at its end, input 0 goes on alone, at
        // most `max` at a time.
        let batch = merge(&mut ahead, &[false, true], 1);
        assert_eq!(ids(&batch), [(0, 1)], "at most max");
        let batch = merge(&mut ahead, &[false, true], 100);
        assert_eq!(ids(&batch), [(0, 2)]);
        assert!(ahead.iter().all(VecDeque::is_empty));
    }
}
