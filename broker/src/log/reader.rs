//! The one log reader: walks a partition's batches, or their records, from an
//! offset. Every caller that looks inside batches uses it (processor reads and
//! state changelog replay, committed offsets, processor logs, the HTTP API);
//! Fetch does not, as it sends whole batches from the segment files unread.
//!
//! One rule for damage, wherever in the log the walk meets it:
//!
//! | at the walk's next offset                              | the walk                        |
//! |--------------------------------------------------------|---------------------------------|
//! | a whole batch: CRC-32C, record count, offsets all right | yields it                      |
//! | a torn batch: cut short, the file ends inside it       | ends, warns ([`Stop::Damaged`]) |
//! | a corrupt batch: bad header, CRC or record count       | ends, warns ([`Stop::Damaged`]) |
//! | offsets that do not follow on from the last batch      | ends, warns ([`Stop::Damaged`]) |
//! | an I/O error                                           | yields `Err`, then ends         |
//! | the end of the log                                     | ends                            |
//!
//! Damage is never an error from the reader nor a panic: what came before it is
//! served, nothing from it on, and the warning names topic, partition and offset.
//! (Recovery cuts a damaged tail after a crash; the reader covers what recovery
//! trusted without reading every byte, such as segments below the recovery point,
//! and what changed on disk since.) The caller decides what a walk that ended at
//! damage means for it: [`Batches::stop`] says where and why.
//!
//! The record iterator, [`Records`], adds three things: records before the
//! requested offset (in the first batch) are skipped; control batches are skipped;
//! a batch whose checksum holds but whose records do not decode is skipped with a
//! warning (its producer wrote it so: that is not damage, and its offsets are known,
//! so the walk goes on). Compressed batches decode with every codec `record` knows.
//!
//! Limits: `max_bytes` counts the whole batches read. The first batch of a walk
//! (for records: every batch up to the first record) comes however large, so a walk
//! always makes progress, unless [`Reader::strict_bytes`] makes the limit hard.
//! `max_records` bounds the record iterator. Memory is one read of at most
//! [`CHUNK`] bytes (or one larger batch) at a time.

use std::io;
use std::iter::FusedIterator;

use bytes::Bytes;
use thiserror::Error;
use tracing::warn;

use super::batch::{self, BatchError, BatchHeader, HEADER_LEN};
use super::partition::{Partition, ReadError};
use super::record::{self, Record, RecordError};
use super::scan::ScanError;

/// The most bytes of batches one read of the log copies (one batch may be larger).
pub const CHUNK: usize = 1 << 20;

/// What is wrong with the batch a walk stopped at.
#[derive(Debug, Error)]
pub enum Damage {
    /// A torn or malformed header, a batch cut short, a CRC or record count that
    /// does not match.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The segment file ends before its batches do: it was cut after the log was
    /// opened.
    #[error("the segment file ends inside the batch")]
    FileEnds,
    /// The batch's offsets do not follow on from where the walk is (baseOffset is
    /// outside the CRC, so this is its check).
    #[error("the batch holds offsets {base} to {last}, where offset {expected} should follow")]
    Offsets {
        /// The batch's baseOffset.
        base: i64,
        /// Its last offset.
        last: i64,
        /// The offset the walk is at.
        expected: u64,
    },
}

/// Why a walk ended before the end of the log.
#[derive(Debug)]
pub enum Stop {
    /// The batch at `offset` did not fit the byte limit.
    Full {
        /// Where that batch starts (the walk's next offset).
        offset: u64,
        /// Its size in bytes.
        size: usize,
    },
    /// The batch at `offset` is torn or corrupt: nothing from it on is served.
    Damaged {
        /// The walk's offset when it met the damage.
        offset: u64,
        /// What is wrong.
        damage: Damage,
    },
}

/// A walk to be: where it starts, how far it may go, whose log it is.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// The partition walked.
    log: &'a Partition,
    /// The partition's topic, for warnings.
    topic: &'a str,
    /// The partition's index, for warnings.
    partition: u32,
    /// The first offset wanted.
    from: u64,
    /// Bytes of batches the walk may read.
    max_bytes: usize,
    /// Records the record iterator may yield.
    max_records: usize,
    /// True when even the first batch must fit `max_bytes`.
    strict_bytes: bool,
    /// True when `from` is the log start, to follow if retention moves it.
    from_log_start: bool,
}

impl<'a> Reader<'a> {
    /// A walk of `log` (partition `partition` of `topic`) from `from`, unlimited.
    pub fn new(log: &'a Partition, topic: &'a str, partition: u32, from: u64) -> Self {
        Reader {
            log,
            topic,
            partition,
            from,
            max_bytes: usize::MAX,
            max_records: usize::MAX,
            strict_bytes: false,
            from_log_start: false,
        }
    }

    /// A walk of the whole log, from its start, however retention moves it
    /// meanwhile (replays use it).
    pub fn from_log_start(log: &'a Partition, topic: &'a str, partition: u32) -> Self {
        let from = log.log_start_offset();
        Reader { from_log_start: true, ..Reader::new(log, topic, partition, from) }
    }

    /// Reads about `max_bytes` of batches at most (see the module's limits).
    pub fn max_bytes(self, max_bytes: usize) -> Self {
        Reader { max_bytes, ..self }
    }

    /// Yields at most `max_records` records (the batch iterator ignores it).
    pub fn max_records(self, max_records: usize) -> Self {
        Reader { max_records, ..self }
    }

    /// Makes `max_bytes` hard: a first batch larger than it ends the walk too,
    /// unread, with [`Stop::Full`] (for callers whose memory the limit bounds).
    pub fn strict_bytes(self) -> Self {
        Reader { strict_bytes: true, ..self }
    }

    /// The batches from the one holding `from`, control batches included. An
    /// offset out of range is the first item, as an error.
    pub fn batches(self) -> Batches<'a> {
        Batches {
            log: self.log,
            topic: self.topic,
            partition: self.partition,
            next: self.from,
            started: false,
            follow_start: self.from_log_start,
            budget: self.max_bytes,
            strict: self.strict_bytes,
            chunk: Bytes::new(),
            one_at_a_time: false,
            done: false,
            stop: None,
        }
    }

    /// The records from `from` on, of data batches only.
    pub fn records(self) -> Records<'a> {
        Records {
            from: self.from,
            max_records: self.max_records,
            batches: self.batches(),
            pending: Vec::new().into_iter(),
            pending_end: self.from,
            yielded: 0,
            resume: self.from,
        }
    }
}

/// A batch the reader checked: whole, CRC-32C and record count right, its
/// offsets following on from the batch before.
#[derive(Debug, Clone)]
pub struct ReadBatch {
    /// A copy of its header.
    header: BatchHeader<[u8; HEADER_LEN]>,
    /// The whole batch as stored, header included.
    bytes: Bytes,
}

impl ReadBatch {
    /// Its header.
    pub fn header(&self) -> &BatchHeader<[u8; HEADER_LEN]> {
        &self.header
    }
    /// The offset of its first record.
    pub fn base_offset(&self) -> u64 {
        self.header.base_offset() as u64
    }
    /// The offset of its last record.
    pub fn last_offset(&self) -> u64 {
        self.header.last_offset() as u64
    }
    /// True for a control batch (a transaction marker), which holds no data.
    pub fn is_control(&self) -> bool {
        self.header.is_control()
    }
    /// The batch's bytes as stored.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
    /// Its records, decompressed and decoded; an error if its producer wrote
    /// records that do not decode.
    pub fn records(&self) -> Result<Vec<Record>, RecordError> {
        record::decode_checked(&self.bytes)
    }
}

/// Iterates over the batches of a walk: see the module for its rule.
#[derive(Debug)]
pub struct Batches<'a> {
    /// The partition walked.
    log: &'a Partition,
    /// Its topic, for warnings.
    topic: &'a str,
    /// Its index, for warnings.
    partition: u32,
    /// The offset the next batch must hold (the first) or start at (the others).
    next: u64,
    /// True once a batch was yielded.
    started: bool,
    /// True when retention deleting the records at `next` moves the walk to the
    /// new log start rather than ending it: once it started, or for a walk from
    /// the log start.
    follow_start: bool,
    /// Bytes of batches the walk may still read.
    budget: usize,
    /// True when the first batch must fit the budget too.
    strict: bool,
    /// Batches read but not yet yielded: the rest of the last read.
    chunk: Bytes,
    /// After damage somewhere in a read of several batches: read one batch at a
    /// time, so that the ones before the damage are still served.
    one_at_a_time: bool,
    /// True once the walk is over.
    done: bool,
    /// Why it ended early, if it did.
    stop: Option<Stop>,
}

impl Batches<'_> {
    /// Why the walk ended before the end of the log: None while it goes on, and
    /// after it reached the end or an I/O error.
    pub fn stop(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }

    /// The offset after the last batch yielded (the start, before any): where a
    /// next walk would continue.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// The next batch. With `free`, the byte limit does not stop it (unless strict).
    fn next_batch(&mut self, free: bool) -> Option<Result<ReadBatch, ReadError>> {
        if self.done {
            return None;
        }
        if self.chunk.is_empty() {
            match self.fill(free) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let batch = match take_batch(&mut self.chunk) {
            Ok(batch) => batch,
            Err(damage) => {
                self.damaged(damage);
                return None;
            }
        };
        let (base, last) = (batch.header.base_offset(), batch.header.last_offset());
        // Offsets only go up: the first batch ends at or after `next`, each later
        // one starts after the one before (right after it, unless compaction
        // removed what was between).
        let follows = u64::try_from(base).is_ok_and(|base| match self.started {
            false => last as u64 >= self.next,
            true => base >= self.next,
        });
        if !follows {
            self.damaged(Damage::Offsets { base, last, expected: self.next });
            return None;
        }
        self.started = true;
        self.follow_start = true;
        self.next = last as u64 + 1;
        Some(Ok(batch))
    }

    /// Reads the next run of batches into `chunk`; false at the end of the walk.
    fn fill(&mut self, free: bool) -> Result<bool, ReadError> {
        loop {
            let want = if self.one_at_a_time { 1 } else { self.budget.clamp(1, CHUNK) };
            let read = match self.log.read(self.next, want) {
                Ok(read) => read,
                Err(ReadError::OffsetOutOfRange { log_start_offset, .. })
                    if self.follow_start && log_start_offset > self.next =>
                {
                    warn!(
                        topic = self.topic,
                        partition = self.partition,
                        offset = self.next,
                        log_start_offset,
                        "retention deleted records during a read of the log: it goes on at the \
                         log start"
                    );
                    self.next = log_start_offset;
                    continue;
                }
                Err(e) => match damage_in(e)? {
                    _ if !self.one_at_a_time && want > 1 => {
                        self.one_at_a_time = true;
                        continue;
                    }
                    damage => {
                        self.damaged(damage);
                        return Ok(false);
                    }
                },
            };
            let Some(slice) = read.slice else { return Ok(false) };
            if slice.len > self.budget && (self.strict || !free) {
                self.stop = Some(Stop::Full { offset: self.next, size: slice.len });
                return Ok(false);
            }
            let bytes = match slice.read() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && want > 1 => {
                    self.one_at_a_time = true;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.damaged(Damage::FileEnds);
                    return Ok(false);
                }
                Err(source) => return Err(ReadError::Io { dir: self.log.dir().into(), source }),
            };
            self.budget = self.budget.saturating_sub(slice.len);
            self.chunk = bytes;
            return Ok(true);
        }
    }

    /// Ends the walk at damage, with the warning the rule promises.
    fn damaged(&mut self, damage: Damage) {
        warn!(
            topic = self.topic,
            partition = self.partition,
            offset = self.next,
            error = %damage,
            "damaged batch in the log: reading stops before it"
        );
        self.stop = Some(Stop::Damaged { offset: self.next, damage });
        self.chunk = Bytes::new();
        self.done = true;
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<ReadBatch, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let free = !self.started;
        self.next_batch(free)
    }
}

impl FusedIterator for Batches<'_> {}

/// Iterates over the records of a walk's data batches, from the requested offset.
#[derive(Debug)]
pub struct Records<'a> {
    /// The batches the records come from.
    batches: Batches<'a>,
    /// The first offset wanted: earlier records of the first batch are skipped.
    from: u64,
    /// The most records to yield.
    max_records: usize,
    /// The current batch's records not yet looked at.
    pending: std::vec::IntoIter<Record>,
    /// The offset after the current batch.
    pending_end: u64,
    /// Records yielded so far.
    yielded: usize,
    /// Where a next walk would continue.
    resume: u64,
}

impl Records<'_> {
    /// Why the walk ended before the end of the log (see [`Batches::stop`]).
    pub fn stop(&self) -> Option<&Stop> {
        self.batches.stop()
    }

    /// Where a next walk should start to go on from here: after the last record
    /// yielded, or after the last batch read if the rest of it held nothing to
    /// yield (control or undecodable batches, records before the start).
    pub fn next_offset(&self) -> u64 {
        match self.pending.as_slice() {
            [] => self.resume.max(self.pending_end),
            _ => self.resume,
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.yielded >= self.max_records {
                return None;
            }
            if let Some(r) = self.pending.next() {
                match u64::try_from(r.offset) {
                    Ok(offset) if offset >= self.from => {
                        self.yielded += 1;
                        self.resume = self.resume.max(offset + 1);
                        return Some(Ok(r));
                    }
                    _ => continue,
                }
            }
            self.resume = self.resume.max(self.pending_end);
            let batch = match self.batches.next_batch(self.yielded == 0)? {
                Ok(batch) => batch,
                Err(e) => return Some(Err(e)),
            };
            self.pending_end = batch.last_offset() + 1;
            if batch.is_control() {
                continue;
            }
            match batch.records() {
                Ok(records) => self.pending = records.into_iter(),
                Err(e) => warn!(
                    topic = self.batches.topic,
                    partition = self.batches.partition,
                    offset = batch.base_offset(),
                    error = %e,
                    "skipping a batch whose records do not decode (its checksum holds: its \
                     producer wrote it so)"
                ),
            }
        }
    }
}

impl FusedIterator for Records<'_> {}

/// Takes the first batch off `chunk` (whole batches, as `Partition::read` returns
/// them), checking its CRC and record count.
fn take_batch(chunk: &mut Bytes) -> Result<ReadBatch, Damage> {
    let header = BatchHeader::parse(chunk)?.to_owned();
    let len = header.total_len();
    if len > chunk.len() {
        return Err(BatchError::Truncated { needed: len, available: chunk.len() }.into());
    }
    let bytes = chunk.split_to(len);
    batch::validate(&bytes)?;
    Ok(ReadBatch { header, bytes })
}

/// The damage behind a failed `Partition::read`, if damage is why: its scan of
/// batch headers found a torn or malformed one (which it reports as an
/// `InvalidData` I/O error wrapping the `ScanError`), or the file ended before the
/// segment's size. Any other error is given back.
fn damage_in(e: ReadError) -> Result<Damage, ReadError> {
    let ReadError::Io { dir, source } = e else { return Err(e) };
    if source.kind() == io::ErrorKind::UnexpectedEof {
        return Ok(Damage::FileEnds);
    }
    if !source.get_ref().is_some_and(|inner| inner.is::<ScanError>()) {
        return Err(ReadError::Io { dir, source });
    }
    let kind = source.kind();
    match source.into_inner().map(|inner| inner.downcast::<ScanError>()) {
        Some(Ok(scan)) => match *scan {
            ScanError::Corrupt { source, .. } => Ok(Damage::Batch(source)),
            ScanError::Io(source) if source.kind() == io::ErrorKind::UnexpectedEof => {
                Ok(Damage::FileEnds)
            }
            ScanError::Io(source) => Err(ReadError::Io { dir, source }),
        },
        Some(Err(other)) => Err(ReadError::Io { dir, source: io::Error::new(kind, other) }),
        None => Err(ReadError::Io { dir, source: kind.into() }),
    }
}

#[cfg(test)]
mod tests;
