//! The broker's own configs, as Kafka's admin clients see a BROKER resource:
//! the broker-wide topic defaults under Kafka's broker-level names
//! (`log.retention.ms`...), which change at run time (`Storage::alter_defaults`),
//! and the node's settings, which are its flags and read-only.
//!
//! A BROKER resource is named by a node id (this node's dynamic settings over
//! the rest) or `""` (the dynamic cluster-wide defaults alone), as in Kafka.

use std::time::Duration;

use crate::broker::Broker;
use crate::storage::{Layer, StorageError};
use crate::topic::changes::{ChangeError, Changes};
use crate::topic::default_value;
use crate::topic::keys::{ConfigType, KEYS, by_broker_name};
use crate::topics::{ConfigSource, EffectiveConfig, Synonym, broker_synonyms};

/// A broker config as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Its value, source and synonyms, under its broker-level name.
    pub config: EffectiveConfig,
    /// Its data type.
    pub kind: ConfigType,
    /// What it does.
    pub doc: &'static str,
    /// True for the node's settings, which change only with a restart.
    pub read_only: bool,
}

/// Which BROKER resource a name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerScope {
    /// `""`: the dynamic cluster-wide defaults.
    Cluster,
    /// This node, by its id.
    Node,
}

impl BrokerScope {
    /// The layer AlterConfigs on this resource changes.
    pub fn layer(self) -> Layer {
        match self {
            BrokerScope::Cluster => Layer::Cluster,
            BrokerScope::Node => Layer::Node,
        }
    }
}

/// Why a BROKER resource or one of its configs cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BrokerConfigError {
    /// A resource named neither `""` nor this node's id.
    #[error(
        "broker {0:?} is not in this cluster: its only node is {1} (\"\" names the cluster-wide defaults)"
    )]
    UnknownBroker(String, i32),
    /// A config that is not one of the broker's.
    #[error(
        "{0} is not a broker config Weir has; the ones that change at run time are: {list}",
        list = dynamic_names().join(", ")
    )]
    Unknown(String),
    /// One of the node's settings, which change only with a restart.
    #[error("{0} is read-only: it is weir serve's {1}, which takes a restart to change")]
    ReadOnly(String, &'static str),
}

/// Why the broker's configs were not changed.
#[derive(Debug, thiserror::Error)]
pub enum AlterBrokerError {
    /// The resource or a config named is not one that changes (see the variants).
    #[error(transparent)]
    Config(#[from] BrokerConfigError),
    /// The changes asked contradict themselves or do not fit the config.
    #[error(transparent)]
    Change(#[from] ChangeError),
    /// A value is invalid, or the new defaults could not be stored.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The broker-level names of the configs that change at run time.
pub fn dynamic_names() -> Vec<&'static str> {
    KEYS.iter().map(|k| k.broker_name).collect()
}

/// A read-only setting of the node: name, type, flag, what it is.
struct Setting {
    name: &'static str,
    kind: ConfigType,
    flag: &'static str,
    doc: &'static str,
}

/// The node's settings shown read-only, in the order listed.
const SETTINGS: [Setting; 8] = [
    Setting {
        name: "advertised.listeners",
        kind: ConfigType::String,
        flag: "--advertised-addr",
        doc: "The address clients are told to connect to.",
    },
    Setting {
        name: "auto.create.topics.enable",
        kind: ConfigType::Boolean,
        flag: "--auto-create-topics",
        doc: "Create a topic the first time a client asks for it by name.",
    },
    Setting { name: "broker.id", kind: ConfigType::Int, flag: "node id", doc: "This node's id." },
    Setting {
        name: "group.initial.rebalance.delay.ms",
        kind: ConfigType::Int,
        flag: "group settings",
        doc: "How long the first join of an empty group waits for more members (ms).",
    },
    Setting {
        name: "group.max.session.timeout.ms",
        kind: ConfigType::Int,
        flag: "group settings",
        doc: "The longest session timeout a group member may ask for (ms).",
    },
    Setting {
        name: "group.min.session.timeout.ms",
        kind: ConfigType::Int,
        flag: "group settings",
        doc: "The shortest session timeout a group member may ask for (ms).",
    },
    Setting {
        name: "log.dirs",
        kind: ConfigType::String,
        flag: "--data-dir",
        doc: "The data directory.",
    },
    Setting {
        name: "num.partitions",
        kind: ConfigType::Int,
        flag: "--default-partitions",
        doc: "Partitions of a topic created without a count (auto-created ones too).",
    },
];

impl Broker {
    /// Which BROKER resource `name` is.
    pub fn broker_scope(&self, name: &str) -> Result<BrokerScope, BrokerConfigError> {
        let id = self.options.node_id;
        match name {
            "" => Ok(BrokerScope::Cluster),
            _ if name.trim().parse::<i32>() == Ok(id) => Ok(BrokerScope::Node),
            _ => Err(BrokerConfigError::UnknownBroker(name.to_owned(), id)),
        }
    }

    /// The configs of a BROKER resource: for this node every config, with the
    /// value in force; for the cluster only those set cluster-wide.
    pub fn broker_configs(&self, scope: BrokerScope) -> Vec<BrokerConfig> {
        let defaults = self.storage.default_layers();
        let mut configs: Vec<BrokerConfig> = KEYS
            .iter()
            .filter(|key| scope == BrokerScope::Node || defaults.cluster.contains_key(key.name))
            .map(|key| {
                let mut synonyms = broker_synonyms(&defaults, key);
                if scope == BrokerScope::Cluster {
                    synonyms.retain(|s| s.source != ConfigSource::Node);
                }
                let top = synonyms[0].clone();
                let config = EffectiveConfig {
                    name: key.broker_name.into(),
                    value: top.value,
                    source: top.source,
                    synonyms,
                };
                BrokerConfig { config, kind: key.kind, doc: key.doc, read_only: false }
            })
            .collect();
        if scope == BrokerScope::Node {
            configs.extend(SETTINGS.iter().map(|s| {
                let value = self.setting(s.name);
                let synonym = Synonym {
                    name: s.name.into(),
                    value: value.clone(),
                    source: ConfigSource::Broker,
                };
                let config = EffectiveConfig {
                    name: s.name.into(),
                    value,
                    source: ConfigSource::Broker,
                    synonyms: vec![synonym],
                };
                BrokerConfig { config, kind: s.kind, doc: s.doc, read_only: true }
            }));
            configs.sort_by(|a, b| a.config.name.cmp(&b.config.name));
        }
        configs
    }

    /// Applies (or, `validate_only`, checks) `changes`, named by Kafka's
    /// broker-level names, to the dynamic layer of the BROKER resource `scope`;
    /// every topic without an override of its own runs under the result at
    /// once. Blocks on the file's fsync.
    pub fn alter_broker_configs(
        &self,
        scope: BrokerScope,
        changes: &Changes,
        validate_only: bool,
    ) -> Result<(), AlterBrokerError> {
        let mut ops = Vec::with_capacity(changes.ops.len());
        for (config, op) in &changes.ops {
            ops.push((self.dynamic_key(config)?.to_owned(), op.clone()));
        }
        let changes = Changes { replace: changes.replace, ops };
        let in_force = |key: &str| {
            self.storage.defaults().get(key).cloned().unwrap_or_else(|| default_value(key))
        };
        let change = |layer: &std::collections::BTreeMap<String, String>| {
            changes.apply(layer, in_force).map_err(AlterBrokerError::Change)
        };
        self.storage.alter_defaults(scope.layer(), change, validate_only).map(drop)
    }

    /// The topic-level key a broker config changes; an error for read-only and
    /// unknown ones.
    pub fn dynamic_key(&self, name: &str) -> Result<&'static str, BrokerConfigError> {
        if let Some(key) = by_broker_name(name) {
            return Ok(key.name);
        }
        match SETTINGS.iter().find(|s| s.name == name) {
            Some(s) => Err(BrokerConfigError::ReadOnly(name.to_owned(), s.flag)),
            None => Err(BrokerConfigError::Unknown(name.to_owned())),
        }
    }

    /// A read-only setting's value, as Kafka writes it.
    fn setting(&self, name: &str) -> String {
        let ms = |d: Duration| d.as_millis().to_string();
        let groups = &self.options.groups;
        match name {
            "advertised.listeners" => format!("PLAINTEXT://{}", self.advertised),
            "auto.create.topics.enable" => self.options.auto_create_topics.to_string(),
            "broker.id" => self.options.node_id.to_string(),
            "group.initial.rebalance.delay.ms" => ms(groups.initial_rebalance_delay),
            "group.max.session.timeout.ms" => ms(groups.max_session_timeout),
            "group.min.session.timeout.ms" => ms(groups.min_session_timeout),
            "log.dirs" => self.storage.dir().display().to_string(),
            "num.partitions" => self.options.default_partitions.to_string(),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::broker::BrokerOptions;
    use crate::storage::{Storage, StorageError, StorageOptions};

    #[test]
    fn node_and_cluster_resources_show_their_layers() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = StorageOptions::default();
        options.defaults.insert("max.message.bytes".into(), "2000000".into());
        let storage = Storage::open(dir.path(), options).unwrap();
        let broker = Broker::new(
            storage,
            BrokerOptions::default(),
            "127.0.0.1:9092".parse::<std::net::SocketAddr>().unwrap(),
        )
        .unwrap();
        assert_eq!(broker.broker_scope("0"), Ok(BrokerScope::Node));
        assert_eq!(broker.broker_scope(""), Ok(BrokerScope::Cluster));
        assert!(broker.broker_scope("7").is_err());
        assert!(broker.broker_configs(BrokerScope::Cluster).is_empty());

        let set = |layer, pairs: &[(&str, &str)]| {
            let values: BTreeMap<String, String> =
                pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            broker.storage.alter_defaults(layer, |_| Ok::<_, StorageError>(values), false).unwrap();
        };
        set(Layer::Cluster, &[("retention.ms", "5000")]);
        set(Layer::Node, &[("retention.ms", "6000")]);
        let node = broker.broker_configs(BrokerScope::Node);
        let get = |configs: &[BrokerConfig], name: &str| {
            configs.iter().find(|c| c.config.name == name).unwrap().clone()
        };
        let retention = get(&node, "log.retention.ms");
        assert_eq!(
            (retention.config.value.as_str(), retention.config.source),
            ("6000", ConfigSource::Node)
        );
        let sources: Vec<ConfigSource> =
            retention.config.synonyms.iter().map(|s| s.source).collect();
        assert_eq!(sources, [ConfigSource::Node, ConfigSource::Cluster, ConfigSource::Default]);
        assert_eq!(retention.kind, ConfigType::Long);
        let max = get(&node, "message.max.bytes");
        assert_eq!(
            (max.config.value.as_str(), max.config.source),
            ("2000000", ConfigSource::Broker)
        );
        let id = get(&node, "broker.id");
        assert!(id.read_only);
        assert_eq!(id.config.value, "0");
        let cluster = broker.broker_configs(BrokerScope::Cluster);
        assert_eq!(cluster.len(), 1);
        assert_eq!(cluster[0].config.value, "5000");
        assert_eq!(cluster[0].config.source, ConfigSource::Cluster);

        assert_eq!(broker.dynamic_key("log.retention.ms"), Ok("retention.ms"));
        assert!(matches!(
            broker.dynamic_key("num.partitions"),
            Err(BrokerConfigError::ReadOnly(..))
        ));
        let unknown = broker.dynamic_key("sasl.kerberos.min.time.before.relogin").unwrap_err();
        assert!(unknown.to_string().contains("log.retention.ms"), "{unknown}");
    }
}
