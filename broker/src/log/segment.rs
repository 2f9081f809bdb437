//! One segment of a partition: `{base_offset:020}.log` with its `.index` and
//! `.timeindex`.
//!
//! The `.log` holds whole RecordBatch v2 batches back to back, exactly as produced
//! with baseOffset assigned. Indexes are sparse: an entry for the first batch that
//! starts at least `index_interval_bytes` after the previous entry's batch.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tracing::warn;

use super::batch::{BatchHeader, HEADER_LEN};
use super::config::LogConfig;
use super::index::{OffsetIndex, TimeIndex};
use super::scan::{ScanError, ScannedBatch, Scanner};

/// Index files never grow past this, whatever the segment size (Kafka's
/// `segment.index.bytes` default); a full index rolls the segment.
const MAX_INDEX_ENTRIES: u64 = 10 * 1024 * 1024 / 12;

/// Writes `batch` at `position` with its first 8 bytes replaced by `base_offset`,
/// in one `pwritev(2)` when the kernel takes it all.
fn write_batch_at(file: &File, base_offset: u64, batch: &[u8], position: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let head = (base_offset as i64).to_be_bytes();
    let mut parts: [&[u8]; 2] = [&head, batch.get(8..).unwrap_or_default()];
    let mut at = position;
    while !parts[0].is_empty() || !parts[1].is_empty() {
        let iov = [std::io::IoSlice::new(parts[0]), std::io::IoSlice::new(parts[1])];
        // SAFETY: IoSlice is ABI-compatible with iovec on Unix; both slices and
        // the descriptor outlive the call.
        let n = unsafe {
            libc::pwritev(
                file.as_raw_fd(),
                iov.as_ptr().cast::<libc::iovec>(),
                2,
                at as libc::off_t,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let mut written = n as usize;
        at += written as u64;
        for part in parts.iter_mut() {
            let step = written.min(part.len());
            *part = &part[step..];
            written -= step;
        }
    }
    Ok(())
}

/// The path of a segment's file with extension `ext`.
pub fn segment_path(dir: &Path, base_offset: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// How far to trust a segment's files when opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Below the recovery point (or after a clean shutdown): the data was fsynced,
    /// so check the indexes and the tail after the last index entry, and rebuild
    /// only if something is off.
    Trust,
    /// At or after the recovery point of a crashed partition: check every batch's
    /// CRC, rebuild both indexes, and truncate at the first bad batch.
    Rescan,
}

/// The outcome of opening a segment whose log had to be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// Where the first bad batch started; the log now ends here.
    pub position: u64,
    /// How many bytes were dropped.
    pub dropped: u64,
}

/// One segment, open for reads and (if active) appends.
#[derive(Debug)]
pub struct Segment {
    /// Offset of the first batch this segment holds (or would hold).
    base_offset: u64,
    /// Path of the `.log`, for messages and deletion.
    log_path: PathBuf,
    /// The `.log`, shared with readers that outlive a lock on the partition.
    log: Arc<File>,
    /// Bytes of whole batches in the log; readers never look past it.
    size: u64,
    /// One past the last offset held (the base offset while empty).
    next_offset: u64,
    /// Base offset of the last batch, for the time index's final entry.
    last_batch_offset: u64,
    /// Largest record timestamp held, -1 while unknown.
    max_timestamp: i64,
    /// Max timestamp of the first batch: the clock `segment.ms` rolls by (as in
    /// Kafka); -1 while empty or unknown.
    first_timestamp: i64,
    /// When this process created or opened the segment: the roll clock for
    /// batches without timestamps.
    opened_at: Instant,
    /// Sparse offset -> position index.
    index: OffsetIndex,
    /// Sparse max-timestamp -> offset index.
    timeindex: TimeIndex,
    /// Log bytes since the batch of the last index entry.
    bytes_since_index: u64,
    /// `index.interval.bytes` in force.
    index_interval: u64,
}

/// Index entries to reserve for an active segment of `cfg`.
fn index_capacity(cfg: &LogConfig, size: u64) -> usize {
    let interval = cfg.index_interval_bytes.max(1) as u64;
    ((cfg.segment_bytes.max(size) / interval + 2).min(MAX_INDEX_ENTRIES)) as usize
}

impl Segment {
    /// Creates an empty segment at `base_offset`, replacing any leftover files.
    pub fn create(dir: &Path, base_offset: u64, cfg: &LogConfig) -> io::Result<Segment> {
        let log_path = segment_path(dir, base_offset, "log");
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)?;
        let cap = Some(index_capacity(cfg, 0));
        let index_path = segment_path(dir, base_offset, "index");
        let time_path = segment_path(dir, base_offset, "timeindex");
        let _ = fs::remove_file(&index_path);
        let _ = fs::remove_file(&time_path);
        Ok(Segment {
            base_offset,
            log_path,
            log: Arc::new(log),
            size: 0,
            next_offset: base_offset,
            last_batch_offset: base_offset,
            max_timestamp: -1,
            first_timestamp: -1,
            opened_at: Instant::now(),
            index: OffsetIndex::open(&index_path, base_offset, cap)?,
            timeindex: TimeIndex::open(&time_path, base_offset, cap)?,
            bytes_since_index: 0,
            index_interval: cfg.index_interval_bytes.max(1) as u64,
        })
    }

    /// Opens an existing segment. `active` segments get room in their indexes for
    /// appends; `compacted` ones may lack offsets between batches. Returns the
    /// truncation, if the log had to be cut at a bad batch.
    pub fn open(
        dir: &Path,
        base_offset: u64,
        cfg: &LogConfig,
        mode: OpenMode,
        active: bool,
        compacted: bool,
    ) -> io::Result<(Segment, Option<Truncation>)> {
        let log_path = segment_path(dir, base_offset, "log");
        let log = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let size = log.metadata()?.len();
        let index_path = segment_path(dir, base_offset, "index");
        let time_path = segment_path(dir, base_offset, "timeindex");
        let cap = active.then(|| index_capacity(cfg, size));
        let indexes = OffsetIndex::open(&index_path, base_offset, cap)
            .and_then(|i| Ok((i, TimeIndex::open(&time_path, base_offset, cap)?)));
        let (index, timeindex) = match indexes {
            Ok(pair) => pair,
            Err(e) => {
                if mode == OpenMode::Trust {
                    warn!(file = %index_path.display(), error = %e, "rebuilding an unreadable index");
                }
                let _ = fs::remove_file(&index_path);
                let _ = fs::remove_file(&time_path);
                let cap = Some(index_capacity(cfg, size));
                (
                    OffsetIndex::open(&index_path, base_offset, cap)?,
                    TimeIndex::open(&time_path, base_offset, cap)?,
                )
            }
        };
        let mut segment = Segment {
            base_offset,
            log_path,
            log: Arc::new(log),
            size,
            next_offset: base_offset,
            last_batch_offset: base_offset,
            max_timestamp: -1,
            first_timestamp: -1,
            opened_at: Instant::now(),
            index,
            timeindex,
            bytes_since_index: 0,
            index_interval: cfg.index_interval_bytes.max(1) as u64,
        };
        let trusted = mode == OpenMode::Trust
            && match segment.load_tail() {
                Ok(()) => true,
                Err(why) => {
                    warn!(file = %segment.log_path.display(), %why, "index does not match the log: rebuilding");
                    false
                }
            };
        let truncation = if trusted { None } else { segment.rebuild(cfg, compacted)? };
        if !active {
            segment.index.trim()?;
            segment.timeindex.trim()?;
        }
        Ok((segment, truncation))
    }

    /// Trust path: check the indexes, then read the headers after the last index
    /// entry to find the end, replaying the indexing rule to prove that no entry is
    /// missing. Any doubt is an Err, and the caller rebuilds.
    fn load_tail(&mut self) -> Result<(), String> {
        self.index.check(self.size)?;
        let (start_offset, start) = self.index.lookup(u64::MAX);
        let log = Arc::clone(&self.log);
        let mut scan = Scanner::new(&log, start as u64, self.size, false);
        let mut first = true;
        self.bytes_since_index = 0;
        while let Some(b) = scan.next_batch().map_err(|e| e.to_string())? {
            if first && start > 0 && b.header.base_offset() as u64 != start_offset {
                return Err(format!(
                    "the last index entry names offset {start_offset}, the log {}",
                    b.header.base_offset()
                ));
            }
            if !first && self.bytes_since_index >= self.index_interval {
                return Err(format!("no index entry for the batch at {}", b.position));
            }
            first = false;
            self.note_batch(&b);
            self.bytes_since_index += b.header.total_len() as u64;
        }
        if self.size > 0 {
            let mut scan = Scanner::new(&self.log, 0, self.size, false);
            if let Ok(Some(b)) = scan.next_batch() {
                self.first_timestamp = b.header.max_timestamp();
            }
        }
        self.timeindex.check(self.next_offset)?;
        if let Some((ts, _)) = self.timeindex.last() {
            self.max_timestamp = self.max_timestamp.max(ts);
        }
        Ok(())
    }

    /// Rescan path: every batch CRC-checked from the start, indexes rebuilt, the log
    /// cut at the first bad batch.
    fn rebuild(&mut self, cfg: &LogConfig, compacted: bool) -> io::Result<Option<Truncation>> {
        self.index.clear();
        self.timeindex.clear();
        let cap = index_capacity(cfg, self.size);
        self.index.reserve(cap)?;
        self.timeindex.reserve(cap)?;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.first_timestamp = -1;
        self.bytes_since_index = 0;
        let log = Arc::clone(&self.log);
        let mut scan = Scanner::new(&log, 0, self.size, true);
        let mut truncation = None;
        loop {
            match scan.next_batch() {
                Ok(Some(b)) => {
                    // Appends assign offsets densely: each batch starts where the
                    // previous one, or the segment, left off; compaction leaves
                    // gaps, so there a batch starts after it. baseOffset is outside
                    // the CRC; this is its check.
                    let base = b.header.base_offset() as u64;
                    let follows = match compacted {
                        true => base >= self.next_offset,
                        false => base == self.next_offset,
                    };
                    if !follows {
                        let why = "offsets do not follow on";
                        truncation = Some(self.truncate_at(b.position, why)?);
                        break;
                    }
                    if b.position == 0 {
                        self.first_timestamp = b.header.max_timestamp();
                    }
                    self.index_batch(&b);
                }
                Ok(None) => break,
                Err(ScanError::Corrupt { position, source }) => {
                    truncation = Some(self.truncate_at(position, &source.to_string())?);
                    break;
                }
                Err(ScanError::Io(e)) => return Err(e),
            }
        }
        Ok(truncation)
    }

    fn truncate_at(&mut self, position: u64, why: &str) -> io::Result<Truncation> {
        let dropped = self.size - position;
        warn!(
            file = %self.log_path.display(),
            position,
            dropped_bytes = dropped,
            reason = why,
            "truncating the log at the first bad batch"
        );
        self.log.set_len(position)?;
        self.log.sync_all()?;
        self.size = position;
        Ok(Truncation { position, dropped })
    }

    /// Updates the in-memory summary for a batch already in the log.
    fn note_batch(&mut self, b: &ScannedBatch) {
        self.next_offset = b.header.last_offset() as u64 + 1;
        self.last_batch_offset = b.header.base_offset() as u64;
        self.max_timestamp = self.max_timestamp.max(b.header.max_timestamp());
    }

    /// Applies the indexing rule to a batch at `b.position` and notes it.
    fn index_batch(&mut self, b: &ScannedBatch) {
        self.note_batch(b);
        if b.position > 0 && self.bytes_since_index >= self.index_interval {
            let base = b.header.base_offset() as u64;
            self.index.push(base, b.position as u32);
            self.timeindex.push(self.max_timestamp, base);
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += b.header.total_len() as u64;
    }

    /// True when a batch of `len` bytes ending at `last_offset` belongs here rather
    /// than in a new segment.
    pub fn fits(&self, len: usize, last_offset: u64, cfg: &LogConfig) -> bool {
        if self.size == 0 {
            return true;
        }
        self.size + len as u64 <= cfg.segment_bytes
            && last_offset - self.base_offset <= u32::MAX as u64
            && !self.index.is_full()
            && !self.timeindex.is_full()
    }

    /// True when `segment.ms` has passed since the first batch, measured as Kafka
    /// does: by record timestamps when both have one, else by the wall clock.
    pub fn is_due_to_roll(&self, next_max_timestamp: i64, cfg: &LogConfig) -> bool {
        if self.size == 0 {
            return false;
        }
        let age_ms = cfg.segment_age.as_millis() as i64;
        if self.first_timestamp >= 0 && next_max_timestamp >= 0 {
            next_max_timestamp - self.first_timestamp >= age_ms
        } else {
            self.opened_at.elapsed() >= cfg.segment_age
        }
    }

    /// Writes one batch as `base_offset`: the offset goes into the file in place of
    /// the batch's own first 8 bytes (outside the CRC), so the caller's bytes are
    /// neither copied nor changed. On failure the log is cut back to its previous
    /// size and nothing changes.
    pub fn append(&mut self, batch: &[u8], base_offset: u64) -> io::Result<()> {
        let mut header = BatchHeader::parse(batch)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
            .to_owned();
        header.set_base_offset(base_offset as i64);
        if let Err(e) = write_batch_at(&self.log, base_offset, batch, self.size) {
            let _ = self.log.set_len(self.size);
            return Err(e);
        }
        if self.size == 0 {
            self.first_timestamp = header.max_timestamp();
        }
        self.index_batch(&ScannedBatch { position: self.size, header });
        self.size += batch.len() as u64;
        Ok(())
    }

    /// Closes the segment to appends: a final time index entry, files trimmed.
    pub fn seal(&mut self) -> io::Result<()> {
        if self.size > 0 {
            self.timeindex.push(self.max_timestamp, self.last_batch_offset);
        }
        self.index.trim()?;
        self.timeindex.trim()
    }

    /// fsyncs the log and both indexes.
    pub fn sync(&self) -> io::Result<()> {
        self.log.sync_data()?;
        self.index.sync()?;
        self.timeindex.sync()
    }

    /// Removes the segment's files. Readers that hold the log keep reading it.
    pub fn delete(self) -> io::Result<()> {
        let dir = self.log_path.parent().map(Path::to_owned).unwrap_or_default();
        fs::remove_file(&self.log_path)?;
        for ext in ["index", "timeindex"] {
            match fs::remove_file(segment_path(&dir, self.base_offset, ext)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// The position of a batch at or before `offset` to start scanning from.
    pub fn position_for(&self, offset: u64) -> u64 {
        self.index.lookup(offset).1 as u64
    }

    /// The position to start looking for the first record at or after `timestamp`.
    pub fn position_for_timestamp(&self, timestamp: i64) -> u64 {
        match self.timeindex.last_before(timestamp) {
            Some(offset) => self.position_for(offset),
            None => 0,
        }
    }

    /// The first offset this segment holds.
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }
    /// One past the last offset held.
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }
    /// Bytes of whole batches.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// True when it holds no batch.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    /// The largest record timestamp held, -1 while unknown.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    /// The log file, for reads that outlive the partition's lock.
    pub fn log(&self) -> &Arc<File> {
        &self.log
    }
    /// The log file's path.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    /// The offset index.
    pub fn index(&self) -> &OffsetIndex {
        &self.index
    }

    /// The last-modified time of the log file in ms since the epoch: the age of a
    /// segment whose records carry no timestamps.
    pub fn modified_ms(&self) -> i64 {
        self.log
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(-1, |d| d.as_millis() as i64)
    }

    /// Reads the header of the batch at `position`.
    pub fn header_at(&self, position: u64) -> io::Result<BatchHeader<[u8; HEADER_LEN]>> {
        let mut buf = [0u8; HEADER_LEN];
        self.log.read_exact_at(&mut buf, position)?;
        BatchHeader::parse(&buf)
            .map(|h| h.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::{BatchBuilder, Compression};

    fn cfg() -> LogConfig {
        LogConfig { segment_bytes: 4096, index_interval_bytes: 200, ..LogConfig::default() }
    }

    /// A batch of `n` 20-byte values with timestamps from `ts`, base offset 0:
    /// `append` writes the real one.
    fn batch(n: usize, ts: i64) -> Vec<u8> {
        let mut b = BatchBuilder::new(0, Compression::None);
        for i in 0..n {
            b.push(ts + i as i64, None, Some(&[b'v'; 20]), &[]);
        }
        b.build().unwrap().to_vec()
    }

    fn fill(segment: &mut Segment, batches: usize) -> Vec<(u64, u64)> {
        let mut spans = Vec::new();
        for i in 0..batches {
            let base = segment.next_offset();
            let bytes = batch(3, 1_000 + 10 * i as i64);
            let position = segment.size();
            segment.append(&bytes, base).unwrap();
            spans.push((base, position));
        }
        spans
    }

    #[test]
    fn appends_index_sparsely_and_locate_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 100, &cfg()).unwrap();
        assert_eq!(seg.log_path().file_name().unwrap(), "00000000000000000100.log");
        let spans = fill(&mut seg, 20);
        assert_eq!(seg.next_offset(), 160);
        assert!(!seg.index().is_empty(), "entries every 200 bytes");
        assert!(seg.index().len() < 20, "but not one per batch");
        for &(base, position) in &spans {
            // The index points at or before the batch holding each offset.
            assert!(seg.position_for(base + 1) <= position);
            assert_eq!(seg.header_at(position).unwrap().base_offset() as u64, base);
        }
        assert_eq!(seg.max_timestamp(), 1_000 + 190 + 2);
        assert!(seg.fits(100, 170, &cfg()));
        assert!(!seg.fits(4096, 170, &cfg()), "would pass segment.bytes");
        assert!(!seg.fits(10, 100 + u32::MAX as u64 + 1, &cfg()), "relative offset overflow");
    }

    #[test]
    fn sealed_segment_reopens_trusted_with_the_same_summary() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, &cfg()).unwrap();
        fill(&mut seg, 15);
        seg.seal().unwrap();
        let (size, next, max_ts, entries) =
            (seg.size(), seg.next_offset(), seg.max_timestamp(), seg.index().len());
        drop(seg);
        let index_len = std::fs::metadata(segment_path(dir.path(), 0, "index")).unwrap().len();
        assert_eq!(index_len, entries as u64 * 8, "sealing trims the index");

        let (seg, cut) =
            Segment::open(dir.path(), 0, &cfg(), OpenMode::Trust, false, false).unwrap();
        assert_eq!(cut, None);
        assert_eq!((seg.size(), seg.next_offset(), seg.max_timestamp()), (size, next, max_ts));
        assert_eq!(seg.index().len(), entries);
    }

    #[test]
    fn rescan_rebuilds_indexes_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, &cfg()).unwrap();
        let spans = fill(&mut seg, 10);
        let entries = seg.index().len();
        let size = seg.size();
        drop(seg);
        let log = segment_path(dir.path(), 0, "log");
        let file = OpenOptions::new().write(true).open(&log).unwrap();
        file.set_len(size - 7).unwrap();

        let (seg, cut) =
            Segment::open(dir.path(), 0, &cfg(), OpenMode::Rescan, true, false).unwrap();
        let last = spans.last().unwrap();
        assert_eq!(cut, Some(Truncation { position: last.1, dropped: size - 7 - last.1 }));
        assert_eq!(seg.size(), last.1);
        assert_eq!(seg.next_offset(), last.0);
        assert!(seg.index().len() <= entries && !seg.index().is_empty());
    }

    #[test]
    fn trust_falls_back_to_a_rebuild_when_the_index_lies() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, &cfg()).unwrap();
        let spans = fill(&mut seg, 12);
        seg.seal().unwrap();
        let entries = seg.index().len();
        drop(seg);
        // An entry naming the wrong offset for its position.
        let path = segment_path(dir.path(), 0, "index");
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 8..n - 4].copy_from_slice(&1u32.to_be_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let (seg, cut) =
            Segment::open(dir.path(), 0, &cfg(), OpenMode::Trust, false, false).unwrap();
        assert_eq!(cut, None);
        assert_eq!(seg.index().len(), entries);
        for &(base, position) in &spans {
            assert!(seg.position_for(base) <= position);
        }
    }

    #[test]
    fn delete_removes_all_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 7, &cfg()).unwrap();
        fill(&mut seg, 2);
        seg.delete().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
