//! A partition: an append-only, replayable sequence of batches spread over
//! segments, with offsets, timestamps, retention and a durability policy.
//!
//! Appends validate batches (CRC included) before taking the lock, then assign
//! offsets and write under a write lock; the offset is written in place of the
//! batch's first 8 bytes, so the caller's buffer is neither copied nor changed. Reads take a read lock only to
//! find a file and a start position, then scan without it. fsyncs happen outside
//! the state lock, serialized by a flush lock that gives group commit for free: an
//! append waiting for a flush finds that someone else's fsync already covered it.
//!
//! Batches of idempotent producers are checked against the producer state (see
//! `producers`) under the same write lock that assigns offsets, so a retry racing
//! its original can never be written twice.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use super::appends::AppendSignal;
use thiserror::Error;
use tracing::{debug, info};

use super::batch::{self, BatchError};
use super::cleaner;
use super::config::{Durability, LogConfig};
use super::conform;
use super::producers::{self, BatchMeta, ProducerBatch, ProducerEntry, ProducerStates};
use super::producers::{AbortedTxn, Refused, Verdict, txn};
use super::record::{self, RecordError};
use super::recovery::{self, Recovered};
use super::scan::{ScanError, Scanner};
use super::segment::{Segment, Truncation};
use super::traffic::PartitionTraffic;

/// Why an append was refused. Nothing of a refused request is written, except on
/// `Io`, where the batches before the failing one may be.
#[derive(Debug, Error)]
pub enum AppendError {
    /// A batch is malformed or its CRC does not match (Kafka: CORRUPT_MESSAGE).
    #[error("batch {index} of the request is invalid: {source}")]
    InvalidBatch {
        /// Which batch of the request, from 0.
        index: usize,
        /// What is wrong with it.
        source: BatchError,
    },
    /// A batch's records cannot be decompressed to store them with the topic's
    /// codec (Kafka: CORRUPT_MESSAGE).
    #[error("batch {index} of the request has unreadable records: {source}")]
    InvalidRecords {
        /// Which batch of the request, from 0.
        index: usize,
        /// What is wrong with them.
        source: RecordError,
    },
    /// A record without a key, for a compacted topic (Kafka: INVALID_RECORD).
    #[error(
        "batch {index}: {} of its records have no key (the first is record {}): a topic \
         with cleanup.policy=compact keeps the latest record of each key, so every record \
         needs one",
        records.len(),
        records.first().copied().unwrap_or_default()
    )]
    KeylessRecord {
        /// Which batch of the request, from 0.
        index: usize,
        /// Which records of the batch, from 0.
        records: Vec<usize>,
    },
    /// A batch is over `max.message.bytes` (Kafka: MESSAGE_TOO_LARGE).
    #[error("batch of {size} bytes is over the topic's max.message.bytes of {max}")]
    TooLarge {
        /// The batch's size.
        size: usize,
        /// The limit.
        max: u32,
    },
    /// The request held no batch.
    #[error("no record batch to append")]
    Empty,
    /// An idempotent producer's batch carries an epoch older than the one the
    /// partition last saw from it: a newer instance fenced it (Kafka:
    /// INVALID_PRODUCER_EPOCH).
    #[error("batch {index}: producer {producer_id} has epoch {epoch}, older than its {current}")]
    InvalidProducerEpoch {
        /// Which batch of the request, from 0.
        index: usize,
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The producer's epoch as the partition knows it.
        current: i16,
    },
    /// An idempotent producer's batch does not follow its previous one, nor repeats
    /// one of its last five (Kafka: OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("batch {index}: producer {producer_id} sent sequence {sequence}, expected {expected}")]
    OutOfOrderSequence {
        /// Which batch of the request, from 0.
        index: usize,
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The batch's first sequence number.
        sequence: i32,
        /// The sequence number that would have been accepted.
        expected: i32,
    },
    /// A transactional batch outside a transaction the coordinator knows to include
    /// this partition (Kafka: INVALID_TXN_STATE).
    #[error("batch {index} is transactional, outside a transaction this partition belongs to")]
    Transactional {
        /// Which batch of the request, from 0.
        index: usize,
    },
    /// A control batch from a client: markers are the transaction coordinator's
    /// alone (Kafka: INVALID_RECORD).
    #[error("batch {index} is a control batch; only the transaction coordinator writes those")]
    ControlBatch {
        /// Which batch of the request, from 0.
        index: usize,
    },
    /// Writing or syncing failed (Kafka: KAFKA_STORAGE_ERROR).
    #[error("writing to {dir} failed: {source}")]
    Io {
        /// The partition's directory.
        dir: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The partition was closed.
    #[error("partition is closed")]
    Closed,
}

impl AppendError {
    fn refused(index: usize, batch: &ProducerBatch, refused: Refused) -> AppendError {
        let ProducerBatch { producer_id, epoch, first_seq: sequence, .. } = *batch;
        match refused {
            Refused::StaleEpoch { current } => {
                AppendError::InvalidProducerEpoch { index, producer_id, epoch, current }
            }
            Refused::OutOfOrder { expected } => {
                AppendError::OutOfOrderSequence { index, producer_id, epoch, sequence, expected }
            }
        }
    }
}

/// Why a read failed.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The offset is below the log start or past the high watermark (Kafka:
    /// OFFSET_OUT_OF_RANGE).
    #[error("offset {offset} is out of range [{log_start_offset}, {high_watermark}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The first offset held.
        log_start_offset: u64,
        /// One past the last offset held.
        high_watermark: u64,
    },
    /// Reading a segment failed.
    #[error("reading {dir} failed: {source}")]
    Io {
        /// The partition's directory.
        dir: PathBuf,
        /// The failure.
        source: io::Error,
    },
}

/// Offsets an append assigned. A batch that repeats one already written (an
/// idempotent producer's retry) is not written again, and counts with the offsets
/// the original got, as Kafka acknowledges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record of the request's first batch.
    pub base_offset: u64,
    /// Offset of the last record of the request's last batch.
    pub last_offset: u64,
    /// Log start offset after the append (Produce responses carry it).
    pub log_start_offset: u64,
    /// True when every batch was a duplicate, so nothing was written.
    pub duplicate: bool,
    /// The broker's timestamp of the batches, under `LogAppendTime`.
    pub log_append_time: Option<i64>,
}

/// An idempotent producer as a partition knows it (Kafka's DescribeProducers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    /// Its producer id.
    pub producer_id: i64,
    /// Its newest epoch.
    pub epoch: i16,
    /// The sequence number of its last record written.
    pub last_sequence: i32,
    /// The newest timestamp of its last batch; -1 if unknown.
    pub last_timestamp: i64,
    /// The offset of its last record written.
    pub last_offset: u64,
}

/// A run of whole batches in a segment file, to be sent as they are (sendfile) or
/// copied out.
#[derive(Debug, Clone)]
pub struct FileSlice {
    /// The segment's log file; kept open even if retention deletes the segment.
    pub file: Arc<File>,
    /// Where the first batch starts.
    pub position: u64,
    /// Bytes of whole batches.
    pub len: usize,
}

impl FileSlice {
    /// Copies the bytes out (for callers that cannot send from the file).
    pub fn read(&self) -> io::Result<Bytes> {
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf.into())
    }

    /// Tells the kernel the bytes will be read soon (`POSIX_FADV_WILLNEED`): pages
    /// not in the cache are read in the background, so a sendfile that follows
    /// finds them there rather than waiting on the disk. A hint: nothing to do
    /// for pages already cached, and nothing to report if it is ignored.
    pub fn will_need(&self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (position, len) = (self.position as libc::off_t, self.len as libc::off_t);
            // SAFETY: the descriptor is open (held by the slice's Arc) and the call
            // only reads its arguments.
            unsafe {
                libc::posix_fadvise(
                    self.file.as_raw_fd(),
                    position,
                    len,
                    libc::POSIX_FADV_WILLNEED,
                );
            }
        }
    }
}

/// What a read found.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole batches starting with the one holding the requested offset; None at
    /// the end of the log.
    pub slice: Option<FileSlice>,
    /// One past the last offset held.
    pub high_watermark: u64,
    /// The first offset held.
    pub log_start_offset: u64,
    /// Records in the slice's batches (0 without a slice).
    pub records: u64,
}

/// Segments and offsets, behind the partition's lock.
#[derive(Debug)]
struct State {
    /// Settings in force.
    config: LogConfig,
    /// Segments by base offset; the last one takes appends.
    segments: BTreeMap<u64, Segment>,
    /// The offset the next record gets: the high watermark on a single node.
    next_offset: u64,
    /// What is known of each idempotent producer, as of `next_offset`.
    producers: ProducerStates,
    /// Set by `close`: further appends are refused.
    closed: bool,
    /// The log start DeleteRecords asked for (`log_start.rs`); 0 if none.
    requested_start: u64,
    /// Offsets below this were compacted (`cleaner`); 0 if never.
    cleaned_through: u64,
}

/// One batch of an append request, as validated before taking the lock.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// Where it starts in the request.
    at: usize,
    /// Its size in bytes.
    len: usize,
    /// Its lastOffsetDelta.
    delta: u64,
    /// Its newest record's timestamp, for time-based rolls.
    max_timestamp: i64,
    /// Its idempotence fields, when its producer has an id.
    producer: Option<ProducerBatch>,
    /// Part of a transaction.
    transactional: bool,
    /// Set under the lock when it repeats a batch already written.
    duplicate: Option<BatchMeta>,
}

impl State {
    fn active(&mut self) -> &mut Segment {
        self.segments.values_mut().next_back().expect("a partition always has an active segment")
    }
    fn log_start_offset(&self) -> u64 {
        let oldest = self
            .segments
            .values()
            .find(|s| !s.is_empty())
            .map_or(self.next_offset, Segment::base_offset);
        oldest.max(self.requested_start.min(self.next_offset))
    }
}

/// Bookkeeping of fsyncs, behind the flush lock.
#[derive(Debug)]
struct FlushState {
    /// Every offset below this is on disk.
    flushed_offset: u64,
    /// Segments from this base offset on may hold unsynced bytes.
    first_dirty_segment: u64,
    /// The recovery point last written to disk.
    checkpointed: u64,
    /// When the last flush finished, for interval durability.
    last_flush: Instant,
    /// Offset of the producer state snapshot on disk (0 when there is none).
    producer_snapshot: u64,
}

/// One partition's log.
#[derive(Debug)]
pub struct Partition {
    /// The partition's directory, holding its segments.
    dir: PathBuf,
    /// Segments and offsets.
    state: RwLock<State>,
    /// fsync bookkeeping; holding it serializes flushes.
    flush: Mutex<FlushState>,
    /// Truncations the last open made, for operators and tests.
    truncations: Vec<(u64, Truncation)>,
    /// Flushes performed (each fsyncs every dirty segment), for metrics.
    fsyncs: AtomicU64,
    /// Bytes and records appended and fetched, for metrics.
    traffic: PartitionTraffic,
    /// Wakes readers waiting for records once an append lands.
    appends: AppendSignal,
    /// Held through a cleaning pass: one at a time.
    cleaning: Mutex<()>,
}

impl Partition {
    /// Opens the partition in `dir`, creating it if new and recovering it after a
    /// crash.
    pub fn open(dir: impl Into<PathBuf>, config: LogConfig) -> io::Result<Partition> {
        let dir = dir.into();
        let Recovered { segments, truncations, first_unsynced, cleaned_through, .. } =
            recovery::open_segments(&dir, &config)?;
        let next_offset = segments.values().next_back().map_or(0, Segment::next_offset);
        let active_base = segments.keys().next_back().copied().unwrap_or(0);
        // Only what recovery rescanned may be missing from the disk: the flush below
        // syncs that, not every segment.
        let (flushed_offset, first_dirty_segment) = match first_unsynced {
            Some(base) => (0, base),
            None => (next_offset, active_base),
        };
        let (producers, producer_snapshot) =
            producers::snapshot::load(&dir, &segments, next_offset)?;
        let requested_start = log_start::load(&dir)?;
        let state = State {
            config,
            segments,
            next_offset,
            producers,
            closed: false,
            requested_start,
            cleaned_through,
        };
        let partition = Partition {
            state: RwLock::new(state),
            flush: Mutex::new(FlushState {
                flushed_offset,
                first_dirty_segment,
                // Unknown: the file may name offsets recovery just cut, so the
                // checkpoint below writes it whatever the log holds, even nothing.
                checkpointed: u64::MAX,
                last_flush: Instant::now(),
                producer_snapshot,
            }),
            dir,
            truncations,
            fsyncs: AtomicU64::new(0),
            traffic: PartitionTraffic::default(),
            appends: AppendSignal::new(next_offset),
            cleaning: Mutex::new(()),
        };
        // What recovery kept is now fsynced: make that the recovery point, so a
        // second crash does not rescan it again.
        partition.flush()?;
        partition.checkpoint()?;
        Ok(partition)
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Truncations the open had to make, by segment base offset.
    pub fn truncations(&self) -> &[(u64, Truncation)] {
        &self.truncations
    }

    /// What readers waiting for records wait on; every append signals it.
    pub fn appends(&self) -> &AppendSignal {
        &self.appends
    }

    /// Bytes and records appended (counted here) and fetched (counted by the
    /// Fetch handler) since the partition opened.
    pub fn traffic(&self) -> &PartitionTraffic {
        &self.traffic
    }

    /// Appends the batches in `records` (one or more RecordBatch v2, back to back,
    /// as a Produce request carries them), assigning their offsets. Batches of
    /// idempotent producers are checked in order first; a retry of one already
    /// written is skipped. Under sync durability it returns only once an fsync
    /// covers them.
    pub fn append(&self, records: &[u8]) -> Result<AppendInfo, AppendError> {
        self.append_batches(records, false)
    }

    /// `append` for a producer whose transaction the coordinator has checked to
    /// include this partition: transactional batches are taken, and the first of a
    /// producer's opens its transaction here (the last stable offset stays at or
    /// below it until its marker).
    pub fn append_transactional(&self, records: &[u8]) -> Result<AppendInfo, AppendError> {
        self.append_batches(records, true)
    }

    fn append_batches(&self, records: &[u8], in_txn: bool) -> Result<AppendInfo, AppendError> {
        // Recompressing or stamping (the topic's compression.type and
        // message.timestamp.type) happens before the lock is taken.
        let (wants, compact) = {
            let state = self.state.read();
            (state.config.conformance, state.config.cleanup.compact)
        };
        let now = now_ms();
        let conformed = conform::conform(records, wants, now)
            .map_err(|(index, source)| AppendError::InvalidRecords { index, source })?;
        let records = conformed.as_deref().unwrap_or(records);
        let mut spans = Vec::new();
        let mut at = 0;
        for (index, found) in batch::split(records).enumerate() {
            let bytes = found.map_err(|source| AppendError::InvalidBatch { index, source })?;
            let header = batch::validate_produced(bytes)
                .map_err(|source| AppendError::InvalidBatch { index, source })?;
            if compact {
                let records = cleaner::filter::keyless_records(bytes)
                    .map_err(|source| AppendError::InvalidRecords { index, source })?;
                if !records.is_empty() {
                    return Err(AppendError::KeylessRecord { index, records });
                }
            }
            let producer = ProducerBatch::of(&header);
            let transactional = header.is_transactional();
            if header.is_control() {
                return Err(AppendError::ControlBatch { index });
            }
            if transactional && (producer.is_none() || !in_txn) {
                return Err(AppendError::Transactional { index });
            }
            spans.push(Span {
                at,
                len: bytes.len(),
                delta: header.last_offset_delta() as u64,
                max_timestamp: header.max_timestamp(),
                producer,
                transactional,
                duplicate: None,
            });
            at += bytes.len();
        }
        if spans.is_empty() {
            return Err(AppendError::Empty);
        }
        let io_err = |source| AppendError::Io { dir: self.dir.clone(), source };

        let mut state = self.state.write();
        if state.closed {
            return Err(AppendError::Closed);
        }
        let max = state.config.max_message_bytes;
        if let Some(span) = spans.iter().find(|s| s.len > max as usize) {
            return Err(AppendError::TooLarge { size: span.len, max });
        }
        // Every batch is checked before any is written: a refused request leaves
        // nothing behind.
        let mut check = state.producers.request();
        let mut next = state.next_offset;
        let count = spans.len();
        for (index, span) in spans.iter_mut().enumerate() {
            if let Some(producer) = &span.producer {
                match check.check(producer, next, next + span.delta, index + 1 < count) {
                    Ok(Verdict::Append) => {}
                    Ok(Verdict::Duplicate(original)) => {
                        span.duplicate = Some(original);
                        continue;
                    }
                    Err(refused) => return Err(AppendError::refused(index, producer, refused)),
                }
            }
            next += span.delta + 1;
        }
        let mut range = None;
        for span in &spans {
            let (base, last) = match span.duplicate {
                Some(original) => (original.base_offset, original.last_offset),
                None => {
                    let bytes = &records[span.at..span.at + span.len];
                    let base = state.next_offset;
                    let cfg = state.config.clone();
                    let active = state.active();
                    if !active.fits(span.len, base + span.delta, &cfg)
                        || active.is_due_to_roll(span.max_timestamp, &cfg)
                    {
                        self.roll(&mut state).map_err(io_err)?;
                    }
                    state.active().append(bytes, base).map_err(io_err)?;
                    state.next_offset = base + span.delta + 1;
                    if let Some(producer) = &span.producer {
                        if span.transactional {
                            state.producers.txns_mut().data(producer.producer_id, base);
                        }
                        state.producers.record(producer, base, base + span.delta);
                    }
                    (base, base + span.delta)
                }
            };
            range = Some((range.map_or(base, |(first, _)| first), last));
        }
        let Some((base_offset, last_offset)) = range else { return Err(AppendError::Empty) };
        let info = AppendInfo {
            base_offset,
            last_offset,
            log_start_offset: state.log_start_offset(),
            duplicate: spans.iter().all(|s| s.duplicate.is_some()),
            log_append_time: wants.log_append_time.then_some(now),
        };
        let sync = state.config.durability == Durability::Sync;
        let high_watermark = state.next_offset;
        drop(state);
        if !info.duplicate {
            self.appends.publish(high_watermark);
        }
        let written = spans.iter().filter(|s| s.duplicate.is_none());
        let (bytes, records) =
            written.fold((0, 0), |(b, r), s| (b + s.len as u64, r + s.delta + 1));
        self.traffic.appended(bytes, records);
        if sync {
            // A duplicate too: its original may still be waiting for its fsync.
            self.flush_to(info.last_offset + 1).map_err(io_err)?;
        }
        Ok(info)
    }

    /// Ends `producer_id`'s transaction in this partition with a marker (commit or
    /// abort) at the next offset; returns that offset. A marker of an epoch older
    /// than the producer's is refused (a fenced coordinator call); one for a
    /// producer with no transaction open here is written all the same (a retried
    /// EndTxn), and ends nothing.
    pub fn write_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<u64, AppendError> {
        let io_err = |source| AppendError::Io { dir: self.dir.clone(), source };
        let bytes = txn::marker(producer_id, epoch, commit, coordinator_epoch, now_ms());
        let mut state = self.state.write();
        if state.closed {
            return Err(AppendError::Closed);
        }
        if let Some(current) = state.producers.get(producer_id).map(|e| e.epoch())
            && epoch < current
        {
            return Err(AppendError::InvalidProducerEpoch {
                index: 0,
                producer_id,
                epoch,
                current,
            });
        }
        let offset = state.next_offset;
        let cfg = state.config.clone();
        let active = state.active();
        if !active.fits(bytes.len(), offset, &cfg) || active.is_due_to_roll(now_ms(), &cfg) {
            self.roll(&mut state).map_err(io_err)?;
        }
        state.active().append(&bytes, offset).map_err(io_err)?;
        state.next_offset = offset + 1;
        state.producers.txns_mut().ended(producer_id, commit, offset);
        state.producers.fence(producer_id, epoch);
        let sync = state.config.durability == Durability::Sync;
        drop(state);
        self.appends.publish(offset + 1);
        self.traffic.appended(bytes.len() as u64, 1);
        if sync {
            self.flush_to(offset + 1).map_err(io_err)?;
        }
        Ok(offset)
    }

    /// The last stable offset: readers in `read_committed` see records below it,
    /// where no transaction is still open. The high watermark when none is.
    pub fn last_stable_offset(&self) -> u64 {
        let state = self.state.read();
        let first_open = state.producers.txns().first_unstable();
        first_open.map_or(state.next_offset, |o| o.min(state.next_offset))
    }

    /// The aborted transactions with records in `from..to`, for a `read_committed`
    /// Fetch to skip.
    pub fn aborted_transactions(&self, from: u64, to: u64) -> Vec<AbortedTxn> {
        self.state.read().producers.txns().aborted_in(from, to)
    }

    /// Open transactions here: producer id and the offset of their first batch.
    pub fn open_transactions(&self) -> Vec<(i64, u64)> {
        self.state.read().producers.txns().ongoing().collect()
    }

    /// `read` for a `read_committed` reader: nothing at or past the last stable
    /// offset.
    pub fn read_committed(&self, offset: u64, max_bytes: usize) -> Result<ReadResult, ReadError> {
        self.read_isolated(offset, max_bytes, true, true)
    }

    /// `read` (`at_least_one`) or `read_within`, for a reader that sees only what
    /// is `committed` (below the last stable offset) or everything.
    pub fn read_isolated(
        &self,
        offset: u64,
        max_bytes: usize,
        at_least_one: bool,
        committed: bool,
    ) -> Result<ReadResult, ReadError> {
        let below = if committed { self.last_stable_offset() } else { u64::MAX };
        self.read_batches_below(offset, max_bytes, at_least_one, below)
    }

    /// Whether appending `len` bytes whose newest record is `max_timestamp` would
    /// start a new segment, which fsyncs: callers on async threads hand such an
    /// append to the blocking pool. A guess, as a concurrent append may roll
    /// first; it errs only by a roll once per segment.
    pub fn may_roll(&self, len: usize, max_timestamp: i64) -> bool {
        let state = self.state.read();
        let Some(active) = state.segments.values().next_back() else { return true };
        !active.fits(len, state.next_offset, &state.config)
            || active.is_due_to_roll(max_timestamp, &state.config)
    }

    /// Seals the active segment and starts a new one at the next offset.
    fn roll(&self, state: &mut State) -> io::Result<()> {
        let next = state.next_offset;
        let active = state.active();
        active.seal()?;
        let old = active.base_offset();
        let segment = Segment::create(&self.dir, next, &state.config)?;
        recovery::sync_dir(&self.dir)?;
        state.segments.insert(next, segment);
        debug!(dir = %self.dir.display(), from = old, to = next, "rolled segment");
        Ok(())
    }

    /// Reads whole batches from the one holding `offset`, up to `max_bytes` (but
    /// always at least one batch, so a consumer can always make progress), from one
    /// segment.
    pub fn read(&self, offset: u64, max_bytes: usize) -> Result<ReadResult, ReadError> {
        self.read_batches(offset, max_bytes, true)
    }

    /// Like `read`, but `max_bytes` is a hard limit: no slice when the first batch
    /// is larger (a Fetch response that already carries another partition's data).
    pub fn read_within(&self, offset: u64, max_bytes: usize) -> Result<ReadResult, ReadError> {
        self.read_batches(offset, max_bytes, false)
    }

    fn read_batches(
        &self,
        offset: u64,
        max_bytes: usize,
        at_least_one: bool,
    ) -> Result<ReadResult, ReadError> {
        self.read_batches_below(offset, max_bytes, at_least_one, u64::MAX)
    }

    /// Reads batches as `read` does, none that starts at or after `below`.
    fn read_batches_below(
        &self,
        offset: u64,
        max_bytes: usize,
        at_least_one: bool,
        below: u64,
    ) -> Result<ReadResult, ReadError> {
        let (found, high_watermark, log_start_offset) = {
            let state = self.state.read();
            let (hwm, lso) = (state.next_offset, state.log_start_offset());
            if offset < lso || offset > hwm {
                return Err(ReadError::OffsetOutOfRange {
                    offset,
                    log_start_offset: lso,
                    high_watermark: hwm,
                });
            }
            let holder = state
                .segments
                .range(..=offset)
                .next_back()
                .filter(|(_, s)| s.next_offset() > offset)
                .or_else(|| state.segments.range(offset + 1..).find(|(_, s)| !s.is_empty()))
                .map(|(_, s)| (Arc::clone(s.log()), s.position_for(offset), s.size()));
            (holder, hwm, lso)
        };
        let done =
            |slice, records| Ok(ReadResult { slice, high_watermark, log_start_offset, records });
        let Some((file, start, end)) = found else { return done(None, 0) };
        let mut scan = Scanner::new(&file, start, end, false);
        let mut first: Option<u64> = None;
        let mut stop = start;
        let mut records = 0;
        while let Some(b) = scan.next_batch().map_err(|e| self.read_err(e))? {
            if b.header.base_offset() as u64 >= below {
                break;
            }
            match first {
                None if (b.header.last_offset() as u64) < offset => continue,
                None if !at_least_one && b.end() - b.position > max_bytes as u64 => break,
                None => first = Some(b.position),
                Some(p) if b.end() - p > max_bytes as u64 => break,
                Some(_) => {}
            }
            stop = b.end();
            records += u64::try_from(b.header.records_count()).unwrap_or(0);
            if stop - first.unwrap_or(stop) >= max_bytes as u64 {
                break;
            }
        }
        let slice =
            first.map(|position| FileSlice { file, position, len: (stop - position) as usize });
        done(slice, records)
    }

    fn read_err(&self, e: ScanError) -> ReadError {
        let source = match e {
            ScanError::Io(e) => e,
            corrupt => io::Error::new(io::ErrorKind::InvalidData, corrupt),
        };
        ReadError::Io { dir: self.dir.clone(), source }
    }

    /// The earliest offset whose record timestamp is at or after `timestamp`, with
    /// that record's timestamp (ListOffsets by time); None when every record is
    /// older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(u64, i64)>, ReadError> {
        let found = {
            let state = self.state.read();
            state
                .segments
                .values()
                .find(|s| s.max_timestamp() >= timestamp && !s.is_empty())
                .map(|s| (Arc::clone(s.log()), s.position_for_timestamp(timestamp), s.size()))
        };
        let Some((file, start, end)) = found else { return Ok(None) };
        // Records before the log start (DeleteRecords) are not there to find.
        let log_start = self.log_start_offset();
        let mut scan = Scanner::new(&file, start, end, false);
        while let Some(b) = scan.next_batch().map_err(|e| self.read_err(e))? {
            if b.header.max_timestamp() < timestamp || (b.header.last_offset() as u64) < log_start {
                continue;
            }
            let mut bytes = vec![0u8; b.header.total_len()];
            file.read_exact_at(&mut bytes, b.position)
                .map_err(|source| ReadError::Io { dir: self.dir.clone(), source })?;
            // The exact record needs the records decoded; if they cannot be, the
            // batch's first offset is a safe answer (never after the record).
            let exact = match record::decode_batch(&bytes) {
                Ok(records) => match records
                    .into_iter()
                    .find(|r| r.timestamp >= timestamp && r.offset as u64 >= log_start)
                {
                    Some(r) => Some((r.offset as u64, r.timestamp)),
                    // Its newer records are all before the log start.
                    None => continue,
                },
                Err(_) => None,
            };
            let first = (b.header.base_offset() as u64).max(log_start);
            return Ok(Some(exact.unwrap_or((first, b.header.max_timestamp()))));
        }
        Ok(None)
    }

    /// What the partition knows of an idempotent producer.
    pub fn producer_state(&self, producer_id: i64) -> Option<ProducerEntry> {
        self.state.read().producers.get(producer_id).copied()
    }

    /// Flushes performed so far; concurrent sync appends share one.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// The idempotent producers with batches in the log, by producer id.
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        let state = self.state.read();
        let mut producers: Vec<ActiveProducer> = state
            .producers
            .iter()
            .filter_map(|(producer_id, entry)| {
                let last = entry.batches().last()?;
                Some(ActiveProducer {
                    producer_id,
                    epoch: entry.epoch(),
                    last_sequence: last.last_seq,
                    last_timestamp: entry.last_timestamp(),
                    last_offset: last.last_offset,
                })
            })
            .collect();
        producers.sort_by_key(|p| p.producer_id);
        producers
    }

    /// The first offset held.
    pub fn log_start_offset(&self) -> u64 {
        self.state.read().log_start_offset()
    }

    /// One past the last offset held: the high watermark of a single node.
    pub fn high_watermark(&self) -> u64 {
        self.state.read().next_offset
    }

    /// Bytes held across all segments.
    pub fn size_bytes(&self) -> u64 {
        self.state.read().segments.values().map(Segment::size).sum()
    }

    /// Number of segments, the active one included.
    pub fn segment_count(&self) -> usize {
        self.state.read().segments.len()
    }

    /// The settings in force.
    pub fn config(&self) -> LogConfig {
        self.state.read().config.clone()
    }

    /// Replaces the settings; they apply from the next append or retention pass.
    pub fn set_config(&self, config: LogConfig) {
        self.state.write().config = config;
    }

    /// Deletes whole segments past `retention.ms` (by their newest record, or the
    /// file's mtime when records carry no timestamp) or beyond `retention.bytes`,
    /// oldest first. An expired active segment is rolled first so it can go too.
    /// Returns the base offsets deleted. A topic whose `cleanup.policy` lacks
    /// `delete` keeps every segment.
    pub fn enforce_retention(&self, now_ms: i64) -> io::Result<Vec<u64>> {
        let mut state = self.state.write();
        let mut deleted = Vec::new();
        let cfg = state.config.clone();
        if !cfg.cleanup.delete {
            return Ok(deleted);
        }
        let expired = |s: &Segment| match cfg.retention_age {
            Some(age) if !s.is_empty() => {
                let newest =
                    if s.max_timestamp() >= 0 { s.max_timestamp() } else { s.modified_ms() };
                now_ms - newest > age.as_millis() as i64
            }
            _ => false,
        };
        if state.segments.values().all(|s| expired(s) || s.is_empty()) && !state.active().is_empty()
        {
            self.roll(&mut state)?;
        }
        let mut total: u64 = state.segments.values().map(Segment::size).sum();
        while state.segments.len() > 1 {
            let Some(oldest) = state.segments.values().next() else { break };
            let over_size = cfg.retention_bytes.is_some_and(|limit| total - oldest.size() >= limit);
            if !(expired(oldest) || over_size || oldest.is_empty()) {
                break;
            }
            let Some((base, segment)) = state.segments.pop_first() else { break };
            total -= segment.size();
            info!(file = %segment.log_path().display(), bytes = segment.size(), "retention: deleting segment");
            segment.delete()?;
            deleted.push(base);
        }
        if !deleted.is_empty() {
            let log_start_offset = state.log_start_offset();
            state.producers.forget_before(log_start_offset);
            recovery::sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }

    /// fsyncs every segment that may hold unsynced bytes; returns the offset
    /// everything below is now durable to. Concurrent callers queue on the flush
    /// lock, and find their bytes already covered when their turn comes.
    pub fn flush(&self) -> io::Result<u64> {
        let mut flush = self.flush.lock();
        self.flush_locked(&mut flush)
    }

    /// Makes sure every offset below `offset` is durable.
    fn flush_to(&self, offset: u64) -> io::Result<()> {
        let mut flush = self.flush.lock();
        if flush.flushed_offset < offset {
            self.flush_locked(&mut flush)?;
        }
        Ok(())
    }

    fn flush_locked(&self, flush: &mut FlushState) -> io::Result<u64> {
        let (files, end, active) = {
            let state = self.state.read();
            if state.next_offset == flush.flushed_offset {
                return Ok(flush.flushed_offset);
            }
            let files: Vec<_> = state
                .segments
                .range(flush.first_dirty_segment..)
                .map(|(_, s)| Arc::clone(s.log()))
                .collect();
            let active = state.segments.keys().next_back().copied().unwrap_or(0);
            (files, state.next_offset, active)
        };
        for file in files {
            file.sync_data()?;
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        flush.flushed_offset = end;
        flush.first_dirty_segment = active;
        flush.last_flush = Instant::now();
        Ok(end)
    }

    /// Writes the recovery point if flushes have moved it, and a producer state
    /// snapshot if a segment was rolled since the last one, so that opening after a
    /// crash rescans the headers of about one segment, not of the whole log.
    pub fn checkpoint(&self) -> io::Result<()> {
        let mut flush = self.flush.lock();
        if flush.checkpointed != flush.flushed_offset {
            recovery::write_recovery_point(&self.dir, flush.flushed_offset)?;
            flush.checkpointed = flush.flushed_offset;
        }
        let due = {
            let state = self.state.read();
            let active = state.segments.keys().next_back().copied().unwrap_or(0);
            (active > flush.producer_snapshot).then(|| (state.next_offset, state.producers.clone()))
        };
        if let Some((offset, producers)) = due {
            producers::snapshot::write(&self.dir, offset, &producers)?;
            flush.producer_snapshot = offset;
        }
        Ok(())
    }

    /// The background flusher's tick: under interval durability, flushes once the
    /// interval has passed; under either policy, keeps the recovery point current.
    pub fn flush_if_due(&self) -> io::Result<()> {
        let interval = match self.state.read().config.durability {
            Durability::Interval(interval) => Some(interval),
            Durability::Sync => None,
        };
        if interval.is_some_and(|i| self.flush.lock().last_flush.elapsed() >= i) {
            self.flush()?;
        }
        self.checkpoint()
    }

    /// Closes cleanly: flushes, trims the active segment's indexes, writes the
    /// recovery point and the producer state snapshot and, last, the clean-shutdown
    /// marker. Appends are refused afterwards.
    pub fn close(&self) -> io::Result<()> {
        let mut flush = self.flush.lock();
        let mut state = self.state.write();
        if state.closed {
            return Ok(());
        }
        state.closed = true;
        let next_offset = state.next_offset;
        state.active().seal()?;
        for segment in state.segments.range(flush.first_dirty_segment..).map(|(_, s)| s) {
            segment.sync()?;
        }
        flush.flushed_offset = next_offset;
        recovery::write_recovery_point(&self.dir, next_offset)?;
        flush.checkpointed = next_offset;
        producers::snapshot::write(&self.dir, next_offset, &state.producers)?;
        flush.producer_snapshot = next_offset;
        recovery::mark_clean(&self.dir)
    }
}

mod clean;
mod log_start;
mod max_timestamp;
pub use log_start::LOG_START_FILE;

#[cfg(test)]
mod tests;

/// The wall clock in ms since the Unix epoch (LogAppendTime stamps).
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod producer_tests;

#[cfg(test)]
mod clean_tests;

#[cfg(test)]
mod txn_tests;
