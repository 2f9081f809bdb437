//! The order pipeline end to end, and its windowed stage alone.
//!
//! 1. Orders/s through all eight processors of `weir_examples::pipeline()` on the
//!    runtime's in-memory store: the orders are appended to `orders` first (3
//!    partitions, keyed by order id), then the processors start together, and the
//!    clock stops once every processor has read all of its input twice in a row
//!    with nothing written in between. The outputs are then checked with
//!    `weir_examples::verify`, so the figure is of a pipeline that computed the
//!    right answer.
//! 2. Records/s of the `minutes` processor alone (a tumbling one-minute window
//!    per orders partition, 5 s grace) through the harness, batch 1,000, one thread.
//! 3. Records/s of a stream-table join (`examples/guests/joins`, kind `table`):
//!    10,000 table rows applied, then as many stream records as orders, each
//!    looked up and emitted with its row, batch 1,000, one thread.
//!
//! `cargo bench -p weir-runtime --bench pipeline` (WEIR_BENCH_ORDERS changes the
//! order count, default 200,000).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_examples::generator::{GeneratorConfig, OrderGenerator};
use weir_examples::verify::{self, Partitions, Rec};
use weir_examples::{PARTITIONS, TOPICS, events, pipeline};
use weir_runtime::harness::Harness;
use weir_runtime::memory::MemoryStore;
use weir_runtime::partitioner::partition_for_key;
use weir_runtime::{
    ErrorPolicy, InputRecord, Limits, LogStore, Manifest, OutputRecord, Runtime, RuntimeOptions,
    StartPosition,
};

fn orders(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    OrderGenerator::new(GeneratorConfig::default()).take(n).collect()
}

/// Records in every topic.
fn written(store: &MemoryStore) -> u64 {
    let hwm = |t: &str, p| store.bounds(t, p).unwrap().high_watermark;
    TOPICS.iter().map(|(t, n)| (0..*n).map(|p| hwm(t, p)).sum::<u64>()).sum()
}

fn end_to_end(rt: &Runtime, orders: &[(Vec<u8>, Vec<u8>)]) -> (f64, bool) {
    let store = Arc::new(MemoryStore::new());
    for (topic, partitions) in TOPICS {
        store.create_topic(topic, partitions);
    }
    let mut by_partition: BTreeMap<u32, Vec<OutputRecord>> = BTreeMap::new();
    for (key, value) in orders {
        by_partition.entry(partition_for_key(key, PARTITIONS)).or_default().push(OutputRecord {
            key: Some(Bytes::copy_from_slice(key)),
            value: Some(Bytes::copy_from_slice(value)),
            headers: Vec::new(),
            timestamp: 1_764_370_000_000,
        });
    }
    for (p, records) in by_partition {
        for chunk in records.chunks(1_000) {
            store.append(events::ORDERS, p, chunk.to_vec()).unwrap();
        }
    }
    let modules: Vec<_> = pipeline().iter().map(|d| rt.compile(d.wasm).unwrap()).collect();
    let start = Instant::now();
    let mut running = Vec::new();
    for (d, module) in pipeline().iter().zip(modules) {
        store.create_topic(&weir_runtime::dead_letter_topic(d.name), 1);
        let manifest = Manifest {
            name: d.name.into(),
            inputs: vec![d.input.into()],
            allowed_lateness_ms: 0,
            outputs: d.outputs.iter().map(|t| t.to_string()).collect(),
            start: StartPosition::Earliest,
            limits: Limits::default(),
            on_error: ErrorPolicy::DeadLetter,
            config: d.config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        running.push(rt.start(manifest, module, store.clone()).unwrap());
    }
    let mut quiet_at = None;
    loop {
        let total = written(&store);
        let idle = running.iter().all(|p| {
            p.status().partitions.iter().all(|w| {
                w.inputs.iter().all(|i| {
                    i.next_offset
                        == Some(store.bounds(&i.topic, w.partition).unwrap().high_watermark)
                })
            })
        });
        if idle && quiet_at == Some(total) {
            break;
        }
        quiet_at = idle.then_some(total);
        std::thread::sleep(Duration::from_millis(2));
    }
    let rate = orders.len() as f64 / start.elapsed().as_secs_f64();
    for p in &running {
        p.stop();
    }
    let topics: BTreeMap<String, Partitions> = TOPICS
        .iter()
        .map(|(t, n)| {
            let read = |p| {
                let rec = |r: InputRecord| Rec {
                    key: r.key.map(|k| k.to_vec()),
                    value: r.value.map(|v| v.to_vec()),
                };
                store.records(t, p).into_iter().map(rec).collect::<Vec<_>>()
            };
            (t.to_string(), (0..*n).map(read).collect())
        })
        .collect();
    let report = verify::verify(&topics);
    if !report.ok() {
        eprintln!("{report}");
    }
    (rate, report.ok())
}

fn window_rate(rt: &Runtime, orders: &[(Vec<u8>, Vec<u8>)]) -> f64 {
    let module = rt.compile(weir_examples::wasm::MINUTES).unwrap();
    let outputs = [events::MINUTE_PARTIALS, events::LATE_ORDERS];
    let config = [("grace_ms".to_string(), "5000".to_string())];
    let mut harness = Harness::new(&module, Limits::default(), &outputs, &config).unwrap();
    let input: Vec<InputRecord> = orders
        .iter()
        .enumerate()
        .map(|(i, (k, v))| InputRecord {
            input: 0,
            offset: i as u64,
            timestamp: 1_764_370_000_000,
            key: Some(Bytes::copy_from_slice(k)),
            value: Some(Bytes::copy_from_slice(v)),
            headers: Vec::new(),
        })
        .collect();
    let start = Instant::now();
    for chunk in input.chunks(1_000) {
        harness.process(chunk).unwrap();
    }
    input.len() as f64 / start.elapsed().as_secs_f64()
}

fn table_join_rate(rt: &Runtime, n: usize) -> f64 {
    let module = rt.compile(weir_examples::wasm::JOINS).unwrap();
    let config: Vec<(String, String)> =
        [("kind", "table"), ("table", "users"), ("output", "joined")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let inputs = ["clicks", "users"];
    let mut harness =
        Harness::with_inputs(&module, Limits::default(), &inputs, &["joined"], &config).unwrap();
    let record = |input: u32, offset: usize, key: String, value: String| InputRecord {
        input,
        offset: offset as u64,
        timestamp: 1_764_370_000_000 + offset as i64,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: Vec::new(),
    };
    let users: Vec<InputRecord> = (0..10_000)
        .map(|i| record(1, i, format!("user-{i}"), format!("{{\"name\":\"user {i}\"}}")))
        .collect();
    let clicks: Vec<InputRecord> = (0..n)
        .map(|i| record(0, i, format!("user-{}", i * 7 % 10_000), format!("click {i}")))
        .collect();
    for chunk in users.chunks(1_000) {
        harness.process(chunk).unwrap();
    }
    let start = Instant::now();
    for chunk in clicks.chunks(1_000) {
        let out = harness.process(chunk).unwrap();
        assert_eq!(out.len(), chunk.len(), "one joined record per click");
    }
    clicks.len() as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let n: usize =
        std::env::var("WEIR_BENCH_ORDERS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let orders = orders(n);
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeOptions { cache_dir: Some(cache.path().to_path_buf()) }).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{n} generated orders; {cores} cores");
    let window = window_rate(&rt, &orders);
    println!("tumbling window (minutes processor, batch 1000, one thread): {window:.0} orders/s");
    let join = table_join_rate(&rt, n);
    println!("stream-table join (10000 rows, batch 1000, one thread): {join:.0} records/s");
    let (rate, ok) = end_to_end(&rt, &orders);
    let verdict = if ok { "outputs verified" } else { "OUTPUTS WRONG (see above)" };
    println!("order pipeline, 8 processors, in-memory store: {rate:.0} orders/s ({verdict})");
}
