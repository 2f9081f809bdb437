//! What a processor may do while it handles a record: emit, keep state, log.

use std::fmt;

use crate::testing::TestContext;
use crate::{EmitError, OutputRecord, Record, StateError, TimeDomain};

/// The severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the processor handled.
    Warn,
    /// Something failed.
    Error,
}

/// The host's services during one `process` call.
///
/// In a component they are the host's imports; under `cargo test` they are a
/// [`TestContext`] (see [`TestContext::context`]). Emitted records and state changes
/// count only if the whole batch succeeds: on an error the host discards them.
pub struct Context<'a> {
    /// Where the calls go.
    backend: Backend<'a>,
    /// The timestamp of the record being processed: that of every output that
    /// sets none, so that a replay of the same input emits the same records.
    input_timestamp: Option<i64>,
}

/// The two implementations of the host's services.
enum Backend<'a> {
    /// The real imports of the component.
    #[cfg(target_arch = "wasm32")]
    Host,
    /// The in-memory stand-in for tests.
    Test(&'a mut TestContext),
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => f.write_str("Context(host)"),
            Backend::Test(_) => f.write_str("Context(test)"),
        }
    }
}

impl<'a> Context<'a> {
    /// The context of the component's host imports.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn host() -> Context<'static> {
        Context { backend: Backend::Host, input_timestamp: None }
    }

    /// A context backed by `test`.
    pub(crate) fn test(test: &'a mut TestContext) -> Self {
        Self { backend: Backend::Test(test), input_timestamp: None }
    }

    /// Emits `value` keyed by `key` to `topic`, one of the declared output topics.
    pub fn emit(
        &mut self,
        topic: &str,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), EmitError> {
        self.emit_record(&OutputRecord::new(topic).key(key.as_ref()).value(value.as_ref()))
    }

    /// Emits `record` (with headers, without a key, to a chosen partition...).
    /// Without a timestamp of its own it takes the input record's, as Kafka
    /// Streams does: outputs keep event time, and a replay emits the same bytes.
    pub fn emit_record(&mut self, record: &OutputRecord<'_>) -> Result<(), EmitError> {
        let stamped;
        let record = match (record.timestamp, self.input_timestamp) {
            (None, Some(timestamp)) => {
                stamped = OutputRecord { timestamp: Some(timestamp), ..record.clone() };
                &stamped
            }
            _ => record,
        };
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => crate::guest::emit(record),
            Backend::Test(test) => test.emit(record),
        }
    }

    /// Sets the timestamp outputs default to: the record being processed.
    pub(crate) fn set_input_timestamp(&mut self, timestamp: i64) {
        self.input_timestamp = Some(timestamp);
    }

    /// Emits `record`'s key, value and headers unchanged to `topic`.
    pub fn forward(&mut self, topic: &str, record: &Record) -> Result<(), EmitError> {
        self.emit_record(&OutputRecord::copy_of(topic, record))
    }

    /// The state value under `key`.
    pub fn state_get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => crate::guest::state_get(key),
            Backend::Test(test) => test.state_get(key).map(<[u8]>::to_vec),
        }
    }

    /// Sets the state value under `key`.
    pub fn state_put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => crate::guest::state_put(key, value),
            Backend::Test(test) => test.state_put(key, value),
        }
    }

    /// Removes the state value under `key`, if any.
    pub fn state_delete(&mut self, key: &[u8]) {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => crate::guest::state_delete(key),
            Backend::Test(test) => test.state_delete(key),
        }
    }

    /// Up to `limit` entries whose key starts with `prefix`, in key order, after
    /// `start_after` when given (pass the last key returned to read the next page).
    pub fn state_scan(
        &mut self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: u32,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => crate::guest::state_scan(prefix, start_after, limit),
            Backend::Test(test) => test.state_scan(prefix, start_after, limit),
        }
    }

    /// Sets `key`'s timer in `domain` to fire at `at` (ms), replacing the one it
    /// had; [`crate::Processor::on_timer`] gets it once it is due (see
    /// [`crate::Timer`]). Past the state's cap the host fails the call.
    pub fn set_timer(&mut self, domain: TimeDomain, key: impl AsRef<[u8]>, at: i64) {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => crate::guest::set_timer(domain, key.as_ref(), at),
            Backend::Test(test) => test.set_timer(domain, key.as_ref(), at),
        }
    }

    /// Removes `key`'s timer in `domain`, if it has one.
    pub fn cancel_timer(&mut self, domain: TimeDomain, key: impl AsRef<[u8]>) {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => crate::guest::cancel_timer(domain, key.as_ref()),
            Backend::Test(test) => test.cancel_timer(domain, key.as_ref()),
        }
    }

    /// The input partition's watermark before this batch: the newest record
    /// timestamp processed so far (`i64::MIN` before any).
    pub fn watermark(&mut self) -> i64 {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => crate::guest::watermark(),
            Backend::Test(test) => test.watermark(),
        }
    }

    /// The host's processing time for this batch (ms since the Unix epoch).
    pub fn now(&mut self) -> i64 {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => crate::guest::now(),
            Backend::Test(test) => test.now(),
        }
    }

    /// Writes a line to the processor's log (the host caps length and count).
    pub fn log(&mut self, level: LogLevel, message: &str) {
        match &mut self.backend {
            #[cfg(target_arch = "wasm32")]
            Backend::Host => crate::guest::log(level, message),
            Backend::Test(test) => test.log(level, message),
        }
    }

    /// Logs at [`LogLevel::Debug`].
    pub fn debug(&mut self, message: impl AsRef<str>) {
        self.log(LogLevel::Debug, message.as_ref());
    }

    /// Logs at [`LogLevel::Info`].
    pub fn info(&mut self, message: impl AsRef<str>) {
        self.log(LogLevel::Info, message.as_ref());
    }

    /// Logs at [`LogLevel::Warn`].
    pub fn warn(&mut self, message: impl AsRef<str>) {
        self.log(LogLevel::Warn, message.as_ref());
    }

    /// Logs at [`LogLevel::Error`].
    pub fn error(&mut self, message: impl AsRef<str>) {
        self.log(LogLevel::Error, message.as_ref());
    }
}

/// Typed helpers: values as JSON.
#[cfg(feature = "json")]
impl Context<'_> {
    /// Emits `value` encoded as JSON, keyed by `key`, to `topic`.
    pub fn emit_json<T: serde::Serialize + ?Sized>(
        &mut self,
        topic: &str,
        key: impl AsRef<[u8]>,
        value: &T,
    ) -> Result<(), crate::Error> {
        let value = serde_json::to_vec(value)?;
        Ok(self.emit(topic, key, value)?)
    }

    /// The state value under `key`, decoded from JSON.
    pub fn state_get_json<T: serde::de::DeserializeOwned>(
        &mut self,
        key: &[u8],
    ) -> Result<Option<T>, crate::Error> {
        match self.state_get(key) {
            None => Ok(None),
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        }
    }

    /// Sets the state value under `key` to `value` encoded as JSON.
    pub fn state_put_json<T: serde::Serialize + ?Sized>(
        &mut self,
        key: &[u8],
        value: &T,
    ) -> Result<(), crate::Error> {
        let value = serde_json::to_vec(value)?;
        Ok(self.state_put(key, &value)?)
    }
}
