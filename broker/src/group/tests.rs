//! The coordinator end to end over real storage, on tokio's paused clock: the
//! timer task fires delays and session timeouts as time auto-advances.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::storage::StorageOptions;
use crate::topic::TopicSpec;

const SESSION: Duration = Duration::from_secs(6);

fn open() -> (tempfile::TempDir, Arc<Storage>, Arc<GroupCoordinator>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
    let spec = TopicSpec { name: "orders".into(), partitions: 2, configs: BTreeMap::new() };
    storage.create_topic(spec).unwrap();
    let coordinator =
        GroupCoordinator::open(Arc::clone(&storage), GroupOptions::default()).unwrap();
    (dir, storage, Arc::new(coordinator))
}

fn join_request(member_id: &str) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member_id.into(),
        group_instance_id: None,
        client_id: "test".into(),
        client_host: String::new(),
        session_timeout: SESSION,
        rebalance_timeout: Duration::from_secs(20),
        protocol_type: "consumer".into(),
        protocols: vec![Protocol { name: "range".into(), metadata: Bytes::from_static(b"m") }],
        require_known_member_id: true,
    }
}

fn member(id: &str) -> MemberIdentity {
    MemberIdentity { member_id: id.into(), group_instance_id: None }
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition { topic: topic.into(), partition }
}

fn offset(offset: i64, metadata: &str) -> OffsetAndMetadata {
    OffsetAndMetadata { offset, leader_epoch: None, metadata: metadata.into(), commit_timestamp: 0 }
}

/// Joins a new member (MEMBER_ID_REQUIRED first) and waits for the join phase.
async fn join(coordinator: &GroupCoordinator) -> JoinResponse {
    let Err(GroupError::MemberIdRequired(id)) = coordinator.join(join_request("")).await else {
        panic!("expected MEMBER_ID_REQUIRED");
    };
    coordinator.join(join_request(&id)).await.unwrap()
}

fn sync_request(member_id: &str, generation: i32, assignment: &[u8]) -> SyncRequest {
    SyncRequest {
        group_id: "g".into(),
        member_id: member_id.into(),
        group_instance_id: None,
        generation_id: generation,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: vec![(member_id.into(), Bytes::copy_from_slice(assignment))],
    }
}

#[tokio::test(start_paused = true)]
async fn join_sync_commit_and_fetch() {
    let (_dir, _storage, coordinator) = open();
    let started = tokio::time::Instant::now();
    let joined = join(&coordinator).await;
    assert!(started.elapsed() < SESSION / 2, "the first join waits only the initial delay");
    assert_eq!((joined.generation_id, &joined.leader), (1, &joined.member_id));
    let id = joined.member_id;
    let synced = coordinator.sync(sync_request(&id, 1, b"all")).await.unwrap();
    assert_eq!(synced.assignment, Bytes::from_static(b"all"));
    coordinator.heartbeat("g", &member(&id), 1).unwrap();

    let offsets = vec![
        (tp("orders", 0), offset(10, "m")),
        (tp("orders", 7), offset(1, "")),
        (tp("orders", 1), offset(2, &"x".repeat(5000))),
    ];
    let answers = coordinator.commit_offsets("g", 1, &member(&id), offsets).await.unwrap();
    assert!(answers[0].1.is_ok());
    assert!(matches!(answers[1].1, Err(GroupError::UnknownTopicOrPartition)));
    assert!(matches!(answers[2].1, Err(GroupError::OffsetMetadataTooLarge { .. })));
    let stale = coordinator.commit_offsets("g", 0, &member(&id), vec![]).await;
    assert!(matches!(stale, Err(GroupError::IllegalGeneration { .. })));

    let fetched = coordinator.fetch_offsets("g", Some(&[tp("orders", 0), tp("orders", 1)]));
    assert_eq!(fetched[0].1.as_ref().map(|o| (o.offset, o.metadata.as_str())), Some((10, "m")));
    assert!(fetched[0].1.as_ref().unwrap().commit_timestamp > 0, "set by the coordinator");
    assert_eq!(fetched[1].1, None);
    assert_eq!(coordinator.fetch_offsets("g", None).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_silent_member_expires_and_the_other_rejoins_alone() {
    let (_dir, _storage, coordinator) = open();
    let (a, b) = tokio::join!(join(&coordinator), join(&coordinator));
    assert_eq!((a.generation_id, b.generation_id), (1, 1), "both joined within the delay");
    let (leader, follower) = if a.leader == a.member_id { (a, b) } else { (b, a) };
    let plan = SyncRequest {
        assignments: vec![
            (leader.member_id.clone(), Bytes::from_static(b"p0")),
            (follower.member_id.clone(), Bytes::from_static(b"p1")),
        ],
        ..sync_request(&leader.member_id, 1, b"")
    };
    let (s1, s2) = tokio::join!(
        coordinator.sync(plan),
        coordinator.sync(sync_request(&follower.member_id, 1, b""))
    );
    assert_eq!(
        (s1.unwrap().assignment, s2.unwrap().assignment),
        (Bytes::from("p0"), Bytes::from("p1"))
    );

    // The leader heartbeats every 2 s; the follower is silent and times out.
    let mut told_to_rejoin = false;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        match coordinator.heartbeat("g", &member(&leader.member_id), 1) {
            Ok(()) => {}
            Err(GroupError::RebalanceInProgress) => {
                told_to_rejoin = true;
                break;
            }
            Err(e) => panic!("unexpected heartbeat answer {e}"),
        }
    }
    assert!(told_to_rejoin);
    let rejoined = coordinator.join(join_request(&leader.member_id)).await.unwrap();
    assert_eq!((rejoined.generation_id, rejoined.members.len()), (2, 1));
    assert_eq!(coordinator.describe_group("g").state, GroupState::CompletingRebalance);
}

#[tokio::test(start_paused = true)]
async fn requests_the_coordinator_refuses() {
    let (_dir, _storage, coordinator) = open();
    let short = JoinRequest { session_timeout: Duration::from_secs(1), ..join_request("") };
    assert!(matches!(coordinator.join(short).await, Err(GroupError::InvalidSessionTimeout(1000))));
    let unnamed = JoinRequest { group_id: String::new(), ..join_request("") };
    assert!(matches!(coordinator.join(unnamed).await, Err(GroupError::InvalidGroupId)));
    assert!(matches!(
        coordinator.join(join_request("ghost")).await,
        Err(GroupError::UnknownMemberId)
    ));
    assert!(matches!(
        coordinator.sync(sync_request("ghost", 1, b"")).await,
        Err(GroupError::UnknownMemberId)
    ));
    assert!(matches!(
        coordinator.heartbeat("g", &member("ghost"), 1),
        Err(GroupError::UnknownMemberId)
    ));
    let left = coordinator.leave("g", &[member("ghost")]).unwrap();
    assert!(matches!(left[..], [Err(GroupError::UnknownMemberId)]));
}

#[tokio::test(start_paused = true)]
async fn simple_consumers_commit_and_groups_are_listed_and_deleted() {
    let (_dir, _storage, coordinator) = open();
    let commit = vec![(tp("orders", 1), offset(3, ""))];
    let done = coordinator.commit_offsets("simple", -1, &member(""), commit.clone()).await.unwrap();
    assert!(done[0].1.is_ok());
    let stale = coordinator.commit_offsets("other", 4, &member("m"), commit).await;
    assert!(matches!(stale, Err(GroupError::IllegalGeneration { .. })));
    let listed = coordinator.list_groups();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].group_id.as_str(), listed[0].state), ("simple", GroupState::Empty));
    assert_eq!(coordinator.describe_group("simple").state, GroupState::Empty);
    assert_eq!(coordinator.describe_group("nobody").state, GroupState::Dead);

    coordinator.delete_group("simple").unwrap();
    assert_eq!(coordinator.describe_group("simple").state, GroupState::Dead);
    assert!(coordinator.fetch_offsets("simple", None).is_empty());
    assert!(matches!(coordinator.delete_group("simple"), Err(GroupError::GroupIdNotFound)));
    join(&coordinator).await;
    assert!(matches!(coordinator.delete_group("g"), Err(GroupError::NonEmptyGroup)));
}

#[tokio::test(start_paused = true)]
async fn shutdown_answers_parked_joins_and_refuses_later_calls() {
    let (_dir, _storage, coordinator) = open();
    let Err(GroupError::MemberIdRequired(id)) = coordinator.join(join_request("")).await else {
        panic!("expected MEMBER_ID_REQUIRED");
    };
    let parked = {
        let coordinator = Arc::clone(&coordinator);
        tokio::spawn(async move { coordinator.join(join_request(&id)).await })
    };
    tokio::task::yield_now().await;
    coordinator.shutdown();
    assert!(matches!(parked.await.unwrap(), Err(GroupError::CoordinatorNotAvailable)));
    assert!(matches!(
        coordinator.join(join_request("")).await,
        Err(GroupError::CoordinatorNotAvailable)
    ));
}

#[tokio::test(start_paused = true)]
async fn lag_trails_the_log_end_and_resets_wait_for_an_empty_group() {
    let (_dir, storage, coordinator) = open();
    let mut batch = crate::log::record::BatchBuilder::new(0, crate::log::record::Compression::None);
    for _ in 0..5 {
        batch.push(0, None, Some(b"v"), &[]);
    }
    storage.partition("orders", 1).unwrap().append(&batch.build().unwrap()).unwrap();

    let answers = coordinator.reset_offsets("g", vec![(tp("orders", 1), 2)]).await.unwrap();
    assert!(answers.iter().all(|(_, a)| a.is_ok()), "{answers:?}");
    let lag = coordinator.lag("g");
    assert_eq!(lag.len(), 1);
    assert_eq!((lag[0].committed.offset, lag[0].log_end_offset, lag[0].lag), (2, Some(5), Some(3)));
    let unknown = coordinator.reset_offsets("g", vec![(tp("nope", 0), 0)]).await.unwrap();
    assert!(matches!(unknown[0].1, Err(GroupError::UnknownTopicOrPartition)));

    let joined = join(&coordinator).await;
    let refused = coordinator.reset_offsets("g", vec![(tp("orders", 1), 0)]).await;
    assert!(matches!(refused, Err(GroupError::NonEmptyGroup)), "{refused:?}");
    assert_eq!(coordinator.lag("g")[0].committed.offset, 2);

    let left = coordinator.leave("g", &[member(&joined.member_id)]).unwrap();
    assert!(left.iter().all(Result::is_ok));
    storage.delete_topic("orders").unwrap();
    let lag = coordinator.lag("g");
    assert_eq!((lag[0].log_end_offset, lag[0].lag), (None, None), "its topic is gone");
}

#[tokio::test(start_paused = true)]
async fn an_emptied_consumer_group_is_still_listed_as_a_consumer_group() {
    let (_dir, _storage, coordinator) = open();
    let joined = join(&coordinator).await;
    let id = joined.member_id;
    coordinator.sync(sync_request(&id, 1, b"all")).await.unwrap();
    let offsets = vec![(tp("orders", 0), offset(5, ""))];
    coordinator.commit_offsets("g", 1, &member(&id), offsets).await.unwrap();
    coordinator.leave("g", &[member(&id)]).unwrap();
    // Let the timer forget the idle group: only its offsets are left.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!coordinator.shared.groups.lock().contains_key("g"), "the idle group is forgotten");
    let listed = coordinator.list_groups();
    let g: Vec<_> =
        listed.iter().map(|l| (l.group_id.as_str(), l.protocol_type.as_str(), l.state)).collect();
    assert_eq!(g, [("g", "consumer", GroupState::Empty)]);
    assert_eq!(coordinator.describe_group("g").protocol_type, "consumer");
    // A simple consumer's group never had a protocol type.
    let commit = vec![(tp("orders", 1), offset(3, ""))];
    coordinator.commit_offsets("simple", -1, &member(""), commit).await.unwrap();
    assert_eq!(coordinator.list_groups()[1].protocol_type, "");
    // Deleted, and recreated as a simple group, it has none either.
    coordinator.delete_group("g").unwrap();
    coordinator
        .commit_offsets("g", -1, &member(""), vec![(tp("orders", 0), offset(1, ""))])
        .await
        .unwrap();
    assert_eq!(coordinator.describe_group("g").protocol_type, "");
}
