//! Processor throughput: records/s through the pass-through and filter guests
//! for 100-byte records at batch sizes 1, 100 and 1,000 — as Wasm components in
//! the runtime and as the same Rust code compiled natively, in the same run —
//! then the whole worker loop (read, process, append, commit) over the
//! in-memory store, and the time from deployment to the first output record.
//!
//! `cargo bench -p weir-runtime --bench processors` (set WEIR_BENCH_RECORDS to
//! change the record count, default 1,000,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_runtime::harness::Harness;
use weir_runtime::memory::MemoryStore;
use weir_runtime::{
    ErrorPolicy, InputRecord, Limits, LogStore, Manifest, OutputRecord, Runtime, RuntimeOptions,
    StartPosition,
};
use weir_sdk::testing::TestContext;
use weir_sdk::{Config, Processor, Record};

const VALUE_BYTES: usize = 100;

fn records(n: usize) -> Vec<InputRecord> {
    (0..n)
        .map(|i| {
            // Every other value contains the filter's needle.
            let mut value = vec![b'.'; VALUE_BYTES];
            if i % 2 == 0 {
                value[40..46].copy_from_slice(b"needle");
            }
            InputRecord {
                input: 0,
                offset: i as u64,
                timestamp: 1_764_370_000_000 + i as i64,
                key: Some(Bytes::from(format!("key-{:08}", i % 100_000))),
                value: Some(Bytes::from(value)),
                headers: Vec::new(),
            }
        })
        .collect()
}

fn config(needle: bool) -> Vec<(String, String)> {
    let mut c = vec![("output".to_string(), "out".to_string())];
    if needle {
        c.push(("needle".to_string(), "needle".to_string()));
    }
    c
}

fn wasm_rate(rt: &Runtime, wasm: &[u8], needle: bool, input: &[InputRecord], batch: usize) -> f64 {
    let module = rt.compile(wasm).expect("the guest compiles");
    let limits = Limits { max_outputs_per_batch: 1_000_000, ..Limits::default() };
    let mut harness = Harness::new(&module, limits, &["out"], &config(needle)).unwrap();
    // Warm up: the first calls grow memory.
    for chunk in input.chunks(batch).take(10) {
        harness.process(chunk).unwrap();
    }
    let start = Instant::now();
    let mut emitted = 0;
    for chunk in input.chunks(batch) {
        emitted += harness.process(chunk).unwrap().len();
    }
    let rate = input.len() as f64 / start.elapsed().as_secs_f64();
    assert!(emitted > 0);
    rate
}

fn native_rate<P: Processor>(needle: bool, input: &[InputRecord], batch: usize) -> f64 {
    let cfg: Config = config(needle).into_iter().collect();
    let mut processor = P::init(&cfg).unwrap();
    let mut test = TestContext::new().with_output("out");
    let to_record = |r: &InputRecord| {
        Record::new(r.key.as_deref().unwrap().to_vec(), r.value.as_deref().unwrap().to_vec())
            .with_offset(r.offset)
            .with_timestamp(r.timestamp)
    };
    let start = Instant::now();
    let mut emitted = 0;
    for chunk in input.chunks(batch) {
        // Converting owned records is part of the work, as the host's lowering is.
        test.process_batch(&mut processor, chunk.iter().map(to_record)).unwrap();
        emitted += test.take_emitted().len();
    }
    let rate = input.len() as f64 / start.elapsed().as_secs_f64();
    assert!(emitted > 0);
    rate
}

fn worker_rate(rt: &Runtime, input: &[InputRecord]) -> (f64, Duration) {
    let store = Arc::new(MemoryStore::new());
    for topic in ["in", "out", "pass.dead-letter"] {
        store.create_topic(topic, 1);
    }
    let to_output = |r: &InputRecord| OutputRecord {
        key: r.key.clone(),
        value: r.value.clone(),
        headers: Vec::new(),
        timestamp: r.timestamp,
    };
    store.append("in", 0, input.iter().map(to_output).collect()).unwrap();
    let manifest = Manifest {
        name: "pass".into(),
        inputs: vec!["in".into()],
        allowed_lateness_ms: 0,
        outputs: vec!["out".into()],
        start: StartPosition::Earliest,
        limits: Limits::default(),
        on_error: ErrorPolicy::DeadLetter,
        config: config(false).into_iter().collect(),
    };
    let start = Instant::now();
    let module = rt.compile(weir_examples::wasm::PASSTHROUGH).unwrap();
    let p = rt.start(manifest, module, store.clone()).unwrap();
    while store.bounds("out", 0).unwrap().high_watermark == 0 {
        std::thread::sleep(Duration::from_micros(100));
    }
    let first_output = start.elapsed();
    let end = input.len() as u64;
    while p.status().partitions[0].next_offset != Some(end) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let rate = input.len() as f64 / start.elapsed().as_secs_f64();
    p.stop();
    (rate, first_output)
}

fn main() {
    let n: usize =
        std::env::var("WEIR_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let input = records(n);
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeOptions { cache_dir: Some(cache.path().to_path_buf()) }).unwrap();
    println!("{n} records of {VALUE_BYTES}-byte values, 12-byte keys; one thread each");
    println!(
        "{:<12} {:>6} {:>14} {:>14} {:>7}",
        "guest", "batch", "wasm rec/s", "native rec/s", "wasm %"
    );
    for (name, wasm, needle) in [
        ("passthrough", weir_examples::wasm::PASSTHROUGH, false),
        ("filter", weir_examples::wasm::FILTER, true),
    ] {
        for batch in [1, 100, 1000] {
            // Batch 1 costs a call per record: a tenth of the records suffices.
            let input = if batch == 1 { &input[..n / 10] } else { &input[..] };
            let wasm_rate = wasm_rate(&rt, wasm, needle, input, batch);
            let native = if needle {
                native_rate::<weir_filter::Filter>(needle, input, batch)
            } else {
                native_rate::<weir_passthrough::Passthrough>(needle, input, batch)
            };
            println!(
                "{name:<12} {batch:>6} {wasm_rate:>14.0} {native:>14.0} {:>6.0}%",
                100.0 * wasm_rate / native
            );
        }
    }
    // Deploy to first output: compiling (cold, then from the cache), starting
    // the worker, the first batch.
    let cold_cache = tempfile::tempdir().unwrap();
    let cold =
        Runtime::new(RuntimeOptions { cache_dir: Some(cold_cache.path().to_path_buf()) }).unwrap();
    let (rate, first_cold) = worker_rate(&cold, &input);
    let (_, first_cached) = worker_rate(&cold, &input[..1000]);
    println!("worker loop (in-memory store, batch 1000, passthrough): {rate:.0} rec/s");
    println!(
        "deploy to first output: {:.1} ms compiling, {:.1} ms from the compiled cache",
        first_cold.as_secs_f64() * 1e3,
        first_cached.as_secs_f64() * 1e3
    );
}
