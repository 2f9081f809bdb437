//! What each topic config key is: its data type, what it does, and its
//! broker-wide name (the default a topic without an override takes, set by
//! `weir serve`'s flags or as a dynamic broker config), as Kafka names them.
//! DescribeConfigs reports these; `config` parses the values.

/// A config's data type, as Kafka's DescribeConfigs names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// `true` or `false`.
    Boolean,
    /// Free text, or one of a set of words.
    String,
    /// A 32-bit integer.
    Int,
    /// A 64-bit integer.
    Long,
    /// A decimal number.
    Double,
    /// Comma-separated words.
    List,
}

/// One topic config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// The topic-level name, e.g. `retention.ms`.
    pub name: &'static str,
    /// The broker-level name of its default, e.g. `log.retention.ms`.
    pub broker_name: &'static str,
    /// Its data type.
    pub kind: ConfigType,
    /// What it does, for DescribeConfigs' documentation.
    pub doc: &'static str,
}

/// Every key a topic may override, sorted by name.
pub const KEYS: [KeyInfo; 16] = [
    KeyInfo {
        name: "cleanup.policy",
        broker_name: "log.cleanup.policy",
        kind: ConfigType::List,
        doc: "What happens to old records: delete removes whole segments past \
              retention.ms or retention.bytes; compact keeps the latest record of each \
              key (tombstones go after delete.retention.ms); compact,delete does both.",
    },
    KeyInfo {
        name: "compression.type",
        broker_name: "compression.type",
        kind: ConfigType::String,
        doc: "The codec batches are stored with: producer keeps the producer's; \
              uncompressed, gzip, snappy, lz4 or zstd recompresses on append.",
    },
    KeyInfo {
        name: "delete.retention.ms",
        broker_name: "log.cleaner.delete.retention.ms",
        kind: ConfigType::Long,
        doc: "How long a compacted topic keeps a tombstone readable once the \
              segment holding it is older than this (ms).",
    },
    KeyInfo {
        name: "durability",
        broker_name: "log.durability",
        kind: ConfigType::String,
        doc: "When appends reach the disk: interval (fsync every flush.ms) or sync \
              (fsync before acknowledging; concurrent appends share one fsync). Weir's own.",
    },
    KeyInfo {
        name: "flush.ms",
        broker_name: "log.flush.interval.ms",
        kind: ConfigType::Long,
        doc: "Under durability=interval, how often unflushed appends are fsynced (ms).",
    },
    KeyInfo {
        name: "index.interval.bytes",
        broker_name: "log.index.interval.bytes",
        kind: ConfigType::Int,
        doc: "Bytes of log between two entries of the sparse offset index.",
    },
    KeyInfo {
        name: "max.compaction.lag.ms",
        broker_name: "log.cleaner.max.compaction.lag.ms",
        kind: ConfigType::Long,
        doc: "The longest a record of a compacted topic stays uncompacted (ms): past it \
              the log is cleaned whatever its dirty ratio.",
    },
    KeyInfo {
        name: "max.message.bytes",
        broker_name: "message.max.bytes",
        kind: ConfigType::Int,
        doc: "The largest record batch a producer may append, in bytes.",
    },
    KeyInfo {
        name: "message.timestamp.type",
        broker_name: "log.message.timestamp.type",
        kind: ConfigType::String,
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps each \
              batch with the broker's clock when it is appended.",
    },
    KeyInfo {
        name: "min.cleanable.dirty.ratio",
        broker_name: "log.cleaner.min.cleanable.ratio",
        kind: ConfigType::Double,
        doc: "The share of a compacted topic's log not yet cleaned (by bytes, active \
              segment excluded) at which the cleaner cleans it.",
    },
    KeyInfo {
        name: "min.compaction.lag.ms",
        broker_name: "log.cleaner.min.compaction.lag.ms",
        kind: ConfigType::Long,
        doc: "The shortest time a record of a compacted topic stays uncompacted (ms): \
              segments with newer records are not cleaned.",
    },
    KeyInfo {
        name: "min.insync.replicas",
        broker_name: "min.insync.replicas",
        kind: ConfigType::Int,
        doc: "Replicas that must hold a batch before an acks=all produce succeeds; a \
              single node has one, so above 1 such produces fail with \
              NOT_ENOUGH_REPLICAS.",
    },
    KeyInfo {
        name: "retention.bytes",
        broker_name: "log.retention.bytes",
        kind: ConfigType::Long,
        doc: "Delete the oldest segments while a partition is larger than this (-1: \
              no limit).",
    },
    KeyInfo {
        name: "retention.ms",
        broker_name: "log.retention.ms",
        kind: ConfigType::Long,
        doc: "Delete segments whose newest record is older than this (ms; -1: keep \
              forever).",
    },
    KeyInfo {
        name: "segment.bytes",
        broker_name: "log.segment.bytes",
        kind: ConfigType::Int,
        doc: "Roll to a new segment file when the active one would pass this size.",
    },
    KeyInfo {
        name: "segment.ms",
        broker_name: "log.roll.ms",
        kind: ConfigType::Long,
        doc: "Roll to a new segment file when the active one's first record is older \
              than this (ms).",
    },
];

/// The key named `name` at the topic level.
pub fn key(name: &str) -> Option<&'static KeyInfo> {
    KEYS.iter().find(|k| k.name == name)
}

/// The key whose broker-level name is `name`.
pub fn by_broker_name(name: &str) -> Option<&'static KeyInfo> {
    KEYS.iter().find(|k| k.broker_name == name)
}

/// Every topic-level name, sorted.
pub fn supported_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|k| k.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_and_names_unique_at_both_levels() {
        let names: Vec<&str> = supported_keys().collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        let mut broker: Vec<&str> = KEYS.iter().map(|k| k.broker_name).collect();
        broker.sort();
        broker.dedup();
        assert_eq!(broker.len(), KEYS.len());
        for k in KEYS {
            assert_eq!(key(k.name), Some(&k));
            assert_eq!(by_broker_name(k.broker_name), Some(&k));
        }
    }
}
