use super::*;
use crate::storage::StorageOptions;

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition { topic: topic.into(), partition }
}

fn at(offset: i64, metadata: &str) -> OffsetAndMetadata {
    OffsetAndMetadata {
        offset,
        leader_epoch: Some(3),
        metadata: metadata.into(),
        commit_timestamp: 1_700_000_000_000,
    }
}

#[test]
fn keys_and_values_round_trip_in_kafkas_layout() {
    let key = encode_key("g", &tp("t", 2)).unwrap();
    assert_eq!(key, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2]);
    assert_eq!(decode_key(&key).unwrap(), ("g".into(), tp("t", 2)));

    for value in [at(42, "ünïcode"), OffsetAndMetadata { leader_epoch: None, ..at(0, "") }] {
        let bytes = encode_value(&value).unwrap();
        assert_eq!(&bytes[..2], &[0, 3], "value version 3");
        assert_eq!(decode_value(&bytes).unwrap(), value);
    }
    let bytes = encode_value(&at(7, "m")).unwrap();
    assert_eq!(bytes.len(), 2 + 8 + 4 + 2 + 1 + 8);
}

#[test]
fn bad_keys_and_values_are_errors_not_panics() {
    let key = encode_key("group", &tp("topic", 0)).unwrap();
    for cut in 0..key.len() {
        assert!(decode_key(&key[..cut]).is_err(), "cut at {cut}");
    }
    let mut long = key.clone();
    long.push(0);
    assert_eq!(decode_key(&long), Err(CodecError::Trailing(1)));
    let group_metadata = [0, 2, 0, 1, b'g'];
    assert_eq!(
        decode_key(&group_metadata),
        Err(CodecError::UnknownVersion { what: "key", version: 2 })
    );
    let value = encode_value(&at(1, "meta")).unwrap();
    for cut in 0..value.len() {
        assert!(decode_value(&value[..cut]).is_err(), "cut at {cut}");
    }
    let mut not_utf8 = key.clone();
    not_utf8[4] = 0xff;
    assert_eq!(decode_key(&not_utf8), Err(CodecError::NotUtf8("group")));
    let huge = "x".repeat(40_000);
    assert_eq!(encode_key(&huge, &tp("t", 0)), Err(CodecError::TooLong("group")));
}

#[test]
fn offsets_survive_a_restart_and_tombstones_delete() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let store = OffsetStore::open(&storage).unwrap();
    let spec = storage.topic(OFFSETS_TOPIC).expect("created on first use");
    assert_eq!(spec.partitions, 1);
    assert_eq!(spec.configs.get("retention.ms").map(String::as_str), Some("-1"));

    store
        .commit("readers", &[(tp("orders", 0), at(5, "a")), (tp("orders", 1), at(9, ""))])
        .unwrap();
    store.commit("readers", &[(tp("orders", 0), at(6, "b"))]).unwrap();
    store.commit("gone", &[(tp("orders", 0), at(1, ""))]).unwrap();
    assert_eq!(store.delete_group("gone", 1).unwrap(), 1);
    assert_eq!(store.delete_group("never", 1).unwrap(), 0);
    assert_eq!(store.fetch("readers", &tp("orders", 0)), Some(at(6, "b")));
    assert!(!store.has_group("gone"));
    drop(store);
    storage.close().unwrap();
    drop(storage);

    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let store = OffsetStore::open(&storage).unwrap();
    assert_eq!(
        store.group_offsets("readers"),
        [(tp("orders", 0), at(6, "b")), (tp("orders", 1), at(9, ""))]
    );
    assert_eq!(store.groups(), ["readers"]);
    assert_eq!(storage.topics().len(), 1, "no second offsets topic");
}

#[test]
fn replay_skips_records_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let store = OffsetStore::open(&storage).unwrap();
    store.commit("g", &[(tp("t", 0), at(1, ""))]).unwrap();
    // A client may produce anything to the topic.
    let mut junk = BatchBuilder::new(0, Compression::None);
    junk.push(1, Some(b"junk"), Some(b"junk"), &[]);
    let key = encode_key("g", &tp("t", 1)).unwrap();
    junk.push(3, Some(&key), Some(b"bad value"), &[]);
    let bytes = junk.build().unwrap().to_vec();
    storage.partition(OFFSETS_TOPIC, 0).unwrap().append(&bytes).unwrap();
    store.commit("g", &[(tp("t", 0), at(2, ""))]).unwrap();

    let reopened = OffsetStore::open(&storage).unwrap();
    assert_eq!(reopened.group_offsets("g"), [(tp("t", 0), at(2, ""))]);
}

#[test]
fn a_compacted_offsets_topic_keeps_every_groups_latest_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let store = OffsetStore::open(&storage).unwrap();
    let spec = storage.topic(OFFSETS_TOPIC).unwrap();
    assert_eq!(spec.configs.get("cleanup.policy").map(String::as_str), Some("compact"));
    // Small segments, cleaned as soon as anything is dirty.
    let small = [("segment.bytes", "2048"), ("min.cleanable.dirty.ratio", "0")];
    storage.ensure_topic_configs(OFFSETS_TOPIC, &small).unwrap();

    let mut rng = fastrand::Rng::with_seed(5);
    let mut model: BTreeMap<String, BTreeMap<TopicPartition, OffsetAndMetadata>> = BTreeMap::new();
    for n in 0..3_000i64 {
        let group = format!("g{}", rng.u8(..6));
        if rng.u16(..200) == 0 {
            store.delete_group(&group, 1).unwrap();
            model.remove(&group);
            continue;
        }
        let offsets: Vec<_> =
            (0..rng.usize(1..4)).map(|_| (tp("t", rng.i32(0..4)), at(n, ""))).collect();
        store.commit(&group, &offsets).unwrap();
        model.entry(group).or_default().extend(offsets);
    }
    let log = storage.partition(OFFSETS_TOPIC, 0).unwrap();
    let (before, segments) = (log.size_bytes(), log.segment_count());
    assert!(storage.clean_compacted() > 0);
    assert!(log.size_bytes() * 10 < before, "{} of {before} bytes left", log.size_bytes());
    assert!(log.segment_count() <= segments);
    assert_eq!(storage.cleaner_totals().passes.load(std::sync::atomic::Ordering::Relaxed), 1);
    drop(store);
    storage.close().unwrap();
    drop(storage);

    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let store = OffsetStore::open(&storage).unwrap();
    let mut groups = store.groups();
    groups.sort();
    assert_eq!(groups, model.keys().cloned().collect::<Vec<_>>());
    for (group, offsets) in &model {
        let expected: Vec<_> = offsets.iter().map(|(tp, o)| (tp.clone(), o.clone())).collect();
        assert_eq!(store.group_offsets(group), expected, "{group}");
    }
}
