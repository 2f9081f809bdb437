//! Compaction of a partition, checked against a plain model: the latest value of
//! each key, and every record's offset and value as appended.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::time::Duration;

use super::*;
use crate::log::cleaner::CleanerOptions;
use crate::log::record::{BatchBuilder, Compression};
use crate::log::{Cleanup, Reader};

/// What was appended: offset -> (key, value), and each key's latest value.
#[derive(Default)]
struct Model {
    appended: BTreeMap<u64, (String, Option<String>)>,
    latest: BTreeMap<String, Option<String>>,
}

fn compacted(delete_retention_ms: u64) -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        retention_age: None,
        cleanup: Cleanup {
            delete: false,
            compact: true,
            min_dirty_ppm: 0,
            delete_retention: Duration::from_millis(delete_retention_ms),
            ..Cleanup::default()
        },
        ..LogConfig::default()
    }
}

const CODECS: [Compression; 3] = [Compression::None, Compression::Gzip, Compression::Zstd];

/// Appends `n` batches of 1 to 8 random records over `keys` keys (one in ten a
/// tombstone), timestamps from `ts`.
fn append_random(p: &Partition, model: &mut Model, rng: &mut fastrand::Rng, n: usize, keys: u32) {
    for _ in 0..n {
        let mut b = BatchBuilder::new(0, CODECS[rng.usize(..CODECS.len())]);
        let mut rows = Vec::new();
        for _ in 0..rng.usize(1..=8) {
            let key = format!("k{}", rng.u32(..keys));
            let value = (rng.u8(..10) != 0).then(|| format!("v{}", rng.u64(..)));
            b.push(1_000, Some(key.as_bytes()), value.as_deref().map(str::as_bytes), &[]);
            rows.push((key, value));
        }
        let info = p.append(&b.build().unwrap()).unwrap();
        for (i, (key, value)) in rows.into_iter().enumerate() {
            model.latest.insert(key.clone(), value.clone());
            model.appended.insert(info.base_offset + i as u64, (key, value));
        }
    }
}

/// Every record from the log start: (offset, key, value).
fn read_all(p: &Partition) -> Vec<(u64, String, Option<String>)> {
    let text = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
    Reader::from_log_start(p, "t", 0)
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r.offset as u64, text(r.key).unwrap(), text(r.value))
        })
        .collect()
}

/// Checks the log against the model: every record is one that was appended at
/// that offset, in order; replaying it gives each key's latest value; below the
/// cleaned offset no key shows twice, and no tombstone is left if they expire.
fn check(p: &Partition, model: &Model, tombstones_expire: bool) {
    let records = read_all(p);
    let mut replayed: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut last = None;
    let mut cleaned_keys: HashMap<String, u64> = HashMap::new();
    let through = p.cleaned_through();
    for (offset, key, value) in &records {
        assert!(last.is_none_or(|l| *offset > l), "offsets go up");
        last = Some(*offset);
        assert_eq!(model.appended.get(offset), Some(&(key.clone(), value.clone())), "at {offset}");
        replayed.insert(key.clone(), value.clone());
        if *offset < through {
            let seen = cleaned_keys.insert(key.clone(), *offset);
            assert!(seen.is_none(), "{key} twice below the cleaned offset {through}");
            if tombstones_expire {
                assert!(value.is_some(), "an expired tombstone of {key} at {offset}");
            }
        }
    }
    let live = |m: &BTreeMap<String, Option<String>>| {
        m.iter().filter_map(|(k, v)| Some((k.clone(), v.clone()?))).collect::<BTreeMap<_, _>>()
    };
    assert_eq!(live(&replayed), live(&model.latest));
}

#[test]
fn compaction_keeps_each_keys_latest_record_at_its_offset_across_many_segments() {
    for (seed, tombstones_expire) in [(1, false), (2, true), (3, true)] {
        let dir = tempfile::tempdir().unwrap();
        let retention = if tombstones_expire { 0 } else { 3_600_000 };
        let p = Partition::open(dir.path(), compacted(retention)).unwrap();
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut model = Model::default();
        let opts = CleanerOptions::default();
        let mut removed = 0;
        for round in 0..6 {
            append_random(&p, &mut model, &mut rng, 150, 40);
            let stats = p.clean_at(10_000_000, &opts).unwrap().expect("due: ratio 0");
            removed += stats.records_removed;
            assert!(stats.cleaned_through > 0 && stats.bytes_after <= stats.bytes_before);
            check(&p, &model, tombstones_expire);
            assert!(p.segment_count() > 1, "round {round}: the active segment stays");
        }
        assert!(removed > 1_000, "{removed} records removed");
        let before = read_all(&p);
        // A clean close and a crash (no close) both open to the same log.
        p.close().unwrap();
        drop(p);
        let p = Partition::open(dir.path(), compacted(retention)).unwrap();
        assert_eq!(read_all(&p), before);
        assert!(p.truncations().is_empty());
        append_random(&p, &mut model, &mut rng, 20, 40);
        p.clean_at(10_000_000, &opts).unwrap();
        let after = read_all(&p);
        fs::remove_file(dir.path().join(recovery::RECOVERY_POINT)).unwrap();
        drop(p);
        let p = Partition::open(dir.path(), compacted(retention)).unwrap();
        assert!(p.truncations().is_empty(), "{:?}", p.truncations());
        assert_eq!(read_all(&p), after);
        check(&p, &model, tombstones_expire);
    }
}

#[test]
fn the_dirty_ratio_the_lag_and_the_policy_decide_when_to_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = compacted(0);
    cfg.cleanup.min_dirty_ppm = 600_000;
    cfg.cleanup.min_lag = Duration::from_millis(5_000);
    let p = Partition::open(dir.path(), cfg.clone()).unwrap();
    let mut model = Model::default();
    let mut rng = fastrand::Rng::with_seed(9);
    append_random(&p, &mut model, &mut rng, 100, 10);
    let opts = CleanerOptions::default();
    // Records at 1,000 ms are younger than the lag at 5,999 ms.
    assert_eq!(p.clean_at(5_999, &opts).unwrap(), None);
    assert!(p.clean_at(6_000, &opts).unwrap().is_some());
    // Everything is clean now: under the ratio until enough new records come.
    append_random(&p, &mut model, &mut rng, 5, 10);
    assert_eq!(p.clean_at(1_000_000, &opts).unwrap(), None);
    check(&p, &model, true);
    // Not compacted: never cleaned, whatever is dirty.
    cfg.cleanup.compact = false;
    p.set_config(cfg);
    append_random(&p, &mut model, &mut rng, 100, 10);
    assert_eq!(p.clean_at(1_000_000, &opts).unwrap(), None);
}

#[test]
fn a_key_map_smaller_than_the_dirty_keys_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), compacted(0)).unwrap();
    let mut model = Model::default();
    let mut rng = fastrand::Rng::with_seed(4);
    append_random(&p, &mut model, &mut rng, 300, 500);
    // Room for about 60 keys: each pass maps a segment or two.
    let opts = CleanerOptions { key_map_bytes: 60 * 40, io_bytes_per_second: None };
    let mut passes = 0;
    while p.clean_at(10_000_000, &opts).unwrap().is_some() {
        passes += 1;
        check(&p, &model, true);
        assert!(passes < 1_000);
    }
    assert!(passes > 2, "{passes} passes");
    let active = p.state.read().segments.keys().next_back().copied().unwrap();
    assert_eq!(p.cleaned_through(), active);
}

#[test]
fn keyless_records_are_refused_by_a_compacted_topic() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), compacted(0)).unwrap();
    let mut b = BatchBuilder::new(0, Compression::Lz4);
    b.push(1, Some(b"k"), Some(b"v"), &[]);
    b.push(2, None, Some(b"v"), &[]);
    let err = p.append(&b.build().unwrap()).unwrap_err();
    assert!(
        matches!(&err, AppendError::KeylessRecord { index: 0, records } if records == &[1]),
        "{err:?}"
    );
    assert!(err.to_string().contains("needs one"), "{err}");
    assert_eq!(p.high_watermark(), 0);
}

#[test]
fn a_cleaning_interrupted_before_or_after_its_commit_opens_whole() {
    use crate::log::cleaner::{pass, swap};
    for commit in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path(), compacted(0)).unwrap();
        let mut model = Model::default();
        let mut rng = fastrand::Rng::with_seed(11);
        append_random(&p, &mut model, &mut rng, 200, 30);
        let before = read_all(&p);
        let cfg = p.config();
        let (sealed, next) = {
            let state = p.state.read();
            let mut all: Vec<_> = state
                .segments
                .values()
                .map(|s| pass::Sealed {
                    base: s.base_offset(),
                    file: s.log().clone(),
                    size: s.size(),
                    newest: s.max_timestamp(),
                })
                .collect();
            let active = all.pop().unwrap();
            (all, active.base)
        };
        let plan = pass::plan(sealed, next, &cfg.cleanup, 0, 10_000_000).unwrap();
        let (planned, _) =
            pass::run(dir.path(), &plan, &cfg, &CleanerOptions::default(), 10_000_000).unwrap();
        if commit {
            // The commit point, and then the crash: nothing renamed yet.
            let text = format!(
                "cleaned-through {}\n{}{}",
                planned.cleaned_through,
                planned.replaced.iter().map(|b| format!("replace {b}\n")).collect::<String>(),
                planned.removed.iter().map(|b| format!("remove {b}\n")).collect::<String>(),
            );
            fs::write(dir.path().join(swap::SWAP_FILE), text).unwrap();
        }
        drop(p); // a crash: no close
        let p = Partition::open(dir.path(), compacted(0)).unwrap();
        assert!(p.truncations().is_empty(), "{:?}", p.truncations());
        assert!(!dir.path().join(swap::CLEANING_DIR).exists());
        if commit {
            assert_eq!(p.cleaned_through(), planned.cleaned_through);
            assert!(read_all(&p).len() < before.len());
            check(&p, &model, true);
        } else {
            assert_eq!(p.cleaned_through(), 0);
            assert_eq!(read_all(&p), before);
        }
    }
}

#[test]
fn an_idempotent_producer_goes_on_after_its_batches_were_compacted_and_a_crash() {
    let batch = |pid: i64, seq: i32| {
        let mut b = BatchBuilder::new(0, Compression::None).producer(pid, 0, seq);
        b.push(1_000, Some(b"same key"), Some(format!("{pid}-{seq}").as_bytes()), &[]);
        b.build().unwrap().to_vec()
    };
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), compacted(0)).unwrap();
    // Producer 1's batches are all superseded by producer 2's, segments later.
    for seq in 0..5 {
        p.append(&batch(1, seq)).unwrap();
    }
    for seq in 0..200 {
        p.append(&batch(2, seq)).unwrap();
    }
    let stats = p.clean_at(10_000_000, &CleanerOptions::default()).unwrap().unwrap();
    assert!(stats.records_removed > 100);
    assert!(read_all(&p).iter().all(|(_, _, v)| !v.as_deref().unwrap().starts_with("1-")));
    drop(p); // a crash, right after the cleaning
    let p = Partition::open(dir.path(), compacted(0)).unwrap();
    // Producer 1 is still known: a retry is a duplicate, the next sequence is taken,
    // a gap is refused.
    let retry = p.append(&batch(1, 4)).unwrap();
    assert!(retry.duplicate && retry.base_offset == 4, "{retry:?}");
    p.append(&batch(1, 5)).unwrap();
    let gap = p.append(&batch(1, 7));
    assert!(matches!(gap, Err(AppendError::OutOfOrderSequence { expected: 6, .. })), "{gap:?}");
}
