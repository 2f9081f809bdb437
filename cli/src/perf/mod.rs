//! `weir perf`: load generators and latency probes in the manner of Kafka's
//! `kafka-producer-perf-test`, `kafka-consumer-perf-test` and `EndToEndLatency`,
//! driven by a real Kafka client (librdkafka, through the `rdkafka` crate), so the
//! figures are what Kafka clients see, against Weir or any Kafka broker.
//!
//! - `produce`: N records as fast as allowed; throughput and send-to-ack latency.
//! - `consume`: N records from the beginning; throughput.
//! - `e2e`: records at a fixed rate; produce-to-consume latency per record.
//!
//! Each runs its client loop on a blocking thread: librdkafka does its network work
//! on threads of its own, and the loops only queue, poll and count. `produce` and
//! `consume` hand records to and take them from librdkafka in batches, with its
//! own batch calls (`rd_kafka_produce_batch`, `rd_kafka_consume_batch_queue`,
//! through `rdkafka::bindings`, the only unsafe code here): the crate wraps only
//! the one-record calls, with which the client, not the broker, was the limit
//! (about 1M records/s produced, 0.7M consumed, on a 2-core machine).

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

pub mod consume;
pub mod e2e;
pub mod produce;
pub mod stats;

/// How often progress lines are printed, as Kafka's tools do.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How long to wait for the broker to answer a metadata or admin request.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags of `weir perf`.
#[derive(Debug, Args)]
pub struct PerfArgs {
    /// Which measurement.
    #[command(subcommand)]
    pub command: PerfCommand,
}

/// The measurements.
#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Produce N records as fast as allowed and report throughput and latency
    /// (queued to acknowledged), like kafka-producer-perf-test.
    Produce(produce::ProduceArgs),
    /// Consume N records from the start of a topic and report throughput, like
    /// kafka-consumer-perf-test.
    Consume(consume::ConsumeArgs),
    /// Produce at a fixed rate while consuming the same topic, and report the
    /// end-to-end latency of each record, like Kafka's EndToEndLatency.
    E2e(e2e::E2eArgs),
}

/// Where the broker is and which topic to use: the flags every measurement has.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The broker to measure: the global `--bootstrap` (HOST:PORT, or several
    /// separated by commas; `weir serve` prints its address as
    /// `kafka listening on HOST:PORT`).
    #[arg(skip)]
    pub bootstrap: String,
    /// The topic to use.
    #[arg(long, value_name = "TOPIC", value_parser = parse_topic)]
    pub topic: String,
}

/// Runs one measurement against the broker at `bootstrap` (the global option);
/// its report goes to stdout, librdkafka's logs to stderr.
pub async fn run(args: PerfArgs, bootstrap: &str) -> anyhow::Result<()> {
    match args.command {
        PerfCommand::Produce(mut args) => {
            args.target.bootstrap = bootstrap.to_string();
            check_broker(&args.target.bootstrap).await?;
            ensure_topic(&args.target, args.partitions, &args.topic_config).await?;
            blocking(move || produce::run(&args)).await
        }
        PerfCommand::Consume(mut args) => {
            args.target.bootstrap = bootstrap.to_string();
            check_broker(&args.target.bootstrap).await?;
            blocking(move || consume::run(&args)).await
        }
        PerfCommand::E2e(mut args) => {
            args.target.bootstrap = bootstrap.to_string();
            check_broker(&args.target.bootstrap).await?;
            ensure_topic(&args.target, 1, &args.topic_config).await?;
            blocking(move || e2e::run(&args)).await
        }
    }
}

async fn blocking(f: impl FnOnce() -> anyhow::Result<()> + Send + 'static) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(f).await.context("the measurement thread panicked")?
}

/// Fails fast, with what to do, when nothing listens at the bootstrap address
/// (librdkafka itself would retry quietly until a timeout).
async fn check_broker(bootstrap: &str) -> anyhow::Result<()> {
    let mut last_error = String::new();
    for server in bootstrap.split(',') {
        let connect = tokio::net::TcpStream::connect(server);
        match tokio::time::timeout(Duration::from_secs(3), connect).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last_error = format!("{server}: {e}"),
            Err(_) => last_error = format!("{server}: no answer within 3 s"),
        }
    }
    bail!(
        "no broker at {bootstrap} ({last_error}): start one with `weir serve` and pass the \
         address it prints (`kafka listening on HOST:PORT`) as --bootstrap"
    )
}

/// Creates the topic unless it exists, with `configs` (e.g. durability=sync).
async fn ensure_topic(
    target: &Target,
    partitions: u32,
    configs: &[(String, String)],
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &target.bootstrap).create()?;
    let mut topic = NewTopic::new(&target.topic, partitions as i32, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let options = AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .with_context(|| format!("creating topic {} on {}", target.topic, target.bootstrap))?;
    for result in results {
        match result {
            Ok(name) => eprintln!("created topic {name} ({partitions} partitions)"),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                if !configs.is_empty() {
                    eprintln!(
                        "topic {name} already exists: --topic-config is not applied to it \
                         (use a new topic name to get those settings)"
                    );
                }
            }
            Err((name, code)) => bail!("creating topic {name} failed: {code}"),
        }
    }
    Ok(())
}

/// The partitions of `topic`, from the broker's metadata.
fn partitions_of(
    client: &rdkafka::client::Client<impl rdkafka::ClientContext>,
    target: &Target,
) -> anyhow::Result<Vec<i32>> {
    let metadata = client
        .fetch_metadata(Some(&target.topic), ADMIN_TIMEOUT)
        .with_context(|| format!("asking {} for topic {}", target.bootstrap, target.topic))?;
    let topic = metadata.topics().iter().find(|t| t.name() == target.topic).ok_or_else(|| {
        anyhow!("{} sent no metadata for topic {}", target.bootstrap, target.topic)
    })?;
    if let Some(error) = topic.error() {
        bail!(
            "topic {} on {}: {} (produce to it first, e.g. with `weir perf produce`)",
            target.topic,
            target.bootstrap,
            RDKafkaErrorCode::from(error)
        );
    }
    let mut partitions: Vec<i32> = topic.partitions().iter().map(|p| p.id()).collect();
    partitions.sort_unstable();
    if partitions.is_empty() {
        bail!("topic {} on {} has no partitions", target.topic, target.bootstrap);
    }
    Ok(partitions)
}

/// Applies `props` (KEY=VALUE, librdkafka names) over `config`: they win over the
/// tool's defaults and its other flags.
fn apply_props(config: &mut ClientConfig, props: &[(String, String)]) {
    for (key, value) in props {
        config.set(key, value);
    }
}

/// Sends at a fixed rate: record `i` is due `i / rate` seconds after the start.
#[derive(Debug, Clone, Copy)]
struct Pacer {
    /// When record 0 was due.
    start: Instant,
    /// Seconds between records; None sends as fast as possible.
    interval: Option<f64>,
}

impl Pacer {
    /// A pacer at `rate` records per second (None: unlimited).
    fn new(rate: Option<f64>) -> Pacer {
        Pacer { start: Instant::now(), interval: rate.map(|r| 1.0 / r) }
    }

    /// How many records are due by now (counting record 0); all when unlimited.
    fn due(&self) -> u64 {
        match self.interval {
            None => u64::MAX,
            Some(interval) => (self.start.elapsed().as_secs_f64() / interval) as u64 + 1,
        }
    }

    /// How long until record `i` is due; zero when it is (or unlimited).
    fn wait(&self, i: u64) -> Duration {
        match self.interval {
            None => Duration::ZERO,
            Some(interval) => {
                let due = self.start + Duration::from_secs_f64(i as f64 * interval);
                due.saturating_duration_since(Instant::now())
            }
        }
    }
}

/// A payload of `size` random letters, made once and sent for every record, as
/// Kafka's producer perf test does.
fn payload(size: usize) -> Vec<u8> {
    let mut state = random_u64() | 1;
    (0..size)
        .map(|_| {
            // xorshift64: plenty for filler bytes.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'A' + (state % 26) as u8
        })
        .collect()
}

/// A random number, from the standard library's per-process hash keys.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

/// A Kafka topic name: 1 to 249 of `[a-zA-Z0-9._-]`.
fn parse_topic(s: &str) -> Result<String, String> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if s.is_empty() || s.len() > 249 || !s.chars().all(legal) || s == "." || s == ".." {
        return Err(format!(
            "'{s}' is not a topic name: use 1 to 249 letters, digits, '.', '_' or '-'"
        ));
    }
    Ok(s.to_string())
}

/// `KEY=VALUE`, both non-empty.
fn parse_prop(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() && !value.is_empty() => {
            Ok((key.to_string(), value.to_string()))
        }
        _ => Err(format!("'{s}' is not KEY=VALUE (e.g. linger.ms=10)")),
    }
}

/// A rate in records per second: -1 for unlimited, or a positive number.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r == -1.0 || (r > 0.0 && r.is_finite()) => Ok(r),
        _ => {
            Err(format!("'{s}' is not a rate: give records per second (> 0), or -1 for unlimited"))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> Result<PerfCommand, String> {
        let argv = ["weir", "perf"].iter().chain(args);
        match Cli::try_parse_from(argv) {
            Ok(Cli { command: Command::Perf(perf), global }) => {
                assert_eq!(global.bootstrap, "127.0.0.1:9092");
                Ok(perf.command)
            }
            Ok(other) => panic!("parsed as another command: {other:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    fn rejected(args: &[&str], wanted: &str) {
        match parse(args) {
            Ok(parsed) => panic!("{args:?} was accepted: {parsed:?}"),
            Err(message) => assert!(message.contains(wanted), "{args:?}: {message}"),
        }
    }

    #[test]
    fn good_flags_parse() {
        let parsed = parse(&[
            "produce",
            "--bootstrap",
            "127.0.0.1:9092",
            "--topic",
            "t",
            "--records",
            "10",
            "--record-size",
            "100",
            "--acks",
            "all",
            "--throughput",
            "-1",
            "--compression",
            "lz4",
            "--producer-props",
            "linger.ms=2",
            "batch.size=5",
            "--topic-config",
            "durability=sync",
        ])
        .unwrap();
        let PerfCommand::Produce(args) = parsed else { panic!("{parsed:?}") };
        assert_eq!(args.records, 10);
        assert_eq!(args.throughput, -1.0);
        assert_eq!(args.producer_props.len(), 2);
        assert_eq!(args.topic_config, [("durability".to_string(), "sync".to_string())]);
        assert!(parse(&["consume", "--topic", "t", "--records", "5"]).is_ok());
        assert!(parse(&["e2e", "--topic", "t", "--records", "5", "--rate", "1000"]).is_ok());
    }

    #[test]
    fn bad_flags_are_refused_with_what_to_do() {
        let base = ["--topic", "t", "--records", "10"];
        let with = |extra: &[&'static str], cmd: &'static str| {
            let mut args = vec![cmd];
            args.extend_from_slice(&base);
            args.extend_from_slice(extra);
            args
        };
        rejected(&with(&["--bootstrap", "localhost"], "produce"), "is not HOST:PORT");
        rejected(&with(&["--bootstrap", "localhost:0"], "produce"), "not a port from 1 to 65535");
        rejected(&with(&["--bootstrap", ":9092"], "consume"), "has no host");
        rejected(&with(&["--acks", "2"], "produce"), "possible values: 0, 1, all, -1");
        rejected(&with(&["--throughput", "0"], "produce"), "-1 for unlimited");
        rejected(&with(&["--compression", "brotli"], "produce"), "possible values");
        rejected(&with(&["--producer-props", "linger.ms"], "produce"), "is not KEY=VALUE");
        rejected(&with(&["--record-size", "0"], "produce"), "--record-size");
        rejected(&with(&["--rate", "1000", "--record-size", "8"], "e2e"), "--record-size");
        rejected(&with(&["--rate", "-1"], "e2e"), "records per second");
        rejected(&["produce", "--topic", "bad topic", "--records", "1"], "is not a topic name");
        rejected(&["produce", "--topic", "t"], "--records");
        rejected(&["consume", "--topic", "t", "--records", "ten"], "invalid digit");
    }

    #[test]
    fn pacer_spaces_records() {
        let pacer = Pacer::new(Some(10.0));
        assert_eq!(pacer.wait(0), Duration::ZERO);
        let wait = pacer.wait(10);
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(Pacer::new(None).wait(1_000_000), Duration::ZERO);
        assert_eq!(pacer.due(), 1);
        assert_eq!(Pacer::new(None).due(), u64::MAX);
    }
}
