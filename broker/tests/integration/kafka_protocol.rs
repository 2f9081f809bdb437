//! The Kafka protocol against a real broker on 127.0.0.1:0: what each API answers,
//! and what bad input gets (an error code, or a closed connection when the frame
//! cannot be parsed) while the broker keeps serving everyone else.

use crate::support;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use support::requests::{batch, create_topic, fetch_request, name, produce, produce_request};
use support::{RawClient, TestBroker};
use weir_broker::broker::BrokerOptions;
use weir_broker::kafka::server::ListenerOptions;
use weir_broker::log::record::{BatchBuilder, Compression, decode_batches};
use weir_broker::node::{Node, NodeConfig};

#[tokio::test]
async fn api_versions_advertises_kafka_like_ranges_and_answers_unserved_versions_in_v0() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    let r: ApiVersionsResponse =
        c.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).await;
    assert_eq!(r.error_code, 0);
    let range = |key: ApiKey| {
        r.api_keys.iter().find(|k| k.api_key == key as i16).map(|k| (k.min_version, k.max_version))
    };
    assert_eq!(range(ApiKey::Produce), Some((3, 9)));
    assert_eq!(range(ApiKey::Fetch), Some((4, 16)));
    assert_eq!(range(ApiKey::ApiVersions), Some((0, 3)));
    assert!(
        r.supported_features.is_empty() && r.finalized_features_epoch == -1,
        "no tagged fields for librdkafka 2.0"
    );

    // v4 (kafka-python 3 starts there): a v0 answer with UNSUPPORTED_VERSION.
    c.send(ApiKey::ApiVersions, 4, &ApiVersionsRequest::default()).await;
    let mut frame = c.read_frame().await.unwrap();
    let header = ResponseHeader::decode(&mut frame, 0).unwrap();
    assert_eq!(header.correlation_id, 2);
    let v0 = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(v0.error_code, 35);
    assert_eq!(v0.api_keys.len(), r.api_keys.len());
    broker.stop().await;
}

#[tokio::test]
async fn produce_fetch_and_list_offsets_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(create_topic(&mut c, "orders", 2, &[]).await, 0);
    assert_eq!(produce(&mut c, "orders", 1, batch(&["a", "b", "c"], 1_000)).await, (0, 0));
    assert_eq!(produce(&mut c, "orders", 1, batch(&["d", "e"], 2_000)).await, (0, 3));

    // From offset 1, in the middle of the first batch: whole batches come back,
    // sent from the segment file.
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch_request("orders", 1, 1, 0, 0)).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark, p.log_start_offset), (0, 5, 0));
    let records = decode_batches(p.records.as_ref().unwrap()).unwrap();
    let values: Vec<_> = records.iter().map(|r| (r.offset, r.value.clone().unwrap())).collect();
    assert_eq!(
        values,
        vec![(0, "a".into()), (1, "b".into()), (2, "c".into()), (3, "d".into()), (4, "e".into())]
    );

    // Past the end: OFFSET_OUT_OF_RANGE; the other partition is empty.
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch_request("orders", 1, 9, 0, 0)).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 1);
    let r: FetchResponse = c.call(ApiKey::Fetch, 4, &fetch_request("orders", 0, 0, 0, 0)).await;
    assert_eq!(r.responses[0].partitions[0].records.as_deref(), Some(&[][..]));

    let list = |timestamp: i64| {
        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            ListOffsetsTopic::default().with_name(name("orders")).with_partitions(vec![
                ListOffsetsPartition::default().with_partition_index(1).with_timestamp(timestamp),
            ]),
        ])
    };
    for (ts, offset) in [(-1, 5), (-2, 0), (1_001, 1), (2_000, 3), (9_999, -1)] {
        let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 5, &list(ts)).await;
        assert_eq!(r.topics[0].partitions[0].offset, offset, "timestamp {ts}");
    }
    broker.stop().await;
}

/// One batch of `count` records of `size` bytes each (incompressible).
fn big_batch(count: usize, size: usize) -> Bytes {
    let mut b = BatchBuilder::new(0, Compression::None);
    for i in 0..count {
        let value: Vec<u8> = (0..size).map(|j| (i * 31 + j * 7) as u8).collect();
        b.push(1_000, Some(b"key"), Some(&value), &[]);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn fetch_max_bytes_holds_across_partitions_except_for_the_first_batch() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(create_topic(&mut c, "big", 3, &[]).await, 0);
    // Partitions 0 and 1: one 600 KB batch each; 2: one small batch.
    assert_eq!(produce(&mut c, "big", 0, big_batch(6, 100_000)).await.0, 0);
    assert_eq!(produce(&mut c, "big", 1, big_batch(6, 100_000)).await.0, 0);
    assert_eq!(produce(&mut c, "big", 2, batch(&["small"], 1)).await.0, 0);
    let fetch = |max_bytes: i32, partition_max: i32| {
        let partitions = (0..3).map(|p| {
            FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(0)
                .with_partition_max_bytes(partition_max)
        });
        FetchRequest::default().with_max_wait_ms(0).with_max_bytes(max_bytes).with_topics(vec![
            FetchTopic::default().with_topic(name("big")).with_partitions(partitions.collect()),
        ])
    };
    let sizes = |r: &FetchResponse| -> Vec<usize> {
        r.responses[0].partitions.iter().map(|p| p.records.as_ref().map_or(0, Bytes::len)).collect()
    };

    // librdkafka's fetch.max.bytes=1000000 against 1.2 MB of batches: the first
    // partition's batch; partition 1's does not fit in what is left, so it waits
    // for the next fetch; partition 2's small batch still fits.
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch(1_000_000, 1 << 20)).await;
    let got = sizes(&r);
    assert!(got.iter().sum::<usize>() <= 1_000_000, "response over max_bytes: {got:?}");
    assert!(got[0] > 600_000 && got[1] == 0, "{got:?}");
    assert!(got[2] > 0 && got[2] < 1_000, "{got:?}");
    assert!(r.responses[0].partitions.iter().all(|p| p.error_code == 0));
    assert_eq!(r.responses[0].partitions[2].high_watermark, 1);

    // A max_bytes smaller than the first batch: that batch still goes, alone.
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch(1_000, 1 << 20)).await;
    let got = sizes(&r);
    assert!(got[0] > 600_000 && got[1] == 0 && got[2] == 0, "{got:?}");

    // Partition limits hold for every partition but the first with data.
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &fetch(10 << 20, 400_000)).await;
    let got = sizes(&r);
    assert!(got[0] > 600_000, "the first batch goes whole: {got:?}");
    assert_eq!(got[1], 0, "partition 1's batch is over its limit: {got:?}");
    assert!(got[2] > 0, "{got:?}");
    // The next fetch, from partition 1 on, gets it: a consumer always progresses.
    let from_1 =
        FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1_000_000).with_topics(vec![
            FetchTopic::default().with_topic(name("big")).with_partitions(vec![
                FetchPartition::default().with_partition(1).with_partition_max_bytes(400_000),
            ]),
        ]);
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &from_1).await;
    assert!(sizes(&r)[0] > 600_000);
    broker.stop().await;
}

#[tokio::test]
async fn a_waiting_fetch_wakes_when_records_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(create_topic(&mut c, "events", 1, &[]).await, 0);
    let mut waiter = RawClient::connect(broker.addr).await;
    let fetch = tokio::spawn(async move {
        let r: FetchResponse =
            waiter.call(ApiKey::Fetch, 12, &fetch_request("events", 0, 0, 30_000, 1)).await;
        r
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(produce(&mut c, "events", 0, batch(&["late"], 1)).await, (0, 0));
    let r = tokio::time::timeout(Duration::from_secs(20), fetch)
        .await
        .expect("woken before max_wait")
        .unwrap();
    let records = decode_batches(r.responses[0].partitions[0].records.as_ref().unwrap()).unwrap();
    assert_eq!(records[0].value.as_deref(), Some(&b"late"[..]));
    broker.stop().await;
}

#[tokio::test]
async fn produce_errors_get_kafka_codes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(create_topic(&mut c, "small", 1, &[("max.message.bytes", "200")]).await, 0);

    let mut corrupt = BytesMut::from(&batch(&["x"], 1)[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(produce(&mut c, "small", 0, corrupt.freeze()).await.0, 2, "CORRUPT_MESSAGE");
    assert_eq!(produce(&mut c, "small", 0, batch(&["y"; 30], 1)).await.0, 10, "MESSAGE_TOO_LARGE");
    assert_eq!(
        produce(&mut c, "small", 5, batch(&["z"], 1)).await.0,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(produce(&mut c, "small", 0, Bytes::from_static(b"not a batch")).await.0, 2);
    let r: ProduceResponse =
        c.call(ApiKey::Produce, 9, &produce_request("small", 0, batch(&["a"], 1), 2)).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 21, "INVALID_REQUIRED_ACKS");

    // The offsets topic is the coordinator's alone.
    assert_eq!(produce(&mut c, "__consumer_offsets", 0, batch(&["x"], 1)).await.0, 17);
    let request = DeleteTopicsRequest::default().with_topic_names(vec![name("__consumer_offsets")]);
    let r: DeleteTopicsResponse = c.call(ApiKey::DeleteTopics, 5, &request).await;
    assert_eq!(r.responses[0].error_code, 17, "INVALID_TOPIC_EXCEPTION, as producing to it");

    // acks=0: no response, but the records are written; the next answer on the
    // connection belongs to the next request.
    c.send(ApiKey::Produce, 9, &produce_request("small", 0, batch(&["quiet"], 1), 0)).await;
    assert_eq!(produce(&mut c, "small", 0, batch(&["loud"], 1)).await, (0, 1));
    broker.stop().await;
}

#[tokio::test]
async fn topic_admin_validates_names_configs_and_replication() {
    let dir = tempfile::tempdir().unwrap();
    let options = BrokerOptions { auto_create_topics: false, ..BrokerOptions::default() };
    let broker = TestBroker::start(dir.path(), options).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(create_topic(&mut c, "ok", 3, &[("retention.ms", "60000")]).await, 0);
    assert_eq!(create_topic(&mut c, "ok", 3, &[]).await, 36, "TOPIC_ALREADY_EXISTS");
    assert_eq!(create_topic(&mut c, "bad/name", 1, &[]).await, 17, "INVALID_TOPIC_EXCEPTION");
    assert_eq!(create_topic(&mut c, "__mine", 1, &[]).await, 17, "__ is for internal topics");
    assert_eq!(
        create_topic(&mut c, "cfg", 1, &[("retention.ms", "soon")]).await,
        40,
        "INVALID_CONFIG"
    );
    assert_eq!(create_topic(&mut c, "cfg", 1, &[("no.such.key", "1")]).await, 40);
    assert_eq!(create_topic(&mut c, "none", 0, &[]).await, 37, "INVALID_PARTITIONS");
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(name("replicated"))
            .with_num_partitions(1)
            .with_replication_factor(3),
    ]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 5, &request).await;
    assert_eq!(r.topics[0].error_code, 38, "INVALID_REPLICATION_FACTOR");

    // Metadata: auto-creation is off, so unknown names stay unknown.
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(name("ok"))),
        MetadataRequestTopic::default().with_name(Some(name("ghost"))),
    ]));
    let r: MetadataResponse = c.call(ApiKey::Metadata, 9, &request).await;
    assert_eq!(
        r.topics.iter().map(|t| (t.error_code, t.partitions.len())).collect::<Vec<_>>(),
        vec![(0, 3), (3, 0)]
    );
    assert_eq!(r.brokers[0].port, broker.addr.port() as i32);

    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("ok"))
            .with_configuration_keys(None),
    ]);
    let r: DescribeConfigsResponse = c.call(ApiKey::DescribeConfigs, 4, &request).await;
    let retention = r.results[0].configs.iter().find(|e| &*e.name == "retention.ms").unwrap();
    assert_eq!((retention.value.as_deref(), retention.config_source), (Some("60000"), 1));

    let request = DeleteTopicsRequest::default().with_topic_names(vec![name("ok"), name("ghost")]);
    let r: DeleteTopicsResponse = c.call(ApiKey::DeleteTopics, 5, &request).await;
    assert_eq!(r.responses.iter().map(|t| t.error_code).collect::<Vec<_>>(), vec![0, 3]);
    broker.stop().await;
}

#[tokio::test]
async fn unparseable_frames_close_only_their_own_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut bystander = RawClient::connect(broker.addr).await;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("oversized frame", {
            let mut f = Vec::new();
            f.put_i32(200 * 1024 * 1024);
            f
        }),
        ("negative size", (-5i32).to_be_bytes().to_vec()),
        ("frame shorter than a header", {
            let mut f = Vec::new();
            f.put_i32(3);
            f.put_slice(&[0, 3, 0]);
            f
        }),
        ("unknown api key", {
            let mut f = Vec::new();
            f.put_i32(10);
            f.put_slice(&[0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0, 0]);
            f
        }),
        ("unserved metadata version", {
            let mut f = Vec::new();
            f.put_i32(10);
            f.put_slice(&[0, 3, 0, 99, 0, 0, 0, 1, 0, 0]);
            f
        }),
        ("truncated metadata body", {
            let mut f = Vec::new();
            f.put_i32(14);
            f.put_slice(&[0, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 9]);
            f
        }),
    ];
    for (what, bytes) in cases {
        let mut c = RawClient::connect(broker.addr).await;
        tokio::io::AsyncWriteExt::write_all(&mut c.stream, &bytes).await.unwrap();
        assert!(c.is_closed().await, "{what}: the connection is closed");
        let r: MetadataResponse =
            bystander.call(ApiKey::Metadata, 1, &MetadataRequest::default()).await;
        assert_eq!(r.brokers.len(), 1, "{what}: others are still served");
    }
    broker.stop().await;
}

#[tokio::test]
async fn the_advertised_address_is_what_metadata_and_find_coordinator_tell_clients() {
    let dir = tempfile::tempdir().unwrap();
    let advertised = "kafka.example.com:19092".parse().unwrap();
    let config = NodeConfig {
        advertised: Some(advertised),
        processors: false,
        ..NodeConfig::local(dir.path())
    };
    let broker = TestBroker::start_node(config).await;
    let mut c = RawClient::connect(broker.addr).await;
    let r: MetadataResponse = c.call(ApiKey::Metadata, 9, &MetadataRequest::default()).await;
    let b = &r.brokers[0];
    assert_eq!((b.host.as_str(), b.port), ("kafka.example.com", 19092));
    let find = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"));
    let r: FindCoordinatorResponse = c.call(ApiKey::FindCoordinator, 2, &find).await;
    assert_eq!((r.host.as_str(), r.port), ("kafka.example.com", 19092));
    broker.stop().await;

    // Unset, the bound address; a wildcard with nothing to advertise is refused.
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    let r: MetadataResponse = c.call(ApiKey::Metadata, 9, &MetadataRequest::default()).await;
    assert_eq!(r.brokers[0].host.as_str(), "127.0.0.1");
    assert_eq!(r.brokers[0].port, i32::from(broker.addr.port()));
    broker.stop().await;
    let wildcard = NodeConfig {
        kafka_addr: "0.0.0.0:0".parse().unwrap(),
        processors: false,
        ..NodeConfig::local(dir.path())
    };
    let refused = Node::start(wildcard).await.unwrap_err();
    assert!(refused.to_string().contains("--advertised-addr"), "{refused}");
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_shutdown_drains_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let listener = ListenerOptions { max_connections: 2, ..ListenerOptions::default() };
    let config = NodeConfig { listener, processors: false, ..NodeConfig::local(dir.path()) };
    let broker = TestBroker::start_node(config).await;
    let (mut a, mut b) =
        (RawClient::connect(broker.addr).await, RawClient::connect(broker.addr).await);
    // Both are served (answered means accepted and counted).
    for c in [&mut a, &mut b] {
        let _: ApiVersionsResponse =
            c.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default()).await;
    }
    // A third is closed at once: its read ends without a response.
    let mut third = RawClient::connect(broker.addr).await;
    assert!(third.is_closed().await, "the third connection was served");
    assert_eq!(broker.broker.metrics.connections_refused(), 1);
    // When one ends, new ones are served again.
    drop(a);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut c = loop {
        let mut c = RawClient::connect(broker.addr).await;
        c.send(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default()).await;
        if c.read_frame().await.is_some() {
            break c;
        }
        assert!(std::time::Instant::now() < deadline, "no connection is served after one ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };

    // Shutdown: a fetch waiting for records is answered, then connections close.
    assert_eq!(create_topic(&mut b, "drain", 1, &[]).await, 0);
    let waiting = tokio::spawn(async move {
        let r: FetchResponse =
            b.call(ApiKey::Fetch, 12, &fetch_request("drain", 0, 0, 1_000, 1)).await;
        (r.responses[0].partitions[0].error_code, b)
    });
    while broker.broker.metrics.api(ApiKey::Fetch).requests() == 0 {
        assert!(std::time::Instant::now() < deadline, "the fetch never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    broker.stop().await;
    let (code, mut b) = waiting.await.unwrap();
    assert_eq!(code, 0, "the fetch in flight was answered");
    assert!(b.read_frame().await.is_none(), "its connection was closed after");
    assert!(c.read_frame().await.is_none(), "the idle connection was closed");
}
