//! What operators ask of groups beyond the Kafka group protocol: how far each
//! committed offset trails its partition's end (lag), and moving a group's
//! offsets while it has no members (what `kafka-consumer-groups --reset-offsets`
//! does with ListOffsets and OffsetCommit). Deleting a group is
//! [`GroupCoordinator::delete_group`].

use super::{
    CommitResults, GroupCoordinator, GroupError, MemberIdentity, OffsetAndMetadata, TopicPartition,
};

/// One committed offset and how far it trails its partition's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// What the group committed for it.
    pub committed: OffsetAndMetadata,
    /// The partition's log end offset (high watermark); None when the partition
    /// no longer exists (its topic was deleted).
    pub log_end_offset: Option<u64>,
    /// Records between the committed offset and the log end; None when the
    /// partition no longer exists.
    pub lag: Option<u64>,
}

impl GroupCoordinator {
    /// Every committed offset of `group_id` with its lag, by topic and partition.
    pub fn lag(&self, group_id: &str) -> Vec<PartitionLag> {
        let storage = &self.shared.storage;
        self.shared
            .offsets
            .group_offsets(group_id)
            .into_iter()
            .map(|(partition, committed)| {
                let log = u32::try_from(partition.partition)
                    .ok()
                    .and_then(|p| storage.partition(&partition.topic, p));
                let log_end_offset = log.map(|log| log.high_watermark());
                let lag =
                    log_end_offset.map(|end| end.saturating_sub(committed.offset.max(0) as u64));
                PartitionLag { partition, committed, log_end_offset, lag }
            })
            .collect()
    }

    /// Commits `offsets` for a group that has no members, as a simple consumer
    /// would (no member id, generation -1); `NonEmptyGroup` if it has members, or
    /// gets one before the commit. The partitions must exist. Blocks the task on
    /// the append to `__consumer_offsets`.
    pub async fn reset_offsets(
        &self,
        group_id: &str,
        offsets: Vec<(TopicPartition, i64)>,
    ) -> Result<CommitResults, GroupError> {
        self.check(group_id)?;
        if !self.describe_group(group_id).members.is_empty() {
            return Err(GroupError::NonEmptyGroup);
        }
        let offsets = offsets
            .into_iter()
            .map(|(tp, offset)| {
                let committed = OffsetAndMetadata {
                    offset,
                    leader_epoch: None,
                    metadata: String::new(),
                    commit_timestamp: 0,
                };
                (tp, committed)
            })
            .collect();
        let who = MemberIdentity::default();
        match self.commit_offsets(group_id, -1, &who, offsets).await {
            // A member joined since the check: the commit was refused as it is
            // refused to a simple consumer.
            Err(
                GroupError::UnknownMemberId
                | GroupError::IllegalGeneration { .. }
                | GroupError::RebalanceInProgress,
            ) => Err(GroupError::NonEmptyGroup),
            answer => answer,
        }
    }
}
