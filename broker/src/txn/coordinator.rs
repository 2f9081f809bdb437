//! The transaction coordinator: hands out producer ids and epochs for
//! transactional ids, records which partitions and groups a transaction touches,
//! and ends it by writing markers to each partition (and, on commit, the group
//! offsets it staged).
//!
//! Every change is appended to `__transaction_state` before it is answered, and
//! an end is written as two records: the decision (PrepareCommit or
//! PrepareAbort) before any marker, the completion after the last. Opening
//! replays the topic and finishes any decision it finds without its completion,
//! so a crash between markers ends the transaction as it was decided. The
//! coordinator's lock is held across an end (markers and offsets are local
//! appends), so requests of one transactional id never interleave.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use thiserror::Error;
use tracing::{info, warn};

use super::meta::{PendingOffset, TxnMeta, TxnStatus};
use crate::group::{GroupError, OffsetAndMetadata, OffsetStore, TopicPartition};
use crate::log::record::{BatchBuilder, Compression};
use crate::log::{AppendError, Partition, ReadError, Reader};
use crate::storage::{Storage, StorageError};
use crate::topic::{TopicError, TopicSpec};

/// The internal topic the coordinator keeps its records in.
pub const TXN_TOPIC: &str = "__transaction_state";

/// Its settings: compacted (one record per transactional id lives), no retention.
const TXN_TOPIC_CONFIGS: [(&str, &str); 4] = [
    ("cleanup.policy", "compact"),
    ("retention.ms", "-1"),
    ("retention.bytes", "-1"),
    ("segment.bytes", "104857600"),
];

/// The longest `transaction.timeout.ms` accepted (Kafka's
/// `transaction.max.timeout.ms` default, 15 minutes).
pub const MAX_TIMEOUT_MS: i32 = 15 * 60 * 1000;

/// Why a transactional request was refused.
#[derive(Debug, Error)]
pub enum TxnError {
    /// The transactional id is empty.
    #[error("the transactional id is empty")]
    EmptyId,
    /// `transaction.timeout.ms` out of range.
    #[error("transaction timeout {0} ms is not from 1 to {MAX_TIMEOUT_MS} ms")]
    InvalidTimeout(i32),
    /// No such transactional id, or another producer id holds it.
    #[error("producer {producer_id} does not hold transactional id {id}: call InitProducerId")]
    ProducerIdMismatch {
        /// The transactional id.
        id: String,
        /// The producer id the request gave.
        producer_id: i64,
    },
    /// The request's epoch is older than the id's: a newer producer took over.
    #[error("producer epoch {epoch} of {id} is fenced by epoch {current}")]
    Fenced {
        /// The transactional id.
        id: String,
        /// The request's epoch.
        epoch: i16,
        /// The id's epoch.
        current: i16,
    },
    /// The request does not fit where the transaction stands.
    #[error("transactional id {id} is {status}: {what} is not allowed now")]
    InvalidState {
        /// The transactional id.
        id: String,
        /// Its state's Kafka name.
        status: &'static str,
        /// What was asked.
        what: &'static str,
    },
    /// The group was not added to the transaction (AddOffsetsToTxn) first.
    #[error("group {group} was not added to the transaction of {id} (AddOffsetsToTxn)")]
    GroupNotAdded {
        /// The transactional id.
        id: String,
        /// The group.
        group: String,
    },
    /// Writing the coordinator's records, a marker or offsets failed.
    #[error("the transaction coordinator's storage failed: {0}")]
    Storage(String),
}

impl From<AppendError> for TxnError {
    fn from(e: AppendError) -> Self {
        TxnError::Storage(e.to_string())
    }
}

impl From<GroupError> for TxnError {
    fn from(e: GroupError) -> Self {
        TxnError::Storage(e.to_string())
    }
}

/// A transactional id with its record, for DescribeTransactions and
/// ListTransactions.
#[derive(Debug, Clone)]
pub struct TxnListing {
    /// The transactional id.
    pub id: String,
    /// Its record.
    pub meta: TxnMeta,
}

/// The coordinator of every transactional id (one node).
#[derive(Debug)]
pub struct TxnCoordinator {
    storage: Arc<Storage>,
    /// Partition 0 of `__transaction_state`.
    log: Arc<Partition>,
    /// Records by transactional id; held across a whole request.
    txns: Mutex<HashMap<String, TxnMeta>>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl TxnCoordinator {
    /// Opens the coordinator: creates `__transaction_state` if missing, replays
    /// it, and finishes the ends it finds decided but not completed.
    pub fn open(storage: Arc<Storage>, offsets: &OffsetStore) -> Result<TxnCoordinator, TxnError> {
        let storage_err = |e: StorageError| TxnError::Storage(e.to_string());
        if storage.topic(TXN_TOPIC).is_none() {
            let configs = TXN_TOPIC_CONFIGS.map(|(k, v)| (k.to_owned(), v.to_owned())).into();
            let spec = TopicSpec { name: TXN_TOPIC.to_owned(), partitions: 1, configs };
            match storage.create_topic(spec) {
                Ok(_) | Err(StorageError::Topic(TopicError::TopicAlreadyExists(_))) => {}
                Err(e) => return Err(storage_err(e)),
            }
        }
        let log = storage
            .partition(TXN_TOPIC, 0)
            .ok_or_else(|| TxnError::Storage(format!("{TXN_TOPIC} has no partition 0")))?;
        let mut txns = HashMap::new();
        for r in Reader::from_log_start(&log, TXN_TOPIC, 0).records() {
            let r = r.map_err(|e: ReadError| TxnError::Storage(e.to_string()))?;
            let Some(id) = r.key.as_deref().and_then(|k| std::str::from_utf8(k).ok()) else {
                continue;
            };
            match r.value.as_deref().map(serde_json::from_slice::<TxnMeta>) {
                None => drop(txns.remove(id)),
                Some(Ok(meta)) => drop(txns.insert(id.to_owned(), meta)),
                Some(Err(e)) => warn!(id, error = %e, "skipping an unreadable transaction record"),
            }
        }
        let coordinator = TxnCoordinator { storage, log, txns: Mutex::new(HashMap::new()) };
        let unfinished: Vec<String> = txns
            .iter()
            .filter(|(_, m)| matches!(m.status, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort))
            .map(|(id, _)| id.clone())
            .collect();
        *coordinator.txns.lock() = txns;
        for id in unfinished {
            let mut txns = coordinator.txns.lock();
            let Some(meta) = txns.get_mut(&id) else { continue };
            let commit = meta.status == TxnStatus::PrepareCommit;
            info!(transactional_id = %id, commit, "finishing a transaction decided before a restart");
            coordinator.complete(&id, meta, commit, offsets)?;
        }
        Ok(coordinator)
    }

    /// Appends the record of `id` to `__transaction_state`.
    pub(super) fn persist(&self, id: &str, meta: &TxnMeta) -> Result<(), TxnError> {
        let value = serde_json::to_vec(meta).map_err(|e| TxnError::Storage(e.to_string()))?;
        let mut batch = BatchBuilder::new(0, Compression::None);
        batch.push(meta.updated_ms, Some(id.as_bytes()), Some(&value), &[]);
        let bytes = batch.build().map_err(|e| TxnError::Storage(e.to_string()))?;
        self.log.append(&bytes)?;
        Ok(())
    }

    /// InitProducerId for `id`: a producer id and a new epoch. An open transaction
    /// of a previous producer is aborted first, at the new epoch, so the previous
    /// producer is fenced. `current` is the producer id and epoch a client that
    /// had one gives (KIP-360); another id's is refused.
    pub fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        current: Option<(i64, i16)>,
        offsets: &OffsetStore,
    ) -> Result<(i64, i16), TxnError> {
        if id.is_empty() {
            return Err(TxnError::EmptyId);
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(TxnError::InvalidTimeout(timeout_ms));
        }
        let mut txns = self.txns.lock();
        let now = now_ms();
        let meta = match txns.get_mut(id) {
            None => {
                let producer_id = self.allocate()?;
                let meta = TxnMeta {
                    producer_id,
                    epoch: 0,
                    timeout_ms,
                    status: TxnStatus::Empty,
                    partitions: BTreeSet::new(),
                    offsets: Default::default(),
                    started_ms: 0,
                    updated_ms: now,
                };
                self.persist(id, &meta)?;
                txns.insert(id.to_owned(), meta.clone());
                return Ok((meta.producer_id, meta.epoch));
            }
            Some(meta) => meta,
        };
        if let Some((producer_id, epoch)) = current
            && (producer_id != meta.producer_id || epoch != meta.epoch)
        {
            // A retry of a request whose bump already happened gets the same
            // answer, with no second bump.
            if producer_id == meta.producer_id && epoch + 1 == meta.epoch {
                return Ok((meta.producer_id, meta.epoch));
            }
            return Err(TxnError::Fenced { id: id.to_owned(), epoch, current: meta.epoch });
        }
        if meta.epoch == i16::MAX - 1 {
            meta.producer_id = self.allocate()?;
            meta.epoch = -1;
        }
        meta.epoch += 1;
        meta.timeout_ms = timeout_ms;
        if matches!(meta.status, TxnStatus::Ongoing | TxnStatus::PrepareAbort) {
            self.complete(id, meta, false, offsets)?;
        } else if meta.status == TxnStatus::PrepareCommit {
            self.complete(id, meta, true, offsets)?;
        }
        meta.status = TxnStatus::Empty;
        meta.updated_ms = now;
        self.persist(id, meta)?;
        Ok((meta.producer_id, meta.epoch))
    }

    fn allocate(&self) -> Result<i64, TxnError> {
        self.storage.allocate_producer_id().map_err(|e| TxnError::Storage(e.to_string()))
    }

    /// The record of `id` if `producer_id` at `epoch` holds it now.
    fn holder<'a>(
        txns: &'a mut HashMap<String, TxnMeta>,
        id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&'a mut TxnMeta, TxnError> {
        let mismatch = || TxnError::ProducerIdMismatch { id: id.to_owned(), producer_id };
        let meta = txns.get_mut(id).ok_or_else(mismatch)?;
        if meta.producer_id != producer_id {
            return Err(mismatch());
        }
        if epoch != meta.epoch {
            return Err(TxnError::Fenced { id: id.to_owned(), epoch, current: meta.epoch });
        }
        Ok(meta)
    }

    /// Opens the transaction if none is: partitions or offsets may be added.
    fn begin(id: &str, meta: &mut TxnMeta, what: &'static str) -> Result<(), TxnError> {
        match meta.status {
            TxnStatus::Ongoing => Ok(()),
            TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort => {
                meta.status = TxnStatus::Ongoing;
                meta.started_ms = now_ms();
                Ok(())
            }
            status => {
                Err(TxnError::InvalidState { id: id.to_owned(), status: status.kafka_name(), what })
            }
        }
    }

    /// Changes the record of `id`, held by `producer_id` at `epoch`, with
    /// `change`: the new record is written to `__transaction_state` first and
    /// kept only once written (a failed write changes nothing).
    fn update(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        change: impl FnOnce(&mut TxnMeta) -> Result<(), TxnError>,
    ) -> Result<(), TxnError> {
        let mut txns = self.txns.lock();
        let current = Self::holder(&mut txns, id, producer_id, epoch)?;
        let mut next = current.clone();
        change(&mut next)?;
        if next == *current {
            return Ok(());
        }
        next.updated_ms = now_ms();
        self.persist(id, &next)?;
        *current = next;
        Ok(())
    }

    /// AddPartitionsToTxn: the transaction will write to `partitions` (each must
    /// exist; the caller checks and answers those that do not).
    pub fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), TxnError> {
        self.update(id, producer_id, epoch, |meta| {
            let known = partitions.iter().all(|p| meta.partitions.contains(p));
            if !(known && meta.status == TxnStatus::Ongoing) {
                Self::begin(id, meta, "adding partitions")?;
                meta.partitions.extend(partitions.iter().cloned());
            }
            Ok(())
        })
    }

    /// AddOffsetsToTxn: the transaction will commit offsets of `group`.
    pub fn add_offsets(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
    ) -> Result<(), TxnError> {
        self.update(id, producer_id, epoch, |meta| {
            Self::begin(id, meta, "adding offsets")?;
            meta.offsets.entry(group.to_owned()).or_default();
            Ok(())
        })
    }

    /// TxnOffsetCommit: stages `offsets` of `group`, committed if the transaction
    /// commits.
    pub fn stage_offsets(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<PendingOffset>,
    ) -> Result<(), TxnError> {
        self.update(id, producer_id, epoch, |meta| {
            if meta.status != TxnStatus::Ongoing {
                let status = meta.status.kafka_name();
                let what = "TxnOffsetCommit";
                return Err(TxnError::InvalidState { id: id.to_owned(), status, what });
            }
            let Some(staged) = meta.offsets.get_mut(group) else {
                return Err(TxnError::GroupNotAdded { id: id.to_owned(), group: group.to_owned() });
            };
            for o in offsets {
                staged.retain(|s| (&s.topic, s.partition) != (&o.topic, o.partition));
                staged.push(o);
            }
            Ok(())
        })
    }

    /// EndTxn: commits or aborts the open transaction. A retry of the end just
    /// made is answered again; any other end without an open transaction is
    /// INVALID_TXN_STATE.
    pub fn end(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        offsets: &OffsetStore,
    ) -> Result<(), TxnError> {
        let mut txns = self.txns.lock();
        let meta = Self::holder(&mut txns, id, producer_id, epoch)?;
        match (meta.status, commit) {
            (TxnStatus::Ongoing, _) => self.complete(id, meta, commit, offsets),
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => Ok(()),
            // librdkafka aborts a transaction that wrote nothing: there is nothing
            // to undo.
            (TxnStatus::Empty, false) => Ok(()),
            (status, _) => Err(TxnError::InvalidState {
                id: id.to_owned(),
                status: status.kafka_name(),
                what: if commit { "committing" } else { "aborting" },
            }),
        }
    }

    /// Writes the decision, the markers (and the offsets, on commit), then the
    /// completion. Called with the coordinator's lock held.
    fn complete(
        &self,
        id: &str,
        meta: &mut TxnMeta,
        commit: bool,
        offsets: &OffsetStore,
    ) -> Result<(), TxnError> {
        meta.status = if commit { TxnStatus::PrepareCommit } else { TxnStatus::PrepareAbort };
        meta.updated_ms = now_ms();
        self.persist(id, meta)?;
        for (topic, partition) in &meta.partitions {
            let Some(log) =
                u32::try_from(*partition).ok().and_then(|p| self.storage.partition(topic, p))
            else {
                continue; // deleted since: nothing to mark
            };
            log.write_marker(meta.producer_id, meta.epoch, commit, 0)?;
        }
        if commit {
            let now = now_ms();
            for (group, staged) in &meta.offsets {
                let staged: Vec<_> = staged
                    .iter()
                    .map(|o| {
                        let tp = TopicPartition { topic: o.topic.clone(), partition: o.partition };
                        let at = OffsetAndMetadata {
                            offset: o.offset,
                            leader_epoch: (o.leader_epoch >= 0).then_some(o.leader_epoch),
                            metadata: o.metadata.clone(),
                            commit_timestamp: now,
                        };
                        (tp, at)
                    })
                    .collect();
                offsets.commit(group, &staged)?;
            }
        }
        meta.status = if commit { TxnStatus::CompleteCommit } else { TxnStatus::CompleteAbort };
        meta.partitions.clear();
        meta.offsets.clear();
        meta.started_ms = 0;
        meta.updated_ms = now_ms();
        self.persist(id, meta)
    }

    /// Aborts every transaction open longer than its timeout, at a bumped epoch
    /// (so its producer is fenced, as Kafka does); returns how many.
    pub fn abort_expired(&self, now_ms: i64, offsets: &OffsetStore) -> usize {
        let mut txns = self.txns.lock();
        let mut aborted = 0;
        for (id, meta) in txns.iter_mut() {
            let expired = meta.status == TxnStatus::Ongoing
                && now_ms - meta.started_ms > i64::from(meta.timeout_ms);
            if !expired {
                continue;
            }
            warn!(transactional_id = %id, timeout_ms = meta.timeout_ms, "aborting a transaction past its timeout");
            if meta.epoch < i16::MAX - 1 {
                meta.epoch += 1;
            }
            match self.complete(id, meta, false, offsets) {
                Ok(()) => aborted += 1,
                Err(e) => {
                    warn!(transactional_id = %id, error = %e, "aborting an expired transaction failed")
                }
            }
        }
        aborted
    }

    /// Whether `producer_id` at `epoch` has a transaction open that includes
    /// `topic` `partition`: Produce writes its transactional batches only then.
    /// Err(current epoch) when a newer epoch fenced it.
    pub fn check_produce(
        &self,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<bool, i16> {
        let txns = self.txns.lock();
        let Some(meta) = txns.values().find(|m| m.producer_id == producer_id) else {
            return Ok(false);
        };
        if epoch < meta.epoch {
            return Err(meta.epoch);
        }
        Ok(epoch == meta.epoch
            && meta.status == TxnStatus::Ongoing
            && meta.partitions.contains(&(topic.to_owned(), partition)))
    }

    /// Every transactional id with its record, sorted by id.
    pub fn list(&self) -> Vec<TxnListing> {
        let mut all: Vec<_> = self
            .txns
            .lock()
            .iter()
            .map(|(id, meta)| TxnListing { id: id.clone(), meta: meta.clone() })
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// The record of `id`.
    pub fn describe(&self, id: &str) -> Option<TxnMeta> {
        self.txns.lock().get(id).cloned()
    }
}
