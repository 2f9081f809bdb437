//! A group after its join phase: SyncGroup, heartbeats, leaving, offset-commit
//! checks, the timers `tick` fires, shutdown, and the views ListGroups and
//! DescribeGroups show.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;
use tracing::{debug, info};

use super::{Group, Outcome, ready};
use crate::group::GroupError;
use crate::group::types::{
    GroupDescription, GroupListing, GroupState, MemberDescription, MemberIdentity, SyncRequest,
    SyncResponse,
};

impl Group {
    /// SyncGroup.
    pub fn sync(&mut self, request: SyncRequest, now: Instant) -> Outcome<SyncResponse> {
        let instance = request.group_instance_id.as_deref();
        if let Err(e) = self.check_member(&request.member_id, instance, request.generation_id) {
            return ready(Err(e));
        }
        let differs = |asked: &Option<String>, ours: &Option<String>| {
            asked.as_ref().is_some_and(|a| ours.as_ref() != Some(a))
        };
        if differs(&request.protocol_type, &self.protocol_type)
            || differs(&request.protocol_name, &self.protocol)
        {
            return ready(Err(GroupError::InconsistentGroupProtocol));
        }
        let (protocol_type, protocol_name) = (self.protocol_type.clone(), self.protocol.clone());
        let member = self.members.get_mut(&request.member_id).expect("checked above");
        member.touch(now);
        member.pending_sync = false;
        match self.state {
            GroupState::PreparingRebalance => ready(Err(GroupError::RebalanceInProgress)),
            GroupState::Stable => {
                let assignment = member.assignment.clone();
                ready(Ok(SyncResponse { protocol_type, protocol_name, assignment }))
            }
            GroupState::CompletingRebalance => {
                let (reply, receiver) = oneshot::channel();
                if let Some(superseded) = member.awaiting_sync.replace(reply) {
                    let _ = superseded.send(Err(GroupError::RebalanceInProgress));
                }
                if self.leader.as_deref() == Some(&request.member_id) {
                    let mut assigned: HashMap<String, Bytes> =
                        request.assignments.into_iter().collect();
                    for member in self.members.values_mut() {
                        member.assignment = assigned.remove(&member.id).unwrap_or_default();
                        let assignment = member.assignment.clone();
                        let (protocol_type, protocol_name) =
                            (protocol_type.clone(), protocol_name.clone());
                        member.answer_sync(Ok(SyncResponse {
                            protocol_type,
                            protocol_name,
                            assignment,
                        }));
                    }
                    self.state = GroupState::Stable;
                    info!(group = %self.id, generation = self.generation, "group is stable");
                }
                Outcome::Waiting(receiver)
            }
            GroupState::Empty | GroupState::Dead => ready(Err(GroupError::UnknownMemberId)),
        }
    }

    /// Heartbeat: keeps the member's session alive; tells it to rejoin while the
    /// group is preparing a rebalance.
    pub fn heartbeat(
        &mut self,
        who: &MemberIdentity,
        generation: i32,
        now: Instant,
    ) -> Result<(), GroupError> {
        self.check_member(&who.member_id, who.group_instance_id.as_deref(), generation)?;
        self.members.get_mut(&who.member_id).expect("checked above").touch(now);
        match self.state {
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// LeaveGroup for one member (by member id, or by instance id when static).
    pub fn leave(&mut self, who: &MemberIdentity, now: Instant) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let instance = who.group_instance_id.as_deref();
        if !who.member_id.is_empty() && self.fenced(&who.member_id, instance) {
            return Err(GroupError::FencedInstanceId);
        }
        if self.pending.remove(&who.member_id).is_some() {
            self.try_complete_join(now);
            return Ok(());
        }
        let id = match instance.and_then(|i| self.static_member(i)) {
            Some(id) => id,
            None if self.members.contains_key(&who.member_id) => who.member_id.clone(),
            None => return Err(GroupError::UnknownMemberId),
        };
        info!(group = %self.id, member = %id, "member left");
        self.remove_member(&id, || GroupError::UnknownMemberId, now);
        Ok(())
    }

    /// Whether an offset commit from this member at this generation is accepted.
    /// Generation -1 on an empty group is a simple consumer, always accepted.
    pub fn check_commit(
        &mut self,
        who: &MemberIdentity,
        generation: i32,
        now: Instant,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Empty && generation < 0 {
            return Ok(());
        }
        self.check_member(&who.member_id, who.group_instance_id.as_deref(), generation)?;
        if self.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        self.members.get_mut(&who.member_id).expect("checked above").touch(now);
        Ok(())
    }

    /// The checks SyncGroup, Heartbeat and OffsetCommit share, in Kafka's order.
    fn check_member(
        &self,
        member_id: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if self.fenced(member_id, instance) {
            return Err(GroupError::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration {
                given: generation,
                current: self.generation,
            });
        }
        Ok(())
    }

    /// The member id holding group.instance.id `instance`, if any.
    pub(super) fn static_member(&self, instance: &str) -> Option<String> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance))
            .map(|m| m.id.clone())
    }

    /// True when `instance` belongs to a member other than `member_id`.
    pub(super) fn fenced(&self, member_id: &str, instance: Option<&str>) -> bool {
        instance.and_then(|i| self.static_member(i)).is_some_and(|id| id != member_id)
    }

    /// Removes a member, answering its parked requests with `why`, and rebalances.
    pub(super) fn remove_member(&mut self, id: &str, why: fn() -> GroupError, now: Instant) {
        let Some(mut member) = self.members.remove(id) else { return };
        member.answer_join(Err(why()));
        member.answer_sync(Err(why()));
        if self.leader.as_deref() == Some(id) {
            let joined = self.members.values().find(|m| m.awaiting_join.is_some());
            self.leader = joined.or_else(|| self.members.values().next()).map(|m| m.id.clone());
        }
        self.rebalance_or_try_complete(now);
    }

    /// Fires whatever is due at `now`: lapsed member ids, session timeouts, the
    /// sync timeout, and the join phase's delay or timeout.
    pub fn tick(&mut self, now: Instant) {
        let group = &self.id;
        self.pending.retain(|id, lapses| {
            let keep = *lapses > now;
            if !keep {
                debug!(group = %group, member = %id, "pending member id lapsed");
            }
            keep
        });
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.kept_alive() && m.session_deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            info!(group = %self.id, member = %id, "session timed out: removing member");
            self.remove_member(&id, || GroupError::UnknownMemberId, now);
        }
        if self.sync_deadline.is_some_and(|d| d <= now) {
            self.sync_deadline = None;
            let late: Vec<String> =
                self.members.values().filter(|m| m.pending_sync).map(|m| m.id.clone()).collect();
            for id in late {
                info!(group = %self.id, member = %id, "no SyncGroup in time: removing member");
                self.remove_member(&id, || GroupError::UnknownMemberId, now);
            }
        }
        self.try_complete_join(now);
    }

    /// When `tick` next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let sessions =
            self.members.values().filter(|m| !m.kept_alive()).map(|m| m.session_deadline);
        let join = self.join.as_ref().map(|p| p.delay_until.unwrap_or(p.deadline));
        self.pending.values().copied().chain(sessions).chain(join).chain(self.sync_deadline).min()
    }

    /// Answers every parked request with COORDINATOR_NOT_AVAILABLE and marks the
    /// group Dead (coordinator shutdown, group deletion).
    pub fn shut_down(&mut self) {
        for member in self.members.values_mut() {
            member.answer_join(Err(GroupError::CoordinatorNotAvailable));
            member.answer_sync(Err(GroupError::CoordinatorNotAvailable));
        }
        (self.state, self.join, self.sync_deadline) = (GroupState::Dead, None, None);
    }

    /// ListGroups' view.
    pub fn listing(&self) -> GroupListing {
        GroupListing {
            group_id: self.id.clone(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            state: self.state,
        }
    }

    /// DescribeGroups' view: metadata, assignments and protocol only when Stable.
    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol =
            if stable { self.protocol.clone().unwrap_or_default() } else { String::new() };
        let members = self
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable { m.metadata(&protocol) } else { Bytes::new() },
                assignment: if stable { m.assignment.clone() } else { Bytes::new() },
            })
            .collect();
        GroupDescription {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol,
            members,
        }
    }
}
