use std::time::Duration;

use super::*;
use crate::log::record::{BatchBuilder, Compression, decode_batches};
use crate::log::segment::segment_path;

/// A batch of `n` records with values `"{tag}-{i}"` and timestamps from `ts`.
fn batch(tag: &str, n: usize, ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, Compression::None);
    for i in 0..n {
        b.push(ts + i as i64, Some(tag.as_bytes()), Some(format!("{tag}-{i}").as_bytes()), &[]);
    }
    b.build().unwrap().to_vec()
}

fn values(slice: &FileSlice) -> Vec<(i64, String)> {
    let bytes = slice.read().unwrap();
    decode_batches(&bytes)
        .unwrap()
        .into_iter()
        .map(|r| (r.offset, String::from_utf8(r.value.unwrap().to_vec()).unwrap()))
        .collect()
}

fn small_segments() -> LogConfig {
    LogConfig { segment_bytes: 1024, index_interval_bytes: 128, ..LogConfig::default() }
}

#[test]
fn appends_get_dense_offsets_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!((p.log_start_offset(), p.high_watermark()), (0, 0));
    let a = p.append(&batch("a", 3, 100)).unwrap();
    let b = p.append(&batch("b", 2, 200)).unwrap();
    assert_eq!((a.base_offset, a.last_offset), (0, 2));
    assert_eq!((b.base_offset, b.last_offset), (3, 4));
    assert_eq!(p.high_watermark(), 5);

    let all = p.read(0, 1 << 20).unwrap();
    let got = values(all.slice.as_ref().unwrap());
    let offsets: Vec<i64> = got.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
    assert_eq!(got[3].1, "b-0");
    assert_eq!(all.high_watermark, 5);

    // From the middle of a batch: the whole batch comes back.
    let mid = p.read(4, 1 << 20).unwrap();
    assert_eq!(values(mid.slice.as_ref().unwrap()).first().unwrap().0, 3);
    // max_bytes smaller than a batch still returns one whole batch.
    let one = p.read(0, 1).unwrap();
    assert_eq!(values(one.slice.as_ref().unwrap()).len(), 3);
    // At the high watermark: nothing, no error. Past it or below the start: error.
    assert!(p.read(5, 100).unwrap().slice.is_none());
    assert!(matches!(p.read(6, 100), Err(ReadError::OffsetOutOfRange { offset: 6, .. })));
}

#[test]
fn a_request_with_several_batches_is_validated_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    let mut two = batch("x", 2, 1);
    two.extend(batch("y", 3, 1));
    assert_eq!(p.append(&two).unwrap().last_offset, 4);

    let mut bad = batch("ok", 1, 1);
    let mut corrupt = batch("bad", 1, 1);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    bad.extend(corrupt);
    match p.append(&bad) {
        Err(AppendError::InvalidBatch { index: 1, source: BatchError::CrcMismatch { .. } }) => {}
        other => panic!("expected a CRC error on batch 1, got {other:?}"),
    }
    assert!(matches!(p.append(&[]), Err(AppendError::Empty)));
    assert!(matches!(p.append(&[0u8; 20]), Err(AppendError::InvalidBatch { index: 0, .. })));
    assert_eq!(p.high_watermark(), 5, "nothing of a refused request is written");
}

#[test]
fn batches_over_max_message_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { max_message_bytes: 200, ..LogConfig::default() };
    let p = Partition::open(dir.path(), cfg).unwrap();
    let big = batch("big", 20, 1);
    let size = big.len();
    assert!(
        matches!(p.append(&big), Err(AppendError::TooLarge { size: s, max: 200 }) if s == size)
    );
    assert_eq!(p.high_watermark(), 0);
}

#[test]
fn segments_roll_by_size_with_kafka_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    for i in 0..40 {
        p.append(&batch(&format!("k{i}"), 2, i)).unwrap();
    }
    assert!(p.segment_count() > 3, "{} segments", p.segment_count());
    assert!(segment_path(dir.path(), 0, "log").exists());
    assert_eq!(
        segment_path(dir.path(), 0, "log").file_name().unwrap().to_str().unwrap(),
        "00000000000000000000.log"
    );
    // Every offset reads back, across segment boundaries, one segment per read.
    let mut next = 0;
    while next < p.high_watermark() {
        let slice = p.read(next, 300).unwrap().slice.unwrap();
        let got = values(&slice);
        assert!(got.iter().any(|(o, _)| *o as u64 == next));
        next = got.last().unwrap().0 as u64 + 1;
    }
    assert_eq!(next, 80);
}

#[test]
fn segments_roll_by_age_of_record_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { segment_age: Duration::from_secs(60), ..LogConfig::default() };
    let p = Partition::open(dir.path(), cfg).unwrap();
    p.append(&batch("a", 1, 1_000_000)).unwrap();
    p.append(&batch("b", 1, 1_030_000)).unwrap();
    assert_eq!(p.segment_count(), 1);
    p.append(&batch("c", 1, 1_060_000)).unwrap();
    assert_eq!(p.segment_count(), 2);
    assert!(segment_path(dir.path(), 2, "log").exists());
}

#[test]
fn clean_close_and_reopen_keeps_everything_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    for i in 0..30 {
        p.append(&batch("r", 3, i * 10)).unwrap();
    }
    let segments = p.segment_count();
    p.close().unwrap();
    assert!(matches!(p.append(&batch("late", 1, 0)), Err(AppendError::Closed)));
    assert!(dir.path().join(recovery::CLEAN_SHUTDOWN).exists());
    drop(p);

    let p = Partition::open(dir.path(), small_segments()).unwrap();
    assert!(!dir.path().join(recovery::CLEAN_SHUTDOWN).exists(), "the marker goes on open");
    assert_eq!(p.fsyncs(), 0, "after a clean close nothing needs syncing");
    assert!(p.truncations().is_empty());
    assert_eq!(p.high_watermark(), 90);
    assert_eq!(p.segment_count(), segments);
    assert_eq!(p.append(&batch("more", 1, 0)).unwrap().base_offset, 90);
    assert_eq!(values(&p.read(45, 1 << 20).unwrap().slice.unwrap())[0].0, 45);
}

#[test]
fn reopening_without_close_recovers_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    for i in 0..25 {
        p.append(&batch("r", 2, i)).unwrap();
    }
    drop(p); // no close: the next open rescans
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    assert_eq!(p.high_watermark(), 50);
    assert_eq!(p.fsyncs(), 1, "what recovery rescanned is synced once");
    assert_eq!(p.append(&batch("next", 1, 0)).unwrap().base_offset, 50);
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    // Offsets 0..60, timestamps 1000 + 10 * offset.
    for i in 0..20 {
        p.append(&batch("t", 3, 1_000 + 30 * i)).unwrap();
    }
    // Records inside a batch are one ms apart: offset 3k+j has timestamp 1000+30k+j.
    assert_eq!(p.offset_for_timestamp(0).unwrap(), Some((0, 1_000)));
    assert_eq!(p.offset_for_timestamp(1_000).unwrap(), Some((0, 1_000)));
    assert_eq!(p.offset_for_timestamp(1_001).unwrap(), Some((1, 1_001)));
    assert_eq!(p.offset_for_timestamp(1_003).unwrap(), Some((3, 1_030)));
    assert_eq!(p.offset_for_timestamp(1_302).unwrap(), Some((32, 1_302)));
    assert_eq!(p.offset_for_timestamp(1_572).unwrap(), Some((59, 1_572)));
    assert_eq!(p.offset_for_timestamp(1_573).unwrap(), None);
}

#[test]
fn sync_durability_shares_one_fsync_between_waiting_appends() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { durability: Durability::Sync, ..LogConfig::default() };
    let p = Arc::new(Partition::open(dir.path(), cfg).unwrap());
    let before = p.fsyncs();
    // Hold the flush lock, as a slow fsync would, while four appends write.
    let held = p.flush.lock();
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let p = Arc::clone(&p);
            std::thread::spawn(move || p.append(&batch(&format!("w{i}"), 1, 1)).unwrap())
        })
        .collect();
    for _ in 0..2_000 {
        if p.high_watermark() == 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(p.high_watermark(), 4, "all four wrote and now wait for the flush");
    drop(held);
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(p.fsyncs() - before, 1, "one flush covered all four appends");
    assert_eq!(p.flush.lock().flushed_offset, 4);
}

#[test]
fn retention_by_bytes_and_by_age_deletes_whole_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { retention_bytes: Some(2_000), retention_age: None, ..small_segments() };
    let p = Partition::open(dir.path(), cfg).unwrap();
    for i in 0..40 {
        p.append(&batch("r", 2, 1_000 + i)).unwrap();
    }
    let before = p.size_bytes();
    let deleted = p.enforce_retention(0).unwrap();
    assert!(!deleted.is_empty());
    assert!(p.size_bytes() >= 2_000 && p.size_bytes() < 2_000 + 1024 && p.size_bytes() < before);
    assert!(p.log_start_offset() > *deleted.last().unwrap());
    assert!(!segment_path(dir.path(), 0, "log").exists());
    assert!(matches!(p.read(0, 100), Err(ReadError::OffsetOutOfRange { .. })));
    assert!(p.read(p.log_start_offset(), 100).unwrap().slice.is_some());

    // By age: everything is older than a minute at now = 1_000 + 61s, so every
    // segment goes, the active one rolled first; offsets carry on.
    p.set_config(LogConfig { retention_age: Some(Duration::from_secs(60)), ..small_segments() });
    p.enforce_retention(1_000 + 61_000).unwrap();
    assert_eq!(p.segment_count(), 1);
    assert_eq!(p.log_start_offset(), 80);
    assert_eq!(p.size_bytes(), 0);
    assert_eq!(p.append(&batch("new", 1, 0)).unwrap().base_offset, 80);
}

#[test]
fn may_roll_tells_an_append_that_starts_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    let one = batch("a", 5, 100);
    assert!(!p.may_roll(one.len(), 100), "an empty segment takes anything");
    let mut appended = 0;
    while !p.may_roll(one.len(), 100) {
        p.append(&one).unwrap();
        appended += 1;
        assert!(appended < 100, "never predicted a roll");
    }
    let segments = p.segment_count();
    p.append(&one).unwrap();
    assert_eq!(p.segment_count(), segments + 1, "the predicted append rolled");
    assert!(!p.may_roll(one.len(), 100));
}

#[test]
fn delete_records_moves_the_log_start_for_good_and_drops_whole_segments_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    // 20 batches of 5 records (offsets 0..100), over several 1 KiB segments.
    for i in 0..20 {
        p.append(&batch(&format!("b{i:02}"), 5, i * 10)).unwrap();
    }
    let before = p.segment_count();
    assert!(before >= 3, "{before} segments");
    // Mid-batch: the start is 42; reads below it are out of range; a read
    // from it gets the batch holding it (from 40), as Kafka serves it.
    assert_eq!(p.delete_records(42).unwrap(), 42);
    assert_eq!(p.log_start_offset(), 42);
    assert!(matches!(
        p.read(41, 1 << 20),
        Err(ReadError::OffsetOutOfRange { log_start_offset: 42, .. })
    ));
    let first = p.read(42, 1 << 20).unwrap();
    assert_eq!(values(first.slice.as_ref().unwrap())[0].0, 40);
    assert_eq!(first.log_start_offset, 42);
    assert!(p.segment_count() < before, "segments wholly below 42 are deleted");
    // The first record at or after a timestamp is never before the start.
    assert_eq!(p.offset_for_timestamp(0).unwrap().map(|(o, _)| o), Some(42));
    // Never back; past the high watermark refused; up to it allowed.
    assert_eq!(p.delete_records(10).unwrap(), 42);
    assert!(matches!(p.delete_records(101), Err(ReadError::OffsetOutOfRange { offset: 101, .. })));
    assert_eq!(p.delete_records(60).unwrap(), 60);
    drop(p);

    // After a restart (even without a clean close) the start holds.
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    assert_eq!((p.log_start_offset(), p.high_watermark()), (60, 100));
    assert_eq!(p.delete_records(100).unwrap(), 100, "everything: the start is the end");
    assert!(p.read(100, 100).unwrap().slice.is_none());
    let next = p.append(&batch("after", 2, 500)).unwrap();
    assert_eq!(next.base_offset, 100, "offsets go on where they were");
    drop(p);

    // A log-start file that does not hold an offset is ignored, not obeyed.
    std::fs::write(dir.path().join(LOG_START_FILE), "garbage").unwrap();
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    assert!(p.log_start_offset() <= 100, "only whole deleted segments still count");
    assert_eq!(p.high_watermark(), 102);
}

#[test]
fn the_max_timestamp_is_the_first_record_holding_it_past_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    assert_eq!(p.offset_of_max_timestamp().unwrap(), None, "no record");
    // Timestamps 0..5, 1000..1005 (the largest, twice over), then older ones.
    p.append(&batch("a", 5, 0)).unwrap();
    p.append(&batch("b", 5, 1_000)).unwrap();
    p.append(&batch("c", 5, 500)).unwrap();
    p.append(&batch("d", 2, 1_003)).unwrap();
    for i in 0..10 {
        p.append(&batch(&format!("e{i}"), 5, 10 + i)).unwrap();
    }
    assert!(p.segment_count() > 1);
    assert_eq!(p.offset_of_max_timestamp().unwrap(), Some((9, 1_004)));
    // Once the log starts after it, the largest left is the later 1003.. batch.
    p.delete_records(10).unwrap();
    assert_eq!(p.offset_of_max_timestamp().unwrap(), Some((16, 1_004)));
}
