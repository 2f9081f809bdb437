//! A segment's sparse indexes, memory-mapped with memmap2.
//!
//! Both are arrays of fixed-size big-endian entries, sorted by offset:
//!
//! | file         | entry bytes | fields                                              |
//! |--------------|------------:|-----------------------------------------------------|
//! | `.index`     |           8 | relative offset u32, position in the `.log` u32     |
//! | `.timeindex` |          12 | max timestamp so far i64, relative offset u32       |
//!
//! The active segment's files are preallocated to their maximum size and mapped
//! once; the entry count lives in memory. Sealing a segment trims each file to its
//! entries, so a closed index's length says how many it holds. An index is never
//! trusted blindly: [`OffsetIndex::check`] and [`TimeIndex::check`] look for
//! anything out of order, and recovery rebuilds what fails.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

/// A file of fixed-size entries, mapped into memory.
#[derive(Debug)]
struct IndexFile {
    /// Where it lives, for error messages.
    path: PathBuf,
    /// Kept open to resize and fsync the file.
    file: File,
    /// The mapping of the whole file; None while the file is empty (an empty file
    /// cannot be mapped).
    mmap: Option<MmapMut>,
    /// Bytes per entry.
    entry_size: usize,
    /// Entries in use, from the start of the file.
    entries: usize,
}

impl IndexFile {
    /// Opens (or creates) the file and maps it. With `writable_entries` set, the file
    /// is extended to hold that many entries, for the active segment; existing
    /// entries are counted from the file's length either way, and a length that is
    /// not a whole number of entries is an error (the caller rebuilds).
    fn open(path: &Path, entry_size: usize, writable_entries: Option<usize>) -> io::Result<Self> {
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let len = file.metadata()?.len() as usize;
        if !len.is_multiple_of(entry_size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: length {len} is not a multiple of {entry_size}", path.display()),
            ));
        }
        let mut index =
            IndexFile { path: path.to_owned(), file, mmap: None, entry_size, entries: 0 };
        index.entries = len / entry_size;
        match writable_entries {
            Some(max) => index.resize(max.max(index.entries))?,
            None => index.remap()?,
        }
        Ok(index)
    }

    fn resize(&mut self, entries: usize) -> io::Result<()> {
        self.mmap = None;
        self.file.set_len((entries * self.entry_size) as u64)?;
        self.remap()
    }

    fn remap(&mut self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        self.mmap = if len == 0 {
            None
        } else {
            // SAFETY: the file is ours alone (one partition owns its directory, and
            // only the owning segment maps this file); its length only changes through
            // `resize`, which drops the mapping first.
            Some(unsafe { MmapMut::map_mut(&self.file)? })
        };
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mmap.as_ref().map_or(0, |m| m.len() / self.entry_size)
    }

    fn entry(&self, i: usize) -> &[u8] {
        debug_assert!(i < self.entries);
        let start = i * self.entry_size;
        match &self.mmap {
            Some(m) => &m[start..start + self.entry_size],
            None => &[],
        }
    }

    /// Adds an entry; false when the file is full.
    fn push(&mut self, entry: &[u8]) -> bool {
        if self.entries >= self.capacity() {
            return false;
        }
        let start = self.entries * self.entry_size;
        if let Some(m) = &mut self.mmap {
            m[start..start + self.entry_size].copy_from_slice(entry);
        }
        self.entries += 1;
        true
    }

    /// Forgets every entry; the file keeps its size.
    fn clear(&mut self) {
        self.entries = 0;
    }

    /// Shrinks the file to the entries in use, as a sealed segment keeps it.
    fn trim(&mut self) -> io::Result<()> {
        self.resize(self.entries)
    }

    /// The first entry index whose key is greater than `key`, by binary search.
    fn partition_point(&self, key: impl Fn(&[u8]) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(self.entry(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(word)
}

/// The sparse offset index: from an offset to the position of a batch at or
/// before it in the `.log` file.
#[derive(Debug)]
pub struct OffsetIndex {
    /// The segment's base offset; entries hold offsets relative to it.
    base_offset: u64,
    /// The mapped file.
    file: IndexFile,
}

/// Bytes of one `.index` entry.
pub const OFFSET_ENTRY: usize = 8;
/// Bytes of one `.timeindex` entry.
pub const TIME_ENTRY: usize = 12;

impl OffsetIndex {
    /// Opens the index of the segment at `base_offset`. `writable_entries`: see
    /// [`IndexFile::open`].
    pub fn open(
        path: &Path,
        base_offset: u64,
        writable_entries: Option<usize>,
    ) -> io::Result<Self> {
        Ok(OffsetIndex {
            base_offset,
            file: IndexFile::open(path, OFFSET_ENTRY, writable_entries)?,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.file.entries
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.file.entries == 0
    }

    /// The (offset, position) of entry `i`.
    pub fn entry(&self, i: usize) -> (u64, u32) {
        let e = self.file.entry(i);
        (self.base_offset + u32_at(e, 0) as u64, u32_at(e, 4))
    }

    /// Adds an entry for the batch starting at `offset`, written at `position`.
    /// False when the index is full (the segment must roll).
    pub fn push(&mut self, offset: u64, position: u32) -> bool {
        let mut e = [0u8; OFFSET_ENTRY];
        e[..4].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        e[4..].copy_from_slice(&position.to_be_bytes());
        self.file.push(&e)
    }

    /// True when another entry would not fit.
    pub fn is_full(&self) -> bool {
        self.file.entries >= self.file.capacity()
    }

    /// The last entry at or before `offset`, or the segment's start.
    pub fn lookup(&self, offset: u64) -> (u64, u32) {
        let rel = offset.saturating_sub(self.base_offset);
        let after = self.file.partition_point(|e| u32_at(e, 0) as u64 <= rel);
        if after == 0 { (self.base_offset, 0) } else { self.entry(after - 1) }
    }

    /// The last entry, if any.
    pub fn last(&self) -> Option<(u64, u32)> {
        self.file.entries.checked_sub(1).map(|i| self.entry(i))
    }

    /// Checks the entries against the log they index: strictly increasing offsets
    /// and positions, every position inside the log. Err says what is wrong.
    pub fn check(&self, log_size: u64) -> Result<(), String> {
        let mut prev: Option<(u64, u32)> = None;
        for i in 0..self.len() {
            let (offset, position) = self.entry(i);
            if position as u64 >= log_size {
                return Err(format!(
                    "entry {i} points at {position}, past the log's {log_size} bytes"
                ));
            }
            if let Some((po, pp)) = prev
                && (offset <= po || position <= pp)
            {
                return Err(format!(
                    "entry {i} ({offset}, {position}) does not follow ({po}, {pp})"
                ));
            }
            prev = Some((offset, position));
        }
        Ok(())
    }

    /// Forgets every entry (before a rebuild).
    pub fn clear(&mut self) {
        self.file.clear()
    }

    /// Shrinks the file to its entries (when the segment is sealed or closed).
    pub fn trim(&mut self) -> io::Result<()> {
        self.file.trim()
    }

    /// Grows the file back to `entries` so the segment can take appends again.
    pub fn reserve(&mut self, entries: usize) -> io::Result<()> {
        self.file.resize(entries.max(self.file.entries))
    }

    /// fsyncs the file.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }
}

/// The sparse time index: entry (T, O) says every batch up to and including the
/// one at offset O has timestamps at most T, so a search for timestamp t can start
/// after the last entry with T < t.
#[derive(Debug)]
pub struct TimeIndex {
    /// The segment's base offset; entries hold offsets relative to it.
    base_offset: u64,
    /// The mapped file.
    file: IndexFile,
}

impl TimeIndex {
    /// Opens the time index of the segment at `base_offset`.
    pub fn open(
        path: &Path,
        base_offset: u64,
        writable_entries: Option<usize>,
    ) -> io::Result<Self> {
        Ok(TimeIndex { base_offset, file: IndexFile::open(path, TIME_ENTRY, writable_entries)? })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.file.entries
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.file.entries == 0
    }

    /// The (timestamp, offset) of entry `i`.
    pub fn entry(&self, i: usize) -> (i64, u64) {
        let e = self.file.entry(i);
        (i64_at(e, 0), self.base_offset + u32_at(e, 8) as u64)
    }

    /// The last entry, if any.
    pub fn last(&self) -> Option<(i64, u64)> {
        self.file.entries.checked_sub(1).map(|i| self.entry(i))
    }

    /// Records that batches up to the one at `offset` have timestamps at most
    /// `max_timestamp`. Only entries that raise the timestamp are kept, so the file
    /// stays sorted on both fields. False when full.
    pub fn push(&mut self, max_timestamp: i64, offset: u64) -> bool {
        if let Some((ts, last_offset)) = self.last()
            && (max_timestamp <= ts || offset <= last_offset)
        {
            return true;
        }
        let mut e = [0u8; TIME_ENTRY];
        e[..8].copy_from_slice(&max_timestamp.to_be_bytes());
        e[8..].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        self.file.push(&e)
    }

    /// True when another entry would not fit.
    pub fn is_full(&self) -> bool {
        self.file.entries >= self.file.capacity()
    }

    /// The offset of the last entry whose timestamp is below `timestamp`: no batch
    /// up to it can hold a record at or after `timestamp`.
    pub fn last_before(&self, timestamp: i64) -> Option<u64> {
        let after = self.file.partition_point(|e| i64_at(e, 0) < timestamp);
        after.checked_sub(1).map(|i| self.entry(i).1)
    }

    /// Checks that timestamps and offsets strictly increase and offsets stay below
    /// `next_offset`.
    pub fn check(&self, next_offset: u64) -> Result<(), String> {
        let mut prev: Option<(i64, u64)> = None;
        for i in 0..self.len() {
            let (ts, offset) = self.entry(i);
            if offset >= next_offset {
                return Err(format!(
                    "entry {i} names offset {offset}, past the log's end {next_offset}"
                ));
            }
            if let Some((pt, po)) = prev
                && (ts <= pt || offset <= po)
            {
                return Err(format!("entry {i} ({ts}, {offset}) does not follow ({pt}, {po})"));
            }
            prev = Some((ts, offset));
        }
        Ok(())
    }

    /// Forgets every entry (before a rebuild).
    pub fn clear(&mut self) {
        self.file.clear()
    }

    /// Shrinks the file to its entries.
    pub fn trim(&mut self) -> io::Result<()> {
        self.file.trim()
    }

    /// Grows the file back to `entries` so the segment can take appends again.
    pub fn reserve(&mut self, entries: usize) -> io::Result<()> {
        self.file.resize(entries.max(self.file.entries))
    }

    /// fsyncs the file.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_finds_the_floor_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = OffsetIndex::open(&dir.path().join("a.index"), 100, Some(4)).unwrap();
        assert_eq!(index.lookup(150), (100, 0));
        assert!(index.push(110, 4096));
        assert!(index.push(130, 8200));
        assert!(index.push(160, 12300));
        assert_eq!(index.lookup(100), (100, 0));
        assert_eq!(index.lookup(109), (100, 0));
        assert_eq!(index.lookup(110), (110, 4096));
        assert_eq!(index.lookup(131), (130, 8200));
        assert_eq!(index.lookup(10_000), (160, 12300));
        assert!(index.push(170, 16400));
        assert!(index.is_full());
        assert!(!index.push(180, 20500));
        assert_eq!(index.check(20_000), Ok(()));
        assert!(index.check(16_000).is_err());
    }

    #[test]
    fn trimmed_index_reopens_with_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.index");
        let mut index = OffsetIndex::open(&path, 100, Some(1000)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8000);
        index.push(110, 4096);
        index.push(130, 8200);
        index.trim().unwrap();
        drop(index);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16);
        let index = OffsetIndex::open(&path, 100, None).unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.last(), Some((130, 8200)));
    }

    #[test]
    fn a_file_of_partial_entries_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        std::fs::write(&path, [1u8; 13]).unwrap();
        let err = OffsetIndex::open(&path, 0, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn garbage_entries_fail_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.index");
        let mut garbage = Vec::new();
        for word in [5u32, 900, 3, 1000] {
            garbage.extend_from_slice(&word.to_be_bytes());
        }
        std::fs::write(&path, &garbage).unwrap();
        let index = OffsetIndex::open(&path, 0, None).unwrap();
        assert!(index.check(1 << 20).unwrap_err().contains("does not follow"));
        // An empty file maps to no entries and passes.
        std::fs::write(&path, []).unwrap();
        assert_eq!(OffsetIndex::open(&path, 0, None).unwrap().check(0), Ok(()));
    }

    #[test]
    fn time_index_keeps_only_rising_entries_and_finds_the_last_below() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TimeIndex::open(&dir.path().join("t.timeindex"), 0, Some(8)).unwrap();
        assert!(index.push(1_000, 0));
        assert!(index.push(900, 10)); // not a new maximum: skipped
        assert!(index.push(2_000, 20));
        assert!(index.push(3_000, 40));
        assert_eq!(index.len(), 3);
        assert_eq!(index.last_before(1_000), None);
        assert_eq!(index.last_before(1_001), Some(0));
        assert_eq!(index.last_before(2_500), Some(20));
        assert_eq!(index.last_before(i64::MAX), Some(40));
        assert_eq!(index.check(41), Ok(()));
        assert!(index.check(40).is_err());
    }
}
