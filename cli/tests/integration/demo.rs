//! `weir demo` run twice as a user would, on one data directory: the second run
//! resumes where the first stopped, and every order reaches every output exactly
//! once (checked on the data directory afterwards, through the broker library).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use pipeline::{expected_inventory, inventory_events, orders_of, read_all};
use weir_broker::broker::{Broker, BrokerOptions};
use weir_broker::processors::BrokerStore;
use weir_broker::storage::{Storage, StorageOptions};
use weir_examples::events;

// The pipeline's model and topic readers, shared with the broker's processor tests.
use crate::broker_support::pipeline;

/// Runs `weir demo` on `dir`; returns its stdout.
fn demo(dir: &Path, orders: u64) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "demo",
            "--kafka-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--rate",
            "5000",
        ])
        .args(["--orders", &orders.to_string(), "--exit", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run weir demo");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "weir demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}

#[test]
fn weir_demo_twice_continues_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo(dir.path(), 500);
    assert!(first.contains("kafka listening on 127.0.0.1:"), "{first}");
    assert!(first.contains("deployed processor inventory"), "{first}");
    assert!(first.contains("o-000001 to o-000500"), "{first}");
    let second = demo(dir.path(), 500);
    assert!(second.contains("processor inventory resumes"), "{second}");
    assert!(second.contains("o-000501 to o-001000"), "{second}");
    assert!(second.contains("stopped cleanly"), "{second}");

    // Every order once in every output, and inventory's state exactly as one
    // uninterrupted pass over the orders would leave it.
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let broker = Broker::new(Arc::clone(&storage), BrokerOptions::default(), addr).unwrap();
    let store = BrokerStore::new(Arc::clone(&broker));
    let orders = orders_of(&store);
    let ids: BTreeSet<String> = orders.iter().map(|(_, o)| o.order_id.clone()).collect();
    assert_eq!(ids, (1..=1000).map(|n| format!("o-{n:06}")).collect());
    let inventory = inventory_events(read_all(&store, events::INVENTORY_EVENTS));
    let stock: u32 = weir_examples::pipeline()
        .iter()
        .find(|d| d.name == "inventory")
        .and_then(|d| d.config.iter().find(|(k, _)| *k == "initial_stock"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    assert_eq!(inventory, expected_inventory(&orders, stock));
    for topic in [events::PAYMENTS, events::NOTIFICATIONS] {
        let keys: BTreeSet<Bytes> =
            read_all(&store, topic).into_iter().filter_map(|r| r.key).collect();
        assert_eq!(keys.len(), 1000, "{topic}");
    }
    storage.close().unwrap();
}
