//! Windows against the rules in the module's docs, case by case, and against a
//! plain model (clustering and sums over the whole input, no state) on random
//! disordered input, including a restart in the middle.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Added, Closed, Late, Windows};
use crate::test_rng::Rng;
use crate::testing::TestContext;

const SECOND: Duration = Duration::from_secs(1);

/// Adds a count of 1 per record; returns the closed windows as (key, start, end,
/// count), or None when late.
fn add(
    w: &Windows,
    test: &mut TestContext,
    key: &str,
    ts: i64,
) -> Option<Vec<(String, i64, i64, u64)>> {
    let mut ctx = test.context();
    match w.add(&mut ctx, key.as_bytes(), ts, 1u64).expect("add") {
        Added::InTime(closed) => Some(closed.into_iter().map(flat).collect()),
        Added::Late(_) => None,
    }
}

fn flat(c: Closed<u64>) -> (String, i64, i64, u64) {
    (String::from_utf8(c.key).unwrap(), c.start, c.end, c.value)
}

#[test]
fn tumbling_windows_take_disorder_within_grace_and_close_at_end_plus_grace() {
    let w = Windows::tumbling("t", 10 * SECOND).unwrap().grace(2 * SECOND);
    let mut test = TestContext::new();
    assert_eq!(add(&w, &mut test, "a", 9_000), Some(vec![]));
    assert_eq!(add(&w, &mut test, "b", 11_000), Some(vec![]));
    // Out of order, but the watermark (9 s) has not reached the end (10 s).
    assert_eq!(add(&w, &mut test, "a", 1_000), Some(vec![]));
    // 11.999 s: watermark 9.999 s, still open.
    assert_eq!(add(&w, &mut test, "b", 11_999), Some(vec![]));
    // 12 s: watermark 10 s closes [0, 10 s).
    assert_eq!(add(&w, &mut test, "b", 12_000), Some(vec![("a".into(), 0, 10_000, 2)]));
    // Its records are late now, with the watermark they missed.
    let mut ctx = test.context();
    let late = w.add(&mut ctx, b"a", 9_999, 1u64).unwrap();
    assert_eq!(late, Added::Late(Late { timestamp: 9_999, watermark: 10_000 }));
    // The next window takes them; nothing of the closed one is left in the state.
    assert_eq!(add(&w, &mut test, "a", 10_000), Some(vec![]));
    let aggregates = test.state().keys().filter(|k| k.starts_with(b"__weir/window/t/agg/")).count();
    assert_eq!(aggregates, 2, "[10 s, 20 s) of a and of b");
}

#[test]
fn sliding_windows_give_one_result_per_distinct_set_of_records_and_forget_old_ones() {
    let w = Windows::sliding("s", 10 * SECOND).unwrap();
    let mut test = TestContext::new();
    assert_eq!(add(&w, &mut test, "k", 1_000), Some(vec![]));
    // 5 s closes the window ending just after 1 s, [-9 s, 1.001 s): one record.
    assert_eq!(add(&w, &mut test, "k", 5_000), Some(vec![("k".into(), -8_999, 1_001, 1)]));
    // 12 s closes the one ending just after 5 s (1 s and 5 s) and the one
    // starting just after 1 s (5 s alone).
    let closed = add(&w, &mut test, "k", 12_000);
    assert_eq!(closed, Some(vec![("k".into(), -4_999, 5_001, 2), ("k".into(), 1_001, 11_001, 1)]));
    let closed = add(&w, &mut test, "k", 15_001);
    assert_eq!(closed, Some(vec![("k".into(), 2_001, 12_001, 2), ("k".into(), 5_001, 15_001, 1)]));
    // An early update: the open window ending just after 15.001 s holds 12 s and
    // 15.001 s so far; a closed one is no update.
    let mut ctx = test.context();
    let so_far: Vec<Closed<u64>> = w.so_far(&mut ctx, b"k", 15_001).unwrap();
    assert_eq!(so_far.len(), 1);
    assert_eq!((so_far[0].start, so_far[0].end, so_far[0].value), (5_002, 15_002, 2));
    assert!(w.so_far::<u64>(&mut ctx, b"k", 12_000).unwrap().is_empty());
    // Far later, the rest closes: the window starting after 12 s holds 15.001 s;
    // the one starting after 15.001 s holds nothing and is not reported.
    let closed = add(&w, &mut test, "k", 60_000).unwrap();
    let want = vec![("k".into(), 5_002, 15_002, 2), ("k".into(), 12_001, 22_001, 1)];
    assert_eq!(closed, want);
    // Only the record at 60 s is left, with its two windows.
    let left = |part: &[u8]| {
        let prefix = [&b"__weir/window/s/"[..], part].concat();
        test.state().keys().filter(|k| k.starts_with(&prefix)).count()
    };
    assert_eq!((left(b"contrib/"), left(b"slide/")), (1, 2));
}

#[test]
fn early_updates_show_open_windows_so_far() {
    let w = Windows::hopping("h", 10 * SECOND, 5 * SECOND).unwrap();
    let mut test = TestContext::new();
    assert_eq!(add(&w, &mut test, "k", 7_000), Some(vec![]));
    assert_eq!(add(&w, &mut test, "k", 8_000), Some(vec![]));
    let mut ctx = test.context();
    let so_far: Vec<Closed<u64>> = w.so_far(&mut ctx, b"k", 8_000).unwrap();
    let bounds: Vec<(i64, i64, u64)> = so_far.iter().map(|c| (c.start, c.end, c.value)).collect();
    assert_eq!(bounds, [(0, 10_000, 2), (5_000, 15_000, 2)]);
    assert!(w.so_far::<u64>(&mut ctx, b"other", 8_000).unwrap().is_empty());
    let sessions = Windows::session("s", SECOND).unwrap();
    for ts in [100, 600] {
        assert_eq!(sessions.add(&mut ctx, b"k", ts, 1u64).unwrap(), Added::InTime(vec![]));
    }
    let so_far: Vec<Closed<u64>> = sessions.so_far(&mut ctx, b"k", 300).unwrap();
    assert_eq!((so_far[0].start, so_far[0].end, so_far[0].value), (100, 600, 2));
}

#[test]
fn a_record_is_in_every_hopping_window_that_holds_it() {
    let w = Windows::hopping("h", 10 * SECOND, 5 * SECOND).unwrap();
    let mut test = TestContext::new();
    assert_eq!(add(&w, &mut test, "k", 7_000), Some(vec![]));
    // 15 s closes [0, 10 s) and [5 s, 15 s), both holding the record at 7 s.
    let closed = add(&w, &mut test, "k", 15_000).unwrap();
    assert_eq!(closed, vec![("k".into(), 0, 10_000, 1), ("k".into(), 5_000, 15_000, 1)]);
    // 12 s belongs to [5 s, 15 s) (closed) and [10 s, 20 s) (open): counted there.
    assert_eq!(add(&w, &mut test, "k", 12_000), Some(vec![]));
    let closed = add(&w, &mut test, "k", 20_000).unwrap();
    assert_eq!(closed, vec![("k".into(), 10_000, 20_000, 2)]);
    // Negative timestamps find their windows too.
    let mut fresh = TestContext::new();
    assert_eq!(add(&w, &mut fresh, "k", -1), Some(vec![]));
    let closed = add(&w, &mut fresh, "k", 10_000).unwrap();
    assert_eq!(closed, vec![("k".into(), -10_000, 0, 1), ("k".into(), -5_000, 5_000, 1)]);
}

#[test]
fn sessions_grow_merge_and_close_after_the_gap() {
    let w = Windows::session("s", 10 * SECOND).unwrap().grace(30 * SECOND);
    let mut test = TestContext::new();
    assert_eq!(add(&w, &mut test, "k", 0), Some(vec![]));
    assert_eq!(add(&w, &mut test, "k", 25_000), Some(vec![]));
    // Another key's session does not touch k's.
    assert_eq!(add(&w, &mut test, "j", 20_000), Some(vec![]));
    // 12 s is 10 s or more from both 0 and 25 s: a session of its own, which 8 s
    // then joins to the one at 0.
    assert_eq!(add(&w, &mut test, "k", 12_000), Some(vec![]));
    assert_eq!(add(&w, &mut test, "k", 8_000), Some(vec![]));
    let sessions = test.state().keys().filter(|k| k.starts_with(b"__weir/window/s/agg/")).count();
    assert_eq!(sessions, 3, "k: [0, 12 s] and [25 s], j: [20 s]");
    // 17 s bridges [0, 12 s] and [25 s].
    assert_eq!(add(&w, &mut test, "k", 17_000), Some(vec![]));
    let sessions = test.state().keys().filter(|k| k.starts_with(b"__weir/window/s/agg/")).count();
    assert_eq!(sessions, 2, "k: [0, 25 s], j: [20 s]");
    // The watermark must pass end + gap: for j, 30 s, reached at 60 s of stream time
    // (grace 30 s) and passed at 60.001 s.
    assert_eq!(add(&w, &mut test, "x", 60_000), Some(vec![]));
    assert_eq!(add(&w, &mut test, "x", 60_001), Some(vec![("j".into(), 20_000, 20_000, 1)]));
    let closed = add(&w, &mut test, "y", 65_001).unwrap();
    assert_eq!(closed, vec![("k".into(), 0, 25_000, 5)]);
    // Older than the watermark (35.001 s): late, since it may belong to a closed
    // session.
    assert_eq!(add(&w, &mut test, "k", 35_000), None);
    assert_eq!(add(&w, &mut test, "k", 35_001), Some(vec![]));
}

#[test]
fn bad_windows_are_refused_with_what_to_change() {
    let message = |r: Result<Windows, crate::Error>| r.unwrap_err().into_message();
    assert!(message(Windows::hopping("h", SECOND, 2 * SECOND)).contains("longer than the size"));
    assert!(message(Windows::tumbling("t", Duration::ZERO)).contains("at least 1 ms"));
    assert!(message(Windows::session("a/b", SECOND)).contains("without '/'"));
    assert!(message(Windows::session("", SECOND)).contains("non-empty"));
}

/// Records with timestamps that mostly advance but jump back by up to `disorder`
/// ms, over 3 keys.
fn disordered(seed: u64, n: usize, disorder: u64) -> Vec<(String, i64)> {
    let mut rng = Rng(seed | 1);
    let mut now = 0i64;
    (0..n)
        .map(|_| {
            now += rng.below(400) as i64;
            let ts = now - rng.below(disorder) as i64;
            (format!("k{}", rng.below(3)), ts)
        })
        .collect()
}

/// What the model says comes out: (index of the record whose add closes it,
/// window), and which records are late.
type Expected = (Vec<(usize, (String, i64, i64, u64))>, Vec<bool>);

/// Stream time and watermark after each record.
fn watermarks(input: &[(String, i64)], grace: i64) -> Vec<i64> {
    let mut stream_time = i64::MIN;
    input
        .iter()
        .map(|(_, ts)| {
            stream_time = stream_time.max(*ts);
            stream_time - grace
        })
        .collect()
}

/// The model of fixed windows: a record counts in each of its windows whose end
/// is past the watermark; a window closes at the first record that brings the
/// watermark to its end.
fn model_fixed(input: &[(String, i64)], size: i64, advance: i64, grace: i64) -> Expected {
    let marks = watermarks(input, grace);
    let mut late = vec![false; input.len()];
    let mut counts: BTreeMap<(String, i64), (usize, u64)> = BTreeMap::new();
    for (i, (key, ts)) in input.iter().enumerate() {
        let mut any = false;
        let mut start = ts.div_euclid(advance) * advance;
        while *ts < start + size {
            if start + size > marks[i] {
                any = true;
                counts.entry((key.clone(), start)).or_insert((i, 0)).1 += 1;
            }
            start -= advance;
        }
        late[i] = !any;
    }
    let mut out = Vec::new();
    for ((key, start), (first, count)) in counts {
        let end = start + size;
        if let Some(j) = (first..input.len()).find(|&j| marks[j] >= end) {
            out.push((j, (key, start, end, count)));
        }
    }
    (out, late)
}

/// The model of sessions: records at or after the watermark, clustered per key by
/// gaps under `gap`; a session closes at the first record that brings the
/// watermark past its end plus the gap.
fn model_sessions(input: &[(String, i64)], gap: i64, grace: i64) -> Expected {
    let marks = watermarks(input, grace);
    let late: Vec<bool> = input.iter().zip(&marks).map(|((_, ts), w)| ts < w).collect();
    let mut by_key: BTreeMap<&str, Vec<(i64, usize)>> = BTreeMap::new();
    for (i, (key, ts)) in input.iter().enumerate() {
        if !late[i] {
            by_key.entry(key).or_default().push((*ts, i));
        }
    }
    let mut out = Vec::new();
    for (key, mut records) in by_key {
        records.sort();
        let mut sessions: Vec<Vec<(i64, usize)>> = Vec::new();
        for record in records {
            match sessions.last_mut() {
                Some(session) if record.0 - session.last().unwrap().0 < gap => session.push(record),
                _ => sessions.push(vec![record]),
            }
        }
        for session in sessions {
            let (start, end) = (session[0].0, session.last().unwrap().0);
            let last_in = session.iter().map(|r| r.1).max().unwrap();
            if let Some(j) = (last_in..input.len()).find(|&j| marks[j] > end + gap) {
                out.push((j, (key.to_owned(), start, end, session.len() as u64)));
            }
        }
    }
    (out, late)
}

/// The model of sliding windows: a record is late when older than the
/// watermark; each in-time record at `t` of a key defines the windows of that
/// key ending at `t + 1` and at `t + 1 + size`; a window holds the key's
/// in-time records in `[end - size, end)`, is reported only if it holds one,
/// and closes at the first record from its first definer on that brings the
/// watermark to its end.
fn model_sliding(input: &[(String, i64)], size: i64, grace: i64) -> Expected {
    let marks = watermarks(input, grace);
    let late: Vec<bool> = input.iter().zip(&marks).map(|((_, ts), w)| ts < w).collect();
    let mut defined: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for (i, (key, ts)) in input.iter().enumerate() {
        if !late[i] {
            for end in [ts + 1, ts + 1 + size] {
                defined.entry((key.clone(), end)).or_insert(i);
            }
        }
    }
    let mut out = Vec::new();
    for ((key, end), first) in defined {
        let count = input
            .iter()
            .zip(&late)
            .filter(|((k, ts), late)| !**late && *k == key && end - size <= *ts && *ts < end)
            .count() as u64;
        if count == 0 {
            continue;
        }
        if let Some(j) = (first..input.len()).find(|&j| marks[j] >= end) {
            out.push((j, (key, end - size, end, count)));
        }
    }
    (out, late)
}

/// Runs `input` through `w` (a fresh `Windows` value from `make` after record
/// `restart_at`, as after a restart: everything lives in the state).
fn run(make: impl Fn() -> Windows, input: &[(String, i64)], restart_at: usize) -> Expected {
    let mut test = TestContext::new();
    let mut w = make();
    let mut out = Vec::new();
    let mut late = Vec::new();
    for (i, (key, ts)) in input.iter().enumerate() {
        if i == restart_at {
            w = make();
        }
        match add(&w, &mut test, key, *ts) {
            Some(closed) => {
                late.push(false);
                out.extend(closed.into_iter().map(|c| (i, c)));
            }
            None => late.push(true),
        }
    }
    (out, late)
}

fn sorted(mut expected: Expected) -> Expected {
    expected.0.sort();
    expected
}

#[test]
fn random_disordered_input_gives_what_the_model_says() {
    for seed in 1..=40u64 {
        let input = disordered(seed, 400, 3_000);
        let restart = 150 + seed as usize;
        let grace = (seed % 4) as i64 * 500;
        let (size, advance) = (2_000 + (seed % 3) as i64 * 1_000, 1_000);
        let tumbling = || Windows::tumbling("t", Duration::from_millis(size as u64)).unwrap();
        let tumbling_graced = || tumbling().grace(Duration::from_millis(grace as u64));
        let got = sorted(run(tumbling_graced, &input, restart));
        assert_eq!(got, sorted(model_fixed(&input, size, size, grace)), "tumbling, seed {seed}");
        let hopping = || {
            Windows::hopping(
                "h",
                Duration::from_millis(size as u64),
                Duration::from_millis(advance as u64),
            )
            .unwrap()
            .grace(Duration::from_millis(grace as u64))
        };
        let got = sorted(run(hopping, &input, restart));
        assert_eq!(got, sorted(model_fixed(&input, size, advance, grace)), "hopping, seed {seed}");
        let gap = 300 + (seed % 5) as i64 * 200;
        let session = || {
            Windows::session("s", Duration::from_millis(gap as u64))
                .unwrap()
                .grace(Duration::from_millis(grace as u64))
        };
        let got = sorted(run(session, &input, restart));
        let expected = sorted(model_sessions(&input, gap, grace));
        assert_eq!(got, expected, "sessions, seed {seed}");
        let sliding = || {
            Windows::sliding("w", Duration::from_millis(size as u64))
                .unwrap()
                .grace(Duration::from_millis(grace as u64))
        };
        let got = sorted(run(sliding, &input, restart));
        assert_eq!(got, sorted(model_sliding(&input, size, grace)), "sliding, seed {seed}");
        assert!(
            expected.1.iter().any(|l| *l) && expected.1.iter().any(|l| !l),
            "seed {seed} mixes late and in time"
        );
    }
}
