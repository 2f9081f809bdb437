//! Idempotent produce against a real broker on 127.0.0.1:0, in raw Kafka protocol:
//! InitProducerId, a retried batch acknowledged with its original offset and
//! stored once, a sequence gap refused, retries still recognised after a clean
//! restart and after a crash, and transactional batches outside a transaction
//! refused.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{RawClient, TestBroker};
use weir_broker::broker::BrokerOptions;
use weir_broker::log::record::{BatchBuilder, Compression, decode_batches};
use weir_broker::topic::TopicSpec;

const TOPIC: &str = "payments";
/// Kafka error codes.
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

/// An idempotent producer's batch: one record per value, sequences from `seq`.
fn batch(producer_id: i64, epoch: i16, seq: i32, values: &[&str]) -> Bytes {
    let mut b = BatchBuilder::new(0, Compression::None).producer(producer_id, epoch, seq);
    for v in values {
        b.push(1_700_000_000_000, None, Some(v.as_bytes()), &[]);
    }
    b.build().unwrap()
}

async fn start(dir: &Path) -> TestBroker {
    let broker = TestBroker::start(dir, BrokerOptions::default()).await;
    if broker.storage.topic(TOPIC).is_none() {
        let spec = TopicSpec { name: TOPIC.into(), partitions: 1, configs: BTreeMap::new() };
        broker.storage.create_topic(spec).unwrap();
    }
    broker
}

async fn init_producer_id(c: &mut RawClient, transactional_id: Option<&str>) -> (i16, i64, i16) {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(
            transactional_id.map(|t| TransactionalId(StrBytes::from_string(t.into()))),
        )
        .with_transaction_timeout_ms(60_000);
    let r: InitProducerIdResponse = c.call(ApiKey::InitProducerId, 4, &request).await;
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// Produces `records` with acks=all; the error code and base offset.
async fn produce(c: &mut RawClient, records: Bytes) -> (i16, i64) {
    let request =
        ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![
            TopicProduceData::default().with_name(topic_name()).with_partition_data(vec![
                PartitionProduceData::default().with_index(0).with_records(Some(records)),
            ]),
        ]);
    let r: ProduceResponse = c.call(ApiKey::Produce, 7, &request).await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// The latest offset, as ListOffsets reports it.
async fn latest_offset(c: &mut RawClient) -> i64 {
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default().with_name(topic_name()).with_partitions(vec![
            ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1),
        ]),
    ]);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 5, &request).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// Every (offset, value) in the partition, fetched from 0.
async fn fetch_all(c: &mut RawClient) -> Vec<(i64, String)> {
    let request =
        FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1 << 20).with_topics(vec![
            FetchTopic::default().with_topic(topic_name()).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(0)
                    .with_partition_max_bytes(1 << 20),
            ]),
        ]);
    let r: FetchResponse = c.call(ApiKey::Fetch, 11, &request).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    decode_batches(p.records.as_ref().unwrap())
        .unwrap()
        .into_iter()
        .map(|r| (r.offset, String::from_utf8(r.value.unwrap().to_vec()).unwrap()))
        .collect()
}

#[tokio::test]
async fn a_retried_produce_gets_its_original_offset_and_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = RawClient::connect(broker.addr).await;

    let (error, pid, epoch) = init_producer_id(&mut c, None).await;
    assert_eq!((error, epoch), (0, 0));
    assert!(pid >= 0);
    let (_, other, _) = init_producer_id(&mut c, None).await;
    assert_ne!(other, pid, "every InitProducerId gets a new id");

    let first = batch(pid, 0, 0, &["a", "b"]);
    assert_eq!(produce(&mut c, first.clone()).await, (0, 0));
    assert_eq!(produce(&mut c, batch(-1, -1, -1, &["plain"])).await, (0, 2));
    assert_eq!(produce(&mut c, first).await, (0, 0), "the retry is acknowledged at 0");
    assert_eq!(latest_offset(&mut c).await, 3);
    let stored: Vec<(i64, String)> = vec![(0, "a".into()), (1, "b".into()), (2, "plain".into())];
    assert_eq!(fetch_all(&mut c).await, stored, "one copy only");

    let (error, _) = produce(&mut c, batch(pid, 0, 5, &["gap"])).await;
    assert_eq!(error, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(produce(&mut c, batch(pid, 0, 2, &["c"])).await, (0, 3));
    assert_eq!(produce(&mut c, batch(pid, 1, 0, &["d"])).await, (0, 4), "a new epoch at 0");
    let (error, _) = produce(&mut c, batch(pid, 0, 3, &["zombie"])).await;
    assert_eq!(error, INVALID_PRODUCER_EPOCH);
    assert_eq!(latest_offset(&mut c).await, 5);
    broker.stop().await;
}

#[tokio::test]
async fn a_transactional_batch_outside_its_transaction_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = RawClient::connect(broker.addr).await;
    let (error, pid, _) = init_producer_id(&mut c, Some("txn-1")).await;
    assert_eq!(error, 0);
    assert!(pid >= 0);
    let (error, _, _) = init_producer_id(&mut c, Some("")).await;
    assert_eq!(error, kafka_protocol::ResponseError::InvalidRequest.code());

    // No AddPartitionsToTxn came first, for this producer or an unknown one.
    for producer in [pid, 7] {
        let mut txn = batch(producer, 0, 0, &["in a transaction"]).to_vec();
        txn[22] |= 0x10; // attributes bit 4: transactional
        weir_broker::log::batch::write_crc(&mut txn);
        let (error, _) = produce(&mut c, txn.into()).await;
        assert_eq!(error, INVALID_TXN_STATE);
    }
    assert_eq!(latest_offset(&mut c).await, 0);
    broker.stop().await;
}

#[tokio::test]
async fn retries_are_recognised_after_a_restart_and_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = RawClient::connect(broker.addr).await;
    let (_, pid, _) = init_producer_id(&mut c, None).await;
    assert_eq!(produce(&mut c, batch(pid, 0, 0, &["a"])).await, (0, 0));
    assert_eq!(produce(&mut c, batch(pid, 0, 1, &["b", "c"])).await, (0, 1));
    broker.stop().await; // clean: the producer state snapshot

    let broker = start(dir.path()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(produce(&mut c, batch(pid, 0, 1, &["b", "c"])).await, (0, 1));
    assert_eq!(produce(&mut c, batch(pid, 0, 3, &["d"])).await, (0, 3));
    let (_, next_pid, _) = init_producer_id(&mut c, None).await;
    assert!(next_pid > pid, "ids do not repeat after a restart");
    drop(c);
    drop(broker); // a crash: no close, no snapshot of the last batch

    let broker = start(dir.path()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(produce(&mut c, batch(pid, 0, 3, &["d"])).await, (0, 3));
    assert_eq!(produce(&mut c, batch(pid, 0, 1, &["b", "c"])).await, (0, 1));
    let (error, _) = produce(&mut c, batch(pid, 0, 9, &["gap"])).await;
    assert_eq!(error, OUT_OF_ORDER_SEQUENCE_NUMBER);
    let values: Vec<String> = fetch_all(&mut c).await.into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, ["a", "b", "c", "d"]);
    let (_, after_crash, _) = init_producer_id(&mut c, None).await;
    assert!(after_crash > next_pid, "ids do not repeat after a crash");
    broker.stop().await;
}

/// DescribeProducers of partitions 0 and 9 of the topic: per partition, the
/// error code and (producer id, epoch, last sequence, last timestamp).
async fn describe_producers(c: &mut RawClient) -> Vec<(i16, Vec<(i64, i32, i32, i64)>)> {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    let request = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default().with_name(topic_name()).with_partition_indexes(vec![0, 9]),
    ]);
    let r: DescribeProducersResponse = c.call(ApiKey::DescribeProducers, 0, &request).await;
    r.topics[0]
        .partitions
        .iter()
        .map(|p| {
            let producers = p
                .active_producers
                .iter()
                .map(|s| (s.producer_id.0, s.producer_epoch, s.last_sequence, s.last_timestamp))
                .collect();
            (p.error_code, producers)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_producers_shows_each_producers_last_batch_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut c = RawClient::connect(broker.addr).await;
    let (_, a, epoch) = init_producer_id(&mut c, None).await;
    let (_, b, _) = init_producer_id(&mut c, None).await;
    assert_eq!(produce(&mut c, batch(a, epoch, 0, &["a0", "a1"])).await.0, 0);
    assert_eq!(produce(&mut c, batch(b, epoch, 0, &["b0"])).await.0, 0);
    assert_eq!(produce(&mut c, batch(a, epoch, 2, &["a2"])).await.0, 0);
    let unknown = kafka_protocol::ResponseError::UnknownTopicOrPartition.code();
    let want = vec![
        (0, vec![(a, epoch.into(), 2, 1_700_000_000_000), (b, epoch.into(), 0, 1_700_000_000_000)]),
        (unknown, vec![]),
    ];
    assert_eq!(describe_producers(&mut c).await, want);
    broker.stop().await;

    // The producer-state snapshot keeps them, last timestamps included.
    let broker = start(dir.path()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(describe_producers(&mut c).await, want);
    broker.stop().await;
}
