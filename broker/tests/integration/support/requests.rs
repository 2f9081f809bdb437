//! Kafka requests tests build again and again: a batch of values, Produce,
//! Fetch and CreateTopics of one partition or topic.

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use weir_broker::log::record::{BatchBuilder, Compression};

use super::RawClient;

/// A topic name as requests carry it.
pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// One uncompressed batch of `values`, keyed `key`, timestamped from `ts` on.
pub fn batch(values: &[&str], ts: i64) -> Bytes {
    let mut b = BatchBuilder::new(0, Compression::None);
    for (i, v) in values.iter().enumerate() {
        b.push(ts + i as i64, Some(b"key"), Some(v.as_bytes()), &[]);
    }
    b.build().unwrap()
}

/// A Produce of `records` to one partition.
pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default().with_acks(acks).with_timeout_ms(5_000).with_topic_data(vec![
        TopicProduceData::default().with_name(name(topic)).with_partition_data(vec![
            PartitionProduceData::default().with_index(partition).with_records(Some(records)),
        ]),
    ])
}

/// Produces `records` with acks=all: (error code, base offset).
pub async fn produce(c: &mut RawClient, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let r: ProduceResponse =
        c.call(ApiKey::Produce, 9, &produce_request(topic, partition, records, -1)).await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// A Fetch of one partition from `offset`, up to 1 MiB.
pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default().with_topic(name(topic)).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20),
            ])])
}

/// Creates a topic with `configs` over CreateTopics v5: its error code.
pub async fn create_topic(
    c: &mut RawClient,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> i16 {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(configs),
    ]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 5, &request).await;
    r.topics[0].error_code
}
