//! A worker's keyed state as its guest sees it: the committed map, the changes
//! of the batch so far, and the changes of the call in progress. A call's
//! changes join the batch's when the call returns ok and vanish when it fails;
//! the batch's changes are committed with the next input offset.

use std::collections::BTreeMap;
use std::ops::Bound;

/// Changes over a map: Some sets a key, None deletes it.
pub type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The three layers of one worker's state.
#[derive(Debug, Default)]
pub struct State {
    /// As of the last commit.
    committed: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Bytes of keys and values in `committed`.
    committed_bytes: u64,
    /// Changes of the batch's calls that returned ok.
    batch: Changes,
    /// Bytes of keys and values with `batch` applied.
    batch_bytes: u64,
    /// Changes of the call in progress.
    call: Changes,
    /// Bytes of keys and values with `batch` and `call` applied.
    call_bytes: u64,
    /// Cap on `call_bytes`.
    limit: u64,
}

/// A put would pass the state's size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateFull;

fn entry_size(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

impl State {
    /// State starting from `committed`, capped at `limit` bytes.
    pub fn new(committed: BTreeMap<Vec<u8>, Vec<u8>>, limit: u64) -> Self {
        let bytes = committed.iter().map(|(k, v)| entry_size(k, v)).sum();
        State {
            committed,
            committed_bytes: bytes,
            batch_bytes: bytes,
            call_bytes: bytes,
            limit,
            ..State::default()
        }
    }

    /// Bytes of keys and values as the current call sees them.
    pub fn bytes(&self) -> u64 {
        self.call_bytes
    }

    /// The value of `key` as the current call sees it.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        for layer in [&self.call, &self.batch] {
            if let Some(v) = layer.get(key) {
                return v.as_deref();
            }
        }
        self.committed.get(key).map(Vec::as_slice)
    }

    /// Sets `key` to `value`, unless that would pass the cap.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StateFull> {
        let old = self.get(&key).map_or(0, |v| entry_size(&key, v));
        let new = self.call_bytes - old + entry_size(&key, &value);
        if new > self.limit && new > self.call_bytes {
            return Err(StateFull);
        }
        self.call_bytes = new;
        self.call.insert(key, Some(value));
        Ok(())
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        if let Some(v) = self.get(&key) {
            self.call_bytes -= entry_size(&key, v);
            self.call.insert(key, None);
        }
    }

    /// Up to `limit` entries with keys starting with `prefix` (after
    /// `start_after` when given), in key order, as the current call sees them.
    pub fn scan(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let lower = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let range = (lower, Bound::Unbounded);
        // Overlay entries in range, the call's over the batch's.
        let mut merged: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
        for layer in [&self.batch, &self.call] {
            for (k, v) in layer.range::<[u8], _>(range).take_while(|(k, _)| k.starts_with(prefix)) {
                merged.insert(k, v.as_deref());
            }
        }
        // Committed keys: deletions in the overlay can hide at most
        // `merged.len()` of them, so that many more than `limit` suffice.
        let want = limit.saturating_add(merged.len());
        for (k, v) in self
            .committed
            .range::<[u8], _>(range)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(want)
        {
            merged.entry(k).or_insert(Some(v));
        }
        merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_vec(), v.to_vec())))
            .take(limit)
            .collect()
    }

    /// The call returned ok: its changes join the batch's.
    pub fn keep_call(&mut self) {
        let call = std::mem::take(&mut self.call);
        self.batch.extend(call);
        self.batch_bytes = self.call_bytes;
    }

    /// The call failed: its changes are dropped.
    pub fn drop_call(&mut self) {
        self.call.clear();
        self.call_bytes = self.batch_bytes;
    }

    /// The batch is abandoned (it will be retried): every uncommitted change is dropped.
    pub fn drop_batch(&mut self) {
        self.call.clear();
        self.batch.clear();
        self.batch_bytes = self.committed_bytes;
        self.call_bytes = self.committed_bytes;
    }

    /// Takes the batch's changes to commit them; `committed` folds them in once
    /// they are durable (on failure the worker drops the batch instead).
    pub fn take_batch(&mut self) -> Changes {
        std::mem::take(&mut self.batch)
    }

    /// `changes` (taken with `take_batch`) are durable: fold them into the
    /// committed map.
    pub fn committed(&mut self, changes: Changes) {
        for (k, v) in changes {
            match v {
                Some(v) => {
                    self.committed.insert(k, v);
                }
                None => {
                    self.committed.remove(&k);
                }
            }
        }
        self.committed_bytes = self.batch_bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(pairs: &[(&str, &str)]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    fn keys(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<String> {
        entries.into_iter().map(|(k, _)| String::from_utf8(k).unwrap()).collect()
    }

    #[test]
    fn layers_shadow_each_other_and_a_failed_call_leaves_no_trace() {
        let mut s = State::new(committed(&[("a", "1"), ("b", "2")]), 1 << 20);
        s.put(b"a".to_vec(), b"10".to_vec()).unwrap();
        s.keep_call();
        s.delete(b"b".to_vec());
        s.put(b"c".to_vec(), b"3".to_vec()).unwrap();
        assert_eq!(s.get(b"a"), Some(&b"10"[..]));
        assert_eq!(s.get(b"b"), None);
        s.drop_call();
        assert_eq!(s.get(b"b"), Some(&b"2"[..]));
        assert_eq!(s.get(b"c"), None);
        assert_eq!(s.bytes(), 5);
        let changes = s.take_batch();
        s.committed(changes);
        assert_eq!(s.get(b"a"), Some(&b"10"[..]));
        assert!(s.take_batch().is_empty());
    }

    #[test]
    fn scan_merges_layers_in_key_order_with_paging() {
        let mut s =
            State::new(committed(&[("k1", "x"), ("k2", "x"), ("k4", "x"), ("z", "x")]), 1 << 20);
        s.delete(b"k1".to_vec());
        s.delete(b"k2".to_vec());
        s.put(b"k3".to_vec(), b"y".to_vec()).unwrap();
        assert_eq!(keys(s.scan(b"k", None, 10)), ["k3", "k4"]);
        assert_eq!(keys(s.scan(b"k", None, 1)), ["k3"]);
        assert_eq!(keys(s.scan(b"k", Some(b"k3"), 10)), ["k4"]);
        assert_eq!(keys(s.scan(b"", None, 10)), ["k3", "k4", "z"]);
        assert!(s.scan(b"q", None, 10).is_empty());
    }

    #[test]
    fn puts_past_the_cap_fail_but_shrinking_is_allowed() {
        let mut s = State::new(BTreeMap::new(), 10);
        s.put(b"k".to_vec(), vec![0; 9]).unwrap();
        assert_eq!(s.put(b"j".to_vec(), vec![0; 1]), Err(StateFull));
        s.put(b"k".to_vec(), vec![0; 2]).unwrap();
        s.put(b"j".to_vec(), vec![0; 1]).unwrap();
        assert_eq!(s.bytes(), 5);
        s.drop_batch();
        assert_eq!(s.bytes(), 0);
    }
}
