use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::net::SocketAddr;
use std::path::Path;
use std::thread;

use bytes::Bytes;

use super::*;
use crate::broker::BrokerOptions;
use crate::log::segment::segment_path;
use crate::storage::{StorageOptions, partition_dir};

fn open(dir: &Path) -> (Arc<Broker>, BrokerStore) {
    let storage = Storage::open(dir, StorageOptions::default()).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], 9092));
    let broker = Broker::new(storage, BrokerOptions::default(), addr).unwrap();
    (Arc::clone(&broker), BrokerStore::new(broker))
}

fn topic(broker: &Broker, name: &str, partitions: u32) {
    let spec = TopicSpec { name: name.into(), partitions, configs: BTreeMap::new() };
    broker.storage.create_topic(spec).unwrap();
}

fn bytes(s: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(s.as_bytes()))
}

fn header(key: &str, value: Option<&str>) -> Header {
    Header { key: key.into(), value: value.and_then(bytes) }
}

/// Appends one batch of values `v{first}..`, keyed `k{i}`, timestamps 1000 + i.
fn append_batch(broker: &Broker, topic: &str, first: usize, count: usize, codec: Compression) {
    let mut builder = BatchBuilder::new(0, codec);
    for i in first..first + count {
        let headers = [record::Header { key: "n".into(), value: bytes(&i.to_string()) }];
        let (key, value) = (format!("k{i}"), format!("v{i}"));
        builder.push(1000 + i as i64, Some(key.as_bytes()), Some(value.as_bytes()), &headers);
    }
    let log = broker.storage.partition(topic, 0).unwrap();
    log.append(&builder.build().unwrap()).unwrap();
}

fn offsets(records: &[InputRecord]) -> Vec<u64> {
    records.iter().map(|r| r.offset).collect()
}

#[test]
fn reads_decode_batches_from_mid_batch_offsets_with_headers() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, store) = open(dir.path());
    topic(&broker, "orders", 1);
    append_batch(&broker, "orders", 0, 4, Compression::None);
    append_batch(&broker, "orders", 4, 4, Compression::Zstd);
    append_batch(&broker, "orders", 8, 2, Compression::Lz4);

    let all = store.read("orders", 0, 0, 100, 1 << 20).unwrap();
    assert_eq!(offsets(&all), (0..10).collect::<Vec<_>>());
    let sixth = &all[5];
    assert_eq!((sixth.key.clone(), sixth.value.clone()), (bytes("k5"), bytes("v5")));
    assert_eq!(sixth.timestamp, 1005);
    assert_eq!(sixth.headers, [header("n", Some("5"))]);

    // Mid-batch: the records before the offset are skipped, in a compressed batch too.
    assert_eq!(
        offsets(&store.read("orders", 0, 2, 100, 1 << 20).unwrap()),
        [2, 3, 4, 5, 6, 7, 8, 9]
    );
    assert_eq!(offsets(&store.read("orders", 0, 6, 3, 1 << 20).unwrap()), [6, 7, 8]);
    // max_bytes: always one record, then as many as fit (each is 4 + 2 bytes).
    assert_eq!(offsets(&store.read("orders", 0, 1, 100, 1).unwrap()), [1]);
    assert_eq!(offsets(&store.read("orders", 0, 1, 100, 12).unwrap()), [1, 2]);
    assert_eq!(offsets(&store.read("orders", 0, 9, 0, 0).unwrap()), [9]);
    // At the end: nothing; past it or of nowhere: errors.
    assert!(store.read("orders", 0, 10, 100, 1 << 20).unwrap().is_empty());
    assert!(matches!(
        store.read("orders", 0, 11, 100, 1 << 20),
        Err(StoreError::OffsetOutOfRange { offset: 11, high_watermark: 10, .. })
    ));
    assert!(matches!(store.read("nope", 0, 0, 1, 1), Err(StoreError::UnknownTopic(_))));
    assert!(matches!(
        store.read("orders", 1, 0, 1, 1),
        Err(StoreError::UnknownPartition { partition: 1, .. })
    ));

    assert_eq!(store.partitions("orders").unwrap(), 1);
    assert_eq!(store.bounds("orders", 0).unwrap(), Bounds { log_start: 0, high_watermark: 10 });
    assert_eq!(store.offset_for_timestamp("orders", 0, 1006).unwrap(), Some(6));
    assert_eq!(store.offset_for_timestamp("orders", 0, 5000).unwrap(), None);
}

#[test]
fn appends_read_back_and_wake_waiters() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, store) = open(dir.path());
    let store = Arc::new(store);
    topic(&broker, "out", 1);
    assert!(!store.wait("out", 0, 0, Duration::from_millis(20)));

    let waiter = {
        let store = Arc::clone(&store);
        thread::spawn(move || store.wait("out", 0, 1, Duration::from_secs(30)))
    };
    let record = |key: &str, value: Option<&str>, headers| OutputRecord {
        key: bytes(key),
        value: value.and_then(bytes),
        headers,
        timestamp: 77,
    };
    let records = vec![
        record("a", Some("1"), vec![header("h", Some("x")), header("h", None)]),
        record("b", None, vec![]),
    ];
    store.append("out", 0, records).unwrap();
    store.append("out", 0, vec![]).unwrap();
    assert!(waiter.join().unwrap(), "the waiter saw the append");
    assert!(store.wait("out", 0, 1, Duration::ZERO));

    let read = store.read("out", 0, 0, 10, 1 << 20).unwrap();
    assert_eq!(offsets(&read), [0, 1]);
    assert_eq!(read[0].headers, [header("h", Some("x")), header("h", None)]);
    assert_eq!(
        (read[1].key.clone(), read[1].value.clone(), read[1].timestamp),
        (bytes("b"), None, 77)
    );

    let refused = store.append("__consumer_offsets", 0, vec![record("k", Some("v"), vec![])]);
    assert!(matches!(refused, Err(StoreError::Refused(m)) if m.contains("internal")));
    assert!(matches!(
        store.append("none", 0, vec![record("k", None, vec![])]),
        Err(StoreError::UnknownTopic(_))
    ));
}

fn commit(next_offset: u64, changes: &[(&str, Option<&str>)]) -> Commit {
    let state = changes
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
        .collect();
    Commit { next_offsets: vec![next_offset], state }
}

fn state(pairs: &[(&str, &str)]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

#[test]
fn commits_replay_into_checkpoints_and_show_in_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, store) = open(dir.path());
    topic(&broker, "orders", 2);
    create_state_topic(&broker.storage, "inventory", 2).unwrap();
    store.register("inventory", &["orders".to_string()]);
    let want = Checkpoint { next_offsets: vec![None], state: BTreeMap::new() };
    assert_eq!(store.load_checkpoint("inventory", 1).unwrap(), want, "nothing committed");

    store.commit("inventory", 1, &commit(3, &[("apple", Some("7")), ("pear", Some("2"))])).unwrap();
    store.commit("inventory", 1, &commit(5, &[])).unwrap();
    store.commit("inventory", 1, &commit(9, &[("apple", Some("6")), ("pear", None)])).unwrap();
    store.commit("inventory", 0, &commit(1, &[("fig", Some("1"))])).unwrap();

    let want = Checkpoint { next_offsets: vec![Some(9)], state: state(&[("apple", "6")]) };
    assert_eq!(store.load_checkpoint("inventory", 1).unwrap(), want);
    let want = Checkpoint { next_offsets: vec![Some(1)], state: state(&[("fig", "1")]) };
    assert_eq!(store.load_checkpoint("inventory", 0).unwrap(), want);

    let tp = TopicPartition { topic: "orders".into(), partition: 1 };
    assert_eq!(broker.groups.offsets().fetch("inventory", &tp).unwrap().offset, 9);
    assert!(matches!(
        store.load_checkpoint("inventory", 2),
        Err(StoreError::UnknownPartition { partition: 2, .. })
    ));
    assert!(matches!(store.load_checkpoint("other", 0), Err(StoreError::UnknownTopic(_))));

    // Restarted (cleanly), the same checkpoint comes back.
    broker.storage.close().unwrap();
    drop((broker, store));
    let (broker, store) = open(dir.path());
    assert_eq!(store.load_checkpoint("inventory", 1).unwrap().next_offsets, [Some(9)]);
    let tp = TopicPartition { topic: "orders".into(), partition: 1 };
    assert_eq!(broker.groups.offsets().fetch("inventory", &tp).unwrap().offset, 9);
}

#[test]
fn a_torn_last_commit_is_dropped_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, store) = open(dir.path());
    create_state_topic(&broker.storage, "p", 1).unwrap();
    store.commit("p", 0, &commit(10, &[("a", Some("1")), ("b", Some("1"))])).unwrap();
    store.commit("p", 0, &commit(20, &[("a", Some("2")), ("b", None), ("c", Some("2"))])).unwrap();
    // A crash: no clean close, then the last batch's tail never reached the disk.
    drop((broker, store));
    let log = segment_path(&partition_dir(dir.path(), &state_topic("p"), 0), 0, "log");
    let len = fs::metadata(&log).unwrap().len();
    OpenOptions::new().write(true).open(&log).unwrap().set_len(len - 3).unwrap();

    let (_broker, store) = open(dir.path());
    let want = Checkpoint { next_offsets: vec![Some(10)], state: state(&[("a", "1"), ("b", "1")]) };
    assert_eq!(store.load_checkpoint("p", 0).unwrap(), want);
    // Commits go on from there.
    store.commit("p", 0, &commit(12, &[("b", None)])).unwrap();
    let want = Checkpoint { next_offsets: vec![Some(12)], state: state(&[("a", "1")]) };
    assert_eq!(store.load_checkpoint("p", 0).unwrap(), want);
}

#[test]
fn a_compacted_changelog_replays_to_the_same_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, store) = open(dir.path());
    let spec = create_state_topic(&broker.storage, "p", 1).unwrap();
    assert_eq!(spec.configs.get("cleanup.policy").map(String::as_str), Some("compact"));
    let small = [("segment.bytes", "4096"), ("min.cleanable.dirty.ratio", "0")];
    broker.storage.ensure_topic_configs(&state_topic("p"), &small).unwrap();
    let mut rng = fastrand::Rng::with_seed(8);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for n in 1..=2_000u64 {
        let changes: Vec<(String, Option<String>)> = (0..rng.usize(0..5))
            .map(|_| (format!("k{}", rng.u8(..50)), (rng.u8(..6) != 0).then(|| n.to_string())))
            .collect();
        for (k, v) in &changes {
            match v {
                Some(v) => drop(model.insert(k.clone().into_bytes(), v.clone().into_bytes())),
                None => drop(model.remove(k.as_bytes())),
            }
        }
        let changes: Vec<_> = changes.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
        store.commit("p", 0, &commit(n * 10, &changes)).unwrap();
    }
    let want = Checkpoint { next_offsets: vec![Some(20_000)], state: model };
    assert_eq!(store.load_checkpoint("p", 0).unwrap(), want);
    let log = broker.storage.partition(&state_topic("p"), 0).unwrap();
    let before = log.size_bytes();
    assert!(broker.storage.clean_compacted() > 0);
    assert!(log.size_bytes() * 5 < before, "{} of {before} bytes left", log.size_bytes());
    // The offset record survives only in the newest commit, each key only once.
    assert_eq!(store.load_checkpoint("p", 0).unwrap(), want);
    broker.storage.close().unwrap();
    drop((broker, store));
    let (_broker, store) = open(dir.path());
    assert_eq!(store.load_checkpoint("p", 0).unwrap(), want);
}

#[test]
fn with_no_commit_the_groups_offset_is_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, store) = open(dir.path());
    topic(&broker, "orders", 1);
    create_state_topic(&broker.storage, "fraud", 1).unwrap();
    let tp = TopicPartition { topic: "orders".into(), partition: 0 };
    let offset = OffsetAndMetadata {
        offset: 42,
        leader_epoch: None,
        metadata: String::new(),
        commit_timestamp: 0,
    };
    broker.groups.offsets().commit("fraud", &[(tp, offset)]).unwrap();

    // Unregistered, the store does not know which topic the group's offsets are of.
    assert_eq!(store.load_checkpoint("fraud", 0).unwrap().next_offsets, []);
    store.register("fraud", &["orders".to_string()]);
    assert_eq!(store.load_checkpoint("fraud", 0).unwrap().next_offsets, [Some(42)]);
    // Once the processor has committed, its changelog wins.
    store.commit("fraud", 0, &commit(50, &[])).unwrap();
    assert_eq!(store.load_checkpoint("fraud", 0).unwrap().next_offsets, [Some(50)]);
    store.unregister("fraud");
    assert_eq!(store.load_checkpoint("fraud", 0).unwrap().next_offsets, [Some(50)]);
}

#[test]
fn appends_split_at_the_topics_batch_limit_and_refuse_a_record_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, store) = open(dir.path());
    let configs = BTreeMap::from([("max.message.bytes".to_string(), "2000".to_string())]);
    let spec = TopicSpec { name: "small".into(), partitions: 1, configs };
    broker.storage.create_topic(spec).unwrap();
    assert_eq!(store.max_batch_bytes("small").unwrap(), Some(2000));
    let record = |key: &str, value: Option<&str>, headers: Vec<Header>| OutputRecord {
        key: bytes(key),
        value: value.and_then(bytes),
        headers,
        timestamp: 77,
    };

    // Ten records of 500 bytes: 5 KB, more than two batches' worth.
    let value = "x".repeat(500);
    let records: Vec<_> = (0..10).map(|i| record(&format!("k{i}"), Some(&value), vec![])).collect();
    store.append("small", 0, records).unwrap();
    let log = broker.storage.partition("small", 0).unwrap();
    assert_eq!(log.high_watermark(), 10);
    let read = store.read("small", 0, 0, 100, 1 << 20).unwrap();
    let keys: Vec<_> = read.iter().map(|r| r.key.clone().unwrap()).collect();
    let want: Vec<_> = (0..10).map(|i| Bytes::from(format!("k{i}"))).collect();
    assert_eq!(keys, want, "in order");
    let (mut batches, mut at) = (0, 0);
    while at < 10 {
        let slice = log.read(at, 1).unwrap().slice.unwrap();
        assert!(slice.len <= 2000, "a batch of {} bytes", slice.len);
        let bytes = slice.read().unwrap();
        at = crate::log::batch::BatchHeader::parse(&bytes).unwrap().last_offset() as u64 + 1;
        batches += 1;
    }
    assert!(batches >= 3, "{batches} batches");

    // One record over the limit: refused for good, and nothing of the call written.
    let big = "y".repeat(2500);
    let records = vec![record("a", Some("fits"), vec![]), record("b", Some(&big), vec![])];
    let refused = store.append("small", 0, records).unwrap_err();
    assert!(refused.is_permanent(), "{refused}");
    assert!(refused.to_string().contains("max.message.bytes"), "{refused}");
    assert_eq!(log.high_watermark(), 10);
}

/// Flips a byte near the end of batch `index` (from 0) of segment 0, under the
/// open partition.
fn damage_batch(dir: &Path, topic: &str, index: usize) {
    let log = segment_path(&partition_dir(dir, topic, 0), 0, "log");
    let bytes = fs::read(&log).unwrap();
    let mut end = 0;
    for _ in 0..=index {
        end += crate::log::batch::BatchHeader::parse(&bytes[end..]).unwrap().total_len();
    }
    let file = OpenOptions::new().write(true).open(&log).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[bytes[end - 2] ^ 0x10], end as u64 - 2)
        .unwrap();
}

#[test]
fn a_damaged_batch_ends_reads_and_replays_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, store) = open(dir.path());
    topic(&broker, "orders", 1);
    for first in [0, 2, 4] {
        append_batch(&broker, "orders", first, 2, Compression::None);
    }
    damage_batch(dir.path(), "orders", 1);
    assert_eq!(offsets(&store.read("orders", 0, 0, 100, 1 << 20).unwrap()), [0, 1]);
    // At the damage a read is an error, so the worker retries rather than idles.
    let e = store.read("orders", 0, 2, 100, 1 << 20).unwrap_err();
    assert!(
        matches!(&e, StoreError::Unavailable(m) if m.contains("damaged batch at offset 2")),
        "{e}"
    );
    assert_eq!(offsets(&store.read("orders", 0, 4, 100, 1 << 20).unwrap()), [4, 5]);

    create_state_topic(&broker.storage, "p", 1).unwrap();
    for next in [10u64, 20, 30] {
        let value = next.to_string();
        store.commit("p", 0, &commit(next, &[("a", Some(value.as_str()))])).unwrap();
    }
    damage_batch(dir.path(), &state_topic("p"), 1);
    let want = Checkpoint { next_offsets: vec![Some(10)], state: state(&[("a", "10")]) };
    assert_eq!(store.load_checkpoint("p", 0).unwrap(), want, "the last commit before it");
}
