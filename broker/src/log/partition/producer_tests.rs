//! Idempotent producers at the partition level: retries, refusals, and the state
//! across a clean close, a crash and a truncation.

use std::fs::{self, OpenOptions};

use super::*;
use crate::log::producers::snapshot;
use crate::log::record::{BatchBuilder, Compression, decode_batches};
use crate::log::segment::segment_path;

const PID: i64 = 42;

/// Producer `PID`'s batch of `n` records from sequence `seq` at `epoch`; values
/// `"{seq + i}"`.
fn idem(epoch: i16, seq: i32, n: i32) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, Compression::None).producer(PID, epoch, seq);
    for i in 0..n {
        b.push(1_000, None, Some(format!("{}", seq + i).as_bytes()), &[]);
    }
    b.build().unwrap().to_vec()
}

fn plain(n: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, Compression::None);
    for _ in 0..n {
        b.push(1_000, None, Some(b"plain"), &[]);
    }
    b.build().unwrap().to_vec()
}

/// Every value in the log, in offset order.
fn all_values(p: &Partition) -> Vec<String> {
    let mut values = Vec::new();
    let mut offset = p.log_start_offset();
    while let Some(slice) = p.read(offset, 1 << 20).unwrap().slice {
        for r in decode_batches(&slice.read().unwrap()).unwrap() {
            values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            offset = r.offset as u64 + 1;
        }
    }
    values
}

fn small_segments() -> LogConfig {
    LogConfig { segment_bytes: 1024, index_interval_bytes: 128, ..LogConfig::default() }
}

#[test]
fn a_retried_batch_is_acknowledged_with_its_original_offsets_and_not_written_twice() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    p.append(&plain(2)).unwrap();
    let first = p.append(&idem(0, 0, 3)).unwrap();
    assert_eq!((first.base_offset, first.last_offset, first.duplicate), (2, 4, false));
    p.append(&plain(1)).unwrap();

    let retry = p.append(&idem(0, 0, 3)).unwrap();
    assert_eq!((retry.base_offset, retry.last_offset, retry.duplicate), (2, 4, true));
    assert_eq!(p.high_watermark(), 6, "nothing written");

    // A request holding the retry and the next batch: only the new one is written,
    // and the answer starts at the original.
    let mut both = idem(0, 0, 3);
    both.extend(idem(0, 3, 2));
    let info = p.append(&both).unwrap();
    assert_eq!((info.base_offset, info.last_offset, info.duplicate), (2, 7, false));
    assert_eq!(p.high_watermark(), 8);
    assert_eq!(all_values(&p), ["plain", "plain", "0", "1", "2", "plain", "3", "4"]);
    assert_eq!(p.producer_state(PID).unwrap().batches().len(), 2);
}

#[test]
fn out_of_order_and_stale_epochs_are_refused_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    p.append(&idem(1, 0, 2)).unwrap();
    match p.append(&idem(1, 5, 1)) {
        Err(AppendError::OutOfOrderSequence {
            index: 0,
            producer_id: PID,
            epoch: 1,
            sequence: 5,
            expected: 2,
        }) => {}
        other => panic!("expected out of order, got {other:?}"),
    }
    // A good batch followed by a gap: the whole request is refused.
    let mut request = idem(1, 2, 1);
    request.extend(idem(1, 9, 1));
    assert!(matches!(
        p.append(&request),
        Err(AppendError::OutOfOrderSequence { index: 1, expected: 3, .. })
    ));
    assert_eq!(p.high_watermark(), 2);
    assert_eq!(p.append(&idem(1, 2, 1)).unwrap().base_offset, 2, "the state did not move");

    assert!(matches!(
        p.append(&idem(2, 3, 1)),
        Err(AppendError::OutOfOrderSequence { expected: 0, .. })
    ));
    assert_eq!(p.append(&idem(2, 0, 1)).unwrap().base_offset, 3, "a new epoch at 0");
    assert!(matches!(
        p.append(&idem(1, 3, 1)),
        Err(AppendError::InvalidProducerEpoch { epoch: 1, current: 2, .. })
    ));
    assert_eq!(p.high_watermark(), 4);
}

#[test]
fn transactional_batches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    let mut txn = idem(0, 0, 1);
    txn[22] |= 0x10; // attributes (bytes 21-22), bit 4
    batch::write_crc(&mut txn);
    let mut request = plain(1);
    request.extend(txn);
    assert!(matches!(p.append(&request), Err(AppendError::Transactional { index: 1 })));
    assert_eq!(p.high_watermark(), 0);
}

#[test]
fn the_state_survives_a_clean_close_through_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    for seq in 0..3 {
        p.append(&idem(0, seq * 2, 2)).unwrap();
    }
    let state = p.producer_state(PID).unwrap();
    p.close().unwrap();
    drop(p);
    let bytes = fs::read(dir.path().join(snapshot::FILE)).unwrap();
    let (offset, saved) = snapshot::decode(&bytes).unwrap();
    assert_eq!((offset, saved.get(PID)), (6, Some(&state)));

    // Proof the snapshot is what open reads: a producer only it knows of.
    let mut marked = saved.clone();
    marked.record(
        &ProducerBatch { producer_id: 7, epoch: 0, first_seq: 0, last_seq: 0, max_timestamp: 0 },
        5,
        5,
    );
    snapshot::write(dir.path(), offset, &marked).unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    assert!(p.producer_state(7).is_some(), "state came from the snapshot");
    assert_eq!(p.producer_state(PID), Some(state));
    let retry = p.append(&idem(0, 2, 2)).unwrap();
    assert_eq!((retry.base_offset, retry.duplicate), (2, true));
    assert_eq!(p.append(&idem(0, 6, 1)).unwrap().base_offset, 6);
}

#[test]
fn the_state_survives_a_crash_through_the_batch_headers() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    let mut seq = 0;
    for _ in 0..20 {
        p.append(&idem(0, seq, 3)).unwrap();
        p.append(&plain(1)).unwrap();
        seq += 3;
    }
    let state = p.producer_state(PID).unwrap();
    assert!(p.segment_count() > 3);
    drop(p); // no close: no snapshot at the end, headers are rescanned
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    assert_eq!(p.producer_state(PID), Some(state));
    let retry = p.append(&idem(0, seq - 3, 3)).unwrap();
    assert_eq!((retry.base_offset, retry.duplicate), (76, true));
    assert!(matches!(p.append(&idem(0, seq + 1, 1)), Err(AppendError::OutOfOrderSequence { .. })));
    assert_eq!(p.append(&idem(0, seq, 1)).unwrap().base_offset, 80);
}

#[test]
fn after_a_crash_the_snapshot_of_a_roll_is_completed_from_the_headers_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    for seq in 0..20 {
        p.append(&idem(0, seq, 1)).unwrap();
    }
    assert!(p.segment_count() > 1);
    p.checkpoint().unwrap(); // what the flusher does after a roll
    let bytes = fs::read(dir.path().join(snapshot::FILE)).unwrap();
    let (offset, mut saved) = snapshot::decode(&bytes).unwrap();
    assert_eq!(offset, 20);
    // A producer only the snapshot knows of, to see that open reads it.
    saved.record(
        &ProducerBatch { producer_id: 7, epoch: 0, first_seq: 0, last_seq: 0, max_timestamp: 0 },
        19,
        19,
    );
    snapshot::write(dir.path(), offset, &saved).unwrap();
    for seq in 20..25 {
        p.append(&idem(0, seq, 1)).unwrap();
    }
    let state = p.producer_state(PID).unwrap();
    drop(p);
    let p = Partition::open(dir.path(), small_segments()).unwrap();
    assert_eq!(p.producer_state(PID), Some(state));
    assert!(p.producer_state(7).is_some(), "the snapshot was read");
    let retry = p.append(&idem(0, 20, 1)).unwrap();
    assert_eq!((retry.base_offset, retry.duplicate), (20, true));
    assert_eq!(p.append(&idem(0, 25, 1)).unwrap().base_offset, 25);
}

#[test]
fn a_truncation_forgets_the_batches_it_cut_even_those_a_snapshot_knew() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    for seq in 0..4 {
        p.append(&idem(0, seq, 1)).unwrap();
    }
    p.close().unwrap();
    drop(p);
    // As if the end of the log never reached the disk, though the snapshot did.
    fs::remove_file(dir.path().join(recovery::CLEAN_SHUTDOWN)).unwrap();
    let log = OpenOptions::new().write(true).open(segment_path(dir.path(), 0, "log")).unwrap();
    let len = log.metadata().unwrap().len();
    log.set_len(len - 5).unwrap();
    drop(log);

    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(p.high_watermark(), 3);
    assert!(!p.truncations().is_empty());
    let left = fs::read(dir.path().join(snapshot::FILE)).ok().and_then(|b| snapshot::decode(&b));
    assert!(left.is_none_or(|(o, _)| o <= 3), "the snapshot past the end is gone");
    let retry = p.append(&idem(0, 3, 1)).unwrap();
    assert_eq!((retry.base_offset, retry.duplicate), (3, false), "the cut batch is written again");
    let again = p.append(&idem(0, 2, 1)).unwrap();
    assert_eq!((again.base_offset, again.duplicate), (2, true));
}

#[test]
fn retention_forgets_producers_whose_batches_it_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig { retention_bytes: Some(1_500), retention_age: None, ..small_segments() };
    let p = Partition::open(dir.path(), cfg).unwrap();
    p.append(&idem(0, 0, 1)).unwrap();
    for _ in 0..40 {
        p.append(&plain(2)).unwrap();
    }
    assert!(!p.enforce_retention(0).unwrap().is_empty());
    assert!(p.log_start_offset() > 0);
    assert_eq!(p.producer_state(PID), None);
    // Unknown again: any sequence is accepted, as in Kafka.
    assert!(!p.append(&idem(0, 7, 1)).unwrap().duplicate);
}
