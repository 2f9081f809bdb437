//! One group's state machine, after Kafka's classic GroupCoordinator.
//!
//! ```text
//!            join (new member, leader, changed metadata)
//!   Empty ─────────────────────────────────────────────► PreparingRebalance
//!     ▲                                                    │ every member rejoined,
//!     │ last member gone                                   │ or the rebalance timeout
//!     │                                                    ▼
//!   (join completes with no one) ◄──────────────── CompletingRebalance
//!                                                          │ leader's SyncGroup
//!     PreparingRebalance ◄── join / leave / expiry ──     ▼
//!                                                       Stable
//! ```
//!
//! Everything here is synchronous and takes the current time as an argument, so the
//! tests drive it with made-up instants. Requests that must wait (JoinGroup until
//! the join phase completes, SyncGroup until the leader's assignment) get an
//! [`Outcome::Waiting`] receiver; the member keeps the sender. The coordinator
//! calls [`Group::tick`] when [`Group::next_deadline`] passes: session timeouts,
//! the initial delay, the rebalance timeout and the sync timeout all fire there.
//!
//! This file holds the join phase; `lifecycle` what follows it (SyncGroup,
//! heartbeats, leaving, commit checks, timers, shutdown, views).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;
use tracing::{debug, info};

use super::GroupError;
use super::member::{Member, new_member_id};
use super::types::{GroupState, JoinRequest, JoinResponse, JoinedMember};

/// An answer now, or a receiver for the answer that comes when the group moves on.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The answer.
    Ready(Result<T, GroupError>),
    /// The answer will be sent here.
    Waiting(oneshot::Receiver<Result<T, GroupError>>),
}

fn ready<T>(answer: Result<T, GroupError>) -> Outcome<T> {
    Outcome::Ready(answer)
}

/// The join phase of a rebalance (state PreparingRebalance).
#[derive(Debug)]
struct JoinPhase {
    /// When the phase completes with whoever has rejoined (the rebalance timeout).
    deadline: Instant,
    /// For a group that was empty: not before this, so members starting together
    /// land in one generation (Kafka: group.initial.rebalance.delay.ms).
    delay_until: Option<Instant>,
    /// A member joined during the current delay, which extends it once more.
    new_member_added: bool,
}

/// A consumer group and its members.
#[derive(Debug)]
pub struct Group {
    /// The group's id.
    id: String,
    /// Where it is in the rebalance cycle.
    state: GroupState,
    /// Bumped each time a join phase completes.
    generation: i32,
    /// The class of protocols its members speak (`consumer`).
    protocol_type: Option<String>,
    /// The protocol selected for the current generation.
    protocol: Option<String>,
    /// The member that computes the assignment.
    leader: Option<String>,
    /// Members by id.
    members: BTreeMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, with the time they lapse if unused.
    pending: HashMap<String, Instant>,
    /// The join phase, while PreparingRebalance.
    join: Option<JoinPhase>,
    /// When members that joined but have not sent SyncGroup are removed.
    sync_deadline: Option<Instant>,
    /// The coordinator's initial rebalance delay.
    initial_delay: Duration,
}

impl Group {
    /// A new, empty group.
    pub fn new(id: String, initial_delay: Duration) -> Group {
        Group {
            id,
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            join: None,
            sync_deadline: None,
            initial_delay,
        }
    }

    /// Where the group is in the rebalance cycle.
    pub fn state(&self) -> GroupState {
        self.state
    }

    /// True when nothing but its offsets (kept elsewhere) would be lost by forgetting it.
    pub fn is_idle(&self) -> bool {
        self.state == GroupState::Empty && self.pending.is_empty()
    }

    /// JoinGroup.
    pub fn join(&mut self, request: JoinRequest, now: Instant) -> Outcome<JoinResponse> {
        if self.state == GroupState::Dead {
            return ready(Err(GroupError::CoordinatorNotAvailable));
        }
        if !self.supports(&request) {
            return ready(Err(GroupError::InconsistentGroupProtocol));
        }
        if request.member_id.is_empty() {
            return self.join_new(request, now);
        }
        if self.pending.remove(&request.member_id).is_some() {
            return self.add_member(request.member_id.clone(), request, now);
        }
        let instance = request.group_instance_id.as_deref();
        if self.fenced(&request.member_id, instance) {
            return ready(Err(GroupError::FencedInstanceId));
        }
        let is_leader = self.leader.as_deref() == Some(&request.member_id);
        let Some(member) = self.members.get_mut(&request.member_id) else {
            return ready(Err(GroupError::UnknownMemberId));
        };
        if instance.is_some() && member.instance_id.as_deref() != instance {
            return ready(Err(GroupError::UnknownMemberId));
        }
        member.touch(now);
        let unchanged = member.matches(&request.protocols);
        match self.state {
            // Same metadata: a retry, or a follower with nothing new. Kafka answers
            // with the current generation rather than rebalancing.
            GroupState::CompletingRebalance if unchanged => {
                ready(Ok(self.join_response(&request.member_id)))
            }
            GroupState::Stable if unchanged && !is_leader => {
                ready(Ok(self.join_response(&request.member_id)))
            }
            GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
            | GroupState::Stable => self.update_member(request, now),
            GroupState::Empty | GroupState::Dead => ready(Err(GroupError::UnknownMemberId)),
        }
    }

    /// JoinGroup from a member without an id.
    fn join_new(&mut self, request: JoinRequest, now: Instant) -> Outcome<JoinResponse> {
        let id = new_member_id(request.group_instance_id.as_deref().unwrap_or(&request.client_id));
        if let Some(instance) = &request.group_instance_id {
            if let Some(old) = self.static_member(instance) {
                return self.replace_static_member(old, id, request, now);
            }
            return self.add_member(id, request, now);
        }
        if request.require_known_member_id {
            debug!(group = %self.id, member = %id, "new member must rejoin with its id");
            self.pending.insert(id.clone(), now + request.session_timeout);
            return ready(Err(GroupError::MemberIdRequired(id)));
        }
        self.add_member(id, request, now)
    }

    /// True when the joining member can be part of the group: some protocol of its
    /// own is supported by every other member, under the same protocol type.
    fn supports(&self, request: &JoinRequest) -> bool {
        if request.protocol_type.is_empty() || request.protocols.is_empty() {
            return false;
        }
        let others = || self.members.values().filter(|m| m.id != request.member_id);
        if others().next().is_none() {
            return true;
        }
        self.protocol_type.as_deref() == Some(&request.protocol_type)
            && request.protocols.iter().any(|p| others().all(|m| m.supports(&p.name)))
    }

    fn add_member(
        &mut self,
        id: String,
        request: JoinRequest,
        now: Instant,
    ) -> Outcome<JoinResponse> {
        let (reply, receiver) = oneshot::channel();
        let mut member = Member::new(id.clone(), &request, now);
        member.awaiting_join = Some(reply);
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type);
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        if let Some(phase) = &mut self.join
            && phase.delay_until.is_some()
        {
            phase.new_member_added = true;
        }
        debug!(group = %self.id, member = %id, "member added");
        self.members.insert(id, member);
        self.rebalance_or_try_complete(now);
        Outcome::Waiting(receiver)
    }

    /// A static member back under a new member id (KIP-345), typically after a
    /// restart: it takes the old id's place, assignment and leadership, and the
    /// old incarnation's parked requests are fenced. A stable group whose
    /// protocol this does not change does not rebalance: the member gets the
    /// current generation and, as leader, the old id, so that it syncs as a
    /// follower and is handed its assignment as it was.
    fn replace_static_member(
        &mut self,
        old: String,
        id: String,
        request: JoinRequest,
        now: Instant,
    ) -> Outcome<JoinResponse> {
        let mut member = self.members.remove(&old).expect("found by its instance id");
        member.answer_join(Err(GroupError::FencedInstanceId));
        member.answer_sync(Err(GroupError::FencedInstanceId));
        member.id = id.clone();
        member.client_id = request.client_id.clone();
        member.client_host = request.client_host.clone();
        member.update(&request);
        member.touch(now);
        let leader_before = self.leader.clone().unwrap_or_default();
        if leader_before == old {
            self.leader = Some(id.clone());
        }
        self.members.insert(id.clone(), member);
        info!(group = %self.id, instance = request.group_instance_id.as_deref().unwrap_or(""),
            old = %old, new = %id, state = %self.state, "static member rejoined");
        if self.state == GroupState::Stable && self.select_protocol() == self.protocol {
            let mut response = self.join_response(&id);
            (response.leader, response.members) = (leader_before, Vec::new());
            return ready(Ok(response));
        }
        let (reply, receiver) = oneshot::channel();
        self.members.get_mut(&id).expect("inserted above").awaiting_join = Some(reply);
        self.rebalance_or_try_complete(now);
        Outcome::Waiting(receiver)
    }

    fn update_member(&mut self, request: JoinRequest, now: Instant) -> Outcome<JoinResponse> {
        let (reply, receiver) = oneshot::channel();
        let member = self.members.get_mut(&request.member_id).expect("checked by join");
        member.update(&request);
        // A JoinGroup sent again while the first still waits supersedes it.
        if let Some(superseded) = member.awaiting_join.replace(reply) {
            let _ = superseded.send(Err(GroupError::RebalanceInProgress));
        }
        if self.members.len() == 1 {
            self.protocol_type = Some(request.protocol_type);
        }
        self.rebalance_or_try_complete(now);
        Outcome::Waiting(receiver)
    }

    /// After membership changed: start a rebalance, or see whether the one in
    /// progress can complete.
    fn rebalance_or_try_complete(&mut self, now: Instant) {
        match self.state {
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
            GroupState::Dead => {}
        }
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                member.answer_sync(Err(GroupError::RebalanceInProgress));
            }
        }
        self.sync_deadline = None;
        for member in self.members.values_mut() {
            member.pending_sync = false;
        }
        let timeout = self.rebalance_timeout();
        self.join = Some(if self.state == GroupState::Empty {
            JoinPhase {
                deadline: now + timeout.max(self.initial_delay),
                delay_until: Some(now + self.initial_delay),
                new_member_added: false,
            }
        } else {
            JoinPhase { deadline: now + timeout, delay_until: None, new_member_added: false }
        });
        info!(group = %self.id, generation = self.generation, members = self.members.len(),
            from = %self.state, "preparing to rebalance");
        self.state = GroupState::PreparingRebalance;
        self.try_complete_join(now);
    }

    /// The longest rebalance timeout among the members.
    fn rebalance_timeout(&self) -> Duration {
        self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or(Duration::ZERO)
    }

    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    fn try_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.all_joined();
        let Some(phase) = &mut self.join else { return };
        let deadline = phase.deadline;
        match phase.delay_until {
            Some(until) if now < until => return,
            // Someone joined during the delay: wait one more delay for others.
            Some(_) if phase.new_member_added && now < deadline => {
                phase.new_member_added = false;
                phase.delay_until = Some((now + self.initial_delay).min(deadline));
                return;
            }
            Some(_) => {}
            None if now < deadline && !all_joined => return,
            None => {}
        }
        self.complete_join(now);
    }

    /// Ends the join phase: members that did not rejoin are removed, the generation
    /// is bumped, and every parked JoinGroup is answered.
    fn complete_join(&mut self, now: Instant) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.members.remove(&id);
            info!(group = %self.id, member = %id, "removed: did not rejoin in time");
        }
        if !self.leader.as_ref().is_some_and(|l| self.members.contains_key(l)) {
            self.leader = self.members.keys().next().cloned();
        }
        self.join = None;
        self.generation += 1;
        if self.members.is_empty() {
            (self.state, self.protocol, self.leader) = (GroupState::Empty, None, None);
            info!(group = %self.id, generation = self.generation, "group is empty");
            return;
        }
        self.protocol = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        self.sync_deadline = Some(now + self.rebalance_timeout());
        info!(group = %self.id, generation = self.generation, members = self.members.len(),
            protocol = self.protocol.as_deref().unwrap_or(""), "join phase complete");
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let response = self.join_response(&id);
            let member = self.members.get_mut(&id).expect("listed above");
            member.pending_sync = true;
            member.assignment = Bytes::new();
            member.touch(now);
            member.answer_join(Ok(response));
        }
    }

    /// The first of the leader's protocols that every member supports.
    fn select_protocol(&self) -> Option<String> {
        let leader = self.members.get(self.leader.as_ref()?)?;
        let supported = |name: &String| self.members.values().all(|m| m.supports(name));
        leader.protocols.iter().map(|p| &p.name).find(|name| supported(name)).cloned()
    }

    /// The JoinGroup answer for `member_id` in the current generation.
    fn join_response(&self, member_id: &str) -> JoinResponse {
        let leader = self.leader.clone().unwrap_or_default();
        let protocol = self.protocol.as_deref().unwrap_or("");
        let members = if leader == member_id {
            let joined = |m: &Member| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol),
            };
            self.members.values().map(joined).collect()
        } else {
            Vec::new()
        };
        JoinResponse {
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader,
            member_id: member_id.to_owned(),
            members,
        }
    }
}

mod lifecycle;
mod subscriptions;
#[cfg(test)]
mod tests;
