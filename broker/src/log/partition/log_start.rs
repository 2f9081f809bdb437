//! DeleteRecords: moving a partition's log start offset forward on request,
//! below which reads are OFFSET_OUT_OF_RANGE, as retention does by whole
//! segments but to any offset.
//!
//! The requested start is kept in the partition's directory as
//! `log-start-offset` (the offset in decimal, written to a temporary file,
//! fsynced and renamed into place, then the directory fsynced), so it holds
//! after a restart or a crash. The log start is the larger of it and the first
//! offset of the oldest segment with records. Segments wholly below it are
//! deleted at once; the segment holding it stays, and a read from the start
//! gets that segment's batch from its beginning (clients skip the records
//! before the offset they asked for, as with Kafka).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use tracing::{info, warn};

use super::{Partition, ReadError, recovery};

/// The file holding the requested log start offset.
pub const LOG_START_FILE: &str = "log-start-offset";

/// The log start offset a partition's directory asks for; 0 without the file.
/// A file that does not parse is reported and ignored: no record is hidden
/// because of it.
pub(super) fn load(dir: &Path) -> io::Result<u64> {
    let path = dir.join(LOG_START_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse() {
            Ok(offset) => Ok(offset),
            Err(_) => {
                warn!(file = %path.display(), "ignoring a log-start-offset file that does not hold an offset");
                Ok(0)
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

fn store(dir: &Path, offset: u64) -> io::Result<()> {
    let tmp = dir.join(format!("{LOG_START_FILE}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(format!("{offset}\n").as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(LOG_START_FILE))?;
    recovery::sync_dir(dir)
}

impl Partition {
    /// Deletes the records before `offset` (Kafka's DeleteRecords): the log
    /// start moves to `offset` (never back), whole segments below it are
    /// deleted, and the new log start is returned. `offset` past the high
    /// watermark is OFFSET_OUT_OF_RANGE. Blocks on the fsyncs.
    pub fn delete_records(&self, offset: u64) -> Result<u64, ReadError> {
        let mut state = self.state.write();
        let (start, end) = (state.log_start_offset(), state.next_offset);
        if offset > end {
            return Err(ReadError::OffsetOutOfRange {
                offset,
                log_start_offset: start,
                high_watermark: end,
            });
        }
        if offset <= start {
            return Ok(start);
        }
        let io = |source| ReadError::Io { dir: self.dir.clone(), source };
        store(&self.dir, offset).map_err(io)?;
        state.requested_start = offset;
        let mut deleted = 0;
        while state.segments.len() > 1 {
            let Some(oldest) = state.segments.values().next() else { break };
            if oldest.next_offset() > offset {
                break;
            }
            let Some((_, segment)) = state.segments.pop_first() else { break };
            segment.delete().map_err(io)?;
            deleted += 1;
        }
        if deleted > 0 {
            recovery::sync_dir(&self.dir).map_err(io)?;
        }
        let start = state.log_start_offset();
        state.producers.forget_before(start);
        info!(dir = %self.dir.display(), log_start = start, segments_deleted = deleted, "records deleted");
        Ok(start)
    }
}
