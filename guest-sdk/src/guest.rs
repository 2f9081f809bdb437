//! The component side (wasm32 only): the bindings generated from `runtime/wit/`,
//! the glue `export!` expands to, and the calls [`crate::Context`] makes.

use std::cell::RefCell;
use std::rc::Rc;
use std::thread::LocalKey;

use crate::record::Header;
use crate::{Config, Context, EmitError, LogLevel, OutputRecord, Processor, Record, StateError};
use crate::{TimeDomain, Timer};

/// The bindings of the `processor` world; `export!` names them through `$crate`.
pub mod bindings {
    wit_bindgen::generate!({
        world: "processor-packed",
        path: "../runtime/wit",
        // Imports take borrowed slices: emitting and state calls copy nothing.
        ownership: Borrowing { duplicate_if_necessary: true },
        pub_export_macro: true,
        export_macro_name: "export_processor",
        default_bindings_module: "weir_sdk::__private::bindings",
        runtime_path: "weir_sdk::__private::wit_bindgen::rt",
    });
}

use bindings::weir::processor::timers as wit_timers;
use bindings::weir::processor::{emit as wit_emit, log as wit_log, state as wit_state, types};

/// Where `export!` keeps the processor instance between calls.
pub type Slot<P> = LocalKey<RefCell<Option<P>>>;

/// The exported `init`: creates the instance from the configuration.
pub fn init<P: Processor>(
    slot: &'static Slot<P>,
    config: Vec<(String, String)>,
) -> Result<(), String> {
    let processor = P::init(&Config::new(config)).map_err(crate::Error::into_message)?;
    slot.with_borrow_mut(|instance| *instance = Some(processor));
    Ok(())
}

/// The exported `process`: the batch loop over the instance.
pub fn process<P: Processor>(
    slot: &'static Slot<P>,
    batch: Vec<types::InputRecord>,
) -> Result<(), types::ProcessError> {
    run(slot, batch.into_iter().map(Record::from))
}

/// The exported `process-packed`: the same loop over records unpacked from one
/// buffer (the host's fast path).
pub fn process_packed<P: Processor>(
    slot: &'static Slot<P>,
    batch: types::PackedBatch,
) -> Result<(), types::ProcessError> {
    let types::PackedBatch { data, records, headers, partition } = batch;
    let topics = input_topics();
    let bytes = |s: types::Span| -> Option<Vec<u8>> {
        let start = s.start as usize;
        let len = usize::try_from(s.len).ok()?;
        data.get(start..start.checked_add(len)?).map(<[u8]>::to_vec)
    };
    let records = records.iter().map(|r| {
        let first = r.headers_start as usize;
        let own = headers.get(first..first + r.headers_count as usize).unwrap_or_default();
        Record {
            topic: topics.get(r.topic as usize).copied().unwrap_or_default(),
            key: bytes(r.key),
            value: bytes(r.value),
            headers: own
                .iter()
                .map(|h| Header {
                    key: String::from_utf8_lossy(&bytes(h.key).unwrap_or_default()).into_owned(),
                    value: bytes(h.value),
                })
                .collect(),
            timestamp: r.timestamp,
            partition,
            offset: r.offset,
        }
    });
    run(slot, records)
}

thread_local! {
    /// The deployment's input topics, asked of the host once per instance.
    static TOPICS: RefCell<Option<Rc<[&'static str]>>> = const { RefCell::new(None) };
}

/// The deployment's input topics (`inputs.topics`), asked once.
fn input_topics() -> Rc<[&'static str]> {
    TOPICS.with_borrow_mut(|cached| {
        let topics = bindings::weir::processor::inputs::topics;
        Rc::clone(
            cached
                .get_or_insert_with(|| topics().iter().map(|t| crate::record::intern(t)).collect()),
        )
    })
}

/// The exported `on-timer`: the timer loop over the instance.
pub fn on_timer<P: Processor>(
    slot: &'static Slot<P>,
    fired: Vec<types::Timer>,
) -> Result<(), types::ProcessError> {
    let timers = fired.into_iter().map(|t| Timer {
        domain: match t.domain {
            types::TimeDomain::EventTime => TimeDomain::EventTime,
            types::TimeDomain::ProcessingTime => TimeDomain::ProcessingTime,
        },
        key: t.key,
        at: t.at,
    });
    guarded(slot, |processor| crate::run_timers(processor, timers, &mut Context::host()))
}

/// The batch loop: records in order until one fails; emitted records are
/// handed to the host at the end, or dropped on failure.
fn run<P: Processor>(
    slot: &'static Slot<P>,
    records: impl Iterator<Item = Record>,
) -> Result<(), types::ProcessError> {
    guarded(slot, |processor| crate::run_batch(processor, records, &mut Context::host()))
}

/// Runs `work` on the instance with a fresh outbox, handed to the host if it
/// succeeds and dropped if not.
fn guarded<P: Processor>(
    slot: &'static Slot<P>,
    work: impl FnOnce(&mut P) -> Result<(), crate::ProcessError>,
) -> Result<(), types::ProcessError> {
    slot.with_borrow_mut(|instance| {
        let Some(processor) = instance.as_mut() else {
            return Err(types::ProcessError { message: "called before init".into(), offset: None });
        };
        crate::outbox::discard();
        let result = work(processor)
            .map_err(|e| types::ProcessError { message: e.message, offset: e.offset });
        if result.is_err() {
            crate::outbox::discard();
            return result;
        }
        crate::outbox::flush().map_err(|(i, e)| types::ProcessError {
            message: format!("emitting buffered record {i} of the batch failed: {e}"),
            offset: None,
        })
    })
}

impl From<types::InputRecord> for Record {
    /// Moves the buffers: the headers' vector is reused in place (same layout).
    fn from(r: types::InputRecord) -> Self {
        let headers =
            r.headers.into_iter().map(|h| Header { key: h.key, value: h.value }).collect();
        Record {
            topic: crate::record::intern(&r.topic),
            key: r.key,
            value: r.value,
            headers,
            timestamp: r.timestamp,
            partition: r.partition,
            offset: r.offset,
        }
    }
}

pub(crate) fn emit(record: &OutputRecord<'_>) -> Result<(), EmitError> {
    crate::outbox::emit(record)
}

/// Emits one record with its own host call: for records the outbox will not
/// buffer, so that the host refuses them and says why.
pub(crate) fn send_one(record: &OutputRecord<'_>) -> Result<(), EmitError> {
    let wit = types::OutputRecord {
        topic: record.topic,
        key: record.key,
        value: record.value,
        headers: &record.headers,
        partition: record.partition,
        timestamp: record.timestamp,
    };
    wit_emit::send(wit).map_err(emit_error)
}

/// The SDK's name for the host's emit error.
pub(crate) fn emit_error(e: wit_emit::EmitError) -> EmitError {
    match e {
        wit_emit::EmitError::UndeclaredTopic => EmitError::UndeclaredTopic,
        wit_emit::EmitError::NoSuchPartition => EmitError::NoSuchPartition,
        wit_emit::EmitError::OutputLimit => EmitError::OutputLimit,
    }
}

pub(crate) fn state_get(key: &[u8]) -> Option<Vec<u8>> {
    wit_state::get(key)
}

pub(crate) fn state_put(key: &[u8], value: &[u8]) -> Result<(), StateError> {
    wit_state::put(key, value).map_err(|e| match e {
        wit_state::StateError::StateLimit => StateError::StateLimit,
    })
}

pub(crate) fn state_delete(key: &[u8]) {
    wit_state::delete(key);
}

pub(crate) fn state_scan(
    prefix: &[u8],
    start_after: Option<&[u8]>,
    limit: u32,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    wit_state::scan(prefix, start_after, limit)
}

fn wit_domain(domain: TimeDomain) -> types::TimeDomain {
    match domain {
        TimeDomain::EventTime => types::TimeDomain::EventTime,
        TimeDomain::ProcessingTime => types::TimeDomain::ProcessingTime,
    }
}

pub(crate) fn set_timer(domain: TimeDomain, key: &[u8], at: i64) {
    wit_timers::set(wit_domain(domain), key, at);
}

pub(crate) fn cancel_timer(domain: TimeDomain, key: &[u8]) {
    wit_timers::cancel(wit_domain(domain), key);
}

pub(crate) fn watermark() -> i64 {
    wit_timers::watermark()
}

pub(crate) fn now() -> i64 {
    wit_timers::now()
}

pub(crate) fn log(level: LogLevel, message: &str) {
    let level = match level {
        LogLevel::Trace => types::LogLevel::Trace,
        LogLevel::Debug => types::LogLevel::Debug,
        LogLevel::Info => types::LogLevel::Info,
        LogLevel::Warn => types::LogLevel::Warn,
        LogLevel::Error => types::LogLevel::Error,
    };
    wit_log::write(level, message);
}
