//! Idempotent producers: what a partition remembers of each producer id, so that a
//! retried batch is recognised instead of written twice and a gap in sequence
//! numbers is refused.
//!
//! The rules are Kafka 3.x's for appends from clients (`ProducerAppendInfo`,
//! `ProducerStateEntry`), checked in this order:
//! - a batch without a producer id (-1) is none of this module's business;
//! - a batch whose epoch and (first, last) sequence equal one of the producer's
//!   last [`BATCHES_KEPT`] batches is a duplicate: not written again, acknowledged
//!   with the offsets the original got;
//! - an epoch older than the producer's is refused (INVALID_PRODUCER_EPOCH);
//! - a producer the partition knows nothing of (new, or forgotten after retention)
//!   may start at any sequence: Kafka 3.x accepts it rather than answering
//!   UNKNOWN_PRODUCER_ID;
//! - a newer epoch must start at sequence 0;
//! - otherwise the first sequence must follow the last one (wrapping from i32::MAX
//!   to 0), or the batch is refused (OUT_OF_ORDER_SEQUENCE_NUMBER).
//!
//! The state lives behind the partition's write lock, which makes check and write
//! one atomic step. `snapshot` keeps it across restarts.

use std::collections::HashMap;

use super::batch::BatchHeader;

pub mod snapshot;
pub mod txn;

pub use txn::{AbortedTxn, Transactions};

/// Batches remembered per producer: Kafka's `NUM_BATCHES_TO_RETAIN`, the limit of
/// `max.in.flight.requests.per.connection` an idempotent producer may use.
pub const BATCHES_KEPT: usize = 5;

/// `seq + n` in the sequence space of RecordBatch v2, which wraps from i32::MAX to 0.
pub fn add_sequence(seq: i32, n: i32) -> i32 {
    if seq > i32::MAX - n { n - (i32::MAX - seq) - 1 } else { seq + n }
}

/// The idempotence fields of a batch that carries a producer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    /// The producer id InitProducerId gave the producer.
    pub producer_id: i64,
    /// Its epoch; a newer one fences the older.
    pub epoch: i16,
    /// Sequence number of the batch's first record.
    pub first_seq: i32,
    /// Sequence number of its last record.
    pub last_seq: i32,
    /// Its newest record's timestamp (DescribeProducers' last timestamp).
    pub max_timestamp: i64,
}

impl ProducerBatch {
    /// The idempotence fields of a batch; None when it has no producer id, the one
    /// branch a non-idempotent batch pays.
    pub fn of<B: AsRef<[u8]>>(header: &BatchHeader<B>) -> Option<ProducerBatch> {
        let producer_id = header.producer_id();
        if producer_id < 0 {
            return None;
        }
        let first_seq = header.base_sequence();
        Some(ProducerBatch {
            producer_id,
            epoch: header.producer_epoch(),
            first_seq,
            last_seq: add_sequence(first_seq, header.last_offset_delta()),
            max_timestamp: header.max_timestamp(),
        })
    }
}

/// Where one of a producer's batches went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchMeta {
    /// Sequence number of its first record.
    pub first_seq: i32,
    /// Sequence number of its last record.
    pub last_seq: i32,
    /// Offset its first record got.
    pub base_offset: u64,
    /// Offset its last record got.
    pub last_offset: u64,
}

/// What to do with a batch that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it.
    Append,
    /// Already written, there: acknowledge it without writing it again.
    Duplicate(BatchMeta),
}

/// Why a batch of an idempotent producer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its epoch is older than the producer's `current` one (INVALID_PRODUCER_EPOCH).
    StaleEpoch {
        /// The producer's epoch as the partition knows it.
        current: i16,
    },
    /// Its first sequence is not `expected` (OUT_OF_ORDER_SEQUENCE_NUMBER).
    OutOfOrder {
        /// The sequence that would have been accepted.
        expected: i32,
    },
}

/// What a partition knows of one producer: its epoch and its last batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerEntry {
    /// The newest epoch seen.
    epoch: i16,
    /// The newest timestamp of its last batch (-1 when unknown: a snapshot
    /// written before it was kept).
    last_timestamp: i64,
    /// The last batches of that epoch, oldest first; only `len` of them are set.
    batches: [BatchMeta; BATCHES_KEPT],
    /// How many of `batches` are set.
    len: u8,
}

impl ProducerEntry {
    /// A producer at `epoch` with no batch yet.
    pub fn new(epoch: i16) -> ProducerEntry {
        ProducerEntry {
            epoch,
            last_timestamp: -1,
            batches: [BatchMeta::default(); BATCHES_KEPT],
            len: 0,
        }
    }

    /// The newest epoch seen.
    pub fn epoch(&self) -> i16 {
        self.epoch
    }

    /// The newest timestamp of its last batch; -1 if unknown.
    pub fn last_timestamp(&self) -> i64 {
        self.last_timestamp
    }

    /// Sets the newest timestamp of its last batch (from a snapshot).
    pub fn set_last_timestamp(&mut self, timestamp: i64) {
        self.last_timestamp = timestamp;
    }

    /// The last batches, oldest first.
    pub fn batches(&self) -> &[BatchMeta] {
        &self.batches[..self.len as usize]
    }

    /// Remembers a batch written at `epoch`; a new epoch forgets the old one's
    /// batches, and only the last [`BATCHES_KEPT`] are kept.
    pub fn push(&mut self, epoch: i16, batch: BatchMeta) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.len = 0;
        }
        if self.len as usize == BATCHES_KEPT {
            self.batches.copy_within(1.., 0);
            self.batches[BATCHES_KEPT - 1] = batch;
        } else {
            self.batches[self.len as usize] = batch;
            self.len += 1;
        }
    }

    /// Checks `batch` against what is known of its producer (None: nothing).
    pub fn check(known: Option<&ProducerEntry>, batch: &ProducerBatch) -> Result<Verdict, Refused> {
        // No state (a new producer, or one whose batches retention deleted): any
        // sequence goes, as in Kafka 3.x.
        let Some(entry) = known.filter(|e| e.epoch >= 0) else { return Ok(Verdict::Append) };
        if batch.epoch == entry.epoch
            && let Some(original) = entry
                .batches()
                .iter()
                .find(|b| b.first_seq == batch.first_seq && b.last_seq == batch.last_seq)
        {
            return Ok(Verdict::Duplicate(*original));
        }
        if batch.epoch < entry.epoch {
            return Err(Refused::StaleEpoch { current: entry.epoch });
        }
        let expected = if batch.epoch != entry.epoch {
            0
        } else {
            entry.batches().last().map_or(0, |b| add_sequence(b.last_seq, 1))
        };
        if batch.first_seq == expected {
            Ok(Verdict::Append)
        } else {
            Err(Refused::OutOfOrder { expected })
        }
    }

    /// Offset of the last record written by this producer, if any.
    fn last_offset(&self) -> Option<u64> {
        self.batches().last().map(|b| b.last_offset)
    }
}

/// Every producer a partition knows, by producer id, and their transactions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStates {
    /// Entries by producer id.
    producers: HashMap<i64, ProducerEntry>,
    /// Open and aborted transactions.
    txns: Transactions,
}

impl ProducerStates {
    /// The partition's open and aborted transactions.
    pub fn txns(&self) -> &Transactions {
        &self.txns
    }

    /// The same, to note batches and markers.
    pub fn txns_mut(&mut self) -> &mut Transactions {
        &mut self.txns
    }

    /// What is known of `producer_id`.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Number of producers known.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// True when no producer is known.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Every producer, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(&id, e)| (id, e))
    }

    /// Puts back an entry read from a snapshot.
    pub fn insert(&mut self, producer_id: i64, entry: ProducerEntry) {
        self.producers.insert(producer_id, entry);
    }

    /// Remembers a batch written at `base_offset..=last_offset`, unchecked: after a
    /// checked append, and when rebuilding from the log.
    pub fn record(&mut self, batch: &ProducerBatch, base_offset: u64, last_offset: u64) {
        let meta = BatchMeta {
            first_seq: batch.first_seq,
            last_seq: batch.last_seq,
            base_offset,
            last_offset,
        };
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry::new(batch.epoch));
        entry.push(batch.epoch, meta);
        entry.last_timestamp = batch.max_timestamp;
    }

    /// Notes a marker of `producer_id` at `epoch`: when the coordinator bumped the
    /// epoch (aborting a transaction that timed out), batches of older epochs are
    /// refused from now on.
    pub fn fence(&mut self, producer_id: i64, epoch: i16) {
        let entry = self.producers.entry(producer_id).or_insert_with(|| ProducerEntry::new(epoch));
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.len = 0;
        }
    }

    /// Forgets producers with no batch left at or after `log_start_offset` (after
    /// retention deleted segments): the state then matches a rebuild from the log.
    pub fn forget_before(&mut self, log_start_offset: u64) {
        self.producers.retain(|_, e| e.last_offset().is_some_and(|o| o >= log_start_offset));
        self.txns.forget_before(log_start_offset);
    }

    /// Starts checking the batches of one request.
    pub fn request(&self) -> RequestCheck<'_> {
        RequestCheck { states: self, pending: Vec::new() }
    }
}

/// Checks the batches of one request in order, each against the state as the
/// request's earlier batches would leave it, before anything is written.
#[derive(Debug)]
pub struct RequestCheck<'a> {
    /// The partition's state.
    states: &'a ProducerStates,
    /// Entries as this request's earlier batches change them; allocated only when a
    /// batch of an idempotent producer is followed by more batches.
    pending: Vec<(i64, ProducerEntry)>,
}

impl RequestCheck<'_> {
    /// Checks `batch`, which would get offsets `base_offset..=last_offset`; `more`
    /// says later batches of the request follow, and must see this one.
    pub fn check(
        &mut self,
        batch: &ProducerBatch,
        base_offset: u64,
        last_offset: u64,
        more: bool,
    ) -> Result<Verdict, Refused> {
        let pending = self.pending.iter().position(|(id, _)| *id == batch.producer_id);
        let known = match pending {
            Some(i) => Some(&self.pending[i].1),
            None => self.states.get(batch.producer_id),
        };
        let verdict = ProducerEntry::check(known, batch)?;
        if verdict == Verdict::Append && more {
            let mut entry = known.copied().unwrap_or_else(|| ProducerEntry::new(batch.epoch));
            let (first_seq, last_seq) = (batch.first_seq, batch.last_seq);
            entry.push(batch.epoch, BatchMeta { first_seq, last_seq, base_offset, last_offset });
            match pending {
                Some(i) => self.pending[i].1 = entry,
                None => self.pending.push((batch.producer_id, entry)),
            }
        }
        Ok(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::{BatchBuilder, Compression};

    /// Producer 7's batch of `n` records from sequence `seq` at `epoch`.
    fn batch(epoch: i16, seq: i32, n: i32) -> ProducerBatch {
        let last_seq = add_sequence(seq, n - 1);
        ProducerBatch { producer_id: 7, epoch, first_seq: seq, last_seq, max_timestamp: 0 }
    }

    /// Checks `b` alone against `states` and, when accepted, records it at the
    /// next offsets; returns the verdict.
    fn append(
        states: &mut ProducerStates,
        b: ProducerBatch,
        next: &mut u64,
    ) -> Result<Verdict, Refused> {
        let last = *next + (b.last_seq.wrapping_sub(b.first_seq) as u32 as u64);
        let verdict = states.request().check(&b, *next, last, false)?;
        if verdict == Verdict::Append {
            states.record(&b, *next, last);
            *next = last + 1;
        }
        Ok(verdict)
    }

    #[test]
    fn the_header_fields_are_read_and_batches_without_a_producer_id_are_skipped() {
        let mut plain = BatchBuilder::new(0, Compression::None);
        plain.push(1, None, Some(b"v"), &[]);
        let plain = plain.build().unwrap();
        assert_eq!(ProducerBatch::of(&BatchHeader::parse(&plain).unwrap()), None);

        let mut idem = BatchBuilder::new(0, Compression::None).producer(9, 2, i32::MAX - 1);
        for _ in 0..3 {
            idem.push(1, None, Some(b"v"), &[]);
        }
        let idem = idem.build().unwrap();
        let expected = ProducerBatch {
            producer_id: 9,
            first_seq: i32::MAX - 1,
            last_seq: 0,
            max_timestamp: 1,
            ..batch(2, 0, 1)
        };
        assert_eq!(ProducerBatch::of(&BatchHeader::parse(&idem).unwrap()), Some(expected));
    }

    #[test]
    fn sequence_numbers_wrap_from_max_to_zero() {
        assert_eq!(add_sequence(5, 1), 6);
        assert_eq!(add_sequence(i32::MAX, 1), 0);
        assert_eq!(add_sequence(i32::MAX - 1, 3), 1);
        let (mut states, mut next) = (ProducerStates::default(), 0);
        append(&mut states, batch(0, 0, 1), &mut next).unwrap();
        states.record(&batch(0, i32::MAX - 4, 5), 1, 5);
        assert_eq!(append(&mut states, batch(0, 0, 2), &mut next), Ok(Verdict::Append));
    }

    #[test]
    fn an_unknown_producer_may_start_at_any_sequence() {
        let (mut states, mut next) = (ProducerStates::default(), 0);
        assert_eq!(append(&mut states, batch(0, 42, 3), &mut next), Ok(Verdict::Append));
        assert_eq!(states.get(7).unwrap().batches().len(), 1);
        let other = ProducerBatch { producer_id: 8, ..batch(3, 0, 1) };
        assert_eq!(states.request().check(&other, 3, 3, false), Ok(Verdict::Append));
    }

    #[test]
    fn the_next_sequence_is_accepted_and_gaps_and_overlaps_are_refused() {
        let (mut states, mut next) = (ProducerStates::default(), 0);
        append(&mut states, batch(0, 0, 3), &mut next).unwrap();
        assert_eq!(append(&mut states, batch(0, 3, 2), &mut next), Ok(Verdict::Append));
        let gap = Err(Refused::OutOfOrder { expected: 5 });
        assert_eq!(append(&mut states, batch(0, 6, 1), &mut next), gap);
        assert_eq!(append(&mut states, batch(0, 4, 2), &mut next), gap, "overlap");
        assert_eq!(append(&mut states, batch(0, 3, 1), &mut next), gap, "same start, other end");
        assert_eq!(next, 5, "refused batches get no offsets");
    }

    #[test]
    fn a_retry_of_one_of_the_last_five_batches_is_a_duplicate_with_its_original_offsets() {
        let (mut states, mut next) = (ProducerStates::default(), 100);
        for seq in 0..6 {
            append(&mut states, batch(0, seq * 2, 2), &mut next).unwrap();
        }
        assert_eq!(states.get(7).unwrap().batches().len(), BATCHES_KEPT);
        let original = BatchMeta { first_seq: 2, last_seq: 3, base_offset: 102, last_offset: 103 };
        assert_eq!(
            append(&mut states, batch(0, 2, 2), &mut next),
            Ok(Verdict::Duplicate(original))
        );
        assert!(matches!(
            append(&mut states, batch(0, 10, 2), &mut next),
            Ok(Verdict::Duplicate(_))
        ));
        // The sixth batch back is forgotten: out of order, as in Kafka.
        let old = append(&mut states, batch(0, 0, 2), &mut next);
        assert_eq!(old, Err(Refused::OutOfOrder { expected: 12 }));
        assert_eq!(next, 112);
    }

    #[test]
    fn an_older_epoch_is_refused_and_a_newer_one_must_start_at_zero() {
        let (mut states, mut next) = (ProducerStates::default(), 0);
        append(&mut states, batch(3, 0, 2), &mut next).unwrap();
        let stale = Err(Refused::StaleEpoch { current: 3 });
        assert_eq!(append(&mut states, batch(2, 2, 1), &mut next), stale);
        assert_eq!(
            append(&mut states, batch(2, 0, 2), &mut next),
            stale,
            "no duplicate across epochs"
        );
        let not_zero = Err(Refused::OutOfOrder { expected: 0 });
        assert_eq!(append(&mut states, batch(4, 2, 1), &mut next), not_zero);
        assert_eq!(append(&mut states, batch(4, 0, 1), &mut next), Ok(Verdict::Append));
        let entry = states.get(7).unwrap();
        assert_eq!(
            (entry.epoch(), entry.batches().len()),
            (4, 1),
            "the old epoch's batches are gone"
        );
        assert_eq!(
            append(&mut states, batch(3, 0, 2), &mut next),
            Err(Refused::StaleEpoch { current: 4 })
        );
    }

    #[test]
    fn the_batches_of_one_request_are_checked_in_order() {
        let states = ProducerStates::default();
        let mut check = states.request();
        assert_eq!(check.check(&batch(0, 0, 2), 0, 1, true), Ok(Verdict::Append));
        assert_eq!(check.check(&batch(0, 2, 1), 2, 2, true), Ok(Verdict::Append));
        let first = BatchMeta { first_seq: 0, last_seq: 1, base_offset: 0, last_offset: 1 };
        assert_eq!(check.check(&batch(0, 0, 2), 3, 4, true), Ok(Verdict::Duplicate(first)));
        assert_eq!(
            check.check(&batch(0, 9, 1), 3, 3, false),
            Err(Refused::OutOfOrder { expected: 3 })
        );
        assert!(states.is_empty(), "checking changes nothing");
    }

    #[test]
    fn retention_forgets_producers_with_nothing_left_in_the_log() {
        let mut states = ProducerStates::default();
        states.record(&batch(0, 0, 1), 10, 10);
        states.record(&ProducerBatch { producer_id: 8, ..batch(0, 0, 5) }, 11, 15);
        states.forget_before(11);
        assert_eq!(states.len(), 1);
        assert!(states.get(7).is_none() && states.get(8).is_some());
    }
}
