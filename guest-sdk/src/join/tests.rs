//! Joins case by case, and the stream-stream join against a plain model (every
//! pair of the whole input checked by its timestamps, with the SDK's lateness
//! rule applied in arrival order) on random disordered input.

use std::time::Duration;

use super::{Joined, Pair, Side, StreamJoin, Table};
use crate::Record;
use crate::test_rng::Rng;
use crate::testing::TestContext;

const SECOND: Duration = Duration::from_secs(1);

/// Adds one record; the pairs as (left value, right value), or None when late.
fn add(
    join: &StreamJoin,
    test: &mut TestContext,
    side: Side,
    key: &str,
    ts: i64,
    id: u64,
) -> Option<Vec<(String, String)>> {
    let value = format!("{}{id}", if side == Side::Left { "L" } else { "R" });
    let mut ctx = test.context();
    match join.add(&mut ctx, side, key.as_bytes(), ts, id, value.as_bytes()).expect("add") {
        Joined::InTime(pairs) => Some(pairs.into_iter().map(values).collect()),
        Joined::Late(_) => None,
    }
}

fn values(p: Pair) -> (String, String) {
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (text(p.left.0), text(p.right.0))
}

#[test]
fn a_table_holds_the_latest_row_per_key_and_tombstones_delete() {
    let table = Table::new("t").unwrap();
    let mut test = TestContext::new();
    let mut ctx = test.context();
    table.apply(&mut ctx, &Record::new("a", "1")).unwrap();
    table.apply(&mut ctx, &Record::new("b", "x")).unwrap();
    table.apply(&mut ctx, &Record::new("a", "2")).unwrap();
    table.apply(&mut ctx, &Record::tombstone("b")).unwrap();
    assert_eq!(table.get(&mut ctx, b"a").as_deref(), Some(&b"2"[..]));
    assert_eq!(table.get(&mut ctx, b"b"), None);
    assert_eq!(table.get(&mut ctx, b"never"), None);
    // A row of another table with the same key is another row.
    let other = Table::new("u").unwrap();
    assert_eq!(other.get(&mut ctx, b"a"), None);
    let keyless = Record { key: None, ..Record::new("", "v") };
    let error = table.apply(&mut ctx, &keyless).unwrap_err().into_message();
    assert!(error.contains("no key"), "{error}");
    assert!(Table::new("a/b").is_err() && Table::new("").is_err());
}

#[test]
fn stream_records_join_within_the_window_either_way_round() {
    let join = StreamJoin::new("j", 10 * SECOND).unwrap().grace(10 * SECOND);
    let mut test = TestContext::new();
    assert_eq!(add(&join, &mut test, Side::Left, "k", 100_000, 1), Some(vec![]));
    // 10 s later exactly: in the window; another key never joins.
    let joined = add(&join, &mut test, Side::Right, "k", 110_000, 2);
    assert_eq!(joined, Some(vec![("L1".into(), "R2".into())]));
    assert_eq!(add(&join, &mut test, Side::Right, "other", 110_000, 3), Some(vec![]));
    // A left record joins every right one in its window, oldest first.
    assert_eq!(
        add(&join, &mut test, Side::Right, "k", 104_000, 4),
        Some(vec![("L1".into(), "R4".into())])
    );
    let joined = add(&join, &mut test, Side::Left, "k", 105_000, 5);
    assert_eq!(joined, Some(vec![("L5".into(), "R4".into()), ("L5".into(), "R2".into())]));
    // 10.001 s apart: no pair.
    assert_eq!(add(&join, &mut test, Side::Left, "k", 120_001, 6), Some(vec![]));
}

#[test]
fn records_behind_the_watermark_are_late_and_old_records_leave_the_state() {
    let join = StreamJoin::new("j", SECOND).unwrap().grace(2 * SECOND);
    let mut test = TestContext::new();
    assert_eq!(add(&join, &mut test, Side::Left, "k", 10_000, 1), Some(vec![]));
    // Stream time 12 s, watermark 10 s: a record at 10 s is still in time.
    assert_eq!(add(&join, &mut test, Side::Left, "z", 12_000, 2), Some(vec![]));
    assert_eq!(
        add(&join, &mut test, Side::Right, "k", 10_000, 3),
        Some(vec![("L1".into(), "R3".into())])
    );
    assert_eq!(add(&join, &mut test, Side::Right, "k", 9_999, 4), None, "behind the watermark");
    // Stream time 20 s: everything up to 17 s - 1 s is gone from the state.
    assert_eq!(add(&join, &mut test, Side::Left, "z", 20_000, 5), Some(vec![]));
    let kept: Vec<_> = test
        .state()
        .keys()
        .filter(|k| k.starts_with(b"__weir/join/j/L/") || k.starts_with(b"__weir/join/j/R/"))
        .collect();
    assert_eq!(kept.len(), 1, "only the record at 20 s: {kept:?}");
    assert_eq!(test.state().keys().filter(|k| k.starts_with(b"__weir/join/j/x/")).count(), 1);
}

#[test]
fn the_join_makes_exactly_the_pairs_a_plain_model_finds() {
    let (window, grace) = (3_000i64, 1_500i64);
    for seed in 1..=20u64 {
        let mut rng = Rng(seed * 7919);
        let mut now = 0i64;
        let input: Vec<(Side, String, i64)> = (0..300)
            .map(|_| {
                now += rng.below(700) as i64;
                let side = if rng.below(2) == 0 { Side::Left } else { Side::Right };
                (side, format!("k{}", rng.below(4)), now - rng.below(2_500) as i64)
            })
            .collect();
        // The model: a record is late when older than the largest timestamp
        // before it less the grace; every two in-time records of opposite sides
        // and one key at most `window` apart make a pair.
        let mut stream_time = i64::MIN;
        let mut in_time = Vec::new();
        for (i, (side, key, ts)) in input.iter().enumerate() {
            stream_time = stream_time.max(*ts);
            if *ts >= stream_time.saturating_sub(grace) {
                in_time.push((i, *side, key.clone(), *ts));
            }
        }
        let mut want = Vec::new();
        for (i, a_side, a_key, a_ts) in &in_time {
            for (j, b_side, b_key, b_ts) in &in_time {
                let pair = a_side == &Side::Left && b_side == &Side::Right && a_key == b_key;
                if pair && (a_ts - b_ts).abs() <= window {
                    want.push((format!("L{i}"), format!("R{j}")));
                }
            }
        }
        want.sort();
        // The join, with a fresh value after record 150 (a restart: all it
        // knows is in the state).
        let make = || {
            StreamJoin::new("m", Duration::from_millis(window as u64))
                .unwrap()
                .grace(Duration::from_millis(grace as u64))
        };
        let mut join = make();
        let mut test = TestContext::new();
        let mut got = Vec::new();
        let mut late = 0;
        for (i, (side, key, ts)) in input.iter().enumerate() {
            if i == 150 {
                join = make();
            }
            match add(&join, &mut test, *side, key, *ts, i as u64) {
                Some(pairs) => got.extend(pairs),
                None => late += 1,
            }
        }
        got.sort();
        assert_eq!(got, want, "seed {seed}");
        assert_eq!(late, input.len() - in_time.len(), "seed {seed}");
        assert!(!want.is_empty(), "seed {seed}: the input should make pairs");
    }
}
