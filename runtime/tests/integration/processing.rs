//! Real components from `weir-examples` run against the in-memory store:
//! records flow through, offsets and state are committed together, processors
//! resume where they left off, and pause, resume and upgrade act at batch
//! boundaries.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use weir_examples::{events, wasm};
use weir_runtime::{LogStore, ProcessorState, WorkerState};

#[test]
fn passthrough_copies_every_record_with_key_and_headers() {
    let rt = runtime();
    let store = store_for("copy", "in", 2);
    let values: Vec<String> = (0..2500).map(|i| format!("value-{i}")).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    produce(&store, "in", 0, &refs);
    produce(&store, "in", 1, &refs[..10]);
    let module = rt.compile(wasm::PASSTHROUGH).unwrap();
    let p = rt.start(manifest("copy", "in", &[("output", "out")]), module, store.clone()).unwrap();
    wait_committed(&p, 0, 2500);
    wait_committed(&p, 1, 10);
    let out = store.records("out", 0);
    assert_eq!(out.len(), 2510);
    // Partition 0's records arrive in order (batches of 1000 then 500).
    let from_p0: Vec<_> = out.iter().filter(|r| header(r, "h").is_some()).collect();
    assert_eq!(from_p0.len(), 2510);
    let mut seen: Vec<String> =
        out.iter().map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()).collect();
    seen.sort();
    let mut expected: Vec<String> = values.iter().chain(values[..10].iter()).cloned().collect();
    expected.sort();
    assert_eq!(seen, expected);
    let status = p.status();
    assert_eq!(status.state, ProcessorState::Running);
    assert_eq!(status.partitions[0].records_in, 2500);
    assert_eq!(status.partitions[0].records_out, 2500);
    assert_eq!(status.partitions[0].lag, 0);
    assert_eq!(status.partitions[1].records_in, 10);
    assert_eq!(store.checkpoint("copy", 0).next_offsets, [Some(2500)]);
    p.stop();
    assert_eq!(p.status().state, ProcessorState::Stopped);
}

#[test]
fn new_records_are_picked_up_while_running_and_after_a_restart_it_resumes() {
    let rt = runtime();
    let store = store_for("copy", "in", 1);
    let module = rt.compile(wasm::PASSTHROUGH).unwrap();
    let m = manifest("copy", "in", &[("output", "out")]);
    let p = rt.start(m.clone(), module.clone(), store.clone()).unwrap();
    produce(&store, "in", 0, &["a", "b"]);
    wait_committed(&p, 0, 2);
    produce(&store, "in", 0, &["c"]);
    wait_committed(&p, 0, 3);
    p.stop();
    produce(&store, "in", 0, &["d", "e"]);
    let p = rt.start(m, module, store.clone()).unwrap();
    wait_committed(&p, 0, 5);
    // Nothing was processed twice: each input appears once in the output.
    assert_eq!(values(&store, "out", 0), ["a", "b", "c", "d", "e"]);
    assert_eq!(p.status().partitions[0].records_in, 2);
    p.stop();
}

#[test]
fn start_positions_latest_offset_and_timestamp() {
    let rt = runtime();
    let module = rt.compile(wasm::PASSTHROUGH).unwrap();
    for (start, expected) in [
        ("latest", vec!["new"]),
        ("offset:2", vec!["c", "d", "new"]),
        ("timestamp:1001", vec!["b", "c", "d", "new"]),
        ("earliest", vec!["a", "b", "c", "d", "new"]),
    ] {
        let store = store_for("p", "in", 1);
        produce(&store, "in", 0, &["a", "b", "c", "d"]);
        let mut m = manifest("p", "in", &[("output", "out")]);
        m.start = start.parse().unwrap();
        let p = rt.start(m, module.clone(), store.clone()).unwrap();
        support::wait_for("the worker to start", Duration::from_secs(30), || {
            matches!(p.status().partitions[0].state, WorkerState::Running)
                && p.status().partitions[0].next_offset.is_some()
        });
        store
            .append(
                "in",
                0,
                vec![weir_runtime::OutputRecord {
                    key: None,
                    value: Some("new".into()),
                    headers: vec![],
                    timestamp: 5_000,
                }],
            )
            .unwrap();
        wait_committed(&p, 0, 5);
        assert_eq!(values(&store, "out", 0), expected, "start {start}");
        p.stop();
    }
}

/// A store with the inventory processor's topics.
fn inventory_store() -> Arc<weir_runtime::memory::MemoryStore> {
    let store = Arc::new(weir_runtime::memory::MemoryStore::new());
    for topic in ["stock-requests", "stock-decisions", "inventory.dead-letter"] {
        store.create_topic(topic, 1);
    }
    store
}

#[test]
fn state_is_committed_with_the_offset_and_survives_a_restart() {
    let rt = runtime();
    let store = inventory_store();
    // Requests for each line of generated orders, one order at a time.
    let generator =
        weir_examples::generator::OrderGenerator::new(weir_examples::generator::GeneratorConfig {
            seed: 7,
            ..Default::default()
        });
    let orders: Vec<(Vec<u8>, Vec<u8>)> = generator
        .take(150)
        .flat_map(|(_, value)| {
            let order = events::OrderPlaced::from_json(&value).unwrap();
            let lines = order.items.len() as u32;
            order.items.clone().into_iter().map(move |item| {
                let reference = events::OrderRef {
                    order_id: order.order_id.clone(),
                    customer_id: order.customer_id.clone(),
                    total_cents: order.total_cents,
                    currency: order.currency.clone(),
                    lines,
                    ts: order.ts,
                };
                let request = events::StockRequest::Reserve {
                    order: reference,
                    sku: item.sku.clone(),
                    qty: item.qty,
                };
                (item.sku.into_bytes(), serde_json::to_vec(&request).unwrap())
            })
        })
        .take(300)
        .collect();
    assert_eq!(orders.len(), 300);
    let append = |store: &weir_runtime::memory::MemoryStore, range: std::ops::Range<usize>| {
        let records = orders[range]
            .iter()
            .map(|(k, v)| weir_runtime::OutputRecord {
                key: Some(k.clone().into()),
                value: Some(v.clone().into()),
                headers: vec![],
                timestamp: 0,
            })
            .collect();
        store.append("stock-requests", 0, records).unwrap();
    };
    let module = rt.compile(wasm::INVENTORY).unwrap();
    let mut m = manifest("inventory", "stock-requests", &[("initial_stock", "50")]);
    m.outputs = vec!["stock-decisions".into()];
    m.limits.max_batch_records = 7;
    append(&store, 0..150);
    let p = rt.start(m.clone(), module.clone(), store.clone()).unwrap();
    wait_committed(&p, 0, 150);
    p.stop();
    append(&store, 150..300);
    let p = rt.start(m.clone(), module.clone(), store.clone()).unwrap();
    wait_committed(&p, 0, 300);
    p.stop();
    // All but the processing time each batch records (the host's clock).
    let state = |s: &weir_runtime::memory::MemoryStore| {
        let mut state = s.checkpoint("inventory", 0).state;
        assert!(state.remove(&b"\xffweir/now"[..]).is_some(), "the processing time is recorded");
        state
    };
    let two_runs = state(&store);
    assert!(!two_runs.is_empty());

    // The same orders in one run give the same state and events.
    let fresh = inventory_store();
    append(&fresh, 0..300);
    let p = rt.start(m, module, fresh.clone()).unwrap();
    wait_committed(&p, 0, 300);
    p.stop();
    assert_eq!(state(&fresh), two_runs);
    let events = |s: &weir_runtime::memory::MemoryStore| values(s, "stock-decisions", 0);
    assert_eq!(events(&store), events(&fresh));
    assert_eq!(events(&store).len(), 300);
}

/// Starts passthrough `p` from `in` to `out`.
fn start_passthrough(
    rt: &weir_runtime::Runtime,
    store: &Arc<weir_runtime::memory::MemoryStore>,
) -> weir_runtime::Processor {
    let module = rt.compile(wasm::PASSTHROUGH).unwrap();
    rt.start(manifest("p", "in", &[("output", "out")]), module, store.clone()).unwrap()
}

#[test]
fn pause_holds_records_until_resume() {
    let rt = runtime();
    let store = store_for("p", "in", 1);
    let p = start_passthrough(&rt, &store);
    produce(&store, "in", 0, &["a"]);
    wait_committed(&p, 0, 1);
    p.pause();
    support::wait_for("the pause", Duration::from_secs(10), || {
        matches!(p.status().partitions[0].state, WorkerState::Paused(None))
    });
    assert_eq!(p.status().state, ProcessorState::Paused);
    produce(&store, "in", 0, &["b"]);
    // The paused worker sees "b" arrive (its lag grows) and holds it back.
    support::wait_for("the paused worker to see b", Duration::from_secs(10), || {
        p.status().partitions[0].lag == 1
    });
    let status = p.status().partitions[0].clone();
    assert_eq!(status.state, WorkerState::Paused(None));
    assert_eq!((status.next_offset, status.records_in), (Some(1), 1));
    assert_eq!(values(&store, "out", 0), ["a"]);
    p.resume();
    wait_committed(&p, 0, 2);
    assert_eq!(values(&store, "out", 0), ["a", "b"]);
    p.stop();
}

#[test]
fn a_processor_started_paused_processes_nothing_until_resumed() {
    let rt = runtime();
    let store = store_for("p", "in", 2);
    produce(&store, "in", 0, &["a", "b"]);
    produce(&store, "in", 1, &["c"]);
    let module = rt.compile(wasm::PASSTHROUGH).unwrap();
    let p = rt.start_paused(manifest("p", "in", &[("output", "out")]), module, store.clone());
    let p = p.unwrap();
    // Every worker has loaded its checkpoint, seen its input, and is paused.
    support::wait_for("both workers paused with their lag known", Duration::from_secs(10), || {
        let partitions = p.status().partitions;
        partitions.iter().all(|s| s.state == WorkerState::Paused(None))
            && partitions.iter().map(|s| s.lag).collect::<Vec<_>>() == [2, 1]
    });
    assert_eq!(p.status().state, ProcessorState::Paused);
    assert!(p.status().partitions.iter().all(|s| s.records_in == 0 && s.batches == 0));
    assert!(values(&store, "out", 0).is_empty());
    p.resume();
    wait_committed(&p, 0, 2);
    wait_committed(&p, 1, 1);
    assert_eq!(values(&store, "out", 0).len(), 3);
    p.stop();
}

#[test]
fn upgrade_swaps_the_module_and_keeps_offsets() {
    let rt = runtime();
    let store = store_for("p", "in", 1);
    let p = start_passthrough(&rt, &store);
    produce(&store, "in", 0, &["apple", "pear"]);
    wait_committed(&p, 0, 2);
    let filter = rt.compile(wasm::FILTER).unwrap();
    let digest = filter.digest().to_string();
    p.upgrade(filter, manifest("p", "in", &[("output", "out"), ("needle", "an")]));
    produce(&store, "in", 0, &["banana", "kiwi", "mango"]);
    wait_committed(&p, 0, 5);
    assert_eq!(values(&store, "out", 0), ["apple", "pear", "banana", "mango"]);
    let status = p.status();
    assert_eq!(status.module_digest, digest);
    assert_eq!(status.upgrades, 1);
    assert!(p.logs(0, 100).iter().any(|l| l.message.contains("upgraded to module")));
    p.stop();
}

#[test]
fn packed_and_record_by_record_batches_carry_the_same_records() {
    use weir_runtime::harness::Harness;
    use weir_runtime::{Header, InputRecord};

    let rt = runtime();
    let module = rt.compile(wasm::PASSTHROUGH).unwrap();
    let header =
        |k: &str, v: Option<&'static [u8]>| Header { key: k.into(), value: v.map(Into::into) };
    let batch = vec![
        InputRecord { input: 0, offset: 7, timestamp: 1, key: None, value: None, headers: vec![] },
        InputRecord {
            input: 0,
            offset: 8,
            timestamp: -5,
            key: Some("k".into()),
            value: Some(vec![0u8, 255, 1].into()),
            headers: vec![
                header("a", Some(b"1")),
                header("a", None),
                header("é", Some(b"")),
                header("a", Some(b"3")),
            ],
        },
        InputRecord {
            input: 0,
            offset: 9,
            timestamp: 2,
            key: Some("".into()),
            value: Some("v".into()),
            headers: vec![header("", Some(b"x"))],
        },
        InputRecord {
            input: 0,
            offset: 10,
            timestamp: i64::MAX,
            key: Some(vec![0u8; 300].into()),
            value: Some(vec![9u8; 5000].into()),
            headers: vec![],
        },
    ];
    let limits = weir_runtime::Limits::default();
    // `keep = input`: the guest sets each output's timestamp and partition
    // (input partition 5 of 8, which the keys' hash would not all pick).
    let config =
        [("output".to_string(), "out".to_string()), ("keep".to_string(), "input".to_string())];
    let harness =
        || Harness::new(&module, limits, &["out"], &config).unwrap().with_partitions(5, 8);
    let from_packed = harness().process_routed(&batch).unwrap();
    let from_typed = harness().typed_only().process_routed(&batch).unwrap();
    assert_eq!(from_packed.len(), batch.len());
    for ((partition, out), input) in from_packed.iter().zip(&batch) {
        assert_eq!(*partition, 5);
        assert_eq!(
            (&out.key, &out.value, &out.headers, out.timestamp),
            (&input.key, &input.value, &input.headers, input.timestamp)
        );
    }
    assert_eq!(from_packed, from_typed);

    // Without `keep`: the key picks the partition, and the SDK gives each output
    // the input record's timestamp.
    let config = [("output".to_string(), "out".to_string())];
    let mut plain = Harness::new(&module, limits, &["out"], &config).unwrap().with_partitions(5, 8);
    let from_plain = plain.process_routed(&batch).unwrap();
    for ((partition, out), input) in from_plain.iter().zip(&batch) {
        let by_key = match &input.key {
            Some(key) => weir_runtime::partitioner::partition_for_key(key, 8),
            None => 5,
        };
        assert_eq!(*partition, by_key);
        assert_eq!(
            (&out.key, &out.value, &out.headers),
            (&input.key, &input.value, &input.headers)
        );
        assert_eq!(out.timestamp, input.timestamp);
    }
}

#[test]
fn a_replay_from_the_earliest_offset_emits_byte_identical_records() {
    // Orders a second apart, some out of order: minutes close, some orders are late.
    let generator =
        weir_examples::generator::OrderGenerator::new(weir_examples::generator::GeneratorConfig {
            seed: 11,
            interval_ms: 1_000,
            ..Default::default()
        });
    let mut orders: Vec<(Vec<u8>, Vec<u8>)> = generator.take(400).collect();
    for i in (0..380).step_by(37) {
        let order = orders.remove(i);
        orders.insert(i + 15, order);
    }
    let store = Arc::new(weir_runtime::memory::MemoryStore::new());
    for topic in [events::ORDERS, events::MINUTE_PARTIALS, events::LATE_ORDERS] {
        store.create_topic(topic, 1);
    }
    let records = orders
        .iter()
        .enumerate()
        .map(|(i, (k, v))| weir_runtime::OutputRecord {
            key: Some(k.clone().into()),
            value: Some(v.clone().into()),
            headers: vec![],
            timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect();
    store.append(events::ORDERS, 0, records).unwrap();
    let rt = runtime();
    let module = rt.compile(wasm::MINUTES).unwrap();
    let run = |name: &str, batch: u32| {
        store.create_topic(&weir_runtime::dead_letter_topic(name), 1);
        let mut m = manifest(name, events::ORDERS, &[("grace_ms", "5000")]);
        m.outputs = vec![events::MINUTE_PARTIALS.into(), events::LATE_ORDERS.into()];
        m.limits.max_batch_records = batch;
        let p = rt.start(m, module.clone(), store.clone()).unwrap();
        wait_committed(&p, 0, 400);
        p.stop();
    };
    let outputs = |topic| {
        let all = store.records(topic, 0);
        let bytes = |r: &weir_runtime::InputRecord| {
            (r.key.clone(), r.value.clone(), r.headers.clone(), r.timestamp)
        };
        all.iter().map(bytes).collect::<Vec<_>>()
    };
    run("minutes", 100);
    let (partials, late) = (outputs(events::MINUTE_PARTIALS), outputs(events::LATE_ORDERS));
    assert!(
        partials.len() >= 5 && !late.is_empty(),
        "{} partials, {} late",
        partials.len(),
        late.len()
    );

    // The same component under a new name: new offsets and state, from the
    // earliest offset, in other batches, later in processing time.
    run("minutes-replay", 7);
    for (topic, first) in [(events::MINUTE_PARTIALS, partials), (events::LATE_ORDERS, late)] {
        let all = outputs(topic);
        assert_eq!(all.len(), 2 * first.len(), "{topic}");
        assert_eq!(all[first.len()..], first[..], "{topic}: the replay differs");
    }
}
