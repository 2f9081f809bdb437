//! Processors that misbehave — spin, hog memory, panic, emit where they may not,
//! emit too much, flood the log, fail on poison records — are each contained by
//! a limit or the error policy, with a clear reason, while the other processors
//! go on. Modules that are not processors are refused at compile time.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use weir_examples::wasm;
use weir_runtime::memory::MemoryStore;
use weir_runtime::{CompileError, ErrorPolicy, LogStore, Manifest, ProcessorState, WorkerState};

/// Runs misbehave in `mode` over `values` with `tweak` applied to the manifest,
/// waits until every input is committed, and returns the store.
fn run(mode: &str, values: &[&str], tweak: impl FnOnce(&mut Manifest)) -> Arc<MemoryStore> {
    let rt = runtime();
    let store = store_for("bad", "in", 1);
    produce(&store, "in", 0, values);
    let mut m = manifest("bad", "in", &[("mode", mode), ("output", "out"), ("poison", "poison")]);
    tweak(&mut m);
    let p = rt.start(m, rt.compile(wasm::MISBEHAVE).unwrap(), store.clone()).unwrap();
    wait_committed(&p, 0, values.len() as u64);
    p.stop();
    store
}

/// The dead letters' error headers.
fn dead_letter_errors(store: &MemoryStore) -> Vec<String> {
    store
        .records("bad.dead-letter", 0)
        .iter()
        .map(|r| header(r, "weir.error").expect("dead letters carry weir.error"))
        .collect()
}

#[test]
fn an_infinite_loop_is_stopped_by_the_cpu_deadline() {
    let store = run("spin", &["x"], |m| m.limits.call_timeout_ms = 50);
    let errors = dead_letter_errors(&store);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("CPU deadline passed"), "{}", errors[0]);
    assert!(errors[0].contains("call_timeout_ms = 50"), "{}", errors[0]);
}

#[test]
fn a_memory_hog_is_stopped_by_the_memory_cap() {
    let store = run("hog", &["x"], |m| m.limits.memory_bytes = 16 << 20);
    let errors = dead_letter_errors(&store);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("memory limit reached"), "{}", errors[0]);
}

#[test]
fn a_panic_is_a_trap_with_the_panic_message() {
    let store = run("panic", &["x", "y"], |_| {});
    let errors = dead_letter_errors(&store);
    assert_eq!(errors.len(), 2);
    assert!(
        errors[0].contains("guest panicked") && errors[0].contains("misbehave: panic"),
        "{}",
        errors[0]
    );
    assert!(store.records("out", 0).is_empty());
}

#[test]
fn emitting_to_an_undeclared_topic_fails_the_record() {
    let store = run("undeclared", &["x"], |_| {});
    let errors = dead_letter_errors(&store);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("not-declared") && errors[0].contains("declared outputs"),
        "{}",
        errors[0]
    );
    assert!(store.records("out", 0).is_empty());
}

#[test]
fn a_huge_output_hits_the_output_caps_and_nothing_of_it_is_appended() {
    let store = run("huge", &["x"], |m| m.limits.max_output_bytes_per_batch = 4 << 20);
    let errors = dead_letter_errors(&store);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("output caps"), "{}", errors[0]);
    assert!(store.records("out", 0).is_empty());
}

#[test]
fn poison_records_go_to_the_dead_letter_topic_and_the_rest_go_on_in_order() {
    for mode in ["fail-on", "trap-on"] {
        let input = ["a", "b", "poison", "c", "d", "e", "poison", "f"];
        let store = run(mode, &input, |_| {});
        assert_eq!(values(&store, "out", 0), ["a", "b", "c", "d", "e", "f"], "{mode}");
        let dead = store.records("bad.dead-letter", 0);
        assert_eq!(dead.len(), 2, "{mode}");
        let offsets: Vec<_> =
            dead.iter().map(|r| header(r, "weir.source.offset").unwrap()).collect();
        assert_eq!(offsets, ["2", "6"], "{mode}");
        for r in &dead {
            assert_eq!(r.value.as_deref(), Some(&b"poison"[..]));
            assert_eq!(header(r, "weir.source.topic").as_deref(), Some("in"));
            assert_eq!(header(r, "weir.source.partition").as_deref(), Some("0"));
            assert_eq!(header(r, "weir.processor").as_deref(), Some("bad"));
            // The original headers are kept.
            assert_eq!(header(r, "h").as_deref(), Some("v"));
        }
    }
}

#[test]
fn the_pause_policy_stops_at_the_poison_record_until_an_upgrade_fixes_it() {
    let rt = runtime();
    let store = store_for("bad", "in", 1);
    produce(&store, "in", 0, &["a", "b", "poison", "c"]);
    let mut m =
        manifest("bad", "in", &[("mode", "trap-on"), ("output", "out"), ("poison", "poison")]);
    m.on_error = ErrorPolicy::Pause;
    let p = rt.start(m.clone(), rt.compile(wasm::MISBEHAVE).unwrap(), store.clone()).unwrap();
    wait_for("the policy pause", Duration::from_secs(30), || {
        matches!(p.status().partitions[0].state, WorkerState::Paused(Some(_)))
    });
    let status = p.status();
    assert_eq!(status.state, ProcessorState::Degraded);
    let WorkerState::Paused(Some(reason)) = &status.partitions[0].state else { unreachable!() };
    assert!(
        reason.contains("paused at in-0 offset 2") && reason.contains("guest panicked"),
        "{reason}"
    );
    assert_eq!(status.partitions[0].next_offset, Some(2));
    assert_eq!(values(&store, "out", 0), ["a", "b"]);
    assert!(store.records("bad.dead-letter", 0).is_empty());
    // Upgrading to a module that copies everything lets it go on from offset 2.
    let mut fixed = m.clone();
    fixed.config.insert("mode".into(), "ok".into());
    p.upgrade(rt.compile(wasm::MISBEHAVE).unwrap(), fixed);
    wait_committed(&p, 0, 4);
    assert_eq!(values(&store, "out", 0), ["a", "b", "poison", "c"]);
    assert_eq!(p.status().state, ProcessorState::Running);
    p.stop();
}

#[test]
fn a_log_flood_is_capped_per_call() {
    let rt = runtime();
    let store = store_for("bad", "in", 1);
    produce(&store, "in", 0, &["x"]);
    let m = manifest("bad", "in", &[("mode", "log-flood"), ("output", "out"), ("lines", "5000")]);
    let p = rt.start(m, rt.compile(wasm::MISBEHAVE).unwrap(), store.clone()).unwrap();
    wait_committed(&p, 0, 1);
    let logs = p.logs(0, 100_000);
    let guest_lines = logs
        .iter()
        .filter(|l| l.partition == Some(0) && l.level == weir_runtime::LogLevel::Info)
        .count();
    assert!(guest_lines <= 100, "{guest_lines} lines kept");
    assert!(logs.iter().any(|l| l.message.contains("4900 log lines dropped")), "{logs:?}");
    assert_eq!(values(&store, "out", 0), ["x"]);
    p.stop();
}

#[test]
fn a_spinning_processor_does_not_hold_up_another() {
    let rt = runtime();
    let store = Arc::new(MemoryStore::new());
    for topic in ["in", "out", "bad.dead-letter", "good.dead-letter"] {
        store.create_topic(topic, 1);
    }
    let values: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    produce(&store, "in", 0, &refs);
    let mut spin = manifest("bad", "in", &[("mode", "spin")]);
    spin.limits.max_batch_records = 1;
    let bad = rt.start(spin, rt.compile(wasm::MISBEHAVE).unwrap(), store.clone()).unwrap();
    let good_store: Arc<dyn LogStore> = store.clone();
    let good = rt
        .start(
            manifest("good", "in", &[("output", "out")]),
            rt.compile(wasm::PASSTHROUGH).unwrap(),
            good_store,
        )
        .unwrap();
    wait_committed(&good, 0, 200);
    // Each spinning record costs three 1 s deadlines: the other processor did
    // not wait for them.
    wait_for("the deadline to fire", Duration::from_secs(30), || {
        bad.status().partitions[0].errors >= 1
    });
    assert!(bad.status().partitions[0].next_offset < Some(200));
    bad.stop();
    good.stop();
}

#[test]
fn a_hundred_processors_deployed_at_once_all_run() {
    let rt = runtime();
    let store = Arc::new(MemoryStore::new());
    let module = rt.compile(wasm::PASSTHROUGH).unwrap();
    let mut processors = Vec::new();
    for i in 0..100 {
        let (input, output) = (format!("in-{i}"), format!("out-{i}"));
        store.create_topic(&input, 1);
        store.create_topic(&output, 1);
        produce(&store, &input, 0, &["a", "b", "c"]);
        let mut m = manifest(&format!("p{i}"), &input, &[("output", &output)]);
        m.outputs = vec![output];
        processors.push(rt.start(m, module.clone(), store.clone()).unwrap());
    }
    for (i, p) in processors.iter().enumerate() {
        wait_committed(p, 0, 3);
        assert_eq!(values(&store, &format!("out-{i}"), 0), ["a", "b", "c"]);
    }
    for p in processors {
        p.stop();
    }
}

#[test]
fn modules_that_are_not_processors_are_refused_with_a_reason() {
    let rt = runtime();
    assert_eq!(rt.compile(b"").unwrap_err(), CompileError::NotWasm);
    assert_eq!(rt.compile(b"hello, I am not wasm").unwrap_err(), CompileError::NotWasm);
    let core = wat::parse_str("(module (func (export \"process\")))").unwrap();
    assert_eq!(rt.compile(&core).unwrap_err(), CompileError::CoreModule);
    // A component that does not export the world's functions.
    let empty = wat::parse_str("(component)").unwrap();
    let err = rt.compile(&empty).unwrap_err();
    assert!(matches!(err, CompileError::WrongWorld(_)), "{err:?}");
    assert!(err.to_string().contains("weir:processor"), "{err}");
    // A component header with garbage after it.
    let mut broken = wasm::PASSTHROUGH[..64].to_vec();
    broken.extend_from_slice(&[0xff; 64]);
    let err = rt.compile(&broken).unwrap_err();
    assert!(matches!(err, CompileError::Invalid(_)), "{err:?}");
    // An init that fails (a required config key is missing) stops nothing else.
    let store = store_for("bad", "in", 1);
    produce(&store, "in", 0, &["x"]);
    let p = rt
        .start(manifest("bad", "in", &[]), rt.compile(wasm::MISBEHAVE).unwrap(), store.clone())
        .unwrap();
    wait_for("the init failure", Duration::from_secs(30), || p.status().partitions[0].errors >= 1);
    let last = p.status().partitions[0].last_error.clone().unwrap();
    assert!(last.contains("init failed") && last.contains("mode"), "{last}");
    p.stop();
}

#[test]
fn outputs_the_store_refuses_for_good_go_through_the_error_policy_not_retries() {
    // Dead-letter policy: the batch's inputs are dead-lettered with the reason,
    // and the worker moves on.
    let rt = runtime();
    let store = store_for("p", "in", 1);
    store.refuse_appends("out", "a record is over the max.message.bytes of out");
    produce(&store, "in", 0, &["a", "b"]);
    let m = manifest("p", "in", &[("output", "out")]);
    let p = rt.start(m, rt.compile(wasm::PASSTHROUGH).unwrap(), store.clone()).unwrap();
    wait_committed(&p, 0, 2);
    let letters = store.records("p.dead-letter", 0);
    assert_eq!(letters.len(), 2);
    let error = header(&letters[0], "weir.error").unwrap();
    assert!(error.contains("max.message.bytes of out"), "{error}");
    assert!(store.records("out", 0).is_empty());
    assert!(p.status().partitions[0].errors > 0);
    p.stop();

    // Pause policy: the worker pauses before the batch, saying why.
    let store = store_for("q", "in", 1);
    store.refuse_appends("out", "refused for good");
    produce(&store, "in", 0, &["a"]);
    let mut m = manifest("q", "in", &[("output", "out")]);
    m.on_error = ErrorPolicy::Pause;
    let q = rt.start(m, rt.compile(wasm::PASSTHROUGH).unwrap(), store.clone()).unwrap();
    wait_for(
        "the pause",
        Duration::from_secs(30),
        || matches!(&q.status().partitions[0].state, WorkerState::Paused(Some(r)) if r.contains("refused for good")),
    );
    assert_eq!(q.status().partitions[0].next_offset, Some(0));
    q.stop();
}
