//! Admin APIs over the wire against a real broker on 127.0.0.1:0, as admin
//! clients send them: DeleteGroups, OffsetDelete (refused for a topic a member
//! subscribes to) and DescribeCluster, with the error codes Kafka gives for bad
//! requests. (confluent-kafka, kafka-python and KafkaJS drive the same APIs in
//! `compat/`.)

use crate::support;

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use support::{RawClient, TestBroker};
use weir_broker::broker::BrokerOptions;
use weir_broker::topic::TopicSpec;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

/// Commits `offsets` (topic, partition, offset) for `group` as a simple
/// consumer (no member, generation -1).
async fn commit(c: &mut RawClient, group: &str, offsets: &[(&str, i32, i64)]) {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (topic, partition, offset) in offsets {
        topics.entry(topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*partition)
                .with_committed_offset(*offset),
        );
    }
    let topics = topics
        .into_iter()
        .map(|(t, p)| {
            OffsetCommitRequestTopic::default().with_name(TopicName(s(t))).with_partitions(p)
        })
        .collect();
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(topics);
    let r: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 2, &request).await;
    for p in r.topics.iter().flat_map(|t| &t.partitions) {
        assert_eq!(p.error_code, 0);
    }
}

/// What `group` has committed, as (topic, partition, offset).
async fn committed(c: &mut RawClient, group: &str) -> Vec<(String, i32, i64)> {
    let all = OffsetFetchRequestGroup::default().with_group_id(GroupId(s(group))).with_topics(None);
    let fetch = OffsetFetchRequest::default().with_groups(vec![all]);
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 8, &fetch).await;
    let mut found: Vec<(String, i32, i64)> = r.groups[0]
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.committed_offset))
        })
        .collect();
    found.sort();
    found
}

/// OffsetDelete of `partitions` (topic, partition): the top-level code and
/// each partition's, in the order answered.
async fn delete_offsets(
    c: &mut RawClient,
    group: &str,
    partitions: &[(&str, i32)],
) -> (i16, Vec<(String, i32, i16)>) {
    let mut topics: BTreeMap<&str, Vec<OffsetDeleteRequestPartition>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics
            .entry(topic)
            .or_default()
            .push(OffsetDeleteRequestPartition::default().with_partition_index(*partition));
    }
    let topics = topics
        .into_iter()
        .map(|(t, p)| {
            OffsetDeleteRequestTopic::default().with_name(TopicName(s(t))).with_partitions(p)
        })
        .collect();
    let request =
        OffsetDeleteRequest::default().with_group_id(GroupId(s(group))).with_topics(topics);
    let r: OffsetDeleteResponse = c.call(ApiKey::OffsetDelete, 0, &request).await;
    let partitions = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| (t.name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect();
    (r.error_code, partitions)
}

/// A consumer's JoinGroup metadata subscribing to `topics` (version 1, after
/// its i16 version, as Kafka clients send it).
fn subscription(topics: &[&str]) -> Bytes {
    let body =
        ConsumerProtocolSubscription::default().with_topics(topics.iter().map(|t| s(t)).collect());
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    body.encode(&mut buf, 1).unwrap();
    buf.freeze()
}

/// Joins `group` as a consumer subscribing to `topics`: after this the group
/// has a member (awaiting SyncGroup).
async fn join(c: &mut RawClient, group: &str, topics: &[&str]) {
    let protocol = JoinGroupRequestProtocol::default()
        .with_name(s("range"))
        .with_metadata(subscription(topics));
    let request = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(60_000)
            .with_member_id(s(member))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![protocol.clone()])
    };
    let first: JoinGroupResponse = c.call(ApiKey::JoinGroup, 5, &request("")).await;
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    let joined: JoinGroupResponse = c.call(ApiKey::JoinGroup, 5, &request(&first.member_id)).await;
    assert_eq!(joined.error_code, 0);
}

async fn delete_groups(c: &mut RawClient, groups: &[&str]) -> Vec<(String, i16)> {
    let request = DeleteGroupsRequest::default()
        .with_groups_names(groups.iter().map(|g| GroupId(s(g))).collect());
    let r: DeleteGroupsResponse = c.call(ApiKey::DeleteGroups, 2, &request).await;
    r.results.iter().map(|g| (g.group_id.0.to_string(), g.error_code)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_and_their_offsets_are_deleted_unless_members_use_them() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    for (name, partitions) in [("orders", 2), ("clicks", 1)] {
        let spec = TopicSpec { name: name.into(), partitions, configs: BTreeMap::new() };
        broker.storage.create_topic(spec).unwrap();
    }
    let mut c = RawClient::connect(broker.addr).await;
    commit(&mut c, "idle", &[("orders", 0, 5), ("orders", 1, 6), ("clicks", 0, 7)]).await;
    commit(&mut c, "busy", &[("orders", 0, 1), ("clicks", 0, 2)]).await;

    // An empty group loses what it is asked to; a partition it never committed
    // for is no error; a topic that does not exist is.
    let (code, partitions) =
        delete_offsets(&mut c, "idle", &[("orders", 0), ("clicks", 0), ("nope", 0)]).await;
    assert_eq!(code, 0);
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(
        partitions,
        [("clicks".into(), 0, 0), ("nope".into(), 0, unknown), ("orders".into(), 0, 0)]
    );
    assert_eq!(committed(&mut c, "idle").await, [("orders".into(), 1, 6)]);
    assert_eq!(delete_offsets(&mut c, "idle", &[("clicks", 0)]).await.1, [("clicks".into(), 0, 0)]);
    let (code, _) = delete_offsets(&mut c, "nobody", &[("orders", 0)]).await;
    assert_eq!(code, ResponseError::GroupIdNotFound.code());

    // A member subscribing to `orders`: its offsets stay, the others may go.
    let mut member = RawClient::connect(broker.addr).await;
    join(&mut member, "busy", &["orders"]).await;
    let (code, partitions) = delete_offsets(&mut c, "busy", &[("orders", 0), ("clicks", 0)]).await;
    assert_eq!(code, 0);
    let subscribed = ResponseError::GroupSubscribedToTopic.code();
    assert_eq!(partitions, [("clicks".into(), 0, 0), ("orders".into(), 0, subscribed)]);
    assert_eq!(committed(&mut c, "busy").await, [("orders".into(), 0, 1)]);

    // DeleteGroups: the empty group goes with its offsets, one with a member
    // stays, an unknown one is not found; an empty id is invalid.
    let answer = delete_groups(&mut c, &["idle", "busy", "nobody", ""]).await;
    let want = [
        ("idle".into(), 0),
        ("busy".into(), ResponseError::NonEmptyGroup.code()),
        ("nobody".into(), ResponseError::GroupIdNotFound.code()),
        (String::new(), ResponseError::InvalidGroupId.code()),
    ];
    assert_eq!(answer, want);
    assert!(committed(&mut c, "idle").await.is_empty());
    let listed: ListGroupsResponse =
        c.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default()).await;
    let names: Vec<&str> = listed.groups.iter().map(|g| &*g.group_id.0).collect();
    assert_eq!(names, ["busy"]);

    // Deleted for good: a restart does not bring the offsets back.
    drop(member);
    broker.stop().await;
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert!(committed(&mut c, "idle").await.is_empty());
    assert_eq!(committed(&mut c, "busy").await, [("orders".into(), 0, 1)]);
    broker.stop().await;
}

#[tokio::test]
async fn describe_cluster_names_this_node_as_broker_and_controller() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    let request =
        DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    let r: DescribeClusterResponse = c.call(ApiKey::DescribeCluster, 0, &request).await;
    assert_eq!(r.error_code, 0);
    let metadata: MetadataResponse =
        c.call(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(Some(vec![]))).await;
    assert_eq!(Some(&r.cluster_id), metadata.cluster_id.as_ref());
    assert_eq!(r.controller_id, metadata.controller_id);
    assert_eq!(r.brokers.len(), 1);
    let me = &r.brokers[0];
    assert_eq!(
        (me.broker_id, &*me.host, me.port),
        (metadata.brokers[0].node_id, "127.0.0.1", i32::from(broker.addr.port()))
    );
    assert!(r.cluster_authorized_operations > 0);
    // v1 asks for an endpoint type: brokers are answered, controllers refused.
    let brokers = request.clone().with_endpoint_type(1);
    let r1: DescribeClusterResponse = c.call(ApiKey::DescribeCluster, 1, &brokers).await;
    assert_eq!((r1.error_code, r1.endpoint_type, r1.brokers.len()), (0, 1, 1));
    let controllers = request.with_endpoint_type(2);
    let r2: DescribeClusterResponse = c.call(ApiKey::DescribeCluster, 1, &controllers).await;
    assert_eq!(r2.error_code, ResponseError::MismatchedEndpointType.code());
    assert!(r2.error_message.unwrap().contains("controllers"));
    // Every API's versions are advertised as registered.
    let versions: ApiVersionsResponse =
        c.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).await;
    for (key, max) in
        [(ApiKey::DeleteGroups, 2), (ApiKey::OffsetDelete, 0), (ApiKey::DescribeCluster, 1)]
    {
        let api = versions.api_keys.iter().find(|a| a.api_key == key as i16).expect("advertised");
        assert_eq!((api.min_version, api.max_version), (0, max), "{key:?}");
    }
    broker.stop().await;
}

/// DeleteRecords of (partition, offset) pairs of `topic`: each partition's
/// (index, low watermark, error code).
async fn delete_records(
    c: &mut RawClient,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Vec<(i32, i64, i16)> {
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    let partitions = offsets
        .iter()
        .map(|(p, o)| DeleteRecordsPartition::default().with_partition_index(*p).with_offset(*o))
        .collect();
    let request = DeleteRecordsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        DeleteRecordsTopic::default().with_name(TopicName(s(topic))).with_partitions(partitions),
    ]);
    let r: DeleteRecordsResponse = c.call(ApiKey::DeleteRecords, 2, &request).await;
    r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.low_watermark, p.error_code))
        .collect()
}

/// ListOffsets of the earliest offset (-2) of a partition.
async fn earliest(c: &mut RawClient, topic: &str, partition: i32) -> i64 {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default().with_name(TopicName(s(topic))).with_partitions(vec![
            ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(-2),
        ]),
    ]);
    let r: ListOffsetsResponse = c.call(ApiKey::ListOffsets, 6, &request).await;
    r.topics[0].partitions[0].offset
}

/// The error code of a Fetch of one partition at `offset`.
async fn fetch_error(c: &mut RawClient, topic: &str, offset: i64) -> i16 {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let request =
        FetchRequest::default().with_max_wait_ms(10).with_max_bytes(1 << 20).with_topics(vec![
            FetchTopic::default().with_topic(TopicName(s(topic))).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20),
            ]),
        ]);
    let r: FetchResponse = c.call(ApiKey::Fetch, 12, &request).await;
    r.responses[0].partitions[0].error_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_records_moves_the_log_start_that_reads_and_list_offsets_see() {
    use weir_broker::log::record::{BatchBuilder, Compression};
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let spec = TopicSpec { name: "events".into(), partitions: 2, configs: BTreeMap::new() };
    broker.storage.create_topic(spec).unwrap();
    let log = broker.storage.partition("events", 0).unwrap();
    for i in 0..10 {
        let mut batch = BatchBuilder::new(0, Compression::None);
        batch.push(i, Some(b"k"), Some(format!("v{i}").as_bytes()), &[]);
        log.append(&batch.build().unwrap()).unwrap();
    }
    let mut c = RawClient::connect(broker.addr).await;
    let out_of_range = ResponseError::OffsetOutOfRange.code();
    let answer = delete_records(&mut c, "events", &[(0, 4), (1, 0), (7, 1)]).await;
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(answer, [(0, 4, 0), (1, 0, 0), (7, -1, unknown)]);
    assert_eq!(earliest(&mut c, "events", 0).await, 4);
    assert_eq!(fetch_error(&mut c, "events", 3).await, out_of_range);
    assert_eq!(fetch_error(&mut c, "events", 4).await, 0);
    // Past the high watermark, and a negative offset other than -1: refused;
    // -1 is the high watermark; backwards is no change.
    assert_eq!(delete_records(&mut c, "events", &[(0, 11)]).await, [(0, -1, out_of_range)]);
    assert_eq!(delete_records(&mut c, "events", &[(0, -5)]).await, [(0, -1, out_of_range)]);
    assert_eq!(delete_records(&mut c, "events", &[(0, 2)]).await, [(0, 4, 0)]);
    assert_eq!(delete_records(&mut c, "events", &[(0, -1)]).await, [(0, 10, 0)]);
    // Internal topics are the broker's.
    let internal = delete_records(&mut c, "__consumer_offsets", &[(0, 0)]).await;
    assert_eq!(internal, [(0, -1, ResponseError::InvalidTopicException.code())]);
    // After a restart the start holds.
    broker.stop().await;
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    assert_eq!(earliest(&mut c, "events", 0).await, 10);
    broker.stop().await;
}

#[tokio::test]
async fn create_topics_takes_a_replica_assignment_one_broker_can_hold() {
    use kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopic,
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    let metadata: MetadataResponse =
        c.call(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(Some(vec![]))).await;
    let me = metadata.brokers[0].node_id;
    let assignment = |partitions: &[i32], brokers: &[i32]| {
        partitions
            .iter()
            .map(|p| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(*p)
                    .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
            })
            .collect::<Vec<_>>()
    };
    let create = |name: &str, count: i32, factor: i16, assignments| {
        CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(count)
            .with_replication_factor(factor)
            .with_assignments(assignments)
    };
    let request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
        create("assigned", -1, -1, assignment(&[1, 0, 2], &[me.0])),
        create("elsewhere", -1, -1, assignment(&[0], &[me.0 + 1])),
        create("gap", -1, -1, assignment(&[0, 2], &[me.0])),
        create("both", 3, -1, assignment(&[0], &[me.0])),
    ]);
    let r: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 5, &request).await;
    let codes: Vec<(&str, i16, i32)> =
        r.topics.iter().map(|t| (&*t.name.0, t.error_code, t.num_partitions)).collect();
    let invalid = ResponseError::InvalidReplicaAssignment.code();
    assert_eq!(
        codes,
        [
            ("assigned", 0, 3),
            ("elsewhere", invalid, -1),
            ("gap", invalid, -1),
            ("both", ResponseError::InvalidRequest.code(), -1)
        ]
    );
    assert!(r.topics[1].error_message.as_deref().unwrap().contains("broker"));
    assert_eq!(broker.storage.topic("assigned").unwrap().partitions, 3);
    assert!(broker.storage.topic("gap").is_none());
    broker.stop().await;
}

/// CreatePartitions of one topic: (code, message).
async fn create_partitions(
    c: &mut RawClient,
    topic: &str,
    count: i32,
    assignments: Option<Vec<Vec<i32>>>,
    validate_only: bool,
) -> (i16, Option<String>) {
    use kafka_protocol::messages::create_partitions_request::{
        CreatePartitionsAssignment, CreatePartitionsTopic,
    };
    let assignments = assignments.map(|a| {
        a.into_iter()
            .map(|brokers| {
                CreatePartitionsAssignment::default()
                    .with_broker_ids(brokers.into_iter().map(BrokerId).collect())
            })
            .collect()
    });
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(5_000)
        .with_validate_only(validate_only)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_count(count)
                .with_assignments(assignments),
        ]);
    let r: CreatePartitionsResponse = c.call(ApiKey::CreatePartitions, 3, &request).await;
    (r.results[0].error_code, r.results[0].error_message.as_ref().map(|m| m.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_added_never_removed_and_hold_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let spec = TopicSpec { name: "grows".into(), partitions: 2, configs: BTreeMap::new() };
    broker.storage.create_topic(spec).unwrap();
    let mut c = RawClient::connect(broker.addr).await;
    let invalid = ResponseError::InvalidPartitions.code();
    let count = |broker: &TestBroker| broker.storage.topic("grows").unwrap().partitions;

    assert_eq!(create_partitions(&mut c, "grows", 5, None, true).await, (0, None));
    assert_eq!(count(&broker), 2, "validate only");
    assert_eq!(
        create_partitions(&mut c, "grows", 4, Some(vec![vec![0], vec![0]]), false).await,
        (0, None)
    );
    assert_eq!(count(&broker), 4);
    assert!(broker.storage.partition("grows", 3).is_some());
    let (code, message) = create_partitions(&mut c, "grows", 3, None, false).await;
    assert_eq!(code, invalid);
    assert!(message.unwrap().contains("never removed"));
    assert_eq!(create_partitions(&mut c, "grows", 4, None, false).await.0, invalid);
    let wrong = create_partitions(&mut c, "grows", 5, Some(vec![vec![7]]), false).await;
    assert_eq!(wrong.0, ResponseError::InvalidReplicaAssignment.code());
    let short = create_partitions(&mut c, "grows", 6, Some(vec![vec![0]]), false).await;
    assert_eq!(short.0, ResponseError::InvalidReplicaAssignment.code());
    let unknown = create_partitions(&mut c, "nope", 3, None, false).await;
    assert_eq!(unknown.0, ResponseError::UnknownTopicOrPartition.code());
    let internal = create_partitions(&mut c, "__consumer_offsets", 3, None, false).await;
    assert_eq!(internal.0, ResponseError::InvalidTopicException.code());
    // Metadata shows the new partitions at once.
    let topic = kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
        .with_name(Some(TopicName(s("grows"))));
    let metadata: MetadataResponse = c
        .call(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(Some(vec![topic])))
        .await;
    assert_eq!(metadata.topics[0].partitions.len(), 4);

    broker.stop().await;
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    assert_eq!(count(&broker), 4);
    assert!(broker.storage.partition("grows", 3).is_some());
    broker.stop().await;
}
