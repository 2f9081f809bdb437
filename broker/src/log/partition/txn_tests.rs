//! Transactions at the partition level: open transactions hold the last stable
//! offset, markers end them, aborts are remembered across a clean close and a
//! crash, and `read_committed` reads stop at the stable offset.

use std::fs;

use super::*;
use crate::log::batch::BatchHeader;
use crate::log::producers::snapshot;
use crate::log::record::{BatchBuilder, Compression, decode_batches};

/// A transactional batch of producer `pid` at `epoch`, `n` records from `seq`.
fn txn_batch(pid: i64, epoch: i16, seq: i32, n: i32) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, Compression::None).producer(pid, epoch, seq).transactional();
    for i in 0..n {
        b.push(1_000, None, Some(format!("{pid}-{}", seq + i).as_bytes()), &[]);
    }
    b.build().unwrap().to_vec()
}

fn plain(value: &str) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, Compression::None);
    b.push(1_000, None, Some(value.as_bytes()), &[]);
    b.build().unwrap().to_vec()
}

/// Values a `read_committed` reader gets from `offset`, aborted records dropped
/// as a client drops them, and the offset it stopped at.
fn committed_values(p: &Partition, mut offset: u64) -> (Vec<String>, u64) {
    let mut values = Vec::new();
    let lso = p.last_stable_offset();
    let aborted = p.aborted_transactions(0, lso);
    while let Some(slice) = p.read_committed(offset, 1 << 20).unwrap().slice {
        let bytes = slice.read().unwrap();
        for batch in batch::split(&bytes) {
            let batch = batch.unwrap();
            let header = BatchHeader::parse(batch).unwrap();
            let base = header.base_offset() as u64;
            offset = header.last_offset() as u64 + 1;
            let dropped = aborted.iter().any(|a| {
                a.producer_id == header.producer_id()
                    && (a.first_offset..=a.last_offset).contains(&base)
            });
            if header.is_control() || dropped {
                continue;
            }
            for r in decode_batches(batch).unwrap() {
                values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
        }
    }
    (values, offset)
}

#[test]
fn open_transactions_hold_the_stable_offset_until_their_markers() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    p.append(&plain("before")).unwrap();
    assert_eq!(p.append_transactional(&txn_batch(7, 0, 0, 2)).unwrap().base_offset, 1);
    p.append(&plain("plain, during")).unwrap();
    p.append_transactional(&txn_batch(8, 0, 0, 1)).unwrap();
    p.append_transactional(&txn_batch(7, 0, 2, 1)).unwrap();
    assert_eq!((p.last_stable_offset(), p.high_watermark()), (1, 6));
    assert_eq!(committed_values(&p, 0), (vec!["before".to_string()], 1));

    // Producer 7 commits: producer 8's transaction (from offset 4) holds it.
    assert_eq!(p.write_marker(7, 0, true, 0).unwrap(), 6);
    assert_eq!(p.last_stable_offset(), 4);
    let (values, _) = committed_values(&p, 0);
    assert_eq!(values, ["before", "7-0", "7-1", "plain, during"]);
    // Producer 8 aborts: everything is stable, its records are dropped.
    assert_eq!(p.write_marker(8, 0, false, 0).unwrap(), 7);
    assert_eq!(p.last_stable_offset(), 8);
    let aborted = AbortedTxn { producer_id: 8, first_offset: 4, last_offset: 7 };
    assert_eq!(p.aborted_transactions(0, 8), [aborted]);
    assert_eq!(p.aborted_transactions(0, 4), []);
    let (values, end) = committed_values(&p, 0);
    assert_eq!(values, ["before", "7-0", "7-1", "plain, during", "7-2"]);
    assert_eq!(end, 8);
    assert!(p.open_transactions().is_empty());
}

#[test]
fn transactional_and_control_batches_need_the_transactional_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    let refused = p.append(&txn_batch(7, 0, 0, 1));
    assert!(matches!(refused, Err(AppendError::Transactional { index: 0 })), "{refused:?}");
    let marker = txn::marker(7, 0, true, 0, 1);
    assert!(matches!(p.append(&marker), Err(AppendError::ControlBatch { index: 0 })));
    assert!(matches!(p.append_transactional(&marker), Err(AppendError::ControlBatch { .. })));
    // Without a producer id a batch cannot be in a transaction.
    let mut anonymous = txn_batch(7, 0, 0, 1);
    anonymous[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    batch::write_crc(&mut anonymous);
    assert!(matches!(p.append_transactional(&anonymous), Err(AppendError::Transactional { .. })));
    assert_eq!(p.high_watermark(), 0);
}

#[test]
fn a_bumped_epoch_in_a_marker_fences_the_old_producer() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    p.append_transactional(&txn_batch(7, 0, 0, 1)).unwrap();
    // The coordinator aborts a timed-out transaction at epoch 1.
    p.write_marker(7, 1, false, 0).unwrap();
    let zombie = p.append_transactional(&txn_batch(7, 0, 1, 1));
    assert!(
        matches!(zombie, Err(AppendError::InvalidProducerEpoch { current: 1, .. })),
        "{zombie:?}"
    );
    let stale_marker = p.write_marker(7, 0, true, 0);
    assert!(matches!(stale_marker, Err(AppendError::InvalidProducerEpoch { .. })));
    // The new epoch starts its sequences over.
    p.append_transactional(&txn_batch(7, 1, 0, 1)).unwrap();
    assert_eq!(p.open_transactions(), [(7, 2)]);
}

#[test]
fn transactions_survive_a_clean_close_and_a_crash() {
    for crash in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig { segment_bytes: 1024, ..LogConfig::default() };
        let p = Partition::open(dir.path(), cfg.clone()).unwrap();
        for round in 0..20 {
            p.append_transactional(&txn_batch(3, 0, round * 2, 2)).unwrap();
            p.append(&plain("filler")).unwrap();
            p.write_marker(3, 0, round % 3 == 0, 0).unwrap();
        }
        p.append_transactional(&txn_batch(4, 0, 0, 1)).unwrap();
        let (lso, open, aborted) =
            (p.last_stable_offset(), p.open_transactions(), p.aborted_transactions(0, u64::MAX));
        assert_eq!(aborted.len(), 13);
        assert!(p.segment_count() > 3);
        if crash {
            // No close, and no snapshot: everything comes from the markers in the log.
            drop(p);
            fs::remove_file(dir.path().join(snapshot::FILE)).ok();
        } else {
            p.close().unwrap();
            drop(p);
        }
        let p = Partition::open(dir.path(), cfg).unwrap();
        assert_eq!(p.last_stable_offset(), lso, "crash: {crash}");
        assert_eq!(p.open_transactions(), open);
        assert_eq!(p.aborted_transactions(0, u64::MAX), aborted);
        // The open transaction goes on and ends.
        p.append_transactional(&txn_batch(4, 0, 1, 1)).unwrap();
        p.write_marker(4, 0, true, 0).unwrap();
        assert_eq!(p.last_stable_offset(), p.high_watermark());
    }
}
