//! What operators ask of groups beyond the Kafka group protocol: how far each
//! committed offset trails its partition's end (lag), and moving a group's
//! offsets while it has no members (what `kafka-consumer-groups --reset-offsets`
//! does with ListOffsets and OffsetCommit). Deleting a group is
//! [`GroupCoordinator::delete_group`].

use std::collections::BTreeSet;

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

/// Each partition of an OffsetDelete and what became of it: None deleted (or
/// had nothing to delete), or why not.
pub type OffsetDeletions = Vec<(TopicPartition, Option<GroupError>)>;

impl GroupCoordinator {
    /// Deletes committed offsets of `group_id` (Kafka's OffsetDelete): any of an
    /// empty group's; of a consumer group with members, only those of topics no
    /// member subscribes to (`GroupSubscribedToTopic` for the rest). A group with
    /// members of another protocol type is `NonEmptyGroup`, one the coordinator
    /// does not know `GroupIdNotFound`, a partition that does not exist
    /// `UnknownTopicOrPartition`. Blocks on the append to `__consumer_offsets`.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[TopicPartition],
    ) -> Result<OffsetDeletions, GroupError> {
        self.check(group_id)?;
        // Held through the append, so no member joins in between.
        let groups = self.shared.groups.lock();
        let subscribed = match groups.get(group_id) {
            Some(group) if group.has_members() => {
                group.subscribed_topics().ok_or(GroupError::NonEmptyGroup)?
            }
            Some(_) => BTreeSet::new(),
            None if self.shared.offsets.has_group(group_id) => BTreeSet::new(),
            None => return Err(GroupError::GroupIdNotFound),
        };
        let storage = &self.shared.storage;
        let mut outcome = Vec::new();
        let mut doomed = Vec::new();
        for tp in partitions {
            let exists = u32::try_from(tp.partition)
                .ok()
                .and_then(|p| storage.partition(&tp.topic, p))
                .is_some();
            let error = if !exists {
                Some(GroupError::UnknownTopicOrPartition)
            } else if subscribed.contains(&tp.topic) {
                Some(GroupError::GroupSubscribedToTopic)
            } else {
                doomed.push(tp.clone());
                None
            };
            outcome.push((tp.clone(), error));
        }
        let deleted = self.shared.offsets.delete_offsets(group_id, &doomed, super::now_ms())?;
        drop(groups);
        tracing::info!(group = group_id, offsets = deleted, "offsets deleted");
        Ok(outcome)
    }

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
