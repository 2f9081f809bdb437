//! The component side (wasm32 only): the bindings generated from `runtime/wit/`,
//! the glue `export!` expands to, and the calls [`crate::Context`] makes.

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::record::Header;
use crate::{Config, Context, EmitError, LogLevel, OutputRecord, Processor, Record, StateError};

/// The bindings of the `processor` world; `export!` names them through `$crate`.
pub mod bindings {
    wit_bindgen::generate!({
        world: "processor",
        path: "../runtime/wit",
        // Imports take borrowed slices: emitting and state calls copy nothing.
        ownership: Borrowing { duplicate_if_necessary: true },
        pub_export_macro: true,
        export_macro_name: "export_processor",
        default_bindings_module: "weir_sdk::__private::bindings",
        runtime_path: "weir_sdk::__private::wit_bindgen::rt",
    });
}

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
    slot.with_borrow_mut(|instance| {
        let Some(processor) = instance.as_mut() else {
            return Err(types::ProcessError {
                message: "process called before init".into(),
                offset: None,
            });
        };
        crate::run_batch(processor, batch.into_iter().map(Record::from), &mut Context::host())
            .map_err(|e| types::ProcessError { message: e.message, offset: e.offset })
    })
}

impl From<types::InputRecord> for Record {
    /// Moves the buffers: the headers' vector is reused in place (same layout).
    fn from(r: types::InputRecord) -> Self {
        let headers =
            r.headers.into_iter().map(|h| Header { key: h.key, value: h.value }).collect();
        Record {
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
    let wit = types::OutputRecord {
        topic: record.topic,
        key: record.key,
        value: record.value,
        headers: &record.headers,
        partition: record.partition,
    };
    wit_emit::send(wit).map_err(|e| match e {
        wit_emit::EmitError::UndeclaredTopic => EmitError::UndeclaredTopic,
        wit_emit::EmitError::NoSuchPartition => EmitError::NoSuchPartition,
        wit_emit::EmitError::OutputLimit => EmitError::OutputLimit,
    })
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
