//! The seed corpus of the request fuzz target (`broker/fuzz`), as a regression
//! test: every seed is a well-formed request frame that the server answers, and
//! every truncation and single-byte corruption of it is handled without a panic.
//!
//! `WEIR_WRITE_FUZZ_SEEDS=1 cargo test -p weir-broker --test fuzz_seeds` rewrites
//! the seeds from the requests built here.

use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use weir_broker::broker::{Broker, BrokerOptions};
use weir_broker::kafka::server;
use weir_broker::log::record::{BatchBuilder, Compression};
use weir_broker::storage::{Storage, StorageOptions};

fn frame<M: Encodable>(key: ApiKey, version: i16, body: &M) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("seed")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, key.request_header_version(version)).unwrap();
    body.encode(&mut buf, version).unwrap();
    buf.to_vec()
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str("seeds"))
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut batch = BatchBuilder::new(0, Compression::None);
    batch.push(1_000, Some(b"k"), Some(b"v"), &[]);
    let records = batch.build().unwrap();
    let produce =
        ProduceRequest::default().with_acks(-1).with_timeout_ms(1000).with_topic_data(vec![
            TopicProduceData::default().with_name(topic()).with_partition_data(vec![
                PartitionProduceData::default().with_index(0).with_records(Some(records)),
            ]),
        ]);
    let fetch =
        FetchRequest::default().with_max_wait_ms(100).with_max_bytes(1 << 20).with_topics(vec![
            FetchTopic::default().with_topic(topic()).with_partitions(vec![
                FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20),
            ]),
        ]);
    let list = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(topic())
            .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)]),
    ]);
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic())
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    vec![
        ("seed-api-versions-v3", frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())),
        ("seed-api-versions-v0", frame(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())),
        ("seed-metadata-v9", frame(ApiKey::Metadata, 9, &MetadataRequest::default())),
        ("seed-metadata-v1", frame(ApiKey::Metadata, 1, &MetadataRequest::default())),
        ("seed-create-topics-v5", frame(ApiKey::CreateTopics, 5, &create)),
        ("seed-produce-v9", frame(ApiKey::Produce, 9, &produce)),
        ("seed-produce-v3", frame(ApiKey::Produce, 3, &produce)),
        ("seed-fetch-v12", frame(ApiKey::Fetch, 12, &fetch)),
        ("seed-fetch-v4", frame(ApiKey::Fetch, 4, &fetch)),
        ("seed-list-offsets-v5", frame(ApiKey::ListOffsets, 5, &list)),
    ]
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/requests")
}

#[test]
fn seeds_are_answered_and_their_mutations_do_not_panic() {
    let seeds = seeds();
    if std::env::var_os("WEIR_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(corpus_dir()).unwrap();
        for (name, bytes) in &seeds {
            std::fs::write(corpus_dir().join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in &seeds {
        let stored = std::fs::read(corpus_dir().join(name)).expect("seed file present");
        assert_eq!(&stored, bytes, "{name} is out of date: rerun with WEIR_WRITE_FUZZ_SEEDS=1");
    }

    let dir = tempfile::tempdir().unwrap();
    // Paused time: long polls with any (mutated) max wait end at once.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
        let addr: SocketAddr = "127.0.0.1:9092".parse().unwrap();
        let broker = Broker::new(storage, BrokerOptions::default(), addr).unwrap();
        for (name, bytes) in &seeds {
            let answer = server::process(&broker, Bytes::copy_from_slice(bytes)).await;
            assert!(matches!(answer, Ok(Some(_))), "{name}: {answer:?}");
            for cut in 0..bytes.len() {
                let _ = server::process(&broker, Bytes::copy_from_slice(&bytes[..cut])).await;
            }
            let mut state = 0x9e37_79b9_u32;
            for _ in 0..200 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let mut mutated = bytes.clone();
                let at = state as usize % mutated.len();
                mutated[at] = (state >> 8) as u8;
                let _ = server::process(&broker, Bytes::from(mutated)).await;
            }
        }
    });
}
