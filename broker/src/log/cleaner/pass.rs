//! One cleaning of a partition: which sealed segments to clean, the key map over
//! their dirty part, and the cleaned segments written to `cleaning/`. Nothing
//! here touches the partition's own files; `swap` puts the result in place.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use tracing::debug;

use super::filter::{Filtered, filter_batch};
use super::keys::KeyMap;
use super::swap::{CLEANING_DIR, Swap};
use super::{CleanStats, CleanerOptions, Throttle};
use crate::log::batch::{BatchHeader, HEADER_LEN};
use crate::log::config::{Cleanup, LogConfig};
use crate::log::record::{self, Compression};
use crate::log::scan::{ScanError, Scanner};
use crate::log::segment::Segment;

/// A sealed segment as a pass sees it, taken under the partition's lock. Sealed
/// segments never change, so the pass reads them without the lock.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// Its base offset.
    pub base: u64,
    /// Its log.
    pub file: Arc<File>,
    /// Its size in bytes.
    pub size: u64,
    /// Its newest record's timestamp, or the file's mtime when records have none.
    pub newest: i64,
}

/// What a pass cleans.
#[derive(Debug)]
pub struct Plan {
    /// The segments to clean, oldest first: the cleaned ones, then the dirty ones.
    pub segments: Vec<Sealed>,
    /// Index in `segments` of the first dirty one.
    pub first_dirty: usize,
    /// The offset after the last segment of `segments` (the next segment's base).
    pub limit: u64,
    /// The base of the log's first segment, which is emptied but never removed: it
    /// holds the log start (and the producers retention has not expired) in place.
    pub first_base: u64,
}

/// Decides whether a cleaning is due and of what. `sealed` are the partition's
/// segments except the active one, oldest first (the log's first included, even
/// empty); `next_base` is the active segment's base.
pub fn plan(
    sealed: Vec<Sealed>,
    next_base: u64,
    cleanup: &Cleanup,
    cleaned_through: u64,
    now_ms: i64,
) -> Option<Plan> {
    let lag = cleanup.min_lag.as_millis() as i64;
    let cleanable = sealed.iter().take_while(|s| s.newest <= now_ms - lag).count();
    let limit = sealed.get(cleanable).map_or(next_base, |s| s.base);
    let mut segments = sealed;
    segments.truncate(cleanable);
    let first_dirty = segments.iter().position(|s| s.base >= cleaned_through)?;
    let total: u64 = segments.iter().map(|s| s.size).sum();
    let dirty: u64 = segments[first_dirty..].iter().map(|s| s.size).sum();
    if dirty == 0 {
        return None;
    }
    let ratio_due = dirty as u128 * 1_000_000 >= total as u128 * cleanup.min_dirty_ppm as u128;
    let lag_due = cleanup
        .max_lag
        .is_some_and(|max| segments[first_dirty].newest <= now_ms - max.as_millis() as i64);
    let first_base = segments[0].base;
    (ratio_due || lag_due).then_some(Plan { segments, first_dirty, limit, first_base })
}

/// Whether a record stays: its key's latest (or a key the map did not see: only
/// in the part cleaned before), or without a key; a tombstone only while its
/// segment is within `delete.retention.ms`.
fn keep(map: &KeyMap, offset: u64, key: Option<&[u8]>, tombstone: bool, expired: bool) -> bool {
    let Some(key) = key else { return true };
    match map.latest(key) {
        Some(latest) if latest > offset => false,
        _ => !(tombstone && expired),
    }
}

/// Calls `each` with every batch of `segment` (CRC-checked) and its bytes.
fn for_each_batch(
    segment: &Sealed,
    mut each: impl FnMut(&BatchHeader<[u8; HEADER_LEN]>, Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    let mut scan = Scanner::new(&segment.file, 0, segment.size, true);
    loop {
        let batch = match scan.next_batch() {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(()),
            Err(ScanError::Io(e)) => return Err(e),
            Err(ScanError::Corrupt { position, source }) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("segment {} at {position}: {source}; not cleaning it", segment.base),
                ));
            }
        };
        let mut bytes = vec![0u8; batch.header.total_len()];
        segment.file.read_exact_at(&mut bytes, batch.position)?;
        each(&batch.header, bytes)?;
    }
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Builds the key map over the dirty segments, as many as the memory allows (at
/// least one); returns it with the number of segments it covers.
fn build_map(
    plan: &Plan,
    opts: &CleanerOptions,
    throttle: &mut Throttle,
) -> io::Result<(KeyMap, usize)> {
    let mut map = KeyMap::with_budget(opts.key_map_bytes);
    let mut end = plan.first_dirty;
    for segment in &plan.segments[plan.first_dirty..] {
        if map.is_full() {
            break;
        }
        for_each_batch(segment, |header, bytes| {
            throttle.moved(bytes.len() as u64);
            if header.is_control() {
                return Ok(());
            }
            let codec = Compression::from_id(header.compression()).map_err(invalid)?;
            let section = &bytes[HEADER_LEN..];
            let plain = record::decompress(codec, section).map_err(invalid)?;
            for r in record::raw_records(plain.as_deref().unwrap_or(section)).map_err(invalid)? {
                if let Some(key) = r.key {
                    map.put(key, header.base_offset() as u64 + r.offset_delta as u64);
                }
            }
            Ok(())
        })?;
        end += 1;
    }
    Ok((map, end))
}

/// Runs the plan: writes the cleaned segments into `dir/cleaning/` (durably) and
/// returns the swap that puts them in place. Segments nothing was removed from
/// are left out of it.
pub fn run(
    dir: &Path,
    plan: &Plan,
    cfg: &LogConfig,
    opts: &CleanerOptions,
    now_ms: i64,
) -> io::Result<(Swap, CleanStats)> {
    let mut throttle = Throttle::new(opts.io_bytes_per_second);
    let (map, end) = build_map(plan, opts, &mut throttle)?;
    let cleaned_through = plan.segments.get(end).map_or(plan.limit, |s| s.base);
    let cleaning = dir.join(CLEANING_DIR);
    fs::create_dir_all(&cleaning)?;
    let mut swap = Swap { replaced: Vec::new(), removed: Vec::new(), cleaned_through };
    let mut stats = CleanStats { cleaned_through, ..CleanStats::default() };
    let horizon = now_ms - cfg.cleanup.delete_retention.as_millis() as i64;
    for segment in &plan.segments[..end] {
        let expired = segment.newest < horizon;
        let mut seg_cfg = cfg.clone();
        seg_cfg.segment_bytes = seg_cfg.segment_bytes.max(segment.size);
        let mut out = Segment::create(&cleaning, segment.base, &seg_cfg)?;
        let mut removed = 0u64;
        for_each_batch(segment, |header, bytes| {
            throttle.moved(bytes.len() as u64);
            let base = header.base_offset() as u64;
            let mut decide =
                |offset, key: Option<&[u8]>, tombstone| keep(&map, offset, key, tombstone, expired);
            let (filtered, dropped) = filter_batch(&bytes, &mut decide).map_err(invalid)?;
            removed += dropped as u64;
            match filtered {
                Filtered::Kept => out.append(&bytes, base),
                Filtered::Rewritten(cleaned) => out.append(&cleaned, base),
                Filtered::Removed => Ok(()),
            }
        })?;
        if removed == 0 {
            out.delete()?;
            continue;
        }
        stats.segments += 1;
        stats.bytes_before += segment.size;
        stats.bytes_after += out.size();
        stats.records_removed += removed;
        if out.is_empty() && segment.base != plan.first_base {
            out.delete()?;
            swap.removed.push(segment.base);
        } else {
            out.seal()?;
            out.sync()?;
            throttle.moved(out.size());
            swap.replaced.push(segment.base);
        }
    }
    debug!(dir = %dir.display(), keys = map.len(), segments = stats.segments,
        removed = stats.records_removed, "cleaning pass written");
    Ok((swap, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sealed(base: u64, size: u64, newest: i64) -> Sealed {
        let file = Arc::new(tempfile::tempfile().unwrap());
        Sealed { base, file, size, newest }
    }

    fn cleanup(ratio_ppm: u32) -> Cleanup {
        Cleanup { compact: true, min_dirty_ppm: ratio_ppm, ..Cleanup::default() }
    }

    #[test]
    fn a_plan_waits_for_the_dirty_ratio_and_the_lag() {
        let segs = || vec![sealed(0, 100, 10), sealed(10, 100, 20), sealed(20, 100, 30)];
        // Two of three segments cleaned: a third dirty is under one half.
        assert!(plan(segs(), 30, &cleanup(500_000), 20, 1_000).is_none());
        let p = plan(segs(), 30, &cleanup(300_000), 20, 1_000).unwrap();
        assert_eq!((p.segments.len(), p.first_dirty, p.limit), (3, 2, 30));
        // min.compaction.lag.ms keeps the newest segment out.
        let mut lagged = cleanup(0);
        lagged.min_lag = Duration::from_millis(975);
        let p = plan(segs(), 30, &lagged, 0, 1_000).unwrap();
        assert_eq!((p.segments.len(), p.limit), (2, 20));
        // max.compaction.lag.ms forces a clean under the ratio.
        let mut forced = cleanup(900_000);
        forced.max_lag = Some(Duration::from_millis(500));
        assert!(plan(segs(), 30, &forced, 20, 1_000).is_some());
        // Nothing dirty, nothing to do.
        assert!(plan(segs(), 30, &cleanup(0), 30, 1_000).is_none());
        assert!(plan(Vec::new(), 0, &cleanup(0), 0, 1_000).is_none());
    }

    #[test]
    fn keep_takes_the_latest_and_drops_expired_tombstones() {
        let mut map = KeyMap::with_budget(1 << 20);
        map.put(b"k", 5);
        assert!(!keep(&map, 4, Some(b"k"), false, false));
        assert!(keep(&map, 5, Some(b"k"), false, true));
        assert!(keep(&map, 5, Some(b"k"), true, false));
        assert!(!keep(&map, 5, Some(b"k"), true, true));
        assert!(keep(&map, 1, Some(b"other"), false, true));
        assert!(!keep(&map, 1, Some(b"other"), true, true));
        assert!(keep(&map, 1, None, true, true));
    }
}
