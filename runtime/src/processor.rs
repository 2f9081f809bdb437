//! A running processor: its workers (one thread per input partition) and the
//! controls they obey at batch boundaries — pause, resume, upgrade, stop.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::engine::Module;
use crate::logs::{LogBuffer, LogLevel, LogLine};
use crate::manifest::Manifest;
use crate::status::{PartitionStatus, ProcessorState, ProcessorStatus, WorkerState};
use crate::store::{LogStore, StoreError};
use crate::worker::Worker;

/// What the operator asked for, read by workers between batches.
#[derive(Debug)]
pub(crate) struct Wanted {
    /// Paused by the operator.
    pub paused: bool,
    /// Workers should exit.
    pub stop: bool,
    /// Bumped by every upgrade: a worker whose generation differs swaps in
    /// `module` and `manifest`.
    pub generation: u64,
    /// The module to run.
    pub module: Module,
    /// The manifest in force.
    pub manifest: Arc<Manifest>,
}

/// The controls shared by a processor's handle and its workers.
#[derive(Debug)]
pub(crate) struct Control {
    /// The operator's wishes.
    pub wanted: Mutex<Wanted>,
    /// Signalled when `wanted` changes.
    pub changed: Condvar,
}

impl Control {
    /// Sleeps up to `timeout`, waking early when the operator changes something;
    /// true if the worker should stop.
    pub fn sleep(&self, timeout: Duration) -> bool {
        let mut wanted = self.wanted.lock();
        if !wanted.stop {
            self.changed.wait_for(&mut wanted, timeout);
        }
        wanted.stop
    }

    /// True if the worker should stop.
    pub fn stopping(&self) -> bool {
        self.wanted.lock().stop
    }
}

/// A handle on a running processor; clones share it.
#[derive(Debug, Clone)]
pub struct Processor {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    control: Arc<Control>,
    log: Arc<LogBuffer>,
    /// Where the workers read and commit.
    store: Arc<dyn LogStore>,
    /// Each worker's status, by partition; grows with `grow`.
    statuses: Mutex<Vec<Arc<Mutex<PartitionStatus>>>>,
    /// The workers' threads, taken by `stop`.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Module swaps so far.
    upgrades: Mutex<u64>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Processor {
    pub(crate) fn start(
        manifest: Manifest,
        module: Module,
        store: Arc<dyn LogStore>,
        paused: bool,
    ) -> Result<Processor, StoreError> {
        let mut counts = Vec::new();
        for input in &manifest.inputs {
            counts.push((input.as_str(), store.partitions(input)?));
        }
        let partitions = crate::manifest::co_partitioned(&counts).map_err(|counts| {
            StoreError::Refused(format!(
                "the inputs are not co-partitioned ({counts}): give them the same partition count"
            ))
        })?;
        for output in &manifest.outputs {
            store.partitions(output)?;
        }
        let name = manifest.name.clone();
        let log = Arc::new(LogBuffer::new(&name));
        let control = Arc::new(Control {
            wanted: Mutex::new(Wanted {
                // Set before any worker exists: a paused processor never runs a batch.
                paused,
                stop: false,
                generation: 0,
                module,
                manifest: Arc::new(manifest),
            }),
            changed: Condvar::new(),
        });
        // Written before any worker runs, so it is the first line of this start.
        let how = if paused { ", paused" } else { "" };
        log.write(None, LogLevel::Info, &format!("started with {partitions} workers{how}"));
        let processor = Processor {
            inner: Arc::new(Inner {
                name,
                control,
                log,
                store,
                statuses: Mutex::new(Vec::new()),
                threads: Mutex::new(Vec::new()),
                upgrades: Mutex::new(0),
            }),
        };
        processor.spawn_workers(partitions)?;
        Ok(processor)
    }

    /// Starts the workers of partition indexes from the current count up to
    /// `partitions`.
    fn spawn_workers(&self, partitions: u32) -> Result<(), StoreError> {
        let inner = &self.inner;
        let mut statuses = inner.statuses.lock();
        let mut threads = inner.threads.lock();
        // Under the threads' lock: `stop` sets the flag, then takes the threads.
        if inner.control.stopping() {
            return Ok(());
        }
        for partition in statuses.len() as u32..partitions {
            let status = Arc::new(Mutex::new(PartitionStatus::new(partition)));
            let worker = Worker::new(
                partition,
                Arc::clone(&inner.control),
                Arc::clone(&inner.store),
                Arc::clone(&inner.log),
                Arc::clone(&status),
            );
            let thread = std::thread::Builder::new()
                .name(format!("weir-proc-{partition}"))
                .spawn(move || worker.run())
                .map_err(|e| {
                    StoreError::Unavailable(format!("cannot start a worker thread: {e}"))
                })?;
            statuses.push(status);
            threads.push(thread);
        }
        Ok(())
    }

    /// Writes a line to the processor's log, not of any one worker.
    pub fn note(&self, level: LogLevel, message: &str) {
        self.inner.log.write(None, level, message);
    }

    /// The number of workers (partition indexes) it runs.
    pub fn partitions(&self) -> u32 {
        self.inner.statuses.lock().len() as u32
    }

    /// Starts workers for the partition indexes a topic it reads gained, up to
    /// `partitions` (the inputs' new count; the caller has made the state
    /// changelog's partitions for them). False if it already had as many, or
    /// is stopping.
    pub fn grow(&self, partitions: u32) -> Result<bool, StoreError> {
        let had = self.partitions();
        if partitions <= had || self.inner.control.stopping() {
            return Ok(false);
        }
        self.spawn_workers(partitions)?;
        let message = format!(
            "its inputs have {partitions} partitions now: started workers {had} to {}",
            partitions - 1
        );
        self.inner.log.write(None, LogLevel::Info, &message);
        Ok(true)
    }

    /// The processor's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The manifest in force.
    pub fn manifest(&self) -> Manifest {
        (*self.inner.control.wanted.lock().manifest).clone()
    }

    /// Where every worker is and what it has done.
    pub fn status(&self) -> ProcessorStatus {
        let (paused, stopped, digest) = {
            let wanted = self.inner.control.wanted.lock();
            (wanted.paused, wanted.stop, wanted.module.digest().to_string())
        };
        let partitions: Vec<PartitionStatus> =
            self.inner.statuses.lock().iter().map(|s| s.lock().clone()).collect();
        let degraded = partitions.iter().any(|p| {
            matches!(p.state, WorkerState::Paused(Some(_)) | WorkerState::Stopped(Some(_)))
        });
        let state = if stopped {
            ProcessorState::Stopped
        } else if paused {
            ProcessorState::Paused
        } else if degraded {
            ProcessorState::Degraded
        } else {
            ProcessorState::Running
        };
        ProcessorStatus {
            name: self.inner.name.clone(),
            state,
            module_digest: digest,
            upgrades: *self.inner.upgrades.lock(),
            partitions,
        }
    }

    /// Pauses every worker at its next batch boundary.
    pub fn pause(&self) {
        self.inner.control.wanted.lock().paused = true;
        self.inner.control.changed.notify_all();
        self.inner.log.write(None, LogLevel::Info, "paused by the operator");
    }

    /// Resumes every worker, including those the `pause` policy stopped.
    pub fn resume(&self) {
        let mut wanted = self.inner.control.wanted.lock();
        wanted.paused = false;
        // A new generation also clears pauses set by the error policy.
        wanted.generation += 1;
        drop(wanted);
        self.inner.control.changed.notify_all();
        self.inner.log.write(None, LogLevel::Info, "resumed by the operator");
    }

    /// Swaps in `module` and `manifest` at each worker's next batch boundary;
    /// offsets and state are kept, and workers paused by the error policy retry.
    pub fn upgrade(&self, module: Module, manifest: Manifest) {
        let digest = module.digest().to_string();
        let mut wanted = self.inner.control.wanted.lock();
        wanted.module = module;
        wanted.manifest = Arc::new(manifest);
        wanted.generation += 1;
        drop(wanted);
        *self.inner.upgrades.lock() += 1;
        self.inner.control.changed.notify_all();
        self.inner.log.write(None, LogLevel::Info, &format!("upgraded to module {digest}"));
    }

    /// Up to `limit` log lines after sequence number `after_seq`.
    pub fn logs(&self, after_seq: u64, limit: usize) -> Vec<LogLine> {
        self.inner.log.read(after_seq, limit)
    }

    /// Stops every worker after its current batch and waits for them.
    pub fn stop(&self) {
        self.inner.control.wanted.lock().stop = true;
        self.inner.control.changed.notify_all();
        let threads = std::mem::take(&mut *self.inner.threads.lock());
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!(processor = %self.inner.name, "a worker thread panicked");
            }
        }
    }
}
