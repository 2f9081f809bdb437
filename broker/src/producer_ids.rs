//! Producer ids for InitProducerId: unique for the life of a data directory, never
//! handed out twice, restarts included.
//!
//! As Kafka's ProducerIdManager does, ids are reserved in blocks so that not every
//! InitProducerId writes to disk: `producer-ids` in the data directory holds the
//! first id no block has reserved yet, and is advanced (written atomically:
//! temporary file, fsync, rename, fsync of the directory) before any id of a new
//! block is given out. A restart starts a fresh block there, skipping what was left
//! of the previous one.
//!
//! ```text
//! weir producer-ids 1
//! next-block 3000
//! ```

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use thiserror::Error;
use tracing::info;

/// The file's name in the data directory.
pub const FILE: &str = "producer-ids";
/// Ids reserved per write.
pub const BLOCK_SIZE: i64 = 1000;
/// The file's first line: its format and version.
const HEADER: &str = "weir producer-ids 1";

/// Why producer ids could not be read, reserved or handed out.
#[derive(Debug, Error)]
pub enum ProducerIdError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The file is not one this version wrote; ids could repeat if it were guessed.
    #[error("{path} is not a valid producer id file ({reason}); fix or remove it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Every id up to i64::MAX was handed out.
    #[error("producer ids are exhausted")]
    Exhausted,
}

/// The block ids are handed out from.
#[derive(Debug)]
struct Block {
    /// The next id to hand out.
    next: i64,
    /// One past the last id reserved on disk.
    end: i64,
}

/// The producer id allocator of one data directory.
#[derive(Debug)]
pub struct ProducerIds {
    /// The `producer-ids` file.
    path: PathBuf,
    /// The current block; its lock also serializes writes of the file.
    block: Mutex<Block>,
}

impl ProducerIds {
    /// Opens the allocator of the data directory `dir` (a missing file starts at 0).
    pub fn open(dir: &Path) -> Result<ProducerIds, ProducerIdError> {
        let path = dir.join(FILE);
        let start = match fs::read_to_string(&path) {
            Ok(text) => parse(&text).map_err(|reason| ProducerIdError::Corrupt {
                path: path.clone(),
                reason: reason.into(),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(source) => return Err(ProducerIdError::Io { path, source }),
        };
        Ok(ProducerIds { path, block: Mutex::new(Block { next: start, end: start }) })
    }

    /// A producer id never handed out before. Writes the file (an fsync) once per
    /// [`BLOCK_SIZE`] ids; blocking, so async callers run it off the reactor.
    pub fn allocate(&self) -> Result<i64, ProducerIdError> {
        let mut block = self.block.lock();
        if block.next == block.end {
            let end = block.end.checked_add(BLOCK_SIZE).ok_or(ProducerIdError::Exhausted)?;
            self.write(end)
                .map_err(|source| ProducerIdError::Io { path: self.path.clone(), source })?;
            info!(file = %self.path.display(), from = block.end, to = end, "reserved producer ids");
            block.end = end;
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }

    fn write(&self, next_block: i64) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!("{FILE}.tmp"));
        let mut file = File::create(&tmp)?;
        write!(file, "{HEADER}\nnext-block {next_block}\n")?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        File::open(dir)?.sync_all()
    }
}

/// The first unreserved id a file names.
fn parse(text: &str) -> Result<i64, &'static str> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err("unknown header");
    }
    let next = lines
        .next()
        .and_then(|line| line.strip_prefix("next-block "))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or("no valid next-block line")?;
    if lines.any(|l| !l.is_empty()) {
        return Err("trailing lines");
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_never_repeat_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        let first: Vec<i64> = (0..BLOCK_SIZE + 5).map(|_| ids.allocate().unwrap()).collect();
        assert_eq!(first, (0..BLOCK_SIZE + 5).collect::<Vec<_>>());
        let text = fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(text, format!("{HEADER}\nnext-block {}\n", 2 * BLOCK_SIZE));
        drop(ids);

        // What was left of the block is skipped, never reused.
        let ids = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(ids.allocate().unwrap(), 2 * BLOCK_SIZE);
        assert!(!dir.path().join(format!("{FILE}.tmp")).exists());
    }

    #[test]
    fn a_damaged_file_is_refused_rather_than_guessed() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            "",
            "next-block 5\n",
            "weir producer-ids 1\nnext-block -3\n",
            "weir producer-ids 1\nnext-block x\n",
            "weir producer-ids 2\nnext-block 5\n",
            "weir producer-ids 1\nnext-block 5\nmore\n",
        ] {
            fs::write(dir.path().join(FILE), bad).unwrap();
            assert!(
                matches!(ProducerIds::open(dir.path()), Err(ProducerIdError::Corrupt { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_last_block_ends_in_exhaustion_not_in_overflow() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), format!("{HEADER}\nnext-block {}\n", i64::MAX - 1))
            .unwrap();
        let ids = ProducerIds::open(dir.path()).unwrap();
        assert!(matches!(ids.allocate(), Err(ProducerIdError::Exhausted)));
    }
}
