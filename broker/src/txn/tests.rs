use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::group::{OffsetStore, TopicPartition};
use crate::log::record::{BatchBuilder, Compression};
use crate::storage::{Storage, StorageOptions};
use crate::topic::TopicSpec;

struct Fixture {
    _dir: tempfile::TempDir,
    storage: Arc<Storage>,
    offsets: OffsetStore,
    txns: TxnCoordinator,
}

fn open_in(dir: tempfile::TempDir) -> Fixture {
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    if storage.topic("t").is_none() {
        let spec = TopicSpec { name: "t".into(), partitions: 2, configs: BTreeMap::new() };
        storage.create_topic(spec).unwrap();
    }
    let offsets = OffsetStore::open(&storage).unwrap();
    let txns = TxnCoordinator::open(Arc::clone(&storage), &offsets).unwrap();
    Fixture { _dir: dir, storage, offsets, txns }
}

fn open() -> Fixture {
    open_in(tempfile::tempdir().unwrap())
}

fn txn_batch(pid: i64, epoch: i16, seq: i32) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, Compression::None).producer(pid, epoch, seq).transactional();
    b.push(1_000, Some(b"k"), Some(b"v"), &[]);
    b.build().unwrap().to_vec()
}

fn staged(offset: i64) -> Vec<PendingOffset> {
    let o = PendingOffset {
        topic: "in".into(),
        partition: 0,
        offset,
        leader_epoch: -1,
        metadata: String::new(),
    };
    vec![o]
}

#[test]
fn a_transaction_commits_markers_and_offsets_and_aborts_leave_nothing_committed() {
    let f = open();
    let (pid, epoch) = f.txns.init_producer_id("app", 60_000, None, &f.offsets).unwrap();
    assert_eq!(epoch, 0);
    let parts = [("t".to_string(), 0), ("t".to_string(), 1)];
    f.txns.add_partitions("app", pid, epoch, &parts).unwrap();
    assert_eq!(f.txns.check_produce(pid, epoch, "t", 1), Ok(true));
    assert_eq!(f.txns.check_produce(pid, epoch, "other", 0), Ok(false));
    let p0 = f.storage.partition("t", 0).unwrap();
    p0.append_transactional(&txn_batch(pid, epoch, 0)).unwrap();
    f.txns.add_offsets("app", pid, epoch, "readers").unwrap();
    f.txns.stage_offsets("app", pid, epoch, "readers", staged(42)).unwrap();
    assert_eq!(p0.last_stable_offset(), 0);
    assert_eq!(f.offsets.group_offsets("readers"), []);

    f.txns.end("app", pid, epoch, true, &f.offsets).unwrap();
    assert_eq!(p0.last_stable_offset(), 2, "the batch and its commit marker");
    assert_eq!(f.storage.partition("t", 1).unwrap().high_watermark(), 1, "a marker alone");
    let tp = TopicPartition { topic: "in".into(), partition: 0 };
    assert_eq!(f.offsets.fetch("readers", &tp).unwrap().offset, 42);
    assert_eq!(f.txns.describe("app").unwrap().status, TxnStatus::CompleteCommit);
    // A retried EndTxn gets the same answer; the other end is refused.
    f.txns.end("app", pid, epoch, true, &f.offsets).unwrap();
    assert!(matches!(
        f.txns.end("app", pid, epoch, false, &f.offsets),
        Err(TxnError::InvalidState { .. })
    ));

    // The next transaction aborts: its offsets are not committed, its records
    // are named aborted.
    f.txns.add_partitions("app", pid, epoch, &parts[..1]).unwrap();
    p0.append_transactional(&txn_batch(pid, epoch, 1)).unwrap();
    f.txns.add_offsets("app", pid, epoch, "readers").unwrap();
    f.txns.stage_offsets("app", pid, epoch, "readers", staged(99)).unwrap();
    f.txns.end("app", pid, epoch, false, &f.offsets).unwrap();
    assert_eq!(f.offsets.fetch("readers", &tp).unwrap().offset, 42);
    let aborted = p0.aborted_transactions(0, u64::MAX);
    assert_eq!((aborted.len(), aborted[0].first_offset, aborted[0].last_offset), (1, 2, 3));
}

#[test]
fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() {
    let f = open();
    let (pid, old) = f.txns.init_producer_id("app", 60_000, None, &f.offsets).unwrap();
    f.txns.add_partitions("app", pid, old, &[("t".into(), 0)]).unwrap();
    let p0 = f.storage.partition("t", 0).unwrap();
    p0.append_transactional(&txn_batch(pid, old, 0)).unwrap();

    let (same, new) = f.txns.init_producer_id("app", 60_000, None, &f.offsets).unwrap();
    assert_eq!((same, new), (pid, old + 1));
    // KIP-360: a client that names its producer gets the bump once, even retried.
    let retried = f.txns.init_producer_id("app", 60_000, Some((pid, old)), &f.offsets).unwrap();
    assert_eq!(retried, (pid, new));
    let stale = f.txns.init_producer_id("app", 60_000, Some((pid + 9, new)), &f.offsets);
    assert!(matches!(stale, Err(TxnError::Fenced { .. })), "{stale:?}");
    assert_eq!(p0.last_stable_offset(), p0.high_watermark(), "the open transaction aborted");
    assert_eq!(p0.aborted_transactions(0, u64::MAX).len(), 1);
    let fenced = f.txns.add_partitions("app", pid, old, &[("t".into(), 0)]);
    assert!(matches!(fenced, Err(TxnError::Fenced { current: 1, .. })), "{fenced:?}");
    assert_eq!(f.txns.check_produce(pid, old, "t", 0), Err(new));
    // The zombie's batches are refused by the partition too.
    assert!(p0.append_transactional(&txn_batch(pid, old, 1)).is_err());
    let other = f.txns.end("app", pid + 1, new, true, &f.offsets);
    assert!(matches!(other, Err(TxnError::ProducerIdMismatch { .. })));
    assert!(matches!(
        f.txns.init_producer_id("app", 0, None, &f.offsets),
        Err(TxnError::InvalidTimeout(0))
    ));
    assert!(matches!(f.txns.init_producer_id("", 1_000, None, &f.offsets), Err(TxnError::EmptyId)));
    let no_group = f.txns.stage_offsets("app", pid, new, "g", staged(1));
    assert!(matches!(no_group, Err(TxnError::InvalidState { .. })), "{no_group:?}");
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_at_a_new_epoch() {
    let f = open();
    let (pid, epoch) = f.txns.init_producer_id("slow", 1_000, None, &f.offsets).unwrap();
    f.txns.add_partitions("slow", pid, epoch, &[("t".into(), 0)]).unwrap();
    let started = f.txns.describe("slow").unwrap().started_ms;
    assert_eq!(f.txns.abort_expired(started + 1_000, &f.offsets), 0);
    assert_eq!(f.txns.abort_expired(started + 1_001, &f.offsets), 1);
    let meta = f.txns.describe("slow").unwrap();
    assert_eq!((meta.status, meta.epoch), (TxnStatus::CompleteAbort, epoch + 1));
    let late = f.txns.end("slow", pid, epoch, true, &f.offsets);
    assert!(matches!(late, Err(TxnError::Fenced { .. })));
}

#[test]
fn a_decided_end_is_finished_after_a_restart_and_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let f = open_in(dir);
    let (pid, epoch) = f.txns.init_producer_id("app", 60_000, None, &f.offsets).unwrap();
    f.txns.add_partitions("app", pid, epoch, &[("t".into(), 0)]).unwrap();
    f.txns.add_offsets("app", pid, epoch, "g").unwrap();
    f.txns.stage_offsets("app", pid, epoch, "g", staged(7)).unwrap();
    // The decision is written, then the broker dies before any marker.
    let mut meta = f.txns.describe("app").unwrap();
    meta.status = TxnStatus::PrepareCommit;
    f.txns.persist("app", &meta).unwrap();
    let Fixture { storage, _dir, .. } = f;
    drop(storage);

    let f = open_in(_dir);
    assert_eq!(f.storage.dir(), path);
    let meta = f.txns.describe("app").unwrap();
    assert_eq!(
        (meta.status, meta.producer_id, meta.epoch),
        (TxnStatus::CompleteCommit, pid, epoch)
    );
    let p0 = f.storage.partition("t", 0).unwrap();
    assert_eq!((p0.high_watermark(), p0.last_stable_offset()), (1, 1), "the commit marker");
    let tp = TopicPartition { topic: "in".into(), partition: 0 };
    assert_eq!(f.offsets.fetch("g", &tp).unwrap().offset, 7);
    assert_eq!(f.txns.list().iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), ["app"]);
}
