//! The broker: what every protocol handler shares — storage, the group
//! coordinator, this node's identity and address, and the settings clients see.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::group::{GroupCoordinator, GroupError, GroupOptions};
use crate::metrics::Metrics;
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
    /// Request counters and latencies, connections, uptime (`/metrics`).
    pub metrics: Metrics,
    /// Bumped after every append, so long-polling fetches wake up.
    appended: watch::Sender<u64>,
    /// The same count for threads that block (processor workers), with the
    /// condvar they wait on.
    appended_blocking: (Mutex<u64>, Condvar),
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
        let appended_blocking = (Mutex::new(0), Condvar::new());
        Ok(Arc::new(Broker {
            storage,
            groups,
            options,
            advertised,
            metrics: Metrics::new(),
            appended,
            appended_blocking,
        }))
    }

    /// Stops what runs in the background (the group coordinator's timer) and
    /// answers parked requests; storage is closed separately.
    pub fn shutdown(&self) {
        self.groups.shutdown();
    }

    /// Tells waiting fetches and processor workers that a partition grew.
    pub fn notify_appended(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
        let (count, condvar) = &self.appended_blocking;
        *count.lock() += 1;
        condvar.notify_all();
    }

    /// How many `notify_appended` calls there have been, for `wait_appended`.
    pub fn appends_seen(&self) -> u64 {
        *self.appended_blocking.0.lock()
    }

    /// Blocks the calling thread until `notify_appended` is called after the
    /// `appends_seen` that returned `seen`, or until `deadline`; returns the new
    /// count. Read the count before checking what to wait for, so that no
    /// append in between is missed.
    pub fn wait_appended(&self, seen: u64, deadline: Instant) -> u64 {
        let (count, condvar) = &self.appended_blocking;
        let mut count = count.lock();
        while *count == seen {
            if condvar.wait_until(&mut count, deadline).timed_out() {
                break;
            }
        }
        *count
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
