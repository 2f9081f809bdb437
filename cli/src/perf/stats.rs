//! Latency samples and their percentiles, and the throughput figures the perf
//! tools print.

use std::fmt;
use std::time::Duration;

/// Keep at most about this many latency samples; past it every k-th is kept, as
/// Kafka's producer perf test does (the mean and the maximum still see every one).
const MAX_SAMPLES: u64 = 1_000_000;

/// One mebibyte, the unit of Kafka's "MB/sec".
const MB: f64 = 1024.0 * 1024.0;

/// Latencies of one run, in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    /// The kept samples, unsorted until `summary`.
    samples: Vec<u32>,
    /// Keep one sample in this many (1: keep all).
    every: u64,
    /// Latencies recorded, kept or not.
    count: u64,
    /// Their sum, for the mean.
    sum: u64,
    /// The largest.
    max: u32,
}

impl Latencies {
    /// Room for a run of about `expected` records.
    pub fn new(expected: u64) -> Latencies {
        let every = expected.div_ceil(MAX_SAMPLES).max(1);
        let room = (expected / every).min(MAX_SAMPLES) as usize + 1;
        Latencies { samples: Vec::with_capacity(room), every, count: 0, sum: 0, max: 0 }
    }

    /// Adds one latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        if self.count.is_multiple_of(self.every) {
            self.samples.push(micros);
        }
        self.count += 1;
        self.sum += u64::from(micros);
        self.max = self.max.max(micros);
    }

    /// Latencies recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean, maximum and percentiles; sorts the samples.
    pub fn summary(&mut self) -> Summary {
        self.samples.sort_unstable();
        let at = |p| percentile(&self.samples, p).unwrap_or(0);
        Summary {
            count: self.count,
            mean_us: if self.count == 0 { 0.0 } else { self.sum as f64 / self.count as f64 },
            max_us: self.max,
            p50_us: at(50.0),
            p95_us: at(95.0),
            p99_us: at(99.0),
            p999_us: at(99.9),
        }
    }
}

/// The nearest-rank percentile `p` (0 to 100) of `sorted`: the smallest sample
/// that at least `p`% of the samples do not exceed. None when empty.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    // The epsilon keeps float error from pushing an exact rank up one (99.9% of
    // 1000 computes as 999.0000000000001).
    let rank = (p / 100.0 * sorted.len() as f64 - 1e-9).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What `Latencies::summary` computes, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Latencies recorded.
    pub count: u64,
    /// Their mean.
    pub mean_us: f64,
    /// The largest.
    pub max_us: u32,
    /// Median.
    pub p50_us: u32,
    /// 95th percentile.
    pub p95_us: u32,
    /// 99th percentile.
    pub p99_us: u32,
    /// 99.9th percentile.
    pub p999_us: u32,
}

/// "1.23 ms avg latency, 4.56 ms max latency, 1.00 ms 50th, ...", as Kafka's
/// producer perf test ends its last line (with fractions: ours are often under a
/// millisecond).
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |us: u32| f64::from(us) / 1000.0;
        write!(
            f,
            "{:.2} ms avg latency, {:.2} ms max latency, {:.2} ms 50th, {:.2} ms 95th, \
             {:.2} ms 99th, {:.2} ms 99.9th",
            self.mean_us / 1000.0,
            ms(self.max_us),
            ms(self.p50_us),
            ms(self.p95_us),
            ms(self.p99_us),
            ms(self.p999_us),
        )
    }
}

/// Records per second and MB (MiB) per second over `elapsed`.
pub fn rates(records: u64, bytes: u64, elapsed: Duration) -> (f64, f64) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    (records as f64 / secs, bytes as f64 / MB / secs)
}

/// Counts over one progress interval (Kafka's tools print one line every 5 s).
#[derive(Debug, Default, Clone, Copy)]
pub struct Window {
    /// Records in the window.
    pub records: u64,
    /// Their bytes (keys and values).
    pub bytes: u64,
    /// Sum of their latencies, in microseconds (0 where none are measured).
    pub latency_sum_us: u64,
    /// Largest latency, in microseconds.
    pub latency_max_us: u64,
}

impl Window {
    /// Adds one record of `bytes` that took `latency`.
    pub fn record(&mut self, bytes: u64, latency: Duration) {
        let us = latency.as_micros() as u64;
        self.records += 1;
        self.bytes += bytes;
        self.latency_sum_us += us;
        self.latency_max_us = self.latency_max_us.max(us);
    }

    /// "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max
    /// latency." over `elapsed`, with `verb` in place of "sent".
    pub fn line(&self, verb: &str, elapsed: Duration) -> String {
        let (rps, mbps) = rates(self.records, self.bytes, elapsed);
        let avg = if self.records == 0 {
            0.0
        } else {
            self.latency_sum_us as f64 / self.records as f64 / 1000.0
        };
        format!(
            "{} records {verb}, {rps:.1} records/sec ({mbps:.2} MB/sec), {avg:.1} ms avg \
             latency, {:.1} ms max latency.",
            self.records,
            self.latency_max_us as f64 / 1000.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50));
        assert_eq!(percentile(&sorted, 95.0), Some(95));
        assert_eq!(percentile(&sorted, 99.0), Some(99));
        assert_eq!(percentile(&sorted, 99.9), Some(100));
        assert_eq!(percentile(&sorted, 100.0), Some(100));
        assert_eq!(percentile(&sorted, 0.0), Some(1));
        assert_eq!(percentile(&[7], 99.9), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        // 1000 samples: p99.9 is the 999th, not the largest.
        let sorted: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&sorted, 99.9), Some(999));
    }

    #[test]
    fn summary_sorts_and_averages() {
        let mut latencies = Latencies::new(4);
        for us in [400, 100, 300, 200] {
            latencies.record(Duration::from_micros(us));
        }
        let summary = latencies.summary();
        assert_eq!(summary.count, 4);
        assert_eq!(summary.mean_us, 250.0);
        assert_eq!((summary.p50_us, summary.p99_us, summary.max_us), (200, 400, 400));
        assert!(summary.to_string().starts_with("0.25 ms avg latency, 0.40 ms max latency"));
    }

    #[test]
    fn long_runs_keep_a_bounded_sample() {
        let mut latencies = Latencies::new(3 * MAX_SAMPLES);
        for i in 0..3 * MAX_SAMPLES {
            latencies.record(Duration::from_micros(i % 1000));
        }
        assert!(latencies.samples.len() as u64 <= MAX_SAMPLES);
        let summary = latencies.summary();
        assert_eq!(summary.count, 3 * MAX_SAMPLES);
        assert_eq!(summary.max_us, 999);
        assert!((495..=505).contains(&summary.p50_us), "{summary:?}");
    }

    #[test]
    fn rates_use_mebibytes() {
        let (rps, mbps) = rates(1000, 2 * 1024 * 1024, Duration::from_secs(2));
        assert_eq!((rps, mbps), (500.0, 1.0));
    }
}
