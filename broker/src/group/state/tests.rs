//! The group state machine driven with made-up instants: no sleeping, no runtime.

use super::*;
use crate::group::types::{MemberIdentity, Protocol, SyncRequest};

const SESSION: Duration = Duration::from_secs(10);
const REBALANCE: Duration = Duration::from_secs(30);
const DELAY: Duration = Duration::from_millis(300);

type Answer<T> = oneshot::Receiver<Result<T, GroupError>>;

fn join_request(member_id: &str, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member_id.into(),
        group_instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: SESSION,
        rebalance_timeout: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|n| Protocol { name: (*n).into(), metadata: Bytes::from(format!("{n}-meta")) })
            .collect(),
        require_known_member_id: true,
    }
}

fn sync_request(member_id: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncRequest {
    SyncRequest {
        group_id: "g".into(),
        member_id: member_id.into(),
        group_instance_id: None,
        generation_id: generation,
        protocol_type: None,
        protocol_name: None,
        assignments: assignments
            .iter()
            .map(|(m, a)| ((*m).into(), Bytes::copy_from_slice(a.as_bytes())))
            .collect(),
    }
}

fn who(member_id: &str) -> MemberIdentity {
    MemberIdentity { member_id: member_id.into(), group_instance_id: None }
}

fn now_answer<T: std::fmt::Debug>(outcome: Outcome<T>) -> Result<T, GroupError> {
    match outcome {
        Outcome::Ready(answer) => answer,
        Outcome::Waiting(_) => panic!("expected an answer at once"),
    }
}

fn parked<T: std::fmt::Debug>(outcome: Outcome<T>) -> Answer<T> {
    match outcome {
        Outcome::Waiting(receiver) => receiver,
        Outcome::Ready(answer) => panic!("expected to wait, got {answer:?}"),
    }
}

/// The answer sent to a parked request, if any yet.
fn answered<T>(receiver: &mut Answer<T>) -> Option<Result<T, GroupError>> {
    receiver.try_recv().ok()
}

/// A new member joining the v4 way: MEMBER_ID_REQUIRED, then again with its id.
fn join_new(g: &mut Group, protocols: &[&str], now: Instant) -> (String, Answer<JoinResponse>) {
    let Err(GroupError::MemberIdRequired(id)) =
        now_answer(g.join(join_request("", protocols), now))
    else {
        panic!("a new member must be asked to rejoin with an id");
    };
    let answer = parked(g.join(join_request(&id, protocols), now));
    (id, answer)
}

/// Ticks at each deadline until the join phase ends; returns when it did.
fn finish_join(g: &mut Group) -> Instant {
    for _ in 0..10 {
        let due = g.next_deadline().expect("a join phase has a deadline");
        g.tick(due);
        if g.state != GroupState::PreparingRebalance {
            return due;
        }
    }
    panic!("the join phase did not end");
}

/// A Stable group of `n` members that joined together at `t`; ids leader first,
/// each assigned `to-{index}`. Returns the group, the ids and when it got stable.
fn stable(n: usize, t: Instant) -> (Group, Vec<String>, Instant) {
    let mut g = Group::new("g".into(), DELAY);
    let mut joins: Vec<_> = (0..n).map(|_| join_new(&mut g, &["range"], t)).collect();
    let done = finish_join(&mut g);
    let answers: Vec<JoinResponse> =
        joins.iter_mut().map(|(_, a)| answered(a).unwrap().unwrap()).collect();
    let leader = answers[0].leader.clone();
    let mut ids: Vec<String> = joins.into_iter().map(|(id, _)| id).collect();
    ids.sort_by_key(|id| *id != leader);
    let plan: Vec<(String, String)> =
        ids.iter().enumerate().map(|(i, id)| (id.clone(), format!("to-{i}"))).collect();
    let plan: Vec<(&str, &str)> = plan.iter().map(|(m, a)| (m.as_str(), a.as_str())).collect();
    let mut syncs: Vec<_> =
        ids[1..].iter().map(|id| parked(g.sync(sync_request(id, 1, &[]), done))).collect();
    syncs.push(parked(g.sync(sync_request(&leader, 1, &plan), done)));
    for sync in &mut syncs {
        answered(sync).expect("answered once the leader synced").unwrap();
    }
    assert_eq!(g.state, GroupState::Stable);
    (g, ids, done)
}

#[test]
fn a_lone_first_member_is_answered_after_the_initial_delay_not_a_session() {
    let (t, mut g) = (Instant::now(), Group::new("g".into(), DELAY));
    let (id, mut answer) = join_new(&mut g, &["range"], t);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.next_deadline(), Some(t + DELAY));
    g.tick(t + DELAY / 2);
    assert!(answered(&mut answer).is_none());
    g.tick(t + DELAY);
    let joined = answered(&mut answer).unwrap().unwrap();
    assert_eq!((joined.generation_id, joined.leader.as_str()), (1, id.as_str()));
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members[0].metadata, Bytes::from("range-meta"));
    let mut sync = parked(g.sync(sync_request(&id, 1, &[(&id, "mine")]), t + DELAY));
    assert_eq!(answered(&mut sync).unwrap().unwrap().assignment, Bytes::from("mine"));
    assert_eq!(g.state, GroupState::Stable);
    assert!(g.heartbeat(&who(&id), 1, t + DELAY).is_ok());
}

#[test]
fn before_v4_a_new_member_gets_its_id_in_the_join_answer() {
    let (t, mut g) = (Instant::now(), Group::new("g".into(), DELAY));
    let request = JoinRequest { require_known_member_id: false, ..join_request("", &["range"]) };
    let mut answer = parked(g.join(request, t));
    g.tick(t + DELAY);
    let joined = answered(&mut answer).unwrap().unwrap();
    assert!(joined.member_id.starts_with("client-"), "{}", joined.member_id);
    assert_eq!(joined.leader, joined.member_id);
}

#[test]
fn three_members_share_a_generation_and_rebalance_when_one_leaves() {
    let t = Instant::now();
    let (mut g, ids, t) = stable(3, t);
    let [a, b, c] = [&ids[0], &ids[1], &ids[2]];
    assert_eq!(g.generation, 1);
    assert_eq!(g.describe().members.len(), 3);
    let assigned = |g: &Group, id: &str| g.members[id].assignment.clone();
    assert_eq!(assigned(&g, c), Bytes::from("to-2"));

    assert!(g.leave(&who(c), t).is_ok());
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert!(matches!(g.heartbeat(&who(a), 1, t), Err(GroupError::RebalanceInProgress)));
    assert!(matches!(g.heartbeat(&who(c), 1, t), Err(GroupError::UnknownMemberId)));
    assert!(matches!(
        now_answer(g.sync(sync_request(b, 1, &[]), t)),
        Err(GroupError::RebalanceInProgress)
    ));
    let mut rejoin_a = parked(g.join(join_request(a, &["range"]), t));
    assert!(answered(&mut rejoin_a).is_none(), "b has not rejoined yet");
    let mut rejoin_b = parked(g.join(join_request(b, &["range"]), t));
    // Everyone known rejoined: no waiting for the rebalance timeout.
    let (ja, jb) =
        (answered(&mut rejoin_a).unwrap().unwrap(), answered(&mut rejoin_b).unwrap().unwrap());
    assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
    assert_eq!((ja.members.len(), jb.members.len()), (2, 0), "only the leader sees members");
    assert!(matches!(
        now_answer(g.sync(sync_request(b, 1, &[]), t)),
        Err(GroupError::IllegalGeneration { given: 1, current: 2 })
    ));
    assert!(matches!(g.heartbeat(&who(b), 2, t), Ok(())), "heartbeats are fine before sync");
}

#[test]
fn a_silent_member_is_expired_and_the_others_take_over() {
    let t = Instant::now();
    let (mut g, ids, t) = stable(3, t);
    let later = t + SESSION / 2;
    for id in &ids[..2] {
        g.heartbeat(&who(id), 1, later).unwrap();
    }
    g.tick(t + SESSION - Duration::from_millis(1));
    assert_eq!(g.state, GroupState::Stable);
    g.tick(t + SESSION);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert!(!g.members.contains_key(&ids[2]));
    let mut answers: Vec<_> = ids[..2]
        .iter()
        .map(|id| parked(g.join(join_request(id, &["range"]), t + SESSION)))
        .collect();
    let joined = answered(&mut answers[0]).unwrap().unwrap();
    assert_eq!((joined.generation_id, joined.members.len()), (2, 2));
}

#[test]
fn the_rebalance_timeout_drops_members_that_do_not_rejoin() {
    let t = Instant::now();
    let (mut g, ids, t) = stable(2, t);
    let (a, b) = (&ids[0], &ids[1]);
    // The leader's JoinGroup starts a rebalance; b keeps heartbeating but never rejoins.
    let mut rejoin = parked(g.join(join_request(a, &["range"]), t));
    for s in (5..30).step_by(5) {
        let at = t + Duration::from_secs(s);
        assert!(matches!(g.heartbeat(&who(b), 1, at), Err(GroupError::RebalanceInProgress)));
        g.tick(at);
        assert!(answered(&mut rejoin).is_none());
    }
    g.tick(t + REBALANCE);
    let joined = answered(&mut rejoin).unwrap().unwrap();
    assert_eq!((joined.generation_id, joined.members.len()), (2, 1));
    assert!(matches!(g.heartbeat(&who(b), 2, t + REBALANCE), Err(GroupError::UnknownMemberId)));
}

#[test]
fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
    let (t, mut g) = (Instant::now(), Group::new("g".into(), DELAY));
    let (a, mut ja) = join_new(&mut g, &["range"], t);
    let (b, _) = join_new(&mut g, &["range"], t);
    let done = finish_join(&mut g);
    let leader = answered(&mut ja).unwrap().unwrap().leader;
    let follower = if leader == a { &b } else { &a };
    let mut waiting = parked(g.sync(sync_request(follower, 1, &[]), done));
    // The leader stays alive, so only the sync timeout can remove it.
    for s in [8, 16, 24] {
        g.heartbeat(&who(&leader), 1, done + Duration::from_secs(s)).unwrap();
        g.tick(done + Duration::from_secs(s));
    }
    assert!(g.members.contains_key(&leader));
    g.tick(done + REBALANCE);
    assert!(!g.members.contains_key(&leader), "the leader never sent SyncGroup");
    assert!(matches!(answered(&mut waiting), Some(Err(GroupError::RebalanceInProgress))));
    assert_eq!(g.state, GroupState::PreparingRebalance);
}

#[test]
fn errors_are_the_ones_kafka_uses() {
    let t = Instant::now();
    let (mut g, ids, t) = stable(2, t);
    let a = &ids[0];
    assert!(matches!(g.heartbeat(&who("stranger"), 1, t), Err(GroupError::UnknownMemberId)));
    assert!(matches!(g.heartbeat(&who(a), 7, t), Err(GroupError::IllegalGeneration { .. })));
    let joined = now_answer(g.join(join_request("stranger", &["range"]), t));
    assert!(matches!(joined, Err(GroupError::UnknownMemberId)));
    let wrong = SyncRequest { protocol_name: Some("roundrobin".into()), ..sync_request(a, 1, &[]) };
    assert!(matches!(now_answer(g.sync(wrong, t)), Err(GroupError::InconsistentGroupProtocol)));
    // In Stable, a follower's sync is answered from the stored assignment.
    let synced = now_answer(g.sync(sync_request(&ids[1], 1, &[]), t)).unwrap();
    assert_eq!(synced.assignment, Bytes::from("to-1"));
}

#[test]
fn protocols_must_fit_and_the_leaders_preference_wins() {
    let (t, mut g) = (Instant::now(), Group::new("g".into(), DELAY));
    let (_, mut ja) = join_new(&mut g, &["roundrobin", "range"], t);
    let _b = join_new(&mut g, &["range", "roundrobin"], t);
    for bad in [join_request("", &["sticky"]), join_request("", &[])] {
        assert!(matches!(now_answer(g.join(bad, t)), Err(GroupError::InconsistentGroupProtocol)));
    }
    let connect = JoinRequest { protocol_type: "connect".into(), ..join_request("", &["range"]) };
    assert!(matches!(now_answer(g.join(connect, t)), Err(GroupError::InconsistentGroupProtocol)));
    finish_join(&mut g);
    let joined = answered(&mut ja).unwrap().unwrap();
    assert_eq!(joined.protocol_name.as_deref(), Some("roundrobin"));
    assert!(joined.members.iter().all(|m| m.metadata == "roundrobin-meta"));
}

#[test]
fn an_unused_member_id_lapses_and_leaves_the_group_idle() {
    let (t, mut g) = (Instant::now(), Group::new("g".into(), DELAY));
    let Err(GroupError::MemberIdRequired(id)) = now_answer(g.join(join_request("", &["range"]), t))
    else {
        panic!("expected MEMBER_ID_REQUIRED");
    };
    assert!(!g.is_idle());
    g.tick(t + SESSION);
    assert!(g.is_idle());
    assert!(matches!(
        now_answer(g.join(join_request(&id, &["range"]), t + SESSION)),
        Err(GroupError::UnknownMemberId)
    ));
}

#[test]
fn commits_are_checked_like_kafka() {
    let t = Instant::now();
    let mut empty = Group::new("g".into(), DELAY);
    assert!(empty.check_commit(&who(""), -1, t).is_ok(), "a simple consumer");
    let (mut g, ids, t) = stable(2, t);
    assert!(matches!(g.check_commit(&who(""), -1, t), Err(GroupError::UnknownMemberId)));
    assert!(matches!(
        g.check_commit(&who(&ids[0]), 0, t),
        Err(GroupError::IllegalGeneration { .. })
    ));
    assert!(g.check_commit(&who(&ids[1]), 1, t).is_ok());
    let _rejoin = g.join(join_request(&ids[0], &["range"]), t);
    assert!(g.check_commit(&who(&ids[1]), 1, t).is_ok(), "allowed while preparing");
    let _rejoin = g.join(join_request(&ids[1], &["range"]), t);
    assert_eq!(g.state, GroupState::CompletingRebalance);
    assert!(matches!(g.check_commit(&who(&ids[1]), 2, t), Err(GroupError::RebalanceInProgress)));
}

#[test]
fn static_members_skip_member_id_required_and_fence_their_old_selves() {
    let (t, mut g) = (Instant::now(), Group::new("g".into(), DELAY));
    let instance = |member: &str| JoinRequest {
        group_instance_id: Some("pod-1".into()),
        ..join_request(member, &["range"])
    };
    let mut first = parked(g.join(instance(""), t));
    let done = finish_join(&mut g);
    let old = answered(&mut first).unwrap().unwrap().member_id;
    assert!(old.starts_with("pod-1-"), "{old}");
    let mut second = parked(g.join(instance(""), done));
    let stale = MemberIdentity { member_id: old.clone(), group_instance_id: Some("pod-1".into()) };
    assert!(matches!(g.heartbeat(&stale, 1, done), Err(GroupError::FencedInstanceId)));
    // Before the group got stable, the rejoin is a rebalance (the old member
    // was perhaps already handed to the leader under its old id), which
    // completes at once: every member has joined it.
    let new = answered(&mut second).unwrap().unwrap();
    assert_ne!(new.member_id, old);
    assert_eq!((new.generation_id, new.leader.as_str()), (2, new.member_id.as_str()));
    let by_instance =
        MemberIdentity { member_id: String::new(), group_instance_id: Some("pod-1".into()) };
    assert!(g.leave(&by_instance, done).is_ok());
    assert_eq!(g.state, GroupState::Empty);
}

#[test]
fn a_static_member_back_in_a_stable_group_gets_its_assignment_without_a_rebalance() {
    let (t, mut g) = (Instant::now(), Group::new("g".into(), DELAY));
    let static_join = |member: &str| JoinRequest {
        group_instance_id: Some("pod-1".into()),
        ..join_request(member, &["range"])
    };
    let mut first = parked(g.join(static_join(""), t));
    let (other, mut other_join) = join_new(&mut g, &["range"], t);
    let done = finish_join(&mut g);
    let leader = answered(&mut first).unwrap().unwrap();
    let old = leader.member_id.clone();
    assert_eq!(leader.leader, old, "the first to join leads");
    answered(&mut other_join).unwrap().unwrap();
    let mut other_sync = parked(g.sync(sync_request(&other, 1, &[]), done));
    let plan = [(old.as_str(), "p0"), (other.as_str(), "p1")];
    let mut leader_sync = parked(g.sync(sync_request(&old, 1, &plan), done));
    answered(&mut leader_sync).unwrap().unwrap();
    answered(&mut other_sync).unwrap().unwrap();
    assert_eq!(g.state, GroupState::Stable);

    // The static member restarts: a new id at once, the same generation, the
    // old leader id (so it syncs as a follower), and its assignment back.
    let back = now_answer(g.join(static_join(""), done)).unwrap();
    assert_ne!(back.member_id, old);
    assert_eq!((back.generation_id, back.leader.as_str()), (1, old.as_str()));
    assert!(back.members.is_empty());
    assert_eq!(g.state, GroupState::Stable, "no rebalance");
    let mut sync = SyncRequest {
        group_instance_id: Some("pod-1".into()),
        ..sync_request(&back.member_id, 1, &[])
    };
    sync.assignments.clear();
    let synced = now_answer(g.sync(sync, done)).unwrap();
    assert_eq!(synced.assignment, Bytes::from("p0"));
    assert!(g.heartbeat(&who(&other), 1, done).is_ok(), "the other member is undisturbed");
    let stale = MemberIdentity { member_id: old.clone(), group_instance_id: Some("pod-1".into()) };
    assert!(matches!(g.heartbeat(&stale, 1, done), Err(GroupError::FencedInstanceId)));
    // It leads the next generation under its new id.
    let (_third, _third_join) = join_new(&mut g, &["range"], done);
    let _rejoin = parked(g.join(join_request(&other, &["range"]), done));
    let mut again = parked(g.join(static_join(&back.member_id), done));
    finish_join(&mut g);
    let next = answered(&mut again).unwrap().unwrap();
    assert_eq!((next.generation_id, next.leader.as_str()), (2, back.member_id.as_str()));
}

#[test]
fn shutting_down_answers_parked_requests() {
    let (t, mut g) = (Instant::now(), Group::new("g".into(), DELAY));
    let (_, mut answer) = join_new(&mut g, &["range"], t);
    g.shut_down();
    assert!(matches!(answered(&mut answer), Some(Err(GroupError::CoordinatorNotAvailable))));
    assert_eq!(g.describe().state, GroupState::Dead);
    let late = now_answer(g.join(join_request("", &["range"]), t));
    assert!(matches!(late, Err(GroupError::CoordinatorNotAvailable)));
}

#[test]
fn describe_shows_assignments_only_when_stable() {
    let t = Instant::now();
    let (mut g, ids, t) = stable(2, t);
    let described = g.describe();
    assert_eq!((described.state, described.protocol.as_str()), (GroupState::Stable, "range"));
    assert_eq!(described.members[0].metadata, Bytes::from("range-meta"));
    assert_eq!(g.listing().protocol_type, "consumer");
    g.leave(&who(&ids[1]), t).unwrap();
    let described = g.describe();
    assert_eq!(
        (described.state, described.protocol.as_str()),
        (GroupState::PreparingRebalance, "")
    );
    assert!(described.members.iter().all(|m| m.assignment.is_empty() && m.metadata.is_empty()));
}
