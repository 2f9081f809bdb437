//! `weir perf e2e`: a producer sends at a fixed rate while a consumer in the same
//! process reads the topic; each record carries its send time (monotonic clock,
//! shared by both), so the consumer measures produce-to-consume latency per record,
//! as Kafka's `EndToEndLatency` does (but paced rather than one at a time).
//!
//! Record value layout (little-endian), then filler up to `--record-size`:
//!
//! | bytes | field   | meaning                                              |
//! |-------|---------|------------------------------------------------------|
//! | 0..8  | run     | random per run: records of other runs are skipped    |
//! | 8..16 | seq     | record number; `u64::MAX` for warm-up records        |
//! | 16..24| sent_ns | send time, nanoseconds since the run's start         |

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::stats::{Latencies, rates};
use super::{
    ADMIN_TIMEOUT, Pacer, Target, apply_props, parse_prop, partitions_of, payload, random_u64,
};

/// Bytes of the header each record starts with.
const HEADER: usize = 24;

/// The `seq` of warm-up records, sent until the consumer sees one.
const WARMUP: u64 = u64::MAX;

/// How long the consumer may take to see the first warm-up record.
const WARMUP_LIMIT: Duration = Duration::from_secs(15);

/// Flags of `weir perf e2e`.
#[derive(Debug, Args)]
pub struct E2eArgs {
    /// Broker and topic.
    #[command(flatten)]
    pub target: Target,
    /// How many records to measure (after a short warm-up).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    /// Records per second the producer sends, evenly paced.
    #[arg(long, value_name = "RECORDS_PER_SEC", allow_negative_numbers = true, value_parser = parse_fixed_rate)]
    pub rate: f64,
    /// Bytes in each record's value, at least 24 (the send time and ids).
    #[arg(long, value_name = "BYTES", default_value_t = 100, value_parser = parse_record_size)]
    pub record_size: u32,
    /// How long the producer waits to fill a batch (librdkafka linger.ms).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub linger_ms: u32,
    /// Give up when no record arrives for this long.
    #[arg(long, value_name = "MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
    /// Topic configs, when this creates the topic: e.g. `durability=sync`.
    #[arg(long, value_name = "KEY=VALUE", num_args = 1.., value_parser = parse_prop)]
    pub topic_config: Vec<(String, String)>,
    /// librdkafka producer settings (default acks=1); they win over the flags.
    #[arg(long, value_name = "KEY=VALUE", num_args = 1.., value_parser = parse_prop)]
    pub producer_props: Vec<(String, String)>,
    /// librdkafka consumer settings; they win over the defaults.
    #[arg(long, value_name = "KEY=VALUE", num_args = 1.., value_parser = parse_prop)]
    pub consumer_props: Vec<(String, String)>,
}

/// A record size that fits the header.
fn parse_record_size(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n as usize >= HEADER && n <= 16 * 1024 * 1024 => Ok(n),
        _ => Err(format!(
            "'{s}' is not a record size from {HEADER} (the send time and ids) to 16777216 bytes"
        )),
    }
}

/// A rate in records per second above zero.
fn parse_fixed_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(format!("'{s}' is not a rate: give records per second (> 0)")),
    }
}

/// The producer's context: counts failed deliveries.
#[derive(Debug, Default)]
struct Failures {
    /// (failed records, the first error).
    seen: Mutex<(u64, Option<String>)>,
}

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            let mut seen = self.seen.lock();
            seen.0 += 1;
            seen.1.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Runs the measurement (blocking).
pub fn run(args: &E2eArgs) -> anyhow::Result<()> {
    let target = &args.target;
    let mut consumer_config = ClientConfig::new();
    consumer_config
        .set("bootstrap.servers", &target.bootstrap)
        .set("client.id", "weir-perf-e2e")
        // librdkafka's assign needs a group id; no group is joined or committed to.
        .set("group.id", format!("weir-perf-e2e-{:016x}", random_u64()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("socket.nagle.disable", "true");
    apply_props(&mut consumer_config, &args.consumer_props);
    let consumer: BaseConsumer = consumer_config.create().context("creating the consumer")?;
    // Start at each partition's end: only this run's records are read.
    let mut assignment = TopicPartitionList::new();
    for p in partitions_of(consumer.client(), target)? {
        let (_, high) = consumer
            .fetch_watermarks(&target.topic, p, ADMIN_TIMEOUT)
            .with_context(|| format!("asking for the end of {}-{p}", target.topic))?;
        assignment.add_partition_offset(&target.topic, p, Offset::Offset(high))?;
    }
    consumer.assign(&assignment).context("assigning the topic's partitions")?;

    let mut producer_config = ClientConfig::new();
    producer_config
        .set("bootstrap.servers", &target.bootstrap)
        .set("client.id", "weir-perf-e2e")
        .set("acks", "1")
        .set("linger.ms", args.linger_ms.to_string())
        .set("socket.nagle.disable", "true");
    apply_props(&mut producer_config, &args.producer_props);
    let producer: BaseProducer<Failures> = producer_config
        .create_with_context(Failures::default())
        .context("creating the producer")?;

    let run_id = random_u64();
    let epoch = Instant::now();
    let live = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let idle_limit = Duration::from_millis(args.timeout_ms);
    let (sent, latencies) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let result = read(&consumer, run_id, epoch, args.records, &live, &stop, idle_limit);
            stop.store(true, Ordering::Relaxed);
            result
        });
        let sent = send(&producer, args, run_id, epoch, &live, &stop);
        if sent.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let read = reader.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the consumer panicked")));
        (sent, read)
    });
    let (send_elapsed, sent_count) = sent?;
    let mut latencies = latencies?;

    let (failed, first_error) = producer.context().seen.lock().clone();
    let (send_rate, _) = rates(sent_count, 0, send_elapsed);
    let summary = latencies.summary();
    println!(
        "{} records at {:.1} records/sec (sent at {send_rate:.1}), end-to-end {summary}.",
        summary.count, args.rate
    );
    if failed > 0 {
        bail!(
            "{failed} records were not delivered; the first error: {}",
            first_error.as_deref().unwrap_or("unknown")
        );
    }
    Ok(())
}

/// Warms up, then sends `args.records` records at `args.rate`; returns how long
/// the paced sending took and how many records it sent.
fn send(
    producer: &BaseProducer<Failures>,
    args: &E2eArgs,
    run_id: u64,
    epoch: Instant,
    live: &AtomicBool,
    stop: &AtomicBool,
) -> anyhow::Result<(Duration, u64)> {
    let topic = args.target.topic.as_str();
    let mut value = payload(args.record_size as usize);
    value[..8].copy_from_slice(&run_id.to_le_bytes());
    let mut send_one = |seq: u64| -> anyhow::Result<()> {
        loop {
            let sent_ns = epoch.elapsed().as_nanos() as u64;
            value[8..16].copy_from_slice(&seq.to_le_bytes());
            value[16..24].copy_from_slice(&sent_ns.to_le_bytes());
            match producer.send(BaseRecord::<(), [u8], ()>::to(topic).payload(value.as_slice())) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(1))
                }
                Err((e, _)) => bail!("queueing a record failed: {e}"),
            }
        }
    };

    // Warm-up: connections made, the consumer fetching at the end of the log.
    let warmup = Instant::now();
    while !live.load(Ordering::Relaxed) {
        if stop.load(Ordering::Relaxed) {
            bail!("the consumer stopped during the warm-up");
        }
        if warmup.elapsed() > WARMUP_LIMIT {
            bail!(
                "the consumer saw none of the warm-up records within {} s: is {} readable?",
                WARMUP_LIMIT.as_secs(),
                args.target.topic
            );
        }
        send_one(WARMUP)?;
        producer.flush(Duration::from_secs(5)).context("delivering a warm-up record")?;
        pause(producer, Duration::from_millis(10));
    }
    eprintln!(
        "warmed up in {:.0} ms; sending {} records of {} bytes at {} records/sec",
        warmup.elapsed().as_secs_f64() * 1000.0,
        args.records,
        args.record_size,
        args.rate
    );

    let pacer = Pacer::new(Some(args.rate));
    let start = Instant::now();
    for seq in 0..args.records {
        let wait = pacer.wait(seq);
        if !wait.is_zero() {
            pause(producer, wait);
        }
        if stop.load(Ordering::Relaxed) {
            bail!("the consumer stopped after {seq} records were sent");
        }
        send_one(seq)?;
        if seq % 16 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    let elapsed = start.elapsed();
    producer.flush(Timeout::Never).context("waiting for the last delivery reports")?;
    Ok((elapsed, args.records))
}

/// Reads until `records` measured records of this run have arrived; returns their
/// latencies.
fn read(
    consumer: &BaseConsumer,
    run_id: u64,
    epoch: Instant,
    records: u64,
    live: &AtomicBool,
    stop: &AtomicBool,
    idle_limit: Duration,
) -> anyhow::Result<Latencies> {
    let mut latencies = Latencies::new(records);
    let mut last_at = Instant::now();
    while latencies.count() < records {
        if stop.load(Ordering::Relaxed) {
            bail!("stopped: the producer failed");
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let now = Instant::now();
                last_at = now;
                let Some((run, seq, sent_ns)) = message.payload().and_then(header) else {
                    continue;
                };
                if run != run_id {
                    continue;
                }
                if seq == WARMUP {
                    live.store(true, Ordering::Relaxed);
                } else {
                    let sent = Duration::from_nanos(sent_ns);
                    latencies.record(now.duration_since(epoch).saturating_sub(sent));
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {
                if last_at.elapsed() >= idle_limit {
                    bail!(
                        "{} of {records} records arrived, then none for {} ms",
                        latencies.count(),
                        idle_limit.as_millis()
                    );
                }
            }
            Some(Err(e)) => bail!("consuming failed after {} records: {e}", latencies.count()),
        }
    }
    Ok(latencies)
}

/// (run, seq, sent_ns) from a record value, if it is long enough.
fn header(value: &[u8]) -> Option<(u64, u64, u64)> {
    let field = |at: usize| Some(u64::from_le_bytes(value.get(at..at + 8)?.try_into().ok()?));
    Some((field(0)?, field(8)?, field(16)?))
}

/// Waits `wait` while serving delivery reports. librdkafka's poll waits in whole
/// milliseconds (shorter ones would spin), so shorter waits sleep first.
fn pause<C: ProducerContext>(producer: &BaseProducer<C>, wait: Duration) {
    if wait >= Duration::from_millis(1) {
        producer.poll(wait);
    } else {
        std::thread::sleep(wait);
        producer.poll(Duration::ZERO);
    }
}
