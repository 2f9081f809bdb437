//! One worker per (processor, input partition): read from the committed offset,
//! call `process` with a batch, append the outputs, commit the state changes
//! with the next offset, repeat. Failures are retried with backoff, then the
//! batch is split to find the poison records, which go to the dead-letter topic
//! or pause the worker, by policy. Timers fire after each batch and while idle
//! (`fire.rs`).

use std::collections::BTreeMap;
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
use crate::status::{PartitionStatus, WorkerState};
use crate::store::{Commit, Header, InputRecord, LogStore, OutputRecord, StoreError};

mod fire;

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
    /// The `pause` policy stopped at this offset, for this reason.
    PausedAt(u64, String),
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
    /// The next input offset to process.
    next_offset: u64,
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
            next_offset: 0,
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
                Err(Interrupt::PausedAt(offset, reason)) => {
                    let reason = format!("paused at offset {offset}: {reason}");
                    self.note(LogLevel::Error, &reason);
                    self.policy_pause = Some(reason);
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
        let input = &self.manifest.input;
        let bounds = self.store.bounds(input, self.partition)?;
        self.next_offset = match checkpoint.next_offset {
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
        let outputs = self.outputs()?;
        let state = State::new(checkpoint.state, self.manifest.limits.max_state_bytes);
        let host =
            new_host(self.manifest.limits, self.partition, outputs, state, Arc::clone(&self.log));
        self.slot = Slot::Dead(Box::new(host));
        let mut status = self.status.lock();
        status.next_offset = Some(self.next_offset);
        status.high_watermark = bounds.high_watermark;
        status.lag = bounds.high_watermark.saturating_sub(self.next_offset);
        status.state = WorkerState::Running;
        Ok(())
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
        let input = self.manifest.input.clone();
        let max = self.manifest.limits.max_batch_records as usize;
        let records =
            match self.store.read(&input, self.partition, self.next_offset, max, MAX_BATCH_BYTES) {
                Ok(records) => records,
                Err(StoreError::OffsetOutOfRange { log_start, .. })
                    if self.next_offset < log_start =>
                {
                    self.note(
                        LogLevel::Warn,
                        &format!(
                            "offsets {}..{log_start} were deleted by retention before they \
                             were processed; skipping to {log_start}",
                            self.next_offset
                        ),
                    );
                    self.next_offset = log_start;
                    return Ok(());
                }
                Err(e) => {
                    self.retrying(format!("reading {input}-{}: {e}", self.partition));
                    return Ok(());
                }
            };
        if records.is_empty() {
            return self.idle(&input);
        }
        self.process_batch(records)
    }

    /// Nothing to read: fires the processing-time timers that are due, then
    /// waits for records until the next one is.
    fn idle(&mut self, input: &str) -> Result<(), Interrupt> {
        if self.refresh_lag() {
            self.set_state(WorkerState::Running);
        }
        if !matches!(self.slot, Slot::Empty) {
            self.host().now_ms = now_ms();
            self.fire_timers()?;
        }
        let wait = self.until_next_timer().map_or(IDLE_WAIT, |due| due.min(IDLE_WAIT));
        self.store.wait(input, self.partition, self.next_offset, wait);
        Ok(())
    }

    /// Updates the status's high watermark and lag from the input's bounds; false
    /// if the store could not tell them.
    fn refresh_lag(&self) -> bool {
        let Ok(bounds) = self.store.bounds(&self.manifest.input, self.partition) else {
            return false;
        };
        let mut status = self.status.lock();
        status.high_watermark = bounds.high_watermark;
        status.lag = bounds.high_watermark.saturating_sub(self.next_offset);
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
        let end = records.last().map_or(self.next_offset, |r| r.offset + 1);
        let _span = tracing::debug_span!(
            "batch",
            processor = %self.manifest.name,
            partition = self.partition,
            from = self.next_offset,
            to = end,
            records = records.len()
        )
        .entered();
        self.host().now_ms = now_ms();
        let mut dead = Vec::new();
        let mut backoff = FIRST_BACKOFF;
        let mut settled = None;
        for attempt in 1..=ATTEMPTS {
            match self.call(&records) {
                Ok(()) => {
                    settled = Some(end);
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
        if settled.is_none() {
            if records.len() > 1 {
                self.note(
                    LogLevel::Warn,
                    &format!(
                        "offsets {}..{end} failed {ATTEMPTS} times; splitting the batch to find \
                         the failing records",
                        self.next_offset
                    ),
                );
            }
            match self.settle(&records, &mut dead) {
                Ok(()) => {}
                Err(Interrupt::Stop) => return Err(Interrupt::Stop),
                Err(Interrupt::PausedAt(offset, reason)) => paused = Some((offset, reason)),
            }
        }
        let next = paused.as_ref().map_or(end, |(offset, _)| *offset);
        let process_micros = started.elapsed().as_micros() as u64;
        // The watermark moves with the records consumed, in the same commit.
        let newest = records.iter().take_while(|r| r.offset < next).map(|r| r.timestamp).max();
        if let Some(newest) = newest {
            let state = &mut self.host().state;
            // Past the state cap the watermark stays where it is; timers still
            // fire by processing time.
            let _ = crate::timers::advance_watermark(state, newest);
            state.keep_call();
        }
        match self.commit(next, dead, &records) {
            Ok(()) => {}
            Err(e) if e.is_permanent() => {
                self.host().drop_batch();
                let reason = format!("its outputs cannot be written: {e}");
                return self.refuse_batch(&records, next, reason);
            }
            Err(e) => {
                self.host().drop_batch();
                let from = self.next_offset;
                self.retrying(format!("committing offsets {from}..{next} failed: {e}"));
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
            Some((offset, reason)) => Err(Interrupt::PausedAt(offset, reason)),
            None => self.fire_timers(),
        }
    }

    /// A batch processed, but whose outputs the store refuses for good (a record
    /// over a topic's size limit that got past the emit checks): retrying would
    /// fail forever, so its records up to `next` go through the error policy
    /// together, without their outputs or state changes.
    fn refuse_batch(
        &mut self,
        records: &[InputRecord],
        next: u64,
        reason: String,
    ) -> Result<(), Interrupt> {
        let (from, status_reason) =
            (self.next_offset, format!("offsets {}..{next}: {reason}", self.next_offset));
        self.note(LogLevel::Error, &status_reason);
        {
            let mut status = self.status.lock();
            status.errors += 1;
            status.last_error = Some(status_reason);
        }
        match self.manifest.on_error {
            ErrorPolicy::Pause => Err(Interrupt::PausedAt(from, reason)),
            ErrorPolicy::DeadLetter => {
                let dead = records
                    .iter()
                    .take_while(|r| r.offset < next)
                    .map(|r| (r.clone(), reason.clone()))
                    .collect();
                if let Err(e) = self.commit(next, dead, records) {
                    self.host().drop_batch();
                    self.retrying(format!("dead-lettering offsets {from}..{next} failed: {e}"));
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
        let blamed = match &error {
            CallError::Failed { offset: Some(o), .. } => batch.iter().position(|r| r.offset == *o),
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
                self.note(
                    LogLevel::Error,
                    &format!(
                        "offset {} failed: {message}; sent to {}",
                        record.offset,
                        self.manifest.dead_letter_topic()
                    ),
                );
                dead.push((record.clone(), message));
                Ok(())
            }
            ErrorPolicy::Pause => Err(Interrupt::PausedAt(record.offset, message)),
        }
    }

    /// Counts a failed call and keeps its message for status.
    fn failed(&self, batch: &[InputRecord], error: &CallError) {
        let (first, last) = (batch[0].offset, batch[batch.len() - 1].offset);
        let message = format!("offsets {first}..={last}: {}", error.message());
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
    /// changes with `next` as the next offset.
    fn commit(
        &mut self,
        next: u64,
        dead: Vec<(InputRecord, String)>,
        records: &[InputRecord],
    ) -> Result<(), StoreError> {
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
        let processed = records.iter().take_while(|r| r.offset < next).count() as u64;
        let commit = Commit { next_offset: next, state: changes };
        self.store.commit(&manifest.name, partition, &commit)?;
        self.host().state.committed(commit.state);
        self.next_offset = next;
        let mut status = self.status.lock();
        status.next_offset = Some(next);
        status.high_watermark = status.high_watermark.max(next);
        status.lag = status.high_watermark.saturating_sub(next);
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
    add("weir.source.topic", manifest.input.clone());
    add("weir.source.partition", partition.to_string());
    add("weir.source.offset", record.offset.to_string());
    add("weir.source.timestamp", record.timestamp.to_string());
    OutputRecord { key: record.key, value: record.value, headers, timestamp: now }
}
