//! `weir demo`: the order pipeline of the README, on a single-node broker.
//!
//! 1. Starts a broker exactly as `weir serve` does (Kafka on 127.0.0.1:9092, the
//!    HTTP API on 127.0.0.1:8080, data in `./weir-demo-data`).
//! 2. Applies the order pipeline (`weir_examples::TOPICS` and `pipeline()`) as
//!    `weir pipeline apply examples/order-pipeline.toml` would: creates the
//!    missing topics, deploys the missing processors, upgrades those whose
//!    module changed; those a previous run deployed resume from their offsets
//!    and state.
//! 4. Appends `--orders` generated `OrderPlaced` events to `orders` at `--rate`
//!    per second, keyed by order id and partitioned as Kafka's default
//!    partitioner would. The sequence continues where the topic ends, so a
//!    second run adds new orders rather than repeating old ones.
//! 5. Prints progress every second, then, once every processor has caught up
//!    (nothing left to read anywhere, twice in a row), a summary; with
//!    `--verify`, recomputes every output with `weir_examples::verify`'s model
//!    and fails if any differs; and keeps serving until ctrl-c (or exits, with
//!    `--exit`).
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
use weir_examples::events::{self, InventoryEvent, MinuteStats, PaymentEvent};
use weir_examples::generator::{GeneratorConfig, OrderGenerator};
use weir_examples::verify::{self, Partitions, Rec};
use weir_runtime::partitioner::partition_for_key;
use weir_runtime::store::LogStore;
use weir_runtime::{Limits, Manifest, StartPosition};

use super::serve::{LogFormat, shutdown_signal};
use weir_broker::broker::Broker;
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::node::{Node, NodeConfig};
use weir_broker::pipelines::{self, Change, Pipeline, PipelineError, ProcessorDecl, TopicDecl};
use weir_broker::processors::{BrokerStore, ProcessorInfo, Processors};

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
    /// After the summary, recompute every output topic from `orders` with an
    /// independent model of the domain and compare; exit with an error if any
    /// output differs
    #[arg(long)]
    pub verify: bool,
    /// The broker's log on stderr: `text`, or `json` (one object per line)
    #[arg(long, env = "WEIR_LOG_FORMAT", value_name = "FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
}

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
    let outcome = pipeline(&broker, &processors, &args, stopped.clone()).await;
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

/// The demo's pipeline as a declaration: `weir_examples`' topics and
/// processors, the loop of stock releases declared.
fn declaration() -> Pipeline {
    let topics = weir_examples::TOPICS
        .iter()
        .map(|(name, partitions)| TopicDecl {
            name: name.to_string(),
            partitions: *partitions,
            configs: BTreeMap::new(),
            feedback: weir_examples::FEEDBACK.contains(name),
        })
        .collect();
    let processors = weir_examples::pipeline()
        .iter()
        .map(|d| ProcessorDecl {
            manifest: Manifest {
                name: d.name.to_owned(),
                inputs: vec![d.input.to_owned()],
                outputs: d.outputs.iter().map(|t| t.to_string()).collect(),
                allowed_lateness_ms: 0,
                start: StartPosition::Earliest,
                limits: Limits::default(),
                on_error: Default::default(),
                config: d.config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            },
            module: d.wasm.to_vec(),
        })
        .collect();
    Pipeline { name: "orders".to_owned(), topics, processors }
}

/// Applies the pipeline as `weir pipeline apply` would (missing topics created,
/// missing processors deployed, changed modules upgraded in place), and says
/// where each processor resumes.
async fn apply_pipeline(broker: &Arc<Broker>, processors: &Arc<Processors>) -> anyhow::Result<()> {
    let (b, p) = (Arc::clone(broker), Arc::clone(processors));
    let applied = tokio::task::spawn_blocking(move || pipelines::apply(&b, &p, &declaration()));
    let changes = match applied.await? {
        Ok(changes) => changes,
        Err(e @ PipelineError::Invalid(_)) => bail!(
            "{e}\nthe data directory holds another version of the demo pipeline: remove it \
             or pass another --data-dir"
        ),
        Err(e) => return Err(e.into()),
    };
    let mut fresh = Vec::new();
    for change in &changes {
        match change {
            Change::CreateTopic { name, partitions, .. } => {
                println!(
                    "created topic {name} ({partitions} partition{})",
                    plural(u64::from(*partitions))
                );
            }
            Change::Deploy { name, input, outputs } => {
                println!("deployed processor {name} ({input} -> {})", outputs.join(", "));
                fresh.push(name.as_str());
            }
            other => println!("{other}"),
        }
    }
    for d in weir_examples::pipeline().iter().filter(|d| !fresh.contains(&d.name)) {
        // Its committed offsets, as Kafka tools see them.
        let offsets = broker.groups.fetch_offsets(d.name, None);
        let done: i64 = offsets.iter().filter_map(|(_, o)| o.as_ref()).map(|o| o.offset).sum();
        println!(
            "processor {} resumes from its offsets and state ({done} records of {} done)",
            d.name, d.input
        );
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
    apply_pipeline(broker, processors).await?;
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
    // The topics' total records when every lag was last seen zero: caught up is
    // twice in a row with nothing written in between, since a processor that has
    // read everything may still be appending what it made of it.
    let mut quiet_at: Option<u64> = None;
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
        let written = total_records(&store)?;
        let lags = lags(processors, &store)?;
        if elapsed >= next_report {
            next_report += Duration::from_secs(1);
            print_progress(elapsed, produced - already, args.orders, &lags);
        }
        let done: u64 = lags.iter().map(|l| l.done).sum();
        if done != last_done {
            (last_done, last_progress) = (done, Instant::now());
        }
        let idle = lags.iter().all(|l| l.lag == 0);
        let caught_up = idle && quiet_at == Some(written);
        quiet_at = idle.then_some(written);
        if produced == target && caught_up {
            print_progress(elapsed, produced - already, args.orders, &lags);
            print_summary(&store, &lags)?;
            return if args.verify { verify(&store) } else { Ok(()) };
        }
        if produced == target && last_progress.elapsed() >= STALL {
            print_summary(&store, &lags)?;
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

/// Records in all the pipeline's topics.
fn total_records(store: &BrokerStore) -> anyhow::Result<u64> {
    let mut total = 0;
    for (topic, _) in weir_examples::TOPICS {
        total += high_watermarks(store, topic)?.iter().sum::<u64>();
    }
    Ok(total)
}

/// A deployed processor of the pipeline, and how far it is through its input.
struct Lag {
    info: ProcessorInfo,
    /// Input records it has done.
    done: u64,
    /// Input records it still has to do.
    lag: u64,
}

/// The pipeline's processors (those deployed), each with its progress through
/// its input by the input's high watermarks read after its status.
fn lags(processors: &Processors, store: &BrokerStore) -> anyhow::Result<Vec<Lag>> {
    let mut lags = Vec::new();
    for d in weir_examples::pipeline() {
        let Ok(info) = processors.get(d.name) else { continue };
        let (mut done, mut lag) = (0, 0);
        for (p, hwm) in high_watermarks(store, d.input)?.iter().enumerate() {
            let at = info.status.partitions.get(p).and_then(|s| s.next_offset).unwrap_or(0);
            done += at.min(*hwm);
            lag += hwm.saturating_sub(at);
        }
        lags.push(Lag { info, done, lag });
    }
    Ok(lags)
}

fn print_progress(elapsed: Duration, produced: u64, orders: u64, lags: &[Lag]) {
    let mut line = format!("{:>4}s  orders {produced}/{orders} | lag", elapsed.as_secs());
    let mut errors = 0;
    for l in lags {
        line += &format!(" {} {}", l.info.manifest.name, l.lag);
        errors += l.info.status.partitions.iter().map(|s| s.errors).sum::<u64>();
    }
    line += &format!(" | errors {errors}");
    println!("{line}");
    let _ = std::io::stdout().flush();
}

/// The per-processor table (this run's counts), each topic's total, and what
/// the events say.
fn print_summary(store: &BrokerStore, lags: &[Lag]) -> anyhow::Result<()> {
    println!();
    println!(
        "{:<14} {:<20} {:>10} {:>10} {:>8} {:>14}",
        "processor", "reads", "in", "out", "errors", "dead-lettered"
    );
    for l in lags {
        let p = &l.info.status.partitions;
        let sum = |f: fn(&weir_runtime::PartitionStatus) -> u64| p.iter().map(f).sum::<u64>();
        println!(
            "{:<14} {:<20} {:>10} {:>10} {:>8} {:>14}",
            l.info.manifest.name,
            l.info.manifest.inputs_label(),
            sum(|s| s.records_in),
            sum(|s| s.records_out),
            sum(|s| s.errors),
            sum(|s| s.dead_lettered)
        );
    }
    println!("(counts of this run; the topics below hold every run's records)");
    println!();
    let mut topics: Vec<String> =
        weir_examples::TOPICS.iter().map(|(t, _)| t.to_string()).collect();
    topics.extend(weir_examples::pipeline().map(|d| weir_runtime::dead_letter_topic(d.name)));
    println!("{:<28} {:>10}", "topic", "records");
    for topic in &topics {
        let records: u64 = high_watermarks(store, topic).map_or(0, |h| h.iter().sum());
        println!("{topic:<28} {records:>10}");
    }

    let (mut reserved, mut out_of_stock, mut released) = (0u64, 0u64, 0u64);
    for value in values(store, events::INVENTORY_EVENTS)? {
        match serde_json::from_slice::<InventoryEvent>(&value) {
            Ok(InventoryEvent::StockReserved { .. }) => reserved += 1,
            Ok(InventoryEvent::OutOfStock { released: lines, .. }) => {
                out_of_stock += 1;
                released += lines.len() as u64;
            }
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
    let minutes: Vec<MinuteStats> = values(store, events::ANALYTICS)?
        .iter()
        .filter_map(|v| serde_json::from_slice(v).ok())
        .collect();
    let alerts: u64 = high_watermarks(store, events::FRAUD_ALERTS)?.iter().sum();
    println!();
    println!(
        "stock reserved for {reserved} orders; {out_of_stock} out of stock \
         ({released} partly reserved lines released)"
    );
    println!(
        "payments (reserved orders only): {authorized} authorized, {declined} declined; \
         revenue EUR {}.{:02}",
        revenue / 100,
        revenue % 100
    );
    match minutes.last() {
        Some(last) => println!(
            "analytics: {} minutes closed, {} orders in them; the last, {} UTC: {} orders, \
             EUR {}.{:02} (later minutes close as later orders arrive)",
            minutes.len(),
            minutes.iter().map(|m| m.orders).sum::<u64>(),
            clock(last.minute),
            last.orders,
            last.revenue_cents / 100,
            last.revenue_cents % 100
        ),
        None => {
            println!("analytics: no minute has closed yet; minutes close as later orders arrive")
        }
    }
    println!("fraud alerts: {alerts}");
    println!();
    std::io::stdout().flush()?;
    Ok(())
}

/// Recomputes every output with the independent model and prints where it
/// differs; an error if anything does.
fn verify(store: &BrokerStore) -> anyhow::Result<()> {
    let mut topics = BTreeMap::new();
    for (topic, _) in weir_examples::TOPICS {
        topics.insert(topic.to_owned(), read_topic(store, topic)?);
    }
    let report = verify::verify(&topics);
    println!(
        "verify: every output recomputed from the orders by a model separate from the processors"
    );
    print!("{report}");
    println!();
    std::io::stdout().flush()?;
    if !report.ok() {
        bail!(
            "verification failed: the outputs above differ from the model's; the processors' \
             logs may say why (weir processor logs NAME)"
        );
    }
    println!("verify: all {} checks passed", report.checks.len());
    Ok(())
}

/// Every record of `topic`, partition by partition, in offset order.
fn read_topic(store: &BrokerStore, topic: &str) -> anyhow::Result<Partitions> {
    let mut partitions = Vec::new();
    for p in 0..store.partitions(topic)? {
        let bounds = store.bounds(topic, p)?;
        let (mut records, mut next) = (Vec::new(), bounds.log_start);
        while next < bounds.high_watermark {
            let batch = store.read(topic, p, next, 10_000, 4 << 20)?;
            let Some(last) = batch.last() else { break };
            next = last.offset + 1;
            records.extend(batch.into_iter().map(|r| Rec {
                key: r.key.map(|k| k.to_vec()),
                value: r.value.map(|v| v.to_vec()),
            }));
        }
        partitions.push(records);
    }
    Ok(partitions)
}

/// Every record value of `topic`, partition by partition.
fn values(store: &BrokerStore, topic: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    Ok(read_topic(store, topic)?.into_iter().flatten().filter_map(|r| r.value).collect())
}

/// Completes once `stopped` turns true (or its sender is gone).
async fn stop_requested(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// `HH:MM` of a time in ms since the epoch, UTC.
fn clock(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
