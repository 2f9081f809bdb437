//! `weir perf produce`: N records as fast as allowed (or at `--throughput`), with a
//! progress line every 5 s and a last line of throughput and latency percentiles,
//! as Kafka's `kafka-producer-perf-test` prints them. Latency is from queueing a
//! record to its delivery report.
//!
//! Records are queued up to 1000 at a time with librdkafka's batch produce call
//! (one partition per call, rotating), and delivery reports are served on the
//! producer's own polling thread: the sending thread of a one-record-at-a-time
//! loop, not the broker, was the limit (about 1M records/s here).

use std::ffi::{CString, c_int, c_void};
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use parking_lot::Mutex;
use rdkafka::ClientConfig;
use rdkafka::bindings;
use rdkafka::client::ClientContext;
use rdkafka::producer::{DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::util::Timeout;

use super::stats::{Latencies, Window, rates};
use super::{
    PROGRESS_EVERY, Pacer, Target, apply_props, parse_prop, parse_rate, partitions_of, payload,
};

/// Defaults tuned for throughput (librdkafka names); flags and --producer-props win.
const TUNED: &[(&str, &str)] = &[
    // Wait up to 5 ms to fill a batch (librdkafka's default, stated).
    ("linger.ms", "5"),
    // Batches of up to ~1 MB (under the broker's default max.message.bytes)...
    ("batch.size", "1000000"),
    // ...not cut at librdkafka's default of 10,000 records.
    ("batch.num.messages", "1000000"),
    // librdkafka's default, stated: enough queued records to keep batches full at
    // 2M records/s here; 5x more gave no more throughput, only 5x the queueing
    // latency of an unlimited run.
    ("queue.buffering.max.messages", "100000"),
];

/// Flags of `weir perf produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Broker and topic.
    #[command(flatten)]
    pub target: Target,
    /// How many records to produce.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    /// Bytes in each record's value (no key); the same random letters in every
    /// record.
    #[arg(long, value_name = "BYTES", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=16 * 1024 * 1024))]
    pub record_size: u32,
    /// Acknowledgements to wait for: 0 (none), 1 (the leader's) or all (every
    /// in-sync replica's; -1 is the same).
    #[arg(long, value_name = "ACKS", default_value = "1", value_parser = ["0", "1", "all", "-1"])]
    pub acks: String,
    /// Largest batch in bytes (librdkafka batch.size) [default: 1000000]
    #[arg(long, value_name = "BYTES")]
    pub batch_size: Option<u32>,
    /// How long to wait for a batch to fill (librdkafka linger.ms) [default: 5]
    #[arg(long, value_name = "MS")]
    pub linger_ms: Option<u32>,
    /// Batch compression [default: none]
    #[arg(long, value_name = "CODEC")]
    pub compression: Option<Compression>,
    /// Records per second to aim for; -1 for as fast as possible.
    #[arg(long, value_name = "RECORDS_PER_SEC", default_value = "-1", allow_negative_numbers = true, value_parser = parse_rate)]
    pub throughput: f64,
    /// Partitions of the topic, when this creates it.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: u32,
    /// Topic configs, when this creates the topic: e.g. `durability=sync` (fsync
    /// before acknowledging). Repeatable, or several after one flag.
    #[arg(long, value_name = "KEY=VALUE", num_args = 1.., value_parser = parse_prop)]
    pub topic_config: Vec<(String, String)>,
    /// librdkafka producer settings, e.g. `enable.idempotence=true`; they win over
    /// the defaults and the flags above. Repeatable, or several after one flag.
    #[arg(long, value_name = "KEY=VALUE", num_args = 1.., value_parser = parse_prop)]
    pub producer_props: Vec<(String, String)>,
}

/// Batch compression codecs (librdkafka compression.codec).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

/// Counts kept by the delivery-report callback.
#[derive(Debug)]
struct Tally {
    /// Send-to-report latencies of delivered records.
    latencies: Latencies,
    /// The current progress interval.
    window: Window,
    /// When it began.
    window_start: Instant,
    /// Records the broker acknowledged.
    delivered: u64,
    /// Records that failed.
    failed: u64,
    /// The first failure, to show.
    first_error: Option<String>,
}

/// The producer's context: receives delivery reports, on the producer's polling
/// thread, so that serving them does not slow the sending thread.
#[derive(Debug)]
struct Reports {
    /// Time zero: each record's opaque is its send time in nanoseconds since this.
    epoch: Instant,
    /// Bytes per record, for MB/s.
    record_bytes: u64,
    /// The counts; the lock is taken by the polling thread (and once at the end).
    tally: Mutex<Tally>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now = Instant::now();
        let latency =
            now.duration_since(self.epoch).saturating_sub(Duration::from_nanos(sent_ns as u64));
        let mut tally = self.tally.lock();
        match result {
            Ok(_) => {
                tally.delivered += 1;
                tally.latencies.record(latency);
                tally.window.record(self.record_bytes, latency);
            }
            Err((e, _)) => {
                tally.failed += 1;
                if tally.first_error.is_none() {
                    tally.first_error = Some(e.to_string());
                }
            }
        }
        let elapsed = now.duration_since(tally.window_start);
        if elapsed >= PROGRESS_EVERY {
            println!("{}", tally.window.line("sent", elapsed));
            tally.window = Window::default();
            tally.window_start = now;
        }
    }
}

/// Runs the measurement (blocking).
pub fn run(args: &ProduceArgs) -> anyhow::Result<()> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &args.target.bootstrap).set("client.id", "weir-perf-produce");
    for (key, value) in TUNED {
        config.set(*key, *value);
    }
    config.set("acks", &args.acks);
    if let Some(bytes) = args.batch_size {
        config.set("batch.size", bytes.to_string());
    }
    if let Some(ms) = args.linger_ms {
        config.set("linger.ms", ms.to_string());
    }
    if let Some(codec) = args.compression {
        let name = codec.to_possible_value().map(|v| v.get_name().to_string());
        config.set("compression.codec", name.unwrap_or_default());
    }
    apply_props(&mut config, &args.producer_props);

    let payload = payload(args.record_size as usize);
    let epoch = Instant::now();
    let reports = Reports {
        epoch,
        record_bytes: payload.len() as u64,
        tally: Mutex::new(Tally {
            latencies: Latencies::new(args.records),
            window: Window::default(),
            window_start: epoch,
            delivered: 0,
            failed: 0,
            first_error: None,
        }),
    };
    let producer: ThreadedProducer<Reports> =
        config.create_with_context(reports).context("creating the producer")?;
    let partitions = partitions_of(producer.client(), &args.target)?;
    let topic = TopicHandle::new(&producer, &args.target.topic)?;
    eprintln!(
        "producing {} records of {} bytes to {} at {} (acks={})",
        args.records, args.record_size, args.target.topic, args.target.bootstrap, args.acks
    );

    let pacer = Pacer::new((args.throughput > 0.0).then_some(args.throughput));
    let start = Instant::now();
    producer.context().tally.lock().window_start = start;
    let mut slots = Vec::with_capacity(BATCH);
    let mut sent = 0;
    // Each batch goes to the next partition, as librdkafka's sticky partitioner
    // does for records without keys.
    for partition in partitions.iter().cycle() {
        if sent == args.records {
            break;
        }
        let mut due = pacer.due();
        if due <= sent {
            std::thread::sleep(pacer.wait(sent));
            due = pacer.due();
        }
        let count = (args.records - sent).min(due.saturating_sub(sent)).clamp(1, BATCH as u64);
        topic.queue(*partition, &payload, count as usize, epoch, &mut slots)?;
        sent += count;
    }
    // Waits for every delivery report: success, or failure at message.timeout.ms.
    producer.flush(Timeout::Never).context("waiting for the last delivery reports")?;
    let elapsed = start.elapsed();

    let mut tally = producer.context().tally.lock();
    let (rps, mbps) = rates(tally.delivered, tally.delivered * payload.len() as u64, elapsed);
    let summary = tally.latencies.summary();
    println!(
        "{} records sent, {rps:.1} records/sec ({mbps:.2} MB/sec), {summary}.",
        tally.delivered
    );
    if tally.failed > 0 {
        bail!(
            "{} of {} records were not delivered; the first error: {}",
            tally.failed,
            args.records,
            tally.first_error.as_deref().unwrap_or("unknown")
        );
    }
    Ok(())
}

/// Records queued to librdkafka per call at most.
const BATCH: usize = 1000;

/// A librdkafka topic handle, for its batch produce call: rust-rdkafka wraps only
/// the one-record `producev`, which copies the topic name and looks the topic up
/// for every record, and here spends twice as long per record as this.
#[derive(Debug)]
struct TopicHandle<'a> {
    /// The handle, released on drop.
    rkt: *mut bindings::rd_kafka_topic_t,
    /// The producer it belongs to, borrowed so that it outlives the handle.
    producer: PhantomData<&'a ThreadedProducer<Reports>>,
}

impl<'a> TopicHandle<'a> {
    fn new(
        producer: &'a ThreadedProducer<Reports>,
        topic: &str,
    ) -> anyhow::Result<TopicHandle<'a>> {
        let name = CString::new(topic)?;
        // SAFETY: the client handle is valid while `producer` lives (the borrow
        // in the result), `name` is a NUL-terminated string that librdkafka
        // copies, and a null config means the defaults.
        let rkt = unsafe {
            bindings::rd_kafka_topic_new(
                producer.client().native_ptr(),
                name.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        if rkt.is_null() {
            bail!("librdkafka refused a handle for topic {topic}");
        }
        Ok(TopicHandle { rkt, producer: PhantomData })
    }

    /// Queues `count` copies of `payload` to `partition` in one call, each with
    /// the send time (nanoseconds since `epoch`) as its delivery opaque; waits
    /// while librdkafka's queue is full.
    fn queue(
        &self,
        partition: i32,
        payload: &[u8],
        count: usize,
        epoch: Instant,
        slots: &mut Vec<bindings::rd_kafka_message_t>,
    ) -> anyhow::Result<()> {
        let message = |sent_ns: usize| bindings::rd_kafka_message_t {
            err: RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR,
            rkt: std::ptr::null_mut(),
            partition,
            // Only read: RD_KAFKA_MSG_F_COPY makes librdkafka copy it.
            payload: payload.as_ptr().cast_mut().cast(),
            len: payload.len(),
            key: std::ptr::null_mut(),
            key_len: 0,
            offset: 0,
            _private: sent_ns as *mut c_void,
        };
        let sent_ns = epoch.elapsed().as_nanos() as usize;
        slots.clear();
        slots.resize_with(count, || message(sent_ns));
        loop {
            // SAFETY: `rkt` is valid (see `new`); `slots` holds `slots.len()`
            // initialized messages whose payloads librdkafka copies (F_COPY) and
            // whose `err` fields it sets; it keeps no pointer into `slots`.
            let queued = unsafe {
                bindings::rd_kafka_produce_batch(
                    self.rkt,
                    partition,
                    bindings::RD_KAFKA_MSG_F_COPY,
                    slots.as_mut_ptr(),
                    slots.len() as c_int,
                )
            };
            if queued as usize == slots.len() {
                return Ok(());
            }
            // Keep the records that were not queued; wait if the queue is full.
            slots.retain(|m| m.err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR);
            for m in slots.iter() {
                let code = RDKafkaErrorCode::from(m.err);
                if code != RDKafkaErrorCode::QueueFull {
                    bail!("queueing records failed: {code}");
                }
            }
            std::thread::sleep(Duration::from_micros(500));
            let sent_ns = epoch.elapsed().as_nanos() as usize;
            slots.iter_mut().for_each(|m| *m = message(sent_ns));
        }
    }
}

impl Drop for TopicHandle<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle from `rd_kafka_topic_new`, released once, while the
        // producer is still alive (borrowed).
        unsafe { bindings::rd_kafka_topic_destroy(self.rkt) };
    }
}
