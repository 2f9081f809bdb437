//! Topic ids over the wire: CreateTopics v7 gives a topic its id, Metadata (v10+)
//! reports it and (v12) takes it, Fetch v13+ and DeleteTopics v6 name topics by
//! it; ids hold across a restart, a topic deleted and created again is another
//! id, and an unknown id is UNKNOWN_TOPIC_ID.

use crate::support;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use support::requests::{batch, name, produce};
use support::{RawClient, TestBroker};
use uuid::Uuid;
use weir_broker::broker::BrokerOptions;
use weir_broker::log::record::decode_batches;

/// CreateTopics v7 of one topic: (error code, topic id).
async fn create(c: &mut RawClient, topic: &str) -> (i16, Uuid) {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    let request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 7, &request).await;
    (r.topics[0].error_code, r.topics[0].topic_id)
}

/// Metadata v12 of topics by name or id: (name, id, error code) each.
async fn metadata(c: &mut RawClient, asked: Vec<MetadataRequestTopic>) -> Vec<(String, Uuid, i16)> {
    let request = MetadataRequest::default().with_topics(Some(asked));
    let r: MetadataResponse = c.call(ApiKey::Metadata, 12, &request).await;
    r.topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
            (name, t.topic_id, t.error_code)
        })
        .collect()
}

fn by_name(topic: &str) -> MetadataRequestTopic {
    MetadataRequestTopic::default().with_name(Some(name(topic)))
}

fn by_id(id: Uuid) -> MetadataRequestTopic {
    MetadataRequestTopic::default().with_name(None).with_topic_id(id)
}

/// Fetch v13 of partition 0 of the topic with `id`: (error code, values).
async fn fetch(c: &mut RawClient, id: Uuid) -> (i16, Vec<String>) {
    let request = FetchRequest::default().with_max_bytes(1 << 20).with_topics(vec![
        FetchTopic::default().with_topic_id(id).with_partitions(vec![
            FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20),
        ]),
    ]);
    let r: FetchResponse = c.call(ApiKey::Fetch, 13, &request).await;
    let topic = &r.responses[0];
    assert_eq!(topic.topic_id, id, "the response names the topic by its id");
    let p = &topic.partitions[0];
    let records = decode_batches(p.records.as_deref().unwrap_or_default()).unwrap();
    let values = records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned())
        .collect();
    (p.error_code, values)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_named_by_their_ids_which_hold_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    let (code, id) = create(&mut c, "orders").await;
    assert_eq!(code, 0);
    assert!(!id.is_nil(), "a real id");
    assert_eq!(metadata(&mut c, vec![by_name("orders")]).await, [("orders".into(), id, 0)]);
    assert_eq!(metadata(&mut c, vec![by_id(id)]).await, [("orders".into(), id, 0)]);
    let stranger = Uuid::new_v4();
    let unknown_id = ResponseError::UnknownTopicId.code();
    assert_eq!(
        metadata(&mut c, vec![by_id(stranger)]).await,
        [(String::new(), stranger, unknown_id)]
    );

    assert_eq!(produce(&mut c, "orders", 0, batch(&["a", "b"], 1)).await.0, 0);
    assert_eq!(fetch(&mut c, id).await, (0, vec!["a".into(), "b".into()]));
    assert_eq!(fetch(&mut c, stranger).await, (unknown_id, vec![]));

    broker.stop().await;
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(metadata(&mut c, vec![by_name("orders")]).await, [("orders".into(), id, 0)]);
    assert_eq!(fetch(&mut c, id).await, (0, vec!["a".into(), "b".into()]));

    // Deleted by id, then created again: another topic, another id.
    let request = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_topic_id(id)])
        .with_timeout_ms(5_000);
    let r: DeleteTopicsResponse = c.call(ApiKey::DeleteTopics, 6, &request).await;
    assert_eq!(r.responses[0].error_code, 0, "{:?}", r.responses[0].error_message);
    assert_eq!(r.responses[0].name.as_ref().map(|n| n.0.to_string()), Some("orders".into()));
    let r: DeleteTopicsResponse = c.call(ApiKey::DeleteTopics, 6, &request).await;
    assert_eq!(r.responses[0].error_code, unknown_id);
    let (_, again) = create(&mut c, "orders").await;
    assert_ne!(again, id);
    assert_eq!(fetch(&mut c, id).await.0, unknown_id, "the old id names nothing");
    broker.stop().await;
}
