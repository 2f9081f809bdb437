//! The log as processors see it: [`BrokerStore`] implements the runtime's
//! [`LogStore`] over the broker's partitions, and keeps each processor's
//! checkpoints (keyed state and input offsets) in its state changelog.
//!
//! ## The state changelog
//!
//! The internal topic `__weir_state.<processor>` has one partition per input
//! partition, and retention off (`retention.ms=-1`, `retention.bytes=-1`, as
//! `__consumer_offsets`): every commit must stay readable. One commit is **one
//! batch**, so crash recovery (which cuts a partition at its first torn or
//! corrupt batch) keeps all of it or none of it: state and offset move together.
//!
//! | record         | key                | value                                  |
//! |----------------|--------------------|----------------------------------------|
//! | each changed key, in key order | `s` + the user's key | the new value; null deletes the key |
//! | last, always   | `o`                | the next offset of each input (manifest order), u64 big-endian each |
//!
//! A commit with no state change still writes the `o` record. Loading a
//! checkpoint replays the partition from its start with the log reader
//! (`crate::log::reader`): each batch that ends with an `o` record is applied
//! whole; any other batch is skipped with a warning (clients cannot produce to
//! internal topics, so only a bug makes one). A damaged batch ends the replay, as
//! the reader's rule says: the checkpoint is the last commit before it.
//!
//! The changelog is the truth. After each commit the offsets are also committed
//! for the consumer group named like the processor (through the coordinator's
//! offset store, with no member or generation; one per input topic), so Kafka
//! tools see the processor's position and lag. When a partition has no commit in
//! the changelog but the group has an offset for an input's partition (an
//! operator set it with Kafka tools, or a consumer group of that name existed
//! before the processor), the processor starts that input there.
//!
//! Durability follows the topics' own setting: under `durability=sync` outputs
//! are fsynced when appended (before the runtime commits) and the commit when
//! written; under interval durability a power loss can lose the last interval
//! of both, like any acknowledged write.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use tracing::{debug, warn};
use weir_runtime::store::{
    BATCH_OVERHEAD, Bounds, Checkpoint, Commit, Header, InputRecord, LogStore, OutputRecord,
    StoreError,
};

use crate::broker::Broker;
use crate::group::{OffsetAndMetadata, TopicPartition};
use crate::log::record::{self, BatchBuilder, Compression, Record};
use crate::log::{AppendError, Partition, ReadError, Reader, Stop};
use crate::storage::{Storage, StorageError};
use crate::topic::{TopicError, TopicSpec, is_internal};

/// What the names of state changelog topics start with.
pub const STATE_TOPIC_PREFIX: &str = "__weir_state.";

/// The key of a commit's last record, whose value is the next offset of each input.
const OFFSET_KEY: &[u8] = b"o";
/// The byte put before a user's key in a state record's key.
const STATE_KEY_PREFIX: u8 = b's';
/// How long a `wait` on a partition that does not exist sleeps.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// The state changelog topic of the processor `name`.
pub fn state_topic(name: &str) -> String {
    format!("{STATE_TOPIC_PREFIX}{name}")
}

/// Creates the state changelog of `processor` with `partitions` partitions (one
/// per input partition), retention off and room for large commits.
pub fn create_state_topic(
    storage: &Storage,
    processor: &str,
    partitions: u32,
) -> Result<TopicSpec, StorageError> {
    let configs = STATE_TOPIC_CONFIGS.map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    storage.create_topic(TopicSpec { name: state_topic(processor), partitions, configs })
}

/// A state changelog's settings: compacted (a restart replays each key's latest
/// value, not every change) and never deleted by retention.
pub const STATE_TOPIC_CONFIGS: [(&str, &str); 5] = [
    ("cleanup.policy", "compact"),
    ("retention.ms", "-1"),
    ("retention.bytes", "-1"),
    // A commit is one batch holding every key a batch of input changed.
    ("max.message.bytes", "1073741824"),
    // Compaction cleans sealed segments only.
    ("segment.bytes", "67108864"),
];

/// The broker's [`LogStore`]: partitions from storage, checkpoints in state
/// changelogs, offsets mirrored to consumer groups.
#[derive(Debug)]
pub struct BrokerStore {
    /// Partitions, the group coordinator and the append notifications.
    broker: Arc<Broker>,
    /// Each registered processor's input topics, to name the partitions of its
    /// consumer group's offsets.
    inputs: RwLock<HashMap<String, Vec<String>>>,
}

impl BrokerStore {
    /// A store over `broker`'s partitions.
    pub fn new(broker: Arc<Broker>) -> BrokerStore {
        BrokerStore { broker, inputs: RwLock::new(HashMap::new()) }
    }

    /// Tells the store which topics `processor` consumes, so its commits also go
    /// to its consumer group (and the group's offsets can seed its checkpoints).
    pub fn register(&self, processor: &str, inputs: &[String]) {
        self.inputs.write().insert(processor.to_owned(), inputs.to_vec());
    }

    /// Forgets a processor registered with `register`.
    pub fn unregister(&self, processor: &str) {
        self.inputs.write().remove(processor);
    }

    fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Partition>, StoreError> {
        let storage = &self.broker.storage;
        storage.partition(topic, partition).ok_or_else(|| match storage.topic(topic) {
            None => StoreError::UnknownTopic(topic.to_owned()),
            Some(_) => StoreError::UnknownPartition { topic: topic.to_owned(), partition },
        })
    }

    /// The processor's consumer group positions for a partition index: one per
    /// input topic, in the manifest's order.
    fn input_partitions(&self, processor: &str, partition: u32) -> Option<Vec<TopicPartition>> {
        let partition = i32::try_from(partition).ok()?;
        let inputs = self.inputs.read();
        let topics = inputs.get(processor)?;
        Some(
            topics.iter().map(|topic| TopicPartition { topic: topic.clone(), partition }).collect(),
        )
    }

    /// The offsets the group named like the processor committed for a partition
    /// index, per input.
    fn group_offsets(&self, processor: &str, partition: u32) -> Vec<Option<u64>> {
        let offsets = self.broker.groups.offsets();
        let fetch = |tp: &TopicPartition| {
            offsets.fetch(processor, tp).and_then(|c| u64::try_from(c.offset).ok())
        };
        self.input_partitions(processor, partition)
            .map(|tps| tps.iter().map(fetch).collect())
            .unwrap_or_default()
    }

    /// Mirrors a commit to the group; the changelog already has it, so a failure
    /// here only makes Kafka tools see an older position.
    fn commit_group_offsets(&self, processor: &str, partition: u32, next: &[u64], now_ms: i64) {
        let Some(tps) = self.input_partitions(processor, partition) else {
            return debug!(processor, partition, "not registered: no group offset committed");
        };
        let offsets: Vec<_> = tps
            .into_iter()
            .zip(next)
            .map(|(tp, next)| {
                let offset = OffsetAndMetadata {
                    offset: *next as i64,
                    leader_epoch: None,
                    metadata: String::new(),
                    commit_timestamp: now_ms,
                };
                (tp, offset)
            })
            .collect();
        if let Err(e) = self.broker.groups.offsets().commit(processor, &offsets) {
            warn!(processor, partition, error = %e, "mirroring a commit to the consumer group failed");
        }
    }
}

impl LogStore for BrokerStore {
    fn partitions(&self, topic: &str) -> Result<u32, StoreError> {
        let spec = self.broker.storage.topic(topic);
        spec.map(|t| t.partitions).ok_or_else(|| StoreError::UnknownTopic(topic.to_owned()))
    }

    fn bounds(&self, topic: &str, partition: u32) -> Result<Bounds, StoreError> {
        let log = self.partition(topic, partition)?;
        Ok(Bounds { log_start: log.log_start_offset(), high_watermark: log.high_watermark() })
    }

    fn offset_for_timestamp(
        &self,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> Result<Option<u64>, StoreError> {
        let log = self.partition(topic, partition)?;
        let found = log.offset_for_timestamp(timestamp);
        Ok(found.map_err(|e| read_error(topic, partition, e))?.map(|(offset, _)| offset))
    }

    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<InputRecord>, StoreError> {
        let log = self.partition(topic, partition)?;
        let mut walk = Reader::new(&log, topic, partition, offset)
            .max_bytes(max_bytes.max(1))
            .max_records(max_records.max(1))
            .records();
        let mut records = Vec::new();
        let mut bytes = 0;
        for r in &mut walk {
            let r = r.map_err(|e| read_error(topic, partition, e))?;
            // Always one record, then as many as fit.
            let size = record_size(&r);
            if !records.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            records.push(input_record(r));
        }
        // Damage right at `offset` would otherwise look like the end of the log:
        // an error keeps the worker retrying, with the reason in its status.
        if let (true, Some(Stop::Damaged { offset, damage })) = (records.is_empty(), walk.stop()) {
            return Err(damaged(topic, partition, *offset, damage));
        }
        Ok(records)
    }

    fn wait(&self, topic: &str, partition: u32, offset: u64, timeout: Duration) -> bool {
        let now = Instant::now();
        let deadline = now.checked_add(timeout).unwrap_or(now + Duration::from_secs(86_400));
        let Some(log) = self.broker.storage.partition(topic, partition) else {
            // Gone (or not yet made): nothing will arrive, but do not spin.
            std::thread::sleep(timeout.min(WAIT_SLICE));
            return false;
        };
        log.appends().wait_past(offset, deadline)
    }

    fn append(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<OutputRecord>,
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        if is_internal(topic) {
            return Err(StoreError::Refused(format!(
                "{topic} is an internal topic: processors cannot write to it"
            )));
        }
        let log = self.partition(topic, partition)?;
        let max = log.config().max_message_bytes as usize;
        // Batches within the topic's limit, in order; a record that alone is over
        // it refuses the whole call before anything is written.
        let mut chunks = vec![Vec::new()];
        let mut size = BATCH_OVERHEAD;
        for r in &records {
            let alone = r.alone_in_a_batch();
            if alone > max {
                return Err(StoreError::Refused(format!(
                    "a record of about {alone} bytes is over the max.message.bytes of \
                     {topic} ({max}): emit smaller records or raise the topic's \
                     max.message.bytes"
                )));
            }
            let encoded = r.encoded_size();
            if size + encoded > max {
                chunks.push(Vec::new());
                size = BATCH_OVERHEAD;
            }
            size += encoded;
            chunks.last_mut().expect("one chunk at least").push(r);
        }
        for chunk in chunks {
            let mut builder = BatchBuilder::new(0, Compression::None);
            for r in &chunk {
                let headers: Vec<record::Header> = r.headers.iter().map(log_header).collect();
                builder.push(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
            }
            let batch = builder.build().map_err(|e| {
                StoreError::Refused(format!(
                    "encoding {} records for {topic}-{partition}: {e}",
                    chunk.len()
                ))
            })?;
            log.append(&batch).map_err(|e| append_error(topic, partition, e))?;
        }
        Ok(())
    }

    fn max_batch_bytes(&self, topic: &str) -> Result<Option<usize>, StoreError> {
        let log = self.partition(topic, 0)?;
        Ok(Some(log.config().max_message_bytes as usize))
    }

    fn load_checkpoint(&self, processor: &str, partition: u32) -> Result<Checkpoint, StoreError> {
        let topic = state_topic(processor);
        let log = self.partition(&topic, partition)?;
        let mut checkpoint = replay(&log, &topic, partition)?;
        if checkpoint.next_offsets.is_empty() {
            checkpoint.next_offsets = self.group_offsets(processor, partition);
        }
        Ok(checkpoint)
    }

    fn commit(&self, processor: &str, partition: u32, commit: &Commit) -> Result<(), StoreError> {
        let topic = state_topic(processor);
        let log = self.partition(&topic, partition)?;
        let now = now_ms();
        let mut builder = BatchBuilder::new(0, Compression::None);
        let mut key = Vec::new();
        for (user_key, value) in &commit.state {
            key.clear();
            key.push(STATE_KEY_PREFIX);
            key.extend_from_slice(user_key);
            builder.push(now, Some(&key), value.as_deref(), &[]);
        }
        let offsets: Vec<u8> = commit.next_offsets.iter().flat_map(|o| o.to_be_bytes()).collect();
        builder.push(now, Some(OFFSET_KEY), Some(&offsets), &[]);
        let batch = builder.build().map_err(|e| {
            StoreError::Unavailable(format!(
                "encoding the commit of {processor} partition {partition}: {e}"
            ))
        })?;
        log.append(&batch).map_err(|e| append_error(&topic, partition, e))?;
        self.commit_group_offsets(processor, partition, &commit.next_offsets, now);
        Ok(())
    }
}

/// Rebuilds a checkpoint from a changelog partition, from its start.
fn replay(log: &Partition, topic: &str, partition: u32) -> Result<Checkpoint, StoreError> {
    let mut checkpoint = Checkpoint::default();
    for batch in Reader::from_log_start(log, topic, partition).batches() {
        let batch = batch.map_err(|e| read_error(topic, partition, e))?;
        if batch.is_control() {
            continue;
        }
        match batch.records() {
            Ok(records) => apply_commit(&mut checkpoint, records, topic, partition),
            Err(e) => warn!(topic, partition, offset = batch.base_offset(), error = %e,
                "skipping an undecodable batch of a state changelog"),
        }
    }
    Ok(checkpoint)
}

/// Applies one commit (one batch). A commit ends with its offset record; in a
/// compacted changelog only the newest commit keeps it (and each key only its
/// latest value), so a batch without one still carries state.
fn apply_commit(checkpoint: &mut Checkpoint, records: Vec<Record>, topic: &str, partition: u32) {
    let next_offsets = records.last().and_then(|last| match (&last.key, &last.value) {
        (Some(key), Some(value))
            if key.as_ref() == OFFSET_KEY && !value.is_empty() && value.len() % 8 == 0 =>
        {
            let each = value.chunks_exact(8);
            Some(each.map(|o| Some(u64::from_be_bytes(o.try_into().expect("8 bytes")))).collect())
        }
        _ => None,
    });
    let state = match next_offsets {
        Some(_) => &records[..records.len() - 1],
        None => &records[..],
    };
    for r in state {
        match r.key.as_deref() {
            Some([STATE_KEY_PREFIX, user_key @ ..]) => match &r.value {
                Some(value) => drop(checkpoint.state.insert(user_key.to_vec(), value.to_vec())),
                None => drop(checkpoint.state.remove(user_key)),
            },
            _ => warn!(
                topic,
                partition,
                offset = r.offset,
                "skipping a state record with an unknown key"
            ),
        }
    }
    if let Some(next_offsets) = next_offsets {
        checkpoint.next_offsets = next_offsets;
    }
}

/// Bytes a record counts against a read's `max_bytes`: key, value and headers.
fn record_size(r: &Record) -> usize {
    let len = |b: &Option<bytes::Bytes>| b.as_ref().map_or(0, |b| b.len());
    len(&r.key)
        + len(&r.value)
        + r.headers.iter().map(|h| h.key.len() + len(&h.value)).sum::<usize>()
}

fn input_record(r: Record) -> InputRecord {
    let headers = r.headers.into_iter().map(|h| Header { key: h.key, value: h.value }).collect();
    InputRecord {
        input: 0,
        offset: r.offset as u64,
        timestamp: r.timestamp,
        key: r.key,
        value: r.value,
        headers,
    }
}

fn log_header(h: &Header) -> record::Header {
    record::Header { key: h.key.clone(), value: h.value.clone() }
}

fn read_error(topic: &str, partition: u32, e: ReadError) -> StoreError {
    match e {
        ReadError::OffsetOutOfRange { offset, log_start_offset, high_watermark } => {
            StoreError::OffsetOutOfRange {
                topic: topic.to_owned(),
                partition,
                offset,
                log_start: log_start_offset,
                high_watermark,
            }
        }
        ReadError::Io { .. } => {
            StoreError::Unavailable(format!("reading {topic}-{partition}: {e}"))
        }
    }
}

fn damaged(topic: &str, partition: u32, offset: u64, e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!(
        "{topic}-{partition} holds a damaged batch at offset {offset} ({e}): records from it on \
         cannot be read; the worker retries until the log is repaired (see the broker's log)"
    ))
}

fn append_error(topic: &str, partition: u32, e: AppendError) -> StoreError {
    match e {
        AppendError::TooLarge { size, max } => StoreError::Refused(format!(
            "a batch of {size} bytes is over the max.message.bytes of {topic} ({max}): emit \
             smaller records or raise the topic's max.message.bytes"
        )),
        AppendError::KeylessRecord { .. } => StoreError::Refused(format!(
            "{topic} is compacted (cleanup.policy=compact), so every record needs a key: emit \
             keyed records to it"
        )),
        AppendError::Closed => StoreError::Unavailable(format!(
            "{topic}-{partition} is closed: the broker is shutting down"
        )),
        e => StoreError::Unavailable(format!("appending to {topic}-{partition}: {e}")),
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Whether `e` says the topic already exists (for callers creating topics that
/// may be there).
pub(crate) fn already_exists(e: &StorageError) -> bool {
    matches!(e, StorageError::Topic(TopicError::TopicAlreadyExists(_)))
}

#[cfg(test)]
mod tests;
