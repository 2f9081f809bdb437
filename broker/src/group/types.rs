//! The coordinator's requests and answers as plain Rust values, independent of the
//! Kafka message types (the handlers translate; other callers need not).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use super::{GroupError, TopicPartition};

/// A group's place in the rebalance cycle, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may still be committed by simple consumers).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted or unloaded; requests are refused.
    Dead,
}

impl GroupState {
    /// The name Kafka uses in ListGroups and DescribeGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One protocol a member supports (for consumers: an assignor and its metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// The protocol's name, e.g. `range`.
    pub name: String,
    /// Opaque member metadata for this protocol, handed to the leader.
    pub metadata: Bytes,
}

/// A JoinGroup request.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// The group to join.
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// The static member id (group.instance.id), if the member has one.
    pub group_instance_id: Option<String>,
    /// The client's id, prefix of generated member ids.
    pub client_id: String,
    /// The client's address, for DescribeGroups.
    pub client_host: String,
    /// How long the member may go without a heartbeat.
    pub session_timeout: Duration,
    /// How long a rebalance may wait for this member to rejoin.
    pub rebalance_timeout: Duration,
    /// The class of protocols, `consumer` for consumers.
    pub protocol_type: String,
    /// The protocols the member supports, most preferred first.
    pub protocols: Vec<Protocol>,
    /// Answer a new member with `MemberIdRequired` (JoinGroup v4+) instead of
    /// adding it directly.
    pub require_known_member_id: bool,
}

/// One member as the leader sees it in its JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// The member's id.
    pub member_id: String,
    /// Its group.instance.id, if static.
    pub group_instance_id: Option<String>,
    /// Its metadata for the selected protocol.
    pub metadata: Bytes,
}

/// A successful JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    /// The generation the member joined.
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The protocol the coordinator selected.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// This member's id.
    pub member_id: String,
    /// Every member, for the leader only; empty for the others.
    pub members: Vec<JoinedMember>,
}

/// A SyncGroup request.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The group.
    pub group_id: String,
    /// The member's id.
    pub member_id: String,
    /// Its group.instance.id, if static.
    pub group_instance_id: Option<String>,
    /// The generation the member joined.
    pub generation_id: i32,
    /// The protocol type the member expects (SyncGroup v5+), checked if present.
    pub protocol_type: Option<String>,
    /// The protocol the member expects (SyncGroup v5+), checked if present.
    pub protocol_name: Option<String>,
    /// The leader's assignment, by member id; empty from the others.
    pub assignments: Vec<(String, Bytes)>,
}

/// A successful SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The selected protocol.
    pub protocol_name: Option<String>,
    /// This member's assignment, as the leader wrote it.
    pub assignment: Bytes,
}

/// Who sends a Heartbeat or LeaveGroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberIdentity {
    /// The member id; may be empty in LeaveGroup when the instance id is given.
    pub member_id: String,
    /// The group.instance.id, if static.
    pub group_instance_id: Option<String>,
}

/// A group in ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group's id.
    pub group_id: String,
    /// Its protocol type; empty for groups that only store offsets.
    pub protocol_type: String,
    /// Its state.
    pub state: GroupState,
}

/// A member in DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member's id.
    pub member_id: String,
    /// Its group.instance.id, if static.
    pub group_instance_id: Option<String>,
    /// The client id it joined with.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Its metadata for the selected protocol; empty unless the group is Stable.
    pub metadata: Bytes,
    /// Its assignment; empty unless the group is Stable.
    pub assignment: Bytes,
}

/// A group in DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group's id.
    pub group_id: String,
    /// Its state (`Dead` for a group the coordinator does not know).
    pub state: GroupState,
    /// Its protocol type, or empty.
    pub protocol_type: String,
    /// The selected protocol; empty unless the group is Stable.
    pub protocol: String,
    /// Its members.
    pub members: Vec<MemberDescription>,
}

/// Coordinator settings (Kafka's group.* broker configs).
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// How long the first join of an empty group waits for others to join too
    /// (Kafka: group.initial.rebalance.delay.ms, 3 s there; short here so a lone
    /// consumer gets its partitions at once).
    pub initial_rebalance_delay: Duration,
    /// The shortest session timeout a member may ask for.
    pub min_session_timeout: Duration,
    /// The longest session timeout a member may ask for.
    pub max_session_timeout: Duration,
    /// The largest metadata string stored with an offset (offset.metadata.max.bytes).
    pub max_metadata_bytes: usize,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            initial_rebalance_delay: Duration::from_millis(300),
            min_session_timeout: Duration::from_secs(6),
            max_session_timeout: Duration::from_secs(30 * 60),
            max_metadata_bytes: 4096,
        }
    }
}

/// What a commit answers per partition.
pub type CommitResults = Vec<(TopicPartition, Result<(), GroupError>)>;
