//! An in-memory stand-in for the host, so processors are unit-tested with
//! `cargo test`.
//!
//! ```
//! use weir_sdk::testing::TestContext;
//! use weir_sdk::{Config, Context, Error, Processor, Record};
//!
//! struct Upper;
//!
//! impl Processor for Upper {
//!     fn init(_: &Config) -> Result<Self, Error> {
//!         Ok(Upper)
//!     }
//!     fn process(&mut self, record: &Record, ctx: &mut Context<'_>) -> Result<(), Error> {
//!         let upper = record.value_str()?.to_uppercase();
//!         ctx.emit("out", record.key().unwrap_or_default(), upper)?;
//!         Ok(())
//!     }
//! }
//!
//! let mut test = TestContext::new().with_output("out");
//! let mut upper = Upper::init(&Config::default()).unwrap();
//! test.process_batch(&mut upper, [Record::new("k", "hi")]).unwrap();
//! assert_eq!(test.emitted()[0].value.as_deref(), Some(&b"HI"[..]));
//!
//! // A failing record: the batch's emits and state changes are discarded and the
//! // error names the record's offset, as on the real host.
//! let error = test.process_batch(&mut upper, [Record::new("k", vec![0xff]).with_offset(9)]);
//! assert_eq!(error.unwrap_err().offset, Some(9));
//! assert_eq!(test.emitted().len(), 1);
//! ```

use std::collections::BTreeMap;

use crate::record::HeaderRef;
use crate::{Context, EmitError, Header, LogLevel, OutputRecord, ProcessError, Record, StateError};
use crate::{Processor, TimeDomain, Timer, run_batch, run_timers};

/// A record the processor emitted, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// The output topic.
    pub topic: String,
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The headers, in order.
    pub headers: Vec<Header>,
    /// The explicit partition, if the processor chose one.
    pub partition: Option<u32>,
    /// The timestamp sent to the host: the processor's, else (in
    /// [`TestContext::process_batch`]) the input record's; `None` only outside a
    /// batch, where the host would stamp its processing time.
    pub timestamp: Option<i64>,
}

impl Emitted {
    /// The key as UTF-8 (lossy), or "" without a key.
    pub fn key_str(&self) -> String {
        String::from_utf8_lossy(self.key.as_deref().unwrap_or_default()).into_owned()
    }

    /// The value decoded from JSON; panics if it is absent or does not decode.
    #[cfg(feature = "json")]
    pub fn value_json<T: serde::de::DeserializeOwned>(&self) -> T {
        let value = self.value.as_deref().expect("the emitted record has no value");
        serde_json::from_slice(value).expect("the emitted value is not the expected JSON")
    }
}

/// A line the processor logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its severity.
    pub level: LogLevel,
    /// Its text.
    pub message: String,
}

/// The host's services in memory: declared output topics, state, emitted records
/// and log lines, with the same errors as the host for an undeclared topic, a
/// missing partition and the optional caps.
#[derive(Debug, Clone, Default)]
pub struct TestContext {
    /// Declared output topics and their partition count (`None`: any partition).
    outputs: BTreeMap<String, Option<u32>>,
    /// The processor's keyed state.
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Records emitted so far, in order.
    emitted: Vec<Emitted>,
    /// Lines logged so far, in order.
    logs: Vec<LogLine>,
    /// Cap on the state's total key and value bytes, like the host's state limit.
    state_limit: Option<usize>,
    /// Cap on the records emitted by one batch, like the host's output limit.
    output_limit: Option<usize>,
    /// Records emitted by the current batch, for `output_limit`.
    batch_emitted: usize,
    /// Timers set, by domain and key, with when they are due.
    timers: BTreeMap<(TimeDomain, Vec<u8>), i64>,
    /// The newest record timestamp processed (none yet: the least i64).
    watermark: Option<i64>,
    /// The processing time the host would report.
    now: i64,
}

impl TestContext {
    /// A context with no output topics, no state and no limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares `topic` as an output, with any partition allowed.
    pub fn with_output(mut self, topic: &str) -> Self {
        self.outputs.insert(topic.to_owned(), None);
        self
    }

    /// Declares `topic` as an output with `partitions` partitions.
    pub fn with_output_partitions(mut self, topic: &str, partitions: u32) -> Self {
        self.outputs.insert(topic.to_owned(), Some(partitions));
        self
    }

    /// Starts with `value` under `key` in the state.
    pub fn with_state(mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        self.state.insert(key.into(), value.into());
        self
    }

    /// Refuses puts that would make the state's keys and values exceed `bytes`.
    pub fn with_state_limit(mut self, bytes: usize) -> Self {
        self.state_limit = Some(bytes);
        self
    }

    /// Refuses emits past `records` per batch.
    pub fn with_output_limit(mut self, records: usize) -> Self {
        self.output_limit = Some(records);
        self
    }

    /// Sets the processing time (ms) that [`Context::now`] reports and that
    /// processing-time timers are due against.
    pub fn set_now(&mut self, now: i64) {
        self.now = now;
    }

    /// The timers set and not yet fired, oldest first.
    pub fn timers(&self) -> Vec<Timer> {
        let mut timers: Vec<Timer> = self
            .timers
            .iter()
            .map(|((domain, key), at)| Timer { domain: *domain, key: key.clone(), at: *at })
            .collect();
        timers.sort_by(|a, b| (a.at, a.domain, &a.key).cmp(&(b.at, b.domain, &b.key)));
        timers
    }

    /// Fires the timers due at the watermark and [`Self::set_now`]'s time, as
    /// the host does after each batch and while idle: oldest first, in rounds
    /// while `on_timer` sets timers already due; on an error the round's
    /// outputs and changes are undone and its timers stay set.
    pub fn fire_timers<P: Processor>(&mut self, processor: &mut P) -> Result<(), ProcessError> {
        for _ in 0..16 {
            let watermark = self.watermark.unwrap_or(i64::MIN);
            let due: Vec<Timer> = self
                .timers()
                .into_iter()
                .filter(|t| match t.domain {
                    TimeDomain::EventTime => t.at <= watermark,
                    TimeDomain::ProcessingTime => t.at <= self.now,
                })
                .collect();
            if due.is_empty() {
                return Ok(());
            }
            let saved = (self.state.clone(), self.timers.clone(), self.emitted.len());
            for t in &due {
                self.timers.remove(&(t.domain, t.key.clone()));
            }
            self.batch_emitted = 0;
            let result = run_timers(processor, due.into_iter(), &mut Context::test(self));
            if result.is_err() {
                (self.state, self.timers) = (saved.0, saved.1);
                self.emitted.truncate(saved.2);
                return result;
            }
        }
        Ok(())
    }

    /// A [`Context`] to call [`Processor::process`] with directly; unlike
    /// [`TestContext::process_batch`] nothing is rolled back on an error.
    pub fn context(&mut self) -> Context<'_> {
        Context::test(self)
    }

    /// Runs `batch` through `processor` as the host would: record by record in
    /// order, stopping at the first error, which carries the failing record's
    /// offset; on an error the batch's emits, state and timer changes are
    /// discarded. Then the watermark moves to the batch's newest timestamp and
    /// the timers due fire ([`Self::fire_timers`]).
    pub fn process_batch<P: Processor>(
        &mut self,
        processor: &mut P,
        batch: impl IntoIterator<Item = Record>,
    ) -> Result<(), ProcessError> {
        let batch: Vec<Record> = batch.into_iter().collect();
        let newest = batch.iter().map(|r| r.timestamp).max();
        let saved = (self.state.clone(), self.timers.clone(), self.emitted.len());
        self.batch_emitted = 0;
        let result = run_batch(processor, batch.into_iter(), &mut Context::test(self));
        if result.is_err() {
            (self.state, self.timers) = (saved.0, saved.1);
            self.emitted.truncate(saved.2);
            return result;
        }
        if let Some(newest) = newest {
            self.watermark = Some(self.watermark.map_or(newest, |w| w.max(newest)));
        }
        self.fire_timers(processor)
    }

    /// The records emitted so far, in order.
    pub fn emitted(&self) -> &[Emitted] {
        &self.emitted
    }

    /// Takes the records emitted so far, leaving none.
    pub fn take_emitted(&mut self) -> Vec<Emitted> {
        std::mem::take(&mut self.emitted)
    }

    /// The lines logged so far, in order.
    pub fn logs(&self) -> &[LogLine] {
        &self.logs
    }

    /// The whole state.
    pub fn state(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.state
    }

    /// The state value under `key`.
    pub fn state_get(&self, key: &[u8]) -> Option<&[u8]> {
        self.state.get(key).map(Vec::as_slice)
    }

    pub(crate) fn emit(&mut self, record: &OutputRecord<'_>) -> Result<(), EmitError> {
        match self.outputs.get(record.topic) {
            None => return Err(EmitError::UndeclaredTopic),
            Some(Some(partitions)) if record.partition.is_some_and(|p| p >= *partitions) => {
                return Err(EmitError::NoSuchPartition);
            }
            Some(_) => {}
        }
        if self.output_limit.is_some_and(|limit| self.batch_emitted >= limit) {
            return Err(EmitError::OutputLimit);
        }
        self.batch_emitted += 1;
        let owned = |h: &HeaderRef<'_>| Header {
            key: h.key.to_owned(),
            value: h.value.map(<[u8]>::to_vec),
        };
        self.emitted.push(Emitted {
            topic: record.topic.to_owned(),
            key: record.key.map(<[u8]>::to_vec),
            value: record.value.map(<[u8]>::to_vec),
            headers: record.headers.iter().map(owned).collect(),
            partition: record.partition,
            timestamp: record.timestamp,
        });
        Ok(())
    }

    pub(crate) fn state_put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        if let Some(limit) = self.state_limit {
            let size = |(k, v): (&Vec<u8>, &Vec<u8>)| k.len() + v.len();
            let others: usize =
                self.state.iter().filter(|(k, _)| k.as_slice() != key).map(size).sum();
            if others + key.len() + value.len() > limit {
                return Err(StateError::StateLimit);
            }
        }
        self.state.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    pub(crate) fn state_delete(&mut self, key: &[u8]) {
        self.state.remove(key);
    }

    pub(crate) fn state_scan(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: u32,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        use std::ops::Bound;
        let start = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        self.state
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit as usize)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(crate) fn log(&mut self, level: LogLevel, message: &str) {
        self.logs.push(LogLine { level, message: message.to_owned() });
    }

    pub(crate) fn set_timer(&mut self, domain: TimeDomain, key: &[u8], at: i64) {
        self.timers.insert((domain, key.to_vec()), at);
    }

    pub(crate) fn cancel_timer(&mut self, domain: TimeDomain, key: &[u8]) {
        self.timers.remove(&(domain, key.to_vec()));
    }

    pub(crate) fn watermark(&self) -> i64 {
        self.watermark.unwrap_or(i64::MIN)
    }

    pub(crate) fn now(&self) -> i64 {
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_checks_topics_partitions_and_limits() {
        let mut test = TestContext::new().with_output_partitions("out", 2).with_output_limit(2);
        let mut ctx = test.context();
        assert_eq!(ctx.emit("elsewhere", "k", "v"), Err(EmitError::UndeclaredTopic));
        let to_p2 = OutputRecord::new("out").value(b"v").partition(2);
        assert_eq!(ctx.emit_record(&to_p2), Err(EmitError::NoSuchPartition));
        ctx.emit_record(&OutputRecord::new("out").partition(1).header("h", None)).unwrap();
        ctx.emit("out", "k", "v").unwrap();
        assert_eq!(ctx.emit("out", "k", "v"), Err(EmitError::OutputLimit));
        assert_eq!(test.emitted().len(), 2);
        assert_eq!(test.emitted()[0].headers, [Header { key: "h".into(), value: None }]);
    }

    #[test]
    fn emitted_records_keep_an_explicit_partition_and_timestamp() {
        let mut test = TestContext::new().with_output_partitions("out", 4);
        let mut ctx = test.context();
        ctx.emit_record(&OutputRecord::new("out").partition(3).timestamp(-5)).unwrap();
        ctx.emit("out", "k", "v").unwrap();
        let [explicit, default] = test.emitted() else { panic!("expected two records") };
        assert_eq!((explicit.partition, explicit.timestamp), (Some(3), Some(-5)));
        assert_eq!((default.partition, default.timestamp), (None, None));
    }

    #[test]
    fn outputs_without_a_timestamp_take_the_input_records() {
        struct Echo;
        impl Processor for Echo {
            fn init(_: &crate::Config) -> Result<Self, crate::Error> {
                Ok(Echo)
            }
            fn process(
                &mut self,
                record: &Record,
                ctx: &mut Context<'_>,
            ) -> Result<(), crate::Error> {
                ctx.forward("out", record)?;
                Ok(ctx.emit_record(&OutputRecord::new("out").timestamp(1))?)
            }
        }
        let mut test = TestContext::new().with_output("out");
        let batch =
            [Record::new("a", "1").with_timestamp(70), Record::new("b", "2").with_timestamp(60)];
        test.process_batch(&mut Echo, batch).unwrap();
        let stamps: Vec<Option<i64>> = test.emitted().iter().map(|e| e.timestamp).collect();
        assert_eq!(stamps, [Some(70), Some(1), Some(60), Some(1)]);
    }

    #[test]
    fn scan_pages_within_the_prefix() {
        let mut test = TestContext::new()
            .with_state("a/1", "x")
            .with_state("b/1", "1")
            .with_state("b/2", "2")
            .with_state("b/3", "3")
            .with_state("c/1", "y");
        let mut ctx = test.context();
        let page = ctx.state_scan(b"b/", None, 2);
        assert_eq!(page, [(b"b/1".to_vec(), b"1".to_vec()), (b"b/2".to_vec(), b"2".to_vec())]);
        let rest = ctx.state_scan(b"b/", Some(b"b/2"), 10);
        assert_eq!(rest, [(b"b/3".to_vec(), b"3".to_vec())]);
        assert_eq!(ctx.state_scan(b"b/", Some(b"a"), 1), [(b"b/1".to_vec(), b"1".to_vec())]);
    }

    #[test]
    fn state_limit_counts_keys_and_values() {
        let mut test = TestContext::new().with_state_limit(8);
        let mut ctx = test.context();
        ctx.state_put(b"k1", b"vv").unwrap();
        ctx.state_put(b"k1", b"vvvvvv").unwrap();
        assert_eq!(ctx.state_put(b"k2", b"v"), Err(StateError::StateLimit));
        ctx.state_delete(b"k1");
        ctx.state_put(b"k2", b"v").unwrap();
        assert_eq!(test.state().len(), 1);
    }
}
