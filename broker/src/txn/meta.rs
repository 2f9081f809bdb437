//! One transactional id's record, as the coordinator keeps it and stores it in
//! `__transaction_state` (JSON value, the transactional id as key): the producer
//! id and epoch it hands out, its state, and what the open transaction touches.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Where a transactional id's transaction stands (Kafka's states, without the
/// ones only a replicated coordinator needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnStatus {
    /// No transaction open (after InitProducerId).
    Empty,
    /// A transaction is open: partitions or a group were added.
    Ongoing,
    /// EndTxn(commit) was decided: markers are being written.
    PrepareCommit,
    /// EndTxn(abort), or a timeout, was decided: markers are being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

impl TxnStatus {
    /// Kafka's name, as DescribeTransactions and ListTransactions give it.
    pub fn kafka_name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
        }
    }
}

/// An offset a transaction commits for a group when it commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch the client gave (-1: none).
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: String,
}

/// One transactional id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMeta {
    /// The producer id handed out for it.
    pub producer_id: i64,
    /// The current epoch; older ones are fenced.
    pub epoch: i16,
    /// `transaction.timeout.ms`: an open transaction older than this is aborted.
    pub timeout_ms: i32,
    /// Where it stands.
    pub status: TxnStatus,
    /// Partitions the open transaction wrote to (topic, partition).
    pub partitions: BTreeSet<(String, i32)>,
    /// Groups whose offsets the open transaction commits, with those offsets.
    pub offsets: BTreeMap<String, Vec<PendingOffset>>,
    /// When the open transaction started (ms since the epoch; 0 when none).
    pub started_ms: i64,
    /// When the record last changed.
    pub updated_ms: i64,
}
