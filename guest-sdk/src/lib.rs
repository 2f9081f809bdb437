//! The Weir guest SDK: what a processor author writes against.
//!
//! A processor implements [`Processor`]: `init` builds it from the deployment's
//! configuration, `process` handles one record, with a [`Context`] to emit records
//! to the declared output topics, read and change its keyed state, and log. The SDK
//! runs the batch loop: records in offset order, stopping at the first error, which
//! the host receives with that record's offset (for its dead-letter policy).
//! `weir_sdk::export!(MyProcessor)` makes the crate a component for `wasm32-wasip2`;
//! on any other target it expands to nothing, and [`testing::TestContext`] stands in
//! for the host so the logic is unit-tested with `cargo test`.
//!
//! ```
//! use weir_sdk::{Config, Context, Error, Processor, Record};
//!
//! /// Counts records per key and emits the running count.
//! struct Counter {
//!     output: String,
//! }
//!
//! impl Processor for Counter {
//!     fn init(config: &Config) -> Result<Self, Error> {
//!         Ok(Counter { output: config.require("output")?.to_owned() })
//!     }
//!
//!     fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
//!         let key = record.key().unwrap_or_default();
//!         let count = match ctx.state_get(key) {
//!             Some(bytes) => u64::from_le_bytes(bytes.try_into().map_err(|_| Error::msg("bad count"))?),
//!             None => 0,
//!         } + 1;
//!         ctx.state_put(key, &count.to_le_bytes())?;
//!         ctx.emit(&self.output, key, count.to_string())?;
//!         Ok(())
//!     }
//! }
//!
//! weir_sdk::export!(Counter);
//!
//! # use weir_sdk::testing::TestContext;
//! let mut test = TestContext::new().with_output("counts");
//! let mut counter = Counter::init(&[("output", "counts")].into_iter().collect()).unwrap();
//! test.process_batch(&mut counter, [Record::new("a", ""), Record::new("a", "")]).unwrap();
//! assert_eq!(test.emitted()[1].value.as_deref(), Some(&b"2"[..]));
//! ```
//!
//! Keep what must survive in the state, not in the processor's fields: when a batch
//! fails or traps the host discards its state changes and emits, and may start a
//! fresh instance.
//!
//! Layout:
//! - `config`: [`Config`], the deployment's key-value pairs.
//! - `record`: [`Record`] (input), [`OutputRecord`] (a borrowed record to emit), [`Header`].
//! - `context`: [`Context`], the host's services during a call, and [`LogLevel`].
//! - `error`: [`Error`] (what a processor returns), [`ProcessError`], [`EmitError`],
//!   [`StateError`].
//! - [`testing`]: [`testing::TestContext`], the host in memory.
//! - [`window`] (`json` feature): event-time tumbling, hopping and session windows
//!   with a grace period, kept in the state.
//! - [`join`] (`json` feature): a stream-table join ([`join::Table`]) and a
//!   windowed stream-stream join ([`join::StreamJoin`]) over a processor's
//!   several inputs; `keys` is how both lay out their state keys.
//! - `guest` (wasm32 only): the `wit-bindgen` bindings and the glue behind [`export!`];
//!   `outbox` buffers emitted records for one `send-packed` host call per batch.
//!
//! The `json` feature adds `Record::value_json`, `Context::emit_json`,
//! `Context::state_get_json` and `Context::state_put_json`.

mod config;
mod context;
mod error;
#[cfg(target_arch = "wasm32")]
mod guest;
#[cfg(feature = "json")]
pub mod join;
#[cfg(feature = "json")]
mod keys;
#[cfg(target_arch = "wasm32")]
mod outbox;
mod record;
#[cfg(test)]
mod test_rng;
pub mod testing;
mod timer;
#[cfg(feature = "json")]
pub mod window;

pub use config::Config;
pub use context::{Context, LogLevel};
pub use error::{EmitError, Error, ProcessError, StateError};
pub use record::{Header, OutputRecord, Record};
pub use timer::{TimeDomain, Timer};

// `generate!` names the SDK by its crate name (see `guest::bindings`).
#[cfg(target_arch = "wasm32")]
extern crate self as weir_sdk;

/// A processor: built once per instance by `init`, then fed records in offset order.
pub trait Processor: Sized + 'static {
    /// Builds the processor from the deployment's configuration; an error fails the
    /// deployment with its message.
    fn init(config: &Config) -> Result<Self, Error>;

    /// Handles one record. An error fails the batch: the host discards the batch's
    /// emits and state changes and applies the deployment's error policy to this
    /// record. A panic traps the instance.
    fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error>;

    /// Handles a timer set with [`Context::set_timer`] that is due (see
    /// [`Timer`]). An error fails the timers' call: the host retries it, then
    /// pauses the processor. By default, nothing.
    fn on_timer(&mut self, timer: &Timer, ctx: &mut Context<'_>) -> Result<(), Error> {
        let _ = (timer, ctx);
        Ok(())
    }
}

/// The timer loop, the same in the component and in [`testing::TestContext`]:
/// each timer in order, outputs stamped with its time, until one fails.
pub(crate) fn run_timers<P: Processor>(
    processor: &mut P,
    fired: impl Iterator<Item = Timer>,
    ctx: &mut Context<'_>,
) -> Result<(), ProcessError> {
    for timer in fired {
        ctx.set_input_timestamp(timer.at);
        if let Err(error) = processor.on_timer(&timer, ctx) {
            let key = String::from_utf8_lossy(&timer.key);
            return Err(ProcessError {
                message: format!("timer {key:?} at {}: {}", timer.at, error.into_message()),
                offset: None,
            });
        }
    }
    Ok(())
}

/// The batch loop, the same in the component and in [`testing::TestContext`].
pub(crate) fn run_batch<P: Processor>(
    processor: &mut P,
    batch: impl Iterator<Item = Record>,
    ctx: &mut Context<'_>,
) -> Result<(), ProcessError> {
    for record in batch {
        ctx.set_input_timestamp(record.timestamp);
        if let Err(error) = processor.process(&record, ctx) {
            return Err(ProcessError {
                message: error.into_message(),
                offset: Some(record.offset),
            });
        }
    }
    Ok(())
}

/// Makes the crate a Weir component whose processor is `$processor` (a type that
/// implements [`Processor`]). Use it once, at the crate root; the crate needs
/// `crate-type = ["cdylib", "rlib"]` (rlib for `cargo test`) and is built with
/// `cargo build --release --target wasm32-wasip2`. Expands to nothing elsewhere.
#[macro_export]
macro_rules! export {
    ($processor:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static PROCESSOR: ::core::cell::RefCell<::core::option::Option<$processor>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            struct WeirComponent;

            impl $crate::__private::bindings::Guest for WeirComponent {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::init::<$processor>(&PROCESSOR, config)
                }

                fn process(
                    batch: ::std::vec::Vec<$crate::__private::bindings::InputRecord>,
                ) -> ::core::result::Result<(), $crate::__private::bindings::ProcessError> {
                    $crate::__private::process::<$processor>(&PROCESSOR, batch)
                }

                fn process_packed(
                    batch: $crate::__private::bindings::PackedBatch,
                ) -> ::core::result::Result<(), $crate::__private::bindings::ProcessError> {
                    $crate::__private::process_packed::<$processor>(&PROCESSOR, batch)
                }

                fn on_timer(
                    fired: ::std::vec::Vec<$crate::__private::bindings::Timer>,
                ) -> ::core::result::Result<(), $crate::__private::bindings::ProcessError> {
                    $crate::__private::on_timer::<$processor>(&PROCESSOR, fired)
                }
            }

            $crate::__private::bindings::export_processor!(
                WeirComponent with_types_in $crate::__private::bindings
            );
        };
    };
}

/// What `export!` expands to; not part of the API.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private {
    pub use crate::guest::{bindings, init, on_timer, process, process_packed};
    pub use wit_bindgen;
}
