//! What a running processor reports about itself: per input partition, where it
//! is, how far behind, what it has done and what last went wrong.

use serde::Serialize;

/// The state of one (processor, input partition) worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum WorkerState {
    /// Loading its checkpoint and instantiating the module.
    Starting,
    /// Processing, or waiting for records.
    Running,
    /// A batch failed; retrying after a backoff.
    Retrying(String),
    /// Paused by the operator (no reason) or by the `pause` error policy.
    Paused(Option<String>),
    /// Stopped for good: the processor was deleted, or the worker cannot go on
    /// (for example its input partition is gone).
    Stopped(Option<String>),
}

/// Where a worker is in one of its inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputPosition {
    /// The input topic.
    pub topic: String,
    /// The next offset to process (the committed offset), if known yet.
    pub next_offset: Option<u64>,
    /// The partition's high watermark when last seen.
    pub high_watermark: u64,
    /// Records not yet processed: high watermark minus next offset.
    pub lag: u64,
}

/// Counters and position of one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionStatus {
    /// The input partition (index, with several inputs).
    pub partition: u32,
    /// What the worker is doing.
    pub state: WorkerState,
    /// The next offset to process of the first input (the committed offset),
    /// if known yet; `inputs` has each input's.
    pub next_offset: Option<u64>,
    /// The first input's high watermark when last seen.
    pub high_watermark: u64,
    /// Records not yet processed, over every input.
    pub lag: u64,
    /// Each input's position, in the manifest's order.
    pub inputs: Vec<InputPosition>,
    /// Input records processed (committed).
    pub records_in: u64,
    /// Records emitted to output topics.
    pub records_out: u64,
    /// Batches committed.
    pub batches: u64,
    /// Failed calls (traps, deadline, limits, errors returned by the guest).
    pub errors: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// The last failure, with the offsets it covered.
    pub last_error: Option<String>,
    /// Total time spent in `process` calls, in microseconds.
    pub process_micros: u64,
    /// Duration of the last committed batch (read, process, append, commit), µs.
    pub last_batch_micros: u64,
    /// The instance's linear memory size, in bytes.
    pub memory_bytes: u64,
}

impl PartitionStatus {
    /// Derives each input's lag from its offsets, and the totals from the inputs:
    /// the first input's offsets, the lag over all of them.
    pub fn sum_inputs(&mut self) {
        for input in &mut self.inputs {
            let next = input.next_offset.unwrap_or(0);
            input.high_watermark = input.high_watermark.max(next);
            input.lag = input.high_watermark - next;
        }
        if let Some(first) = self.inputs.first() {
            self.next_offset = first.next_offset;
            self.high_watermark = first.high_watermark;
        }
        self.lag = self.inputs.iter().map(|i| i.lag).sum();
    }

    /// A fresh worker's status.
    pub fn new(partition: u32) -> Self {
        PartitionStatus {
            partition,
            state: WorkerState::Starting,
            next_offset: None,
            high_watermark: 0,
            lag: 0,
            inputs: Vec::new(),
            records_in: 0,
            records_out: 0,
            batches: 0,
            errors: 0,
            dead_lettered: 0,
            last_error: None,
            process_micros: 0,
            last_batch_micros: 0,
            memory_bytes: 0,
        }
    }
}

/// A processor's state as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessorState {
    /// Every worker runs.
    Running,
    /// Paused by the operator.
    Paused,
    /// Some worker is paused by the error policy or stopped with a reason.
    Degraded,
    /// Stopped (deleted or shut down).
    Stopped,
}

/// A processor's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessorStatus {
    /// The processor's name.
    pub name: String,
    /// Its overall state.
    pub state: ProcessorState,
    /// The SHA-256 of the module it runs, hex.
    pub module_digest: String,
    /// How many times its module was swapped since it started.
    pub upgrades: u64,
    /// One entry per input partition.
    pub partitions: Vec<PartitionStatus>,
}

impl ProcessorStatus {
    /// Sum of lag over partitions.
    pub fn lag(&self) -> u64 {
        self.partitions.iter().map(|p| p.lag).sum()
    }
}
