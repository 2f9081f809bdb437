//! Readers of a topic's records through the broker's store, for the processor
//! tests and the `weir demo` test of the CLI crate; the order pipeline's model
//! they check against is `weir_examples::verify`.

use std::collections::BTreeMap;

use weir_broker::processors::BrokerStore;
use weir_examples::verify::{Partitions, Rec};
use weir_runtime::store::{InputRecord, LogStore};

/// Every record of `topic`, partition by partition, in offset order.
pub fn read_all(store: &BrokerStore, topic: &str) -> Vec<InputRecord> {
    read_partitions(store, topic).into_iter().flatten().collect()
}

/// Every record of `topic`, by partition, in offset order.
fn read_partitions(store: &BrokerStore, topic: &str) -> Vec<Vec<InputRecord>> {
    let mut all = Vec::new();
    for p in 0..store.partitions(topic).unwrap() {
        let (mut records, mut next) = (Vec::new(), 0);
        loop {
            let batch = store.read(topic, p, next, 10_000, 1 << 20).unwrap();
            let Some(last) = batch.last() else { break };
            next = last.offset + 1;
            records.extend(batch);
        }
        all.push(records);
    }
    all
}

/// The order pipeline's topics as its model reads them.
pub fn read_topics(store: &BrokerStore) -> BTreeMap<String, Partitions> {
    let rec =
        |r: InputRecord| Rec { key: r.key.map(|k| k.to_vec()), value: r.value.map(|v| v.to_vec()) };
    weir_examples::TOPICS
        .iter()
        .map(|(topic, _)| {
            let partitions = read_partitions(store, topic);
            (
                topic.to_string(),
                partitions.into_iter().map(|p| p.into_iter().map(rec).collect()).collect(),
            )
        })
        .collect()
}
