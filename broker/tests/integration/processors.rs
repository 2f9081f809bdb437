//! Processors on a real broker (127.0.0.1:0) with the real embedded components of
//! `weir-examples`: deployment, processing, offsets seen by Kafka clients,
//! restarts that neither lose nor repeat state, pause/upgrade/delete, refusals.
//! (`weir demo` run twice is in weir-cli's tests, beside the binary.)

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::pipeline::{read_all, read_topics};
use support::{RawClient, TestBroker};
use weir_broker::broker::Broker;
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::node::NodeConfig;
use weir_broker::processors::{BrokerStore, ProcessorError, Processors, state_topic};
use weir_broker::topic::TopicSpec;
use weir_examples::Deployment;
use weir_examples::events;
use weir_examples::generator::{GeneratorConfig, OrderGenerator};
use weir_examples::verify;
use weir_examples::wasm;
use weir_runtime::partitioner::partition_for_key;
use weir_runtime::store::InputRecord;
use weir_runtime::{Manifest, ProcessorState, WorkerState};

/// How long a test waits for processors to catch up.
const PATIENCE: Duration = Duration::from_secs(60);

/// The compiled-component cache shared by every test (and run).
fn component_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("processor-cache")
}

/// A real node with processors, on `dir`.
pub(crate) struct Node {
    pub(crate) broker: TestBroker,
    pub(crate) processors: Arc<Processors>,
}

impl Node {
    pub(crate) async fn start(dir: &Path) -> Node {
        let config =
            NodeConfig { component_cache: Some(component_cache()), ..NodeConfig::local(dir) };
        let broker = TestBroker::start_node(config).await;
        let processors = Arc::clone(broker.node().processors().expect("processors"));
        Node { broker, processors }
    }

    /// Stops the node: processors at a batch boundary, storage closed.
    pub(crate) async fn stop(self) {
        self.broker.stop().await;
    }

    fn broker(&self) -> &Arc<Broker> {
        &self.broker.broker
    }

    pub(crate) fn create(&self, topic: &str, partitions: u32) {
        let spec = TopicSpec { name: topic.into(), partitions, configs: BTreeMap::new() };
        self.broker.storage.create_topic(spec).unwrap();
    }

    pub(crate) async fn deploy(
        &self,
        manifest: Manifest,
        module: &'static [u8],
    ) -> Result<(), ProcessorError> {
        let processors = Arc::clone(&self.processors);
        tokio::task::spawn_blocking(move || processors.deploy(manifest, module).map(drop))
            .await
            .unwrap()
    }

    /// Appends keyed values to a partition as one batch, as a producer would.
    pub(crate) fn append(&self, topic: &str, partition: u32, records: &[(&[u8], &[u8])]) {
        let mut batch = BatchBuilder::new(0, Compression::None);
        for (key, value) in records {
            batch.push(1_700_000_000_000, Some(key), Some(value), &[]);
        }
        let log = self.broker.storage.partition(topic, partition).unwrap();
        log.append(&batch.build().unwrap()).unwrap();
    }

    pub(crate) fn high_watermark(&self, topic: &str) -> u64 {
        let spec = self.broker.storage.topic(topic).expect("the topic exists");
        let log = |p| self.broker.storage.partition(topic, p).unwrap().high_watermark();
        (0..spec.partitions).map(log).sum()
    }

    pub(crate) fn records(&self, topic: &str) -> Vec<InputRecord> {
        read_all(&BrokerStore::new(Arc::clone(self.broker())), topic)
    }

    /// Waits until every worker of `processor` is paused and has seen `lag`
    /// records arrive that it holds back; checks none was processed.
    async fn wait_held_back(&self, processor: &str, lag: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let partitions = self.processors.get(processor).unwrap().status.partitions;
            let paused = partitions.iter().all(|p| p.state == WorkerState::Paused(None));
            if paused && partitions.iter().map(|p| p.lag).sum::<u64>() == lag {
                let done: u64 = partitions.iter().map(|p| p.records_in + p.batches).sum();
                assert_eq!(done, 0, "a paused processor processed records: {partitions:?}");
                return;
            }
            assert!(Instant::now() < deadline, "{processor} never held back {lag}: {partitions:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `topic` holds `count` records and every processor has caught
    /// up with its input; then checks it holds no more.
    pub(crate) async fn wait_for(&self, topic: &str, count: u64) {
        let deadline = Instant::now() + PATIENCE;
        while self.high_watermark(topic) < count {
            assert!(
                Instant::now() < deadline,
                "{topic} has {} of {count}",
                self.high_watermark(topic)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Then every processor has committed all of its input, so nothing
        // more is on its way: only now does "no more than expected" mean something.
        loop {
            let end = |topic: &str, p| {
                self.broker.storage.partition(topic, p).map(|log| log.high_watermark())
            };
            let caught_up = self.processors.list().iter().all(|p| {
                p.status
                    .partitions
                    .iter()
                    .all(|w| w.inputs.iter().all(|i| i.next_offset == end(&i.topic, w.partition)))
            });
            if caught_up {
                break;
            }
            assert!(Instant::now() < deadline, "the processors never caught up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(self.high_watermark(topic), count, "{topic} got more than expected");
    }

    /// Waits until every processor has read all of its input twice in a row with
    /// no record written in between: then nothing more is on its way, even
    /// through processors that feed each other.
    pub(crate) async fn wait_caught_up(&self) {
        let deadline = Instant::now() + PATIENCE;
        let mut quiet_at = None;
        loop {
            let written: u64 =
                self.broker.storage.topics().iter().map(|t| self.high_watermark(&t.name)).sum();
            let end = |topic: &str, p| {
                self.broker.storage.partition(topic, p).map(|log| log.high_watermark())
            };
            let idle = self.processors.list().iter().all(|p| {
                p.status
                    .partitions
                    .iter()
                    .all(|w| w.inputs.iter().all(|i| i.next_offset == end(&i.topic, w.partition)))
            });
            if idle && quiet_at == Some(written) {
                return;
            }
            quiet_at = idle.then_some(written);
            assert!(Instant::now() < deadline, "the processors never caught up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn manifest(name: &str, input: &str, outputs: &[&str], config: &[(&str, &str)]) -> Manifest {
    Manifest {
        name: name.into(),
        inputs: vec![input.into()],
        allowed_lateness_ms: 0,
        outputs: outputs.iter().map(|t| t.to_string()).collect(),
        start: Default::default(),
        limits: Default::default(),
        on_error: Default::default(),
        config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

async fn produce(c: &mut RawClient, topic: &str, partition: i32, values: &[&str]) -> i16 {
    let mut batch = BatchBuilder::new(0, Compression::None);
    for v in values {
        batch.push(1_700_000_000_000, Some(b"k"), Some(v.as_bytes()), &[]);
    }
    let data = PartitionProduceData::default()
        .with_index(partition)
        .with_records(Some(batch.build().unwrap()));
    let topic =
        TopicProduceData::default().with_name(TopicName(s(topic))).with_partition_data(vec![data]);
    let request =
        ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![topic]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 9, &request).await;
    r.responses[0].partition_responses[0].error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_consumes_what_kafka_clients_produce_and_commits_as_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    node.create("in", 2);
    node.create("out", 1);
    node.deploy(manifest("pass", "in", &["out"], &[("output", "out")]), wasm::PASSTHROUGH)
        .await
        .unwrap();

    let mut c = RawClient::connect(node.broker.addr).await;
    assert_eq!(produce(&mut c, "in", 0, &["a", "b", "c"]).await, 0);
    assert_eq!(produce(&mut c, "in", 1, &["d", "e"]).await, 0);
    node.wait_for("out", 5).await;
    let values: BTreeSet<Bytes> = node.records("out").into_iter().filter_map(|r| r.value).collect();
    let want: BTreeSet<Bytes> = ["a", "b", "c", "d", "e"].map(|v| Bytes::from(v.as_bytes())).into();
    assert_eq!(values, want);

    // The processor is the consumer group "pass": Kafka tools see its offsets.
    let asked = OffsetFetchRequestTopic::default()
        .with_name(TopicName(s("in")))
        .with_partition_indexes(vec![0, 1]);
    let fetch = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("pass")))
        .with_topics(Some(vec![asked]));
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 1, &fetch).await;
    let offsets: Vec<i64> = r.topics[0].partitions.iter().map(|p| p.committed_offset).collect();
    assert_eq!(offsets, [3, 2]);

    // Its state changelog is internal: clients cannot write it.
    assert_eq!(produce(&mut c, &state_topic("pass"), 0, &["x"]).await, 17);
    let info = node.processors.get("pass").unwrap();
    assert_eq!((info.version, info.paused, info.status.partitions.len()), (1, false, 2));
    assert_eq!(node.processors.list().len(), 1);
    assert!(node.broker.storage.topic("pass.dead-letter").is_some());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_pipeline_is_exact_across_a_restart_in_the_middle_of_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    for (topic, partitions) in weir_examples::TOPICS {
        node.create(topic, partitions);
    }
    // Little stock, so SKUs run out, orders are rejected and lines released.
    let deployed: Vec<Deployment> = weir_examples::pipeline()
        .into_iter()
        .map(|d| match d.name {
            "inventory" => Deployment { config: &[("initial_stock", "40")], ..d },
            _ => d,
        })
        .collect();
    // An order every 100 ms of event time: 2,000 orders span minutes that close.
    let config = GeneratorConfig { seed: 3, interval_ms: 100, ..Default::default() };
    let mut generator = OrderGenerator::new(config);
    let mut add = |node: &Node, count: usize| {
        let orders: Vec<(Vec<u8>, Vec<u8>)> = generator.by_ref().take(count).collect();
        for p in 0..weir_examples::PARTITIONS {
            let records: Vec<_> = orders
                .iter()
                .filter(|(k, _)| partition_for_key(k, weir_examples::PARTITIONS) == p)
                .collect();
            for chunk in records.chunks(25) {
                let chunk: Vec<(&[u8], &[u8])> =
                    chunk.iter().map(|(k, v)| (&k[..], &v[..])).collect();
                node.append(events::ORDERS, p, &chunk);
            }
        }
    };
    for d in &deployed {
        let mut m = manifest(d.name, d.input, d.outputs, d.config);
        // Small batches, so the stop below lands between two of them mid-input.
        m.limits.max_batch_records = 10;
        node.deploy(m, d.wasm).await.unwrap();
    }
    add(&node, 1_500);
    // Stop while the stages work through the input: each at a batch boundary.
    let deadline = Instant::now() + PATIENCE;
    while node.high_watermark(events::INVENTORY_EVENTS) < 200 {
        assert!(Instant::now() < deadline, "the pipeline never started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let verdicts = node.high_watermark(events::INVENTORY_EVENTS);
    node.stop().await;
    eprintln!("stopped after {verdicts} of 1500 verdicts");

    let node = Node::start(dir.path()).await;
    add(&node, 500);
    node.wait_for(events::NOTIFICATIONS, 2_000).await;
    node.wait_caught_up().await;
    let store = BrokerStore::new(Arc::clone(node.broker()));
    let report = verify::verify_deployed(&read_topics(&store), &deployed);
    assert!(report.ok(), "{report}");
    let text = report.to_string();
    assert!(!text.contains(" 0 out of stock") && !text.contains(" 0 declined"), "{text}");
    assert!(!text.contains(": 0 minutes totalled"), "{text}");

    // The router's consumer group's offsets: the ends of the orders partitions.
    let offsets = node.broker().groups.fetch_offsets("router", None);
    let mut offsets: Vec<(i32, u64)> =
        offsets.into_iter().map(|(tp, o)| (tp.partition, o.unwrap().offset as u64)).collect();
    offsets.sort();
    let ends = |p| node.broker.storage.partition(events::ORDERS, p).unwrap().high_watermark();
    assert_eq!(offsets, [(0, ends(0)), (1, ends(1)), (2, ends(2))]);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_upgrade_and_delete_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    node.create("in", 1);
    node.create("out", 1);
    node.deploy(manifest("p", "in", &["out"], &[("output", "out")]), wasm::PASSTHROUGH)
        .await
        .unwrap();
    assert!(node.processors.pause("p").unwrap().paused);
    node.append("in", 0, &[(b"k", b"one"), (b"k", b"two")]);
    node.wait_held_back("p", 2).await;
    assert_eq!(node.high_watermark("out"), 0, "a paused processor does nothing");

    // Paused it stays, across a restart: from its first moment, not after a batch.
    node.stop().await;
    let node = Node::start(dir.path()).await;
    let info = node.processors.get("p").unwrap();
    assert!(info.paused);
    assert_eq!(info.status.state, ProcessorState::Paused);
    node.wait_held_back("p", 2).await;
    assert_eq!(node.high_watermark("out"), 0);
    assert!(!node.processors.resume("p").unwrap().paused);
    node.wait_for("out", 2).await;

    // An upgrade swaps the module and config and survives a restart.
    let config =
        BTreeMap::from([("output".into(), "out".into()), ("needle".into(), "keep".into())]);
    let processors = Arc::clone(&node.processors);
    let info =
        tokio::task::spawn_blocking(move || processors.upgrade("p", wasm::FILTER, Some(config)))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(info.version, 2);
    node.append("in", 0, &[(b"k", b"keep 1"), (b"k", b"drop"), (b"k", b"keep 2")]);
    node.wait_for("out", 4).await;
    node.stop().await;
    let node = Node::start(dir.path()).await;
    let info = node.processors.get("p").unwrap();
    assert_eq!((info.version, info.manifest.config["needle"].as_str()), (2, "keep"));
    node.append("in", 0, &[(b"k", b"drop again"), (b"k", b"keep 3")]);
    node.wait_for("out", 5).await;

    // Delete takes the state changelog, the group's offsets and the files; the
    // dead letters stay.
    let processors = Arc::clone(&node.processors);
    tokio::task::spawn_blocking(move || processors.delete("p")).await.unwrap().unwrap();
    assert!(node.broker.storage.topic(&state_topic("p")).is_none());
    assert!(node.broker().groups.fetch_offsets("p", None).is_empty());
    assert!(!dir.path().join("processors").join("p").exists());
    assert!(node.broker.storage.topic("p.dead-letter").is_some());
    assert!(matches!(node.processors.get("p"), Err(ProcessorError::NotFound(_))));
    assert_eq!(node.processors.delete("p").unwrap_err().status_code(), 404);

    // Deployed again, it starts from scratch: all 7 inputs pass through anew.
    node.deploy(manifest("p", "in", &["out"], &[("output", "out")]), wasm::PASSTHROUGH)
        .await
        .unwrap();
    node.wait_for("out", 12).await;
    node.stop().await;
    let node = Node::start(dir.path()).await;
    assert_eq!(node.processors.get("p").unwrap().version, 1);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_over_a_topics_batch_limit_are_split_and_a_record_too_large_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    node.create("in", 1);
    let configs = BTreeMap::from([("max.message.bytes".to_string(), "2000".to_string())]);
    let spec = TopicSpec { name: "out".into(), partitions: 1, configs };
    node.broker.storage.create_topic(spec).unwrap();
    node.deploy(manifest("p", "in", &["out"], &[("output", "out")]), wasm::PASSTHROUGH)
        .await
        .unwrap();
    // One input batch whose outputs (6 KB) are three times the limit of "out".
    let value = vec![b'v'; 600];
    let batch: Vec<(&[u8], &[u8])> = (0..10).map(|_| (&b"k"[..], &value[..])).collect();
    node.append("in", 0, &batch);
    node.wait_for("out", 10).await;

    // A record that cannot fit "out" even alone fails at emit: it is
    // dead-lettered (the default policy) and the one after it flows on.
    let big = vec![b'b'; 3000];
    node.append("in", 0, &[(b"k", &big[..]), (b"k", b"after")]);
    node.wait_for("p.dead-letter", 1).await;
    node.wait_for("out", 11).await;
    let letter = &node.records("p.dead-letter")[0];
    assert_eq!(letter.value.as_deref(), Some(&big[..]));
    let error = letter.headers.iter().find(|h| h.key == "weir.error").unwrap();
    let error = String::from_utf8_lossy(error.value.as_deref().unwrap()).into_owned();
    assert!(error.contains("max.message.bytes"), "{error}");
    assert_eq!(node.records("out")[10].value.as_deref(), Some(&b"after"[..]));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deployments_are_refused_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    node.create("in", 1);
    node.create("out", 1);
    let pass = |name: &str, input: &str, output: &str| {
        manifest(name, input, &[output], &[("output", output)])
    };
    let refused = |e: ProcessorError| (e.status_code(), e.to_string());

    let (code, message) =
        refused(node.deploy(pass("a", "nope", "out"), wasm::PASSTHROUGH).await.unwrap_err());
    assert_eq!(code, 400);
    assert!(message.contains("topic nope does not exist: create it first"), "{message}");
    let (code, _) =
        refused(node.deploy(pass("a", "in", "gone"), wasm::PASSTHROUGH).await.unwrap_err());
    assert_eq!(code, 400);
    let e = node.deploy(pass("a b", "in", "out"), wasm::PASSTHROUGH).await.unwrap_err();
    assert!(matches!(e, ProcessorError::InvalidManifest(_)), "{e}");
    let e = node.deploy(pass(".a", "in", "out"), wasm::PASSTHROUGH).await.unwrap_err();
    assert!(matches!(e, ProcessorError::ReservedName(_)), "{e}");
    let e =
        node.deploy(pass("a", "in", "__consumer_offsets"), wasm::PASSTHROUGH).await.unwrap_err();
    assert!(matches!(e, ProcessorError::InternalTopic(_)), "{e}");
    let (code, message) =
        refused(node.deploy(pass("a", "in", "out"), b"not wasm").await.unwrap_err());
    assert_eq!(code, 422);
    assert!(message.contains("not WebAssembly"), "{message}");

    for name in ["a", "a b", ".a"] {
        assert!(node.broker.storage.topic(&state_topic(name)).is_none(), "{name}");
        assert!(node.broker.storage.topic(&format!("{name}.dead-letter")).is_none(), "{name}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("processors"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != ".cache")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    node.deploy(pass("a", "in", "out"), wasm::PASSTHROUGH).await.unwrap();
    let e = node.deploy(pass("a", "in", "out"), wasm::PASSTHROUGH).await.unwrap_err();
    assert_eq!((e.status_code(), matches!(e, ProcessorError::AlreadyExists(_))), (409, true));
    assert_eq!(node.processors.pause("zz").unwrap_err().status_code(), 404);
    assert_eq!(node.processors.logs("zz", 0, 10).unwrap_err().status_code(), 404);
    assert!(!node.processors.logs("a", 0, 10).unwrap().is_empty());

    node.processors.shutdown();
    assert_eq!(node.processors.pause("a").unwrap_err().status_code(), 503);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_starts_workers_when_its_input_gains_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path()).await;
    node.create("in", 2);
    node.create("out", 1);
    node.deploy(manifest("pass", "in", &["out"], &[("output", "out")]), wasm::PASSTHROUGH)
        .await
        .unwrap();
    node.append("in", 1, &[(b"k", b"before")]);
    node.wait_for("out", 1).await;

    // Two more partitions, as CreatePartitions adds them; records on them are
    // processed without a restart, and the changelog has a partition for each.
    node.broker.broker.add_partitions("in", 4, false).unwrap();
    node.append("in", 3, &[(b"k", b"on-3")]);
    node.append("in", 2, &[(b"k", b"on-2")]);
    node.wait_for("out", 3).await;
    let values: BTreeSet<Bytes> = node.records("out").into_iter().filter_map(|r| r.value).collect();
    let want: BTreeSet<Bytes> =
        ["before", "on-3", "on-2"].map(|v| Bytes::from(v.as_bytes())).into();
    assert_eq!(values, want);
    assert_eq!(node.processors.get("pass").unwrap().status.partitions.len(), 4);
    assert_eq!(node.broker.storage.topic(&state_topic("pass")).unwrap().partitions, 4);
    node.stop().await;

    // After a restart it runs four workers from their committed offsets.
    let node = Node::start(dir.path()).await;
    node.append("in", 3, &[(b"k", b"after")]);
    node.wait_for("out", 4).await;
    node.stop().await;
}
