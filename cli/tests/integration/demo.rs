//! `weir demo` as a user would run it, on one data directory: stopped (SIGTERM)
//! midway, then run again with `--verify`, which resumes where the first run
//! stopped and recomputes every output with the independent model. The outputs
//! are checked once more here, through the broker library, so that the test does
//! not take the demo's word for it.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use pipeline::{read_all, read_topics};
use weir_broker::broker::{Broker, BrokerOptions};
use weir_broker::node::{Node, NodeConfig};
use weir_broker::processors::BrokerStore;
use weir_broker::storage::{Storage, StorageOptions};
use weir_broker::topic::TopicSpec;
use weir_examples::events::{self, OrderPlaced};
use weir_examples::wasm;
use weir_runtime::Manifest;

// The topic readers, shared with the broker's processor tests.
use crate::broker_support::pipeline;

/// `weir demo` on `dir` with these flags (besides the addresses and the directory).
fn demo_command(dir: &Path, flags: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .args(["demo", "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .args(flags)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn");
    command
}

/// Starts a long demo and stops it with SIGTERM once it reports progress;
/// returns its stdout.
fn demo_stopped_midway(dir: &Path) -> String {
    let mut child = demo_command(dir, &["--orders", "50000", "--rate", "2000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run weir demo");
    let mut stdout = String::new();
    let mut signalled = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // The first progress line: orders are flowing through the processors.
        if !signalled && line.contains("orders ") && line.contains(" | lag ") {
            let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            assert!(kill.unwrap().success());
            signalled = true;
        }
        stdout += &line;
        stdout.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(signalled, "no progress line:\n{stdout}");
    assert!(status.success(), "weir demo did not stop cleanly ({status}):\n{stdout}");
    stdout
}

#[test]
fn weir_demo_stopped_midway_resumes_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo_stopped_midway(dir.path());
    assert!(first.contains("kafka listening on 127.0.0.1:"), "{first}");
    assert!(
        first.contains("deployed processor inventory (stock-requests -> stock-decisions)"),
        "{first}"
    );
    assert!(first.contains("stopping: "), "{first}");
    assert!(first.contains("stopped cleanly"), "{first}");

    let output =
        demo_command(dir.path(), &["--orders", "500", "--rate", "5000", "--exit", "--verify"])
            .output()
            .expect("run weir demo");
    let second = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "weir demo --verify failed\n{second}\nstderr:\n{stderr}");
    assert!(second.contains("processor inventory resumes"), "{second}");
    assert!(second.contains("verify: all 11 checks passed"), "{second}");
    assert!(!second.contains("FAIL"), "{second}");

    // Once more, outside the demo: the orders of both runs, each once, and every
    // output as the model computes it.
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let broker = Broker::new(Arc::clone(&storage), BrokerOptions::default(), addr).unwrap();
    let store = BrokerStore::new(Arc::clone(&broker));
    let ids: BTreeSet<String> = read_all(&store, events::ORDERS)
        .iter()
        .map(|r| OrderPlaced::from_json(r.value.as_deref().unwrap()).unwrap().order_id)
        .collect();
    assert!(ids.len() > 500, "the first run produced orders before it stopped");
    assert_eq!(ids, (1..=ids.len()).map(|n| format!("o-{n:06}")).collect());
    let range = format!("o-{:06} to o-{:06}", ids.len() - 499, ids.len());
    assert!(second.contains(&range), "{range}: {second}");
    let report = weir_examples::verify::verify(&read_topics(&store));
    assert!(report.ok(), "{report}");
    storage.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_demo_refuses_a_data_directory_of_another_pipeline() {
    // An `inventory` that reads `orders`, as the demo's first versions deployed it.
    let dir = tempfile::tempdir().unwrap();
    let config =
        NodeConfig { kafka_addr: "127.0.0.1:0".parse().unwrap(), ..NodeConfig::local(dir.path()) };
    let node = Node::start(config).await.unwrap();
    for topic in [events::ORDERS, events::INVENTORY_EVENTS] {
        let spec = TopicSpec { name: topic.into(), partitions: 1, configs: Default::default() };
        node.broker().storage.create_topic(spec).unwrap();
    }
    let manifest = Manifest {
        name: "inventory".into(),
        inputs: vec![events::ORDERS.into()],
        allowed_lateness_ms: 0,
        outputs: vec![events::INVENTORY_EVENTS.into()],
        start: Default::default(),
        limits: Default::default(),
        on_error: Default::default(),
        config: [("output".into(), events::INVENTORY_EVENTS.into())].into(),
    };
    let processors = Arc::clone(node.processors().unwrap());
    tokio::task::spawn_blocking(move || processors.deploy(manifest, wasm::PASSTHROUGH))
        .await
        .unwrap()
        .unwrap();
    node.shutdown().await.unwrap();

    let output = demo_command(dir.path(), &["--orders", "10", "--exit"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("another version of the demo pipeline: remove it"), "{stderr}");
    assert!(stderr.contains("processor inventory runs with another `inputs`"), "{stderr}");
}
