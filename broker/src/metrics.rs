//! The broker's metrics: counters kept on the hot path, and the Prometheus text
//! format they are scraped in.
//!
//! What changes per request is counted here with atomics, in tables fixed when the
//! broker starts (a row per Kafka API found by its key, a column per error code):
//! no lock, map or allocation per request or record. Which rows are exposed at
//! zero is the Kafka listener's to say ([`Metrics::serve`]); this module knows
//! nothing of the Kafka layer. Per-partition traffic lives beside each partition's
//! log ([`PartitionTraffic`](crate::log::traffic::PartitionTraffic), bumped by
//! appends and fetches). Everything that is a level rather than a count (offsets,
//! sizes, lag, processor status) is read from its owner at scrape time by
//! `http::metrics`, which writes the families with [`Exposition`].
//!
//! The text format (version 0.0.4) is written by hand: a family is a `# HELP` and
//! a `# TYPE` line, then one `name{label="value",...} value` line per sample;
//! histograms add `_bucket{le=...}`, `_sum` and `_count` samples.
//!
//! Why not `prometheus-client`: its labelled families find a series through a
//! lock and a hash map (unless each caller keeps a handle per series: these tables
//! again), where here a request indexes an atomic; the levels would have to be
//! copied into its registry before each scrape, or written through its collector
//! interface, which is this writer again; and it speaks OpenMetrics, whose counter
//! naming and `# EOF` would change what scrapers and dashboards already read. The
//! writer is the hundred lines below, tested for escaping and histogram shape.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the request latency buckets, in microseconds: 100 µs to 30 s
/// (a Fetch long-polls up to its max wait, 500 ms by default in clients).
pub const LATENCY_BUCKETS_MICROS: [u64; 17] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000,
];

/// Error codes counted one by one: -1 (UNKNOWN_SERVER_ERROR) to this; others
/// share one cell.
const MAX_ERROR_CODE: i16 = 135;
/// Cells per API: one per code from -1 to `MAX_ERROR_CODE`, and one for the rest.
const ERROR_CELLS: usize = MAX_ERROR_CODE as usize + 3;

/// The broker-wide registry: Kafka request counters and latencies, connections,
/// and when the process started.
#[derive(Debug)]
pub struct Metrics {
    /// When the broker started, for uptime.
    started: Instant,
    /// The same moment on the wall clock, for `weir_start_time_seconds`.
    started_at: SystemTime,
    /// One row per API kafka-protocol knows, at index `key as i16` (None for codes
    /// that name no API): the Kafka layer says which it serves ([`Metrics::serve`]),
    /// this module never asks it.
    apis: Box<[Option<ApiMetrics>]>,
    /// Kafka connections accepted.
    connections_opened: AtomicU64,
    /// Kafka connections ended (either side).
    connections_closed: AtomicU64,
    /// Kafka connections closed at once because the listener was full.
    connections_refused: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every counter at zero, started now.
    pub fn new() -> Metrics {
        Metrics {
            started: Instant::now(),
            started_at: SystemTime::now(),
            apis: api_table(),
            connections_opened: AtomicU64::new(0),
            connections_closed: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
        }
    }

    /// The counters of an API (one lookup by key, no search).
    pub fn api(&self, key: ApiKey) -> &ApiMetrics {
        self.apis[key as i16 as usize].as_ref().expect("api_table has a row for every ApiKey")
    }

    /// Marks the APIs a listener serves: they are exposed from the start, at zero,
    /// so a rate over them is defined before their first request.
    pub fn serve(&self, keys: impl IntoIterator<Item = ApiKey>) {
        for key in keys {
            self.api(key).served.store(true, Ordering::Relaxed);
        }
    }

    /// The APIs worth exposing, by key: every served one, and any other that was
    /// counted.
    pub fn apis(&self) -> impl Iterator<Item = &ApiMetrics> {
        let exposed = |a: &&ApiMetrics| a.served.load(Ordering::Relaxed) || a.requests() > 0;
        self.apis.iter().flatten().filter(exposed)
    }

    /// Counts an accepted Kafka connection until the guard is dropped.
    pub fn connection(&self) -> ConnectionGuard<'_> {
        self.connections_opened.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard { metrics: self }
    }

    /// Counts a connection closed at once because the listener was full.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Kafka connections refused because the listener was full, since the start.
    pub fn connections_refused(&self) -> u64 {
        self.connections_refused.load(Ordering::Relaxed)
    }

    /// Kafka connections accepted since the start.
    pub fn connections_opened(&self) -> u64 {
        self.connections_opened.load(Ordering::Relaxed)
    }

    /// Kafka connections open now.
    pub fn connections_open(&self) -> u64 {
        let closed = self.connections_closed.load(Ordering::Relaxed);
        self.connections_opened().saturating_sub(closed)
    }

    /// Time since the broker started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// When the broker started, in seconds since the Unix epoch.
    pub fn start_time_seconds(&self) -> f64 {
        self.started_at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
    }
}

/// Counts a connection as closed when dropped.
#[derive(Debug)]
pub struct ConnectionGuard<'a> {
    /// The registry that counted it open.
    metrics: &'a Metrics,
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.metrics.connections_closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// One row for every API kafka-protocol knows, at index `key as i16`.
fn api_table() -> Box<[Option<ApiMetrics>]> {
    let len = ApiKey::iter().map(|key| key as i16 as usize + 1).max().unwrap_or(0);
    let mut table: Vec<Option<ApiMetrics>> = (0..len).map(|_| None).collect();
    for key in ApiKey::iter() {
        table[key as i16 as usize] = Some(ApiMetrics::new(key));
    }
    table.into_boxed_slice()
}

/// The counters of one Kafka API.
#[derive(Debug)]
pub struct ApiMetrics {
    /// The API.
    pub key: ApiKey,
    /// Whether a listener serves it (exposed even before its first request).
    served: AtomicBool,
    /// Requests answered or refused.
    requests: AtomicU64,
    /// Error codes in its responses (and for requests that closed the connection),
    /// by code: cell `code + 1`, the last cell for codes out of range.
    errors: Box<[AtomicU64]>,
    /// From the request's frame to its encoded response.
    latency: Histogram,
}

impl ApiMetrics {
    fn new(key: ApiKey) -> ApiMetrics {
        ApiMetrics {
            key,
            served: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            errors: (0..ERROR_CELLS).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::default(),
        }
    }

    /// The API's name as Kafka spells it in its request metrics (`Produce`).
    pub fn name(&self) -> String {
        format!("{:?}", self.key)
    }

    /// Counts one request and its latency.
    pub fn observe(&self, elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.latency.observe(elapsed);
    }

    /// Counts one error code of a response; 0 (no error) is not counted.
    pub fn error(&self, code: i16) {
        if code == 0 {
            return;
        }
        let cell = match code {
            -1..=MAX_ERROR_CODE => (code + 1) as usize,
            _ => ERROR_CELLS - 1,
        };
        self.errors[cell].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests counted so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Each error seen so far, by Kafka's name for it (`UNKNOWN_TOPIC_OR_PARTITION`),
    /// with its count.
    pub fn errors(&self) -> Vec<(String, u64)> {
        let mut seen = Vec::new();
        for (cell, count) in self.errors.iter().enumerate() {
            let count = count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let name = match cell {
                c if c == ERROR_CELLS - 1 => "UNKNOWN".to_owned(),
                c => error_name(c as i16 - 1),
            };
            seen.push((name, count));
        }
        seen
    }

    /// The latency histogram so far.
    pub fn latency(&self) -> HistogramSnapshot {
        self.latency.snapshot()
    }
}

/// Kafka's name of an error code (`UNKNOWN_TOPIC_OR_PARTITION`): the crate's
/// variant name in upper snake case.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_owned(),
        Some(ResponseError::Unknown(code)) => format!("UNKNOWN_{code}"),
        Some(known) => {
            let camel = known.to_string();
            let mut name = String::with_capacity(camel.len() + 8);
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

/// A histogram of durations over [`LATENCY_BUCKETS_MICROS`].
#[derive(Debug)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    buckets: [AtomicU64; LATENCY_BUCKETS_MICROS.len() + 1],
    /// Sum of observations, in microseconds.
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }
}

/// A copy of a [`Histogram`], cumulative as Prometheus wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound in seconds, observations at or below it), ascending.
    pub buckets: Vec<(f64, u64)>,
    /// Every observation.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum_seconds: f64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_MICROS.partition_point(|&bound| bound < micros);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The histogram now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(LATENCY_BUCKETS_MICROS.len());
        for (bound, count) in LATENCY_BUCKETS_MICROS.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            buckets.push((*bound as f64 / 1e6, cumulative));
        }
        let count = cumulative + self.buckets[LATENCY_BUCKETS_MICROS.len()].load(Ordering::Relaxed);
        let sum_seconds = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        HistogramSnapshot { buckets, count, sum_seconds }
    }
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets when the broker restarts); named `..._total`.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

/// A sample's value in the text format.
pub trait SampleValue {
    /// Appends the value as Prometheus parses it.
    fn write_to(&self, out: &mut String);
}

impl SampleValue for u64 {
    fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl SampleValue for u32 {
    fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl SampleValue for i64 {
    fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl SampleValue for f64 {
    fn write_to(&self, out: &mut String) {
        match *self {
            v if v.is_nan() => out.push_str("NaN"),
            v if v == f64::INFINITY => out.push_str("+Inf"),
            v if v == f64::NEG_INFINITY => out.push_str("-Inf"),
            v => {
                let _ = write!(out, "{v}");
            }
        }
    }
}

/// A scrape's text, written family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    /// The text so far.
    out: String,
}

/// One family being written: its samples follow its `# HELP` and `# TYPE` lines.
#[derive(Debug)]
pub struct Family<'a> {
    /// The scrape's text.
    out: &'a mut String,
    /// The family's name.
    name: &'a str,
}

/// Label names and values of one sample.
pub type Labels<'a> = &'a [(&'a str, &'a dyn fmt::Display)];

impl Exposition {
    /// An empty scrape.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Starts the family `name` (which must be unique in the scrape): writes its
    /// `# HELP` and `# TYPE` lines.
    pub fn family<'a>(&'a mut self, name: &'a str, kind: Kind, help: &str) -> Family<'a> {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Family { out: &mut self.out, name }
    }

    /// The text, ready to serve.
    pub fn finish(self) -> String {
        self.out
    }
}

impl Family<'_> {
    /// Writes one sample of the family.
    pub fn sample(&mut self, labels: Labels<'_>, value: impl SampleValue) -> &mut Self {
        let name = self.name;
        self.line(name, "", labels, None, &value);
        self
    }

    /// Writes one histogram: a cumulative `_bucket` per bound and `+Inf`, `_sum`
    /// and `_count`.
    pub fn histogram(&mut self, labels: Labels<'_>, histogram: &HistogramSnapshot) -> &mut Self {
        let name = self.name;
        for (bound, count) in &histogram.buckets {
            self.line(name, "_bucket", labels, Some(bound), count);
        }
        self.line(name, "_bucket", labels, Some(&f64::INFINITY), &histogram.count);
        self.line(name, "_sum", labels, None, &histogram.sum_seconds);
        self.line(name, "_count", labels, None, &histogram.count);
        self
    }

    fn line(
        &mut self,
        name: &str,
        suffix: &str,
        labels: Labels<'_>,
        le: Option<&f64>,
        value: &dyn SampleValue,
    ) {
        let out = &mut *self.out;
        out.push_str(name);
        out.push_str(suffix);
        if !labels.is_empty() || le.is_some() {
            out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(label);
                out.push_str("=\"");
                let _ = write!(Escaped(out), "{value}");
                out.push('"');
            }
            if let Some(le) = le {
                if !labels.is_empty() {
                    out.push(',');
                }
                out.push_str("le=\"");
                le.write_to(out);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        value.write_to(out);
        out.push('\n');
    }
}

/// Writes label values escaped as the text format requires (`\\`, `\"`, `\n`).
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '\\' => self.0.push_str("\\\\"),
                '"' => self.0.push_str("\\\""),
                '\n' => self.0.push_str("\\n"),
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_samples_and_escaped_labels() {
        let mut text = Exposition::new();
        text.family("weir_things_total", Kind::Counter, "Things.\nCounted.")
            .sample(&[("topic", &"a\"b\\c\nd"), ("partition", &3)], 7u64)
            .sample(&[], 0u64);
        text.family("weir_ratio", Kind::Gauge, "A ratio.").sample(&[], 0.5f64);
        assert_eq!(
            text.finish(),
            "# HELP weir_things_total Things.\\nCounted.\n# TYPE weir_things_total counter\n\
             weir_things_total{topic=\"a\\\"b\\\\c\\nd\",partition=\"3\"} 7\n\
             weir_things_total 0\n\
             # HELP weir_ratio A ratio.\n# TYPE weir_ratio gauge\nweir_ratio 0.5\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_with_inf_sum_and_count() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(100));
        histogram.observe(Duration::from_micros(101));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 4);
        assert_eq!(snapshot.buckets[0], (0.0001, 1));
        assert_eq!(snapshot.buckets[1], (0.00025, 2));
        assert_eq!(snapshot.buckets[5], (0.005, 3));
        assert_eq!(snapshot.buckets.last(), Some(&(30.0, 3)));
        assert!((snapshot.sum_seconds - 60.003201).abs() < 1e-9);

        let mut text = Exposition::new();
        text.family("weir_x_seconds", Kind::Histogram, "X.")
            .histogram(&[("api", &"Fetch")], &snapshot);
        let text = text.finish();
        assert!(text.contains("weir_x_seconds_bucket{api=\"Fetch\",le=\"0.0001\"} 1\n"), "{text}");
        assert!(text.contains("weir_x_seconds_bucket{api=\"Fetch\",le=\"+Inf\"} 4\n"), "{text}");
        assert!(text.contains("weir_x_seconds_count{api=\"Fetch\"} 4\n"), "{text}");
        assert!(text.contains("weir_x_seconds_sum{api=\"Fetch\"} 60.003201\n"), "{text}");
    }

    #[test]
    fn served_and_counted_apis_are_exposed_and_no_other() {
        let metrics = Metrics::new();
        assert_eq!(metrics.apis().count(), 0);
        metrics.serve([ApiKey::Fetch, ApiKey::Produce]);
        metrics.api(ApiKey::ConsumerGroupHeartbeat).observe(Duration::from_millis(1));
        let exposed: Vec<ApiKey> = metrics.apis().map(|a| a.key).collect();
        assert_eq!(exposed, [ApiKey::Produce, ApiKey::Fetch, ApiKey::ConsumerGroupHeartbeat]);
        for key in ApiKey::iter() {
            assert_eq!(metrics.api(key).key, key);
        }
    }

    #[test]
    fn counts_errors_by_kafka_name_and_skips_none() {
        let metrics = Metrics::new();
        let produce = metrics.api(ApiKey::Produce);
        produce.error(0);
        produce.error(3);
        produce.error(3);
        produce.error(-1);
        produce.error(i16::MAX);
        assert_eq!(
            produce.errors(),
            [
                ("UNKNOWN_SERVER_ERROR".to_owned(), 1),
                ("UNKNOWN_TOPIC_OR_PARTITION".to_owned(), 2),
                ("UNKNOWN".to_owned(), 1),
            ]
        );
        assert_eq!(error_name(17), "INVALID_TOPIC_EXCEPTION");
        assert_eq!(produce.name(), "Produce");
        let guard = metrics.connection();
        assert_eq!((metrics.connections_open(), metrics.connections_opened()), (1, 1));
        drop(guard);
        assert_eq!((metrics.connections_open(), metrics.connections_opened()), (0, 1));
    }
}
