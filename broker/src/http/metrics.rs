//! `GET /metrics`: the broker in Prometheus text format (version 0.0.4).
//!
//! Counters kept on the hot path (`crate::metrics`, each partition's traffic) are
//! read as they are; levels (offsets, sizes, lag, processor status) are read from
//! their owners at scrape time. Families, all prefixed `weir_`:
//!
//! | family                                    | type      | labels                     |
//! |-------------------------------------------|-----------|----------------------------|
//! | `partition_{bytes,records}_in_total`      | counter   | topic, partition           |
//! | `partition_{bytes,records}_out_total`     | counter   | topic, partition           |
//! | `partition_log_start_offset`, `partition_high_watermark`, `partition_size_bytes`, `partition_segments` | gauge | topic, partition |
//! | `kafka_requests_total`                    | counter   | api                        |
//! | `kafka_request_errors_total`              | counter   | api, error                 |
//! | `kafka_request_duration_seconds`          | histogram | api                        |
//! | `kafka_connections_open`                  | gauge     |                            |
//! | `kafka_connections_total`                 | counter   |                            |
//! | `kafka_connections_refused_total`         | counter   |                            |
//! | `log_cleaner_{passes,segments,bytes_read,bytes_written,records_removed,errors}_total` | counter | |
//! | `group_members`                           | gauge     | group                      |
//! | `group_committed_offset`, `group_lag`     | gauge     | group, topic, partition    |
//! | `processor_records_{in,out}_total`, `processor_errors_total`, `processor_dead_lettered_total`, `processor_batches_total`, `processor_processing_seconds_total` | counter | processor, partition |
//! | `processor_last_batch_seconds`, `processor_memory_bytes`, `processor_lag` | gauge | processor, partition |
//! | `processor_state`                         | gauge     | processor, state           |
//! | `uptime_seconds`, `start_time_seconds`, `process_resident_memory_bytes`, `process_open_fds` | gauge | |
//! | `build_info`                              | gauge     | version                    |
//!
//! Records in count every append (producers, processors' outputs, internal
//! topics); records out count what Fetch responses carried. Group lag is the
//! partition's high watermark minus the committed offset. Processor counters are
//! their workers' since the processor (re)started.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use weir_runtime::{PartitionStatus, ProcessorState};

use super::AppState;
use super::openapi::Route;
use crate::broker::Broker;
use crate::log::cleaner::CleanerTotals;
use crate::log::traffic::TrafficSnapshot;
use crate::metrics::{CONTENT_TYPE, Exposition, Kind, Metrics};
use crate::processors::ProcessorInfo;

/// The metrics route.
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/metrics", metrics, "metrics", "Prometheus metrics")
            .describe(
                "The broker's metrics in Prometheus text format 0.0.4, all prefixed `weir_`: \
                 per topic and partition traffic and offsets, Kafka requests, errors and \
                 latency per API, connections, consumer group offsets and lag, processor \
                 counters and state, uptime and process memory.",
            )
            .text(200, "Every metric family"),
    ]
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&state))
}

/// The whole scrape.
pub fn render(state: &AppState) -> String {
    let mut text = Exposition::new();
    partitions(&mut text, &state.broker);
    kafka(&mut text, &state.broker.metrics);
    groups(&mut text, &state.broker);
    cleaner(&mut text, state.broker.storage.cleaner_totals());
    processors(&mut text, &state.processors.list());
    process(&mut text, &state.broker.metrics);
    text.finish()
}

/// What one partition reports.
struct PartitionSample {
    /// Its topic.
    topic: String,
    /// Its index.
    partition: u32,
    /// Bytes and records in and out.
    traffic: TrafficSnapshot,
    /// First offset held.
    log_start_offset: u64,
    /// One past the last offset held.
    high_watermark: u64,
    /// Bytes on disk.
    size_bytes: u64,
    /// Segments on disk.
    segments: usize,
}

fn partitions(text: &mut Exposition, broker: &Broker) {
    let mut samples = Vec::new();
    for topic in broker.storage.topics() {
        for partition in 0..topic.partitions {
            let Some(log) = broker.storage.partition(&topic.name, partition) else { continue };
            samples.push(PartitionSample {
                topic: topic.name.clone(),
                partition,
                traffic: log.traffic().snapshot(),
                log_start_offset: log.log_start_offset(),
                high_watermark: log.high_watermark(),
                size_bytes: log.size_bytes(),
                segments: log.segment_count(),
            });
        }
    }
    type Get = fn(&PartitionSample) -> u64;
    let families: [(&str, Kind, &str, Get); 8] = [
        (
            "weir_partition_bytes_in_total",
            Kind::Counter,
            "Bytes of record batches appended to the partition (by producers, processors and the broker).",
            |s| s.traffic.bytes_in,
        ),
        (
            "weir_partition_records_in_total",
            Kind::Counter,
            "Records appended to the partition.",
            |s| s.traffic.records_in,
        ),
        (
            "weir_partition_bytes_out_total",
            Kind::Counter,
            "Bytes of record batches sent from the partition in Fetch responses.",
            |s| s.traffic.bytes_out,
        ),
        (
            "weir_partition_records_out_total",
            Kind::Counter,
            "Records sent from the partition in Fetch responses.",
            |s| s.traffic.records_out,
        ),
        (
            "weir_partition_log_start_offset",
            Kind::Gauge,
            "The first offset the partition holds.",
            |s| s.log_start_offset,
        ),
        (
            "weir_partition_high_watermark",
            Kind::Gauge,
            "One past the last offset the partition holds.",
            |s| s.high_watermark,
        ),
        (
            "weir_partition_size_bytes",
            Kind::Gauge,
            "Bytes of the partition's segments on disk.",
            |s| s.size_bytes,
        ),
        ("weir_partition_segments", Kind::Gauge, "Segments of the partition on disk.", |s| {
            s.segments as u64
        }),
    ];
    for (name, kind, help, get) in families {
        let mut family = text.family(name, kind, help);
        for s in &samples {
            family.sample(&[("topic", &s.topic), ("partition", &s.partition)], get(s));
        }
    }
}

fn kafka(text: &mut Exposition, metrics: &Metrics) {
    let apis: Vec<(String, &crate::metrics::ApiMetrics)> =
        metrics.apis().map(|a| (a.name(), a)).collect();
    let mut family = text.family(
        "weir_kafka_requests_total",
        Kind::Counter,
        "Kafka requests handled, by API (refused ones included).",
    );
    for (name, api) in &apis {
        family.sample(&[("api", name)], api.requests());
    }
    let mut family = text.family(
        "weir_kafka_request_errors_total",
        Kind::Counter,
        "Error codes in Kafka responses, by API and Kafka's name for the error; a request \
         that closed its connection counts as INVALID_REQUEST or UNSUPPORTED_VERSION.",
    );
    for (name, api) in &apis {
        for (error, count) in api.errors() {
            family.sample(&[("api", name), ("error", &error)], count);
        }
    }
    let mut family = text.family(
        "weir_kafka_request_duration_seconds",
        Kind::Histogram,
        "Time from a Kafka request's frame to its encoded response, by API (Fetch includes \
         its long poll).",
    );
    // Only APIs that were called: 20 lines of zeros each would say nothing.
    for (name, api) in apis.iter().filter(|(_, api)| api.requests() > 0) {
        family.histogram(&[("api", name)], &api.latency());
    }
    text.family("weir_kafka_connections_open", Kind::Gauge, "Kafka client connections open.")
        .sample(&[], metrics.connections_open());
    text.family(
        "weir_kafka_connections_total",
        Kind::Counter,
        "Kafka client connections accepted.",
    )
    .sample(&[], metrics.connections_opened());
    text.family(
        "weir_kafka_connections_refused_total",
        Kind::Counter,
        "Kafka client connections closed at once because --max-connections were open.",
    )
    .sample(&[], metrics.connections_refused());
}

fn cleaner(text: &mut Exposition, totals: &CleanerTotals) {
    let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
    let families = [
        ("weir_log_cleaner_passes_total", "Compactions that cleaned something.", &totals.passes),
        (
            "weir_log_cleaner_segments_total",
            "Segments compacted (rewritten or removed).",
            &totals.segments,
        ),
        (
            "weir_log_cleaner_bytes_read_total",
            "Bytes of the segments compacted, before.",
            &totals.bytes_before,
        ),
        (
            "weir_log_cleaner_bytes_written_total",
            "Bytes of the segments compacted, after.",
            &totals.bytes_after,
        ),
        (
            "weir_log_cleaner_records_removed_total",
            "Records compaction removed.",
            &totals.records_removed,
        ),
        (
            "weir_log_cleaner_errors_total",
            "Compactions that failed (the log is left as it was).",
            &totals.errors,
        ),
    ];
    for (name, help, value) in families {
        text.family(name, Kind::Counter, help).sample(&[], get(value));
    }
}

fn groups(text: &mut Exposition, broker: &Broker) {
    let listed = broker.groups.list_groups();
    let mut family = text.family(
        "weir_group_members",
        Kind::Gauge,
        "Members of a consumer group (processors have none: they commit without joining).",
    );
    for group in &listed {
        let members = broker.groups.describe_group(&group.group_id).members.len();
        family.sample(&[("group", &group.group_id)], members as u64);
    }
    // (group, topic, partition, committed, lag if the partition exists)
    let mut offsets = Vec::new();
    for group in &listed {
        for (tp, committed) in broker.groups.offsets().group_offsets(&group.group_id) {
            let partition = u32::try_from(tp.partition).ok();
            let log = partition.and_then(|p| broker.storage.partition(&tp.topic, p));
            let lag = log.map(|l| (l.high_watermark() as i64 - committed.offset.max(0)).max(0));
            offsets.push((&group.group_id, tp, committed.offset, lag));
        }
    }
    let mut family = text.family(
        "weir_group_committed_offset",
        Kind::Gauge,
        "The offset a consumer group committed: the next one it will read.",
    );
    for (group, tp, committed, _) in &offsets {
        let labels: [(&str, &dyn std::fmt::Display); 3] =
            [("group", group), ("topic", &tp.topic), ("partition", &tp.partition)];
        family.sample(&labels, *committed);
    }
    let mut family = text.family(
        "weir_group_lag",
        Kind::Gauge,
        "Records a consumer group has yet to read: high watermark minus committed offset.",
    );
    for (group, tp, _, lag) in &offsets {
        let Some(lag) = lag else { continue };
        let labels: [(&str, &dyn std::fmt::Display); 3] =
            [("group", group), ("topic", &tp.topic), ("partition", &tp.partition)];
        family.sample(&labels, *lag);
    }
}

fn processors(text: &mut Exposition, processors: &[ProcessorInfo]) {
    type Get = fn(&PartitionStatus) -> f64;
    let families: [(&str, Kind, &str, Get); 9] = [
        (
            "weir_processor_records_in_total",
            Kind::Counter,
            "Input records a processor's worker processed and committed.",
            |p| p.records_in as f64,
        ),
        (
            "weir_processor_records_out_total",
            Kind::Counter,
            "Records a processor's worker emitted to its output topics.",
            |p| p.records_out as f64,
        ),
        (
            "weir_processor_errors_total",
            Kind::Counter,
            "Failed calls of a processor (traps, deadline, limits, errors it returned).",
            |p| p.errors as f64,
        ),
        (
            "weir_processor_dead_lettered_total",
            Kind::Counter,
            "Records a processor's worker sent to its dead-letter topic.",
            |p| p.dead_lettered as f64,
        ),
        (
            "weir_processor_batches_total",
            Kind::Counter,
            "Batches a processor's worker committed.",
            |p| p.batches as f64,
        ),
        (
            "weir_processor_processing_seconds_total",
            Kind::Counter,
            "Time spent inside a processor's process calls.",
            |p| p.process_micros as f64 / 1e6,
        ),
        (
            "weir_processor_last_batch_seconds",
            Kind::Gauge,
            "Duration of a worker's last committed batch: read, process, append, commit.",
            |p| p.last_batch_micros as f64 / 1e6,
        ),
        (
            "weir_processor_memory_bytes",
            Kind::Gauge,
            "Linear memory of a processor's instance.",
            |p| p.memory_bytes as f64,
        ),
        (
            "weir_processor_lag",
            Kind::Gauge,
            "Input records a processor's worker has yet to process.",
            |p| p.lag as f64,
        ),
    ];
    for (name, kind, help, get) in families {
        let mut family = text.family(name, kind, help);
        for info in processors {
            for p in &info.status.partitions {
                family.sample(
                    &[("processor", &info.status.name), ("partition", &p.partition)],
                    get(p),
                );
            }
        }
    }
    let states = [
        (ProcessorState::Running, "running"),
        (ProcessorState::Paused, "paused"),
        (ProcessorState::Degraded, "degraded"),
        (ProcessorState::Stopped, "stopped"),
    ];
    let mut family = text.family(
        "weir_processor_state",
        Kind::Gauge,
        "1 for a processor's current state (running, paused, degraded, stopped), 0 for the others.",
    );
    for info in processors {
        for (state, label) in &states {
            let value = u64::from(info.status.state == *state);
            family.sample(&[("processor", &info.status.name), ("state", label)], value);
        }
    }
}

fn process(text: &mut Exposition, metrics: &Metrics) {
    text.family("weir_uptime_seconds", Kind::Gauge, "Seconds since the broker started.")
        .sample(&[], metrics.uptime().as_secs_f64());
    text.family(
        "weir_start_time_seconds",
        Kind::Gauge,
        "When the broker started, in seconds since the Unix epoch.",
    )
    .sample(&[], metrics.start_time_seconds());
    if let Some(bytes) = resident_memory_bytes() {
        text.family(
            "weir_process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory of the broker process.",
        )
        .sample(&[], bytes);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        text.family(
            "weir_process_open_fds",
            Kind::Gauge,
            "File descriptors the broker process has open (sockets and segment files).",
        )
        .sample(&[], fds.count() as u64);
    }
    text.family("weir_build_info", Kind::Gauge, "The broker's version, as a label; always 1.")
        .sample(&[("version", &env!("CARGO_PKG_VERSION"))], 1u64);
}

/// VmRSS from /proc/self/status (Linux); None elsewhere.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
