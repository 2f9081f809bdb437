//! The cleaner's key map: the latest offset of each key in the dirty part of a
//! log, in bounded memory.
//!
//! Keys are not kept, only a 128-bit hash of each (two SipHash-1-3 with random
//! keys, so colliding keys cannot be crafted): a collision would make the cleaner
//! drop a live record, and at 2^-128 per pair it does not happen.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

/// Bytes one entry takes in the map, with the hash table's overhead.
const ENTRY_BYTES: usize = 40;

/// Latest offset per key hash, up to a number of keys set by a memory budget.
#[derive(Debug)]
pub struct KeyMap {
    /// Two independent hashers; together a 128-bit hash.
    hashers: (RandomState, RandomState),
    /// Key hash to the latest offset seen.
    latest: HashMap<u128, u64>,
    /// Keys the budget allows.
    capacity: usize,
}

impl KeyMap {
    /// A map that holds as many keys as `budget_bytes` of memory allow (at least one).
    pub fn with_budget(budget_bytes: usize) -> KeyMap {
        KeyMap {
            hashers: (RandomState::new(), RandomState::new()),
            latest: HashMap::new(),
            capacity: (budget_bytes / ENTRY_BYTES).max(1),
        }
    }

    fn hash(&self, key: &[u8]) -> u128 {
        let high = self.hashers.0.hash_one(key);
        let low = self.hashers.1.hash_one(key);
        (u128::from(high) << 64) | u128::from(low)
    }

    /// Records `offset` as the latest of `key` (offsets arrive in log order).
    pub fn put(&mut self, key: &[u8], offset: u64) {
        let hash = self.hash(key);
        self.latest.insert(hash, offset);
    }

    /// The latest offset of `key`, if the map saw it.
    pub fn latest(&self, key: &[u8]) -> Option<u64> {
        self.latest.get(&self.hash(key)).copied()
    }

    /// True once the budget's worth of keys is in.
    pub fn is_full(&self) -> bool {
        self.latest.len() >= self.capacity
    }

    /// Keys in the map.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// True when no key was put.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_offset_per_key_and_a_budget() {
        let mut map = KeyMap::with_budget(3 * ENTRY_BYTES);
        map.put(b"a", 1);
        map.put(b"b", 2);
        map.put(b"a", 5);
        assert_eq!(
            (map.latest(b"a"), map.latest(b"b"), map.latest(b"c")),
            (Some(5), Some(2), None)
        );
        assert!(!map.is_full());
        map.put(b"", 9);
        assert!(map.is_full());
        assert_eq!(map.latest(b""), Some(9));
        assert_eq!(map.len(), 3);
    }
}
