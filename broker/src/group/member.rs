//! One member of a group: what it joined with, its assignment, its session
//! deadline, and the JoinGroup or SyncGroup answer it is waiting for.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::GroupError;
use super::types::{JoinRequest, JoinResponse, Protocol, SyncResponse};

/// Where a waiting JoinGroup's answer is sent.
pub type JoinReply = oneshot::Sender<Result<JoinResponse, GroupError>>;
/// Where a waiting SyncGroup's answer is sent.
pub type SyncReply = oneshot::Sender<Result<SyncResponse, GroupError>>;

/// A group member.
#[derive(Debug)]
pub struct Member {
    /// The id the coordinator gave it.
    pub id: String,
    /// Its group.instance.id, if static.
    pub instance_id: Option<String>,
    /// The client id it joined with, for DescribeGroups.
    pub client_id: String,
    /// The client's address, for DescribeGroups.
    pub client_host: String,
    /// How long it may go without a heartbeat.
    pub session_timeout: Duration,
    /// How long a rebalance waits for it to rejoin.
    pub rebalance_timeout: Duration,
    /// Its protocols, most preferred first.
    pub protocols: Vec<Protocol>,
    /// What the leader assigned it in the current generation.
    pub assignment: Bytes,
    /// Its JoinGroup, parked until the join phase completes; `Some` means it has
    /// joined the rebalance in progress.
    pub awaiting_join: Option<JoinReply>,
    /// Its SyncGroup, parked until the leader's assignment arrives.
    pub awaiting_sync: Option<SyncReply>,
    /// When it is removed unless it heartbeats (or waits on a JoinGroup/SyncGroup).
    pub session_deadline: Instant,
    /// Joined this generation but has not sent SyncGroup yet.
    pub pending_sync: bool,
}

impl Member {
    /// A member from its JoinGroup, with a fresh session.
    pub fn new(id: String, request: &JoinRequest, now: Instant) -> Member {
        Member {
            id,
            instance_id: request.group_instance_id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            session_timeout: request.session_timeout,
            rebalance_timeout: request.rebalance_timeout,
            protocols: request.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            session_deadline: now + request.session_timeout,
            pending_sync: false,
        }
    }

    /// Takes the timeouts and protocols of a later JoinGroup.
    pub fn update(&mut self, request: &JoinRequest) {
        self.session_timeout = request.session_timeout;
        self.rebalance_timeout = request.rebalance_timeout;
        self.protocols = request.protocols.clone();
    }

    /// Restarts the session timer.
    pub fn touch(&mut self, now: Instant) {
        self.session_deadline = now + self.session_timeout;
    }

    /// True when it joined with exactly these protocols and metadata.
    pub fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// True when it supports the protocol `name`.
    pub fn supports(&self, name: &str) -> bool {
        self.protocols.iter().any(|p| p.name == name)
    }

    /// Its metadata for the protocol `name` (empty if it does not support it).
    pub fn metadata(&self, name: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == name)
            .map_or_else(Bytes::new, |p| p.metadata.clone())
    }

    /// True while the session timer must not remove it: it is parked in a JoinGroup
    /// or SyncGroup, which the rebalance timeout bounds instead.
    pub fn kept_alive(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }

    /// Answers its parked JoinGroup, if any.
    pub fn answer_join(&mut self, answer: Result<JoinResponse, GroupError>) {
        if let Some(reply) = self.awaiting_join.take() {
            // The requester may be gone (connection closed); nothing to do then.
            let _ = reply.send(answer);
        }
    }

    /// Answers its parked SyncGroup, if any.
    pub fn answer_sync(&mut self, answer: Result<SyncResponse, GroupError>) {
        if let Some(reply) = self.awaiting_sync.take() {
            let _ = reply.send(answer);
        }
    }
}

/// A new member id as Kafka makes them: `{client_id or instance_id}-{uuid}`.
pub fn new_member_id(prefix: &str) -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{prefix}-{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// 64 unpredictable bits, without a dependency: std's per-process random hash
/// keys over a counter and the clock. Ids only need to be unique, not secret.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_look_like_kafkas_and_do_not_repeat() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| new_member_id("rdkafka")).collect();
        assert_eq!(ids.len(), 1000);
        let id = ids.iter().next().unwrap();
        let uuid = id.strip_prefix("rdkafka-").unwrap();
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
    }
}
