//! Committed offsets, kept in the internal topic `__consumer_offsets`.
//!
//! Each commit appends one batch to partition 0 of the topic, one record per
//! committed (group, topic, partition); the latest record for a key wins, and a
//! record with a null value (a tombstone) deletes the key, as when a group is
//! deleted. On open the partition is replayed from its start to rebuild the map, so
//! committed offsets survive a restart. The map is updated under the same lock as
//! the append, so memory and log agree on the order of commits.
//!
//! **The topic is not compacted**: Weir has no compaction yet. It grows with every
//! commit and is created with `retention.ms=-1` and `retention.bytes=-1` so that
//! retention never deletes a key's latest record; replay time grows with it.
//!
//! Records use the layout of Kafka's own OffsetCommitKey v1 and OffsetCommitValue
//! v3 (big-endian; a string is an i16 byte length and UTF-8), so Kafka tooling that
//! decodes `__consumer_offsets` can read them:
//!
//! | key field        | type                      | value field      | type              |
//! |------------------|---------------------------|------------------|-------------------|
//! | version          | i16 = 1                   | version          | i16 = 3           |
//! | group            | string                    | offset           | i64               |
//! | topic            | string                    | leader_epoch     | i32, -1 = none    |
//! | partition        | i32                       | metadata         | string            |
//! |                  |                           | commit_timestamp | i64, ms since epoch |

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use thiserror::Error;
use tracing::{info, warn};

use super::GroupError;
use crate::log::record::{BatchBuilder, Compression, Record};
use crate::log::{Partition, Reader};
use crate::storage::{Storage, StorageError};
use crate::topic::{TopicError, TopicSpec};

/// The internal topic's name.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The offsets topic's settings: compacted and never deleted by retention, so a
/// restart replays each group's latest offsets only, in segments of Kafka's
/// `offsets.topic.segment.bytes`.
const OFFSETS_CONFIGS: [(&str, &str); 4] = [
    ("cleanup.policy", "compact"),
    ("retention.ms", "-1"),
    ("retention.bytes", "-1"),
    ("segment.bytes", "104857600"),
];

/// The key version Weir writes (Kafka's OffsetCommitKey v1; v0 has the same layout).
const KEY_VERSION: i16 = 1;
/// The value version Weir writes (Kafka's OffsetCommitValue v3).
const VALUE_VERSION: i16 = 3;

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition's index (i32 as on the wire; negative ones never exist).
    pub partition: i32,
}

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset the group will consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if the client knows it.
    pub leader_epoch: Option<i32>,
    /// A client-chosen string stored with the offset.
    pub metadata: String,
    /// When it was committed, in ms since the epoch (set by the coordinator).
    pub commit_timestamp: i64,
}

/// Why a stored key or value did not encode or decode.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    /// A string is over Kafka's 32767-byte limit.
    #[error("{0} is longer than 32767 bytes")]
    TooLong(&'static str),
    /// The bytes end inside a field.
    #[error("ends inside its {0}")]
    Truncated(&'static str),
    /// A version Weir does not read (Kafka's group metadata records are key v2).
    #[error("{what} version {version} is not an offset commit")]
    UnknownVersion {
        /// Key or value.
        what: &'static str,
        /// The version found.
        version: i16,
    },
    /// A string is not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// Bytes left after the last field.
    #[error("{0} bytes after the last field")]
    Trailing(usize),
}

/// The committed offsets of every group.
#[derive(Debug)]
pub struct OffsetStore {
    /// Partition 0 of `__consumer_offsets`.
    partition: Arc<Partition>,
    /// Latest offsets by group; locked across appends to keep log order.
    committed: Mutex<HashMap<String, BTreeMap<TopicPartition, OffsetAndMetadata>>>,
}

impl OffsetStore {
    /// Opens the store: creates `__consumer_offsets` (one partition, no retention)
    /// if missing, then replays it.
    pub fn open(storage: &Storage) -> Result<OffsetStore, GroupError> {
        if storage.topic(OFFSETS_TOPIC).is_none() {
            let configs = OFFSETS_CONFIGS.map(|(k, v)| (k.to_owned(), v.to_owned())).into();
            let spec = TopicSpec { name: OFFSETS_TOPIC.to_owned(), partitions: 1, configs };
            match storage.create_topic(spec) {
                Ok(_) | Err(StorageError::Topic(TopicError::TopicAlreadyExists(_))) => {}
                Err(e) => return Err(e.into()),
            }
        } else {
            // Made by a version before compaction, or altered by hand.
            storage.ensure_topic_configs(OFFSETS_TOPIC, &OFFSETS_CONFIGS)?;
        }
        let missing = || StorageError::Topic(TopicError::UnknownTopic(OFFSETS_TOPIC.to_owned()));
        let partition = storage.partition(OFFSETS_TOPIC, 0).ok_or_else(missing)?;
        let committed = replay(&partition)?;
        let offsets: usize = committed.values().map(BTreeMap::len).sum();
        info!(groups = committed.len(), offsets, "committed offsets loaded");
        Ok(OffsetStore { partition, committed: Mutex::new(committed) })
    }

    /// Stores `offsets` for `group` in one batch: all or none. Blocks on the log
    /// append (and its fsync under sync durability).
    pub fn commit(
        &self,
        group: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<(), GroupError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut builder = BatchBuilder::new(0, Compression::None);
        for (tp, offset) in offsets {
            let key = encode_key(group, tp).map_err(|_| GroupError::InvalidGroupId)?;
            let value = encode_value(offset).map_err(|_| GroupError::OffsetMetadataTooLarge {
                len: offset.metadata.len(),
                max: i16::MAX as usize,
            })?;
            builder.push(offset.commit_timestamp, Some(&key), Some(&value), &[]);
        }
        self.append(builder, |committed| {
            let entry = committed.entry(group.to_owned()).or_default();
            for (tp, offset) in offsets {
                entry.insert(tp.clone(), offset.clone());
            }
        })
    }

    /// Deletes every offset of `group` with tombstones; returns how many.
    pub fn delete_group(&self, group: &str, now_ms: i64) -> Result<usize, GroupError> {
        let keys: Vec<TopicPartition> = match self.committed.lock().get(group) {
            Some(offsets) => offsets.keys().cloned().collect(),
            None => return Ok(0),
        };
        self.tombstone(group, keys, now_ms)
    }

    /// Deletes the offsets of `group` for `partitions` with tombstones (those it
    /// has; the rest are no-ops); returns how many it deleted.
    pub fn delete_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
        now_ms: i64,
    ) -> Result<usize, GroupError> {
        let keys: Vec<TopicPartition> = match self.committed.lock().get(group) {
            Some(offsets) => {
                partitions.iter().filter(|tp| offsets.contains_key(tp)).cloned().collect()
            }
            None => return Ok(0),
        };
        self.tombstone(group, keys, now_ms)
    }

    /// Deletes `keys` of `group` with one batch of tombstones; returns how many.
    fn tombstone(
        &self,
        group: &str,
        keys: Vec<TopicPartition>,
        now_ms: i64,
    ) -> Result<usize, GroupError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut builder = BatchBuilder::new(0, Compression::None);
        for tp in &keys {
            let key = encode_key(group, tp).map_err(|_| GroupError::InvalidGroupId)?;
            builder.push(now_ms, Some(&key), None, &[]);
        }
        self.append(builder, |committed| {
            if let Some(offsets) = committed.get_mut(group) {
                keys.iter().for_each(|tp| drop(offsets.remove(tp)));
                if offsets.is_empty() {
                    committed.remove(group);
                }
            }
        })?;
        Ok(keys.len())
    }

    /// Appends a batch, then applies it to the map under the same lock.
    fn append(
        &self,
        builder: BatchBuilder,
        apply: impl FnOnce(&mut HashMap<String, BTreeMap<TopicPartition, OffsetAndMetadata>>),
    ) -> Result<(), GroupError> {
        let bytes = builder.build().map_err(GroupError::Encode)?;
        let mut committed = self.committed.lock();
        self.partition.append(&bytes)?;
        apply(&mut committed);
        Ok(())
    }

    /// The committed offset of one partition.
    pub fn fetch(&self, group: &str, tp: &TopicPartition) -> Option<OffsetAndMetadata> {
        self.committed.lock().get(group).and_then(|offsets| offsets.get(tp)).cloned()
    }

    /// Every committed offset of `group`, by topic and partition.
    pub fn group_offsets(&self, group: &str) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        let committed = self.committed.lock();
        let offsets = committed.get(group).into_iter().flatten();
        offsets.map(|(tp, o)| (tp.clone(), o.clone())).collect()
    }

    /// True when `group` has committed offsets.
    pub fn has_group(&self, group: &str) -> bool {
        self.committed.lock().contains_key(group)
    }

    /// Every group with committed offsets.
    pub fn groups(&self) -> Vec<String> {
        self.committed.lock().keys().cloned().collect()
    }
}

/// Reads the partition from its start with the log reader and keeps the latest
/// record per key. Undecodable records are skipped with a warning (clients may
/// produce to the topic); a damaged batch ends the replay, as the reader's rule
/// says, with what came before it.
fn replay(
    partition: &Partition,
) -> Result<HashMap<String, BTreeMap<TopicPartition, OffsetAndMetadata>>, GroupError> {
    let mut committed = HashMap::new();
    for r in Reader::from_log_start(partition, OFFSETS_TOPIC, 0).records() {
        apply(&mut committed, r?);
    }
    Ok(committed)
}

fn apply(committed: &mut HashMap<String, BTreeMap<TopicPartition, OffsetAndMetadata>>, r: Record) {
    let decoded = r.key.as_deref().ok_or(CodecError::Truncated("key")).and_then(decode_key);
    let (group, tp) = match decoded {
        Ok(key) => key,
        Err(e) => {
            return warn!(offset = r.offset, error = %e, "skipping a record of __consumer_offsets");
        }
    };
    match r.value.as_deref().map(decode_value) {
        None => {
            if let Some(offsets) = committed.get_mut(&group) {
                offsets.remove(&tp);
                if offsets.is_empty() {
                    committed.remove(&group);
                }
            }
        }
        Some(Ok(offset)) => drop(committed.entry(group).or_default().insert(tp, offset)),
        Some(Err(e)) => {
            warn!(offset = r.offset, error = %e, "skipping a record of __consumer_offsets")
        }
    }
}

/// Encodes a record key: version, group, topic, partition.
pub fn encode_key(group: &str, tp: &TopicPartition) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(10 + group.len() + tp.topic.len());
    out.extend_from_slice(&KEY_VERSION.to_be_bytes());
    put_string(&mut out, group, "group")?;
    put_string(&mut out, &tp.topic, "topic")?;
    out.extend_from_slice(&tp.partition.to_be_bytes());
    Ok(out)
}

/// Decodes a record key into its group and partition.
pub fn decode_key(bytes: &[u8]) -> Result<(String, TopicPartition), CodecError> {
    let mut r = Cursor(bytes);
    let version = i16::from_be_bytes(r.take("key version")?);
    if !(0..=KEY_VERSION).contains(&version) {
        return Err(CodecError::UnknownVersion { what: "key", version });
    }
    let group = r.string("group")?;
    let topic = r.string("topic")?;
    let partition = i32::from_be_bytes(r.take("partition")?);
    r.end()?;
    Ok((group, TopicPartition { topic, partition }))
}

/// Encodes a record value: version, offset, leader epoch, metadata, timestamp.
pub fn encode_value(offset: &OffsetAndMetadata) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(24 + offset.metadata.len());
    out.extend_from_slice(&VALUE_VERSION.to_be_bytes());
    out.extend_from_slice(&offset.offset.to_be_bytes());
    out.extend_from_slice(&offset.leader_epoch.unwrap_or(-1).to_be_bytes());
    put_string(&mut out, &offset.metadata, "metadata")?;
    out.extend_from_slice(&offset.commit_timestamp.to_be_bytes());
    Ok(out)
}

/// Decodes a record value.
pub fn decode_value(bytes: &[u8]) -> Result<OffsetAndMetadata, CodecError> {
    let mut r = Cursor(bytes);
    let version = i16::from_be_bytes(r.take("value version")?);
    if version != VALUE_VERSION {
        return Err(CodecError::UnknownVersion { what: "value", version });
    }
    let offset = i64::from_be_bytes(r.take("offset")?);
    let epoch = i32::from_be_bytes(r.take("leader epoch")?);
    let metadata = r.string("metadata")?;
    let commit_timestamp = i64::from_be_bytes(r.take("commit timestamp")?);
    r.end()?;
    let leader_epoch = (epoch >= 0).then_some(epoch);
    Ok(OffsetAndMetadata { offset, leader_epoch, metadata, commit_timestamp })
}

fn put_string(out: &mut Vec<u8>, s: &str, field: &'static str) -> Result<(), CodecError> {
    let len = i16::try_from(s.len()).map_err(|_| CodecError::TooLong(field))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Reads fields off untrusted bytes.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CodecError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(CodecError::Truncated(field))?;
        self.0 = rest;
        Ok(*head)
    }

    fn string(&mut self, field: &'static str) -> Result<String, CodecError> {
        let len = i16::from_be_bytes(self.take(field)?);
        let len = usize::try_from(len).map_err(|_| CodecError::Truncated(field))?;
        if len > self.0.len() {
            return Err(CodecError::Truncated(field));
        }
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(s.to_vec()).map_err(|_| CodecError::NotUtf8(field))
    }

    fn end(&self) -> Result<(), CodecError> {
        if self.0.is_empty() { Ok(()) } else { Err(CodecError::Trailing(self.0.len())) }
    }
}

#[cfg(test)]
mod tests;
