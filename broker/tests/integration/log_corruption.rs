//! Damaged partition directories: each test builds a log of several small segments,
//! records what it holds, stops it (a crash, or a clean close where the case needs
//! the clean-shutdown marker), damages files, reopens, and checks that:
//! - the open succeeds;
//! - everything before the damage is kept and reads back byte for byte;
//! - nothing from the damage on is served;
//! - appends continue at the right next offset, read back, and survive a reopen.

use crate::log_support;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use log_support::{StoredBatch, as_stored, batch_at, make_batch, scan_log, timestamp_of};
use tempfile::TempDir;
use weir_broker::log::batch::{self, BatchError};
use weir_broker::log::recovery::{self, CLEAN_SHUTDOWN, RECOVERY_POINT};
use weir_broker::log::segment::{Truncation, segment_path};
use weir_broker::log::{LogConfig, Partition, ReadError};

/// Small segments and a dense index: a few dozen batches make several segments, each
/// with several index entries.
fn config() -> LogConfig {
    LogConfig { segment_bytes: 4096, index_interval_bytes: 256, ..LogConfig::default() }
}

fn open(dir: &Path) -> Partition {
    Partition::open(dir, config()).unwrap_or_else(|e| panic!("open after damage failed: {e}"))
}

/// Each segment's base offset, with the indices (in the list of batches) of its
/// batches.
type Layout = Vec<(u64, Vec<usize>)>;

/// A partition built by [`build`], and what it holds.
#[derive(Debug)]
struct Built {
    /// The partition's directory.
    dir: TempDir,
    /// The partition, still open.
    p: Partition,
    /// Every batch, as stored.
    batches: Vec<StoredBatch>,
    /// Where each batch went.
    segments: Layout,
}

impl Built {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where batch `i` starts in its segment's log.
    fn position(&self, i: usize) -> u64 {
        let (_, members) = self.segments.iter().find(|(_, m)| m.contains(&i)).expect("a batch");
        members.iter().take_while(|&&j| j != i).map(|&j| self.batches[j].bytes.len() as u64).sum()
    }

    /// The path of segment `s`'s file with extension `ext`.
    fn file(&self, s: usize, ext: &str) -> PathBuf {
        segment_path(self.path(), self.segments[s].0, ext)
    }

    /// The last segment (the active one).
    fn active(&self) -> usize {
        self.segments.len() - 1
    }

    /// Stops the partition without a clean close, as a crash would.
    fn crash(self) -> (TempDir, Vec<StoredBatch>, Layout) {
        drop(self.p);
        (self.dir, self.batches, self.segments)
    }
}

/// Builds a log with at least `sealed` sealed segments and at least `active_batches`
/// batches in the active one. Batches hold 1 to 5 records of 20 to 200 bytes.
fn build(sealed: usize, active_batches: usize) -> Built {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let p = Partition::open(dir.path(), config()).expect("open a new partition");
    let mut batches = Vec::new();
    let mut segments: Layout = Vec::new();
    for i in 0..1_000 {
        if segments.len() > sealed && segments.last().is_some_and(|s| s.1.len() >= active_batches) {
            break;
        }
        let next = p.high_watermark();
        let request = make_batch(next, 1 + i % 5, 20 + (i * 53) % 180);
        let before = p.segment_count();
        let info = p.append(&request).expect("append");
        let bytes = as_stored(&request, info.base_offset);
        assert_eq!(info.base_offset, next);
        if segments.is_empty() || p.segment_count() > before {
            segments.push((next, Vec::new()));
        }
        segments.last_mut().expect("a segment").1.push(batches.len());
        batches.push(StoredBatch { base: info.base_offset, last: info.last_offset, bytes });
    }
    assert!(segments.len() > sealed, "built only {} segments", segments.len());
    let built = Built { dir, p, batches, segments };
    for (s, (base, members)) in built.segments.iter().enumerate() {
        assert!(built.file(s, "log").exists(), "segment {base} has no log file");
        let size: usize = members.iter().map(|&i| built.batches[i].bytes.len()).sum();
        assert_eq!(fs::metadata(built.file(s, "log")).expect("log").len(), size as u64);
    }
    built
}

/// Asserts that the partition holds exactly `expected`, byte for byte, and serves
/// nothing past it.
fn assert_holds_exactly(p: &Partition, expected: &[StoredBatch]) {
    let got = scan_log(p);
    let spans = |b: &[StoredBatch]| b.iter().map(|b| (b.base, b.last)).collect::<Vec<_>>();
    assert_eq!(spans(&got), spans(expected), "the batches the log holds");
    for (g, e) in got.iter().zip(expected) {
        assert!(g.bytes == e.bytes, "the bytes of the batch at {} differ", e.base);
    }
    let hwm = expected.last().map_or(0, |b| b.last + 1);
    assert_eq!(p.high_watermark(), hwm);
    assert!(
        matches!(p.read(hwm + 1, 1024), Err(ReadError::OffsetOutOfRange { .. })),
        "an offset past the end is out of range"
    );
}

/// Asserts that a read from every offset of every batch serves that batch first.
fn assert_every_offset_reads(p: &Partition, expected: &[StoredBatch]) {
    for b in expected {
        for offset in b.base..=b.last {
            assert!(batch_at(p, offset) == *b, "a read at {offset} served the wrong bytes");
        }
    }
}

/// Asserts that ListOffsets by time finds every record: records carry strictly
/// increasing timestamps (`timestamp_of`), so the first record at or after a
/// record's timestamp, or just before it, is that record.
fn assert_timestamps_answer(p: &Partition, expected: &[StoredBatch]) {
    for b in expected {
        for offset in b.base..=b.last {
            let ts = timestamp_of(offset);
            assert_eq!(p.offset_for_timestamp(ts).expect("by time"), Some((offset, ts)));
            assert_eq!(p.offset_for_timestamp(ts - 5).expect("by time"), Some((offset, ts)));
        }
    }
    let end = expected.last().map_or(0, |b| b.last + 1);
    assert_eq!(p.offset_for_timestamp(timestamp_of(end)).expect("by time"), None);
}

/// Appends a batch, checks its offsets and that it reads back, then closes, reopens
/// and checks that the log still holds `kept` followed by it.
fn assert_appends_continue(dir: &Path, p: Partition, kept: &[StoredBatch]) {
    let next = kept.last().map_or(0, |b| b.last + 1);
    let request = make_batch(next, 3, 64);
    let info = p.append(&request).expect("append after recovery");
    let bytes = as_stored(&request, info.base_offset);
    assert_eq!((info.base_offset, info.last_offset), (next, next + 2), "offsets after recovery");
    let appended = StoredBatch { base: next, last: next + 2, bytes };
    assert!(batch_at(&p, next + 1) == appended, "the new batch reads back");
    let mut all = kept.to_vec();
    all.push(appended);
    assert_holds_exactly(&p, &all);
    p.close().expect("clean close");
    drop(p);
    let p = open(dir);
    assert!(p.truncations().is_empty(), "after a clean close: {:?}", p.truncations());
    assert_holds_exactly(&p, &all);
}

/// Asserts that the offset index at `path` holds the entries it held before it was
/// damaged (an active segment's file may be longer: it is preallocated).
fn assert_rebuilt(path: &Path, original: &[u8]) {
    let rebuilt = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        rebuilt.get(..original.len()) == Some(original),
        "{} does not hold its former entries again",
        path.display()
    );
}

/// Xors the byte at `position` of `path` with 0xff.
fn flip_byte(path: &Path, position: u64) {
    let file = OpenOptions::new().read(true).write(true).open(path).expect("open to damage");
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, position).expect("read the byte");
    file.write_all_at(&[byte[0] ^ 0xff], position).expect("flip the byte");
}

/// Cuts `path` to `len` bytes.
fn cut(path: &Path, len: u64) {
    OpenOptions::new().write(true).open(path).expect("open to cut").set_len(len).expect("cut");
}

/// Replaces the contents of `path` with as many pseudo-random bytes.
fn scramble(path: &Path, seed: u64) -> Vec<u8> {
    let len = fs::metadata(path).expect("the file to scramble").len() as usize;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut garbage = vec![0u8; len];
    rng.fill(&mut garbage);
    fs::write(path, &garbage).expect("scramble");
    garbage
}

fn tear_the_last_batch(into_it: impl Fn(usize) -> usize) {
    let built = build(2, 3);
    let last = built.batches.len() - 1;
    let (active, position) = (built.active(), built.position(last));
    let log = built.file(active, "log");
    let (dir, batches, segments) = built.crash();
    let torn = into_it(batches[last].bytes.len()) as u64;
    cut(&log, position + torn);

    let p = open(dir.path());
    let expected = Truncation { position, dropped: torn };
    assert_eq!(p.truncations(), &[(segments[active].0, expected)]);
    assert_eq!(fs::metadata(&log).expect("log").len(), position, "the torn bytes are gone");
    assert_holds_exactly(&p, &batches[..last]);
    assert_appends_continue(dir.path(), p, &batches[..last]);
}

#[test]
fn torn_tail_in_the_records_is_cut_back_to_the_previous_batch() {
    tear_the_last_batch(|len| len / 2 + 31);
}

#[test]
fn torn_tail_inside_the_batch_header_is_cut_back_to_the_previous_batch() {
    tear_the_last_batch(|_| 30);
}

#[test]
fn flipped_byte_in_the_last_batchs_records_fails_its_crc_and_drops_it() {
    let built = build(2, 3);
    let last = built.batches.len() - 1;
    let (active, position) = (built.active(), built.position(last));
    let log = built.file(active, "log");
    let (dir, batches, segments) = built.crash();
    let len = batches[last].bytes.len() as u64;
    // A byte of the last record's value: only the CRC can tell.
    flip_byte(&log, position + len - 3);
    let mut damaged = batches[last].bytes.clone();
    damaged[len as usize - 3] ^= 0xff;
    assert!(matches!(batch::validate(&damaged), Err(BatchError::CrcMismatch { .. })));

    let p = open(dir.path());
    assert_eq!(p.truncations(), &[(segments[active].0, Truncation { position, dropped: len })]);
    assert_holds_exactly(&p, &batches[..last]);
    assert_appends_continue(dir.path(), p, &batches[..last]);
}

#[test]
fn flipped_byte_mid_active_segment_truncates_there_and_drops_the_rest_of_it() {
    let built = build(2, 5);
    let active = built.active();
    let members = built.segments[active].1.clone();
    let victim = members[members.len() / 2];
    assert!(victim > members[0] && victim < *members.last().expect("a batch"));
    let position = built.position(victim);
    let log = built.file(active, "log");
    let (dir, batches, segments) = built.crash();
    let size = fs::metadata(&log).expect("log").len();
    flip_byte(&log, position + batch::HEADER_LEN as u64 + 2);

    let p = open(dir.path());
    let expected = Truncation { position, dropped: size - position };
    assert_eq!(p.truncations(), &[(segments[active].0, expected)]);
    assert_holds_exactly(&p, &batches[..victim]);
    assert_appends_continue(dir.path(), p, &batches[..victim]);
}

#[test]
fn flipped_byte_in_a_sealed_segment_after_a_crash_truncates_there_and_deletes_later_segments() {
    // No recovery point was ever written past 0, so a crash rescans every segment.
    let built = build(3, 2);
    let members = built.segments[1].1.clone();
    let victim = members[members.len() / 2];
    let position = built.position(victim);
    let log = built.file(1, "log");
    let later: Vec<PathBuf> = (2..built.segments.len())
        .flat_map(|s| ["log", "index", "timeindex"].map(|ext| built.file(s, ext)))
        .collect();
    let (dir, batches, segments) = built.crash();
    let size = fs::metadata(&log).expect("log").len();
    flip_byte(&log, position + batch::HEADER_LEN as u64 + 1);

    let p = open(dir.path());
    let expected = Truncation { position, dropped: size - position };
    assert_eq!(p.truncations(), &[(segments[1].0, expected)]);
    assert_eq!(p.segment_count(), 2, "the cut segment is the active one again");
    for path in &later {
        assert!(!path.exists(), "{} follows the damage and must go", path.display());
    }
    assert_holds_exactly(&p, &batches[..victim]);
    assert_appends_continue(dir.path(), p, &batches[..victim]);
}

/// Flips a byte of the baseOffset of batch `victim_of(active segment's batches)`:
/// outside the CRC, so only the offsets' continuity can tell.
fn shifted_base_offset_is_caught(victim_of: impl Fn(&[usize]) -> usize) {
    let built = build(2, 5);
    let active = built.active();
    let victim = victim_of(&built.segments[active].1);
    let position = built.position(victim);
    let log = built.file(active, "log");
    let (dir, batches, segments) = built.crash();
    let size = fs::metadata(&log).expect("log").len();
    // Byte 3 of the big-endian i64: the offset grows by 255 * 2^32.
    flip_byte(&log, position + 3);

    let p = open(dir.path());
    let expected = Truncation { position, dropped: size - position };
    assert_eq!(p.truncations(), &[(segments[active].0, expected)]);
    assert_holds_exactly(&p, &batches[..victim]);
    assert_appends_continue(dir.path(), p, &batches[..victim]);
}

#[test]
fn shifted_base_offset_of_the_last_batch_is_caught_though_outside_the_crc() {
    shifted_base_offset_is_caught(|members| *members.last().expect("a batch"));
}

#[test]
fn shifted_base_offset_mid_segment_is_caught_though_outside_the_crc() {
    shifted_base_offset_is_caught(|members| members[members.len() / 2]);
}

#[test]
fn shifted_base_offset_of_a_segments_first_batch_is_caught_though_outside_the_crc() {
    shifted_base_offset_is_caught(|members| members[0]);
}

/// Builds a log, closes it cleanly (so recovery trusts what it finds), runs `damage`
/// on it, reopens, and checks that every offset and timestamp is still answered.
fn damage_after_clean_close(damage: impl FnOnce(&Built)) -> (TempDir, Partition, Vec<StoredBatch>) {
    let built = build(3, 6);
    for s in [1, built.active()] {
        let entries = fs::metadata(built.file(s, "index")).expect("index").len() / 8;
        assert!(entries >= 2, "segment {s} has {entries} index entries; the case needs 2");
    }
    built.p.close().expect("clean close");
    assert!(built.path().join(CLEAN_SHUTDOWN).exists());
    damage(&built);
    let (dir, batches, _) = built.crash();

    let p = open(dir.path());
    assert!(p.truncations().is_empty(), "nothing to cut: {:?}", p.truncations());
    assert_holds_exactly(&p, &batches);
    assert_every_offset_reads(&p, &batches);
    assert_timestamps_answer(&p, &batches);
    (dir, p, batches)
}

/// Every segment's offset index: its path and its bytes.
fn offset_indexes(built: &Built) -> Vec<(PathBuf, Vec<u8>)> {
    (0..built.segments.len())
        .map(|s| built.file(s, "index"))
        .map(|path| {
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}

/// Scrambles the `ext` index of segment `which(..)` under a clean marker and checks
/// that it is rebuilt: the offset index to its former entries, the time index to
/// something other than the garbage.
fn scrambled_index_is_rebuilt(which: impl Fn(&Built) -> usize, ext: &str) {
    let mut before = (PathBuf::new(), Vec::new(), Vec::new());
    let (dir, p, batches) = damage_after_clean_close(|built| {
        let path = built.file(which(built), ext);
        let original = fs::read(&path).expect("the index");
        let garbage = scramble(&path, 0x5eed ^ original.len() as u64);
        before = (path, original, garbage);
    });
    let (path, original, garbage) = before;
    let rebuilt = fs::read(&path).expect("the rebuilt index");
    assert!(!rebuilt.starts_with(&garbage), "{} still holds the garbage", path.display());
    if ext == "index" {
        assert_rebuilt(&path, &original);
    }
    assert_appends_continue(dir.path(), p, &batches);
}

#[test]
fn garbage_offset_index_of_a_sealed_segment_is_rebuilt_despite_a_clean_marker() {
    scrambled_index_is_rebuilt(|_| 1, "index");
}

#[test]
fn garbage_offset_index_of_the_active_segment_is_rebuilt_despite_a_clean_marker() {
    scrambled_index_is_rebuilt(Built::active, "index");
}

#[test]
fn garbage_time_index_of_a_sealed_segment_is_rebuilt_despite_a_clean_marker() {
    scrambled_index_is_rebuilt(|_| 1, "timeindex");
}

#[test]
fn garbage_time_index_of_the_active_segment_is_rebuilt_despite_a_clean_marker() {
    scrambled_index_is_rebuilt(Built::active, "timeindex");
}

#[test]
fn indexes_cut_to_half_their_entries_under_a_clean_marker_still_answer_right() {
    let mut originals = Vec::new();
    let (dir, p, batches) = damage_after_clean_close(|built| {
        originals = offset_indexes(built);
        for s in 0..built.segments.len() {
            for (ext, entry) in [("index", 8), ("timeindex", 12)] {
                let path = built.file(s, ext);
                let len = fs::metadata(&path).expect("index").len();
                cut(&path, len / entry / 2 * entry);
            }
        }
    });
    for (path, original) in &originals {
        assert_rebuilt(path, original);
    }
    assert_appends_continue(dir.path(), p, &batches);
}

#[test]
fn zero_length_indexes_under_a_clean_marker_are_rebuilt() {
    let mut originals = Vec::new();
    let (dir, p, batches) = damage_after_clean_close(|built| {
        originals = offset_indexes(built);
        for s in 0..built.segments.len() {
            cut(&built.file(s, "index"), 0);
            cut(&built.file(s, "timeindex"), 0);
        }
    });
    for (path, original) in &originals {
        assert_rebuilt(path, original);
    }
    assert_appends_continue(dir.path(), p, &batches);
}

#[test]
fn time_index_alone_cut_to_nothing_under_a_clean_marker_still_answers_by_time() {
    // The offset indexes pass their checks, so the segments are trusted and the empty
    // time indexes kept: a search by time then scans each segment from its start.
    // (A segment's max timestamp then comes from its last batches: right here, as
    // timestamps increase.)
    let (dir, p, batches) = damage_after_clean_close(|built| {
        for s in 0..built.segments.len() {
            cut(&built.file(s, "timeindex"), 0);
        }
    });
    assert_appends_continue(dir.path(), p, &batches);
}

#[test]
fn missing_index_files_are_rebuilt() {
    let mut originals = Vec::new();
    let (dir, p, batches) = damage_after_clean_close(|built| {
        originals = offset_indexes(built);
        for s in 0..built.segments.len() {
            fs::remove_file(built.file(s, "index")).expect("remove the index");
            fs::remove_file(built.file(s, "timeindex")).expect("remove the time index");
        }
    });
    for (path, original) in &originals {
        assert_rebuilt(path, original);
        assert!(path.with_extension("timeindex").exists(), "the time index is back");
    }
    assert_appends_continue(dir.path(), p, &batches);
}

#[test]
fn zero_length_active_log_after_a_crash_leaves_the_sealed_segments_and_continues_at_its_base() {
    let built = build(2, 3);
    let active = built.active();
    let log = built.file(active, "log");
    let (dir, batches, segments) = built.crash();
    cut(&log, 0);

    let p = open(dir.path());
    let first = segments[active].1[0];
    assert_eq!(batches[first].base, segments[active].0);
    assert_holds_exactly(&p, &batches[..first]);
    assert_eq!(p.segment_count(), segments.len(), "the empty segment stays the active one");
    assert_appends_continue(dir.path(), p, &batches[..first]);
}

#[test]
fn zero_length_active_log_under_a_clean_marker_leaves_the_sealed_segments_and_continues() {
    let built = build(2, 6);
    let active = built.active();
    let log = built.file(active, "log");
    built.p.close().expect("clean close");
    let (dir, batches, segments) = built.crash();
    cut(&log, 0);

    let p = open(dir.path());
    let first = segments[active].1[0];
    assert_holds_exactly(&p, &batches[..first]);
    assert_timestamps_answer(&p, &batches[..first]);
    assert_appends_continue(dir.path(), p, &batches[..first]);
}

#[test]
fn zero_length_sealed_log_after_a_crash_ends_the_log_there() {
    // Segment 1's data is gone, so offsets from its base on would have a hole:
    // segment 1 becomes the active one again, empty, and the later ones go.
    let built = build(3, 2);
    let log = built.file(1, "log");
    let later: Vec<PathBuf> = (2..built.segments.len()).map(|s| built.file(s, "log")).collect();
    let (dir, batches, segments) = built.crash();
    cut(&log, 0);

    let p = open(dir.path());
    assert_eq!(p.truncations(), &[(segments[1].0, Truncation { position: 0, dropped: 0 })]);
    for path in &later {
        assert!(!path.exists(), "{} follows the hole and must go", path.display());
    }
    let first = segments[1].1[0];
    assert_holds_exactly(&p, &batches[..first]);
    assert_appends_continue(dir.path(), p, &batches[..first]);
}

#[test]
fn recovery_point_is_reset_when_recovery_empties_the_log() {
    // A recovery point of 3 on disk; then the first batch of segment 0 (rescanned,
    // as segment 1 starts past 3) is damaged, so recovery empties the log. The
    // recovery point must not go on claiming offsets the new log has not fsynced.
    let built = build(2, 2);
    let (dir, _, _) = built.crash();
    recovery::write_recovery_point(dir.path(), 3).expect("a recovery point");
    flip_byte(&segment_path(dir.path(), 0, "log"), batch::HEADER_LEN as u64 + 1);
    let p = open(dir.path());
    assert_eq!(p.truncations()[0].1.position, 0);
    assert_eq!(p.high_watermark(), 0);
    assert_eq!(recovery::read_recovery_point(dir.path()), 0, "the recovery point of an empty log");

    // Why it matters: new batches of about 3 KiB, one per 4 KiB segment, so segment 0
    // ends at offset 1, below the stale point, and is never fsynced before a crash.
    for _ in 0..3 {
        let next = p.high_watermark();
        p.append(&make_batch(next, 1, 3_000)).expect("append");
    }
    assert!(p.segment_count() >= 3);
    drop(p);
    flip_byte(&segment_path(dir.path(), 0, "log"), batch::HEADER_LEN as u64 + 1);
    let p = open(dir.path());
    assert_eq!(p.truncations().len(), 1, "segment 0 was rescanned and its damage cut");
    assert_eq!(p.high_watermark(), 0);
}

#[test]
fn zero_length_recovery_point_opens_and_is_rewritten() {
    let built = build(3, 2);
    built.p.flush().expect("flush");
    built.p.checkpoint().expect("checkpoint");
    let rp = built.path().join(RECOVERY_POINT);
    let hwm = built.p.high_watermark();
    assert_eq!(recovery::read_recovery_point(built.path()), hwm);
    let (dir, batches, _) = built.crash();
    cut(&rp, 0);

    let p = open(dir.path());
    assert!(p.truncations().is_empty());
    assert_holds_exactly(&p, &batches);
    assert_eq!(recovery::read_recovery_point(dir.path()), hwm, "rewritten by the open");
    assert_appends_continue(dir.path(), p, &batches);
}

#[test]
fn unreadable_recovery_point_rescans_every_segment() {
    // Everything was fsynced and checkpointed, so segment 0 would be trusted; with
    // the recovery point unreadable it is rescanned, and the damage in it is found.
    let built = build(3, 2);
    built.p.flush().expect("flush");
    built.p.checkpoint().expect("checkpoint");
    let victim = built.segments[0].1[1];
    let position = built.position(victim);
    let log = built.file(0, "log");
    let (dir, batches, segments) = built.crash();
    let size = fs::metadata(&log).expect("log").len();
    flip_byte(&log, position + batch::HEADER_LEN as u64 + 3);
    cut(&dir.path().join(RECOVERY_POINT), 0);

    let p = open(dir.path());
    let expected = Truncation { position, dropped: size - position };
    assert_eq!(p.truncations(), &[(segments[0].0, expected)]);
    assert_holds_exactly(&p, &batches[..victim]);
    assert_appends_continue(dir.path(), p, &batches[..victim]);
}

#[test]
fn stray_index_files_without_their_log_are_removed() {
    let built = build(2, 2);
    let beyond = built.batches.last().expect("a batch").last + 1_000;
    let between = built.segments[1].0 - 1;
    let (dir, batches, _) = built.crash();
    let strays: Vec<PathBuf> = [beyond, between]
        .into_iter()
        .flat_map(|base| ["index", "timeindex"].map(|ext| segment_path(dir.path(), base, ext)))
        .collect();
    for (i, path) in strays.iter().enumerate() {
        fs::write(path, if i % 2 == 0 { vec![7u8; 24] } else { Vec::new() }).expect("a stray");
    }

    let p = open(dir.path());
    for path in &strays {
        assert!(!path.exists(), "{} was not removed", path.display());
    }
    assert!(p.truncations().is_empty());
    assert_holds_exactly(&p, &batches);
    assert_appends_continue(dir.path(), p, &batches);
}

#[test]
fn damage_below_the_recovery_point_is_not_rescanned_but_fails_the_readers_crc_check() {
    // Documented, Kafka-like behaviour: segments wholly below the recovery point were
    // fsynced and are trusted without reading every batch, so damage to their records
    // goes unnoticed by recovery. The bytes are served as stored, and a consumer's
    // CRC check (here `batch::validate`) is what catches it.
    let built = build(3, 2);
    built.p.flush().expect("flush");
    built.p.checkpoint().expect("checkpoint");
    let victim = built.segments[0].1[1];
    let position = built.position(victim);
    let log = built.file(0, "log");
    let (dir, batches, _) = built.crash();
    let at = batches[victim].bytes.len() - 2;
    flip_byte(&log, position + at as u64);

    let p = open(dir.path());
    assert!(p.truncations().is_empty());
    let hwm = batches.last().expect("a batch").last + 1;
    assert_eq!(p.high_watermark(), hwm, "nothing was cut");
    let slice = p.read(batches[victim].base, 1).expect("read").slice.expect("a batch");
    let served = slice.read().expect("copy");
    let mut damaged = batches[victim].bytes.clone();
    damaged[at] ^= 0xff;
    assert_eq!(&served[..], &damaged[..], "served exactly as stored");
    assert!(matches!(batch::validate(&served), Err(BatchError::CrcMismatch { .. })));
    for b in batches.iter().filter(|b| b.base != batches[victim].base) {
        assert!(batch_at(&p, b.base) == *b, "the batch at {} is intact", b.base);
    }
}
