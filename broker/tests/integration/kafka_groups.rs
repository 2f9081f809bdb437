//! Consumer groups over the wire against a real broker on 127.0.0.1:0: raw
//! `kafka-protocol` requests drive the classic group protocol (FindCoordinator,
//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and the offset APIs, as a client
//! library would. Loops are bounded; nothing asserts on timing.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use support::{RawClient, TestBroker};
use weir_broker::broker::BrokerOptions;
use weir_broker::topic::TopicSpec;

const GROUP: &str = "pipeline";
const JOIN_V: i16 = 5;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

fn group() -> GroupId {
    GroupId(s(GROUP))
}

fn join_request(member_id: &str) -> JoinGroupRequest {
    let protocol = JoinGroupRequestProtocol::default()
        .with_name(s("range"))
        .with_metadata(Bytes::from_static(b"subscription"));
    JoinGroupRequest::default()
        .with_group_id(group())
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(60_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![protocol])
}

fn sync_request(
    member_id: &str,
    generation: i32,
    plan: &[(&str, &'static [u8])],
) -> SyncGroupRequest {
    let assignments = plan
        .iter()
        .map(|(m, a)| {
            SyncGroupRequestAssignment::default()
                .with_member_id(s(m))
                .with_assignment(Bytes::from_static(a))
        })
        .collect();
    SyncGroupRequest::default()
        .with_group_id(group())
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_assignments(assignments)
}

/// A new member's id: the first JoinGroup (v4+) answers MEMBER_ID_REQUIRED with it.
async fn member_id(client: &mut RawClient) -> String {
    let r: JoinGroupResponse = client.call(ApiKey::JoinGroup, JOIN_V, &join_request("")).await;
    assert_eq!(r.error_code, ResponseError::MemberIdRequired.code());
    assert!(!r.member_id.is_empty());
    r.member_id.to_string()
}

/// The answer to a request sent earlier with `RawClient::send`.
async fn receive<R: Decodable>(client: &mut RawClient, key: ApiKey, version: i16) -> R {
    let mut frame = client.read_frame().await.expect("a response");
    ResponseHeader::decode(&mut frame, key.response_header_version(version)).expect("header");
    R::decode(&mut frame, version).expect("body")
}

async fn heartbeat(client: &mut RawClient, member_id: &str, generation: i32) -> i16 {
    let request = HeartbeatRequest::default()
        .with_group_id(group())
        .with_member_id(s(member_id))
        .with_generation_id(generation);
    let r: HeartbeatResponse = client.call(ApiKey::Heartbeat, 4, &request).await;
    r.error_code
}

/// Heartbeats until the coordinator says a rebalance started (bounded).
async fn until_rebalancing(client: &mut RawClient, member_id: &str, generation: i32) {
    for _ in 0..500 {
        match heartbeat(client, member_id, generation).await {
            0 => tokio::time::sleep(Duration::from_millis(10)).await,
            code => {
                assert_eq!(code, ResponseError::RebalanceInProgress.code());
                return;
            }
        }
    }
    panic!("the group never started rebalancing");
}

async fn describe(client: &mut RawClient) -> describe_groups_response::DescribedGroup {
    let request = DescribeGroupsRequest::default().with_groups(vec![group()]);
    let mut r: DescribeGroupsResponse = client.call(ApiKey::DescribeGroups, 5, &request).await;
    r.groups.remove(0)
}

#[tokio::test]
async fn two_members_share_the_work_and_the_survivor_rejoins_alone() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let (mut a, mut b) =
        (RawClient::connect(broker.addr).await, RawClient::connect(broker.addr).await);

    let find = FindCoordinatorRequest::default().with_key(s(GROUP));
    let found: FindCoordinatorResponse = a.call(ApiKey::FindCoordinator, 3, &find).await;
    assert_eq!((found.error_code, found.port), (0, i32::from(broker.addr.port())));
    let batch = FindCoordinatorRequest::default().with_coordinator_keys(vec![s(GROUP), s("other")]);
    let found: FindCoordinatorResponse = a.call(ApiKey::FindCoordinator, 4, &batch).await;
    assert_eq!(found.coordinators.len(), 2);

    // a joins alone and becomes the leader of generation 1.
    let id_a = member_id(&mut a).await;
    let joined: JoinGroupResponse = a.call(ApiKey::JoinGroup, JOIN_V, &join_request(&id_a)).await;
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    assert_eq!((&*joined.leader, joined.members.len()), (id_a.as_str(), 1));
    let plan = [(id_a.as_str(), &b"p0,p1"[..])];
    let synced: SyncGroupResponse =
        a.call(ApiKey::SyncGroup, 4, &sync_request(&id_a, 1, &plan)).await;
    assert_eq!((synced.error_code, &synced.assignment[..]), (0, &b"p0,p1"[..]));

    // b's JoinGroup starts a rebalance and waits for a to rejoin.
    let id_b = member_id(&mut b).await;
    b.send(ApiKey::JoinGroup, JOIN_V, &join_request(&id_b)).await;
    until_rebalancing(&mut a, &id_a, 1).await;
    let joined_a: JoinGroupResponse = a.call(ApiKey::JoinGroup, JOIN_V, &join_request(&id_a)).await;
    let joined_b: JoinGroupResponse = receive(&mut b, ApiKey::JoinGroup, JOIN_V).await;
    assert_eq!((joined_a.generation_id, joined_b.generation_id), (2, 2));
    assert_eq!((&*joined_a.leader, &*joined_b.leader), (id_a.as_str(), id_a.as_str()));
    assert_eq!((joined_a.members.len(), joined_b.members.len()), (2, 0));
    assert_eq!(joined_a.protocol_name.as_deref(), Some("range"));

    // The follower's SyncGroup waits for the leader's, which carries both plans.
    b.send(ApiKey::SyncGroup, 4, &sync_request(&id_b, 2, &[])).await;
    let plan = [(id_a.as_str(), &b"p0"[..]), (id_b.as_str(), &b"p1"[..])];
    let synced_a: SyncGroupResponse =
        a.call(ApiKey::SyncGroup, 4, &sync_request(&id_a, 2, &plan)).await;
    let synced_b: SyncGroupResponse = receive(&mut b, ApiKey::SyncGroup, 4).await;
    assert_eq!((&synced_a.assignment[..], &synced_b.assignment[..]), (&b"p0"[..], &b"p1"[..]));
    let described = describe(&mut a).await;
    assert_eq!((&*described.group_state, described.members.len()), ("Stable", 2));
    assert_eq!(described.authorized_operations, i32::MIN, "not requested");
    // Each member's host, as Kafka writes it.
    assert!(described.members.iter().all(|m| &*m.client_host == "/127.0.0.1"), "{described:?}");
    assert_eq!(heartbeat(&mut b, &id_b, 1).await, ResponseError::IllegalGeneration.code());

    // b leaves; a is told to rejoin and forms generation 3 alone.
    let leaving = MemberIdentity::default().with_member_id(s(&id_b));
    let leave = LeaveGroupRequest::default().with_group_id(group()).with_members(vec![leaving]);
    let left: LeaveGroupResponse = b.call(ApiKey::LeaveGroup, 4, &leave).await;
    assert_eq!((left.error_code, left.members[0].error_code), (0, 0));
    assert_eq!(heartbeat(&mut a, &id_a, 2).await, ResponseError::RebalanceInProgress.code());
    let alone: JoinGroupResponse = a.call(ApiKey::JoinGroup, JOIN_V, &join_request(&id_a)).await;
    assert_eq!((alone.generation_id, alone.members.len()), (3, 1));
    let plan = [(id_a.as_str(), &b"p0,p1"[..])];
    let synced: SyncGroupResponse =
        a.call(ApiKey::SyncGroup, 4, &sync_request(&id_a, 3, &plan)).await;
    assert_eq!(&synced.assignment[..], b"p0,p1");
    assert_eq!(heartbeat(&mut b, &id_b, 2).await, ResponseError::UnknownMemberId.code());

    // Members commit with their generation; a stale one is refused.
    let spec = TopicSpec { name: "orders".into(), partitions: 2, configs: BTreeMap::new() };
    broker.storage.create_topic(spec).unwrap();
    let commit = |generation: i32| {
        let partition = OffsetCommitRequestPartition::default()
            .with_partition_index(1)
            .with_committed_offset(17);
        let topic = OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("orders")))
            .with_partitions(vec![partition]);
        OffsetCommitRequest::default()
            .with_group_id(group())
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(&id_a))
            .with_topics(vec![topic])
    };
    let r: OffsetCommitResponse = a.call(ApiKey::OffsetCommit, 8, &commit(2)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, ResponseError::IllegalGeneration.code());
    let r: OffsetCommitResponse = a.call(ApiKey::OffsetCommit, 8, &commit(3)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let fetch = OffsetFetchRequest::default().with_group_id(group()).with_topics(None);
    let r: OffsetFetchResponse = a.call(ApiKey::OffsetFetch, 7, &fetch).await;
    assert_eq!(r.topics[0].partitions[0].committed_offset, 17);
    broker.stop().await;
}

#[tokio::test]
async fn committed_offsets_round_trip_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let spec = TopicSpec { name: "orders".into(), partitions: 2, configs: BTreeMap::new() };
    broker.storage.create_topic(spec).unwrap();
    let mut c = RawClient::connect(broker.addr).await;

    // A simple consumer: generation -1, no member id.
    let partitions = [(0, 42, "checkpoint"), (1, 7, ""), (9, 1, "")]
        .map(|(index, offset, metadata)| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(index)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s(metadata)))
        })
        .to_vec();
    let topic = OffsetCommitRequestTopic::default()
        .with_name(TopicName(s("orders")))
        .with_partitions(partitions);
    let commit = OffsetCommitRequest::default()
        .with_group_id(group())
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![topic]);
    let r: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 2, &commit).await;
    let codes: Vec<i16> = r.topics[0].partitions.iter().map(|p| p.error_code).collect();
    assert_eq!(codes, [0, 0, ResponseError::UnknownTopicOrPartition.code()]);

    let listed: ListGroupsResponse =
        c.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default()).await;
    let states: Vec<(&str, &str)> =
        listed.groups.iter().map(|g| (&*g.group_id.0, &*g.group_state)).collect();
    assert_eq!(states, [(GROUP, "Empty")]);
    broker.stop().await;

    let broker = TestBroker::start(dir.path(), BrokerOptions::default()).await;
    let mut c = RawClient::connect(broker.addr).await;
    // v8, the batched form: null topics means every committed partition.
    let all = OffsetFetchRequestGroup::default().with_group_id(group()).with_topics(None);
    let fetch = OffsetFetchRequest::default().with_groups(vec![all]);
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 8, &fetch).await;
    let found: Vec<(i32, i64, String)> = r.groups[0].topics[0]
        .partitions
        .iter()
        .map(|p| {
            (p.partition_index, p.committed_offset, p.metadata.as_deref().unwrap_or("?").into())
        })
        .collect();
    assert_eq!(found, [(0, 42, "checkpoint".into()), (1, 7, String::new())]);
    // v1, the old form, with a partition nothing was committed for.
    let asked = OffsetFetchRequestTopic::default()
        .with_name(TopicName(s("orders")))
        .with_partition_indexes(vec![1, 0]);
    let fetch = OffsetFetchRequest::default().with_group_id(group()).with_topics(Some(vec![asked]));
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 1, &fetch).await;
    let offsets: Vec<i64> = r.topics[0].partitions.iter().map(|p| p.committed_offset).collect();
    assert_eq!(offsets, [7, 42]);
    let other = OffsetFetchRequest::default().with_group_id(GroupId(s("nobody"))).with_topics(None);
    let r: OffsetFetchResponse = c.call(ApiKey::OffsetFetch, 5, &other).await;
    assert!(r.topics.is_empty());
    broker.stop().await;
}
