//! The broker: what every protocol handler shares — storage, the group and
//! transaction coordinators, this node's identity and address, and the settings
//! clients see.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use crate::group::{GroupCoordinator, GroupError, GroupOptions};
use crate::metrics::Metrics;
use crate::storage::{Storage, StorageError};
use crate::topic::{TopicError, TopicSpec};
use crate::txn::{TxnCoordinator, TxnError};

/// Broker-wide settings that shape answers to clients.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// This node's id in Metadata.
    pub node_id: i32,
    /// The cluster id clients see.
    pub cluster_id: String,
    /// Create a topic the first time a client asks for it by name (Kafka:
    /// auto.create.topics.enable).
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic (Kafka: num.partitions).
    pub default_partitions: u32,
    /// Settings of the group coordinator.
    pub groups: GroupOptions,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            node_id: 0,
            cluster_id: "weir".into(),
            auto_create_topics: true,
            default_partitions: 1,
            groups: GroupOptions::default(),
        }
    }
}

/// Why a broker could not open.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The group coordinator could not replay `__consumer_offsets`.
    #[error("opening the group coordinator: {0}")]
    Groups(#[from] GroupError),
    /// The transaction coordinator could not replay `__transaction_state`.
    #[error("opening the transaction coordinator: {0}")]
    Transactions(#[from] TxnError),
}

/// A running broker's shared state.
#[derive(Debug)]
pub struct Broker {
    /// Topics and partitions.
    pub storage: Arc<Storage>,
    /// Consumer groups and their committed offsets; this broker coordinates all.
    pub groups: GroupCoordinator,
    /// Transactional ids and their transactions; this broker coordinates all.
    pub txns: TxnCoordinator,
    /// Settings.
    pub options: BrokerOptions,
    /// The Kafka address clients are told to connect to (Metadata,
    /// FindCoordinator).
    pub advertised: Advertised,
    /// Request counters and latencies, connections, uptime (`/metrics`).
    pub metrics: Metrics,
}

impl Broker {
    /// A broker over `storage`, advertising `advertised` to clients. Opens the
    /// group coordinator, which creates or replays `__consumer_offsets`, then the
    /// transaction coordinator, which does the same with `__transaction_state` and
    /// finishes the transactions a crash left decided.
    pub fn new(
        storage: Arc<Storage>,
        options: BrokerOptions,
        advertised: impl Into<Advertised>,
    ) -> Result<Arc<Broker>, BrokerError> {
        let advertised = advertised.into();
        let groups = GroupCoordinator::open(Arc::clone(&storage), options.groups.clone())?;
        let txns = TxnCoordinator::open(Arc::clone(&storage), groups.offsets())?;
        let metrics = Metrics::new();
        Ok(Arc::new(Broker { storage, groups, txns, options, advertised, metrics }))
    }

    /// Stops what runs in the background (the group coordinator's timer) and
    /// answers parked requests; storage is closed separately.
    pub fn shutdown(&self) {
        self.groups.shutdown();
    }

    /// The topic `name`, created with the default partition count if it does not
    /// exist and auto-creation is on. None if it does not exist (and was not made).
    pub fn topic_or_create(&self, name: &str) -> Result<Option<TopicSpec>, TopicError> {
        if let Some(spec) = self.storage.topic(name) {
            return Ok(Some(spec));
        }
        // Internal topics are made by the broker itself, never on a client's say.
        if !self.options.auto_create_topics || crate::topic::is_internal(name) {
            return Ok(None);
        }
        let spec = TopicSpec {
            name: name.to_string(),
            partitions: self.options.default_partitions,
            configs: BTreeMap::new(),
        };
        match self.storage.create_topic(spec) {
            Ok(spec) => Ok(Some(spec)),
            // Another connection created it first.
            Err(StorageError::Topic(TopicError::TopicAlreadyExists(_))) => {
                Ok(self.storage.topic(name))
            }
            Err(StorageError::Topic(e)) => Err(e),
            Err(e @ (StorageError::Partition { .. } | StorageError::ProducerIds(_))) => {
                tracing::error!(topic = name, error = %e, "auto-creating a topic failed");
                Ok(None)
            }
        }
    }
}

/// The host and port a broker tells clients to connect to: what they can reach,
/// which is not always what it binds (`0.0.0.0`, a container's address, NAT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port; 0 in a setting means "the bound port".
    pub port: u16,
}

/// Why an address cannot be advertised.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdvertisedError {
    /// Not `HOST` or `HOST:PORT`.
    #[error("{0:?} is not HOST or HOST:PORT (for example kafka.example.com:9092)")]
    Syntax(String),
    /// A wildcard address, which no client can connect to.
    #[error(
        "{0} is a wildcard address that clients cannot connect to: set --advertised-addr \
         (WEIR_ADVERTISED_ADDR, advertised_addr) to the HOST:PORT clients reach this broker at"
    )]
    Wildcard(String),
}

impl Advertised {
    /// What a broker bound to `bound` advertises, given the setting `wanted`:
    /// the setting (its port 0 replaced by the bound port), or else the bound
    /// address when it is a specific one. A wildcard is refused either way.
    pub fn resolve(
        wanted: Option<&Advertised>,
        bound: SocketAddr,
    ) -> Result<Self, AdvertisedError> {
        let advertised = match wanted {
            Some(a) => Advertised {
                host: a.host.clone(),
                port: if a.port == 0 { bound.port() } else { a.port },
            },
            None => Advertised { host: bound.ip().to_string(), port: bound.port() },
        };
        match advertised.host.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => Err(AdvertisedError::Wildcard(advertised.to_string())),
            _ => Ok(advertised),
        }
    }
}

impl From<SocketAddr> for Advertised {
    fn from(addr: SocketAddr) -> Self {
        Advertised { host: addr.ip().to_string(), port: addr.port() }
    }
}

impl fmt::Display for Advertised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

impl FromStr for Advertised {
    type Err = AdvertisedError;

    /// `HOST`, `HOST:PORT`, `[IPV6]` or `[IPV6]:PORT`; a missing port is 0.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || AdvertisedError::Syntax(text.to_owned());
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else {
            match text.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => return Err(bad()),
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
        if host.is_empty() || !host.chars().all(legal) {
            return Err(bad());
        }
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| bad())?,
            None => 0,
        };
        Ok(Advertised { host: host.to_owned(), port })
    }
}

impl<'de> serde::Deserialize<'de> for Advertised {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn advertised_addresses_parse_and_resolve() {
        let a = |host: &str, port| Advertised { host: host.into(), port };
        assert_eq!("kafka.example.com:9093".parse(), Ok(a("kafka.example.com", 9093)));
        assert_eq!("10.1.2.3".parse(), Ok(a("10.1.2.3", 0)));
        assert_eq!("[::1]:9092".parse(), Ok(a("::1", 9092)));
        assert_eq!("[fe80::1]".parse(), Ok(a("fe80::1", 0)));
        for bad in ["", ":9092", "host:", "host:70000", "::1:9092", "[::1", "[::1]x", "a b:1"] {
            assert!(bad.parse::<Advertised>().is_err(), "{bad:?} parsed");
        }
        assert_eq!(a("::1", 9092).to_string(), "[::1]:9092");

        // Unset: the bound address, when specific.
        let resolved = Advertised::resolve(None, bound("127.0.0.1:4000"));
        assert_eq!(resolved, Ok(a("127.0.0.1", 4000)));
        for wildcard in ["0.0.0.0:9092", "[::]:9092"] {
            let refused = Advertised::resolve(None, bound(wildcard));
            assert!(matches!(refused, Err(AdvertisedError::Wildcard(_))), "{wildcard}");
            assert!(refused.unwrap_err().to_string().contains("--advertised-addr"));
        }
        // Set: its port 0 is the bound one; a wildcard is refused there too.
        let wanted = a("kafka.example.com", 0);
        let resolved = Advertised::resolve(Some(&wanted), bound("0.0.0.0:9092"));
        assert_eq!(resolved, Ok(a("kafka.example.com", 9092)));
        let resolved = Advertised::resolve(Some(&a("10.0.0.5", 19092)), bound("0.0.0.0:9092"));
        assert_eq!(resolved, Ok(a("10.0.0.5", 19092)));
        let refused = Advertised::resolve(Some(&a("0.0.0.0", 0)), bound("127.0.0.1:1"));
        assert!(matches!(refused, Err(AdvertisedError::Wildcard(_))));
    }
}
