//! What an instance's store holds and the host side of the imports the WIT
//! grants: `inputs` (the deployment's input topics), `emit` (checked against
//! the declared outputs and the batch's caps),
//! `state` (the worker's layered state, less the host's own keys), `timers`
//! (kept in that state, see `timers.rs`) and `log` (capped lines).

use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::weir::processor::{emit, inputs, log, state, timers, types};
use crate::bindings::{self, LogLevel, PackedOutput};
use crate::guest_io::GuestOutput;
use crate::limits::{Limits, MemoryLimiter};
use crate::logs::{LogBuffer, LogLevel as Level};
use crate::packed_output::{Unpacked, Unpacker};
use crate::state::State;
use crate::store::{Header, OutputRecord};
use crate::timers::{self as host_timers, Domain};

/// A declared output topic.
#[derive(Debug, Clone)]
pub struct Output {
    /// The topic's name.
    pub topic: String,
    /// Its partition count when the worker started.
    pub partitions: u32,
    /// The largest batch it takes (max.message.bytes); a record that would not
    /// fit alone is refused when emitted. None: no limit.
    pub max_batch_bytes: Option<usize>,
}

/// A record the guest emitted, with where it goes.
#[derive(Debug, Clone)]
pub struct Emitted {
    /// Index into the declared outputs.
    pub output: usize,
    /// The target partition.
    pub partition: u32,
    /// The record.
    pub record: OutputRecord,
}

/// Everything a call may touch; lives in the wasmtime store.
pub struct Host {
    /// WASI with nothing granted (see limits.rs).
    pub wasi: WasiCtx,
    /// WASI's resources.
    pub table: ResourceTable,
    /// Caps memory and tables.
    pub limiter: MemoryLimiter,
    /// The guest's stdout and stderr, drained after each call.
    pub stdout: GuestOutput,
    /// See `stdout`.
    pub stderr: GuestOutput,
    /// The deployment's limits.
    pub limits: Limits,
    /// The input partition (index) this instance serves.
    pub partition: u32,
    /// The input topics, in the manifest's order (`InputRecord::input` indexes them).
    pub inputs: Arc<[String]>,
    /// Topics it may emit to.
    pub outputs: Arc<[Output]>,
    /// Its keyed state.
    pub state: State,
    /// Records emitted by earlier ok calls of this batch.
    pub batch_emitted: Vec<Emitted>,
    /// Bytes of `batch_emitted`.
    pub batch_emitted_bytes: u64,
    /// Records emitted by the call in progress.
    pub call_emitted: Vec<Emitted>,
    /// Bytes of `call_emitted`.
    pub call_emitted_bytes: u64,
    /// A rule the guest broke during this call (undeclared topic, caps): the call
    /// fails with it even if the guest returns ok.
    pub violation: Option<String>,
    /// The processor's log.
    pub log: Arc<LogBuffer>,
    /// Lines written in this call.
    pub call_log_lines: u32,
    /// Lines dropped in this call for passing the cap.
    pub call_log_dropped: u32,
    /// Wall-clock ms stamped on emitted records that carry no timestamp (set
    /// by the host per batch); also the processing time timers see.
    pub now_ms: i64,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("partition", &self.partition).finish_non_exhaustive()
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl Host {
    /// Starts a call: nothing emitted or logged in it yet.
    pub fn begin_call(&mut self) {
        self.call_emitted.clear();
        self.call_emitted_bytes = 0;
        self.violation = None;
        self.call_log_lines = 0;
        self.call_log_dropped = 0;
    }

    /// The call returned ok: its outputs and state changes join the batch's.
    pub fn keep_call(&mut self) {
        // A batch is usually one call: hand its list over instead of moving
        // every record from one list to the other.
        if self.batch_emitted.is_empty() {
            std::mem::swap(&mut self.batch_emitted, &mut self.call_emitted);
        } else {
            self.batch_emitted.append(&mut self.call_emitted);
        }
        self.batch_emitted_bytes += self.call_emitted_bytes;
        self.call_emitted_bytes = 0;
        self.state.keep_call();
    }

    /// The call failed: its outputs and state changes are dropped.
    pub fn drop_call(&mut self) {
        self.call_emitted.clear();
        self.call_emitted_bytes = 0;
        self.state.drop_call();
    }

    /// The batch is abandoned: every uncommitted output and change is dropped.
    pub fn drop_batch(&mut self) {
        self.drop_call();
        self.batch_emitted.clear();
        self.batch_emitted_bytes = 0;
        self.state.drop_batch();
    }

    /// Writes what the guest printed, and a note of dropped lines, to the log;
    /// returns the stderr text (a panic message lives there).
    pub fn flush_output(&mut self) -> String {
        if self.call_log_dropped > 0 {
            let note = format!(
                "{} log lines dropped: more than limits.max_log_lines_per_call = {} in one call",
                self.call_log_dropped, self.limits.max_log_lines_per_call
            );
            self.log.write(Some(self.partition), Level::Warn, &note);
        }
        let out = self.stdout.drain();
        for line in String::from_utf8_lossy(&out).lines().take(100) {
            self.log.write(Some(self.partition), Level::Info, line);
        }
        let err = String::from_utf8_lossy(&self.stderr.drain()).into_owned();
        for line in err.lines().take(100) {
            self.log.write(Some(self.partition), Level::Warn, line);
        }
        err
    }

    fn reject(&mut self, why: String, error: emit::EmitError) -> Result<(), emit::EmitError> {
        if self.violation.is_none() {
            self.violation = Some(why);
        }
        Err(error)
    }
}

impl types::Host for Host {}

impl inputs::Host for Host {
    fn topics(&mut self) -> Vec<String> {
        self.inputs.to_vec()
    }
}

impl Host {
    /// Checks and buffers one emitted record: the topic must be declared, the
    /// partition must exist, and the batch's output caps must hold.
    pub fn emit(
        &mut self,
        topic: &str,
        partition: Option<u32>,
        record: OutputRecord,
    ) -> Result<(), emit::EmitError> {
        let Some(output) = self.outputs.iter().position(|o| o.topic == topic) else {
            let why = format!(
                "emitted to topic {topic:?}, which is not among its declared outputs {:?}",
                self.outputs.iter().map(|o| o.topic.as_str()).collect::<Vec<_>>()
            );
            return self.reject(why, emit::EmitError::UndeclaredTopic);
        };
        self.emit_to(output, partition, record)
    }

    /// `emit` to the declared output with index `output`.
    pub fn emit_to(
        &mut self,
        output: usize,
        partition: Option<u32>,
        record: OutputRecord,
    ) -> Result<(), emit::EmitError> {
        let Some(declared) = self.outputs.get(output) else {
            let why = format!(
                "emitted to output number {output}, but it declared {}",
                self.outputs.len()
            );
            return self.reject(why, emit::EmitError::UndeclaredTopic);
        };
        let (partitions, max_batch) = (declared.partitions, declared.max_batch_bytes);
        let partition = match partition {
            Some(p) if p >= partitions => {
                let topic = &self.outputs[output].topic;
                let why = format!("emitted to partition {p} of {topic:?}, which has {partitions}");
                return self.reject(why, emit::EmitError::NoSuchPartition);
            }
            Some(p) => p,
            None => match &record.key {
                Some(key) => crate::partitioner::partition_for_key(key, partitions),
                None => self.partition % partitions,
            },
        };
        if let Some(max) = max_batch {
            let encoded = record.alone_in_a_batch();
            if encoded > max {
                let topic = &self.outputs[output].topic;
                let why = format!(
                    "emitted a record of about {encoded} bytes to {topic:?}, whose \
                     max.message.bytes is {max}: emit smaller records, or raise the topic's \
                     max.message.bytes"
                );
                return self.reject(why, emit::EmitError::OutputLimit);
            }
        }
        let size = record.size() as u64;
        let count = self.batch_emitted.len() + self.call_emitted.len() + 1;
        let bytes = self.batch_emitted_bytes + self.call_emitted_bytes + size;
        if count > self.limits.max_outputs_per_batch as usize
            || bytes > self.limits.max_output_bytes_per_batch
        {
            let why = format!(
                "emitted more than its output caps allow in one batch \
                 (limits.max_outputs_per_batch = {}, limits.max_output_bytes_per_batch = {})",
                self.limits.max_outputs_per_batch, self.limits.max_output_bytes_per_batch
            );
            return self.reject(why, emit::EmitError::OutputLimit);
        }
        self.call_emitted_bytes += size;
        self.call_emitted.push(Emitted { output, partition, record });
        Ok(())
    }
}

/// `send` and `send-batch` take records lifted into owned buffers, which become
/// `Bytes` without another copy; `send-packed`, what the Rust SDK uses, copies
/// a whole batch's bytes once and slices them (see `packed_output`).
impl emit::Host for Host {
    fn send(&mut self, record: bindings::OutputRecord) -> Result<(), emit::EmitError> {
        let output = OutputRecord {
            key: record.key.map(Bytes::from),
            value: record.value.map(Bytes::from),
            headers: record
                .headers
                .into_iter()
                .map(|h| Header { key: h.key, value: h.value.map(Bytes::from) })
                .collect(),
            timestamp: record.timestamp.unwrap_or(self.now_ms),
        };
        self.emit(&record.topic, record.partition, output)
    }

    fn outputs(&mut self) -> Vec<emit::OutputTopic> {
        self.outputs
            .iter()
            .map(|o| emit::OutputTopic { name: o.topic.clone(), partitions: o.partitions })
            .collect()
    }

    fn send_batch(
        &mut self,
        records: Vec<bindings::OutputRecord>,
    ) -> Result<(), (u32, emit::EmitError)> {
        for (i, record) in records.into_iter().enumerate() {
            emit::Host::send(self, record).map_err(|e| (i as u32, e))?;
        }
        Ok(())
    }

    fn send_packed(
        &mut self,
        batch: PackedOutput,
    ) -> wasmtime::Result<Result<(), (u32, emit::EmitError)>> {
        let PackedOutput { buffer, records, headers } = batch;
        let unpacker = Unpacker::new(buffer, headers, self.now_ms);
        for (i, entry) in records.iter().enumerate() {
            let Unpacked { output, partition, record } = unpacker.record(i, entry)?;
            if let Err(e) = self.emit_to(output, partition, record) {
                return Ok(Err((i as u32, e)));
            }
        }
        Ok(Ok(()))
    }
}

impl Host {
    /// A guest wrote a key of the host's: the call fails saying so.
    fn host_key(&mut self) {
        if self.violation.is_none() {
            self.violation = Some(
                "wrote a state key starting with 0xff \"weir/\", which is kept for the host's \
                 timers and watermark: use another prefix"
                    .to_owned(),
            );
        }
    }
}

impl state::Host for Host {
    fn get(&mut self, key: Vec<u8>) -> Option<Vec<u8>> {
        if host_timers::is_host_key(&key) {
            return None;
        }
        self.state.get(&key).map(<[u8]>::to_vec)
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), state::StateError> {
        if host_timers::is_host_key(&key) {
            self.host_key();
            return Ok(());
        }
        self.state.put(key, value).map_err(|_| state::StateError::StateLimit)
    }

    fn delete(&mut self, key: Vec<u8>) {
        if host_timers::is_host_key(&key) {
            return self.host_key();
        }
        self.state.delete(key);
    }

    fn scan(
        &mut self,
        prefix: Vec<u8>,
        start_after: Option<Vec<u8>>,
        limit: u32,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        // At most 10,000 entries a call, whatever the guest asks; the host's
        // keys sort last (0xff), so they are cut off the end of a page.
        let mut page = self.state.scan(&prefix, start_after.as_deref(), limit.min(10_000) as usize);
        page.retain(|(k, _)| !host_timers::is_host_key(k));
        page
    }
}

fn domain(d: types::TimeDomain) -> Domain {
    match d {
        types::TimeDomain::EventTime => Domain::Event,
        types::TimeDomain::ProcessingTime => Domain::Processing,
    }
}

impl timers::Host for Host {
    fn set(&mut self, d: types::TimeDomain, key: Vec<u8>, at: i64) {
        if host_timers::set(&mut self.state, domain(d), &key, at).is_err()
            && self.violation.is_none()
        {
            self.violation = Some(format!(
                "setting a timer would pass the state's cap (limits.max_state_bytes = {})",
                self.limits.max_state_bytes
            ));
        }
    }

    fn cancel(&mut self, d: types::TimeDomain, key: Vec<u8>) {
        host_timers::cancel(&mut self.state, domain(d), &key);
    }

    fn watermark(&mut self) -> i64 {
        host_timers::watermark(&self.state)
    }

    fn now(&mut self) -> i64 {
        self.now_ms
    }
}

impl log::Host for Host {
    fn write(&mut self, level: LogLevel, message: String) {
        if self.call_log_lines >= self.limits.max_log_lines_per_call {
            self.call_log_dropped += 1;
            return;
        }
        self.call_log_lines += 1;
        let level = match level {
            LogLevel::Trace => Level::Trace,
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
        };
        self.log.write(Some(self.partition), level, &message);
    }
}
