//! The background flusher: fsyncs partitions under interval durability once their
//! interval has passed, and keeps every partition's recovery point current.

use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tracing::warn;

use super::partition::Partition;

/// How often the flusher looks at its partitions.
pub const DEFAULT_TICK: Duration = Duration::from_millis(100);

/// Tells a background thread to stop, waking it from its sleep.
#[derive(Debug, Default)]
pub struct StopSignal {
    /// Set once to stop.
    stopped: Mutex<bool>,
    /// Wakes the sleeper early when `stopped` is set.
    wake: Condvar,
}

impl StopSignal {
    /// Sleeps up to `timeout`; true when the thread should stop.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.wake.wait_for(&mut stopped, timeout);
        }
        *stopped
    }

    /// Asks the thread to stop.
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }
}

/// What the flusher thread shares with its handle.
#[derive(Debug, Default)]
struct Shared {
    /// Partitions to look after; dropped partitions fall out on the next tick.
    partitions: Mutex<Vec<Weak<Partition>>>,
    /// Stops the thread.
    stop: StopSignal,
}

/// A handle on the flusher thread; dropping it stops the thread.
#[derive(Debug)]
pub struct Flusher {
    /// State shared with the thread.
    shared: Arc<Shared>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts a flusher that wakes every `tick`.
    pub fn start(tick: Duration) -> Flusher {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("weir-flusher".into())
            .spawn(move || worker.run(tick))
            .expect("spawning the flusher thread");
        Flusher { shared, thread: Some(thread) }
    }

    /// Puts a partition in the flusher's care for as long as it lives.
    pub fn register(&self, partition: &Arc<Partition>) {
        self.shared.partitions.lock().push(Arc::downgrade(partition));
    }
}

impl Shared {
    fn run(&self, tick: Duration) {
        while !self.stop.wait(tick) {
            let live: Vec<Arc<Partition>> = {
                let mut partitions = self.partitions.lock();
                partitions.retain(|p| p.strong_count() > 0);
                partitions.iter().filter_map(Weak::upgrade).collect()
            };
            for partition in live {
                if let Err(e) = partition.flush_if_due() {
                    warn!(dir = %partition.dir().display(), error = %e, "background flush failed");
                }
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogConfig;
    use crate::log::config::Durability;
    use crate::log::record::{BatchBuilder, Compression};
    use crate::log::recovery::read_recovery_point;

    #[test]
    fn interval_flush_moves_the_recovery_point() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            durability: Durability::Interval(Duration::from_millis(20)),
            ..LogConfig::default()
        };
        let partition = Arc::new(Partition::open(dir.path(), cfg).unwrap());
        let flusher = Flusher::start(Duration::from_millis(5));
        flusher.register(&partition);
        let mut b = BatchBuilder::new(0, Compression::None);
        b.push(1, None, Some(b"v"), &[]);
        let batch = b.build().unwrap().to_vec();
        partition.append(&batch).unwrap();
        let mut waited = 0;
        while read_recovery_point(dir.path()) != 1 && waited < 400 {
            std::thread::sleep(Duration::from_millis(5));
            waited += 1;
        }
        assert_eq!(read_recovery_point(dir.path()), 1);
        drop(flusher);
    }
}
