//! The broker: what every protocol handler shares — storage, the group
//! coordinator, this node's identity and address, and the settings clients see.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use crate::group::{GroupCoordinator, GroupError, GroupOptions};
use crate::storage::{Storage, StorageError};
use crate::topic::{TopicError, TopicSpec};

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

/// A running broker's shared state.
#[derive(Debug)]
pub struct Broker {
    /// Topics and partitions.
    pub storage: Arc<Storage>,
    /// Consumer groups and their committed offsets; this broker coordinates all.
    pub groups: GroupCoordinator,
    /// Settings.
    pub options: BrokerOptions,
    /// The Kafka address clients are told to connect to (the bound one).
    pub advertised: SocketAddr,
    /// Bumped after every append, so long-polling fetches wake up.
    appended: watch::Sender<u64>,
}

impl Broker {
    /// A broker over `storage`, advertising `advertised` to clients. Opens the
    /// group coordinator, which creates or replays `__consumer_offsets`.
    pub fn new(
        storage: Arc<Storage>,
        options: BrokerOptions,
        advertised: SocketAddr,
    ) -> Result<Arc<Broker>, GroupError> {
        let groups = GroupCoordinator::open(Arc::clone(&storage), options.groups.clone())?;
        let (appended, _) = watch::channel(0);
        Ok(Arc::new(Broker { storage, groups, options, advertised, appended }))
    }

    /// Stops what runs in the background (the group coordinator's timer) and
    /// answers parked requests; storage is closed separately.
    pub fn shutdown(&self) {
        self.groups.shutdown();
    }

    /// Tells waiting fetches that a partition grew.
    pub fn notify_appended(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every later `notify_appended`.
    pub fn watch_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// The topic `name`, created with the default partition count if it does not
    /// exist and auto-creation is on. None if it does not exist (and was not made).
    pub fn topic_or_create(&self, name: &str) -> Result<Option<TopicSpec>, TopicError> {
        if let Some(spec) = self.storage.topic(name) {
            return Ok(Some(spec));
        }
        if !self.options.auto_create_topics {
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
