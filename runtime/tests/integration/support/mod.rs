//! Shared by the runtime's integration tests: a runtime, an in-memory store with
//! topics, manifests, and bounded waits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_runtime::memory::MemoryStore;
use weir_runtime::{
    ErrorPolicy, Header, Limits, LogStore, Manifest, OutputRecord, Processor, Runtime,
    RuntimeOptions, StartPosition,
};

/// A runtime compiling without a cache.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions::default()).expect("runtime starts")
}

/// A store with `input` (`partitions` partitions), `out` and the dead-letter topic of `name`.
pub fn store_for(name: &str, input: &str, partitions: u32) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    store.create_topic(input, partitions);
    store.create_topic("out", 1);
    store.create_topic(&weir_runtime::dead_letter_topic(name), 1);
    store
}

/// A manifest reading `input`, emitting to `out`, with `config`.
pub fn manifest(name: &str, input: &str, config: &[(&str, &str)]) -> Manifest {
    Manifest {
        name: name.into(),
        inputs: vec![input.into()],
        allowed_lateness_ms: 0,
        outputs: vec!["out".into()],
        start: StartPosition::Earliest,
        limits: Limits::default(),
        on_error: ErrorPolicy::DeadLetter,
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// Appends `values` to a partition, keyed `k{i}`, with one header.
pub fn produce(store: &MemoryStore, topic: &str, partition: u32, values: &[&str]) {
    let records = values
        .iter()
        .enumerate()
        .map(|(i, v)| OutputRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(v.to_string())),
            headers: vec![Header { key: "h".into(), value: Some(Bytes::from_static(b"v")) }],
            timestamp: 1_000 + i as i64,
        })
        .collect();
    store.append(topic, partition, records).unwrap();
}

/// Polls `done` every 10 ms for up to `limit`; panics with `what` if it never holds.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `processor` has committed through `offset` on `partition`.
pub fn wait_committed(processor: &Processor, partition: u32, offset: u64) {
    wait_for(
        &format!("{} to commit {offset} on {partition}", processor.name()),
        Duration::from_secs(60),
        || processor.status().partitions[partition as usize].next_offset == Some(offset),
    );
}

/// The values of a partition's records, as strings.
pub fn values(store: &MemoryStore, topic: &str, partition: u32) -> Vec<String> {
    store
        .records(topic, partition)
        .into_iter()
        .map(|r| String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned())
        .collect()
}

/// The value of header `key` of a record.
pub fn header(record: &weir_runtime::InputRecord, key: &str) -> Option<String> {
    record
        .headers
        .iter()
        .rev()
        .find(|h| h.key == key)
        .map(|h| String::from_utf8_lossy(h.value.as_deref().unwrap_or_default()).into_owned())
}
