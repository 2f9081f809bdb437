//! `weir demo`: the order pipeline of the README, on a single-node broker.
//!
//! 1. Starts a broker exactly as `weir serve` does (Kafka on 127.0.0.1:9092, the
//!    HTTP API on 127.0.0.1:8080, data in `./weir-demo-data`).
//! 2. Creates the pipeline's topics if missing: `orders` (3 partitions) and one
//!    output topic per processor.
//! 3. Deploys the five processors of `weir_examples::pipeline()` (inventory,
//!    payment, notification, analytics, fraud), unless a previous run did: then
//!    they resume from their offsets and state.
//! 4. Appends `--orders` generated `OrderPlaced` events to `orders` at `--rate`
//!    per second, keyed by order id and partitioned as Kafka's default
//!    partitioner would. The sequence continues where the topic ends, so a
//!    second run adds new orders rather than repeating old ones.
//! 5. Prints progress every second, then, once every processor has caught up, a
//!    summary; and keeps serving until ctrl-c (or exits, with `--exit`).
//!
//! Ctrl-c at any point stops cleanly: processors at a batch boundary, storage
//! closed.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use tokio::sync::watch;
use weir_examples::events::{self, InventoryEvent, PaymentEvent};
use weir_examples::generator::{GeneratorConfig, OrderGenerator};
use weir_runtime::partitioner::partition_for_key;
use weir_runtime::store::LogStore;
use weir_runtime::{Limits, Manifest, StartPosition};

use super::serve::{LogFormat, shutdown_signal};
use weir_broker::broker::Broker;
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::node::{Node, NodeConfig};
use weir_broker::processors::{BrokerStore, ProcessorInfo, Processors};
use weir_broker::topic::TopicSpec;

/// Flags of `weir demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The Kafka listener's address; port 0 picks a free port
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9092")]
    pub kafka_addr: SocketAddr,
    /// The HTTP API's address; port 0 picks a free port
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Where the demo's topics and processors are stored
    #[arg(long, value_name = "DIR", default_value = "weir-demo-data")]
    pub data_dir: PathBuf,
    /// Orders to generate in this run
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub orders: u64,
    /// Orders per second
    #[arg(long, value_name = "N", default_value_t = 2_000)]
    pub rate: u32,
    /// Seeds the generator: the same seed gives the same orders
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// Exit once the summary is printed, instead of serving until ctrl-c
    #[arg(long)]
    pub exit: bool,
    /// The broker's log on stderr: `text`, or `json` (one object per line)
    #[arg(long, env = "WEIR_LOG_FORMAT", value_name = "FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

/// Partitions of `orders`.
const ORDERS_PARTITIONS: u32 = 3;
/// How often the generator appends what is due.
const TICK: Duration = Duration::from_millis(10);
/// The most orders one tick appends, should it fall behind (batches stay small).
const MAX_PER_TICK: u64 = 2_000;
/// How long the processors may go without progress before the demo gives up
/// waiting for them to catch up.
const STALL: Duration = Duration::from_secs(60);

/// Runs the demo until ctrl-c or SIGTERM (or the summary, with `--exit`).
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if args.rate == 0 {
        bail!("--rate must be at least 1 order per second");
    }
    // From the start, ctrl-c or SIGTERM (or the end of an `--exit` run) stops
    // everything cleanly, the listeners first.
    let (stop, stopped) = watch::channel(false);
    let stop = Arc::new(stop);
    let signalled = Arc::clone(&stop);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = signalled.send(true);
    });
    let node = Node::start(NodeConfig {
        http_addr: Some(args.http_addr),
        kafka_addr: args.kafka_addr,
        ..NodeConfig::local(&args.data_dir)
    })
    .await?;
    let (broker, bound) = (Arc::clone(node.broker()), node.kafka_addr());
    let processors = Arc::clone(node.processors().expect("the demo's node hosts processors"));
    let http_bound = node.http_addr().expect("the demo's node serves HTTP");
    let outcome = match create_topics(&broker) {
        Ok(()) => pipeline(&broker, &processors, &args, stopped.clone()).await,
        Err(e) => Err(e),
    };
    if outcome.is_ok() && !args.exit && !*stopped.borrow() {
        println!(
            "still serving on {bound}: watch with kcat -b {bound} -t payments -C, \
             or open the web console at http://{http_bound}/ (ctrl-c to stop)"
        );
        std::io::stdout().flush()?;
        stop_requested(stopped.clone()).await;
    }
    let _ = stop.send(true);
    node.shutdown().await?;
    println!("stopped cleanly; run `weir demo` again to continue where this run stopped");
    outcome
}

/// Creates the pipeline's topics that are missing.
fn create_topics(broker: &Broker) -> anyhow::Result<()> {
    let outputs = weir_examples::pipeline().map(|d| d.outputs).concat();
    let topics =
        [(events::ORDERS, ORDERS_PARTITIONS)].into_iter().chain(outputs.iter().map(|t| (*t, 1)));
    for (name, partitions) in topics {
        if broker.storage.topic(name).is_none() {
            let spec = TopicSpec { name: name.to_owned(), partitions, configs: BTreeMap::new() };
            broker.storage.create_topic(spec).with_context(|| format!("creating topic {name}"))?;
            println!("created topic {name} ({partitions} partition{})", plural(partitions as u64));
        }
    }
    Ok(())
}

/// Deploys the pipeline's processors that are not deployed yet.
async fn deploy_pipeline(broker: &Broker, processors: &Arc<Processors>) -> anyhow::Result<()> {
    for d in weir_examples::pipeline() {
        if processors.get(d.name).is_ok() {
            // Its committed offsets, as Kafka tools see them.
            let offsets = broker.groups.fetch_offsets(d.name, None);
            let done: i64 = offsets.iter().filter_map(|(_, o)| o.as_ref()).map(|o| o.offset).sum();
            println!(
                "processor {} resumes from its offsets and state ({done} orders done)",
                d.name
            );
            continue;
        }
        let manifest = Manifest {
            name: d.name.to_owned(),
            input: d.input.to_owned(),
            outputs: d.outputs.iter().map(|t| t.to_string()).collect(),
            start: StartPosition::Earliest,
            limits: Limits::default(),
            on_error: Default::default(),
            config: d.config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        let registry = Arc::clone(processors);
        let deployed =
            tokio::task::spawn_blocking(move || registry.deploy(manifest, d.wasm)).await?;
        deployed.with_context(|| format!("deploying processor {}", d.name))?;
        println!("deployed processor {} ({} -> {})", d.name, d.input, d.outputs.join(", "));
    }
    Ok(())
}

/// Deploys, generates, reports; returns once every processor caught up with
/// every order (after printing the summary), or when a stop is requested.
async fn pipeline(
    broker: &Arc<Broker>,
    processors: &Arc<Processors>,
    args: &DemoArgs,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    deploy_pipeline(broker, processors).await?;
    let store = BrokerStore::new(Arc::clone(broker));
    let partitions = store.partitions(events::ORDERS)?;
    // Continue the sequence after the orders already in the topic: same seed,
    // so the generator replays them without appending, then goes on.
    let already = high_watermarks(&store, events::ORDERS)?.iter().sum::<u64>();
    let mut generator =
        OrderGenerator::new(GeneratorConfig { seed: args.seed, ..Default::default() });
    (0..already).for_each(|_| drop(generator.next_order()));
    let target = already + args.orders;
    println!(
        "producing {} orders to {} at {}/s (o-{:06} to o-{target:06})",
        args.orders,
        events::ORDERS,
        args.rate,
        already + 1
    );

    let start = Instant::now();
    let mut ticker = tokio::time::interval(TICK);
    let (mut produced, mut next_report) = (already, Duration::from_secs(1));
    let (mut last_done, mut last_progress) = (0, Instant::now());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => {}
        }
        if *stopped.borrow() {
            println!("stopping: {} of {} orders produced", produced - already, args.orders);
            return Ok(());
        }
        let elapsed = start.elapsed();
        let due = (elapsed.as_secs_f64() * f64::from(args.rate)) as u64;
        let due = already + due.min(args.orders);
        if due > produced {
            let count = (due - produced).min(MAX_PER_TICK);
            produce(broker, &mut generator, count, partitions)?;
            produced += count;
        }
        let statuses = pipeline_statuses(processors);
        let hwms = high_watermarks(&store, events::ORDERS)?;
        if elapsed >= next_report {
            next_report += Duration::from_secs(1);
            print_progress(elapsed, produced - already, args.orders, &statuses, &hwms);
        }
        let done: u64 = statuses.iter().map(|s| progress(s, &hwms).0).sum();
        if done != last_done {
            (last_done, last_progress) = (done, Instant::now());
        }
        let caught_up = statuses.iter().all(|s| progress(s, &hwms).1 == 0);
        if produced == target && caught_up {
            print_progress(elapsed, produced - already, args.orders, &statuses, &hwms);
            print_summary(&store, &statuses)?;
            return Ok(());
        }
        if produced == target && last_progress.elapsed() >= STALL {
            print_summary(&store, &statuses)?;
            bail!(
                "the processors made no progress for {}s: see their status and logs \
                 (weir processor list, weir processor logs NAME)",
                STALL.as_secs()
            );
        }
    }
}

/// Appends `count` orders, one batch per partition, keyed by order id.
fn produce(
    broker: &Broker,
    generator: &mut OrderGenerator,
    count: u64,
    partitions: u32,
) -> anyhow::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let mut batches: BTreeMap<u32, BatchBuilder> = BTreeMap::new();
    for (key, value) in generator.by_ref().take(count as usize) {
        let partition = partition_for_key(&key, partitions);
        let batch =
            batches.entry(partition).or_insert_with(|| BatchBuilder::new(0, Compression::None));
        batch.push(now, Some(&key), Some(&value), &[]);
    }
    for (partition, batch) in batches {
        let log = broker.storage.partition(events::ORDERS, partition).context("orders is gone")?;
        log.append(&batch.build()?).with_context(|| format!("appending to orders-{partition}"))?;
    }
    Ok(())
}

/// The high watermark of each partition of `topic`.
fn high_watermarks(store: &BrokerStore, topic: &str) -> anyhow::Result<Vec<u64>> {
    let partitions = store.partitions(topic)?;
    let bounds = (0..partitions).map(|p| store.bounds(topic, p).map(|b| b.high_watermark));
    Ok(bounds.collect::<Result<_, _>>()?)
}

/// The pipeline's processors' current info (those deployed).
fn pipeline_statuses(processors: &Processors) -> Vec<ProcessorInfo> {
    weir_examples::pipeline().iter().filter_map(|d| processors.get(d.name).ok()).collect()
}

/// Orders a processor has done and still has to do, by the input's high
/// watermarks now.
fn progress(info: &ProcessorInfo, hwms: &[u64]) -> (u64, u64) {
    let mut done_lag = (0, 0);
    for (p, hwm) in hwms.iter().enumerate() {
        let at = info.status.partitions.get(p).and_then(|s| s.next_offset).unwrap_or(0);
        done_lag.0 += at.min(*hwm);
        done_lag.1 += hwm.saturating_sub(at);
    }
    done_lag
}

fn print_progress(
    elapsed: Duration,
    produced: u64,
    orders: u64,
    statuses: &[ProcessorInfo],
    hwms: &[u64],
) {
    let mut line = format!("{:>4}s  orders {produced}/{orders}", elapsed.as_secs());
    for info in statuses {
        let p = &info.status.partitions;
        let (records_in, out, errors) = (
            p.iter().map(|s| s.records_in).sum::<u64>(),
            p.iter().map(|s| s.records_out).sum::<u64>(),
            p.iter().map(|s| s.errors).sum::<u64>(),
        );
        let lag = progress(info, hwms).1;
        line +=
            &format!(" | {} in {records_in} lag {lag} out {out} err {errors}", info.manifest.name);
    }
    println!("{line}");
    let _ = std::io::stdout().flush();
}

/// The per-processor table (this run's counts), each topic's total, and what
/// the events say.
fn print_summary(store: &BrokerStore, statuses: &[ProcessorInfo]) -> anyhow::Result<()> {
    println!();
    println!(
        "{:<14} {:>10} {:>10} {:>8} {:>14}",
        "processor", "in", "out", "errors", "dead-lettered"
    );
    for info in statuses {
        let p = &info.status.partitions;
        let sum = |f: fn(&weir_runtime::PartitionStatus) -> u64| p.iter().map(f).sum::<u64>();
        println!(
            "{:<14} {:>10} {:>10} {:>8} {:>14}",
            info.manifest.name,
            sum(|s| s.records_in),
            sum(|s| s.records_out),
            sum(|s| s.errors),
            sum(|s| s.dead_lettered)
        );
    }
    println!("(counts of this run; the topics below hold every run's records)");
    println!();
    let mut topics = vec![events::ORDERS.to_owned()];
    for d in weir_examples::pipeline() {
        topics.extend(d.outputs.iter().map(|t| t.to_string()));
        topics.push(weir_runtime::dead_letter_topic(d.name));
    }
    println!("{:<24} {:>10}", "topic", "records");
    for topic in &topics {
        let records: u64 = high_watermarks(store, topic).map_or(0, |h| h.iter().sum());
        println!("{topic:<24} {records:>10}");
    }

    let (mut reserved, mut out_of_stock) = (0u64, 0u64);
    for value in values(store, events::INVENTORY_EVENTS)? {
        match serde_json::from_slice::<InventoryEvent>(&value) {
            Ok(InventoryEvent::StockReserved { .. }) => reserved += 1,
            Ok(InventoryEvent::OutOfStock { .. }) => out_of_stock += 1,
            Err(_) => {}
        }
    }
    let (mut authorized, mut declined, mut revenue) = (0u64, 0u64, 0u64);
    for value in values(store, events::PAYMENTS)? {
        match serde_json::from_slice::<PaymentEvent>(&value) {
            Ok(PaymentEvent::PaymentAuthorized { amount_cents, .. }) => {
                authorized += 1;
                revenue += amount_cents;
            }
            Ok(PaymentEvent::PaymentDeclined { .. }) => declined += 1,
            Err(_) => {}
        }
    }
    let alerts: u64 = high_watermarks(store, events::FRAUD_ALERTS)?.iter().sum();
    println!();
    println!("stock reserved for {reserved} orders; {out_of_stock} out of stock");
    println!(
        "payments: {authorized} authorized, {declined} declined; revenue EUR {}.{:02}",
        revenue / 100,
        revenue % 100
    );
    println!("fraud alerts: {alerts}");
    println!();
    std::io::stdout().flush()?;
    Ok(())
}

/// Every record value of `topic`, partition by partition.
fn values(store: &BrokerStore, topic: &str) -> anyhow::Result<Vec<bytes::Bytes>> {
    let mut values = Vec::new();
    for p in 0..store.partitions(topic)? {
        let bounds = store.bounds(topic, p)?;
        let mut next = bounds.log_start;
        while next < bounds.high_watermark {
            let records = store.read(topic, p, next, 10_000, 4 << 20)?;
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            values.extend(records.into_iter().filter_map(|r| r.value));
        }
    }
    Ok(values)
}

/// Completes once `stopped` turns true (or its sender is gone).
async fn stop_requested(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
