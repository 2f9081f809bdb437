//! The topic registry: which topics exist, how many partitions each has, and the
//! config overrides their partitions' logs run under.
//!
//! Layout of this module:
//! - `name`: topic name rules, as Kafka checks them.
//! - `config`: Kafka-style `key=value` overrides parsed into a `LogConfig`, and the
//!   effective values DescribeConfigs reports.
//! - `changes`: config changes as admin clients ask for them (set, delete,
//!   append, subtract, replace), for topics and the broker alike.
//! - `keys`: what each config key is (type, documentation, broker-wide name).
//! - `registry`: `TopicRegistry`, persisted atomically as `topics.json` in the data
//!   directory.
//! - `error`: `TopicError`, whose variants map to Kafka error codes.
//!
//! The registry only records topics; creating and deleting partition logs is up to
//! its caller.

pub mod changes;
pub mod config;
pub mod error;
pub mod keys;
pub mod name;
pub mod registry;

pub use config::{ConfigEntry, default_value, describe, parse_log_config};
pub use error::TopicError;
pub use keys::{ConfigType, KeyInfo, supported_keys};
pub use name::{MAX_NAME_LEN, is_internal, validate_topic_name};
pub use registry::{MAX_PARTITIONS, TOPICS_FILE, TopicRegistry, TopicSpec};
