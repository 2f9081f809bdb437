//! `weir demo` run twice as a user would, on one data directory: the second run
//! resumes where the first stopped, and every order reaches every output exactly
//! once (checked on the data directory afterwards, through the broker library).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use weir_broker::broker::{Broker, BrokerOptions};
use weir_broker::processors::BrokerStore;
use weir_broker::storage::{Storage, StorageOptions};
use weir_examples::events::{self, InventoryEvent, OrderPlaced, StockLine};
use weir_runtime::store::{InputRecord, LogStore};

fn read_all(store: &BrokerStore, topic: &str) -> Vec<InputRecord> {
    let mut all = Vec::new();
    for p in 0..store.partitions(topic).unwrap() {
        let mut next = 0;
        loop {
            let records = store.read(topic, p, next, 10_000, 1 << 20).unwrap();
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            all.extend(records);
        }
    }
    all
}

/// What the inventory processor must emit for `orders`, processed in order
/// within each input partition: the state of each partition is its own.
fn expected_inventory(
    orders: &[(u32, OrderPlaced)],
    initial: u32,
) -> BTreeMap<String, InventoryEvent> {
    let mut stock: BTreeMap<(u32, String), u32> = BTreeMap::new();
    let mut events = BTreeMap::new();
    for (partition, order) in orders {
        let mut wanted: BTreeMap<&str, u32> = BTreeMap::new();
        for item in &order.items {
            *wanted.entry(&item.sku).or_default() += item.qty;
        }
        let lines: Vec<(StockLine, bool)> = wanted
            .iter()
            .map(|(sku, qty)| {
                let have = *stock.get(&(*partition, sku.to_string())).unwrap_or(&initial);
                let line = |stock| StockLine { sku: sku.to_string(), qty: *qty, stock };
                match have.checked_sub(*qty) {
                    Some(left) => (line(left), true),
                    None => (line(have), false),
                }
            })
            .collect();
        let event = if lines.iter().all(|(_, ok)| *ok) {
            for (line, _) in &lines {
                stock.insert((*partition, line.sku.clone()), line.stock);
            }
            let reserved = lines.into_iter().map(|(l, _)| l).collect();
            InventoryEvent::StockReserved {
                order_id: order.order_id.clone(),
                reserved,
                ts: order.ts,
            }
        } else {
            let missing = lines.into_iter().filter(|(_, ok)| !ok).map(|(l, _)| l).collect();
            InventoryEvent::OutOfStock { order_id: order.order_id.clone(), missing, ts: order.ts }
        };
        events.insert(order.order_id.clone(), event);
    }
    events
}

/// Each order of `orders` (all partitions, in offset order within each), with its partition.
fn orders_of(store: &BrokerStore) -> Vec<(u32, OrderPlaced)> {
    let mut orders = Vec::new();
    for p in 0..store.partitions(events::ORDERS).unwrap() {
        let mut next = 0;
        loop {
            let records = store.read(events::ORDERS, p, next, 10_000, 1 << 20).unwrap();
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            for r in records {
                orders.push((p, OrderPlaced::from_json(r.value.as_deref().unwrap()).unwrap()));
            }
        }
    }
    orders
}

/// The inventory events by order id; each order must have exactly one.
fn inventory_events(records: Vec<InputRecord>) -> BTreeMap<String, InventoryEvent> {
    let mut events = BTreeMap::new();
    for r in records {
        let event: InventoryEvent = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
        assert!(events.insert(key.clone(), event).is_none(), "{key} was processed twice");
    }
    events
}

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
