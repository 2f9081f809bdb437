//! Putting cleaned segments in place of the old ones, so that a crash at any
//! moment leaves either every old segment or every cleaned one, never a mix and
//! never a hole.
//!
//! 1. Cleaned segments are written and fsynced in `cleaning/` inside the
//!    partition's directory, under their final names.
//! 2. The plan is written to `cleaning-swap` (temporary file, fsync, rename, fsync
//!    of the directory): this is the commit point. Before it, a crash leaves
//!    `cleaning/` behind and the next open removes it; after it, the next open
//!    finishes the swap.
//! 3. Each cleaned file is renamed over its old one (or the old segment removed,
//!    when nothing of it stays), the directory fsynced, and the cleaner checkpoint
//!    (`cleaner-checkpoint`: offsets below it were cleaned) written.
//! 4. `cleaning-swap` and `cleaning/` are removed.
//!
//! Every step of 3 and 4 can be repeated, so finishing after a crash is running
//! them again.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use tracing::info;

use crate::log::recovery::sync_dir;
use crate::log::segment::segment_path;

/// The directory cleaned segments are written to.
pub const CLEANING_DIR: &str = "cleaning";
/// The committed plan of a swap in progress.
pub const SWAP_FILE: &str = "cleaning-swap";
/// Offsets below the one this file holds were cleaned.
pub const CHECKPOINT_FILE: &str = "cleaner-checkpoint";

/// The extensions of a segment's files, log first.
const EXTENSIONS: [&str; 3] = ["log", "index", "timeindex"];

/// What one swap does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    /// Segments (base offsets) whose cleaned version replaces them.
    pub replaced: Vec<u64>,
    /// Segments of which nothing stays: removed.
    pub removed: Vec<u64>,
    /// The cleaner checkpoint once the swap is done.
    pub cleaned_through: u64,
}

impl Swap {
    fn encode(&self) -> String {
        let mut out = format!("cleaned-through {}\n", self.cleaned_through);
        for base in &self.replaced {
            out.push_str(&format!("replace {base}\n"));
        }
        for base in &self.removed {
            out.push_str(&format!("remove {base}\n"));
        }
        out
    }

    fn decode(text: &str) -> Option<Swap> {
        let mut swap = Swap { replaced: Vec::new(), removed: Vec::new(), cleaned_through: 0 };
        let mut through = None;
        for line in text.lines() {
            let (what, n) = line.split_once(' ')?;
            let n = n.parse().ok()?;
            match what {
                "cleaned-through" => through = Some(n),
                "replace" => swap.replaced.push(n),
                "remove" => swap.removed.push(n),
                _ => return None,
            }
        }
        swap.cleaned_through = through?;
        Some(swap)
    }
}

/// Writes `contents` to `dir/name` durably and atomically.
fn write_durably(dir: &Path, name: &str, contents: &str) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Commits `swap` (step 2) and carries it out (steps 3 and 4). The cleaned
/// segments must already be durable in `cleaning/`.
pub fn commit(dir: &Path, swap: &Swap) -> io::Result<()> {
    sync_dir(&dir.join(CLEANING_DIR))?;
    write_durably(dir, SWAP_FILE, &swap.encode())?;
    carry_out(dir, swap)
}

/// Steps 3 and 4; each may have been done before.
fn carry_out(dir: &Path, swap: &Swap) -> io::Result<()> {
    let cleaning = dir.join(CLEANING_DIR);
    for &base in &swap.replaced {
        for ext in EXTENSIONS {
            let from = segment_path(&cleaning, base, ext);
            if from.exists() {
                fs::rename(&from, segment_path(dir, base, ext))?;
            }
        }
    }
    for &base in &swap.removed {
        // The log last: a log without indexes is a segment; indexes without a log
        // are leftovers that opening removes.
        for ext in EXTENSIONS.iter().rev() {
            remove_if_present(&segment_path(dir, base, ext))?;
        }
    }
    sync_dir(dir)?;
    write_durably(dir, CHECKPOINT_FILE, &format!("{}\n", swap.cleaned_through))?;
    remove_if_present(&dir.join(SWAP_FILE))?;
    discard(dir)
}

/// Removes `cleaning/` and what is in it: an uncommitted cleaning's output.
pub fn discard(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir.join(CLEANING_DIR)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => sync_dir(dir),
    }
}

/// On open, before the segments are listed: finishes a committed swap, or
/// discards an uncommitted cleaning. A plan that cannot be read was never
/// committed (the rename is the commit), so it is discarded with its output.
pub fn recover(dir: &Path) -> io::Result<()> {
    let _ = fs::remove_file(dir.join(format!("{SWAP_FILE}.tmp")));
    let _ = fs::remove_file(dir.join(format!("{CHECKPOINT_FILE}.tmp")));
    match fs::read_to_string(dir.join(SWAP_FILE)) {
        Ok(text) => match Swap::decode(&text) {
            Some(swap) => {
                info!(dir = %dir.display(), segments = swap.replaced.len() + swap.removed.len(),
                    "finishing a log cleaning interrupted after its commit");
                carry_out(dir, &swap)
            }
            None => {
                remove_if_present(&dir.join(SWAP_FILE))?;
                discard(dir)
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if dir.join(CLEANING_DIR).exists() {
                info!(dir = %dir.display(), "discarding a log cleaning interrupted before its commit");
            }
            discard(dir)
        }
        Err(e) => Err(e),
    }
}

/// The cleaner checkpoint: offsets below it were cleaned (0 when never).
pub fn read_checkpoint(dir: &Path) -> u64 {
    fs::read_to_string(dir.join(CHECKPOINT_FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, base: u64, text: &str) {
        for ext in EXTENSIONS {
            fs::write(segment_path(dir, base, ext), format!("{text}.{ext}")).unwrap();
        }
    }

    fn read(dir: &Path, base: u64) -> Option<String> {
        fs::read_to_string(segment_path(dir, base, "log")).ok()
    }

    fn setup() -> (tempfile::TempDir, Swap) {
        let dir = tempfile::tempdir().unwrap();
        let cleaning = dir.path().join(CLEANING_DIR);
        fs::create_dir(&cleaning).unwrap();
        for base in [0, 10, 20] {
            touch(dir.path(), base, "old");
        }
        touch(&cleaning, 0, "new");
        touch(&cleaning, 20, "new");
        let swap = Swap { replaced: vec![0, 20], removed: vec![10], cleaned_through: 30 };
        (dir, swap)
    }

    #[test]
    fn a_commit_replaces_removes_and_checkpoints() {
        let (dir, swap) = setup();
        commit(dir.path(), &swap).unwrap();
        assert_eq!(read(dir.path(), 0).as_deref(), Some("new.log"));
        assert_eq!(read(dir.path(), 10), None);
        assert!(!segment_path(dir.path(), 10, "index").exists());
        assert_eq!(read(dir.path(), 20).as_deref(), Some("new.log"));
        assert_eq!(read_checkpoint(dir.path()), 30);
        assert!(!dir.path().join(SWAP_FILE).exists() && !dir.path().join(CLEANING_DIR).exists());
    }

    #[test]
    fn a_crash_before_the_commit_keeps_the_old_segments() {
        let (dir, _) = setup();
        recover(dir.path()).unwrap();
        for base in [0, 10, 20] {
            assert_eq!(read(dir.path(), base).as_deref(), Some("old.log"));
        }
        assert_eq!(read_checkpoint(dir.path()), 0);
        assert!(!dir.path().join(CLEANING_DIR).exists());
    }

    #[test]
    fn a_crash_after_the_commit_finishes_the_swap_from_any_step() {
        let (dir, swap) = setup();
        write_durably(dir.path(), SWAP_FILE, &swap.encode()).unwrap();
        // Part of step 3 done: segment 0 renamed, 20 not yet.
        for ext in EXTENSIONS {
            let from = segment_path(&dir.path().join(CLEANING_DIR), 0, ext);
            fs::rename(from, segment_path(dir.path(), 0, ext)).unwrap();
        }
        recover(dir.path()).unwrap();
        assert_eq!(read(dir.path(), 0).as_deref(), Some("new.log"));
        assert_eq!(read(dir.path(), 10), None);
        assert_eq!(read(dir.path(), 20).as_deref(), Some("new.log"));
        assert_eq!(read_checkpoint(dir.path()), 30);
        recover(dir.path()).unwrap();
        assert_eq!(read(dir.path(), 20).as_deref(), Some("new.log"));
    }

    #[test]
    fn a_torn_plan_is_not_a_commit() {
        let (dir, _) = setup();
        fs::write(dir.path().join(SWAP_FILE), "cleaned-through 3\nreplace").unwrap();
        recover(dir.path()).unwrap();
        assert_eq!(read(dir.path(), 0).as_deref(), Some("old.log"));
        assert!(!dir.path().join(SWAP_FILE).exists());
    }
}
