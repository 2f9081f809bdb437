//! Processors as the broker hosts them: the registry of deployments, durable in
//! the data directory and restarted at every open, over the runtime's workers.
//!
//! Layout:
//! - `store`: [`BrokerStore`], the runtime's `LogStore` over the broker's
//!   partitions, and the state changelogs `__weir_state.<processor>`.
//! - `deployment`: a deployment's files, `manifest.json` and `module.wasm`.
//! - `logs`: processor logs kept durably in `__weir_logs`, shipped there from the
//!   runtime's in-memory rings by a background thread, and read back by name.
//! - `error`: [`ProcessorError`] and the HTTP status of each.
//!
//! A deployment owns: its directory under `<data-dir>/processors/`, its state
//! changelog topic, and the committed offsets of the consumer group named like
//! it. It creates, and leaves behind when deleted (they hold user data), its
//! dead-letter topic `<name>.dead-letter`, and its log lines in `__weir_logs`
//! (until retention). Its input and output topics must exist before it is
//! deployed.
//!
//! Changes (deploy, upgrade, pause, resume, delete) are serialized by one lock,
//! held while a module compiles; reads (list, get, logs) never wait for them.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, MutexGuard, RwLock};
use serde::Serialize;
use tracing::{info, warn};
use weir_runtime::manifest::Manifest;
use weir_runtime::status::ProcessorStatus;
use weir_runtime::store::LogStore;
use weir_runtime::{Processor, Runtime, RuntimeOptions};

use crate::broker::Broker;
use crate::group::GroupError;
use crate::log::flusher::StopSignal;
use crate::storage::StorageError;
use crate::topic::{TopicError, TopicSpec, is_internal};

pub mod deployment;
mod error;
mod grow;
pub mod logs;
pub mod store;

use deployment::DeploymentRecord;
pub use error::ProcessorError;
use logs::{Cursor, ProcessorLogs};
pub use logs::{LOGS_TOPIC, LogEntry};
pub use store::{BrokerStore, STATE_TOPIC_PREFIX, state_topic};

/// The registry's directory under the data directory.
pub const PROCESSORS_DIR: &str = "processors";
/// Compiled components, under the registry's directory.
const CACHE_DIR: &str = ".cache";
/// A deployment being written, renamed into place when complete.
const NEW_PREFIX: &str = ".new-";
/// A deployment being deleted: its state topic and offsets go, then the directory.
const DELETING_PREFIX: &str = ".deleting-";

/// A deployed processor as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessorInfo {
    /// The manifest in force.
    pub manifest: Manifest,
    /// Paused by the operator.
    pub paused: bool,
    /// 1 at deployment, +1 per upgrade.
    pub version: u32,
    /// When this version was deployed, ms since the epoch.
    pub deployed_at_ms: i64,
    /// What its workers are doing.
    pub status: ProcessorStatus,
}

/// One running deployment.
#[derive(Debug, Clone)]
struct Deployment {
    /// The runtime's handle on its workers.
    processor: Processor,
    /// What is on disk.
    record: DeploymentRecord,
    /// How far its log lines were shipped to `__weir_logs`.
    log: Arc<Mutex<Cursor>>,
}

/// The deployments by name, shared with the log shipper.
type Deployments = RwLock<BTreeMap<String, Deployment>>;

/// The deployed processors of one broker.
#[derive(Debug)]
pub struct Processors {
    /// Topics, groups and append notifications.
    broker: Arc<Broker>,
    /// Compiles modules and runs workers.
    runtime: Runtime,
    /// The log as workers see it.
    store: Arc<BrokerStore>,
    /// `<data-dir>/processors`.
    dir: PathBuf,
    /// Running deployments by name.
    deployments: Arc<Deployments>,
    /// Held by every change; true once `shutdown` ran, after which changes are
    /// refused.
    admin: Mutex<bool>,
    /// The processors' logs in `__weir_logs`.
    logs: Arc<ProcessorLogs>,
    /// Stops the log shipper.
    shipper_stop: Arc<StopSignal>,
    /// The log shipper thread, joined by `shutdown`.
    shipper: Mutex<Option<JoinHandle<()>>>,
}

impl Processors {
    /// The registry of the data directory `data_dir`: deployments under
    /// `<data_dir>/processors`, compiled components cached in `cache` (default:
    /// the registry's `.cache`). Blocks while modules compile (once each; later
    /// opens hit the cache).
    pub fn open_in(
        broker: Arc<Broker>,
        data_dir: &Path,
        cache: Option<PathBuf>,
    ) -> Result<Processors, ProcessorError> {
        let dir = data_dir.join(PROCESSORS_DIR);
        let cache = cache.unwrap_or_else(|| dir.join(CACHE_DIR));
        let runtime = Runtime::new(RuntimeOptions { cache_dir: Some(cache) })?;
        Processors::open(broker, runtime, dir)
    }

    /// Opens the registry under `dir` and restarts every deployment found, paused
    /// ones paused. A deployment that cannot be read or started is logged and
    /// skipped (delete it, or fix it and restart). Blocks while modules compile.
    pub fn open(
        broker: Arc<Broker>,
        runtime: Runtime,
        dir: PathBuf,
    ) -> Result<Processors, ProcessorError> {
        fs::create_dir_all(&dir).map_err(ProcessorError::io(&dir))?;
        let processors = Processors {
            store: Arc::new(BrokerStore::new(Arc::clone(&broker))),
            logs: Arc::new(ProcessorLogs::open(Arc::clone(&broker))?),
            broker,
            runtime,
            deployments: Arc::new(RwLock::new(BTreeMap::new())),
            admin: Mutex::new(false),
            dir,
            shipper_stop: Arc::new(StopSignal::default()),
            shipper: Mutex::new(None),
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(&processors.dir).map_err(ProcessorError::io(&processors.dir))? {
            let entry = entry.map_err(ProcessorError::io(&processors.dir))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if !entry.path().is_dir() {
                continue;
            }
            if let Some(deleted) = name.strip_prefix(DELETING_PREFIX) {
                processors.finish_delete(deleted, &entry.path());
            } else if name.starts_with(NEW_PREFIX) {
                // A deployment that never completed: it was never acknowledged.
                remove_dir(&entry.path());
            } else if !name.starts_with('.') {
                names.push(name);
            }
        }
        names.sort();
        for name in &names {
            if let Err(reason) = processors.restart(name) {
                warn!(processor = %name, %reason, "skipping a deployment that cannot start: fix or delete it");
            }
        }
        let running = processors.deployments.read().len();
        info!(dir = %processors.dir.display(), running, "processors open");
        processors.start_shipper();
        Ok(processors)
    }

    /// Starts a deployment found on disk.
    fn restart(&self, name: &str) -> Result<(), String> {
        let (record, wasm) = deployment::load(&self.dir.join(name))?;
        let module = self.runtime.compile(&wasm).map_err(|e| e.to_string())?;
        let manifest = record.manifest.clone();
        let state = state_topic(name);
        let partitions = self.store.partitions(&manifest.inputs[0]).map_err(|e| e.to_string())?;
        match self.broker.storage.topic(&state) {
            None => {
                store::create_state_topic(&self.broker.storage, name, partitions)
                    .map_err(|e| format!("recreating {state}: {e}"))?;
            }
            // Its input gained partitions while it was down (or before the
            // changelog's grew): one changelog partition per input partition.
            Some(spec) if spec.partitions < partitions => {
                self.broker
                    .storage
                    .add_partitions(&state, partitions)
                    .map_err(|e| format!("adding partitions to {state}: {e}"))?;
            }
            Some(_) => {}
        }
        // A changelog made before compaction existed becomes compacted.
        self.broker
            .storage
            .ensure_topic_configs(&state, &store::STATE_TOPIC_CONFIGS)
            .map_err(|e| format!("updating {state}'s configs: {e}"))?;
        self.store.register(name, &manifest.inputs);
        let store: Arc<dyn LogStore> = self.store.clone();
        let started = match record.paused {
            true => self.runtime.start_paused(manifest, module, store),
            false => self.runtime.start(manifest, module, store),
        };
        let processor = started.map_err(|e| e.to_string())?;
        info!(
            processor = name,
            version = record.version,
            paused = record.paused,
            "processor restarted"
        );
        let deployment = Deployment { processor, record, log: Arc::default() };
        self.deployments.write().insert(name.to_owned(), deployment);
        Ok(())
    }

    /// Deploys a new processor: checks the manifest and its topics, compiles the
    /// module, creates the dead-letter topic (if missing) and the state
    /// changelog, persists the deployment and starts it. Blocks while compiling.
    pub fn deploy(&self, manifest: Manifest, wasm: &[u8]) -> Result<ProcessorInfo, ProcessorError> {
        let _admin = self.admin()?;
        manifest.validate()?;
        let name = manifest.name.clone();
        if name.starts_with('.') {
            return Err(ProcessorError::ReservedName(name));
        }
        if self.deployments.read().contains_key(&name) || self.dir.join(&name).exists() {
            return Err(ProcessorError::AlreadyExists(name));
        }
        let partitions = self.input_partitions(&manifest)?;
        for output in &manifest.outputs {
            if is_internal(output) {
                return Err(ProcessorError::InternalTopic(output.clone()));
            }
            self.topic_partitions(output)?;
        }
        if !self.broker.groups.describe_group(&name).members.is_empty() {
            return Err(ProcessorError::GroupInUse(name));
        }
        let module = self.runtime.compile(wasm)?;

        self.create_dead_letter_topic(&manifest)?;
        let state = state_topic(&name);
        if self.broker.storage.topic(&state).is_some() {
            // No deployment has this name, so this is a leftover (its directory
            // was removed by hand, say): start clean.
            warn!(topic = %state, "deleting a stale state changelog");
            self.delete_topic(&state)?;
        }
        store::create_state_topic(&self.broker.storage, &name, partitions).map_err(|source| {
            ProcessorError::Storage { what: format!("creating {state}"), source }
        })?;
        let record = DeploymentRecord {
            manifest: manifest.clone(),
            paused: false,
            version: 1,
            deployed_at_ms: now_ms(),
        };
        let started = self.persist_new(&record, wasm).and_then(|()| {
            self.store.register(&name, &manifest.inputs);
            let store: Arc<dyn LogStore> = self.store.clone();
            self.runtime
                .start(manifest, module, store)
                .map_err(|source| ProcessorError::Start { name: name.clone(), source })
        });
        let processor = match started {
            Ok(processor) => processor,
            Err(e) => {
                self.store.unregister(&name);
                remove_dir(&self.dir.join(&name));
                let _ = self.delete_topic(&state);
                return Err(e);
            }
        };
        info!(processor = %name, "processor deployed");
        let deployment = Deployment { processor, record, log: Arc::default() };
        let answer = info(&deployment);
        self.deployments.write().insert(name, deployment);
        Ok(answer)
    }

    /// Compiles `wasm` as a processor would be (the compiled cache keeps it),
    /// without deploying anything: to refuse a bad module before changing
    /// anything else. Blocks while compiling.
    pub fn check_module(&self, wasm: &[u8]) -> Result<(), ProcessorError> {
        self.runtime.compile(wasm)?;
        Ok(())
    }

    /// The component a processor runs, as it was uploaded.
    pub fn module(&self, name: &str) -> Result<Vec<u8>, ProcessorError> {
        self.deployment(name)?;
        let path = self.dir.join(name).join(deployment::MODULE_FILE);
        std::fs::read(&path).map_err(ProcessorError::io(&path))
    }

    /// Every deployed processor, by name.
    pub fn list(&self) -> Vec<ProcessorInfo> {
        self.deployments.read().values().map(info).collect()
    }

    /// One processor.
    pub fn get(&self, name: &str) -> Result<ProcessorInfo, ProcessorError> {
        Ok(info(&self.deployment(name)?))
    }

    /// Pauses a processor at its workers' next batch boundary; it stays paused
    /// across restarts until resumed.
    pub fn pause(&self, name: &str) -> Result<ProcessorInfo, ProcessorError> {
        self.set_paused(name, true)
    }

    /// Resumes a processor paused by the operator or by its error policy.
    pub fn resume(&self, name: &str) -> Result<ProcessorInfo, ProcessorError> {
        self.set_paused(name, false)
    }

    fn set_paused(&self, name: &str, paused: bool) -> Result<ProcessorInfo, ProcessorError> {
        let _admin = self.admin()?;
        let mut deployment = self.deployment(name)?;
        deployment.record.paused = paused;
        let dir = self.dir.join(name);
        deployment::write_record(&dir, &deployment.record).map_err(ProcessorError::io(&dir))?;
        match paused {
            true => deployment.processor.pause(),
            false => deployment.processor.resume(),
        }
        let answer = info(&deployment);
        self.deployments.write().insert(name.to_owned(), deployment);
        Ok(answer)
    }

    /// Swaps in a new module (and config, if given) at the workers' next batch
    /// boundary, keeping offsets and state. Blocks while compiling.
    pub fn upgrade(
        &self,
        name: &str,
        wasm: &[u8],
        config: Option<BTreeMap<String, String>>,
    ) -> Result<ProcessorInfo, ProcessorError> {
        let _admin = self.admin()?;
        let mut deployment = self.deployment(name)?;
        let mut manifest = deployment.record.manifest.clone();
        if let Some(config) = config {
            manifest.config = config;
        }
        manifest.validate()?;
        let module = self.runtime.compile(wasm)?;
        let record = DeploymentRecord {
            manifest: manifest.clone(),
            paused: deployment.record.paused,
            version: deployment.record.version + 1,
            deployed_at_ms: now_ms(),
        };
        let dir = self.dir.join(name);
        deployment::write_module(&dir, wasm).map_err(ProcessorError::io(&dir))?;
        deployment::write_record(&dir, &record).map_err(ProcessorError::io(&dir))?;
        deployment.processor.upgrade(module, manifest);
        info!(processor = name, version = record.version, "processor upgraded");
        deployment.record = record;
        let answer = info(&deployment);
        self.deployments.write().insert(name.to_owned(), deployment);
        Ok(answer)
    }

    /// Stops a processor and deletes it with its state changelog and its
    /// consumer group's offsets. Its dead-letter topic stays. Also removes a
    /// deployment that is on disk but could not start.
    pub fn delete(&self, name: &str) -> Result<(), ProcessorError> {
        let _admin = self.admin()?;
        let not_found = || ProcessorError::NotFound(name.to_owned());
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if name.is_empty() || name.starts_with('.') || !name.chars().all(legal) {
            return Err(not_found());
        }
        let dir = self.dir.join(name);
        let running = self.deployments.write().remove(name);
        if running.is_none() && !dir.exists() {
            return Err(not_found());
        }
        // From here the deletion is durable: an open finishes it after a crash.
        let doomed = self.dir.join(format!("{DELETING_PREFIX}{name}"));
        let renamed = fs::rename(&dir, &doomed).and_then(|()| deployment::sync_dir(&self.dir));
        if let Err(e) = renamed {
            if let Some(running) = running {
                self.deployments.write().insert(name.to_owned(), running);
            }
            return Err(ProcessorError::Io { path: dir, source: e });
        }
        if let Some(running) = running {
            running.processor.stop();
            // Its last words (the stop notes) are kept with the rest.
            self.logs.ship(name, &running.processor, &running.log);
        }
        self.store.unregister(name);
        self.finish_delete(name, &doomed);
        info!(processor = name, "processor deleted");
        Ok(())
    }

    /// Up to `limit` log lines of a processor with a sequence number above
    /// `after_seq`, oldest first, from `__weir_logs` (lines not shipped there yet
    /// are shipped first). Blocks on reading the topic.
    pub fn logs(
        &self,
        name: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>, ProcessorError> {
        let deployment = self.deployment(name)?;
        self.logs.ship(name, &deployment.processor, &deployment.log);
        self.logs.read(name, after_seq, limit)
    }

    /// Stops every processor's workers at their batch boundaries (in parallel)
    /// and refuses changes from then on. Deployments stay on disk.
    pub fn shutdown(&self) {
        let mut admin = self.admin.lock();
        if *admin {
            return;
        }
        *admin = true;
        let running: Vec<Processor> =
            self.deployments.read().values().map(|d| d.processor.clone()).collect();
        std::thread::scope(|scope| {
            for processor in &running {
                scope.spawn(|| processor.stop());
            }
        });
        self.shipper_stop.stop();
        if let Some(thread) = self.shipper.lock().take()
            && thread.join().is_err()
        {
            warn!("the processor log shipper panicked");
        }
        ship_all(&self.logs, &self.deployments);
        info!(processors = running.len(), "processors stopped");
    }

    /// Starts the thread that ships every processor's new log lines to
    /// `__weir_logs` every `SHIP_EVERY`, until `shutdown` (or drop).
    fn start_shipper(&self) {
        let (logs, deployments) = (Arc::clone(&self.logs), Arc::clone(&self.deployments));
        let broker = Arc::clone(&self.broker);
        let stop = Arc::clone(&self.shipper_stop);
        let spawned =
            std::thread::Builder::new().name("weir-log-shipper".into()).spawn(move || {
                let mut uneven = grow::Uneven::default();
                while !stop.wait(logs::SHIP_EVERY) {
                    ship_all(&logs, &deployments);
                    grow::grow_all(&broker, &deployments, &mut uneven);
                }
            });
        match spawned {
            Ok(thread) => *self.shipper.lock() = Some(thread),
            Err(e) => warn!(error = %e, "no processor log shipper: logs are stored when read"),
        }
    }

    fn admin(&self) -> Result<MutexGuard<'_, bool>, ProcessorError> {
        let admin = self.admin.lock();
        match *admin {
            true => Err(ProcessorError::ShuttingDown),
            false => Ok(admin),
        }
    }

    fn deployment(&self, name: &str) -> Result<Deployment, ProcessorError> {
        let found = self.deployments.read().get(name).cloned();
        found.ok_or_else(|| ProcessorError::NotFound(name.to_owned()))
    }

    /// The partition count the inputs share; refused unless they share one.
    fn input_partitions(&self, manifest: &Manifest) -> Result<u32, ProcessorError> {
        let mut counts = Vec::new();
        for input in &manifest.inputs {
            counts.push((input.as_str(), self.topic_partitions(input)?));
        }
        weir_runtime::manifest::co_partitioned(&counts).map_err(ProcessorError::NotCoPartitioned)
    }

    fn topic_partitions(&self, topic: &str) -> Result<u32, ProcessorError> {
        let spec = self.broker.storage.topic(topic);
        spec.map(|t| t.partitions).ok_or_else(|| ProcessorError::UnknownTopic(topic.to_owned()))
    }

    fn create_dead_letter_topic(&self, manifest: &Manifest) -> Result<(), ProcessorError> {
        let name = manifest.dead_letter_topic();
        if self.broker.storage.topic(&name).is_some() {
            return Ok(());
        }
        let spec = TopicSpec { name: name.clone(), partitions: 1, configs: BTreeMap::new() };
        match self.broker.storage.create_topic(spec) {
            Ok(_) => Ok(()),
            Err(e) if store::already_exists(&e) => Ok(()),
            Err(source) => {
                Err(ProcessorError::Storage { what: format!("creating {name}"), source })
            }
        }
    }

    fn delete_topic(&self, topic: &str) -> Result<(), ProcessorError> {
        match self.broker.storage.delete_topic(topic) {
            Ok(()) | Err(StorageError::Topic(TopicError::UnknownTopic(_))) => Ok(()),
            Err(source) => {
                Err(ProcessorError::Storage { what: format!("deleting {topic}"), source })
            }
        }
    }

    /// Writes a new deployment's directory beside its final place, then renames it
    /// there: a crash leaves the deployment whole or absent.
    fn persist_new(&self, record: &DeploymentRecord, wasm: &[u8]) -> Result<(), ProcessorError> {
        let name = &record.manifest.name;
        let new = self.dir.join(format!("{NEW_PREFIX}{name}"));
        let written = (|| -> io::Result<()> {
            remove_dir(&new);
            fs::create_dir(&new)?;
            deployment::write_module(&new, wasm)?;
            deployment::write_record(&new, record)?;
            fs::rename(&new, self.dir.join(name))?;
            deployment::sync_dir(&self.dir)
        })();
        written.map_err(|source| {
            remove_dir(&new);
            ProcessorError::Io { path: new, source }
        })
    }

    /// Removes what a deleted processor owned. Each step tolerates what an
    /// earlier, interrupted attempt already did; failures are logged and the
    /// directory kept, so the next open tries again.
    fn finish_delete(&self, name: &str, doomed: &Path) {
        let mut done = true;
        if let Err(e) = self.delete_topic(&state_topic(name)) {
            warn!(processor = name, error = %e, "deleting the state changelog failed");
            done = false;
        }
        match self.broker.groups.delete_group(name) {
            Ok(()) | Err(GroupError::GroupIdNotFound) => {}
            Err(e) => {
                warn!(processor = name, error = %e, "the processor's consumer group offsets stay");
            }
        }
        if done {
            remove_dir(doomed);
        }
    }
}

impl Drop for Processors {
    fn drop(&mut self) {
        // Without `shutdown` (tests): the shipper must not outlive the registry.
        self.shipper_stop.stop();
    }
}

/// Ships every running processor's new log lines, then forgets batches that
/// retention deleted.
fn ship_all(logs: &ProcessorLogs, deployments: &Deployments) {
    let running: Vec<(String, Processor, Arc<Mutex<Cursor>>)> = deployments
        .read()
        .iter()
        .map(|(name, d)| (name.clone(), d.processor.clone(), Arc::clone(&d.log)))
        .collect();
    for (name, processor, cursor) in &running {
        logs.ship(name, processor, cursor);
    }
    logs.prune();
}

fn info(deployment: &Deployment) -> ProcessorInfo {
    let record = &deployment.record;
    ProcessorInfo {
        manifest: record.manifest.clone(),
        paused: record.paused,
        version: record.version,
        deployed_at_ms: record.deployed_at_ms,
        status: deployment.processor.status(),
    }
}

fn remove_dir(dir: &Path) {
    if let Err(e) = fs::remove_dir_all(dir)
        && e.kind() != io::ErrorKind::NotFound
    {
        warn!(dir = %dir.display(), error = %e, "could not remove a directory");
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
