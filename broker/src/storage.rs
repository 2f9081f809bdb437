//! The broker's storage: the topic registry and every partition's log in one data
//! directory, with the background threads that flush them and enforce retention.
//!
//! ```text
//! weir-data/
//!   topics.json      the registry (names, partition counts, config overrides)
//!   broker-configs.json  dynamic broker-wide topic defaults (`defaults`)
//!   producer-ids     the next block of idempotent producer ids to reserve
//!   orders-0/        one directory per partition: segments, indexes, recovery point
//!   orders-1/
//! ```
//!
//! The Kafka handlers, the HTTP API and the processor runtime all go through this
//! one type, so a topic behaves the same whichever door it is reached by.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use thiserror::Error;
use tracing::{info, warn};

use crate::log::cleaner::{CleanerOptions, CleanerTotals};
use crate::log::flusher::{self, StopSignal};
use crate::log::{Flusher, LogConfig, Partition};
use crate::producer_ids::{ProducerIdError, ProducerIds};
use crate::topic::{TopicError, TopicRegistry, TopicSpec, parse_log_config};

mod defaults;

pub use defaults::{BROKER_CONFIGS_FILE, Defaults, Layer};

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The registry refused or failed (names, configs, existence).
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// Opening, closing or removing a partition's files failed.
    #[error("partition {dir}: {source}")]
    Partition {
        /// The partition's directory.
        dir: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The producer id file could not be read or written.
    #[error(transparent)]
    ProducerIds(#[from] ProducerIdError),
}

/// Settings for the whole data directory.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// Config values every topic starts from (the broker's flags), under the topic's
    /// own overrides.
    pub defaults: BTreeMap<String, String>,
    /// How often retention is enforced (Kafka: log.retention.check.interval.ms).
    pub retention_check: Duration,
    /// How often compacted topics are looked at for cleaning (Kafka:
    /// log.cleaner.backoff.ms).
    pub cleaner_check: Duration,
    /// The cleaner's memory and I/O limits.
    pub cleaner: CleanerOptions,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            defaults: BTreeMap::new(),
            retention_check: Duration::from_secs(300),
            cleaner_check: Duration::from_secs(15),
            cleaner: CleanerOptions::default(),
        }
    }
}

/// Topics and their partitions in one data directory.
#[derive(Debug)]
pub struct Storage {
    /// The data directory.
    dir: PathBuf,
    /// Broker-wide settings.
    options: StorageOptions,
    /// The defaults topics run under where they override nothing: the options'
    /// under the dynamic layers (changed under the registry's lock).
    defaults: RwLock<Defaults>,
    /// The registry; its lock also serializes topic creation and deletion.
    registry: Mutex<TopicRegistry>,
    /// Open partitions by (topic, partition).
    partitions: RwLock<HashMap<(String, u32), Arc<Partition>>>,
    /// Hands out idempotent producer ids.
    producer_ids: ProducerIds,
    /// Flushes partitions under interval durability.
    flusher: Flusher,
    /// Stops the retention thread.
    retention_stop: Arc<StopSignal>,
    /// The retention and cleaner thread, joined by `close`.
    retention: Mutex<Option<JoinHandle<()>>>,
    /// What the cleaner did, for metrics.
    cleaner: CleanerTotals,
}

/// The directory of one partition.
pub fn partition_dir(data_dir: &Path, topic: &str, partition: u32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

impl Storage {
    /// Opens (or creates) a data directory: loads the registry and opens every
    /// partition, recovering those that did not close cleanly.
    pub fn open(
        dir: impl Into<PathBuf>,
        options: StorageOptions,
    ) -> Result<Arc<Storage>, StorageError> {
        let dir = dir.into();
        let registry = TopicRegistry::open(&dir)?;
        let producer_ids = ProducerIds::open(&dir)?;
        let defaults = RwLock::new(Defaults::load(&dir, options.defaults.clone())?);
        let storage = Arc::new(Storage {
            dir,
            options,
            defaults,
            registry: Mutex::new(registry),
            partitions: RwLock::new(HashMap::new()),
            producer_ids,
            flusher: Flusher::start(flusher::DEFAULT_TICK),
            retention_stop: Arc::new(StopSignal::default()),
            retention: Mutex::new(None),
            cleaner: CleanerTotals::default(),
        });
        let topics: Vec<TopicSpec> = storage.registry.lock().list().cloned().collect();
        for spec in &topics {
            storage.open_partitions(spec)?;
        }
        info!(dir = %storage.dir.display(), topics = topics.len(), "storage open");
        storage.start_retention();
        Ok(storage)
    }

    /// The broker-wide config values topics start from, as in force.
    pub fn defaults(&self) -> BTreeMap<String, String> {
        self.defaults.read().effective()
    }

    /// The broker-wide defaults layer by layer.
    pub fn default_layers(&self) -> Defaults {
        self.defaults.read().clone()
    }

    /// Replaces a dynamic layer of the broker-wide defaults with what `change`
    /// makes of it, checks the result (each key, and every topic's overrides
    /// over the new defaults), and unless `validate_only` stores it and applies
    /// it to every partition at once. Blocks on the file's fsync.
    pub fn alter_defaults<E: From<StorageError>>(
        &self,
        layer: Layer,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, E>,
        validate_only: bool,
    ) -> Result<Defaults, E> {
        let topic_error = |e: TopicError| E::from(StorageError::Topic(e));
        let registry = self.registry.lock();
        let current = self.defaults.read().clone();
        let next = current.with_layer(layer, change(current.layer(layer))?).map_err(topic_error)?;
        let mut configs = Vec::new();
        for spec in registry.list() {
            let mut merged = next.effective();
            merged.extend(spec.configs.iter().map(|(k, v)| (k.clone(), v.clone())));
            configs.push((spec.name.clone(), parse_log_config(&merged).map_err(topic_error)?));
        }
        if validate_only {
            return Ok(next);
        }
        next.persist(&self.dir).map_err(topic_error)?;
        *self.defaults.write() = next.clone();
        let partitions = self.partitions.read();
        for (topic, config) in configs {
            for ((_, _), partition) in partitions.iter().filter(|((t, _), _)| *t == topic) {
                partition.set_config(config.clone());
            }
        }
        Ok(next)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The effective log config of a topic's overrides: defaults, then overrides.
    fn log_config(&self, overrides: &BTreeMap<String, String>) -> Result<LogConfig, TopicError> {
        let mut merged = self.defaults();
        merged.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        parse_log_config(&merged)
    }

    fn open_partitions(&self, spec: &TopicSpec) -> Result<(), StorageError> {
        let config = self.log_config(&spec.configs)?;
        for p in 0..spec.partitions {
            let dir = partition_dir(&self.dir, &spec.name, p);
            let partition = Partition::open(&dir, config.clone())
                .map_err(|source| StorageError::Partition { dir, source })?;
            let partition = Arc::new(partition);
            self.flusher.register(&partition);
            self.partitions.write().insert((spec.name.clone(), p), partition);
        }
        Ok(())
    }

    /// Raises a topic's partition count to `partitions` and opens the new
    /// partitions (the caller checks it is a raise). The registry is written
    /// first: after a crash before the new directories exist, opening creates
    /// them as for any partition of a topic.
    pub fn add_partitions(&self, name: &str, partitions: u32) -> Result<TopicSpec, StorageError> {
        let mut registry = self.registry.lock();
        let unknown = || TopicError::UnknownTopic(name.to_owned());
        let before = registry.get(name).cloned().ok_or_else(unknown)?;
        let config = self.log_config(&before.configs)?;
        registry.set_partitions(name, partitions)?;
        for p in before.partitions..partitions {
            let dir = partition_dir(&self.dir, name, p);
            let opened = Partition::open(&dir, config.clone());
            let partition = match opened {
                Ok(partition) => Arc::new(partition),
                Err(source) => {
                    // Back to what it was, so the topic is as clients last saw it.
                    let _ = registry.set_partitions(name, before.partitions);
                    self.drop_partitions_from(name, before.partitions, p);
                    return Err(StorageError::Partition { dir, source });
                }
            };
            self.flusher.register(&partition);
            self.partitions.write().insert((name.to_owned(), p), partition);
        }
        Ok(registry.get(name).cloned().ok_or_else(unknown)?)
    }

    /// Forgets partitions `from..to` of a topic opened by a failed `add_partitions`.
    fn drop_partitions_from(&self, name: &str, from: u32, to: u32) {
        let mut partitions = self.partitions.write();
        for p in from..to {
            partitions.remove(&(name.to_owned(), p));
        }
    }

    /// What `create_topic` would refuse `spec` for, without creating anything.
    pub fn check_new_topic(&self, spec: &TopicSpec) -> Result<(), StorageError> {
        let registry = self.registry.lock();
        self.log_config(&spec.configs)?;
        Ok(registry.check_new(spec)?)
    }

    /// Creates a topic and its partitions' directories.
    pub fn create_topic(&self, spec: TopicSpec) -> Result<TopicSpec, StorageError> {
        let mut registry = self.registry.lock();
        // The merged config must be valid too, not only the overrides.
        self.log_config(&spec.configs)?;
        let spec = registry.create(spec)?.clone();
        if let Err(e) = self.open_partitions(&spec) {
            let _ = registry.delete(&spec.name);
            self.drop_partitions(&spec.name, spec.partitions);
            return Err(e);
        }
        info!(topic = %spec.name, partitions = spec.partitions, "created topic");
        Ok(spec)
    }

    /// Deletes a topic: closes its partitions and removes their files.
    pub fn delete_topic(&self, name: &str) -> Result<(), StorageError> {
        let mut registry = self.registry.lock();
        let spec = registry.delete(name)?;
        self.drop_partitions(name, spec.partitions);
        info!(topic = name, "deleted topic");
        Ok(())
    }

    fn drop_partitions(&self, name: &str, partitions: u32) {
        for p in 0..partitions {
            if let Some(partition) = self.partitions.write().remove(&(name.to_string(), p)) {
                let _ = partition.close();
            }
            let dir = partition_dir(&self.dir, name, p);
            if let Err(e) = fs::remove_dir_all(&dir)
                && e.kind() != io::ErrorKind::NotFound
            {
                warn!(dir = %dir.display(), error = %e, "could not remove a deleted partition");
            }
        }
    }

    /// Replaces a topic's config overrides and applies them to its partitions.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), StorageError> {
        let mut registry = self.registry.lock();
        self.apply_configs(&mut registry, name, configs)
    }

    /// Changes some of a topic's config overrides: `Some` sets a key, `None`
    /// removes its override (the key returns to its default). Keys left out keep
    /// their overrides. Returns the topic as altered.
    pub fn update_topic_configs(
        &self,
        name: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<TopicSpec, StorageError> {
        let mut registry = self.registry.lock();
        let unknown = || TopicError::UnknownTopic(name.to_owned());
        let configs = changed(&registry, name, changes)?;
        self.apply_configs(&mut registry, name, configs)?;
        Ok(registry.get(name).cloned().ok_or_else(unknown)?)
    }

    /// Sets the overrides of `wanted` that the topic does not have yet (internal
    /// topics made before a setting existed, e.g. compaction); returns whether
    /// anything changed.
    pub fn ensure_topic_configs(
        &self,
        name: &str,
        wanted: &[(&str, &str)],
    ) -> Result<bool, StorageError> {
        let Some(spec) = self.topic(name) else {
            return Err(TopicError::UnknownTopic(name.to_owned()).into());
        };
        let changes: BTreeMap<String, Option<String>> = wanted
            .iter()
            .filter(|(k, v)| spec.configs.get(*k).is_none_or(|have| have.trim() != *v))
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect();
        if changes.is_empty() {
            return Ok(false);
        }
        info!(topic = name, changes = ?changes, "updating an internal topic's configs");
        self.update_topic_configs(name, &changes)?;
        Ok(true)
    }

    /// What `update_topic_configs` would make of the topic, checked as it would
    /// check it, with nothing stored or applied (a validate-only request).
    pub fn check_topic_configs(
        &self,
        name: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<TopicSpec, StorageError> {
        let registry = self.registry.lock();
        let configs = changed(&registry, name, changes)?;
        self.log_config(&configs)?;
        let current = registry.get(name).ok_or_else(|| TopicError::UnknownTopic(name.into()))?;
        Ok(TopicSpec { name: current.name.clone(), partitions: current.partitions, configs })
    }

    /// Validates `configs` over the defaults, stores them and applies them to the
    /// topic's partitions; the caller holds the registry's lock.
    fn apply_configs(
        &self,
        registry: &mut TopicRegistry,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), StorageError> {
        let config = self.log_config(&configs)?;
        registry.alter_configs(name, configs)?;
        let partitions = self.partitions.read();
        for ((_, _), partition) in partitions.iter().filter(|((t, _), _)| t == name) {
            partition.set_config(config.clone());
        }
        Ok(())
    }

    /// A topic's spec.
    pub fn topic(&self, name: &str) -> Option<TopicSpec> {
        self.registry.lock().get(name).cloned()
    }

    /// The id of the topic called `name` (Kafka's topic id, a UUID).
    pub fn topic_id(&self, name: &str) -> Option<uuid::Uuid> {
        self.registry.lock().id(name)
    }

    /// The topic whose id is `id`.
    pub fn topic_by_id(&self, id: uuid::Uuid) -> Option<TopicSpec> {
        self.registry.lock().by_id(id).cloned()
    }

    /// Every topic, sorted by name.
    pub fn topics(&self) -> Vec<TopicSpec> {
        self.registry.lock().list().cloned().collect()
    }

    /// One partition's log.
    pub fn partition(&self, topic: &str, partition: u32) -> Option<Arc<Partition>> {
        self.partitions.read().get(&(topic.to_string(), partition)).cloned()
    }

    /// A producer id never handed out before in this data directory (blocking: it
    /// writes a file once per block of ids).
    pub fn allocate_producer_id(&self) -> Result<i64, ProducerIdError> {
        self.producer_ids.allocate()
    }

    /// Runs retention over every partition now; returns the segments deleted.
    pub fn enforce_retention(&self) -> usize {
        let now_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let partitions: Vec<_> = self.partitions.read().values().cloned().collect();
        let mut deleted = 0;
        for p in partitions {
            match p.enforce_retention(now_ms) {
                Ok(d) => deleted += d.len(),
                Err(e) => warn!(dir = %p.dir().display(), error = %e, "retention failed"),
            }
        }
        deleted
    }

    /// Cleans every compacted partition that is due (see `log::cleaner`); returns
    /// the passes that cleaned something.
    pub fn clean_compacted(&self) -> usize {
        let partitions: Vec<_> = self.partitions.read().values().cloned().collect();
        let mut passes = 0;
        for p in partitions {
            match p.clean(&self.options.cleaner) {
                Ok(Some(stats)) => {
                    self.cleaner.add(&stats);
                    passes += 1;
                }
                Ok(None) => {}
                Err(e) => {
                    self.cleaner.errors.fetch_add(1, Ordering::Relaxed);
                    warn!(dir = %p.dir().display(), error = %e, "log cleaning failed; the log is left as it was");
                }
            }
        }
        passes
    }

    /// What the cleaner did since the storage opened.
    pub fn cleaner_totals(&self) -> &CleanerTotals {
        &self.cleaner
    }

    fn start_retention(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let retention = self.options.retention_check;
        let tick = retention.min(self.options.cleaner_check);
        let stop = Arc::clone(&self.retention_stop);
        let thread = thread::Builder::new()
            .name("weir-retention".into())
            .spawn(move || {
                let mut last_retention = Instant::now();
                while !stop.wait(tick) {
                    let Some(storage) = weak.upgrade() else { return };
                    if last_retention.elapsed() >= retention {
                        storage.enforce_retention();
                        last_retention = Instant::now();
                    }
                    storage.clean_compacted();
                }
            })
            .expect("spawning the retention thread");
        *self.retention.lock() = Some(thread);
    }

    /// Closes every partition cleanly (flush, indexes trimmed, clean-shutdown
    /// marker). Appends fail afterwards.
    pub fn close(&self) -> Result<(), StorageError> {
        self.retention_stop.stop();
        if let Some(thread) = self.retention.lock().take() {
            let _ = thread.join();
        }
        let partitions: Vec<_> = self.partitions.read().values().cloned().collect();
        for p in partitions {
            p.close()
                .map_err(|source| StorageError::Partition { dir: p.dir().to_owned(), source })?;
        }
        info!(dir = %self.dir.display(), "storage closed cleanly");
        Ok(())
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        // Stop the retention thread; a storage dropped without `close` is left as a
        // crash would leave it, and the next open recovers it.
        self.retention_stop.stop();
    }
}

/// A topic's overrides with `changes` made (Some sets, None removes).
fn changed(
    registry: &TopicRegistry,
    name: &str,
    changes: &BTreeMap<String, Option<String>>,
) -> Result<BTreeMap<String, String>, TopicError> {
    let unknown = || TopicError::UnknownTopic(name.to_owned());
    let mut configs = registry.get(name).ok_or_else(unknown)?.configs.clone();
    for (key, value) in changes {
        match value {
            Some(value) => configs.insert(key.clone(), value.clone()),
            None => configs.remove(key),
        };
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::{BatchBuilder, Compression};

    fn spec(name: &str, partitions: u32) -> TopicSpec {
        TopicSpec { name: name.into(), partitions, configs: BTreeMap::new() }
    }

    fn one_record() -> Vec<u8> {
        let mut b = BatchBuilder::new(0, Compression::None);
        b.push(1, Some(b"k"), Some(b"v"), &[]);
        b.build().unwrap().to_vec()
    }

    #[test]
    fn topics_and_their_records_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
        storage.create_topic(spec("orders", 3)).unwrap();
        storage.partition("orders", 2).unwrap().append(&one_record()).unwrap();
        assert!(storage.partition("orders", 3).is_none());
        assert!(partition_dir(dir.path(), "orders", 0).is_dir());
        storage.close().unwrap();
        drop(storage);

        let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
        assert_eq!(storage.topics(), vec![spec("orders", 3)]);
        assert_eq!(storage.partition("orders", 2).unwrap().high_watermark(), 1);
        assert_eq!(storage.partition("orders", 0).unwrap().high_watermark(), 0);
    }

    #[test]
    fn delete_removes_partitions_and_bad_creates_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), StorageOptions::default()).unwrap();
        storage.create_topic(spec("payments", 2)).unwrap();
        storage.delete_topic("payments").unwrap();
        assert!(storage.partition("payments", 0).is_none());
        assert!(!partition_dir(dir.path(), "payments", 0).exists());
        assert!(matches!(
            storage.delete_topic("payments"),
            Err(StorageError::Topic(TopicError::UnknownTopic(_)))
        ));

        let mut bad = spec("bad", 1);
        bad.configs.insert("retention.ms".into(), "soon".into());
        assert!(matches!(
            storage.create_topic(bad),
            Err(StorageError::Topic(TopicError::InvalidConfig { .. }))
        ));
        assert!(matches!(storage.create_topic(spec("no/slash", 1)), Err(StorageError::Topic(_))));
        assert!(storage.topics().is_empty());
    }

    #[test]
    fn broker_defaults_apply_under_topic_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = StorageOptions::default();
        options.defaults.insert("durability".into(), "sync".into());
        options.defaults.insert("retention.ms".into(), "1000".into());
        let storage = Storage::open(dir.path(), options).unwrap();
        let mut s = spec("audit", 1);
        s.configs.insert("retention.ms".into(), "-1".into());
        storage.create_topic(s).unwrap();
        let config = storage.partition("audit", 0).unwrap().config();
        assert_eq!(config.durability, crate::log::Durability::Sync);
        assert_eq!(config.retention_age, None);

        let mut altered = BTreeMap::new();
        altered.insert("retention.bytes".into(), "4096".into());
        storage.alter_topic_configs("audit", altered).unwrap();
        let config = storage.partition("audit", 0).unwrap().config();
        assert_eq!(config.retention_bytes, Some(4096));
        assert_eq!(config.retention_age, Some(Duration::from_secs(1)));
    }
}
