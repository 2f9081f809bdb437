//! Consumer groups, with this broker as the coordinator of every group: membership
//! by Kafka's classic protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and
//! committed offsets.
//!
//! Layout:
//! - `state`: one group's state machine (Empty, PreparingRebalance,
//!   CompletingRebalance, Stable, Dead); synchronous, with time passed in.
//! - `member`: one member, its session and parked requests; member ids.
//! - `offsets`: committed offsets, kept in the internal topic `__consumer_offsets`.
//! - `types`: the coordinator's requests and answers as plain Rust values.
//! - `admin`: what operators ask beyond the protocol: lag, offset resets.
//! - `error`: [`GroupError`] and the Kafka error each maps to.
//!
//! [`GroupCoordinator`] keeps every group behind one lock, never held across an
//! await. A JoinGroup or SyncGroup that must wait parks a oneshot sender in its
//! member and awaits the receiver. One tokio task, started on first use,
//! sleeps until the earliest deadline of any group (session timeouts, the initial
//! rebalance delay, rebalance and sync timeouts) and fires it; calls that move a
//! deadline earlier wake it with a `Notify`.
//!
//! What survives a restart: committed offsets. Membership and generations live in
//! memory, so after a restart members are told UNKNOWN_MEMBER_ID or
//! ILLEGAL_GENERATION and rejoin, as after a coordinator move in Kafka.
//!
//! Static membership (group.instance.id) is accepted minimally: a static member
//! skips MEMBER_ID_REQUIRED, a stale incarnation gets FENCED_INSTANCE_ID, and a
//! restarted instance replaces its old member id, but the group rebalances when it
//! does (Kafka would hand the old assignment over without one).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::storage::Storage;

mod admin;
mod error;
mod member;
pub mod offsets;
mod state;
mod types;

pub use admin::PartitionLag;
pub use error::GroupError;
pub use offsets::{OFFSETS_TOPIC, OffsetAndMetadata, OffsetStore, TopicPartition};
use state::{Group, Outcome};
pub use types::{
    CommitResults, GroupDescription, GroupListing, GroupOptions, GroupState, JoinRequest,
    JoinResponse, JoinedMember, MemberDescription, MemberIdentity, Protocol, SyncRequest,
    SyncResponse,
};

/// The group coordinator of this broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    /// State the timer task shares.
    shared: Arc<Shared>,
    /// The timer task, started by the first JoinGroup or SyncGroup.
    timer: Mutex<Option<JoinHandle<()>>>,
}

/// The coordinator's state.
#[derive(Debug)]
struct Shared {
    /// Groups with members (or pending members); idle ones are forgotten, their
    /// offsets staying in `offsets`.
    groups: Mutex<HashMap<String, Group>>,
    /// Committed offsets.
    offsets: OffsetStore,
    /// The protocol type ("consumer", ...) of groups forgotten when they became
    /// idle, so a group that only has offsets left is still listed as what it was.
    protocol_types: Mutex<HashMap<String, String>>,
    /// To check that committed partitions exist.
    storage: Arc<Storage>,
    /// Settings.
    options: GroupOptions,
    /// Wakes the timer task when a deadline may have moved earlier.
    wake: Notify,
    /// Set by `shutdown`: every call is refused afterwards.
    closed: AtomicBool,
}

impl GroupCoordinator {
    /// A coordinator over `storage`: creates or replays `__consumer_offsets`.
    pub fn open(storage: Arc<Storage>, options: GroupOptions) -> Result<Self, GroupError> {
        let offsets = OffsetStore::open(&storage)?;
        let shared = Shared {
            groups: Mutex::new(HashMap::new()),
            offsets,
            protocol_types: Mutex::new(HashMap::new()),
            storage,
            options,
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        };
        Ok(GroupCoordinator { shared: Arc::new(shared), timer: Mutex::new(None) })
    }

    /// The settings in force.
    pub fn options(&self) -> &GroupOptions {
        &self.shared.options
    }

    /// The committed offsets, for callers that manage their own membership.
    pub fn offsets(&self) -> &OffsetStore {
        &self.shared.offsets
    }

    fn check(&self, group_id: &str) -> Result<(), GroupError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        Ok(())
    }

    /// JoinGroup: answers once the join phase completes (or at once with an error,
    /// MEMBER_ID_REQUIRED among them).
    pub async fn join(&self, request: JoinRequest) -> Result<JoinResponse, GroupError> {
        self.check(&request.group_id)?;
        let options = &self.shared.options;
        let timeout = request.session_timeout;
        if timeout < options.min_session_timeout || timeout > options.max_session_timeout {
            return Err(GroupError::InvalidSessionTimeout(timeout.as_millis() as i64));
        }
        self.start_timer();
        let outcome = {
            let mut groups = self.shared.groups.lock();
            let group = match groups.entry(request.group_id.clone()) {
                Entry::Occupied(found) => found.into_mut(),
                Entry::Vacant(slot) if request.member_id.is_empty() => slot
                    .insert(Group::new(request.group_id.clone(), options.initial_rebalance_delay)),
                Entry::Vacant(_) => return Err(GroupError::UnknownMemberId),
            };
            group.join(request, now())
        };
        self.shared.wake.notify_one();
        settle(outcome).await
    }

    /// SyncGroup: the leader's call stores the assignment and answers everyone;
    /// the others wait for it.
    pub async fn sync(&self, request: SyncRequest) -> Result<SyncResponse, GroupError> {
        self.check(&request.group_id)?;
        self.start_timer();
        let outcome = match self.shared.groups.lock().get_mut(&request.group_id) {
            Some(group) => group.sync(request, now()),
            None => return Err(GroupError::UnknownMemberId),
        };
        self.shared.wake.notify_one();
        settle(outcome).await
    }

    /// Heartbeat.
    pub fn heartbeat(
        &self,
        group_id: &str,
        who: &MemberIdentity,
        generation: i32,
    ) -> Result<(), GroupError> {
        self.check(group_id)?;
        match self.shared.groups.lock().get_mut(group_id) {
            Some(group) => group.heartbeat(who, generation, now()),
            None => Err(GroupError::UnknownMemberId),
        }
    }

    /// LeaveGroup for several members; the outer error is the group's, the inner
    /// ones each member's.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[MemberIdentity],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        self.check(group_id)?;
        let mut groups = self.shared.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Ok(members.iter().map(|_| Err(GroupError::UnknownMemberId)).collect());
        };
        if group.state() == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let now = now();
        let answers = members.iter().map(|who| group.leave(who, now)).collect();
        self.shared.wake.notify_one();
        Ok(answers)
    }

    /// OffsetCommit. Generation -1 with no member is a simple consumer, accepted
    /// while the group has no members. The outer error rejects the whole commit
    /// (membership, generation, storage); the inner ones are per partition. The
    /// coordinator sets each `commit_timestamp`.
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        generation: i32,
        who: &MemberIdentity,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    ) -> Result<CommitResults, GroupError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        match self.shared.groups.lock().get_mut(group_id) {
            Some(group) => group.check_commit(who, generation, now())?,
            None if generation < 0 => {}
            None => return Err(GroupError::IllegalGeneration { given: generation, current: -1 }),
        }
        let now_ms = now_ms();
        let max = self.shared.options.max_metadata_bytes;
        let mut accepted = Vec::new();
        let mut results = Vec::with_capacity(offsets.len());
        for (tp, mut offset) in offsets {
            let exists = u32::try_from(tp.partition)
                .is_ok_and(|p| self.shared.storage.partition(&tp.topic, p).is_some());
            let answer = if offset.metadata.len() > max {
                Err(GroupError::OffsetMetadataTooLarge { len: offset.metadata.len(), max })
            } else if !exists {
                Err(GroupError::UnknownTopicOrPartition)
            } else {
                offset.commit_timestamp = now_ms;
                accepted.push((tp.clone(), offset));
                Ok(())
            };
            results.push((tp, answer));
        }
        if !accepted.is_empty() {
            let shared = Arc::clone(&self.shared);
            let group = group_id.to_owned();
            let write =
                tokio::task::spawn_blocking(move || shared.offsets.commit(&group, &accepted));
            match write.await {
                Ok(written) => written.inspect_err(
                    |e| error!(group = group_id, error = %e, "writing committed offsets failed"),
                )?,
                Err(e) => {
                    error!(group = group_id, error = %e, "offset commit task failed");
                    return Err(GroupError::CoordinatorNotAvailable);
                }
            }
        }
        Ok(results)
    }

    /// OffsetFetch: the committed offset of each partition asked for (None when
    /// there is none), or every committed offset of the group when `partitions` is
    /// None.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Vec<(TopicPartition, Option<OffsetAndMetadata>)> {
        let offsets = &self.shared.offsets;
        match partitions {
            None => {
                offsets.group_offsets(group_id).into_iter().map(|(tp, o)| (tp, Some(o))).collect()
            }
            Some(asked) => {
                asked.iter().map(|tp| (tp.clone(), offsets.fetch(group_id, tp))).collect()
            }
        }
    }

    /// ListGroups: groups with members, and groups that only have offsets (Empty,
    /// with the protocol type they had while they had members), sorted by id.
    pub fn list_groups(&self) -> Vec<GroupListing> {
        let mut listed: Vec<GroupListing> = {
            let groups = self.shared.groups.lock();
            groups.values().filter(|g| g.state() != GroupState::Dead).map(Group::listing).collect()
        };
        for group_id in self.shared.offsets.groups() {
            if !listed.iter().any(|l| l.group_id == group_id) {
                let protocol_type = self.shared.protocol_type(&group_id);
                listed.push(GroupListing { group_id, protocol_type, state: GroupState::Empty });
            }
        }
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listed
    }

    /// DescribeGroups for one group; `Dead` with nothing else when unknown.
    pub fn describe_group(&self, group_id: &str) -> GroupDescription {
        if let Some(group) = self.shared.groups.lock().get(group_id) {
            return group.describe();
        }
        let state = match self.shared.offsets.has_group(group_id) {
            true => GroupState::Empty,
            false => GroupState::Dead,
        };
        GroupDescription {
            group_id: group_id.to_owned(),
            state,
            protocol_type: self.shared.protocol_type(group_id),
            protocol: String::new(),
            members: Vec::new(),
        }
    }

    /// Deletes a group without members and its offsets (tombstones in
    /// `__consumer_offsets`). Blocks on the log append.
    pub fn delete_group(&self, group_id: &str) -> Result<(), GroupError> {
        self.check(group_id)?;
        let mut groups = self.shared.groups.lock();
        let known = match groups.get(group_id) {
            Some(group) if group.state() != GroupState::Empty => {
                return Err(GroupError::NonEmptyGroup);
            }
            Some(_) => true,
            None => false,
        };
        if !known && !self.shared.offsets.has_group(group_id) {
            return Err(GroupError::GroupIdNotFound);
        }
        if let Some(mut group) = groups.remove(group_id) {
            group.shut_down();
        }
        self.shared.protocol_types.lock().remove(group_id);
        let deleted = self.shared.offsets.delete_group(group_id, now_ms())?;
        info!(group = group_id, offsets = deleted, "group deleted");
        Ok(())
    }

    /// Stops the coordinator: parked JoinGroup and SyncGroup requests are answered
    /// with COORDINATOR_NOT_AVAILABLE, the timer task ends, and later calls are
    /// refused. Offsets already committed are in the log (closed with storage).
    pub fn shutdown(&self) {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        for group in self.shared.groups.lock().values_mut() {
            group.shut_down();
        }
        self.shared.groups.lock().clear();
        if let Some(timer) = self.timer.lock().take() {
            timer.abort();
        }
        info!("group coordinator stopped");
    }

    fn start_timer(&self) {
        let mut timer = self.timer.lock();
        if timer.is_none() && !self.shared.closed.load(Ordering::Acquire) {
            *timer = Some(tokio::spawn(run_timer(Arc::clone(&self.shared))));
        }
    }
}

impl Drop for GroupCoordinator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    /// The protocol type a forgotten group had ("" if none is known, as for a
    /// group that only ever committed offsets).
    fn protocol_type(&self, group_id: &str) -> String {
        self.protocol_types.lock().get(group_id).cloned().unwrap_or_default()
    }

    /// Fires what is due, forgets idle groups, and returns the next deadline.
    fn tick(&self, now: Instant) -> Option<Instant> {
        let mut groups = self.groups.lock();
        for group in groups.values_mut() {
            if group.next_deadline().is_some_and(|due| due <= now) {
                group.tick(now);
            }
        }
        groups.retain(|id, group| {
            if !group.is_idle() {
                return true;
            }
            let protocol_type = group.listing().protocol_type;
            if !protocol_type.is_empty() {
                self.protocol_types.lock().insert(id.clone(), protocol_type);
            }
            false
        });
        groups.values().filter_map(Group::next_deadline).min()
    }
}

/// The timer task: tick, then sleep until the next deadline or a wake-up. A
/// `notify_one` sent while it ticks is kept as a permit, so none is lost.
async fn run_timer(shared: Arc<Shared>) {
    loop {
        let next = shared.tick(now());
        let woken = shared.wake.notified();
        match next {
            Some(at) => tokio::select! {
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                () = woken => {}
            },
            None => woken.await,
        }
    }
}

/// Waits for a parked request's answer.
async fn settle<T>(outcome: Outcome<T>) -> Result<T, GroupError> {
    match outcome {
        Outcome::Ready(answer) => answer,
        Outcome::Waiting(receiver) => {
            receiver.await.unwrap_or(Err(GroupError::CoordinatorNotAvailable))
        }
    }
}

/// The current instant on tokio's clock, which tests may pause and advance.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Milliseconds since the epoch.
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests;
