//! What clients may do with topics, whichever door they come in by: the Kafka
//! handlers (CreateTopics, DeleteTopics, DescribeConfigs, Produce) and the HTTP API
//! call these same methods of [`Broker`], so a topic behaves the same either way.
//!
//! The registry (`topic`) and storage serve the broker's own needs too and know
//! nothing of clients. The rules about clients live here: names starting with
//! `__` belong to internal topics (committed offsets, processor state), which the
//! broker creates and clients may read, never create, delete, alter or write.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use thiserror::Error;

use crate::broker::Broker;
use crate::log::{ActiveProducer, AppendError, AppendInfo, Durability, Partition, ReadError};
use crate::storage::{Defaults, Layer, StorageError};
use crate::topic::keys::{KEYS, KeyInfo};
use crate::topic::{TopicSpec, default_value, is_internal};

/// Why a client's topic operation was refused or failed.
#[derive(Debug, Error)]
pub enum TopicsError {
    /// A new topic's name starts with `__`, the internal topics' prefix (Kafka:
    /// INVALID_TOPIC_EXCEPTION).
    #[error("{0} starts with \"__\", which is reserved for internal topics: choose another name")]
    ReservedName(String),
    /// Deleting, altering or writing an internal topic.
    #[error("{topic} is an internal topic, managed by the broker: clients cannot {operation} it")]
    Internal {
        /// The topic.
        topic: String,
        /// What was refused, as a verb: `delete`, `alter`, `produce to`.
        operation: &'static str,
    },
    /// The topic or the partition does not exist (Kafka: UNKNOWN_TOPIC_OR_PARTITION).
    #[error("{topic}-{partition} does not exist")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i64,
    },
    /// An acks=all produce to a topic whose `min.insync.replicas` is more than
    /// the one replica a single node has (Kafka: NOT_ENOUGH_REPLICAS).
    #[error(
        "{topic} has min.insync.replicas={min_insync}, and this node is its only replica: \
         produce with acks=1, or set the topic's min.insync.replicas to 1"
    )]
    NotEnoughReplicas {
        /// The topic.
        topic: String,
        /// Its `min.insync.replicas`.
        min_insync: u32,
    },
    /// The partition refused or failed the append.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// An offset before the log start or past the high watermark, or a read
    /// (or a log start move) that failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A partition count that is not more than the topic has (Kafka:
    /// INVALID_PARTITIONS): partitions are only ever added.
    #[error(
        "{topic} has {current} partitions, and {asked} is not more: partitions can only be \
         added, never removed"
    )]
    PartitionsNotAdded {
        /// The topic.
        topic: String,
        /// Its partition count.
        current: u32,
        /// The count asked for.
        asked: u32,
    },
    /// A negative offset other than the sentinels the request allows.
    #[error("offset {0} is not an offset: use 0 or more, or -1 for the high watermark")]
    BadOffset(i64),
    /// The registry or storage refused or failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Where a config's value comes from (Kafka's ConfigSource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigSource {
    /// The topic's own override.
    Topic,
    /// A dynamic setting of this node (a BROKER resource named by its id).
    Node,
    /// A dynamic cluster-wide default (the BROKER resource `""`).
    Cluster,
    /// The node's flags or config file.
    Broker,
    /// Weir's built-in default.
    Default,
}

/// A config a topic (or the broker) runs under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveConfig {
    /// The key, e.g. `retention.ms`.
    pub name: String,
    /// The value in force, as Kafka writes it (`-1` for unlimited).
    pub value: String,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Every place a value is set for it, the one in force first (Kafka's
    /// synonyms): the topic's override, then the broker-wide layers under
    /// their broker-level name, then Weir's default.
    #[serde(skip)]
    pub synonyms: Vec<Synonym>,
}

/// A value set for a config at one level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    /// The key at that level (`retention.ms`, `log.retention.ms`).
    pub name: String,
    /// The value set there.
    pub value: String,
    /// The level.
    pub source: ConfigSource,
}

/// The broker-wide values of topic key `key`, from the layer in force down to
/// Weir's default, each under the key's broker-level name.
pub fn broker_synonyms(defaults: &Defaults, key: &KeyInfo) -> Vec<Synonym> {
    let layers = [
        (Layer::Node, ConfigSource::Node),
        (Layer::Cluster, ConfigSource::Cluster),
        (Layer::Static, ConfigSource::Broker),
    ];
    let mut synonyms: Vec<Synonym> = layers
        .into_iter()
        .filter_map(|(layer, source)| {
            let value = defaults.layer(layer).get(key.name)?;
            Some(Synonym { name: key.broker_name.into(), value: value.trim().into(), source })
        })
        .collect();
    synonyms.push(Synonym {
        name: key.broker_name.into(),
        value: default_value(key.name),
        source: ConfigSource::Default,
    });
    synonyms
}

/// An offset by what it means rather than its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The first offset held (the log start offset).
    Earliest,
    /// One past the last offset held (the high watermark).
    Latest,
    /// This offset, as given.
    Offset(u64),
    /// The first record with a timestamp at or after this one (ms since the
    /// epoch), or the high watermark when every record is older.
    Timestamp(i64),
}

/// The offset `position` means in `partition`. Blocks on a file read for a
/// timestamp; an `Offset` is returned as given, whether held or not.
pub fn offset_at(partition: &Partition, position: Position) -> Result<u64, ReadError> {
    Ok(match position {
        Position::Earliest => partition.log_start_offset(),
        Position::Latest => partition.high_watermark(),
        Position::Offset(offset) => offset,
        Position::Timestamp(ts) => match partition.offset_for_timestamp(ts)? {
            Some((offset, _)) => offset,
            None => partition.high_watermark(),
        },
    })
}

/// Clients may read internal topics, never change them: `operation` (a verb
/// such as `alter`) on `topic` is refused if it is one.
fn refuse_internal(topic: &str, operation: &'static str) -> Result<(), TopicsError> {
    match is_internal(topic) {
        true => Err(TopicsError::Internal { topic: topic.to_owned(), operation }),
        false => Ok(()),
    }
}

/// Who must have a produced batch before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// The leader (Kafka's acks=1, and the HTTP API's produce).
    Leader,
    /// Every in-sync replica, at least `min.insync.replicas` (acks=-1).
    All,
}

impl Broker {
    /// Creates a topic on a client's request (or, with `validate_only`, checks
    /// everything creating it would check, and creates nothing). Returns the topic
    /// as stored. Blocks on the registry's fsync.
    pub fn create_topic(
        &self,
        spec: TopicSpec,
        validate_only: bool,
    ) -> Result<TopicSpec, TopicsError> {
        if is_internal(&spec.name) {
            return Err(TopicsError::ReservedName(spec.name));
        }
        if validate_only {
            self.storage.check_new_topic(&spec)?;
            return Ok(spec);
        }
        Ok(self.storage.create_topic(spec)?)
    }

    /// Deletes the records of a partition before `offset` on a client's request
    /// (Kafka's DeleteRecords; -1 is the high watermark): its log start moves
    /// there, never back, and reads below it are out of range. Returns the new
    /// log start. Blocks on the fsyncs.
    pub fn delete_records(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<u64, TopicsError> {
        let found = u32::try_from(partition).ok().and_then(|p| self.storage.partition(topic, p));
        let Some(log) = found else {
            return Err(TopicsError::UnknownPartition {
                topic: topic.to_owned(),
                partition: partition.into(),
            });
        };
        refuse_internal(topic, "delete records of")?;
        let offset = match offset {
            -1 => log.high_watermark(),
            o => u64::try_from(o).map_err(|_| TopicsError::BadOffset(o))?,
        };
        Ok(log.delete_records(offset)?)
    }

    /// Raises a topic's partition count on a client's request (Kafka's
    /// CreatePartitions); with `validate_only`, only checks. Records keyed to
    /// the old partitions stay where they are; new keys spread over all of
    /// them. Blocks on the registry's fsync.
    pub fn add_partitions(
        &self,
        name: &str,
        partitions: u32,
        validate_only: bool,
    ) -> Result<TopicSpec, TopicsError> {
        refuse_internal(name, "add partitions to")?;
        let spec = self.storage.topic(name).ok_or_else(|| {
            TopicsError::Storage(StorageError::Topic(crate::topic::TopicError::UnknownTopic(
                name.to_owned(),
            )))
        })?;
        if partitions <= spec.partitions {
            return Err(TopicsError::PartitionsNotAdded {
                topic: name.to_owned(),
                current: spec.partitions,
                asked: partitions,
            });
        }
        if partitions > crate::topic::MAX_PARTITIONS {
            let invalid = crate::topic::TopicError::InvalidPartitions(partitions);
            return Err(TopicsError::Storage(StorageError::Topic(invalid)));
        }
        if validate_only {
            return Ok(TopicSpec { partitions, ..spec });
        }
        Ok(self.storage.add_partitions(name, partitions)?)
    }

    /// Deletes a topic and its data on a client's request. Blocks on file removal.
    pub fn delete_topic(&self, name: &str) -> Result<(), TopicsError> {
        refuse_internal(name, "delete")?;
        Ok(self.storage.delete_topic(name)?)
    }

    /// Sets (`Some`) or removes (`None`, back to the default) some of a topic's
    /// config overrides on a client's request, as Kafka's IncrementalAlterConfigs;
    /// the new values apply to its partitions at once. Returns the topic as
    /// altered. Blocks on the registry's fsync.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<TopicSpec, TopicsError> {
        refuse_internal(name, "alter")?;
        Ok(self.storage.update_topic_configs(name, changes)?)
    }

    /// `alter_topic_configs` checked and not made (Kafka's `validate_only`):
    /// the topic as it would be.
    pub fn check_topic_configs(
        &self,
        name: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<TopicSpec, TopicsError> {
        refuse_internal(name, "alter")?;
        Ok(self.storage.check_topic_configs(name, changes)?)
    }

    /// Every config a topic runs under, with its value, where that comes from,
    /// and the values set for it at each level; None if the topic does not exist.
    pub fn topic_configs(&self, name: &str) -> Option<Vec<EffectiveConfig>> {
        let spec = self.storage.topic(name)?;
        let defaults = self.storage.default_layers();
        let configs = KEYS
            .iter()
            .map(|key| {
                let mut synonyms = broker_synonyms(&defaults, key);
                if let Some(value) = spec.configs.get(key.name) {
                    let value = value.trim().to_owned();
                    let topic =
                        Synonym { name: key.name.into(), value, source: ConfigSource::Topic };
                    synonyms.insert(0, topic);
                }
                let top = &synonyms[0];
                EffectiveConfig {
                    name: key.name.into(),
                    value: top.value.clone(),
                    source: top.source,
                    synonyms,
                }
            })
            .collect();
        Some(configs)
    }

    /// The idempotent producers writing to a partition (DescribeProducers).
    pub fn active_producers(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<ActiveProducer>, TopicsError> {
        let found = u32::try_from(partition).ok().and_then(|p| self.storage.partition(topic, p));
        let log = found.ok_or_else(|| TopicsError::UnknownPartition {
            topic: topic.to_owned(),
            partition: partition.into(),
        })?;
        Ok(log.active_producers())
    }

    /// Appends a client's record batches (one or more RecordBatch v2, back to
    /// back, as Produce carries them) to a partition, as they are. Under sync
    /// durability the append waits for its fsync on the blocking pool; otherwise
    /// it is a write to the page cache, done on the caller's thread (a hand-off
    /// would cost more than the write). The partition wakes waiting readers.
    pub async fn append(
        &self,
        topic: &str,
        partition: i32,
        records: Bytes,
        acks: Acks,
    ) -> Result<AppendInfo, TopicsError> {
        let unknown = || TopicsError::UnknownPartition {
            topic: topic.to_owned(),
            partition: partition.into(),
        };
        let found = u32::try_from(partition).ok().and_then(|p| self.storage.partition(topic, p));
        let Some(log) = found else { return Err(unknown()) };
        // Clients may read internal topics (committed offsets, processor state),
        // never write them (as Kafka).
        if is_internal(topic) {
            return Err(TopicsError::Internal { topic: topic.to_owned(), operation: "produce to" });
        }
        // A write to the page cache is done here (a hand-off costs more); an
        // fsync, for sync durability or a segment roll, waits on the blocking pool.
        let config = log.config();
        if acks == Acks::All && config.min_insync_replicas > 1 {
            let min_insync = config.min_insync_replicas;
            return Err(TopicsError::NotEnoughReplicas { topic: topic.to_owned(), min_insync });
        }
        let header = crate::log::batch::BatchHeader::parse(&records[..]).ok();
        let max_timestamp = header.as_ref().map_or(-1, |h| h.max_timestamp());
        // A transactional batch goes in only within its producer's open
        // transaction that added this partition (as Kafka's KIP-890 verification).
        let in_txn = match header.filter(|h| h.is_transactional() && !h.is_control()) {
            None => false,
            Some(h) => {
                match self.txns.check_produce(h.producer_id(), h.producer_epoch(), topic, partition)
                {
                    Ok(true) => true,
                    Ok(false) => return Err(AppendError::Transactional { index: 0 }.into()),
                    Err(current) => {
                        let (producer_id, epoch) = (h.producer_id(), h.producer_epoch());
                        let fenced = AppendError::InvalidProducerEpoch {
                            index: 0,
                            producer_id,
                            epoch,
                            current,
                        };
                        return Err(fenced.into());
                    }
                }
            }
        };
        let blocking =
            config.durability == Durability::Sync || log.may_roll(records.len(), max_timestamp);
        let append = move |log: &Partition| match in_txn {
            true => log.append_transactional(&records),
            false => log.append(&records),
        };
        let appended = if blocking {
            tokio::task::spawn_blocking(move || append(&log)).await.unwrap_or_else(|e| {
                Err(AppendError::Io { dir: Default::default(), source: std::io::Error::other(e) })
            })
        } else {
            append(&log)
        };
        Ok(appended?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use crate::broker::BrokerOptions;
    use crate::log::record::{BatchBuilder, Compression};
    use crate::storage::{Storage, StorageOptions};
    use crate::topic::TopicError;

    fn broker(dir: &std::path::Path) -> Arc<Broker> {
        let mut options = StorageOptions::default();
        options.defaults.insert("segment.bytes".into(), "4096".into());
        let storage = Storage::open(dir, options).unwrap();
        let addr: SocketAddr = "127.0.0.1:9092".parse().unwrap();
        Broker::new(storage, BrokerOptions::default(), addr).unwrap()
    }

    fn spec(name: &str) -> TopicSpec {
        TopicSpec { name: name.into(), partitions: 2, configs: BTreeMap::new() }
    }

    #[tokio::test]
    async fn internal_topics_are_the_brokers_alone() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker(dir.path());
        let e = broker.create_topic(spec("__mine"), false).unwrap_err();
        assert!(matches!(e, TopicsError::ReservedName(_)), "{e}");
        assert!(e.to_string().contains("choose another name"), "{e}");
        let offsets = crate::group::OFFSETS_TOPIC;
        let e = broker.delete_topic(offsets).unwrap_err();
        assert_eq!(
            e.to_string(),
            "__consumer_offsets is an internal topic, managed by the broker: clients cannot \
             delete it"
        );
        let changes = BTreeMap::from([("retention.ms".to_owned(), Some("1".to_owned()))]);
        assert!(matches!(
            broker.alter_topic_configs(offsets, &changes),
            Err(TopicsError::Internal { operation: "alter", .. })
        ));
        let mut batch = BatchBuilder::new(0, Compression::None);
        batch.push(0, None, Some(b"v"), &[]);
        let e = broker.append(offsets, 0, batch.build().unwrap(), Acks::Leader).await.unwrap_err();
        assert!(matches!(e, TopicsError::Internal { operation: "produce to", .. }), "{e}");
        let e = broker.append(offsets, 1, Bytes::new(), Acks::Leader).await.unwrap_err();
        assert!(matches!(e, TopicsError::UnknownPartition { partition: 1, .. }), "{e}");
        assert!(broker.storage.topic(offsets).is_some());
    }

    #[test]
    fn validate_only_checks_as_create_does_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker(dir.path());
        assert_eq!(broker.create_topic(spec("orders"), true).unwrap(), spec("orders"));
        assert!(broker.storage.topic("orders").is_none());
        broker.create_topic(spec("orders"), false).unwrap();
        for validate_only in [true, false] {
            let e = broker.create_topic(spec("orders"), validate_only).unwrap_err();
            assert!(
                matches!(
                    e,
                    TopicsError::Storage(StorageError::Topic(TopicError::TopicAlreadyExists(_)))
                ),
                "{e}"
            );
            let mut bad = spec("bad");
            bad.configs.insert("retention.ms".into(), "soon".into());
            let e = broker.create_topic(bad, validate_only).unwrap_err();
            assert!(e.to_string().contains("retention.ms"), "{e}");
            let e = broker.create_topic(spec("a b"), validate_only).unwrap_err();
            assert!(e.to_string().contains("invalid topic name"), "{e}");
        }
    }

    #[test]
    fn configs_show_their_source_and_alter_one_key_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker(dir.path());
        let mut orders = spec("orders");
        orders.configs.insert("retention.ms".into(), "1000".into());
        broker.create_topic(orders, false).unwrap();
        let source = |name: &str| {
            let configs = broker.topic_configs("orders").unwrap();
            let found = configs.into_iter().find(|c| c.name == name).unwrap();
            (found.value, found.source)
        };
        assert_eq!(source("retention.ms"), ("1000".into(), ConfigSource::Topic));
        assert_eq!(source("segment.bytes"), ("4096".into(), ConfigSource::Broker));
        assert_eq!(source("retention.bytes"), ("-1".into(), ConfigSource::Default));
        assert!(broker.topic_configs("nope").is_none());

        let changes = BTreeMap::from([
            ("retention.ms".to_owned(), None),
            ("retention.bytes".to_owned(), Some("8192".to_owned())),
        ]);
        let altered = broker.alter_topic_configs("orders", &changes).unwrap();
        assert_eq!(altered.configs, BTreeMap::from([("retention.bytes".into(), "8192".into())]));
        assert_eq!(source("retention.ms").1, ConfigSource::Default);
        let config = broker.storage.partition("orders", 1).unwrap().config();
        assert_eq!((config.retention_bytes, config.segment_bytes), (Some(8192), 4096));

        let bad = BTreeMap::from([("retention.ms".to_owned(), Some("soon".to_owned()))]);
        let e = broker.alter_topic_configs("orders", &bad).unwrap_err();
        assert!(e.to_string().contains("\"soon\""), "{e}");
        assert_eq!(source("retention.bytes").0, "8192", "a refused change changes nothing");
        assert!(matches!(
            broker.alter_topic_configs("nope", &changes),
            Err(TopicsError::Storage(StorageError::Topic(TopicError::UnknownTopic(_))))
        ));
    }

    #[test]
    fn positions_resolve_to_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker(dir.path());
        broker.create_topic(spec("orders"), false).unwrap();
        let log = broker.storage.partition("orders", 0).unwrap();
        let mut batch = BatchBuilder::new(0, Compression::None);
        for ts in [100, 200, 300] {
            batch.push(ts, None, Some(b"v"), &[]);
        }
        log.append(&batch.build().unwrap()).unwrap();
        let at = |p| offset_at(&log, p).unwrap();
        assert_eq!(at(Position::Earliest), 0);
        assert_eq!(at(Position::Latest), 3);
        assert_eq!(at(Position::Offset(7)), 7);
        assert_eq!(at(Position::Timestamp(150)), 1);
        assert_eq!(at(Position::Timestamp(301)), 3);
    }
}
