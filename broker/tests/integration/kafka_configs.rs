//! Configs over the wire against a real broker on 127.0.0.1:0: topics' and the
//! broker's configs described (types, sources, synonyms, documentation) and
//! altered (incrementally or replaced; the broker's at run time, kept across a
//! restart), bad values and read-only configs refused, and what topic configs
//! do to the batches stored: `compression.type`, `message.timestamp.type`,
//! `min.insync.replicas`.

use crate::support;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::requests::{batch, create_topic, fetch_request, produce_request};
use support::{RawClient, TestBroker};
use weir_broker::broker::BrokerOptions;
use weir_broker::log::batch::{self as batch_header};
use weir_broker::log::record::decode_batches;
use weir_broker::node::NodeConfig;
use weir_broker::storage::{BROKER_CONFIGS_FILE, StorageOptions};
use weir_broker::topic::TopicSpec;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

/// IncrementalAlterConfigs of one resource: (code, message).
async fn incremental(
    c: &mut RawClient,
    resource_type: i8,
    name: &str,
    entries: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    let configs = entries
        .iter()
        .map(|(k, op, v)| {
            AlterableConfig::default()
                .with_name(s(k))
                .with_config_operation(*op)
                .with_value(v.map(s))
        })
        .collect();
    let resource = AlterConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_configs(configs);
    let request = IncrementalAlterConfigsRequest::default()
        .with_resources(vec![resource])
        .with_validate_only(validate_only);
    let r: IncrementalAlterConfigsResponse =
        c.call(ApiKey::IncrementalAlterConfigs, 1, &request).await;
    let answer = &r.responses[0];
    (answer.error_code, answer.error_message.as_ref().map(|m| m.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_configs_are_altered_incrementally_or_replaced_and_bad_values_refused() {
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let configs = [("retention.ms".to_string(), "1000".to_string())].into();
    let spec = TopicSpec { name: "t".into(), partitions: 1, configs };
    broker.storage.create_topic(spec).unwrap();
    let overrides = |broker: &TestBroker| {
        let configs = broker.storage.topic("t").unwrap().configs;
        configs.into_iter().collect::<Vec<(String, String)>>()
    };
    let mut c = RawClient::connect(broker.addr).await;
    let invalid_config = ResponseError::InvalidConfig.code();

    let set_and_delete = [("retention.bytes", 0, Some("1048576")), ("retention.ms", 1, None)];
    assert_eq!(incremental(&mut c, TOPIC, "t", &set_and_delete, false).await, (0, None));
    assert_eq!(overrides(&broker), [("retention.bytes".into(), "1048576".into())]);
    // The partition runs with it at once.
    let log = broker.storage.partition("t", 0).unwrap();
    assert_eq!(log.config().retention_bytes, Some(1_048_576));

    let (code, message) =
        incremental(&mut c, TOPIC, "t", &[("retention.ms", 0, Some("soon"))], false).await;
    assert_eq!(code, invalid_config);
    assert!(message.unwrap().contains("retention.ms"));
    let (code, message) =
        incremental(&mut c, TOPIC, "t", &[("cleanup.policy", 2, Some("shred"))], false).await;
    assert_eq!(code, invalid_config);
    assert!(message.unwrap().contains("expected delete, compact or compact,delete"));
    let append = [("cleanup.policy", 2, Some("compact"))];
    assert_eq!(incremental(&mut c, TOPIC, "t", &append, false).await, (0, None));
    let cleanup = log.config().cleanup;
    assert!(cleanup.compact && cleanup.delete, "{cleanup:?}");
    let delete = [("cleanup.policy", 1, None)];
    assert_eq!(incremental(&mut c, TOPIC, "t", &delete, false).await, (0, None));
    assert!(!log.config().cleanup.compact);
    let (code, message) =
        incremental(&mut c, TOPIC, "t", &[("retention.ms", 2, Some("5"))], false).await;
    assert_eq!(code, invalid_config);
    assert!(message.unwrap().contains("list configs"));
    let (code, _) =
        incremental(&mut c, TOPIC, "none", &[("retention.ms", 0, Some("1"))], false).await;
    assert_eq!(code, ResponseError::UnknownTopicOrPartition.code());
    let (code, _) =
        incremental(&mut c, TOPIC, "__consumer_offsets", &[("retention.ms", 0, Some("1"))], false)
            .await;
    assert_eq!(code, ResponseError::InvalidTopicException.code());
    // Validate only: checked, not made.
    let segment = [("segment.bytes", 0, Some("1048576"))];
    assert_eq!(incremental(&mut c, TOPIC, "t", &segment, true).await, (0, None));
    assert_eq!(overrides(&broker), [("retention.bytes".into(), "1048576".into())]);
    let read_only = [("num.partitions", 0, Some("3"))];
    let (code, message) = incremental(&mut c, BROKER, "0", &read_only, false).await;
    assert_eq!(code, invalid_config);
    assert!(message.unwrap().contains("--default-partitions"));
    let (code, _) = incremental(&mut c, 99, "x", &segment, false).await;
    assert_eq!(code, ResponseError::InvalidRequest.code());
    assert_eq!(
        overrides(&broker),
        [("retention.bytes".into(), "1048576".into())],
        "nothing else changed"
    );

    // AlterConfigs replaces the whole set: retention.bytes goes back to its default.
    let resource = AlterConfigsResource::default()
        .with_resource_type(TOPIC)
        .with_resource_name(s("t"))
        .with_configs(vec![
            AlterableConfig::default().with_name(s("segment.bytes")).with_value(Some(s("2097152"))),
        ]);
    let request = AlterConfigsRequest::default().with_resources(vec![resource]);
    let r: AlterConfigsResponse = c.call(ApiKey::AlterConfigs, 1, &request).await;
    assert_eq!(r.responses[0].error_code, 0, "{:?}", r.responses[0].error_message);
    assert_eq!(overrides(&broker), [("segment.bytes".into(), "2097152".into())]);

    // Stored: a restart keeps the new configs.
    broker.stop().await;
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    assert_eq!(overrides(&broker), [("segment.bytes".into(), "2097152".into())]);
    broker.stop().await;
}

/// DescribeConfigs v4 of one resource, with synonyms and documentation.
async fn describe(c: &mut RawClient, resource_type: i8, name: &str) -> DescribeConfigsResult {
    let resource = DescribeConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_configuration_keys(None);
    let request = DescribeConfigsRequest::default()
        .with_resources(vec![resource])
        .with_include_synonyms(true)
        .with_include_documentation(true);
    let r: DescribeConfigsResponse = c.call(ApiKey::DescribeConfigs, 4, &request).await;
    r.results.into_iter().next().unwrap()
}

/// One config of a described resource: (value, source, type, read-only,
/// synonyms as (name, value, source)).
#[allow(clippy::type_complexity)]
fn config(
    result: &DescribeConfigsResult,
    name: &str,
) -> (String, i8, i8, bool, Vec<(String, String, i8)>) {
    let c = result.configs.iter().find(|c| &*c.name == name).unwrap_or_else(|| {
        panic!(
            "{name} is not described: {:?}",
            result.configs.iter().map(|c| &c.name).collect::<Vec<_>>()
        )
    });
    assert!(c.documentation.as_ref().is_some_and(|d| !d.is_empty()), "{name} has documentation");
    let synonyms = c
        .synonyms
        .iter()
        .map(|s| (s.name.to_string(), s.value.as_deref().unwrap_or("").to_string(), s.source))
        .collect();
    (
        c.value.as_deref().unwrap_or("").to_string(),
        c.config_source,
        c.config_type,
        c.read_only,
        synonyms,
    )
}

fn syn(name: &str, value: &str, source: i8) -> (String, String, i8) {
    (name.to_string(), value.to_string(), source)
}

#[tokio::test]
async fn configs_are_described_with_types_sources_synonyms_and_documentation() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = StorageOptions::default();
    storage.defaults.insert("max.message.bytes".into(), "2000000".into());
    let node = NodeConfig { storage, processors: false, ..NodeConfig::local(dir.path()) };
    let broker = TestBroker::start_node(node).await;
    let configs = [("retention.ms".to_string(), "1000".to_string())].into();
    broker.storage.create_topic(TopicSpec { name: "t".into(), partitions: 1, configs }).unwrap();
    let mut c = RawClient::connect(broker.addr).await;

    let topic = describe(&mut c, TOPIC, "t").await;
    assert_eq!(topic.error_code, 0);
    // Sources: 1 topic, 4 static broker config, 5 default. Types: 5 LONG, 3 INT, 7 LIST.
    let retention = config(&topic, "retention.ms");
    assert_eq!(
        retention,
        (
            "1000".into(),
            1,
            5,
            false,
            vec![syn("retention.ms", "1000", 1), syn("log.retention.ms", "604800000", 5)]
        )
    );
    let max = config(&topic, "max.message.bytes");
    assert_eq!((max.0.as_str(), max.1, max.2), ("2000000", 4, 3));
    assert_eq!(
        max.4,
        [syn("message.max.bytes", "2000000", 4), syn("message.max.bytes", "1048588", 5)]
    );
    assert_eq!(config(&topic, "cleanup.policy").2, 7);
    assert_eq!(config(&topic, "compression.type").0, "producer");

    // The broker: its dynamic configs under their broker-level names, and its
    // settings, read-only.
    let node = describe(&mut c, BROKER, "0").await;
    assert_eq!(node.error_code, 0);
    let (value, source, kind, read_only, _) = config(&node, "message.max.bytes");
    assert_eq!((value.as_str(), source, kind, read_only), ("2000000", 4, 3, false));
    let (value, _, kind, read_only, _) = config(&node, "broker.id");
    assert_eq!((value.as_str(), kind, read_only), ("0", 3, true));
    assert!(config(&node, "log.dirs").3);
    assert_eq!(config(&node, "auto.create.topics.enable").2, 1, "BOOLEAN");
    // The cluster-wide resource holds only what was set cluster-wide: nothing yet.
    let cluster = describe(&mut c, BROKER, "").await;
    assert_eq!((cluster.error_code, cluster.configs.len()), (0, 0));

    let unknown = describe(&mut c, TOPIC, "none").await;
    assert_eq!(unknown.error_code, ResponseError::UnknownTopicOrPartition.code());
    let other = describe(&mut c, BROKER, "7").await;
    assert_eq!(other.error_code, ResponseError::InvalidRequest.code());
    assert!(other.error_message.unwrap().contains("only node is 0"));
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_configs_change_at_run_time_reach_topics_and_survive_a_restart() {
    use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    for (name, configs) in [("plain", vec![]), ("own", vec![("retention.ms", "42")])] {
        let configs = configs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        broker
            .storage
            .create_topic(TopicSpec { name: name.into(), partitions: 1, configs })
            .unwrap();
    }
    let retention = |broker: &TestBroker, topic: &str| {
        broker.storage.partition(topic, 0).unwrap().config().retention_age.map(|d| d.as_millis())
    };
    let mut c = RawClient::connect(broker.addr).await;
    let invalid_config = ResponseError::InvalidConfig.code();

    let cluster =
        [("log.retention.ms", 0, Some("5000")), ("log.segment.bytes", 0, Some("1048576"))];
    assert_eq!(incremental(&mut c, BROKER, "", &cluster, false).await, (0, None));
    assert_eq!(retention(&broker, "plain"), Some(5000), "applied at once");
    assert_eq!(retention(&broker, "own"), Some(42), "a topic's override still wins");
    let node = [("log.retention.ms", 0, Some("6000"))];
    assert_eq!(incremental(&mut c, BROKER, "0", &node, false).await, (0, None));
    assert_eq!(retention(&broker, "plain"), Some(6000), "the node's setting over the cluster's");
    // Sources: 2 this node's dynamic config, 3 the cluster-wide one.
    let (value, source, _, _, synonyms) =
        config(&describe(&mut c, TOPIC, "plain").await, "retention.ms");
    assert_eq!((value.as_str(), source), ("6000", 2));
    assert_eq!(
        synonyms,
        [
            syn("log.retention.ms", "6000", 2),
            syn("log.retention.ms", "5000", 3),
            syn("log.retention.ms", "604800000", 5)
        ]
    );
    let listed = describe(&mut c, BROKER, "").await;
    let names: Vec<&str> = listed.configs.iter().map(|c| &*c.name).collect();
    assert_eq!(names, ["log.retention.ms", "log.segment.bytes"]);

    // Refusals change nothing.
    let refused = [
        ("log.retention.ms", Some("soon"), "retention.ms"),
        ("num.partitions", Some("3"), "read-only"),
        ("sasl.kerberos.min.time.before.relogin", Some("58000"), "not a broker config"),
    ];
    for (name, value, hint) in refused {
        let (code, message) = incremental(&mut c, BROKER, "0", &[(name, 0, value)], false).await;
        assert_eq!(code, invalid_config, "{name}");
        assert!(message.as_deref().unwrap_or("").contains(hint), "{name}: {message:?}");
    }
    let (code, _) = incremental(&mut c, BROKER, "3", &node, false).await;
    assert_eq!(code, ResponseError::InvalidRequest.code());
    let checked = [("log.retention.ms", 0, Some("1"))];
    assert_eq!(incremental(&mut c, BROKER, "0", &checked, true).await, (0, None));
    assert_eq!(retention(&broker, "plain"), Some(6000), "validate-only changes nothing");

    // AlterConfigs replaces the node's set: with none left, the cluster's is in force.
    let resource =
        AlterConfigsResource::default().with_resource_type(BROKER).with_resource_name(s("0"));
    let request = AlterConfigsRequest::default().with_resources(vec![resource]);
    let r: AlterConfigsResponse = c.call(ApiKey::AlterConfigs, 1, &request).await;
    assert_eq!(r.responses[0].error_code, 0, "{:?}", r.responses[0].error_message);
    assert_eq!(retention(&broker, "plain"), Some(5000));

    broker.stop().await;
    assert!(dir.path().join(BROKER_CONFIGS_FILE).is_file());
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    assert_eq!(retention(&broker, "plain"), Some(5000), "kept across a restart");
    let segment = broker.storage.partition("plain", 0).unwrap().config().segment_bytes;
    assert_eq!(segment, 1_048_576);
    broker.stop().await;
}

/// Produces `records` with `acks`: the partition's answer.
async fn produce_with(
    c: &mut RawClient,
    topic: &str,
    records: bytes::Bytes,
    acks: i16,
) -> produce_response::PartitionProduceResponse {
    let r: ProduceResponse =
        c.call(ApiKey::Produce, 9, &produce_request(topic, 0, records, acks)).await;
    r.responses[0].partition_responses[0].clone()
}

/// The raw batches of partition 0 from offset 0.
async fn fetched(c: &mut RawClient, topic: &str) -> bytes::Bytes {
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &fetch_request(topic, 0, 0, 0, 1)).await;
    r.responses[0].partitions[0].records.clone().unwrap_or_default()
}

#[tokio::test]
async fn topics_store_batches_with_their_codec_and_timestamp_type() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(create_topic(&mut c, "lz4", 1, &[("compression.type", "lz4")]).await, 0);
    let values = ["one", "two", "three"];
    let sent = produce_with(&mut c, "lz4", batch(&values, 1_000), 1).await;
    assert_eq!((sent.error_code, sent.base_offset, sent.log_append_time_ms), (0, 0, -1));
    let stored = fetched(&mut c, "lz4").await;
    let header = batch_header::validate(&stored).unwrap();
    assert_eq!(header.compression(), 3, "recompressed as lz4");
    let records = decode_batches(&stored).unwrap();
    let got: Vec<&[u8]> = records.iter().map(|r| r.value.as_deref().unwrap()).collect();
    assert_eq!(got, values.map(str::as_bytes));
    assert_eq!(records[2].timestamp, 1_002, "CreateTime: the producer's timestamps");

    assert_eq!(
        create_topic(&mut c, "stamped", 1, &[("message.timestamp.type", "LogAppendTime")]).await,
        0
    );
    let before =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as i64;
    let sent = produce_with(&mut c, "stamped", batch(&values, 1_000), 1).await;
    assert_eq!(sent.error_code, 0);
    let stamp = sent.log_append_time_ms;
    assert!(stamp >= before, "the broker's clock: {stamp} < {before}");
    let stored = fetched(&mut c, "stamped").await;
    let header = batch_header::validate(&stored).unwrap();
    assert!(header.is_log_append_time());
    assert_eq!(header.max_timestamp(), stamp);
    assert!(decode_batches(&stored).unwrap().iter().all(|r| r.timestamp == stamp));

    // A codec Kafka does not have is refused with what it accepts.
    let code = create_topic(&mut c, "bad", 1, &[("compression.type", "brotli")]).await;
    assert_eq!(code, ResponseError::InvalidConfig.code());
    broker.stop().await;
}

#[tokio::test]
async fn acks_all_needs_min_insync_replicas_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(create_topic(&mut c, "safe", 1, &[("min.insync.replicas", "2")]).await, 0);
    let refused = produce_with(&mut c, "safe", batch(&["x"], 1), -1).await;
    assert_eq!(refused.error_code, ResponseError::NotEnoughReplicas.code());
    assert!(refused.error_message.unwrap().contains("min.insync.replicas=2"));
    let taken = produce_with(&mut c, "safe", batch(&["x"], 1), 1).await;
    assert_eq!((taken.error_code, taken.base_offset), (0, 0), "acks=1 needs the leader only");
    broker.stop().await;
}
