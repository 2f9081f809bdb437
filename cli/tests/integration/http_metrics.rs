//! The operator's view of a real `weir serve` child: `GET /metrics` after Kafka
//! traffic and a processor run (every line parsed, values checked), `--log-format
//! json` (stderr all JSON, stdout only the listening lines), and processor logs
//! kept in `__weir_logs` across a restart, with the per-processor line cap.
//! Kafka requests go through the raw protocol client of `support`; every wait is
//! bounded.

use crate::cli_support;
// The broker's raw Kafka protocol client, shared with its own tests.
use crate::broker_support as support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use serde_json::{Value, json};
use support::RawClient;
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::storage::{Storage, StorageOptions};
use weir_broker::topic::TopicSpec;
use weir_examples::wasm::MISBEHAVE;

/// The longest any wait lasts (a deploy compiles a component).
const PATIENCE: Duration = Duration::from_secs(120);
const WEIR: &str = env!("CARGO_BIN_EXE_weir");

/// A `weir serve` child on loopback, killed if the test ends early.
struct Weir {
    /// The process.
    child: Child,
    /// Its stdout, line by line.
    stdout: Receiver<String>,
    /// Its stdout lines read so far.
    seen: Vec<String>,
    /// The Kafka listener.
    kafka: SocketAddr,
    /// `http://HOST:PORT`.
    url: String,
}

impl Weir {
    /// Starts `weir serve` on `data` with stderr to `stderr_file`, plus `args`
    /// and `env`.
    fn start(data: &Path, stderr_file: &Path, args: &[&str], env: &[(&str, &str)]) -> Weir {
        let stderr = std::fs::File::create(stderr_file).unwrap();
        let mut command = Command::new(WEIR);
        command
            .args(["serve", "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data)
            .args(args)
            .env_remove("WEIR_LOG_FORMAT")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = command.spawn().expect("weir starts");
        let stdout = cli_support::read_lines(child.stdout.take().unwrap());
        let mut weir = Weir {
            child,
            stdout,
            seen: Vec::new(),
            kafka: ([0, 0, 0, 0], 0).into(),
            url: String::new(),
        };
        let kafka = weir.line_with("kafka listening on ");
        weir.kafka = kafka.trim_start_matches("kafka listening on ").parse().unwrap();
        let http = weir.line_with("http listening on ");
        weir.url = format!("http://{}", http.trim_start_matches("http listening on "));
        weir
    }

    /// The next stdout line containing `needle`.
    fn line_with(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!("no line with {needle:?} from weir: {e}"),
            }
        }
    }

    /// SIGTERM; the exit code and every stdout line.
    fn stop(mut self) -> (Option<i32>, Vec<String>) {
        // SAFETY: signalling our own child by its pid; no memory is involved.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.seen.extend(self.stdout.try_iter());
                return (status.code(), std::mem::take(&mut self.seen));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("weir did not stop within {PATIENCE:?} of SIGTERM");
    }

    /// A request to the HTTP API: status, content type and body.
    fn http(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String, String) {
        let agent = support::agent(PATIENCE);
        let url = format!("{}{path}", self.url);
        let response = match (method, body) {
            ("GET", _) => agent.get(&url).call(),
            ("POST", Some(body)) => {
                agent.post(&url).content_type("application/json").send(body.to_string())
            }
            _ => panic!("unsupported request {method}"),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, response.body_mut().read_to_string().unwrap())
    }

    /// A JSON answer that must be a 2xx.
    fn json(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, _, text) = self.http(method, path, body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Deploys the misbehaving component in `log-flood` mode: `lines` lines and a
    /// copy to `copies` per record of `input` (the runtime keeps up to 100 lines
    /// per call unless the manifest says otherwise).
    fn deploy_flood(&self, name: &str, input: &str, lines: u32) {
        let manifest = json!({
            "name": name,
            "input": input,
            "outputs": ["copies"],
            "config": { "mode": "log-flood", "lines": lines.to_string(), "output": "copies" },
            "limits": { "max_log_lines_per_call": lines.max(100) },
        });
        let body = json!({ "manifest": manifest, "module": STANDARD.encode(MISBEHAVE) });
        self.json("POST", "/v1/processors", Some(body));
    }

    /// Waits until the processor has processed `records` input records.
    fn wait_records_in(&self, name: &str, records: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let info = self.json("GET", &format!("/v1/processors/{name}"), None);
            let done: u64 = info["status"]["partitions"]
                .as_array()
                .map_or(0, |ps| ps.iter().filter_map(|p| p["records_in"].as_u64()).sum());
            if done >= records {
                return;
            }
            assert!(Instant::now() < deadline, "{name} did not process {records}: {info:#}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every log line of a processor.
    fn logs(&self, name: &str) -> Vec<Value> {
        let lines = self.json("GET", &format!("/v1/processors/{name}/logs?limit=10000"), None);
        lines.as_array().unwrap().clone()
    }

    /// A scrape, parsed and checked.
    fn scrape(&self) -> Scrape {
        let (status, content_type, text) = self.http("GET", "/metrics", None);
        assert_eq!(status, 200, "{text}");
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        Scrape::parse(&text)
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One parsed scrape: samples by name, each with its labels.
#[derive(Debug)]
struct Scrape {
    /// (name, labels, value) in order.
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
    /// The text, for messages.
    text: String,
}

impl Scrape {
    /// Parses the text format strictly: `# HELP` and `# TYPE` once per family,
    /// before its samples; every other line `name{label="value",...} value`, of a
    /// declared family (histograms: `_bucket`, `_sum`, `_count`).
    fn parse(text: &str) -> Scrape {
        let mut types: BTreeMap<String, String> = BTreeMap::new();
        let mut helps = BTreeSet::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(help) = line.strip_prefix("# HELP ") {
                let name = help.split(' ').next().unwrap();
                assert!(helps.insert(name.to_owned()), "HELP twice for {name}");
                continue;
            }
            if let Some(kind) = line.strip_prefix("# TYPE ") {
                let (name, kind) = kind.split_once(' ').unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert!(helps.contains(name), "TYPE before HELP: {line}");
                assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "{line}");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "counter without _total: {name}");
                }
                continue;
            }
            assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
            let (name, labels, value) = parse_sample(line);
            assert!(name.starts_with("weir_"), "{line}");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|s| name.strip_suffix(s))
                .find(|f| types.get(*f).is_some_and(|k| k == "histogram"))
                .unwrap_or(&name);
            assert!(types.contains_key(family), "sample of an undeclared family: {line}");
            samples.push((name, labels, value));
        }
        Scrape { samples, text: text.to_owned() }
    }

    /// The value of the sample `name` with exactly `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let found = self.samples.iter().find(|(n, l, _)| n == name && *l == wanted);
        match found {
            Some((_, _, value)) => *value,
            None => panic!("no sample {name}{wanted:?} in:\n{}", self.text),
        }
    }

    /// True when some sample of `name` exists.
    fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|(n, _, _)| n == name)
    }
}

/// `name{label="value",...} value`, with label values unescaped.
fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert!(
        name.chars().enumerate().all(|(i, c)| c == '_'
            || c == ':'
            || c.is_ascii_alphabetic()
            || (i > 0 && c.is_ascii_digit())),
        "bad metric name in {line}"
    );
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        loop {
            let (i, c) = chars.next().unwrap_or_else(|| panic!("unclosed labels: {line}"));
            match c {
                '}' if key.is_empty() => {
                    rest = &inner[i + 1..];
                    break;
                }
                '=' => {
                    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().unwrap_or_else(|| panic!("unclosed value: {line}")) {
                            (_, '\\') => match chars.next().map(|(_, c)| c) {
                                Some('\\') => value.push('\\'),
                                Some('"') => value.push('"'),
                                Some('n') => value.push('\n'),
                                other => panic!("bad escape {other:?} in {line}"),
                            },
                            (_, '"') => break,
                            (_, c) => value.push(c),
                        }
                    }
                    assert!(
                        key.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()),
                        "bad label name {key:?} in {line}"
                    );
                    assert!(labels.insert(std::mem::take(&mut key), value).is_none(), "{line}");
                    match chars.next() {
                        Some((_, ',')) => {}
                        Some((i, '}')) => {
                            rest = &inner[i + 1..];
                            break;
                        }
                        other => panic!("unexpected {other:?} after a label in {line}"),
                    }
                }
                c => key.push(c),
            }
        }
    }
    let value = rest.strip_prefix(' ').unwrap_or_else(|| panic!("no space before value: {line}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().unwrap_or_else(|e| panic!("bad value {v:?} in {line}: {e}")),
    };
    (name.to_owned(), labels, value)
}

/// A data directory with `orders` and `copies` (one partition each) and the
/// single-partition topics in `more`.
fn prepare(data: &Path, more: &[&str]) {
    let storage = Storage::open(data, StorageOptions::default()).unwrap();
    for name in ["orders", "copies"].iter().chain(more) {
        let spec = TopicSpec { name: name.to_string(), partitions: 1, configs: BTreeMap::new() };
        storage.create_topic(spec).unwrap();
    }
    storage.close().unwrap();
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn batch(count: usize) -> Bytes {
    let mut b = BatchBuilder::new(0, Compression::None);
    for i in 0..count {
        b.push(1_700_000_000_000 + i as i64, Some(b"k"), Some(format!("v{i}").as_bytes()), &[]);
    }
    b.build().unwrap()
}

async fn produce(c: &mut RawClient, topic: &str, partition: i32, count: usize) -> i16 {
    let request =
        ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![
            TopicProduceData::default().with_name(TopicName(s(topic))).with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch(count))),
            ]),
        ]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &request).await;
    r.responses[0].partition_responses[0].error_code
}

/// The JSON lines of a stderr capture; panics on any that is not a JSON object
/// with a timestamp, level and message.
fn json_log(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stderr line {l:?}: {e}")))
        .collect();
    for line in &lines {
        for key in ["timestamp", "level", "message"] {
            assert!(line.get(key).is_some(), "no {key} in {line}");
        }
    }
    lines
}

#[test]
fn metrics_after_kafka_traffic_and_a_processor_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    prepare(&data, &[]);
    let stderr = dir.path().join("serve.stderr");
    let weir = Weir::start(&data, &stderr, &["--log-format", "json"], &[]);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = runtime.block_on(async {
        let mut c = RawClient::connect(weir.kafka).await;
        assert_eq!(produce(&mut c, "orders", 0, 5).await, 0);
        assert_eq!(produce(&mut c, "orders", 7, 1).await, 3, "UNKNOWN_TOPIC_OR_PARTITION");
        let fetch =
            FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1 << 20).with_topics(vec![
                FetchTopic::default().with_topic(TopicName(s("orders"))).with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
            ]);
        let r: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch).await;
        assert_eq!(r.responses[0].partitions[0].high_watermark, 5);
        // A simple consumer's commit: group `reader` is at 2 of 5.
        let commit = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("reader")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(2),
                    ]),
            ]);
        let r: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 2, &commit).await;
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
        c
    });

    weir.deploy_flood("chatty", "orders", 2);
    weir.wait_records_in("chatty", 5);
    assert!(weir.logs("chatty").len() >= 10, "its lines are in __weir_logs");
    let m = weir.scrape();

    // Topics and partitions: 5 records in and fetched once; the processor's
    // reads are not fetches, its outputs are appends.
    let orders = [("topic", "orders"), ("partition", "0")];
    assert_eq!(m.get("weir_partition_records_in_total", &orders), 5.0);
    assert_eq!(m.get("weir_partition_records_out_total", &orders), 5.0);
    let bytes_in = m.get("weir_partition_bytes_in_total", &orders);
    assert!(bytes_in > 61.0, "{bytes_in}");
    assert_eq!(m.get("weir_partition_bytes_out_total", &orders), bytes_in);
    assert_eq!(m.get("weir_partition_high_watermark", &orders), 5.0);
    assert_eq!(m.get("weir_partition_log_start_offset", &orders), 0.0);
    assert_eq!(m.get("weir_partition_size_bytes", &orders), bytes_in);
    assert_eq!(m.get("weir_partition_segments", &orders), 1.0);
    let copies = [("topic", "copies"), ("partition", "0")];
    assert_eq!(m.get("weir_partition_records_in_total", &copies), 5.0);
    assert_eq!(m.get("weir_partition_records_out_total", &copies), 0.0);
    let logs = [("topic", "__weir_logs"), ("partition", "0")];
    assert!(m.get("weir_partition_high_watermark", &logs) >= 10.0);

    // Kafka requests, errors and latency per API.
    assert_eq!(m.get("weir_kafka_requests_total", &[("api", "Produce")]), 2.0);
    assert_eq!(m.get("weir_kafka_requests_total", &[("api", "Fetch")]), 1.0);
    assert_eq!(m.get("weir_kafka_requests_total", &[("api", "Metadata")]), 0.0);
    // A row for every API in the registry, and for no other.
    let rows: BTreeSet<&str> = m
        .samples
        .iter()
        .filter(|(name, _, _)| name == "weir_kafka_requests_total")
        .filter_map(|(_, labels, _)| labels.get("api").map(String::as_str))
        .collect();
    let registered: Vec<String> =
        weir_broker::kafka::handlers::APIS.iter().map(|a| format!("{:?}", a.key)).collect();
    assert_eq!(rows, registered.iter().map(String::as_str).collect());
    let unknown = [("api", "Produce"), ("error", "UNKNOWN_TOPIC_OR_PARTITION")];
    assert_eq!(m.get("weir_kafka_request_errors_total", &unknown), 1.0);
    assert!(!m.samples.iter().any(|(n, l, _)| n == "weir_kafka_request_errors_total"
        && l.get("api").is_some_and(|a| a == "Fetch")));
    let produce = [("api", "Produce")];
    assert_eq!(m.get("weir_kafka_request_duration_seconds_count", &produce), 2.0);
    let inf = [("api", "Produce"), ("le", "+Inf")];
    assert_eq!(m.get("weir_kafka_request_duration_seconds_bucket", &inf), 2.0);
    let slowest = [("api", "Produce"), ("le", "30")];
    assert_eq!(m.get("weir_kafka_request_duration_seconds_bucket", &slowest), 2.0);
    assert!(m.get("weir_kafka_request_duration_seconds_sum", &produce) > 0.0);
    assert_eq!(m.get("weir_kafka_connections_open", &[]), 1.0);
    assert_eq!(m.get("weir_kafka_connections_total", &[]), 1.0);

    // Groups: the simple consumer at 2 of 5, the processor's group caught up.
    let reader = [("group", "reader"), ("topic", "orders"), ("partition", "0")];
    assert_eq!(m.get("weir_group_committed_offset", &reader), 2.0);
    assert_eq!(m.get("weir_group_lag", &reader), 3.0);
    let chatty = [("group", "chatty"), ("topic", "orders"), ("partition", "0")];
    assert_eq!(m.get("weir_group_committed_offset", &chatty), 5.0);
    assert_eq!(m.get("weir_group_lag", &chatty), 0.0);
    assert_eq!(m.get("weir_group_members", &[("group", "reader")]), 0.0);

    // The processor.
    let p = [("processor", "chatty"), ("partition", "0")];
    assert_eq!(m.get("weir_processor_records_in_total", &p), 5.0);
    assert_eq!(m.get("weir_processor_records_out_total", &p), 5.0);
    assert_eq!(m.get("weir_processor_errors_total", &p), 0.0);
    assert_eq!(m.get("weir_processor_dead_lettered_total", &p), 0.0);
    assert!(m.get("weir_processor_batches_total", &p) >= 1.0);
    assert!(m.get("weir_processor_processing_seconds_total", &p) > 0.0);
    assert!(m.get("weir_processor_last_batch_seconds", &p) > 0.0);
    assert!(m.get("weir_processor_memory_bytes", &p) > 0.0);
    assert_eq!(m.get("weir_processor_lag", &p), 0.0);
    assert_eq!(
        m.get("weir_processor_state", &[("processor", "chatty"), ("state", "running")]),
        1.0
    );
    assert_eq!(m.get("weir_processor_state", &[("processor", "chatty"), ("state", "paused")]), 0.0);

    // The process.
    assert!(m.get("weir_uptime_seconds", &[]) > 0.0);
    assert!(m.get("weir_start_time_seconds", &[]) > 1.7e9);
    assert!(m.has("weir_build_info"));
    assert!(m.get("weir_process_resident_memory_bytes", &[]) > 1e6);
    assert!(m.get("weir_process_open_fds", &[]) > 3.0);

    // A second scrape sees the connection close, and counts only what came since.
    runtime.block_on(async move { drop(client) });
    let deadline = Instant::now() + PATIENCE;
    while weir.scrape().get("weir_kafka_connections_open", &[]) != 0.0 {
        assert!(Instant::now() < deadline, "the connection is still counted open");
        std::thread::sleep(Duration::from_millis(20));
    }

    let (code, stdout) = weir.stop();
    assert_eq!(code, Some(0));
    // stdout: only the listening lines; the log is on stderr, one JSON object a line.
    assert_eq!(stdout.len(), 2, "{stdout:?}");
    let log = json_log(&stderr);
    assert!(log.iter().any(|l| l["message"] == "clean shutdown"), "{log:#?}");
    assert!(
        log.iter().any(|l| l["processor"] == "chatty"
            && l["message"].as_str().is_some_and(|m| m.contains("misbehave: log line"))),
        "processor lines are in the broker's log too, with their fields"
    );
}

#[test]
fn processor_logs_survive_a_restart_and_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    prepare(&data, &["floods"]);
    let stderr = dir.path().join("serve.stderr");
    let weir = Weir::start(&data, &stderr, &[], &[("WEIR_LOG_FORMAT", "json")]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let produce_to = |kafka: SocketAddr, topic: &str, count: usize| {
        runtime.block_on(async {
            let mut c = RawClient::connect(kafka).await;
            assert_eq!(produce(&mut c, topic, 0, count).await, 0);
        })
    };

    weir.deploy_flood("chatty", "orders", 2);
    produce_to(weir.kafka, "orders", 3);
    weir.wait_records_in("chatty", 3);
    let before = weir.logs("chatty");
    let flood = |lines: &[Value]| -> Vec<(u64, String)> {
        lines
            .iter()
            .filter(|l| l["message"].as_str().unwrap().starts_with("misbehave: log line"))
            .map(|l| (l["seq"].as_u64().unwrap(), l["message"].as_str().unwrap().to_owned()))
            .collect()
    };
    let lines = flood(&before);
    assert_eq!(lines.len(), 6, "{before:#?}");
    assert_eq!(lines[0].1, "misbehave: log line 0 for offset 0");
    let seqs: Vec<u64> = before.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for line in &before {
        let keys: BTreeSet<&str> = line.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, BTreeSet::from(["seq", "partition", "timestamp_ms", "level", "message"]));
    }
    // Paging by seq.
    let last = lines[5].0;
    let after = weir.json("GET", &format!("/v1/processors/chatty/logs?after={}", lines[4].0), None);
    assert_eq!(flood(after.as_array().unwrap()), [lines[5].clone()]);
    let none = weir.json("GET", &format!("/v1/processors/chatty/logs?after={last}&limit=5"), None);
    assert!(flood(none.as_array().unwrap()).is_empty());

    // A processor that logs 5,000 lines at once keeps its allowance (a burst
    // of 2,000 lines, its host notes among them, then 1,000 a second), and says
    // how many it dropped.
    weir.deploy_flood("noisy", "floods", 5_000);
    produce_to(weir.kafka, "floods", 1);
    weir.wait_records_in("noisy", 1);
    let deadline = Instant::now() + PATIENCE;
    let (kept, dropped) = loop {
        let lines = weir.logs("noisy");
        let kept = flood(&lines).len() as u64;
        let dropped: u64 = lines
            .iter()
            .filter_map(|l| l["message"].as_str()?.split_once(" log lines dropped"))
            .map(|(n, _)| n.parse::<u64>().unwrap())
            .sum();
        if kept + dropped == 5_000 {
            break (kept, dropped);
        }
        assert!(Instant::now() < deadline, "kept {kept} and dropped {dropped} of 5000");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!((1_900..4_000).contains(&kept) && dropped > 0, "kept {kept}, dropped {dropped}");
    assert_eq!(weir.logs("chatty").len(), before.len(), "the noisy one did not crowd out chatty");

    let (code, stdout) = weir.stop();
    assert_eq!(code, Some(0));
    assert_eq!(stdout.len(), 2, "{stdout:?}");
    json_log(&stderr);

    // After a restart the lines are still there, with the same seqs; new lines
    // come after them.
    let weir = Weir::start(&data, &dir.path().join("again.stderr"), &[], &[]);
    let again = weir.logs("chatty");
    assert_eq!(flood(&again), lines);
    assert_eq!(again[..before.len()], before[..]);
    produce_to(weir.kafka, "orders", 1);
    weir.wait_records_in("chatty", 1);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = flood(&weir.logs("chatty"));
        if now.len() == 8 {
            assert_eq!(now[..6], lines[..]);
            assert!(now[6].0 > last && now[6].1 == "misbehave: log line 0 for offset 3");
            break;
        }
        assert!(Instant::now() < deadline, "{now:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // `weir processor logs` reads them as before.
    let out = Command::new(WEIR)
        .args(["processor", "--http", &weir.url, "logs", "chatty", "--limit", "3"])
        .env_remove("WEIR_HTTP")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.lines().last().unwrap().ends_with("misbehave: log line 1 for offset 3"), "{text}");
    // The text log format is the default.
    let (code, _) = weir.stop();
    assert_eq!(code, Some(0));
    let text_log = std::fs::read_to_string(dir.path().join("again.stderr")).unwrap();
    assert!(text_log.lines().any(|l| l.contains(" INFO ")), "{text_log}");
    assert!(!text_log.starts_with('{'), "{text_log}");
}
