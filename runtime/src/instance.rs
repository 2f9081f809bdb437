//! One live instance of a processor: its wasmtime store and bindings, and the
//! calls into it, each under the CPU deadline, with the outcome sorted into
//! "the guest said no" and "the instance trapped and must be replaced".

use std::sync::Arc;

use wasmtime::component::{ComponentType, Func, Lower, TypedFunc};
use wasmtime::{Store, Trap};

use crate::bindings::Processor as Bindings;
use crate::bindings::weir::processor::types::{ProcessError, TimeDomain};
use crate::engine::Module;
use crate::guest_io::GuestOutput;
use crate::host::{Host, Output};
use crate::limits::{self, Limits, MemoryLimiter};
use crate::logs::LogBuffer;
use crate::state::State;
use crate::store::InputRecord;
use crate::timers::{Domain, Timer};

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The guest returned an error, or broke a rule the host checks (an
    /// undeclared topic, an output cap); the instance is still usable.
    Failed {
        /// What went wrong, for logs, status and the dead-letter header.
        message: String,
        /// The input offset the guest blamed, if it did.
        offset: Option<u64>,
    },
    /// The instance trapped (panic, deadline, memory cap): it must be replaced.
    Trap(String),
}

impl CallError {
    /// The message, whichever kind.
    pub fn message(&self) -> &str {
        match self {
            CallError::Failed { message, .. } | CallError::Trap(message) => message,
        }
    }
}

/// The WIT `header`, lowered straight from the host's buffers.
#[derive(ComponentType, Lower)]
#[component(record)]
struct HeaderRef<'a> {
    key: &'a str,
    value: Option<&'a [u8]>,
}

/// The WIT `input-record`, lowered straight from the host's buffers: no copy
/// on the host side, one into guest memory.
#[derive(ComponentType, Lower)]
#[component(record)]
struct InputRef<'a> {
    topic: &'a str,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [HeaderRef<'a>],
    timestamp: i64,
    partition: u32,
    offset: u64,
}

/// The WIT `timer`, lowered from the host's.
#[derive(ComponentType, Lower)]
#[component(record)]
struct TimerRef<'a> {
    domain: TimeDomain,
    key: &'a [u8],
    at: i64,
}

/// The signature of `on-timer`.
type OnTimerFn<'a> = TypedFunc<(&'a [TimerRef<'a>],), (Result<(), ProcessError>,)>;

/// The signature of `process`, with borrowed records.
type ProcessFn<'a> = TypedFunc<(&'a [InputRef<'a>],), (Result<(), ProcessError>,)>;

/// The WIT `span`: a byte range of a packed batch's data; `len` -1 is null.
#[derive(ComponentType, Lower, Clone, Copy)]
#[component(record)]
struct Span {
    start: u32,
    len: i32,
}

/// The WIT `packed-header`.
#[derive(ComponentType, Lower, Clone, Copy)]
#[component(record)]
struct PackedHeader {
    key: Span,
    value: Span,
}

/// The WIT `packed-record`.
#[derive(ComponentType, Lower, Clone, Copy)]
#[component(record)]
struct PackedRecord {
    key: Span,
    value: Span,
    #[component(name = "headers-start")]
    headers_start: u32,
    #[component(name = "headers-count")]
    headers_count: u32,
    timestamp: i64,
    offset: u64,
    topic: u32,
}

/// The WIT `packed-batch`, lowered from the instance's reusable buffers.
#[derive(ComponentType, Lower)]
#[component(record)]
struct PackedBatch<'a> {
    data: &'a [u8],
    records: &'a [PackedRecord],
    headers: &'a [PackedHeader],
    partition: u32,
}

/// The signature of `process-packed`.
type PackedFn<'a> = TypedFunc<(PackedBatch<'a>,), (Result<(), ProcessError>,)>;

/// Buffers a batch is packed into, kept between calls.
#[derive(Default)]
struct Packer {
    data: Vec<u8>,
    records: Vec<PackedRecord>,
    headers: Vec<PackedHeader>,
}

impl Packer {
    /// Packs `batch`; false if its data would pass 2 GiB (then `process` is used).
    fn pack(&mut self, batch: &[InputRecord]) -> bool {
        self.data.clear();
        self.records.clear();
        self.headers.clear();
        for r in batch {
            let headers_start = self.headers.len() as u32;
            for h in &r.headers {
                let key = self.span(Some(h.key.as_bytes()));
                let value = self.span(h.value.as_deref());
                self.headers.push(PackedHeader { key, value });
            }
            let key = self.span(r.key.as_deref());
            let value = self.span(r.value.as_deref());
            self.records.push(PackedRecord {
                key,
                value,
                headers_start,
                headers_count: r.headers.len() as u32,
                timestamp: r.timestamp,
                offset: r.offset,
                topic: r.input,
            });
        }
        self.data.len() <= i32::MAX as usize
    }

    fn span(&mut self, bytes: Option<&[u8]>) -> Span {
        match bytes {
            None => Span { start: self.data.len() as u32, len: -1 },
            Some(b) => {
                let start = self.data.len() as u32;
                self.data.extend_from_slice(b);
                Span { start, len: b.len() as i32 }
            }
        }
    }
}

/// A live instance.
pub struct Instance {
    /// The store; its data is the host state the imports see.
    store: Store<Host>,
    /// The component's exports.
    bindings: Bindings,
    /// `process`, type-checked against `ProcessFn` at instantiation.
    process: Func,
    /// `process-packed` if the component exports it, type-checked against `PackedFn`.
    process_packed: Option<Func>,
    /// `on-timer` if the component exports it, type-checked against `OnTimerFn`.
    on_timer: Option<Func>,
    /// Reused buffers for packed batches.
    packer: Packer,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("host", self.store.data()).finish_non_exhaustive()
    }
}

/// A fresh host state for a worker.
pub fn new_host(
    limits: Limits,
    partition: u32,
    inputs: Arc<[String]>,
    outputs: Arc<[Output]>,
    state: State,
    log: Arc<LogBuffer>,
) -> Host {
    let (stdout, stderr) = (GuestOutput::default(), GuestOutput::default());
    Host {
        wasi: limits::wasi_ctx(stdout.clone(), stderr.clone()),
        table: wasmtime::component::ResourceTable::new(),
        limiter: MemoryLimiter::new(&limits),
        stdout,
        stderr,
        limits,
        partition,
        inputs,
        outputs,
        state,
        batch_emitted: Vec::new(),
        batch_emitted_bytes: 0,
        call_emitted: Vec::new(),
        call_emitted_bytes: 0,
        violation: None,
        log,
        call_log_lines: 0,
        call_log_dropped: 0,
        now_ms: 0,
    }
}

impl Instance {
    /// Instantiates `module` over `host` and calls its `init` with `config`.
    /// On failure the host comes back, so the worker keeps its state.
    pub fn new(
        module: &Module,
        host: Host,
        config: &[(String, String)],
    ) -> Result<Instance, Box<(CallError, Host)>> {
        let ticks = host.limits.deadline_ticks();
        let mut store = Store::new(module.engine(), host);
        store.limiter(|h| &mut h.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(ticks);
        // The WASI context is rebuilt with the instance: resources of a dead
        // instance must not leak into the new one.
        let instantiated = module.pre.instance_pre().instantiate(&mut store).and_then(|instance| {
            let bindings = Bindings::new(&mut store, &instance)?;
            let process = instance
                .get_func(&mut store, "process")
                .ok_or_else(|| wasmtime::format_err!("no export `process`"))?;
            process.typed::<(&[InputRef<'_>],), (Result<(), ProcessError>,)>(&store)?;
            let packed = instance.get_func(&mut store, "process-packed");
            if let Some(packed) = packed {
                packed.typed::<(PackedBatch<'_>,), (Result<(), ProcessError>,)>(&store)?;
            }
            let on_timer = instance.get_func(&mut store, "on-timer");
            if let Some(on_timer) = on_timer {
                on_timer.typed::<(&[TimerRef<'_>],), (Result<(), ProcessError>,)>(&store)?;
            }
            Ok((bindings, process, packed, on_timer))
        });
        let (bindings, process, process_packed, on_timer) = match instantiated {
            Ok(b) => b,
            Err(e) => {
                let stderr = store.data_mut().flush_output();
                let message = describe_trap(&e, &stderr, store.data().limits);
                return Err(Box::new((
                    CallError::Trap(format!("instantiating failed: {message}")),
                    store.into_data(),
                )));
            }
        };
        let mut instance = Instance {
            store,
            bindings,
            process,
            process_packed,
            on_timer,
            packer: Packer::default(),
        };
        instance.store.data_mut().begin_call();
        instance.store.set_epoch_deadline(ticks);
        let result = instance.bindings.call_init(&mut instance.store, config);
        let stderr = instance.store.data_mut().flush_output();
        let error = match result {
            Ok(Ok(())) => {
                // init may not emit or change state: only `process` commits them.
                instance.store.data_mut().drop_call();
                return Ok(instance);
            }
            Ok(Err(message)) => {
                CallError::Failed { message: format!("init failed: {message}"), offset: None }
            }
            Err(e) => CallError::Trap(format!(
                "init trapped: {}",
                describe_trap(&e, &stderr, instance.store.data().limits)
            )),
        };
        let mut host = instance.into_host();
        host.drop_call();
        Err(Box::new((error, host)))
    }

    /// Calls `process` with `batch`. On ok the call's outputs and state changes
    /// join the batch's; otherwise they are dropped.
    pub fn process(&mut self, batch: &[InputRecord]) -> Result<(), CallError> {
        let ticks = self.store.data().limits.deadline_ticks();
        let partition = self.store.data().partition;
        self.store.data_mut().begin_call();
        self.store.set_epoch_deadline(ticks);
        let result = match self.process_packed {
            Some(func) if self.packer.pack(batch) => {
                let packer = &self.packer;
                let packed = PackedBatch {
                    data: &packer.data,
                    records: &packer.records,
                    headers: &packer.headers,
                    partition,
                };
                // SAFETY: `func` was type-checked as `PackedFn` (for another
                // lifetime, which does not change the component-level type) when
                // the instance was made.
                let typed: PackedFn<'_> = unsafe { TypedFunc::new_unchecked(func) };
                typed.call(&mut self.store, (packed,)).map(|(r,)| r)
            }
            _ => {
                // Only the typed records carry their topic's name.
                let inputs = Arc::clone(&self.store.data().inputs);
                self.call_typed(batch, partition, &inputs)
            }
        };
        self.settle_call(result)
    }

    /// Calls `on-timer` with `fired`; a component that does not export it has
    /// its timers dropped as they fire. Outcomes as for `process`.
    pub fn on_timer(&mut self, fired: &[Timer]) -> Result<(), CallError> {
        let Some(func) = self.on_timer else {
            // Nothing to call: the timers' removal stands.
            self.store.data_mut().state.keep_call();
            return Ok(());
        };
        let ticks = self.store.data().limits.deadline_ticks();
        self.store.data_mut().begin_call();
        self.store.set_epoch_deadline(ticks);
        let refs: Vec<TimerRef<'_>> = fired
            .iter()
            .map(|t| TimerRef {
                domain: match t.domain {
                    Domain::Event => TimeDomain::EventTime,
                    Domain::Processing => TimeDomain::ProcessingTime,
                },
                key: &t.key,
                at: t.at,
            })
            .collect();
        // SAFETY: `func` was type-checked as `OnTimerFn` when the instance was made.
        let typed: OnTimerFn<'_> = unsafe { TypedFunc::new_unchecked(func) };
        let result = typed.call(&mut self.store, (&refs,)).map(|(r,)| r);
        self.settle_call(result)
    }

    /// Sorts a call's outcome: ok keeps its outputs and state changes, anything
    /// else drops them.
    fn settle_call(
        &mut self,
        result: wasmtime::Result<Result<(), ProcessError>>,
    ) -> Result<(), CallError> {
        let host = self.store.data_mut();
        let stderr = host.flush_output();
        let error = match result {
            Ok(Ok(())) => match host.violation.take() {
                None => {
                    host.keep_call();
                    return Ok(());
                }
                Some(violation) => CallError::Failed { message: violation, offset: None },
            },
            Ok(Err(e)) => {
                let message = match host.violation.take() {
                    Some(v) => format!("{} ({v})", e.message),
                    None => e.message,
                };
                CallError::Failed { message, offset: e.offset }
            }
            Err(e) => CallError::Trap(describe_trap(&e, &stderr, host.limits)),
        };
        self.store.data_mut().drop_call();
        Err(error)
    }

    /// Calls `process` with the records lowered one by one.
    fn call_typed(
        &mut self,
        batch: &[InputRecord],
        partition: u32,
        inputs: &[String],
    ) -> wasmtime::Result<Result<(), ProcessError>> {
        let headers: Vec<Vec<HeaderRef<'_>>> = batch
            .iter()
            .map(|r| {
                r.headers
                    .iter()
                    .map(|h| HeaderRef { key: &h.key, value: h.value.as_deref() })
                    .collect()
            })
            .collect();
        let refs: Vec<InputRef<'_>> = batch
            .iter()
            .zip(&headers)
            .map(|(r, headers)| InputRef {
                topic: inputs.get(r.input as usize).map_or("", String::as_str),
                key: r.key.as_deref(),
                value: r.value.as_deref(),
                headers,
                timestamp: r.timestamp,
                partition,
                offset: r.offset,
            })
            .collect();
        // SAFETY: `self.process` was type-checked as `ProcessFn` (for another
        // lifetime, which does not change the component-level type) when the
        // instance was made.
        let process: ProcessFn<'_> = unsafe { TypedFunc::new_unchecked(self.process) };
        process.call(&mut self.store, (&refs,)).map(|(r,)| r)
    }

    /// Uses `process` even if `process-packed` is exported.
    pub fn disable_packed(&mut self) {
        self.process_packed = None;
    }

    /// The host state.
    pub fn host(&mut self) -> &mut Host {
        self.store.data_mut()
    }

    /// Bytes of linear memory the instance has grown to.
    pub fn memory_bytes(&self) -> u64 {
        self.store.data().limiter.used as u64
    }

    /// Ends the instance, keeping its host state (committed state, batch outputs).
    pub fn into_host(self) -> Host {
        let mut host = self.store.into_data();
        // Resources belong to the dead instance.
        host.table = wasmtime::component::ResourceTable::new();
        host.wasi = limits::wasi_ctx(host.stdout.clone(), host.stderr.clone());
        host
    }
}

/// A trap as an operator should read it: which limit, or the guest's panic message.
fn describe_trap(error: &wasmtime::Error, stderr: &str, limits: Limits) -> String {
    if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
        return format!(
            "CPU deadline passed: the call ran longer than limits.call_timeout_ms = {} ms",
            limits.call_timeout_ms
        );
    }
    let chain = format!("{error:#}");
    if chain.contains("memory limit reached") {
        let cause = chain.split(": ").find(|p| p.starts_with("memory limit")).unwrap_or(&chain);
        return cause.to_string();
    }
    let panic = stderr.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>();
    if let Some(at) = panic.iter().position(|l| l.contains("panicked at")) {
        return format!(
            "guest panicked: {}",
            panic[at..].join(" ").chars().take(1000).collect::<String>()
        );
    }
    let last = chain.lines().next().unwrap_or("trap");
    format!("guest trapped: {last}")
}
