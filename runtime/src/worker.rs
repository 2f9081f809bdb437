//! One worker per (processor, input partition index): read from the committed
//! offsets (several inputs merged by timestamp, `read.rs`), call `process` with
//! a batch, append the outputs, commit the state changes with the next offsets,
//! repeat. Failures are retried with backoff, then the batch is split to find
//! the poison records, which go to the dead-letter topic or pause the worker, by
//! policy. Timers fire after each batch and while idle (`fire.rs`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::engine::Module;
use crate::host::{Host, Output};
use crate::instance::{CallError, Instance, new_host};
use crate::logs::{LogBuffer, LogLevel, now_ms};
use crate::manifest::{ErrorPolicy, Manifest, StartPosition};
use crate::processor::Control;
use crate::state::State;
use crate::status::{InputPosition, PartitionStatus, WorkerState};
use crate::store::{Commit, Header, InputRecord, LogStore, OutputRecord, StoreError};

mod fire;
mod read;

/// Attempts of a whole batch before it is split.
const ATTEMPTS: u32 = 3;
/// The first retry's backoff; it doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest backoff between attempts (also for store and init failures).
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long an idle worker waits for new records before checking its controls.
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// Most bytes read for one batch.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// Why a worker's loop ends early.
enum Interrupt {
    /// The processor is stopping.
    Stop,
    /// The `pause` policy stopped before this record (input index, offset), or
    /// with no record to blame (`None`: timers), for this reason.
    PausedAt(Option<(u32, u64)>, String),
}

/// The instance or, between instances, the host state it would get.
enum Slot {
    Live(Box<Instance>),
    Dead(Box<Host>),
    Empty,
}

pub(crate) struct Worker {
    partition: u32,
    control: Arc<Control>,
    store: Arc<dyn LogStore>,
    log: Arc<LogBuffer>,
    status: Arc<Mutex<PartitionStatus>>,
    /// The module and manifest in use, and the control generation they came from.
    module: Option<Module>,
    manifest: Arc<Manifest>,
    generation: u64,
    slot: Slot,
    /// Paused by the error policy, with the reason.
    policy_pause: Option<String>,
    /// The next offset to process of each input (what is committed).
    next_offsets: Vec<u64>,
    /// Records read of each input from its next offset on, not yet processed.
    ahead: Vec<VecDeque<InputRecord>>,
}

impl Worker {
    pub fn new(
        partition: u32,
        control: Arc<Control>,
        store: Arc<dyn LogStore>,
        log: Arc<LogBuffer>,
        status: Arc<Mutex<PartitionStatus>>,
    ) -> Self {
        let manifest = Arc::clone(&control.wanted.lock().manifest);
        Worker {
            partition,
            control,
            store,
            log,
            status,
            module: None,
            manifest,
            generation: u64::MAX,
            slot: Slot::Empty,
            policy_pause: None,
            next_offsets: Vec::new(),
            ahead: Vec::new(),
        }
    }

    fn set_state(&self, state: WorkerState) {
        self.status.lock().state = state;
    }

    fn note(&self, level: LogLevel, message: &str) {
        self.log.write(Some(self.partition), level, message);
    }

    /// Runs until the processor stops.
    pub fn run(mut self) {
        if self.start().is_err() {
            self.set_state(WorkerState::Stopped(None));
            return;
        }
        let mut backoff = FIRST_BACKOFF;
        loop {
            if self.apply_controls() {
                break;
            }
            let paused = self.control.wanted.lock().paused || self.policy_pause.is_some();
            if paused {
                let reason = self.policy_pause.clone();
                self.set_state(WorkerState::Paused(reason));
                // The lag keeps growing while paused: operators (and tests) see
                // that records arrived and were held back.
                self.refresh_lag();
                if self.control.sleep(IDLE_WAIT) {
                    break;
                }
                continue;
            }
            match self.step() {
                Ok(()) => backoff = FIRST_BACKOFF,
                Err(Interrupt::Stop) => break,
                Err(Interrupt::PausedAt(at, reason)) => {
                    let reason = match at {
                        Some((input, offset)) => format!(
                            "paused at {}-{} offset {offset}: {reason}",
                            self.input_topic(input),
                            self.partition
                        ),
                        None => format!("paused: {reason}"),
                    };
                    self.note(LogLevel::Error, &reason);
                    self.policy_pause = Some(reason);
                    self.ahead.iter_mut().for_each(VecDeque::clear);
                }
            }
            if matches!(self.status.lock().state, WorkerState::Retrying(_)) {
                if self.control.sleep(backoff) {
                    break;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        self.slot = Slot::Empty;
        self.set_state(WorkerState::Stopped(None));
    }

    /// Loads the checkpoint and resolves the start offset, retrying store errors.
    fn start(&mut self) -> Result<(), Interrupt> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.try_start() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let message = format!("starting failed: {e}; retrying");
                    self.note(LogLevel::Error, &message);
                    self.set_state(WorkerState::Retrying(message));
                    if self.control.sleep(backoff) {
                        return Err(Interrupt::Stop);
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn try_start(&mut self) -> Result<(), StoreError> {
        let name = self.manifest.name.clone();
        let checkpoint = self.store.load_checkpoint(&name, self.partition)?;
        let mut next_offsets = Vec::new();
        for (i, input) in self.manifest.inputs.iter().enumerate() {
            let bounds = self.store.bounds(input, self.partition)?;
            let next = match checkpoint.next_offsets.get(i).copied().flatten() {
                Some(offset) => offset,
                None => match self.manifest.start {
                    StartPosition::Earliest => bounds.log_start,
                    StartPosition::Latest => bounds.high_watermark,
                    StartPosition::Offset(o) => o.clamp(bounds.log_start, bounds.high_watermark),
                    StartPosition::Timestamp(t) => self
                        .store
                        .offset_for_timestamp(input, self.partition, t)?
                        .unwrap_or(bounds.high_watermark),
                },
            };
            next_offsets.push(next);
        }
        self.ahead = vec![VecDeque::new(); next_offsets.len()];
        self.next_offsets = next_offsets;
        let outputs = self.outputs()?;
        let state = State::new(checkpoint.state, self.manifest.limits.max_state_bytes);
        let inputs: Arc<[String]> = self.manifest.inputs.iter().cloned().collect();
        let host = new_host(
            self.manifest.limits,
            self.partition,
            inputs,
            outputs,
            state,
            Arc::clone(&self.log),
        );
        self.slot = Slot::Dead(Box::new(host));
        self.status.lock().inputs = self
            .manifest
            .inputs
            .iter()
            .zip(&self.next_offsets)
            .map(|(topic, next)| InputPosition {
                topic: topic.clone(),
                next_offset: Some(*next),
                high_watermark: *next,
                lag: 0,
            })
            .collect();
        self.refresh_lag();
        self.set_state(WorkerState::Running);
        Ok(())
    }

    /// The name of input `input`.
    fn input_topic(&self, input: u32) -> &str {
        self.manifest.inputs.get(input as usize).map_or("?", String::as_str)
    }

    fn outputs(&self) -> Result<Arc<[Output]>, StoreError> {
        let mut outputs = Vec::new();
        for topic in self.manifest.outputs.iter().chain([&self.manifest.dead_letter_topic()]) {
            let partitions = match self.store.partitions(topic) {
                Ok(p) => p,
                // The dead-letter topic may be made on first use.
                Err(_) if *topic == self.manifest.dead_letter_topic() => 1,
                Err(e) => return Err(e),
            };
            let max_batch_bytes = match self.store.max_batch_bytes(topic) {
                Ok(max) => max,
                Err(_) if *topic == self.manifest.dead_letter_topic() => None,
                Err(e) => return Err(e),
            };
            outputs.push(Output { topic: topic.clone(), partitions, max_batch_bytes });
        }
        // The dead-letter topic is last and not the guest's to emit to.
        outputs.pop();
        Ok(outputs.into())
    }

    /// Takes in an upgrade or resume; true if the worker should stop.
    fn apply_controls(&mut self) -> bool {
        let wanted = self.control.wanted.lock();
        if wanted.stop {
            return true;
        }
        if wanted.generation == self.generation {
            return false;
        }
        let changed_module =
            self.module.as_ref().is_none_or(|m| m.digest() != wanted.module.digest());
        let changed_manifest = *wanted.manifest != *self.manifest;
        self.generation = wanted.generation;
        self.module = Some(wanted.module.clone());
        self.manifest = Arc::clone(&wanted.manifest);
        drop(wanted);
        if self.policy_pause.take().is_some() {
            self.note(LogLevel::Info, "retrying after resume or upgrade");
        }
        if changed_module || changed_manifest {
            // The next batch instantiates the new module; state is kept.
            let mut host = match std::mem::replace(&mut self.slot, Slot::Empty) {
                Slot::Live(instance) => instance.into_host(),
                Slot::Dead(host) => *host,
                Slot::Empty => return false,
            };
            host.limits = self.manifest.limits;
            match self.outputs() {
                Ok(outputs) => host.outputs = outputs,
                Err(e) => self.note(LogLevel::Error, &format!("output topics: {e}")),
            }
            self.slot = Slot::Dead(Box::new(host));
        }
        false
    }

    /// Reads one batch and processes it.
    fn step(&mut self) -> Result<(), Interrupt> {
        match self.read_batch() {
            read::Read::Batch(records) => self.process_batch(records),
            read::Read::Idle => self.idle(),
            read::Read::Again => Ok(()),
        }
    }

    /// Nothing to read: fires the processing-time timers that are due, then
    /// waits for records until the next one is.
    fn idle(&mut self) -> Result<(), Interrupt> {
        if self.refresh_lag() {
            self.set_state(WorkerState::Running);
        }
        if !matches!(self.slot, Slot::Empty) {
            self.read_clock();
            self.fire_timers()?;
        }
        let wait = self.until_next_timer().map_or(IDLE_WAIT, |due| due.min(IDLE_WAIT));
        let positions: Vec<(&str, u32, u64)> = self
            .manifest
            .inputs
            .iter()
            .zip(&self.next_offsets)
            .map(|(topic, next)| (topic.as_str(), self.partition, *next))
            .collect();
        self.store.wait_any(&positions, wait);
        Ok(())
    }

    /// Updates the status's high watermarks and lag from the inputs' bounds;
    /// false if the store could not tell them.
    fn refresh_lag(&self) -> bool {
        let mut bounds = Vec::new();
        for input in &self.manifest.inputs {
            match self.store.bounds(input, self.partition) {
                Ok(b) => bounds.push(b.high_watermark),
                Err(_) => return false,
            }
        }
        let mut status = self.status.lock();
        for (position, high_watermark) in status.inputs.iter_mut().zip(bounds) {
            position.high_watermark = high_watermark;
        }
        status.sum_inputs();
        true
    }

    fn retrying(&self, message: String) {
        self.note(LogLevel::Error, &message);
        let mut status = self.status.lock();
        status.last_error = Some(message.clone());
        status.state = WorkerState::Retrying(message);
    }

    fn process_batch(&mut self, records: Vec<InputRecord>) -> Result<(), Interrupt> {
        let started = Instant::now();
        let _span = tracing::debug_span!(
            "batch",
            processor = %self.manifest.name,
            partition = self.partition,
            records = records.len()
        )
        .entered();
        self.read_clock();
        let mut dead = Vec::new();
        let mut backoff = FIRST_BACKOFF;
        let mut settled = false;
        for attempt in 1..=ATTEMPTS {
            match self.call(&records) {
                Ok(()) => {
                    settled = true;
                    break;
                }
                Err(e) if attempt < ATTEMPTS => {
                    self.failed(&records, &e);
                    self.host().drop_batch();
                    self.set_state(WorkerState::Retrying(e.message().to_string()));
                    if self.control.sleep(backoff) {
                        return Err(Interrupt::Stop);
                    }
                    backoff *= 2;
                }
                Err(e) => {
                    self.failed(&records, &e);
                    self.host().drop_batch();
                }
            }
        }
        let mut paused = None;
        if !settled {
            if records.len() > 1 {
                self.note(
                    LogLevel::Warn,
                    &format!(
                        "{} failed {ATTEMPTS} times; splitting the batch to find the failing \
                         records",
                        self.describe(&records)
                    ),
                );
            }
            match self.settle(&records, &mut dead) {
                Ok(()) => {}
                Err(Interrupt::Stop) => return Err(Interrupt::Stop),
                Err(Interrupt::PausedAt(at, reason)) => paused = Some((at, reason)),
            }
        }
        // The records consumed: all of them, or those before the one that paused.
        let taken = match &paused {
            Some((Some((input, offset)), _)) => records
                .iter()
                .position(|r| r.input == *input && r.offset == *offset)
                .unwrap_or(records.len()),
            _ => records.len(),
        };
        let process_micros = started.elapsed().as_micros() as u64;
        self.advance_watermark(&records[..taken]);
        match self.commit(&records[..taken], dead) {
            Ok(()) => {}
            Err(e) if e.is_permanent() => {
                self.host().drop_batch();
                self.ahead.iter_mut().for_each(VecDeque::clear);
                let reason = format!("its outputs cannot be written: {e}");
                return self.refuse_batch(&records[..taken], reason);
            }
            Err(e) => {
                self.host().drop_batch();
                self.ahead.iter_mut().for_each(VecDeque::clear);
                let what = self.describe(&records[..taken]);
                self.retrying(format!("committing {what} failed: {e}"));
                return Ok(());
            }
        }
        let mut status = self.status.lock();
        status.process_micros += process_micros;
        status.last_batch_micros = started.elapsed().as_micros() as u64;
        if !matches!(status.state, WorkerState::Running) {
            status.state = WorkerState::Running;
        }
        drop(status);
        match paused {
            Some((at, reason)) => Err(Interrupt::PausedAt(at, reason)),
            None => self.fire_timers(),
        }
    }

    /// Reads the host's clock once for a batch (or an idle round of timers):
    /// the processing time the guest sees and processing-time timers follow,
    /// which never goes back (`timers::processing_time`).
    fn read_clock(&mut self) {
        let host = self.host();
        host.now_ms = crate::timers::processing_time(&host.state, now_ms());
    }

    /// Records the batch's processing time in its commit (past the state cap it
    /// stays as it was).
    pub(super) fn record_clock(&mut self) {
        let host = self.host();
        let now = host.now_ms;
        let _ = crate::timers::record_processing_time(&mut host.state, now);
        host.state.keep_call();
    }

    /// Moves each input's newest timestamp, and so the watermark, with the
    /// records consumed, in the same commit, with the batch's processing time.
    fn advance_watermark(&mut self, consumed: &[InputRecord]) {
        self.record_clock();
        if consumed.is_empty() {
            return;
        }
        let mut newest: BTreeMap<u32, i64> = BTreeMap::new();
        for r in consumed {
            let t = newest.entry(r.input).or_insert(r.timestamp);
            *t = (*t).max(r.timestamp);
        }
        let (inputs, lateness) =
            (self.manifest.inputs.len() as u32, self.manifest.allowed_lateness_ms);
        let state = &mut self.host().state;
        // Past the state cap the watermark stays where it is; timers still fire
        // by processing time.
        for (input, t) in newest {
            let _ = crate::timers::advance_input_time(state, input, t);
        }
        let _ = crate::timers::refresh_watermark(state, inputs, lateness);
        state.keep_call();
    }

    /// The offsets a run of records covers, for messages: `offsets 4..=9` with
    /// one input, `orders offsets 4..=9, customers offsets 1..=2` with more.
    fn describe(&self, records: &[InputRecord]) -> String {
        let mut spans: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for r in records {
            let span = spans.entry(r.input).or_insert((r.offset, r.offset));
            span.0 = span.0.min(r.offset);
            span.1 = span.1.max(r.offset);
        }
        let several = self.manifest.inputs.len() > 1;
        let parts: Vec<String> = spans
            .into_iter()
            .map(|(input, (first, last))| match several {
                true => format!("{} offsets {first}..={last}", self.input_topic(input)),
                false => format!("offsets {first}..={last}"),
            })
            .collect();
        match parts.is_empty() {
            true => "no records".to_string(),
            false => parts.join(", "),
        }
    }

    /// A batch processed, but whose outputs the store refuses for good (a record
    /// over a topic's size limit that got past the emit checks): retrying would
    /// fail forever, so its records go through the error policy together,
    /// without their outputs or state changes.
    fn refuse_batch(&mut self, records: &[InputRecord], reason: String) -> Result<(), Interrupt> {
        let what = self.describe(records);
        let status_reason = format!("{what}: {reason}");
        self.note(LogLevel::Error, &status_reason);
        {
            let mut status = self.status.lock();
            status.errors += 1;
            status.last_error = Some(status_reason);
        }
        match (self.manifest.on_error, records.first()) {
            (_, None) => Ok(()),
            (ErrorPolicy::Pause, Some(first)) => {
                Err(Interrupt::PausedAt(Some((first.input, first.offset)), reason))
            }
            (ErrorPolicy::DeadLetter, Some(_)) => {
                let dead = records.iter().map(|r| (r.clone(), reason.clone())).collect();
                if let Err(e) = self.commit(records, dead) {
                    self.host().drop_batch();
                    self.retrying(format!("dead-lettering {what} failed: {e}"));
                }
                Ok(())
            }
        }
    }

    /// Processes `batch` piece by piece after whole-batch attempts failed: a
    /// piece that fails is split in two (or at the offset the guest blamed)
    /// until single records fail, which are dead-lettered or pause the worker.
    fn settle(
        &mut self,
        batch: &[InputRecord],
        dead: &mut Vec<(InputRecord, String)>,
    ) -> Result<(), Interrupt> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.control.stopping() {
            return Err(Interrupt::Stop);
        }
        let error = match self.call(batch) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if batch.len() > 1 {
            self.failed(batch, &error);
        }
        if batch.len() == 1 {
            return self.poison(&batch[0], error, dead);
        }
        // The guest names an offset, not an input: with several inputs it
        // counts only if no other record of the piece has that offset.
        let blamed = match &error {
            CallError::Failed { offset: Some(o), .. } => {
                let mut matching = batch.iter().enumerate().filter(|(_, r)| r.offset == *o);
                match (matching.next(), matching.next()) {
                    (Some((i, _)), None) => Some(i),
                    _ => None,
                }
            }
            _ => None,
        };
        match blamed {
            Some(i) => {
                self.settle(&batch[..i], dead)?;
                self.poison(&batch[i], error, dead)?;
                self.settle(&batch[i + 1..], dead)
            }
            None => {
                let mid = batch.len() / 2;
                self.settle(&batch[..mid], dead)?;
                self.settle(&batch[mid..], dead)
            }
        }
    }

    /// A record that fails on its own.
    fn poison(
        &mut self,
        record: &InputRecord,
        error: CallError,
        dead: &mut Vec<(InputRecord, String)>,
    ) -> Result<(), Interrupt> {
        let message = error.message().to_string();
        match self.manifest.on_error {
            ErrorPolicy::DeadLetter => {
                let at = match self.manifest.inputs.len() {
                    1 => format!("offset {}", record.offset),
                    _ => format!("{} offset {}", self.input_topic(record.input), record.offset),
                };
                self.note(
                    LogLevel::Error,
                    &format!(
                        "{at} failed: {message}; sent to {}",
                        self.manifest.dead_letter_topic()
                    ),
                );
                dead.push((record.clone(), message));
                Ok(())
            }
            ErrorPolicy::Pause => {
                Err(Interrupt::PausedAt(Some((record.input, record.offset)), message))
            }
        }
    }

    /// Counts a failed call and keeps its message for status.
    fn failed(&self, batch: &[InputRecord], error: &CallError) {
        let message = format!("{}: {}", self.describe(batch), error.message());
        self.note(LogLevel::Warn, &message);
        let mut status = self.status.lock();
        status.errors += 1;
        status.last_error = Some(message);
    }

    fn host(&mut self) -> &mut Host {
        match &mut self.slot {
            Slot::Live(instance) => instance.host(),
            Slot::Dead(host) => host,
            Slot::Empty => unreachable!("the slot is only empty while it is being replaced"),
        }
    }

    /// One call of `process`, instantiating first if needed; a trap ends the instance.
    fn call(&mut self, batch: &[InputRecord]) -> Result<(), CallError> {
        if let Slot::Dead(_) = self.slot {
            self.instantiate()?;
        }
        let Slot::Live(instance) = &mut self.slot else { unreachable!() };
        let started = Instant::now();
        let result = instance.process(batch);
        let memory = instance.memory_bytes();
        {
            let mut status = self.status.lock();
            status.memory_bytes = memory;
            status.process_micros += started.elapsed().as_micros() as u64;
        }
        if let Err(CallError::Trap(_)) = &result {
            let Slot::Live(instance) = std::mem::replace(&mut self.slot, Slot::Empty) else {
                unreachable!()
            };
            self.slot = Slot::Dead(Box::new(instance.into_host()));
        }
        result
    }

    /// Makes a live instance of the dead slot's host state.
    fn instantiate(&mut self) -> Result<(), CallError> {
        let Slot::Dead(host) = std::mem::replace(&mut self.slot, Slot::Empty) else {
            unreachable!("only a dead slot is instantiated")
        };
        let module = self.module.clone().expect("a module is set before the first batch");
        let config: Vec<(String, String)> =
            self.manifest.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        match Instance::new(&module, *host, &config) {
            Ok(instance) => {
                self.slot = Slot::Live(Box::new(instance));
                Ok(())
            }
            Err(failed) => {
                let (error, host) = *failed;
                self.slot = Slot::Dead(Box::new(host));
                Err(error)
            }
        }
    }

    /// Appends the batch's outputs and dead letters, then commits its state
    /// changes with the next offsets past `consumed`.
    fn commit(
        &mut self,
        consumed: &[InputRecord],
        dead: Vec<(InputRecord, String)>,
    ) -> Result<(), StoreError> {
        let mut next = self.next_offsets.clone();
        for r in consumed {
            next[r.input as usize] = r.offset + 1;
        }
        let manifest = Arc::clone(&self.manifest);
        let partition = self.partition;
        let host = self.host();
        let emitted = std::mem::take(&mut host.batch_emitted);
        host.batch_emitted_bytes = 0;
        let changes = host.state.take_batch();
        let outputs = Arc::clone(&host.outputs);
        let now = host.now_ms;
        let out_count = emitted.len() as u64;
        // Group by (output, partition), keeping each group's order.
        let mut groups: BTreeMap<(usize, u32), Vec<OutputRecord>> = BTreeMap::new();
        for e in emitted {
            groups.entry((e.output, e.partition)).or_default().push(e.record);
        }
        for ((output, p), records) in groups {
            self.store.append(&outputs[output].topic, p, records)?;
        }
        let dead_count = dead.len() as u64;
        if !dead.is_empty() {
            let topic = manifest.dead_letter_topic();
            let partitions = self.store.partitions(&topic)?.max(1);
            let letters =
                dead.into_iter().map(|(r, why)| dead_letter(r, &why, &manifest, partition, now));
            self.store.append(&topic, partition % partitions, letters.collect())?;
        }
        let processed = consumed.len() as u64;
        let commit = Commit { next_offsets: next, state: changes };
        self.store.commit(&manifest.name, partition, &commit)?;
        self.host().state.committed(commit.state);
        self.next_offsets = commit.next_offsets;
        let mut status = self.status.lock();
        for (position, next) in status.inputs.iter_mut().zip(&self.next_offsets) {
            position.next_offset = Some(*next);
        }
        status.sum_inputs();
        status.records_in += processed;
        status.records_out += out_count;
        status.dead_lettered += dead_count;
        status.batches += 1;
        Ok(())
    }
}

/// The record a poison input becomes in the dead-letter topic: the original
/// key, value and headers, plus headers naming the error and where it came from.
fn dead_letter(
    record: InputRecord,
    error: &str,
    manifest: &Manifest,
    partition: u32,
    now: i64,
) -> OutputRecord {
    let mut headers = record.headers;
    let mut add = |key: &str, value: String| {
        headers.push(Header { key: key.to_string(), value: Some(Bytes::from(value)) })
    };
    add("weir.error", error.to_string());
    add("weir.processor", manifest.name.clone());
    let topic = manifest.inputs.get(record.input as usize).cloned().unwrap_or_default();
    add("weir.source.topic", topic);
    add("weir.source.partition", partition.to_string());
    add("weir.source.offset", record.offset.to_string());
    add("weir.source.timestamp", record.timestamp.to_string());
    OutputRecord { key: record.key, value: record.value, headers, timestamp: now }
}
