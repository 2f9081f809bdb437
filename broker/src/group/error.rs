//! Why a group operation was refused or failed.
//!
//! Most variants are protocol answers a client is expected to act on (rejoin,
//! retry, find the coordinator again); `Storage` and `Replay` are the broker's own
//! faults. `kafka::error_codes` maps each to the Kafka error a response carries.

use thiserror::Error;

use crate::log::record::RecordError;
use crate::log::{AppendError, ReadError};
use crate::storage::StorageError;

/// Why a group or offset operation was refused or failed.
#[derive(Debug, Error)]
pub enum GroupError {
    /// The group id is empty where a group must be named, or too long to store.
    #[error("invalid group id")]
    InvalidGroupId,
    /// The session timeout is outside the range the coordinator allows.
    #[error("session timeout of {0} ms is outside the allowed range")]
    InvalidSessionTimeout(i64),
    /// A new member must send JoinGroup again with this member id (JoinGroup v4+).
    #[error("rejoin with the member id {0}")]
    MemberIdRequired(String),
    /// The member is not (or no longer) in the group: it must rejoin with no id.
    #[error("unknown member id")]
    UnknownMemberId,
    /// The member's generation is not the group's: it must rejoin.
    #[error("generation {given} is not the group's generation {current}")]
    IllegalGeneration {
        /// The generation the member sent.
        given: i32,
        /// The group's generation.
        current: i32,
    },
    /// The group is rebalancing: the member must send JoinGroup.
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    /// The member's protocol type or protocols do not fit the group's.
    #[error("protocol type or protocols are incompatible with the group's")]
    InconsistentGroupProtocol,
    /// Another member holds this group.instance.id.
    #[error("group.instance.id is held by another member")]
    FencedInstanceId,
    /// Deleting a group that still has members.
    #[error("the group has members")]
    NonEmptyGroup,
    /// Deleting a group the coordinator does not know.
    #[error("no such group")]
    GroupIdNotFound,
    /// The coordinator is shutting down, or the group was just deleted.
    #[error("the coordinator is not available")]
    CoordinatorNotAvailable,
    /// An offset's metadata string is over the coordinator's limit.
    #[error("offset metadata of {len} bytes is over the limit of {max}")]
    OffsetMetadataTooLarge {
        /// The metadata's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Deleting the offsets of a topic the group's members subscribe to.
    #[error("the group's members subscribe to this topic")]
    GroupSubscribedToTopic,
    /// An offset was committed for a partition that does not exist.
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    /// Creating or finding `__consumer_offsets` failed.
    #[error("opening __consumer_offsets: {0}")]
    Storage(#[from] StorageError),
    /// Appending committed offsets to `__consumer_offsets` failed.
    #[error("writing committed offsets: {0}")]
    Append(#[from] AppendError),
    /// Building the batch of a commit failed (it would be over 2 GiB).
    #[error("encoding committed offsets: {0}")]
    Encode(RecordError),
    /// Reading `__consumer_offsets` back at startup failed.
    #[error("replaying __consumer_offsets: {0}")]
    Replay(#[from] ReadError),
}
