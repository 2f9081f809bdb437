//! The order pipeline's expected outputs, computed from its inputs by plain code
//! (an independent model, not the processors' own), and readers of a topic's
//! records through the broker's store. Shared by the processor tests and the
//! `weir demo` test of the CLI crate.

use std::collections::BTreeMap;

use weir_broker::processors::BrokerStore;
use weir_examples::events::{self, InventoryEvent, OrderPlaced, StockLine};
use weir_runtime::store::{InputRecord, LogStore};

/// Every record of `topic`, partition by partition, in offset order.
pub fn read_all(store: &BrokerStore, topic: &str) -> Vec<InputRecord> {
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
pub fn expected_inventory(
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
pub fn orders_of(store: &BrokerStore) -> Vec<(u32, OrderPlaced)> {
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
pub fn inventory_events(records: Vec<InputRecord>) -> BTreeMap<String, InventoryEvent> {
    let mut events = BTreeMap::new();
    for r in records {
        let event: InventoryEvent = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
        assert!(events.insert(key.clone(), event).is_none(), "{key} was processed twice");
    }
    events
}
