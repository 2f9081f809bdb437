//! Timers through the runtime with a real component (`examples/guests/timers`):
//! event-time timers fire once, in order, after the batch whose records pass
//! them, and survive restarts; processing-time timers fire while no record
//! arrives; a failing `on-timer` pauses the worker; upgrades keep timers; the
//! host's keys are out of the guest's reach.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use support::*;
use weir_examples::wasm;
use weir_runtime::memory::MemoryStore;
use weir_runtime::{LogStore, OutputRecord, WorkerState};

/// Appends commands to `in`, each at its timestamp.
fn send(store: &MemoryStore, commands: &[(&str, i64)]) {
    let records = commands
        .iter()
        .map(|(value, ts)| OutputRecord {
            key: None,
            value: Some(Bytes::from(value.to_string())),
            headers: vec![],
            timestamp: *ts,
        })
        .collect();
    store.append("in", 0, records).unwrap();
}

/// `out`'s records as (key, value, timestamp).
fn fired(store: &MemoryStore) -> Vec<(String, String, i64)> {
    let text = |b: Option<Bytes>| String::from_utf8_lossy(&b.unwrap_or_default()).into_owned();
    store.records("out", 0).into_iter().map(|r| (text(r.key), text(r.value), r.timestamp)).collect()
}

fn start(
    rt: &weir_runtime::Runtime,
    store: &Arc<MemoryStore>,
    config: &[(&str, &str)],
) -> weir_runtime::Processor {
    let module = rt.compile(wasm::TIMERS).unwrap();
    let config: Vec<(&str, &str)> =
        [("output", "out")].into_iter().chain(config.iter().copied()).collect();
    let mut m = manifest("t", "in", &config);
    m.limits.max_batch_records = 2;
    rt.start(m, module, store.clone()).unwrap()
}

#[test]
fn event_time_timers_fire_once_in_order_and_survive_a_restart() {
    let rt = runtime();
    let store = store_for("t", "in", 1);
    send(
        &store,
        &[
            ("event:b:300", 100),
            ("event:a:200", 110),
            ("event:c:900", 120),
            ("event:gone:150", 130),
        ],
    );
    send(&store, &[("cancel:gone", 140), ("event:b:250", 150)]);
    let p = start(&rt, &store, &[]);
    wait_committed(&p, 0, 6);
    assert_eq!(fired(&store), [], "the watermark (150) reaches none");
    // Batches of two: the first passes 200 and 250, the second 900.
    send(&store, &[("tick", 260), ("tick", 100), ("tick", 1_000)]);
    wait_committed(&p, 0, 9);
    let want = |list: &[(&str, i64)]| -> Vec<(String, String, i64)> {
        list.iter().map(|(k, at)| (k.to_string(), format!("event:{at}"), *at)).collect()
    };
    wait_for("three timers", Duration::from_secs(30), || fired(&store).len() == 3);
    assert_eq!(fired(&store), want(&[("a", 200), ("b", 250), ("c", 900)]));
    p.stop();

    // A timer set before a stop fires after the restart; none fires twice.
    send(&store, &[("event:d:1500", 1_100)]);
    let p = start(&rt, &store, &[]);
    wait_committed(&p, 0, 10);
    send(&store, &[("tick", 2_000)]);
    wait_committed(&p, 0, 11);
    wait_for("d", Duration::from_secs(30), || fired(&store).len() == 4);
    p.stop();
    let p = start(&rt, &store, &[]);
    send(&store, &[("tick", 3_000)]);
    wait_committed(&p, 0, 12);
    p.stop();
    assert_eq!(fired(&store), want(&[("a", 200), ("b", 250), ("c", 900), ("d", 1500)]));
}

#[test]
fn processing_time_timers_fire_while_no_record_arrives() {
    let rt = runtime();
    let store = store_for("t", "in", 1);
    send(&store, &[("proc:soon:300", 1)]);
    let p = start(&rt, &store, &[]);
    wait_committed(&p, 0, 1);
    // No record follows: the idle worker fires it once its time comes.
    wait_for("the processing-time timer", Duration::from_secs(30), || fired(&store).len() == 1);
    let (key, value, ts) = fired(&store).remove(0);
    assert_eq!(key, "soon");
    assert!(value.starts_with("proc:") && value == format!("proc:{ts}"), "{value} at {ts}");
    p.stop();
}

#[test]
fn a_failing_on_timer_pauses_the_worker_and_keeps_the_timer() {
    let rt = runtime();
    let store = store_for("t", "in", 1);
    send(&store, &[("event:bad:10", 5), ("tick", 20)]);
    let p = start(&rt, &store, &[("fail", "bad")]);
    wait_for(
        "the pause",
        Duration::from_secs(60),
        || matches!(&p.status().partitions[0].state, WorkerState::Paused(Some(why)) if why.contains("on-timer failed")),
    );
    assert_eq!(fired(&store), []);
    p.stop();
    // Without the failure the same timer fires: it was kept.
    let p = start(&rt, &store, &[]);
    send(&store, &[("tick", 30)]);
    wait_for("bad fires", Duration::from_secs(30), || fired(&store).len() == 1);
    p.stop();
}

/// Timers belong to the processor's state, not to a module: an upgrade keeps
/// them, a timer whose `on-timer` failed under the old module fires once under
/// the new one, and one set before the upgrade fires when its time comes.
#[test]
fn timers_set_before_an_upgrade_fire_once_after_it() {
    let rt = runtime();
    let store = store_for("t", "in", 1);
    send(&store, &[("event:bad:10", 5), ("event:later:500", 6), ("tick", 20)]);
    let p = start(&rt, &store, &[("fail", "bad")]);
    wait_for(
        "the pause",
        Duration::from_secs(60),
        || matches!(&p.status().partitions[0].state, WorkerState::Paused(Some(why)) if why.contains("on-timer failed")),
    );
    assert_eq!(fired(&store), []);

    let module = rt.compile(wasm::TIMERS).unwrap();
    let mut upgraded = manifest("t", "in", &[("output", "out")]);
    upgraded.limits.max_batch_records = 2;
    p.upgrade(module, upgraded);
    wait_for("bad fires under the new module", Duration::from_secs(30), || {
        fired(&store).len() == 1
    });
    send(&store, &[("tick", 600), ("tick", 700)]);
    wait_committed(&p, 0, 5);
    wait_for("later fires", Duration::from_secs(30), || fired(&store).len() == 2);
    assert_eq!(p.status().upgrades, 1);
    p.stop();
    let p = start(&rt, &store, &[]);
    send(&store, &[("tick", 800)]);
    wait_committed(&p, 0, 6);
    p.stop();
    assert_eq!(
        fired(&store),
        [
            ("bad".to_string(), "event:10".to_string(), 10),
            ("later".to_string(), "event:500".to_string(), 500)
        ]
    );
}

/// A timer already due when a worker starts fires while it is idle, from a
/// fresh instance, and only once: the records that come after do not fire it
/// again (making the instance used to put the taken timer back).
#[test]
fn a_timer_due_at_start_fires_once_before_any_record() {
    let rt = runtime();
    let store = store_for("t", "in", 1);
    send(&store, &[("event:due:10", 5), ("tick", 20)]);
    let p = start(&rt, &store, &[("fail", "due")]);
    wait_for("the pause", Duration::from_secs(60), || {
        matches!(&p.status().partitions[0].state, WorkerState::Paused(Some(_)))
    });
    p.stop();
    let p = start(&rt, &store, &[]);
    wait_for("the idle fire", Duration::from_secs(30), || !fired(&store).is_empty());
    send(&store, &[("tick", 30), ("tick", 40)]);
    wait_committed(&p, 0, 4);
    p.stop();
    assert_eq!(fired(&store), [("due".to_string(), "event:10".to_string(), 10)]);
}

#[test]
fn the_hosts_state_keys_are_out_of_the_guests_reach() {
    let rt = runtime();
    let store = store_for("t", "in", 1);
    send(&store, &[("hostkey", 5)]);
    let p = start(&rt, &store, &[]);
    wait_committed(&p, 0, 1);
    p.stop();
    let letters = store.records(&weir_runtime::dead_letter_topic("t"), 0);
    assert_eq!(letters.len(), 1);
    let why = header(&letters[0], "weir.error").unwrap_or_default();
    assert!(why.contains("kept for the host's timers"), "{why:?}");
}
