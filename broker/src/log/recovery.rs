//! Opening a partition's directory: which segments exist, how far each can be
//! trusted, and what to cut after a crash.
//!
//! Two small files steer it:
//! - `.clean-shutdown`, written last by a clean close and removed (durably) on open:
//!   when present, nothing needs rescanning.
//! - `recovery-point`, the offset below which every byte was fsynced: after a crash
//!   only the segments from the one holding it onward are rescanned.
//!
//! Whatever the markers say, every index is checked against its log, and one that
//! fails is rebuilt from the log, never trusted.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use tracing::{info, warn};

use super::cleaner::swap;
use super::config::LogConfig;
use super::segment::{OpenMode, Segment, Truncation, segment_path};

/// The marker a clean close leaves.
pub const CLEAN_SHUTDOWN: &str = ".clean-shutdown";
/// The file holding the recovery point.
pub const RECOVERY_POINT: &str = "recovery-point";

/// The segments of a partition, opened, and what recovery had to do.
#[derive(Debug)]
pub struct Recovered {
    /// Segments by base offset; the last is the active one.
    pub segments: BTreeMap<u64, Segment>,
    /// Truncations made, by segment base offset.
    pub truncations: Vec<(u64, Truncation)>,
    /// Whether the previous run closed cleanly.
    pub was_clean: bool,
    /// The first segment that may hold bytes not yet on disk (the first one
    /// rescanned); None when everything is (a clean close, or a new partition).
    pub first_unsynced: Option<u64>,
    /// Offsets below this were compacted (the cleaner checkpoint).
    pub cleaned_through: u64,
}

/// Opens every segment in `dir` (creating the directory and a first segment at
/// offset 0 for a new partition), recovering after a crash.
pub fn open_segments(dir: &Path, cfg: &LogConfig) -> io::Result<Recovered> {
    fs::create_dir_all(dir)?;
    let marker = dir.join(CLEAN_SHUTDOWN);
    let was_clean = marker.exists();
    if was_clean {
        // Gone for good before any append: a crash from now on must be noticed.
        fs::remove_file(&marker)?;
        sync_dir(dir)?;
    }
    let recovery_point = if was_clean { u64::MAX } else { read_recovery_point(dir) };
    // A compaction that was committed is finished before anything is read.
    swap::recover(dir)?;
    let cleaned_through = swap::read_checkpoint(dir);
    let bases = list_segments(dir)?;
    let mut segments = BTreeMap::new();
    let mut truncations = Vec::new();
    let mut first_unsynced = None;
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        let active = next_base.is_none();
        // A segment is trusted when its successor starts at or below the point
        // everything was fsynced to; the active one only after a clean close.
        let mode = match next_base {
            Some(next) if next <= recovery_point => OpenMode::Trust,
            None if was_clean => OpenMode::Trust,
            _ => OpenMode::Rescan,
        };
        if mode == OpenMode::Rescan {
            first_unsynced.get_or_insert(base);
        }
        // A compacted segment may lack offsets anywhere, its last ones included.
        let compacted = next_base.is_some_and(|next| next <= cleaned_through);
        let (segment, mut truncation) = Segment::open(dir, base, cfg, mode, active, compacted)?;
        // A segment ends where the next begins. One that ends short lost its end (a
        // log cut to nothing rescans without a cut): what follows the hole must go.
        let ends_right = |next| match compacted {
            true => segment.next_offset() <= next,
            false => segment.next_offset() == next,
        };
        if let Some(next) = next_base
            && truncation.is_none()
            && !ends_right(next)
        {
            warn!(dir = %dir.display(), segment = base, ends = segment.next_offset(), next, "segment does not end where the next begins");
            truncation = Some(Truncation { position: segment.size(), dropped: 0 });
        }
        segments.insert(base, segment);
        if let Some(t) = truncation {
            truncations.push((base, t));
            // Later segments were written after the damage: they cannot follow it.
            for &later in &bases[i + 1..] {
                warn!(dir = %dir.display(), segment = later, "deleting a segment that followed a truncated one");
                for ext in ["log", "index", "timeindex"] {
                    match fs::remove_file(segment_path(dir, later, ext)) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
            }
            if !active {
                // The cut segment becomes the active one again.
                segments.remove(&base);
                let (segment, _) = Segment::open(dir, base, cfg, OpenMode::Trust, true, false)?;
                segments.insert(base, segment);
            }
            break;
        }
    }
    if segments.is_empty() {
        segments.insert(0, Segment::create(dir, 0, cfg)?);
        sync_dir(dir)?;
    }
    if !was_clean && !bases.is_empty() {
        info!(
            dir = %dir.display(),
            recovery_point = %if recovery_point == u64::MAX { "none".to_string() } else { recovery_point.to_string() },
            truncations = truncations.len(),
            "recovered partition after an unclean shutdown"
        );
    }
    Ok(Recovered { segments, truncations, was_clean, first_unsynced, cleaned_through })
}

/// Base offsets of the `.log` files in `dir`, ascending. Removes what a crash can
/// leave behind: temporary files and indexes whose log is gone.
fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let (Some(stem), Some(ext)) = (path.file_stem().and_then(|s| s.to_str()), path.extension())
        else {
            continue;
        };
        let base = if stem.len() == 20 { stem.parse::<u64>().ok() } else { None };
        match (ext.to_str(), base) {
            (Some("log"), Some(base)) => logs.push(base),
            (Some("index" | "timeindex"), Some(base)) => indexes.push((base, path)),
            (Some("tmp"), _) => fs::remove_file(&path)?,
            _ => {}
        }
    }
    logs.sort_unstable();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            warn!(file = %path.display(), "removing an index without its log");
            fs::remove_file(&path)?;
        }
    }
    Ok(logs)
}

/// The recovery point on disk; 0 (rescan everything) when missing or unreadable.
pub fn read_recovery_point(dir: &Path) -> u64 {
    let path = dir.join(RECOVERY_POINT);
    match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            warn!(file = %path.display(), "unreadable recovery point: rescanning the whole log");
            0
        }),
        Err(_) => 0,
    }
}

/// Durably replaces the recovery point: written to a temporary file, fsynced, then
/// renamed, so a crash leaves the old value or the new one, never a torn one.
pub fn write_recovery_point(dir: &Path, offset: u64) -> io::Result<()> {
    let tmp = dir.join(format!("{RECOVERY_POINT}.tmp"));
    let mut file = File::create(&tmp)?;
    writeln!(file, "{offset}")?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(RECOVERY_POINT))
}

/// Writes the clean-shutdown marker: the last act of a clean close.
pub fn mark_clean(dir: &Path) -> io::Result<()> {
    File::create(dir.join(CLEAN_SHUTDOWN))?.sync_all()?;
    sync_dir(dir)
}

/// fsyncs a directory, so that files created, renamed or removed in it stay so.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_gets_one_empty_segment_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let r = open_segments(&path, &LogConfig::default()).unwrap();
        assert_eq!(r.segments.keys().copied().collect::<Vec<_>>(), vec![0]);
        assert!(!r.was_clean && r.truncations.is_empty());
        assert!(segment_path(&path, 0, "log").exists());
    }

    #[test]
    fn leftovers_of_a_crash_are_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(segment_path(dir.path(), 0, "log"), []).unwrap();
        fs::write(segment_path(dir.path(), 50, "index"), [0u8; 16]).unwrap();
        fs::write(dir.path().join("recovery-point.tmp"), "12").unwrap();
        fs::write(dir.path().join("notes.txt"), "kept").unwrap();
        let r = open_segments(dir.path(), &LogConfig::default()).unwrap();
        assert_eq!(r.segments.len(), 1);
        assert!(!segment_path(dir.path(), 50, "index").exists());
        assert!(!dir.path().join("recovery-point.tmp").exists());
        assert!(dir.path().join("notes.txt").exists(), "files it does not own are left alone");
    }

    #[test]
    fn recovery_point_round_trips_and_garbage_means_rescan_all() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_recovery_point(dir.path()), 0);
        write_recovery_point(dir.path(), 12_345).unwrap();
        assert_eq!(read_recovery_point(dir.path()), 12_345);
        fs::write(dir.path().join(RECOVERY_POINT), "not a number").unwrap();
        assert_eq!(read_recovery_point(dir.path()), 0);
        fs::write(dir.path().join(RECOVERY_POINT), "").unwrap();
        assert_eq!(read_recovery_point(dir.path()), 0);
    }

    #[test]
    fn the_clean_marker_is_consumed_by_open() {
        let dir = tempfile::tempdir().unwrap();
        open_segments(dir.path(), &LogConfig::default()).unwrap();
        mark_clean(dir.path()).unwrap();
        let r = open_segments(dir.path(), &LogConfig::default()).unwrap();
        assert!(r.was_clean);
        assert!(!dir.path().join(CLEAN_SHUTDOWN).exists());
        assert!(!open_segments(dir.path(), &LogConfig::default()).unwrap().was_clean);
    }
}
