//! `weir perf consume`: N records from the start of a topic, with a progress line
//! every 5 s and a last line of throughput, as Kafka's `kafka-consumer-perf-test`
//! reports it. Without `--group` every partition is assigned from offset 0 and no
//! group is joined; with it, the consumer subscribes as that group's member.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rdkafka::bindings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::stats::{Window, rates};
use super::{PROGRESS_EVERY, Target, apply_props, parse_prop, partitions_of, random_u64};

/// Defaults tuned for throughput (librdkafka names); --consumer-props win.
const TUNED: &[(&str, &str)] = &[
    // Bigger fetches per partition (default 1 MiB): fewer round trips.
    ("max.partition.fetch.bytes", "8388608"),
    // Keep more fetched records queued ahead of the application (default 100,000).
    ("queued.min.messages", "1000000"),
];

/// Flags of `weir perf consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Broker and topic.
    #[command(flatten)]
    pub target: Target,
    /// How many records to consume; fails if fewer arrive.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    /// Join this consumer group (subscribe, committing offsets) instead of
    /// assigning every partition from offset 0; a new group starts at the
    /// earliest offset. Records are then taken one per poll, which is slower.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Give up when no record arrives for this long (Kafka's --timeout).
    #[arg(long, value_name = "MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
    /// librdkafka consumer settings, e.g. `fetch.max.bytes=104857600`; they win
    /// over the defaults. Repeatable, or several after one flag.
    #[arg(long, value_name = "KEY=VALUE", num_args = 1.., value_parser = parse_prop)]
    pub consumer_props: Vec<(String, String)>,
}

/// Runs the measurement (blocking).
pub fn run(args: &ConsumeArgs) -> anyhow::Result<()> {
    let target = &args.target;
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &target.bootstrap).set("client.id", "weir-perf-consume");
    for (key, value) in TUNED {
        config.set(*key, *value);
    }
    match &args.group {
        Some(group) => {
            config.set("group.id", group).set("auto.offset.reset", "earliest");
        }
        None => {
            // librdkafka's assign needs a group id, though it joins no group with
            // it; nothing is committed.
            config
                .set("group.id", format!("weir-perf-{:016x}", random_u64()))
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false");
        }
    }
    apply_props(&mut config, &args.consumer_props);
    let consumer: BaseConsumer = config.create().context("creating the consumer")?;
    let partitions = partitions_of(consumer.client(), target)?;

    let start = Instant::now();
    match &args.group {
        Some(group) => consumer
            .subscribe(&[&target.topic])
            .with_context(|| format!("joining group {group}"))?,
        None => {
            let mut assignment = TopicPartitionList::new();
            for p in &partitions {
                assignment.add_partition_offset(&target.topic, *p, Offset::Beginning)?;
            }
            consumer.assign(&assignment).context("assigning the topic's partitions")?;
        }
    }
    eprintln!(
        "consuming {} records from {} ({} partitions) at {}",
        args.records,
        target.topic,
        partitions.len(),
        target.bootstrap
    );

    let idle_limit = Duration::from_millis(args.timeout_ms);
    let mut batches = match args.group {
        None => Some(BatchQueue::new(&consumer)?),
        Some(_) => None,
    };
    let mut progress = Progress::new(start);
    while progress.count < args.records {
        let (records, bytes) = match &mut batches {
            Some(queue) => queue.next(POLL_WAIT, args.records - progress.count)?,
            None => match consumer.poll(POLL_WAIT) {
                Some(Ok(message)) => {
                    (1, (message.payload_len() + message.key().map_or(0, <[u8]>::len)) as u64)
                }
                Some(Err(KafkaError::PartitionEOF(_))) | None => (0, 0),
                Some(Err(e)) => Err(e)?,
            },
        };
        let now = Instant::now();
        progress.add(records, bytes, now);
        if now.duration_since(progress.last_at) >= idle_limit {
            bail!(
                "only {} of {} records arrived: none for {} ms (does {} hold that many? \
                 produce them with `weir perf produce`, or raise --timeout-ms)",
                progress.count,
                args.records,
                args.timeout_ms,
                target.topic
            );
        }
    }
    drop(batches);
    let Progress { count, bytes, first_at, last_at, .. } = progress;
    let elapsed = last_at.duration_since(start);
    let (rps, mbps) = rates(count, bytes, elapsed);
    let first = first_at.unwrap_or(last_at);
    let (fetch_rps, fetch_mbps) = rates(count, bytes, last_at.duration_since(first));
    println!(
        "{count} records consumed ({:.2} MB) in {:.3} s, {rps:.1} records/sec ({mbps:.2} MB/sec); \
         first record after {:.1} ms, then {fetch_rps:.1} records/sec ({fetch_mbps:.2} MB/sec).",
        bytes as f64 / (1024.0 * 1024.0),
        elapsed.as_secs_f64(),
        first.duration_since(start).as_secs_f64() * 1000.0,
    );
    Ok(())
}

/// How long one poll waits for records.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// Records per batch read from librdkafka at most.
const BATCH: usize = 10_000;

/// Counts of one run, and its progress lines.
#[derive(Debug)]
struct Progress {
    /// Records consumed.
    count: u64,
    /// Their bytes (keys and values).
    bytes: u64,
    /// When the first arrived.
    first_at: Option<Instant>,
    /// When the last arrived (the start until one does).
    last_at: Instant,
    /// The current progress interval.
    window: Window,
    /// When it began.
    window_start: Instant,
}

impl Progress {
    fn new(start: Instant) -> Progress {
        let window = Window::default();
        Progress { count: 0, bytes: 0, first_at: None, last_at: start, window, window_start: start }
    }

    /// Adds what one poll returned at `now`, printing a progress line every 5 s.
    fn add(&mut self, records: u64, bytes: u64, now: Instant) {
        if records > 0 {
            self.count += records;
            self.bytes += bytes;
            self.window.records += records;
            self.window.bytes += bytes;
            self.first_at.get_or_insert(now);
            self.last_at = now;
        }
        let elapsed = now.duration_since(self.window_start);
        if elapsed >= PROGRESS_EVERY {
            let (rps, mbps) = rates(self.window.records, self.window.bytes, elapsed);
            println!("{} records consumed, {rps:.1} records/sec ({mbps:.2} MB/sec).", self.count);
            self.window = Window::default();
            self.window_start = now;
        }
    }
}

/// The consumer's queue, read many records per call with librdkafka's
/// `rd_kafka_consume_batch_queue` (what confluent-kafka's `consume(num_messages)`
/// uses). rust-rdkafka wraps only the one-record poll, which here costs 2.6 times
/// as much per record, mostly in hand-offs between librdkafka's fetch thread and
/// this one. Only for assigned partitions: outside a group, no rebalance events
/// come through this queue (librdkafka would answer them with an unassign).
#[derive(Debug)]
struct BatchQueue<'a> {
    /// The consumer the queue belongs to, borrowed so that it outlives the queue.
    consumer: PhantomData<&'a BaseConsumer>,
    /// librdkafka's consumer queue, a reference released on drop.
    queue: *mut bindings::rd_kafka_queue_t,
    /// Room for one batch of message pointers.
    slots: Vec<*mut bindings::rd_kafka_message_t>,
}

impl<'a> BatchQueue<'a> {
    fn new(consumer: &'a BaseConsumer) -> anyhow::Result<BatchQueue<'a>> {
        // SAFETY: the client handle is valid while `consumer` lives, and the
        // borrow in the result keeps it alive while the queue reference is held.
        let queue =
            unsafe { bindings::rd_kafka_queue_get_consumer(consumer.client().native_ptr()) };
        if queue.is_null() {
            bail!("librdkafka gave no consumer queue (is group.id set?)");
        }
        Ok(BatchQueue { consumer: PhantomData, queue, slots: vec![std::ptr::null_mut(); BATCH] })
    }

    /// Waits up to `wait` for at most `limit` records; returns how many arrived
    /// and their bytes (keys and values), or the first error among them.
    fn next(&mut self, wait: Duration, limit: u64) -> anyhow::Result<(u64, u64)> {
        let room = self.slots.len().min(usize::try_from(limit).unwrap_or(usize::MAX));
        let wait_ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `queue` is valid (see `new`) and `slots` has room for `room`
        // pointers, of which librdkafka fills the first `n` with messages it
        // hands over to us.
        let n = unsafe {
            bindings::rd_kafka_consume_batch_queue(
                self.queue,
                wait_ms,
                self.slots.as_mut_ptr(),
                room,
            )
        };
        let (mut records, mut bytes, mut error) = (0, 0, None);
        for &message in &self.slots[..usize::try_from(n).unwrap_or(0)] {
            // SAFETY: `message` is one of the `n` valid messages just handed over;
            // it is read, then destroyed exactly once, and not used after.
            let (err, len, key_len) = unsafe {
                let m = &*message;
                let fields = (m.err, m.len, m.key_len);
                bindings::rd_kafka_message_destroy(message);
                fields
            };
            match RDKafkaErrorCode::from(err) {
                RDKafkaErrorCode::NoError => {
                    records += 1;
                    bytes += (len + key_len) as u64;
                }
                RDKafkaErrorCode::PartitionEOF => {}
                code => {
                    error.get_or_insert(code);
                }
            }
        }
        match error {
            Some(code) => bail!("consuming failed: {code}"),
            None => Ok((records, bytes)),
        }
    }
}

impl Drop for BatchQueue<'_> {
    fn drop(&mut self) {
        // SAFETY: the reference from `rd_kafka_queue_get_consumer`, released once;
        // the consumer is still alive (borrowed).
        unsafe { bindings::rd_kafka_queue_destroy(self.queue) };
    }
}
