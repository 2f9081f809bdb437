//! An in-memory [`LogStore`]: topics as vectors of records, checkpoints as maps.
//! For the runtime's tests and benchmarks; it keeps nothing across processes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::store::{Bounds, Checkpoint, Commit, InputRecord, LogStore, OutputRecord, StoreError};

/// Topics and checkpoints in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Signalled on every append.
    appended: Condvar,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each topic's partitions' records, in offset order from 0.
    topics: HashMap<String, Vec<Vec<InputRecord>>>,
    /// Checkpoints by (processor, partition).
    checkpoints: HashMap<(String, u32), Checkpoint>,
    /// Commits so far.
    commits: u64,
    /// Topics whose appends are refused for good, with the reason (tests of
    /// the error policy).
    refused: HashMap<String, String>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Creates `topic` with `partitions` partitions (no-op if it exists).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        self.inner
            .lock()
            .topics
            .entry(topic.to_string())
            .or_insert_with(|| vec![Vec::new(); partitions as usize]);
    }

    /// Every record of a partition.
    pub fn records(&self, topic: &str, partition: u32) -> Vec<InputRecord> {
        let inner = self.inner.lock();
        inner.topics.get(topic).and_then(|t| t.get(partition as usize)).cloned().unwrap_or_default()
    }

    /// The checkpoint of a processor's partition.
    pub fn checkpoint(&self, processor: &str, partition: u32) -> Checkpoint {
        let inner = self.inner.lock();
        inner.checkpoints.get(&(processor.to_string(), partition)).cloned().unwrap_or_default()
    }

    /// Refuses every later append to `topic` with [`StoreError::Refused`] and
    /// `reason`, as a broker refuses a record over a topic's size limit.
    pub fn refuse_appends(&self, topic: &str, reason: &str) {
        self.inner.lock().refused.insert(topic.to_string(), reason.to_string());
    }

    /// Commits made so far.
    pub fn commits(&self) -> u64 {
        self.inner.lock().commits
    }

    fn with_partition<R>(
        &self,
        topic: &str,
        partition: u32,
        f: impl FnOnce(&mut Vec<InputRecord>) -> R,
    ) -> Result<R, StoreError> {
        let mut inner = self.inner.lock();
        let t =
            inner.topics.get_mut(topic).ok_or_else(|| StoreError::UnknownTopic(topic.into()))?;
        let p = t
            .get_mut(partition as usize)
            .ok_or_else(|| StoreError::UnknownPartition { topic: topic.into(), partition })?;
        Ok(f(p))
    }
}

impl LogStore for MemoryStore {
    fn partitions(&self, topic: &str) -> Result<u32, StoreError> {
        let inner = self.inner.lock();
        let t = inner.topics.get(topic).ok_or_else(|| StoreError::UnknownTopic(topic.into()))?;
        Ok(t.len() as u32)
    }

    fn bounds(&self, topic: &str, partition: u32) -> Result<Bounds, StoreError> {
        self.with_partition(topic, partition, |p| Bounds {
            log_start: 0,
            high_watermark: p.len() as u64,
        })
    }

    fn offset_for_timestamp(
        &self,
        topic: &str,
        partition: u32,
        timestamp: i64,
    ) -> Result<Option<u64>, StoreError> {
        self.with_partition(topic, partition, |p| {
            p.iter().find(|r| r.timestamp >= timestamp).map(|r| r.offset)
        })
    }

    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<InputRecord>, StoreError> {
        self.with_partition(topic, partition, |p| {
            let hw = p.len() as u64;
            if offset > hw {
                return Err(StoreError::OffsetOutOfRange {
                    topic: topic.into(),
                    partition,
                    offset,
                    log_start: 0,
                    high_watermark: hw,
                });
            }
            let mut bytes = 0;
            let mut out = Vec::new();
            for r in &p[offset as usize..] {
                let size =
                    r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len());
                if out.len() == max_records || (!out.is_empty() && bytes + size > max_bytes) {
                    break;
                }
                bytes += size;
                out.push(r.clone());
            }
            Ok(out)
        })?
    }

    fn wait(&self, topic: &str, partition: u32, offset: u64, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut inner = self.inner.lock();
        loop {
            let hw = inner
                .topics
                .get(topic)
                .and_then(|t| t.get(partition as usize))
                .map_or(0, |p| p.len() as u64);
            if hw > offset {
                return true;
            }
            if self.appended.wait_until(&mut inner, deadline).timed_out() {
                return false;
            }
        }
    }

    fn append(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<OutputRecord>,
    ) -> Result<(), StoreError> {
        if let Some(reason) = self.inner.lock().refused.get(topic) {
            return Err(StoreError::Refused(reason.clone()));
        }
        self.with_partition(topic, partition, |p| {
            for r in records {
                let offset = p.len() as u64;
                p.push(InputRecord {
                    input: 0,
                    offset,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                });
            }
        })?;
        self.appended.notify_all();
        Ok(())
    }

    fn load_checkpoint(&self, processor: &str, partition: u32) -> Result<Checkpoint, StoreError> {
        Ok(self.checkpoint(processor, partition))
    }

    fn commit(&self, processor: &str, partition: u32, commit: &Commit) -> Result<(), StoreError> {
        let mut inner = self.inner.lock();
        inner.commits += 1;
        let checkpoint = inner.checkpoints.entry((processor.to_string(), partition)).or_default();
        checkpoint.next_offsets = commit.next_offsets.iter().copied().map(Some).collect();
        apply(&mut checkpoint.state, &commit.state);
        Ok(())
    }
}

fn apply(state: &mut BTreeMap<Vec<u8>, Vec<u8>>, changes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
    for (k, v) in changes {
        match v {
            Some(v) => {
                state.insert(k.clone(), v.clone());
            }
            None => {
                state.remove(k);
            }
        }
    }
}
