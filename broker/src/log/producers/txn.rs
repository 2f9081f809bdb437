//! Transactions as one partition sees them: which producers have a transaction
//! open here (from the offset of its first batch), which ended aborted, the last
//! stable offset, and the markers (control batches) that end them.
//!
//! A marker is what Kafka writes: a control batch (attributes transactional and
//! control) of the producer, with one record whose key is `[version i16 = 0, type
//! i16]` (0 abort, 1 commit) and whose value is `[version i16 = 0, coordinator
//! epoch i32]`. Readers in `read_committed` stop at the last stable offset (the
//! first offset of the oldest open transaction) and skip the records of the
//! aborted transactions a Fetch names.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2};

/// Attribute bit: the batch belongs to a transaction.
pub const TRANSACTIONAL: i16 = 0x10;
/// Attribute bit: the batch is a control batch (a marker).
pub const CONTROL: i16 = 0x20;
/// Control record type of an abort marker.
const ABORT: i16 = 0;
/// Control record type of a commit marker.
const COMMIT: i16 = 1;

/// A transaction that ended aborted: readers in `read_committed` drop its
/// producer's records from `first_offset` up to `last_offset` (the marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// Its producer.
    pub producer_id: i64,
    /// The offset of its first batch in this partition.
    pub first_offset: u64,
    /// The offset of its abort marker.
    pub last_offset: u64,
}

/// Open and aborted transactions of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transactions {
    /// Open transactions: producer id to the offset of their first batch here.
    ongoing: BTreeMap<i64, u64>,
    /// Aborted transactions, by marker offset.
    aborted: Vec<AbortedTxn>,
}

impl Transactions {
    /// Notes a transactional batch of `producer_id` at `base_offset`: it opens a
    /// transaction here unless one is open.
    pub fn data(&mut self, producer_id: i64, base_offset: u64) {
        self.ongoing.entry(producer_id).or_insert(base_offset);
    }

    /// Notes a marker of `producer_id` at `offset`: its open transaction ends (a
    /// marker with none open, a retried EndTxn, changes nothing).
    pub fn ended(&mut self, producer_id: i64, commit: bool, offset: u64) {
        let Some(first_offset) = self.ongoing.remove(&producer_id) else { return };
        if !commit {
            self.aborted.push(AbortedTxn { producer_id, first_offset, last_offset: offset });
        }
    }

    /// The first offset of the oldest open transaction, if one is open.
    pub fn first_unstable(&self) -> Option<u64> {
        self.ongoing.values().min().copied()
    }

    /// Open transactions: producer id and first offset.
    pub fn ongoing(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.ongoing.iter().map(|(&p, &o)| (p, o))
    }

    /// Aborted transactions, oldest marker first.
    pub fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }

    /// The aborted transactions with records in `from..to`.
    pub fn aborted_in(&self, from: u64, to: u64) -> Vec<AbortedTxn> {
        let each = self.aborted.iter().filter(|a| a.last_offset >= from && a.first_offset < to);
        each.copied().collect()
    }

    /// Puts back what a snapshot held.
    pub fn restore(&mut self, ongoing: BTreeMap<i64, u64>, aborted: Vec<AbortedTxn>) {
        self.ongoing = ongoing;
        self.aborted = aborted;
    }

    /// Forgets aborted transactions wholly below `log_start_offset`.
    pub fn forget_before(&mut self, log_start_offset: u64) {
        self.aborted.retain(|a| a.last_offset >= log_start_offset);
    }
}

/// A marker batch of `producer_id` at `epoch` (its offset is assigned on append).
pub fn marker(
    producer_id: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    now: i64,
) -> Bytes {
    let mut record = BytesMut::new();
    let key = [0i16.to_be_bytes(), if commit { COMMIT } else { ABORT }.to_be_bytes()].concat();
    let value = [&0i16.to_be_bytes()[..], &coordinator_epoch.to_be_bytes()].concat();
    record.put_i8(0); // attributes
    record.put_u8(0); // timestampDelta 0 (varint)
    record.put_u8(0); // offsetDelta 0 (varint)
    record.put_u8((key.len() as u8) << 1); // zigzag varint length
    record.put_slice(&key);
    record.put_u8((value.len() as u8) << 1);
    record.put_slice(&value);
    record.put_u8(0); // no headers
    let mut out = BytesMut::with_capacity(HEADER_LEN + 1 + record.len());
    out.put_i64(0);
    out.put_i32(0); // batchLength, below
    out.put_i32(-1);
    out.put_i8(MAGIC_V2);
    out.put_u32(0); // crc, below
    out.put_i16(TRANSACTIONAL | CONTROL);
    out.put_i32(0); // lastOffsetDelta
    out.put_i64(now);
    out.put_i64(now);
    out.put_i64(producer_id);
    out.put_i16(epoch);
    out.put_i32(-1); // baseSequence: markers take no sequence
    out.put_i32(1);
    out.put_u8((record.len() as u8) << 1);
    out.put_slice(&record);
    let len = (out.len() - LOG_OVERHEAD) as i32;
    out[8..12].copy_from_slice(&len.to_be_bytes());
    batch::write_crc(&mut out);
    out.freeze()
}

/// Whether a control batch is a commit (Some(true)) or an abort (Some(false));
/// None for anything else (not a control batch, a control record of another type,
/// or too short to say).
pub fn marker_kind(bytes: &[u8]) -> Option<bool> {
    let header = BatchHeader::parse(bytes).ok()?;
    if !header.is_control() {
        return None;
    }
    // length varint, attributes, timestampDelta, offsetDelta, key length: one byte
    // each for a marker, then the key's version and type.
    let record = bytes.get(HEADER_LEN..)?;
    let key = record.get(5..9)?;
    match i16::from_be_bytes([key[2], key[3]]) {
        COMMIT => Some(true),
        ABORT => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::decode_batch;

    #[test]
    fn markers_are_valid_control_batches_that_say_what_they_end() {
        for commit in [true, false] {
            let bytes = marker(7, 3, commit, 5, 1_000);
            let header = batch::validate(&bytes).expect("a valid batch");
            assert!(header.is_control() && header.is_transactional());
            assert_eq!((header.producer_id(), header.producer_epoch()), (7, 3));
            assert_eq!((header.base_sequence(), header.records_count()), (-1, 1));
            let record = &decode_batch(&bytes).unwrap()[0];
            let kind = if commit { 1u8 } else { 0 };
            assert_eq!(record.key.as_deref(), Some(&[0, 0, 0, kind][..]));
            assert_eq!(record.value.as_deref(), Some(&[0, 0, 0, 0, 0, 5][..]));
            assert_eq!(marker_kind(&bytes), Some(commit));
        }
        let mut plain = crate::log::record::BatchBuilder::new(0, Default::default());
        plain.push(1, Some(b"k"), Some(b"v"), &[]);
        assert_eq!(marker_kind(&plain.build().unwrap()), None);
    }

    #[test]
    fn open_transactions_hold_the_stable_offset_and_aborts_are_remembered() {
        let mut t = Transactions::default();
        assert_eq!(t.first_unstable(), None);
        t.data(1, 10);
        t.data(2, 12);
        t.data(1, 14); // still the transaction that began at 10
        assert_eq!(t.first_unstable(), Some(10));
        t.ended(1, true, 15);
        assert_eq!(t.first_unstable(), Some(12));
        t.ended(2, false, 16);
        t.ended(2, false, 17); // a retried marker
        assert_eq!(t.first_unstable(), None);
        let aborted = AbortedTxn { producer_id: 2, first_offset: 12, last_offset: 16 };
        assert_eq!(t.aborted(), [aborted]);
        assert_eq!(t.aborted_in(0, 12), []);
        assert_eq!(t.aborted_in(0, 13), [aborted]);
        assert_eq!(t.aborted_in(16, 100), [aborted]);
        assert_eq!(t.aborted_in(17, 100), []);
        t.forget_before(17);
        assert!(t.aborted().is_empty());
    }
}
