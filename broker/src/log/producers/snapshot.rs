//! Producer state across restarts: a snapshot file, and a rebuild from the batch
//! headers of the log for whatever the snapshot does not cover.
//!
//! `producer-state` in the partition directory, big-endian, replaced atomically
//! (temporary file, fsync, rename, directory fsync):
//!
//! | size | field                                                        |
//! |-----:|--------------------------------------------------------------|
//! |    4 | magic `WPST`                                                 |
//! |    2 | format version (3; versions 1 and 2 are read too)            |
//! |    8 | offset: the state describes every batch below it, none above |
//! |    4 | producer count                                               |
//! |    … | per producer: id i64, epoch i16, last timestamp i64 (not in  |
//! |      | version 1), batch count u8, then per batch first seq i32,    |
//! |      | last seq i32, base offset u64, last offset u64               |
//! |    … | (version 3) open transactions: count u32, then producer id   |
//! |      | i64 and first offset u64 each; aborted transactions: count   |
//! |      | u32, then producer id i64, first offset u64, marker offset   |
//! |      | u64 each                                                     |
//! |    4 | CRC-32C of everything before                                 |
//!
//! A clean close writes one at the log end, and the flusher one after each segment
//! roll, so that a crash rescans at most about a segment of headers. On open, a
//! snapshot is used only if it is valid and its offset is at or below the recovered
//! log end (recovery only ever cuts a suffix, so the batches below it are the ones
//! it describes); otherwise it is deleted, lest a later open trust it, and the state
//! is rebuilt from every segment.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use tracing::{info, warn};

use super::{
    AbortedTxn, BATCHES_KEPT, BatchMeta, ProducerBatch, ProducerEntry, ProducerStates, txn,
};
use crate::log::recovery::sync_dir;
use crate::log::scan::{ScanError, Scanner};
use crate::log::segment::Segment;

/// The snapshot's file name in the partition directory.
pub const FILE: &str = "producer-state";
/// Its first bytes.
const MAGIC: &[u8; 4] = b"WPST";
/// The format version written.
const VERSION: u16 = 3;
/// The version before transactions were kept.
const VERSION_2: u16 = 2;
/// The version before producers' last timestamps were kept.
const VERSION_1: u16 = 1;
/// Magic, version, offset, producer count.
const HEADER_LEN: usize = 4 + 2 + 8 + 4;
/// Bytes per remembered batch.
const BATCH_LEN: usize = 4 + 4 + 8 + 8;

/// Encodes `states` as of `offset`.
pub fn encode(offset: u64, states: &ProducerStates) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + states.len() * (11 + 2 * BATCH_LEN) + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&(states.len() as u32).to_be_bytes());
    for (id, entry) in states.iter() {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&entry.epoch().to_be_bytes());
        out.extend_from_slice(&entry.last_timestamp().to_be_bytes());
        out.push(entry.batches().len() as u8);
        for b in entry.batches() {
            out.extend_from_slice(&b.first_seq.to_be_bytes());
            out.extend_from_slice(&b.last_seq.to_be_bytes());
            out.extend_from_slice(&b.base_offset.to_be_bytes());
            out.extend_from_slice(&b.last_offset.to_be_bytes());
        }
    }
    let txns = states.txns();
    out.extend_from_slice(&(txns.ongoing().count() as u32).to_be_bytes());
    for (producer_id, first) in txns.ongoing() {
        out.extend_from_slice(&producer_id.to_be_bytes());
        out.extend_from_slice(&first.to_be_bytes());
    }
    out.extend_from_slice(&(txns.aborted().len() as u32).to_be_bytes());
    for a in txns.aborted() {
        out.extend_from_slice(&a.producer_id.to_be_bytes());
        out.extend_from_slice(&a.first_offset.to_be_bytes());
        out.extend_from_slice(&a.last_offset.to_be_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Reads big-endian fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn i16(&mut self) -> Option<i16> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }
}

/// Decodes a snapshot: its offset and states; None when the bytes are not a whole,
/// valid snapshot of a known version.
pub fn decode(bytes: &[u8]) -> Option<(u64, ProducerStates)> {
    let (body, crc) = bytes.split_last_chunk::<4>()?;
    if crc32c::crc32c(body) != u32::from_be_bytes(*crc) {
        return None;
    }
    let mut r = Reader(body);
    if &r.take::<4>()? != MAGIC {
        return None;
    }
    let version = r.take::<2>().map(u16::from_be_bytes)?;
    if ![VERSION, VERSION_2, VERSION_1].contains(&version) {
        return None;
    }
    let offset = r.u64()?;
    let count = r.u32()?;
    let mut states = ProducerStates::default();
    for _ in 0..count {
        let id = r.i64()?;
        let mut entry = ProducerEntry::new(r.i16()?);
        if version >= VERSION_2 {
            entry.set_last_timestamp(r.i64()?);
        }
        let batches = r.u8()?;
        if batches as usize > BATCHES_KEPT {
            return None;
        }
        for _ in 0..batches {
            let (first_seq, last_seq) = (r.i32()?, r.i32()?);
            let (base_offset, last_offset) = (r.u64()?, r.u64()?);
            let epoch = entry.epoch();
            entry.push(epoch, BatchMeta { first_seq, last_seq, base_offset, last_offset });
        }
        states.insert(id, entry);
    }
    if version >= VERSION {
        let mut ongoing = BTreeMap::new();
        for _ in 0..r.u32()? {
            ongoing.insert(r.i64()?, r.u64()?);
        }
        let mut aborted = Vec::new();
        for _ in 0..r.u32()? {
            let (producer_id, first_offset, last_offset) = (r.i64()?, r.u64()?, r.u64()?);
            aborted.push(AbortedTxn { producer_id, first_offset, last_offset });
        }
        states.txns_mut().restore(ongoing, aborted);
    }
    r.0.is_empty().then_some((offset, states))
}

/// Durably replaces the snapshot in `dir` with `states` as of `offset`.
pub fn write(dir: &Path, offset: u64, states: &ProducerStates) -> io::Result<()> {
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(&encode(offset, states))?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(FILE))?;
    sync_dir(dir)
}

/// The producer states of a freshly recovered log ending at `log_end`: the snapshot
/// if it can be trusted, then the batch headers it does not cover. Returns them with
/// the offset of the snapshot kept on disk (0 when none is).
pub fn load(
    dir: &Path,
    segments: &BTreeMap<u64, Segment>,
    log_end: u64,
) -> io::Result<(ProducerStates, u64)> {
    let path = dir.join(FILE);
    let found = match fs::read(&path) {
        Ok(bytes) => Some(decode(&bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            warn!(file = %path.display(), error = %e, "unreadable producer state snapshot");
            Some(None)
        }
    };
    let (from, mut states) = match found {
        Some(Some((offset, states))) if offset <= log_end => (offset, states),
        None => (0, ProducerStates::default()),
        Some(stale) => {
            match stale {
                Some((offset, _)) => {
                    warn!(file = %path.display(), offset, log_end, "producer state snapshot is past the log end")
                }
                None => warn!(file = %path.display(), "invalid producer state snapshot"),
            }
            fs::remove_file(&path)?;
            sync_dir(dir)?;
            (0, ProducerStates::default())
        }
    };
    let scanned = rebuild(&mut states, segments, from)?;
    // As retention would have left it, had it run with this state. The first
    // segment counts even if compaction emptied it: the cleaner removes records,
    // not producers.
    let log_start = segments.values().next().map_or(log_end, Segment::base_offset);
    states.forget_before(log_start);
    if scanned > 0 {
        info!(dir = %dir.display(), from, batches = scanned, producers = states.len(), "rebuilt producer state from the log");
    }
    Ok((states, from))
}

/// Adds the batches at or after offset `from` to `states`, reading only headers.
/// Returns the number of batches read.
pub fn rebuild(
    states: &mut ProducerStates,
    segments: &BTreeMap<u64, Segment>,
    from: u64,
) -> io::Result<usize> {
    let mut scanned = 0;
    for segment in segments.values().filter(|s| !s.is_empty() && s.next_offset() > from) {
        let start = if segment.base_offset() < from { segment.position_for(from) } else { 0 };
        let mut scan = Scanner::new(segment.log(), start, segment.size(), false);
        while let Some(b) = scan.next_batch().map_err(|e| match e {
            ScanError::Io(e) => e,
            corrupt => io::Error::new(io::ErrorKind::InvalidData, corrupt),
        })? {
            scanned += 1;
            let base = b.header.base_offset() as u64;
            if base < from {
                continue;
            }
            if b.header.is_control() {
                // A marker: its record says whether it commits or aborts.
                let mut bytes = vec![0u8; b.header.total_len()];
                segment.log().read_exact_at(&mut bytes, b.position)?;
                if let Some(commit) = txn::marker_kind(&bytes) {
                    states.txns_mut().ended(b.header.producer_id(), commit, base);
                    states.fence(b.header.producer_id(), b.header.producer_epoch());
                }
                continue;
            }
            if let Some(producer) = ProducerBatch::of(&b.header) {
                if b.header.is_transactional() {
                    states.txns_mut().data(producer.producer_id, base);
                }
                states.record(&producer, base, b.header.last_offset() as u64);
            }
        }
    }
    Ok(scanned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states() -> ProducerStates {
        let mut states = ProducerStates::default();
        for (id, epoch, n) in [(1, 0, 1), (2, 3, 7), (i64::MAX, i16::MAX, 2)] {
            for i in 0..n {
                let b = ProducerBatch {
                    producer_id: id,
                    epoch,
                    first_seq: i * 2,
                    last_seq: i * 2 + 1,
                    max_timestamp: 1_000 + i as i64,
                };
                states.record(&b, 100 + i as u64 * 2, 101 + i as u64 * 2);
            }
        }
        states.txns_mut().data(2, 104);
        states.txns_mut().data(1, 100);
        states.txns_mut().ended(1, false, 101);
        states.txns_mut().data(1, 102);
        states
    }

    #[test]
    fn a_snapshot_round_trips_and_any_damage_is_noticed() {
        let bytes = encode(1234, &states());
        assert_eq!(decode(&bytes), Some((1234, states())));
        assert_eq!(
            decode(&encode(0, &ProducerStates::default())),
            Some((0, ProducerStates::default()))
        );
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        for at in [0, 4, 7, 20, bytes.len() / 2, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert_eq!(decode(&flipped), None, "flipped byte {at}");
        }
        let mut future = bytes.clone();
        future[5] = 4;
        let body = future.len() - 4;
        let crc = crc32c::crc32c(&future[..body]);
        future[body..].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(decode(&future), None, "an unknown version");
    }

    #[test]
    fn a_version_1_snapshot_is_read_without_last_timestamps() {
        let mut v1 = Vec::new();
        v1.extend_from_slice(MAGIC);
        v1.extend_from_slice(&VERSION_1.to_be_bytes());
        v1.extend_from_slice(&50u64.to_be_bytes());
        v1.extend_from_slice(&1u32.to_be_bytes());
        v1.extend_from_slice(&7i64.to_be_bytes());
        v1.extend_from_slice(&3i16.to_be_bytes());
        v1.push(1);
        for field in [0i32, 4] {
            v1.extend_from_slice(&field.to_be_bytes());
        }
        for offset in [10u64, 14] {
            v1.extend_from_slice(&offset.to_be_bytes());
        }
        let crc = crc32c::crc32c(&v1);
        v1.extend_from_slice(&crc.to_be_bytes());
        let (offset, states) = decode(&v1).expect("version 1 decodes");
        assert_eq!(offset, 50);
        let entry = states.get(7).unwrap();
        assert_eq!((entry.epoch(), entry.last_timestamp()), (3, -1));
        assert_eq!(entry.batches()[0].last_offset, 14);
    }

    #[test]
    fn write_replaces_the_file_atomically() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 10, &ProducerStates::default()).unwrap();
        write(dir.path(), 20, &states()).unwrap();
        let bytes = fs::read(dir.path().join(FILE)).unwrap();
        assert_eq!(decode(&bytes), Some((20, states())));
        assert!(!dir.path().join(format!("{FILE}.tmp")).exists());
    }
}
