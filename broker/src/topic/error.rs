//! The one error type of the topic registry.
//!
//! Each variant is one answer the Kafka layer gives a client: the comment names the
//! Kafka error code it maps to. `Io` and `Corrupt` are the broker's fault, not the
//! client's: they are logged and answered with UNKNOWN_SERVER_ERROR.

use std::{io, path::PathBuf};

use thiserror::Error;

use super::keys::supported_keys;
use super::registry::MAX_PARTITIONS;

/// Why a topic operation failed.
#[derive(Debug, Error)]
pub enum TopicError {
    /// The name breaks Kafka's naming rules; the string says which (INVALID_TOPIC_EXCEPTION).
    #[error("invalid topic name: {0}")]
    InvalidTopicName(String),
    /// A topic of that name exists already (TOPIC_ALREADY_EXISTS).
    #[error("topic {0:?} already exists")]
    TopicAlreadyExists(String),
    /// No topic of that name exists (UNKNOWN_TOPIC_OR_PARTITION).
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    /// A partition count out of range (INVALID_PARTITIONS).
    #[error("invalid partition count {0}: a topic has from 1 to {max} partitions", max = MAX_PARTITIONS)]
    InvalidPartitions(u32),
    /// A supported config key with a value it cannot take (INVALID_CONFIG).
    #[error("invalid value {value:?} for topic config {key}: {reason}")]
    InvalidConfig {
        /// The config key, e.g. `retention.ms`.
        key: String,
        /// The value as the user gave it.
        value: String,
        /// What the key accepts, phrased for the user who typed the value.
        reason: String,
    },
    /// A config key Weir does not know (INVALID_CONFIG, as Kafka answers unknown keys).
    #[error("unknown topic config {0:?}; supported configs are: {keys}", keys = supported_keys().collect::<Vec<_>>().join(", "))]
    UnknownConfig(String),
    /// Reading or writing the registry's file failed.
    #[error("I/O error on {}: {source}", .path.display())]
    Io {
        /// The file or directory the failed operation was on.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The registry's file exists but cannot be trusted; nothing is dropped silently.
    #[error("{} is corrupt: {reason}", .path.display())]
    Corrupt {
        /// The file that failed to load.
        path: PathBuf,
        /// What is wrong with it (the parse error, an unknown version, a bad topic).
        reason: String,
    },
}
