//! Kafka RecordBatch v2: a zero-copy view over the 61-byte header.
//!
//! Weir stores batches exactly as producers send them and serves them back the same
//! way, so the broker reads only this header: it never decodes records on the hot
//! path. The layout (big-endian):
//!
//! | offset | size | field                | covered by CRC |
//! |-------:|-----:|----------------------|:--------------:|
//! |      0 |    8 | baseOffset           | no             |
//! |      8 |    4 | batchLength (= size - 12) | no        |
//! |     12 |    4 | partitionLeaderEpoch | no             |
//! |     16 |    1 | magic (= 2)          | no             |
//! |     17 |    4 | crc (CRC-32C)        | no             |
//! |     21 |    2 | attributes           | yes            |
//! |     23 |    4 | lastOffsetDelta      | yes            |
//! |     27 |    8 | baseTimestamp        | yes            |
//! |     35 |    8 | maxTimestamp         | yes            |
//! |     43 |    8 | producerId           | yes            |
//! |     51 |    2 | producerEpoch        | yes            |
//! |     53 |    4 | baseSequence         | yes            |
//! |     57 |    4 | recordsCount         | yes            |
//! |     61 |    … | records              | yes            |
//!
//! Attributes: bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
//! bit 3 LogAppendTime, bit 4 transactional, bit 5 control batch.

use thiserror::Error;

/// Size of the fixed RecordBatch v2 header.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batchLength` counts: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD: usize = 12;
/// The only record format Weir accepts.
pub const MAGIC_V2: i8 = 2;

const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORDS_COUNT: usize = 57;

/// Why bytes are not a valid RecordBatch v2.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than a header, or than the header's batchLength promises.
    #[error("batch is truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    /// A record format other than v2 (Kafka 0.11+).
    #[error("unsupported record batch magic {0}: only v2 is accepted")]
    BadMagic(i8),
    /// batchLength smaller than a header.
    #[error("batch length {0} is smaller than the 49 bytes a v2 header needs")]
    BadLength(i32),
    /// The stored CRC does not match the bytes.
    #[error("batch CRC mismatch: header says {stored:#010x}, bytes give {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    /// recordsCount and lastOffsetDelta disagree, or the batch is empty.
    #[error("batch claims {count} records with last offset delta {last_offset_delta}")]
    BadRecordCount { count: i32, last_offset_delta: i32 },
}

/// A view over a RecordBatch v2 header. `B` is `&[u8]` for a zero-copy view into a
/// buffer (which may extend past the header), or `[u8; HEADER_LEN]` for a copy that
/// outlives the buffer it was read from.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader<B> {
    /// At least `HEADER_LEN` bytes, starting at baseOffset.
    bytes: B,
}

impl<'a> BatchHeader<&'a [u8]> {
    /// Reads a header at the start of `bytes`, checking only what the header itself
    /// can tell: length, magic and batchLength. The records need not be present.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BatchError> {
        if bytes.len() < HEADER_LEN {
            return Err(BatchError::Truncated { needed: HEADER_LEN, available: bytes.len() });
        }
        let header = BatchHeader { bytes };
        header.check_shape()?;
        Ok(header)
    }

    /// Copies the header out so it can outlive `bytes`.
    pub fn to_owned(&self) -> BatchHeader<[u8; HEADER_LEN]> {
        let mut copy = [0u8; HEADER_LEN];
        copy.copy_from_slice(&self.bytes[..HEADER_LEN]);
        BatchHeader { bytes: copy }
    }
}

impl BatchHeader<[u8; HEADER_LEN]> {
    /// Sets the base offset of this copy, as the batch will be stored.
    pub fn set_base_offset(&mut self, base_offset: i64) {
        set_base_offset(&mut self.bytes, base_offset);
    }
}

impl<B: AsRef<[u8]>> BatchHeader<B> {
    fn b(&self) -> &[u8] {
        self.bytes.as_ref()
    }
    fn i16_at(&self, at: usize) -> i16 {
        i16::from_be_bytes([self.b()[at], self.b()[at + 1]])
    }
    fn i32_at(&self, at: usize) -> i32 {
        let b = self.b();
        i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    fn i64_at(&self, at: usize) -> i64 {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.b()[at..at + 8]);
        i64::from_be_bytes(word)
    }

    fn check_shape(&self) -> Result<(), BatchError> {
        if self.magic() != MAGIC_V2 {
            return Err(BatchError::BadMagic(self.magic()));
        }
        if (self.batch_length() as i64) < (HEADER_LEN - LOG_OVERHEAD) as i64 {
            return Err(BatchError::BadLength(self.batch_length()));
        }
        Ok(())
    }

    pub fn base_offset(&self) -> i64 {
        self.i64_at(BASE_OFFSET)
    }
    /// The batch's size on disk minus `LOG_OVERHEAD`.
    pub fn batch_length(&self) -> i32 {
        self.i32_at(BATCH_LENGTH)
    }
    /// The whole batch's size in bytes, header included.
    pub fn total_len(&self) -> usize {
        self.batch_length() as usize + LOG_OVERHEAD
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        self.i32_at(PARTITION_LEADER_EPOCH)
    }
    pub fn magic(&self) -> i8 {
        self.b()[MAGIC] as i8
    }
    pub fn crc(&self) -> u32 {
        self.i32_at(CRC) as u32
    }
    pub fn attributes(&self) -> i16 {
        self.i16_at(ATTRIBUTES)
    }
    /// Compression codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes() & 0x07) as u8
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & 0x08 != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & 0x10 != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & 0x20 != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        self.i32_at(LAST_OFFSET_DELTA)
    }
    /// The offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + self.last_offset_delta() as i64
    }
    pub fn base_timestamp(&self) -> i64 {
        self.i64_at(BASE_TIMESTAMP)
    }
    pub fn max_timestamp(&self) -> i64 {
        self.i64_at(MAX_TIMESTAMP)
    }
    pub fn producer_id(&self) -> i64 {
        self.i64_at(PRODUCER_ID)
    }
    pub fn producer_epoch(&self) -> i16 {
        self.i16_at(PRODUCER_EPOCH)
    }
    pub fn base_sequence(&self) -> i32 {
        self.i32_at(BASE_SEQUENCE)
    }
    pub fn records_count(&self) -> i32 {
        self.i32_at(RECORDS_COUNT)
    }
}

/// Checks that `bytes` is exactly one well-formed batch as a producer sends it:
/// `validate`'s checks, and a record count that matches the offset span.
pub fn validate_produced(bytes: &[u8]) -> Result<BatchHeader<&[u8]>, BatchError> {
    let header = validate(bytes)?;
    let (count, delta) = (header.records_count(), header.last_offset_delta());
    if count as i64 != delta as i64 + 1 {
        return Err(BatchError::BadRecordCount { count, last_offset_delta: delta });
    }
    Ok(header)
}

/// Checks that `bytes` is exactly one well-formed batch: shape, CRC-32C over
/// attributes..end, and a record count within the offset span (a compacted batch
/// keeps its span with fewer records). Records are not decoded.
pub fn validate(bytes: &[u8]) -> Result<BatchHeader<&[u8]>, BatchError> {
    let header = BatchHeader::parse(bytes)?;
    if bytes.len() != header.total_len() {
        return Err(BatchError::Truncated { needed: header.total_len(), available: bytes.len() });
    }
    let computed = crc32c::crc32c(&bytes[ATTRIBUTES..]);
    if computed != header.crc() {
        return Err(BatchError::CrcMismatch { stored: header.crc(), computed });
    }
    let (count, delta) = (header.records_count(), header.last_offset_delta());
    if count <= 0 || delta < 0 || count as i64 > delta as i64 + 1 {
        return Err(BatchError::BadRecordCount { count, last_offset_delta: delta });
    }
    Ok(header)
}

/// Computes the CRC-32C a batch should carry and writes it into the header.
pub fn write_crc(bytes: &mut [u8]) {
    let crc = crc32c::crc32c(&bytes[ATTRIBUTES..]);
    bytes[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Sets a batch's attributes, maxTimestamp and batchLength (from `bytes`' length)
/// and writes its CRC: the header of a batch whose records or timestamps the
/// broker changed (`conform`).
pub fn rewrite_header(bytes: &mut [u8], attributes: i16, max_timestamp: i64) {
    let batch_length = (bytes.len() - LOG_OVERHEAD) as i32;
    bytes[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&batch_length.to_be_bytes());
    bytes[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    bytes[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    write_crc(bytes);
}

/// Sets a batch's recordsCount and batchLength (from `bytes`' length) and writes
/// its CRC: the header of a batch the log cleaner left fewer records in. Its
/// offsets, timestamps and producer fields stay as they were.
pub fn rewrite_count(bytes: &mut [u8], records_count: i32) {
    let batch_length = (bytes.len() - LOG_OVERHEAD) as i32;
    bytes[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&batch_length.to_be_bytes());
    bytes[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&records_count.to_be_bytes());
    write_crc(bytes);
}

/// Assigns a batch its offsets: baseOffset is outside the CRC, so this is a patch in
/// place that leaves the checksum valid.
pub fn set_base_offset(bytes: &mut [u8], base_offset: i64) {
    bytes[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Splits a buffer of concatenated batches (a Produce request's records, a fetched
/// log slice) into whole batches, checking each header's shape but not its CRC.
pub fn split(mut bytes: &[u8]) -> impl Iterator<Item = Result<&[u8], BatchError>> {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        let len = match BatchHeader::parse(bytes) {
            Ok(header) if header.total_len() <= bytes.len() => header.total_len(),
            Ok(header) => {
                let needed = header.total_len();
                let available = bytes.len();
                bytes = &[];
                return Some(Err(BatchError::Truncated { needed, available }));
            }
            Err(e) => {
                bytes = &[];
                return Some(Err(e));
            }
        };
        let (batch, rest) = bytes.split_at(len);
        bytes = rest;
        Some(Ok(batch))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-built one-record batch: a record with no key, value "hi", no headers.
    fn one_record_batch() -> Vec<u8> {
        let record: &[u8] = &[
            0x10, // length 8 (zigzag)
            0x00, // attributes
            0x00, // timestamp delta 0
            0x00, // offset delta 0
            0x01, // key length -1
            0x04, b'h', b'i', // value length 2, "hi"
            0x00, // no headers
        ];
        let mut b = Vec::new();
        b.extend_from_slice(&7i64.to_be_bytes()); // base offset
        b.extend_from_slice(&0i32.to_be_bytes()); // length, patched below
        b.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch
        b.push(2); // magic
        b.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
        b.extend_from_slice(&0i16.to_be_bytes()); // attributes
        b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
        b.extend_from_slice(&1_000i64.to_be_bytes()); // base timestamp
        b.extend_from_slice(&1_005i64.to_be_bytes()); // max timestamp
        b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        b.extend_from_slice(&1i32.to_be_bytes()); // records count
        b.extend_from_slice(record);
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        write_crc(&mut b);
        b
    }

    #[test]
    fn header_fields_read_from_their_offsets() {
        let bytes = one_record_batch();
        let h = validate(&bytes).unwrap();
        assert_eq!(h.base_offset(), 7);
        assert_eq!(h.total_len(), bytes.len());
        assert_eq!(h.partition_leader_epoch(), -1);
        assert_eq!(h.magic(), 2);
        assert_eq!(h.compression(), 0);
        assert!(!h.is_transactional() && !h.is_control() && !h.is_log_append_time());
        assert_eq!(h.last_offset(), 7);
        assert_eq!(h.base_timestamp(), 1_000);
        assert_eq!(h.max_timestamp(), 1_005);
        assert_eq!(h.producer_id(), -1);
        assert_eq!(h.producer_epoch(), -1);
        assert_eq!(h.base_sequence(), -1);
        assert_eq!(h.records_count(), 1);
        assert_eq!(h.to_owned().crc(), h.crc());
    }

    #[test]
    fn patching_base_offset_keeps_crc_valid() {
        let mut bytes = one_record_batch();
        set_base_offset(&mut bytes, 1 << 40);
        let h = validate(&bytes).unwrap();
        assert_eq!(h.base_offset(), 1 << 40);
    }

    #[test]
    fn flipped_byte_in_records_fails_crc() {
        let mut bytes = one_record_batch();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x40;
        assert!(matches!(validate(&bytes), Err(BatchError::CrcMismatch { .. })));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let bytes = one_record_batch();
        assert!(matches!(
            validate(&bytes[..30]),
            Err(BatchError::Truncated { needed: 61, available: 30 })
        ));
        assert!(matches!(validate(&bytes[..bytes.len() - 1]), Err(BatchError::Truncated { .. })));

        let mut v1 = bytes.clone();
        v1[MAGIC] = 1;
        assert_eq!(validate(&v1).unwrap_err(), BatchError::BadMagic(1));

        let mut short = bytes.clone();
        short[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(validate(&short).unwrap_err(), BatchError::BadLength(10));

        let mut negative = bytes.clone();
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(validate(&negative).unwrap_err(), BatchError::BadLength(-5));

        let mut count = bytes.clone();
        count[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&3i32.to_be_bytes());
        write_crc(&mut count);
        assert!(matches!(validate(&count), Err(BatchError::BadRecordCount { count: 3, .. })));

        // Fewer records than the span: a compacted batch in the log, never a
        // producer's.
        let mut span = bytes.clone();
        span[LAST_OFFSET_DELTA..LAST_OFFSET_DELTA + 4].copy_from_slice(&4i32.to_be_bytes());
        write_crc(&mut span);
        assert!(validate(&span).is_ok());
        let refused = validate_produced(&span);
        assert!(matches!(
            refused,
            Err(BatchError::BadRecordCount { count: 1, last_offset_delta: 4 })
        ));
    }

    #[test]
    fn split_yields_whole_batches_then_reports_a_torn_tail() {
        let one = one_record_batch();
        let mut buf = one.repeat(3);
        assert_eq!(split(&buf).filter(|b| b.is_ok()).count(), 3);
        buf.truncate(buf.len() - 4);
        let parts: Vec<_> = split(&buf).collect();
        assert_eq!(parts.len(), 3);
        assert!(parts[0].is_ok() && parts[1].is_ok());
        assert!(matches!(parts[2], Err(BatchError::Truncated { .. })));
    }
}
