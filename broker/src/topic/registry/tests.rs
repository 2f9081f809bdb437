use std::time::Duration;

use super::*;

fn spec(name: &str, partitions: u32, configs: &[(&str, &str)]) -> TopicSpec {
    let configs = configs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
    TopicSpec { name: name.to_owned(), partitions, configs }
}

fn names(registry: &TopicRegistry) -> Vec<&str> {
    registry.list().map(|t| t.name.as_str()).collect()
}

#[test]
fn missing_dir_and_file_open_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data/nested");
    let registry = TopicRegistry::open(&dir).unwrap();
    assert_eq!(registry.list().count(), 0);
    assert!(dir.is_dir());
    assert!(!dir.join(TOPICS_FILE).exists(), "opening alone writes nothing");
}

#[test]
fn create_list_get_delete_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = TopicRegistry::open(tmp.path()).unwrap();
    let orders = spec("orders", 3, &[("retention.ms", "86400000")]);
    assert_eq!(registry.create(orders.clone()).unwrap(), &orders);
    registry.create(spec("audit", 1, &[])).unwrap();
    registry.create(spec("clicks", 12, &[])).unwrap();
    assert_eq!(names(&registry), ["audit", "clicks", "orders"]);

    let mut registry = TopicRegistry::open(tmp.path()).unwrap();
    assert_eq!(names(&registry), ["audit", "clicks", "orders"]);
    assert_eq!(registry.get("orders"), Some(&orders));
    assert_eq!(registry.get("nope"), None);
    let config = registry.log_config("orders").unwrap();
    assert_eq!(config.retention_age, Some(Duration::from_secs(86400)));

    assert_eq!(registry.delete("clicks").unwrap().partitions, 12);
    let registry = TopicRegistry::open(tmp.path()).unwrap();
    assert_eq!(names(&registry), ["audit", "orders"]);
}

#[test]
fn file_is_versioned_sorted_and_holds_only_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = TopicRegistry::open(tmp.path()).unwrap();
    registry.create(spec("b", 2, &[("segment.bytes", "1048576")])).unwrap();
    registry.create(spec("a", 1, &[])).unwrap();
    let text = fs::read_to_string(tmp.path().join(TOPICS_FILE)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (a, b) = (registry.id("a").unwrap(), registry.id("b").unwrap());
    assert_ne!(a, b);
    let expected = serde_json::json!({"version": 1, "topics": [
        {"name": "a", "partitions": 1, "id": a.to_string()},
        {"name": "b", "partitions": 2, "configs": {"segment.bytes": "1048576"}, "id": b.to_string()},
    ]});
    assert_eq!(json, expected);
    assert!(!tmp.path().join("topics.json.tmp").exists());
}

#[test]
fn topic_ids_are_kept_found_and_given_to_topics_written_without_them() {
    let tmp = tempfile::tempdir().unwrap();
    let old = r#"{"version": 1, "topics": [{"name": "orders", "partitions": 3}]}"#;
    fs::write(tmp.path().join(TOPICS_FILE), old).unwrap();
    let registry = TopicRegistry::open(tmp.path()).unwrap();
    let id = registry.id("orders").expect("an id given on open");
    assert_eq!(registry.by_id(id).map(|s| s.name.as_str()), Some("orders"));
    let mut registry = TopicRegistry::open(tmp.path()).unwrap();
    assert_eq!(registry.id("orders"), Some(id), "written back, so kept");
    // Deleted and created again: another topic, another id.
    registry.delete("orders").unwrap();
    assert_eq!(registry.by_id(id), None);
    registry.create(spec("orders", 1, &[])).unwrap();
    assert_ne!(registry.id("orders"), Some(id));

    let twice = format!(
        r#"{{"version": 1, "topics": [{{"name": "a", "partitions": 1, "id": "{id}"}},
            {{"name": "b", "partitions": 1, "id": "{id}"}}]}}"#
    );
    fs::write(tmp.path().join(TOPICS_FILE), twice).unwrap();
    let e = TopicRegistry::open(tmp.path()).unwrap_err();
    assert!(e.to_string().contains("another topic's too"), "{e}");
    let bad = r#"{"version": 1, "topics": [{"name": "a", "partitions": 1, "id": "nope"}]}"#;
    fs::write(tmp.path().join(TOPICS_FILE), bad).unwrap();
    assert!(TopicRegistry::open(tmp.path()).unwrap_err().to_string().contains("not a UUID"));
}

#[test]
fn duplicate_create_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = TopicRegistry::open(tmp.path()).unwrap();
    registry.create(spec("orders", 3, &[])).unwrap();
    let err = registry.create(spec("orders", 5, &[])).unwrap_err();
    assert!(matches!(&err, TopicError::TopicAlreadyExists(n) if n == "orders"), "{err:?}");
    assert_eq!(registry.get("orders").unwrap().partitions, 3);
}

#[test]
fn invalid_creates_persist_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = TopicRegistry::open(tmp.path()).unwrap();
    let err = registry.create(spec("bad name", 1, &[])).unwrap_err();
    assert!(matches!(err, TopicError::InvalidTopicName(_)), "{err:?}");
    for partitions in [0, MAX_PARTITIONS + 1] {
        let err = registry.create(spec("orders", partitions, &[])).unwrap_err();
        assert!(matches!(err, TopicError::InvalidPartitions(p) if p == partitions), "{err:?}");
    }
    let err = registry.create(spec("orders", 1, &[("retention.ms", "abc")])).unwrap_err();
    assert!(matches!(err, TopicError::InvalidConfig { .. }), "{err:?}");
    let err = registry.create(spec("orders", 1, &[("colour", "red")])).unwrap_err();
    assert!(matches!(err, TopicError::UnknownConfig(_)), "{err:?}");

    assert_eq!(registry.list().count(), 0);
    assert!(!tmp.path().join(TOPICS_FILE).exists());
    assert!(registry.create(spec("orders", MAX_PARTITIONS, &[])).is_ok());
}

#[test]
fn unknown_topic_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = TopicRegistry::open(tmp.path()).unwrap();
    assert!(matches!(registry.delete("x"), Err(TopicError::UnknownTopic(n)) if n == "x"));
    assert!(matches!(registry.log_config("x"), Err(TopicError::UnknownTopic(_))));
    let err = registry.alter_configs("x", BTreeMap::new()).unwrap_err();
    assert!(matches!(err, TopicError::UnknownTopic(_)), "{err:?}");
}

#[test]
fn alter_configs_replaces_overrides_and_persists() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = TopicRegistry::open(tmp.path()).unwrap();
    registry.create(spec("orders", 3, &[("retention.ms", "1000")])).unwrap();
    let configs = spec("", 0, &[("durability", "sync")]).configs;
    registry.alter_configs("orders", configs.clone()).unwrap();

    let mut registry = TopicRegistry::open(tmp.path()).unwrap();
    assert_eq!(registry.get("orders").unwrap().configs, configs);
    let config = registry.log_config("orders").unwrap();
    assert_eq!(config.durability, crate::log::Durability::Sync);
    assert_eq!(config.retention_age, LogConfig::default().retention_age, "back to default");

    let bad = spec("", 0, &[("segment.bytes", "1")]).configs;
    assert!(matches!(registry.alter_configs("orders", bad), Err(TopicError::InvalidConfig { .. })));
    let registry = TopicRegistry::open(tmp.path()).unwrap();
    assert_eq!(registry.get("orders").unwrap().configs, configs);
}

#[test]
fn failed_persist_leaves_memory_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = TopicRegistry::open(tmp.path()).unwrap();
    registry.create(spec("orders", 3, &[])).unwrap();
    // A directory where the temporary file goes makes every write fail.
    fs::create_dir(tmp.path().join("topics.json.tmp")).unwrap();

    let err = registry.create(spec("clicks", 1, &[])).unwrap_err();
    assert!(matches!(&err, TopicError::Io { path, .. } if path.ends_with("topics.json.tmp")));
    assert!(matches!(registry.delete("orders"), Err(TopicError::Io { .. })));
    let configs = spec("", 0, &[("retention.ms", "1")]).configs;
    assert!(matches!(registry.alter_configs("orders", configs), Err(TopicError::Io { .. })));

    assert_eq!(names(&registry), ["orders"]);
    assert!(registry.get("orders").unwrap().configs.is_empty());
}

#[test]
fn corrupt_file_is_reported_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(TOPICS_FILE);
    let cases = [
        ("{\"version\": 1, \"topics\": [", "EOF"),
        ("", "EOF"),
        ("{\"topics\": []}", "missing field `version`"),
        ("{\"version\": 2, \"topics\": []}", "unsupported format version 2"),
        ("{\"version\": 1, \"topics\": [{\"name\": \"a\"}]}", "missing field `partitions`"),
        ("{\"version\":1,\"topics\":[{\"name\":\"a b\",\"partitions\":1}]}", "invalid topic name"),
        ("{\"version\":1,\"topics\":[{\"name\":\"a\",\"partitions\":0}]}", "partition count 0"),
    ];
    for (text, hint) in cases {
        fs::write(&path, text).unwrap();
        let err = TopicRegistry::open(tmp.path()).unwrap_err();
        assert!(matches!(err, TopicError::Corrupt { .. }), "{text}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains("topics.json is corrupt") && msg.contains(hint), "{text}: {msg}");
    }
}

#[test]
fn duplicate_topic_in_file_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let a = r#"{"name": "a", "partitions": 1}"#;
    let text = format!(r#"{{"version": 1, "topics": [{a}, {a}]}}"#);
    fs::write(tmp.path().join(TOPICS_FILE), text).unwrap();
    let msg = TopicRegistry::open(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("\"a\" is listed twice"), "{msg}");
}
