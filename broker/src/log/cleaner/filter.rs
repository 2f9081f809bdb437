//! One batch through the cleaner: which of its records stay, and the batch that
//! holds just those.
//!
//! As in Kafka, a batch keeps its baseOffset, lastOffsetDelta, timestamps,
//! producer fields and codec; only its records section, recordsCount, length and
//! CRC change. Kept records are copied as they were encoded, so their offset and
//! timestamp deltas still hold. A batch whose every record goes is dropped.

use bytes::{Bytes, BytesMut};

use crate::log::batch::{self, BatchHeader, HEADER_LEN};
use crate::log::record::{self, Compression, RecordError};

/// What the cleaner makes of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Filtered {
    /// Every record stays: the batch is copied unchanged.
    Kept,
    /// Some records stay, in this new batch.
    Rewritten(Bytes),
    /// No record stays.
    Removed,
}

/// What the cleaner asks of each record: its offset, its key, whether it is a
/// tombstone; true keeps it.
pub type Keep<'a> = dyn FnMut(u64, Option<&[u8]>, bool) -> bool + 'a;

/// Filters the records of one batch (CRC already checked) with `keep`. Control
/// batches (transaction markers) are kept whole. Returns the outcome and the
/// number of records removed.
pub fn filter_batch(bytes: &[u8], keep: &mut Keep<'_>) -> Result<(Filtered, usize), RecordError> {
    let header = BatchHeader::parse(bytes)?;
    if header.is_control() {
        return Ok((Filtered::Kept, 0));
    }
    let codec = Compression::from_id(header.compression())?;
    let section = &bytes[HEADER_LEN..];
    let decompressed = record::decompress(codec, section)?;
    let records = record::raw_records(decompressed.as_deref().unwrap_or(section))?;
    let base = header.base_offset();
    let kept: Vec<_> = records
        .iter()
        .filter(|r| {
            let offset = base.wrapping_add(r.offset_delta.into()) as u64;
            keep(offset, r.key, r.tombstone)
        })
        .collect();
    let removed = records.len() - kept.len();
    if removed == 0 {
        return Ok((Filtered::Kept, 0));
    }
    if kept.is_empty() {
        return Ok((Filtered::Removed, removed));
    }
    let plain: Vec<u8> = kept.iter().flat_map(|r| r.bytes.iter().copied()).collect();
    let mut out = BytesMut::with_capacity(HEADER_LEN + plain.len());
    out.extend_from_slice(&bytes[..HEADER_LEN]);
    record::compress(codec, &plain, &mut out)?;
    batch::rewrite_count(&mut out, kept.len() as i32);
    Ok((Filtered::Rewritten(out.freeze()), removed))
}

/// The indexes of the records without a key in a batch: a compacted topic
/// refuses a batch with any (Kafka: INVALID_RECORD), as its cleaner could never
/// drop them.
pub fn keyless_records(bytes: &[u8]) -> Result<Vec<usize>, RecordError> {
    let header = BatchHeader::parse(bytes)?;
    if header.is_control() {
        return Ok(Vec::new());
    }
    let codec = Compression::from_id(header.compression())?;
    let section = &bytes[HEADER_LEN..];
    let decompressed = record::decompress(codec, section)?;
    let records = record::raw_records(decompressed.as_deref().unwrap_or(section))?;
    Ok(records.iter().enumerate().filter(|(_, r)| r.key.is_none()).map(|(i, _)| i).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::{BatchBuilder, decode_batch};

    fn batch(codec: Compression) -> Bytes {
        let mut b = BatchBuilder::new(100, codec).producer(7, 1, 40);
        b.push(1_000, Some(b"a"), Some(b"1"), &[]);
        b.push(1_005, Some(b"b"), Some(b"2"), &[]);
        b.push(1_002, Some(b"a"), None, &[]);
        b.push(1_009, None, Some(b"3"), &[]);
        b.build().unwrap()
    }

    #[test]
    fn kept_records_keep_their_offsets_timestamps_and_the_batch_its_fields() {
        for codec in [Compression::None, Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let original = batch(codec);
            let mut seen = Vec::new();
            let mut keep = |offset, key: Option<&[u8]>, tombstone| {
                seen.push((offset, key.map(<[u8]>::to_vec), tombstone));
                offset != 100 && offset != 102
            };
            let (filtered, removed) = filter_batch(&original, &mut keep).unwrap();
            assert_eq!(removed, 2);
            assert_eq!(
                seen,
                vec![
                    (100, Some(b"a".to_vec()), false),
                    (101, Some(b"b".to_vec()), false),
                    (102, Some(b"a".to_vec()), true),
                    (103, None, false),
                ]
            );
            let Filtered::Rewritten(cleaned) = filtered else { panic!("{filtered:?}") };
            let header = batch::validate(&cleaned).expect("a valid batch with a good CRC");
            let before = BatchHeader::parse(&original).unwrap();
            assert_eq!(header.records_count(), 2);
            assert_eq!(header.base_offset(), 100);
            assert_eq!(header.last_offset(), before.last_offset());
            assert_eq!(header.max_timestamp(), before.max_timestamp());
            assert_eq!(header.compression(), codec.id());
            assert_eq!(
                (header.producer_id(), header.producer_epoch(), header.base_sequence()),
                (7, 1, 40)
            );
            let records = decode_batch(&cleaned).unwrap();
            let got: Vec<_> = records.iter().map(|r| (r.offset, r.timestamp)).collect();
            assert_eq!(got, vec![(101, 1_005), (103, 1_009)]);
            assert_eq!(records[1].key, None);
        }
    }

    #[test]
    fn keyless_records_are_found_compressed_or_not() {
        assert_eq!(keyless_records(&batch(Compression::Gzip)).unwrap(), [3]);
        let mut b = BatchBuilder::new(0, Compression::None);
        b.push(1, Some(b""), None, &[]).push(2, None, None, &[]).push(3, None, Some(b"v"), &[]);
        assert_eq!(keyless_records(&b.build().unwrap()).unwrap(), [1, 2]);
    }

    #[test]
    fn all_kept_is_unchanged_and_none_kept_is_removed() {
        let original = batch(Compression::Snappy);
        assert_eq!(filter_batch(&original, &mut |_, _, _| true).unwrap(), (Filtered::Kept, 0));
        assert_eq!(filter_batch(&original, &mut |_, _, _| false).unwrap(), (Filtered::Removed, 4));
    }

    #[test]
    fn a_damaged_records_section_is_an_error_not_a_guess() {
        let mut bytes = batch(Compression::None).to_vec();
        bytes[HEADER_LEN] = 0x7f; // the first record's length now runs past the end
        assert!(filter_batch(&bytes, &mut |_, _, _| true).is_err());
    }
}
