//! Timers: a processor sets them with [`crate::Context::set_timer`] and handles
//! them in [`crate::Processor::on_timer`].
//!
//! A timer is keyed (one per [`TimeDomain`] and key: setting it again moves it),
//! durable (kept in the processor's state, committed with the batch that set
//! it) and fires once. Event-time timers fire when the input partition's
//! watermark (the newest record timestamp processed) reaches them, after the
//! batch that moved it; processing-time timers when the host's clock does, also
//! while no record arrives. Records emitted by `on_timer` take the timer's time
//! as their timestamp unless they set one, so a replay fires and emits the same.
//!
//! ```
//! use weir_sdk::testing::TestContext;
//! use weir_sdk::{Config, Context, Error, Processor, Record, TimeDomain, Timer};
//!
//! /// Says "quiet" for a key 10 s (event time) after its last record.
//! struct Quiet;
//! impl Processor for Quiet {
//!     fn init(_: &Config) -> Result<Self, Error> { Ok(Quiet) }
//!     fn process(&mut self, r: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
//!         let key = r.key.clone().unwrap_or_default();
//!         ctx.set_timer(TimeDomain::EventTime, key, r.timestamp + 10_000);
//!         Ok(())
//!     }
//!     fn on_timer(&mut self, t: &Timer, ctx: &mut Context<'_>) -> Result<(), Error> {
//!         Ok(ctx.emit("out", &t.key, "quiet for 10 s")?)
//!     }
//! }
//!
//! let mut test = TestContext::new().with_output("out");
//! let r = |key: &str, ts| Record::new(key, "v").with_timestamp(ts);
//! test.process_batch(&mut Quiet, [r("a", 1_000), r("a", 5_000)]).unwrap();
//! assert!(test.emitted().is_empty(), "a's timer moved to 15 s");
//! test.process_batch(&mut Quiet, [r("b", 16_000)]).unwrap(); // the watermark passes 15 s
//! assert_eq!(test.emitted().len(), 1);
//! assert_eq!((test.emitted()[0].key_str(), test.emitted()[0].timestamp), ("a".into(), Some(15_000)));
//! ```

/// The clock a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeDomain {
    /// The input partition's watermark: the newest record timestamp processed.
    EventTime,
    /// The host's clock, read once per batch.
    ProcessingTime,
}

/// A timer that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// Its clock.
    pub domain: TimeDomain,
    /// Its key, as set.
    pub key: Vec<u8>,
    /// When it was due, ms since the Unix epoch.
    pub at: i64,
}
