//! The web console in a real headless browser (Debian's `chromium`), against a
//! real broker: Kafka and HTTP on `127.0.0.1:0`, the order pipeline's five
//! processors deployed (`weir_examples::pipeline()`), generated orders flowing.
//! Chromium loads the page, lets it poll for a few seconds of virtual time and
//! dumps the DOM, which is checked for what an operator should see.
//!
//! `WEIR_UPDATE_SCREENSHOT=1 cargo test -p weir-broker --test console` also
//! rewrites `docs/console.png`.

use crate::http_support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_support::Server;
use tokio::net::TcpListener;
use weir_broker::broker::Broker;
use weir_broker::http;
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::node::Node;
use weir_broker::topic::TopicSpec;
use weir_examples::events;
use weir_examples::generator::{GeneratorConfig, OrderGenerator};
use weir_runtime::partitioner::partition_for_key;
use weir_runtime::{Limits, Manifest, StartPosition};

/// Where Debian's package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// The longest any wait lasts (deploying compiles five components).
const PATIENCE: Duration = Duration::from_secs(180);
/// How long one browser run may take.
const BROWSER_PATIENCE: Duration = Duration::from_secs(90);
/// Virtual time the page gets before the DOM is dumped: two polls or more.
const VIRTUAL_TIME_MS: u32 = 5_000;
/// Partitions of `orders`.
const ORDERS_PARTITIONS: u32 = weir_examples::PARTITIONS;
/// Orders appended before the browser looks.
const ORDERS: u64 = 600;

/// A broker with the order pipeline's topics and processors (see
/// [`deploy_pipeline`]), serving Kafka and HTTP; stopped when dropped.
fn start() -> Server {
    Server::start_with(PATIENCE, deploy_pipeline)
}

/// What this test adds to the shared server.
impl Server {
    /// Appends `count` generated orders, keyed by order id and partitioned as
    /// Kafka's default partitioner would, one batch per partition.
    fn produce_orders(broker: &Broker, orders: &mut OrderGenerator, count: u64) {
        let mut batches: BTreeMap<u32, BatchBuilder> = BTreeMap::new();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        for (key, value) in orders.take(count as usize) {
            let partition = partition_for_key(&key, ORDERS_PARTITIONS);
            let batch =
                batches.entry(partition).or_insert_with(|| BatchBuilder::new(0, Compression::None));
            batch.push(now, Some(&key), Some(&value), &[]);
        }
        for (partition, batch) in batches {
            let log = broker.storage.partition(events::ORDERS, partition).unwrap();
            log.append(&batch.build().unwrap()).unwrap();
        }
    }

    /// Records in, per processor reading the orders.
    fn records_in(&self) -> BTreeMap<String, u64> {
        let mut info = self.processors.list();
        info.retain(|i| i.manifest.inputs == [events::ORDERS]);
        let count = |i: &weir_broker::processors::ProcessorInfo| {
            i.status.partitions.iter().map(|p| p.records_in).sum()
        };
        info.iter().map(|i| (i.manifest.name.clone(), count(i))).collect()
    }

    /// Waits until every processor reading the orders has processed `count`.
    fn wait_processed(&self, count: u64) {
        let deadline = Instant::now() + PATIENCE;
        while self.records_in().values().any(|&n| n < count) {
            assert!(Instant::now() < deadline, "processors behind: {:?}", self.records_in());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Appends a few orders every 100 ms until the returned guard is dropped.
    fn keep_producing(&self, mut orders: OrderGenerator) -> Producing {
        let stop = Arc::new(AtomicBool::new(false));
        let (broker, stopped) = (Arc::clone(&self.broker), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                Server::produce_orders(&broker, &mut orders, 40);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Producing { stop, thread: Some(thread) }
    }
}

/// A producer thread, stopped when dropped.
struct Producing {
    /// Tells the thread to stop.
    stop: Arc<AtomicBool>,
    /// The thread.
    thread: Option<JoinHandle<()>>,
}

impl Drop for Producing {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Creates `orders` and the output topics, opens the processors of `data` (with
/// the compiled-component cache every test run shares) and deploys the pipeline.
fn deploy_pipeline(node: &Node) {
    for (name, partitions) in weir_examples::TOPICS {
        let spec = TopicSpec { name: name.into(), partitions, configs: BTreeMap::new() };
        node.storage().create_topic(spec).unwrap();
    }
    let processors = node.processors().unwrap();
    for d in weir_examples::pipeline() {
        let manifest = Manifest {
            name: d.name.into(),
            inputs: vec![d.input.into()],
            allowed_lateness_ms: 0,
            outputs: d.outputs.iter().map(|t| t.to_string()).collect(),
            start: StartPosition::Earliest,
            limits: Limits::default(),
            on_error: Default::default(),
            config: d.config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        processors.deploy(manifest, d.wasm).unwrap();
    }
}

/// Headless Chromium, each run with a fresh profile.
struct Browser;

impl Browser {
    /// The browser, or a failure that says how to install it.
    fn find() -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: the web console is tested in a real browser; install \
             Debian's package with `apt-get install chromium` (.ci/run does)"
        );
        Browser
    }

    /// Runs Chromium on `url` with `extra` flags; its stdout.
    fn run(&self, url: &str, extra: &[String]) -> String {
        let profile = tempfile::tempdir().unwrap();
        let mut command = Command::new(CHROMIUM);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--virtual-time-budget={VIRTUAL_TIME_MS}"))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("starting {CHROMIUM}: {e}"));
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let deadline = Instant::now() + BROWSER_PATIENCE;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish {url} in {BROWSER_PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
        assert!(status.success(), "chromium failed on {url} ({status}):\n{stderr}");
        stdout
    }

    /// The DOM of `url` after the page had its virtual time.
    fn dom(&self, url: &str) -> String {
        let dom = self.run(url, &["--dump-dom".into()]);
        assert!(dom.contains("<main>"), "no page rendered for {url}:\n{dom}");
        dom
    }

    /// A 1400x900 screenshot of `url`, written to `path`.
    fn screenshot(&self, url: &str, path: &Path) {
        let flags = [format!("--screenshot={}", path.display()), "--window-size=1400,900".into()];
        self.run(url, &flags);
        let png = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(png.starts_with(b"\x89PNG"), "{} is not a PNG", path.display());
    }
}

/// The attributes of every `<tr>` of `dom` that has attribute `key`.
fn rows(dom: &str, key: &str) -> Vec<BTreeMap<String, String>> {
    dom.match_indices("<tr ")
        .filter_map(|(at, _)| {
            let tag = &dom[at + 4..at + dom[at..].find('>')?];
            let mut attributes = BTreeMap::new();
            let mut rest = tag.trim();
            while let Some((name, after)) = rest.split_once("=\"") {
                let (value, after) = after.split_once('"')?;
                attributes.insert(name.trim().to_owned(), value.to_owned());
                rest = after.trim();
            }
            attributes.contains_key(key).then_some(attributes)
        })
        .collect()
}

/// The rows with attribute `key`, by its value.
fn rows_by(dom: &str, key: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    rows(dom, key).into_iter().map(|row| (row[key].clone(), row)).collect()
}

/// The opening tag of the element with id `id`.
fn tag_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in:\n{dom}"));
    let start = dom[..at].rfind('<').unwrap();
    &dom[start..at + dom[at..].find('>').unwrap() + 1]
}

/// The text right after the opening tag of the element with id `id`.
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let tag = tag_of(dom, id);
    let at = dom.find(tag).unwrap() + tag.len();
    &dom[at..at + dom[at..].find('<').unwrap()]
}

#[test]
fn the_console_shows_topics_groups_and_processors_live() {
    let browser = Browser::find();
    let server = start();
    let mut orders = OrderGenerator::new(GeneratorConfig::default());
    Server::produce_orders(&server.broker, &mut orders, ORDERS);
    server.wait_processed(ORDERS);
    let _producing = server.keep_producing(orders);

    let dom = browser.dom(&format!("{}/", server.url));
    let banner = tag_of(&dom, "banner");
    assert!(banner.contains("hidden"), "the error banner shows:\n{dom}");
    assert!(!dom.contains("unavailable") && !dom.contains("console error"), "{dom}");
    assert_eq!(text_of(&dom, "kafka-address"), server.broker.advertised.to_string());

    let topics = rows_by(&dom, "data-topic");
    for topic in ["orders", "stock-requests", "inventory-events", "payments", "notifications"] {
        let row = topics.get(topic).unwrap_or_else(|| panic!("no topic {topic}: {topics:?}"));
        let records: u64 = row["data-records"].parse().unwrap();
        assert!(records > 0, "topic {topic} shows no records: {row:?}");
    }
    assert!(topics["orders"]["data-records"].parse::<u64>().unwrap() >= ORDERS);
    assert!(topics.contains_key("fraud-alerts") && topics.contains_key("payment.dead-letter"));

    let processors = rows_by(&dom, "data-processor");
    let groups = rows_by(&dom, "data-group");
    for d in weir_examples::pipeline() {
        let row = processors.get(d.name).unwrap_or_else(|| panic!("no {}: {processors:?}", d.name));
        assert_eq!(row["data-state"], "running", "{row:?}");
        let records_in: u64 = row["data-records-in"].parse().unwrap();
        // Those reading the orders have read them all (the others read fewer, or more).
        if d.input == events::ORDERS {
            assert!(records_in >= ORDERS, "{} shows {records_in} records in", d.name);
        }
        assert!(groups.contains_key(d.name), "no group {}: {groups:?}", d.name);
    }
    // The pipeline graph: a box per processor and topic, an edge per input (with
    // its lag) and output, and the loop of stock releases arcing back.
    for d in weir_examples::pipeline() {
        assert!(dom.contains(&format!("data-graph-node=\"p:{}\"", d.name)), "no node {}", d.name);
        let input = format!("data-edge=\"t:{} to p:{}\" data-loop=\"false\"", d.input, d.name);
        assert!(dom.contains(&input), "no edge {input} in the graph:\n{dom}");
        for output in d.outputs {
            assert!(dom.contains(&format!("data-edge=\"p:{} to t:{output}\"", d.name)));
        }
    }
    let release = "data-edge=\"p:reservation to t:stock-requests\" data-loop=\"true\"";
    assert!(dom.contains(release), "the releases do not loop back:\n{dom}");
    for link in ["#logs/payment", "#dead-letters/payment"] {
        assert!(dom.contains(&format!("href=\"{link}\"")), "no link {link}");
    }

    // The links open a panel below: the logs followed, the dead letters.
    let logs = browser.dom(&format!("{}/#logs/payment", server.url));
    assert!(!tag_of(&logs, "detail").contains("hidden"), "{logs}");
    assert!(logs.contains("Logs of payment"), "{logs}");
    assert!(logs.contains("<pre class=\"log\"><span class=\"info\">"), "no log lines:\n{logs}");
    assert!(tag_of(&logs, "banner").contains("hidden"), "{logs}");
    let dead = browser.dom(&format!("{}/#dead-letters/payment", server.url));
    assert!(dead.contains("no dead letters in payment.dead-letter"), "{dead}");
    assert!(tag_of(&dead, "banner").contains("hidden"), "{dead}");

    if std::env::var_os("WEIR_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::create_dir_all(&docs).unwrap();
        browser.screenshot(&format!("{}/", server.url), &docs.join("console.png"));
    }
}

#[test]
fn the_console_says_unavailable_when_routes_are_missing() {
    let browser = Browser::find();
    // Only the page and its assets: every API route answers 404.
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}/#logs/payment", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, http::console::router::<()>()).await });

    let dom = browser.dom(&url);
    for panel in ["cluster", "topics", "groups", "processors"] {
        assert!(tag_of(&dom, panel).contains("data-status=\"unavailable\""), "{panel}:\n{dom}");
    }
    assert_eq!(text_of(&dom, "kafka-address"), "unavailable");
    let banner = tag_of(&dom, "banner");
    assert!(!banner.contains("hidden"), "no banner:\n{dom}");
    for route in
        ["/v1/cluster", "/v1/topics", "/v1/groups", "/v1/processors", "/v1/processors/payment/logs"]
    {
        assert!(dom.contains(&format!("GET {route}")), "the banner does not name {route}:\n{dom}");
    }
    assert!(!dom.contains("console error"), "a script error:\n{dom}");
}
