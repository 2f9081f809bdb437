//! Encoding and decoding the records inside a RecordBatch v2.
//!
//! The broker never decodes records: it stores and serves batches as produced (see
//! `batch`). This module is for the places that do need them (tests, the HTTP API,
//! the Wasm runtime). It writes its own record codec rather than using
//! `kafka-protocol`'s, whose `Record` keeps headers in a map and so collapses
//! duplicate header keys; it does use that crate's compression codecs. Each record
//! in the records section (after the 61-byte header, compressed as a whole when the
//! batch's codec says so) is laid out as:
//!
//! | field          | encoding                                   |
//! |----------------|--------------------------------------------|
//! | length         | zigzag varint: bytes after this field      |
//! | attributes     | i8, unused (0)                             |
//! | timestampDelta | zigzag varlong, from the batch's baseTimestamp |
//! | offsetDelta    | zigzag varint, from the batch's baseOffset |
//! | key            | zigzag varint length (-1 = null) + bytes   |
//! | value          | zigzag varint length (-1 = null) + bytes   |
//! | header count   | zigzag varint                              |
//! | headers        | key: varint length + UTF-8; value: varint length (-1 = null) + bytes |
//!
//! Decoding checks every length against the bytes actually present, so hostile
//! input yields a `RecordError`, never a panic.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{self as codec, Compressor, Decompressor};
use thiserror::Error;

use super::batch::{self, BatchError, BatchHeader, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2};
use super::producers::txn::TRANSACTIONAL;

/// One record header. Order and duplicate keys are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's name. Invalid UTF-8 is decoded lossily, as Kafka's Java client does.
    pub key: String,
    /// The header's value; `None` is Kafka's null, distinct from empty.
    pub value: Option<Bytes>,
}

/// One decoded record, with its offset and timestamp made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// baseOffset + offsetDelta.
    pub offset: i64,
    /// baseTimestamp + timestampDelta, or the batch's maxTimestamp under LogAppendTime.
    pub timestamp: i64,
    /// The record key; `None` is Kafka's null, distinct from empty.
    pub key: Option<Bytes>,
    /// The record value; `None` is a tombstone, distinct from empty.
    pub value: Option<Bytes>,
    /// Headers in wire order, duplicates included.
    pub headers: Vec<Header>,
}

/// A batch's compression codec: bits 0-2 of its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Records stored as is.
    #[default]
    None = 0,
    /// gzip (RFC 1952).
    Gzip = 1,
    /// Snappy, in the xerial framing Kafka's Java client writes.
    Snappy = 2,
    /// LZ4 frame format.
    Lz4 = 3,
    /// Zstandard.
    Zstd = 4,
}

impl Compression {
    /// The codec with attribute id `id`.
    pub fn from_id(id: u8) -> Result<Self, RecordError> {
        Ok(match id {
            0 => Self::None,
            1 => Self::Gzip,
            2 => Self::Snappy,
            3 => Self::Lz4,
            4 => Self::Zstd,
            _ => return Err(RecordError::UnknownCompression(id)),
        })
    }

    /// The id this codec has in a batch's attributes.
    pub fn id(self) -> u8 {
        self as u8
    }
}

/// Why records could not be encoded or decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    /// The batch header or CRC is wrong; records were not looked at.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A record ends before one of its fields does.
    #[error("record {index} is truncated in its {field}")]
    Truncated { index: usize, field: &'static str },
    /// A record field holds an impossible value.
    #[error("record {index} has a malformed {field}: {reason}")]
    Malformed { index: usize, field: &'static str, reason: &'static str },
    /// Compression bits 5-7, which no Kafka version defines.
    #[error("unknown compression id {0}")]
    UnknownCompression(u8),
    /// The codec rejected the records section.
    #[error("{codec:?} decompression failed: {message}")]
    Decompress { codec: Compression, message: String },
    /// The codec failed while compressing (should not happen with in-memory buffers).
    #[error("{codec:?} compression failed: {message}")]
    Compress { codec: Compression, message: String },
    /// The records ran out before the header's recordsCount was reached.
    #[error("batch header says {expected} records, found {found}")]
    CountMismatch { expected: i32, found: usize },
    /// Bytes left over after the header's recordsCount records.
    #[error("{0} trailing bytes after the last record")]
    TrailingBytes(usize),
    /// A batch needs at least one record.
    #[error("cannot build a batch with no records")]
    Empty,
    /// The records do not fit a batch's i32 length.
    #[error("records section of {0} bytes is too large for one batch")]
    TooLarge(usize),
}

/// Accumulates records and encodes them as one RecordBatch v2. Offset deltas are the
/// push order; baseTimestamp is the first record's timestamp.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    /// Written to baseOffset; the broker patches it on append anyway.
    base_offset: i64,
    /// Codec applied to the records section in `build`.
    compression: Compression,
    /// Idempotent producer id, epoch and first sequence number; all -1 when none.
    producer: (i64, i16, i32),
    /// Part of a transaction (attributes bit 4).
    transactional: bool,
    /// The uncompressed records section, encoded as records are pushed.
    records: BytesMut,
    /// Records pushed so far.
    count: usize,
    /// The first record's timestamp, from which deltas are taken.
    base_timestamp: i64,
    /// The largest timestamp pushed.
    max_timestamp: i64,
}

impl BatchBuilder {
    /// An empty batch that will start at `base_offset`, with no producer id.
    pub fn new(base_offset: i64, compression: Compression) -> Self {
        BatchBuilder {
            base_offset,
            compression,
            producer: (-1, -1, -1),
            transactional: false,
            records: BytesMut::new(),
            count: 0,
            base_timestamp: 0,
            max_timestamp: i64::MIN,
        }
    }

    /// Marks the batch as sent by an idempotent producer.
    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer = (id, epoch, base_sequence);
        self
    }

    /// Marks the batch as part of its producer's transaction.
    pub fn transactional(mut self) -> Self {
        self.transactional = true;
        self
    }

    /// Appends a record; its offset delta is the number of records pushed before it.
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> &mut Self {
        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let mut body = BytesMut::new();
        body.put_i8(0);
        put_varlong(&mut body, timestamp.wrapping_sub(self.base_timestamp));
        put_varlong(&mut body, self.count as i64);
        put_nullable(&mut body, key);
        put_nullable(&mut body, value);
        put_varlong(&mut body, headers.len() as i64);
        for header in headers {
            put_nullable(&mut body, Some(header.key.as_bytes()));
            put_nullable(&mut body, header.value.as_deref());
        }
        put_varlong(&mut self.records, body.len() as i64);
        self.records.put_slice(&body);
        self.count += 1;
        self
    }

    /// Encodes the batch: header, (compressed) records, batchLength and CRC-32C.
    pub fn build(self) -> Result<Bytes, RecordError> {
        if self.count == 0 {
            return Err(RecordError::Empty);
        }
        // Every length and count pushed is at most the section's size, so this one
        // check also keeps each of them within an i32.
        let limit = i32::MAX as usize - (HEADER_LEN - LOG_OVERHEAD);
        if self.records.len() > limit {
            return Err(RecordError::TooLarge(self.records.len()));
        }
        let count = self.count as i32;
        let mut out = BytesMut::with_capacity(HEADER_LEN + self.records.len());
        out.put_i64(self.base_offset);
        out.put_i32(0); // batchLength, patched below
        out.put_i32(-1); // partitionLeaderEpoch
        out.put_i8(MAGIC_V2);
        out.put_u32(0); // crc, written last
        let transactional = if self.transactional { TRANSACTIONAL } else { 0 };
        out.put_i16(i16::from(self.compression.id()) | transactional);
        out.put_i32(count - 1);
        out.put_i64(self.base_timestamp);
        out.put_i64(self.max_timestamp);
        out.put_i64(self.producer.0);
        out.put_i16(self.producer.1);
        out.put_i32(self.producer.2);
        out.put_i32(count);
        compress(self.compression, &self.records, &mut out)?;
        let batch_length = out.len() - LOG_OVERHEAD;
        let batch_length =
            i32::try_from(batch_length).map_err(|_| RecordError::TooLarge(batch_length))?;
        out[8..12].copy_from_slice(&batch_length.to_be_bytes());
        batch::write_crc(&mut out);
        Ok(out.freeze())
    }
}

/// Validates one batch (shape, CRC, counts), decompresses it and decodes its records.
pub fn decode_batch(batch: &[u8]) -> Result<Vec<Record>, RecordError> {
    let header = batch::validate(batch)?;
    decode_records(&header, batch)
}

/// Decodes the records of one batch whose CRC and record count were already
/// checked (by the log reader), without checking them again.
pub(crate) fn decode_checked(batch: &[u8]) -> Result<Vec<Record>, RecordError> {
    let header = BatchHeader::parse(batch)?;
    decode_records(&header, batch)
}

/// Decodes concatenated batches (a fetched log slice), skipping control batches
/// (transaction markers). A torn batch at the end is an error.
pub fn decode_batches(bytes: &[u8]) -> Result<Vec<Record>, RecordError> {
    let mut records = Vec::new();
    for batch in batch::split(bytes) {
        let batch = batch?;
        let header = batch::validate(batch)?;
        if !header.is_control() {
            records.extend(decode_records(&header, batch)?);
        }
    }
    Ok(records)
}

/// Decodes the records of a batch that `batch::validate` accepted (the caller may
/// have checked it long before).
fn decode_records(header: &BatchHeader<&[u8]>, batch: &[u8]) -> Result<Vec<Record>, RecordError> {
    let codec = Compression::from_id(header.compression())?;
    let section = &batch[HEADER_LEN..];
    let decompressed = decompress(codec, section)?;
    let mut reader = Reader { bytes: decompressed.as_deref().unwrap_or(section), index: 0 };
    let expected = header.records_count();
    // validate() guarantees expected > 0; each record takes at least 7 bytes.
    let mut records = Vec::with_capacity((expected as usize).min(reader.bytes.len() / 7));
    while records.len() < expected as usize && !reader.bytes.is_empty() {
        reader.index = records.len();
        let length = reader.length("length")?.ok_or(reader.malformed("length", "is -1"))?;
        let mut body = Reader { bytes: reader.take(length, "length")?, index: records.len() };
        records.push(body.record(header)?);
    }
    if records.len() < expected as usize {
        return Err(RecordError::CountMismatch { expected, found: records.len() });
    }
    if !reader.bytes.is_empty() {
        return Err(RecordError::TrailingBytes(reader.bytes.len()));
    }
    Ok(records)
}

/// One record of a batch as stored, for the log cleaner: its encoded bytes (length
/// prefix included, so kept records are copied as they are) and what compaction
/// decides on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord<'a> {
    /// The record's bytes in the records section, its length varint first.
    pub bytes: &'a [u8],
    /// Its offset relative to the batch's baseOffset.
    pub offset_delta: i32,
    /// Its key; `None` is Kafka's null.
    pub key: Option<&'a [u8]>,
    /// True when its value is null (a tombstone).
    pub tombstone: bool,
}

/// Splits a records section (decompressed) into its records without copying them.
pub(crate) fn raw_records(section: &[u8]) -> Result<Vec<RawRecord<'_>>, RecordError> {
    let mut reader = Reader { bytes: section, index: 0 };
    let mut records = Vec::new();
    while !reader.bytes.is_empty() {
        reader.index = records.len();
        let start = reader.bytes;
        let length = reader.length("length")?.ok_or(reader.malformed("length", "is -1"))?;
        let mut body = Reader { bytes: reader.take(length, "length")?, index: records.len() };
        let bytes = &start[..start.len() - reader.bytes.len()];
        body.byte("attributes")?;
        body.varlong("timestampDelta")?;
        let offset_delta = body.varint("offsetDelta")?;
        let key = match body.length("key")? {
            None => None,
            Some(n) => Some(body.take(n, "key")?),
        };
        let tombstone = body.length("value")?.is_none();
        records.push(RawRecord { bytes, offset_delta, key, tombstone });
    }
    Ok(records)
}

/// A cursor over untrusted bytes that names the record and field when they run out.
struct Reader<'a> {
    /// The bytes not yet read.
    bytes: &'a [u8],
    /// The record being read, for error messages.
    index: usize,
}

impl<'a> Reader<'a> {
    fn malformed(&self, field: &'static str, reason: &'static str) -> RecordError {
        RecordError::Malformed { index: self.index, field, reason }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        if n > self.bytes.len() {
            return Err(RecordError::Truncated { index: self.index, field });
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, RecordError> {
        Ok(self.take(1, field)?[0])
    }

    fn varlong(&mut self, field: &'static str) -> Result<i64, RecordError> {
        let mut zigzag = 0u64;
        for i in 0..10 {
            let byte = self.byte(field)?;
            if i == 9 && byte > 1 {
                return Err(self.malformed(field, "varint overflows 64 bits"));
            }
            zigzag |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64));
            }
        }
        Err(self.malformed(field, "varint longer than 10 bytes"))
    }

    fn varint(&mut self, field: &'static str) -> Result<i32, RecordError> {
        let value = self.varlong(field)?;
        i32::try_from(value).map_err(|_| self.malformed(field, "varint overflows 32 bits"))
    }

    /// A length or count: -1 is `None`, other negatives are malformed.
    fn length(&mut self, field: &'static str) -> Result<Option<usize>, RecordError> {
        match self.varint(field)? {
            -1 => Ok(None),
            n if n < 0 => Err(self.malformed(field, "negative length other than -1")),
            n => Ok(Some(n as usize)),
        }
    }

    fn nullable(&mut self, field: &'static str) -> Result<Option<Bytes>, RecordError> {
        match self.length(field)? {
            None => Ok(None),
            Some(n) => Ok(Some(Bytes::copy_from_slice(self.take(n, field)?))),
        }
    }

    /// Decodes one record body (everything after its length).
    fn record(&mut self, header: &BatchHeader<&[u8]>) -> Result<Record, RecordError> {
        self.byte("attributes")?;
        let timestamp_delta = self.varlong("timestampDelta")?;
        let offset_delta = self.varint("offsetDelta")?;
        let key = self.nullable("key")?;
        let value = self.nullable("value")?;
        let count = self.length("header count")?.ok_or(self.malformed("header count", "is -1"))?;
        // Each header takes at least two bytes, so the loop ends on hostile counts.
        let mut headers = Vec::with_capacity(count.min(self.bytes.len() / 2));
        for _ in 0..count {
            let key =
                self.nullable("header key")?.ok_or(self.malformed("header key", "is null"))?;
            let value = self.nullable("header value")?;
            headers.push(Header { key: String::from_utf8_lossy(&key).into_owned(), value });
        }
        if !self.bytes.is_empty() {
            return Err(self.malformed("length", "extends past the record's last header"));
        }
        let timestamp = if header.is_log_append_time() {
            header.max_timestamp()
        } else {
            header.base_timestamp().wrapping_add(timestamp_delta)
        };
        let offset = header.base_offset().wrapping_add(offset_delta.into());
        Ok(Record { offset, timestamp, key, value, headers })
    }
}

/// Zigzag varlong; a varint's encoding is the same for the same value.
fn put_varlong(out: &mut BytesMut, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.put_u8(zigzag as u8 | 0x80);
        zigzag >>= 7;
    }
    out.put_u8(zigzag as u8);
}

fn put_nullable(out: &mut BytesMut, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varlong(out, -1),
        Some(bytes) => {
            put_varlong(out, bytes.len() as i64);
            out.put_slice(bytes);
        }
    }
}

/// Appends `records` to `out`, compressed with `codec`.
pub(crate) fn compress(
    codec: Compression,
    records: &[u8],
    out: &mut BytesMut,
) -> Result<(), RecordError> {
    let fill = |buf: &mut BytesMut| {
        buf.put_slice(records);
        Ok(())
    };
    let result = match codec {
        Compression::None => {
            out.put_slice(records);
            Ok(())
        }
        Compression::Gzip => codec::Gzip::compress(out, fill),
        Compression::Snappy => codec::Snappy::compress(out, fill),
        Compression::Lz4 => codec::Lz4::compress(out, fill),
        Compression::Zstd => codec::Zstd::compress(out, fill),
    };
    result.map_err(|e| RecordError::Compress { codec, message: format!("{e:#}") })
}

/// The decompressed records section, or `None` when it is stored uncompressed.
pub(crate) fn decompress(
    codec: Compression,
    mut section: &[u8],
) -> Result<Option<Bytes>, RecordError> {
    let take = |buf: &mut Bytes| Ok(std::mem::take(buf));
    let result = match codec {
        Compression::None => return Ok(None),
        Compression::Gzip => codec::Gzip::decompress(&mut section, take),
        Compression::Snappy => codec::Snappy::decompress(&mut section, take),
        Compression::Lz4 => codec::Lz4::decompress(&mut section, take),
        Compression::Zstd => codec::Zstd::decompress(&mut section, take),
    };
    result.map(Some).map_err(|e| RecordError::Decompress { codec, message: format!("{e:#}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(key: &str, value: Option<&'static [u8]>) -> Header {
        Header { key: key.to_owned(), value: value.map(Bytes::from_static) }
    }

    /// Two with the same key, a null value, and an empty key and value.
    fn headers() -> Vec<Header> {
        let a: &[u8] = b"a";
        let pairs = [("trace", Some(a)), ("trace", Some(b"b")), ("gone", None), ("", Some(b""))];
        pairs.into_iter().map(|(key, value)| header(key, value)).collect()
    }

    fn record(offset: i64, ts: i64, key: &'static [u8], value: &'static [u8]) -> Record {
        let (key, value) = (Some(Bytes::from_static(key)), Some(Bytes::from_static(value)));
        Record { offset, timestamp: ts, key, value, headers: vec![] }
    }

    /// Fixes batchLength and the CRC after a test edits a batch, so that the record
    /// decoder, not the CRC check, is what meets the damage.
    fn reseal(b: &mut [u8]) {
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        batch::write_crc(b);
    }

    /// A batch built byte by byte: base offset 7, timestamps 1_000..=1_005, no producer.
    fn raw_batch(attributes: i16, count: i32, records: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&7i64.to_be_bytes()); // base offset
        b.extend_from_slice(&0i32.to_be_bytes()); // batch length, patched by reseal
        b.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch
        b.push(2); // magic
        b.extend_from_slice(&0u32.to_be_bytes()); // crc, patched by reseal
        b.extend_from_slice(&attributes.to_be_bytes());
        b.extend_from_slice(&(count - 1).to_be_bytes()); // last offset delta
        b.extend_from_slice(&1_000i64.to_be_bytes()); // base timestamp
        b.extend_from_slice(&1_005i64.to_be_bytes()); // max timestamp
        b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
        b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
        b.extend_from_slice(&count.to_be_bytes()); // records count
        b.extend_from_slice(records);
        reseal(&mut b);
        b
    }

    /// Key "k", value "hi", timestamp delta +1, one header "h" with a null value.
    const RECORD: [u8; 13] = [
        0x18, // length 12
        0x00, // attributes
        0x02, // timestamp delta 1
        0x00, // offset delta 0
        0x02, b'k', // key length 1, "k"
        0x04, b'h', b'i', // value length 2, "hi"
        0x02, // 1 header
        0x02, b'h', // header key length 1, "h"
        0x01, // header value length -1 (null)
    ];

    fn sample(compression: Compression) -> Bytes {
        let headers = headers();
        let mut builder = BatchBuilder::new(100, compression).producer(42, 3, 9);
        builder
            .push(2_000, Some(b"k1"), Some(b"v1"), &headers)
            .push(1_990, None, Some(b"v2"), &[])
            .push(2_050, Some(b""), None, &headers[2..]);
        builder.build().unwrap()
    }

    #[test]
    fn round_trip_keeps_nulls_and_duplicate_headers() {
        let batch = sample(Compression::None);
        let h = batch::validate(&batch).unwrap();
        assert_eq!((h.base_offset(), h.last_offset_delta(), h.records_count()), (100, 2, 3));
        assert_eq!((h.base_timestamp(), h.max_timestamp()), (2_000, 2_050));
        assert_eq!((h.producer_id(), h.producer_epoch(), h.base_sequence()), (42, 3, 9));
        assert_eq!((h.partition_leader_epoch(), h.compression()), (-1, 0));

        let first = Record { headers: headers(), ..record(100, 2_000, b"k1", b"v1") };
        let second = Record { key: None, ..record(101, 1_990, b"", b"v2") };
        let third =
            Record { value: None, headers: headers().split_off(2), ..record(102, 2_050, b"", b"") };
        assert_eq!(decode_batch(&batch).unwrap(), [first, second, third]);
    }

    #[test]
    fn every_codec_round_trips_and_marks_the_header() {
        let value = b"the same forty-odd bytes, again and again ".repeat(20);
        let build = |compression| {
            let mut builder = BatchBuilder::new(0, compression);
            for ts in 0..50 {
                builder.push(ts, Some(b"key"), Some(&value), &[header("h", Some(b"v"))]);
            }
            builder.build().unwrap()
        };
        let plain = build(Compression::None);
        let expected = decode_batch(&plain).unwrap();
        assert_eq!(expected.len(), 50);
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let batch = build(codec);
            let h = batch::validate(&batch).unwrap();
            assert_eq!(Compression::from_id(h.compression()), Ok(codec));
            assert!(batch.len() < plain.len() / 4, "{codec:?} did not compress");
            assert_eq!(decode_batch(&batch).unwrap(), expected, "{codec:?}");
        }
    }

    #[test]
    fn hand_built_batch_decodes() {
        let want = Record { headers: vec![header("h", None)], ..record(7, 1_001, b"k", b"hi") };
        // With LogAppendTime every record takes the batch's maxTimestamp.
        let appended = Record { timestamp: 1_005, ..want.clone() };
        assert_eq!(decode_batch(&raw_batch(0, 1, &RECORD)).unwrap(), [want]);
        assert_eq!(decode_batch(&raw_batch(0x08, 1, &RECORD)).unwrap(), [appended]);
    }

    #[test]
    fn crc_corruption_is_a_batch_error() {
        let mut batch = sample(Compression::None).to_vec();
        let last = batch.len() - 1;
        batch[last] ^= 0x01;
        assert!(matches!(
            decode_batch(&batch),
            Err(RecordError::Batch(BatchError::CrcMismatch { .. }))
        ));
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        // The record's length promises 12 bytes; only 11 follow.
        let short = raw_batch(0, 1, &RECORD[..12]);
        assert_eq!(decode_batch(&short), Err(RecordError::Truncated { index: 0, field: "length" }));

        // The length agrees with the bytes, but the header value is missing.
        let mut record = RECORD[..12].to_vec();
        record[0] = 0x16; // length 11
        let err = RecordError::Truncated { index: 0, field: "header value" };
        assert_eq!(decode_batch(&raw_batch(0, 1, &record)), Err(err));

        // Every cut of a real batch, re-sealed, fails in the record decoder.
        let full = sample(Compression::None);
        for len in HEADER_LEN..full.len() {
            let mut cut = full[..len].to_vec();
            reseal(&mut cut);
            let err = decode_batch(&cut).unwrap_err();
            assert!(!matches!(err, RecordError::Batch(_)), "cut at {len}: {err}");
        }
    }

    #[test]
    fn negative_lengths_other_than_minus_one_are_rejected() {
        for (at, field) in [(0, "length"), (4, "key"), (6, "value"), (9, "header count")] {
            let mut record = RECORD;
            record[at] = 0x03; // -2
            let err = decode_batch(&raw_batch(0, 1, &record)).unwrap_err();
            assert!(matches!(err, RecordError::Malformed { index: 0, field: f, .. } if f == field));
        }
        let mut record = RECORD;
        record[10] = 0x01; // null header key
        let err = decode_batch(&raw_batch(0, 1, &record)).unwrap_err();
        assert!(matches!(err, RecordError::Malformed { field: "header key", .. }), "{err}");
    }

    #[test]
    fn count_and_length_mismatches_are_reported() {
        let missing = raw_batch(0, 2, &RECORD);
        assert_eq!(
            decode_batch(&missing),
            Err(RecordError::CountMismatch { expected: 2, found: 1 })
        );

        let mut records = RECORD.to_vec();
        records.extend_from_slice(&[0, 0, 0]);
        assert_eq!(decode_batch(&raw_batch(0, 1, &records)), Err(RecordError::TrailingBytes(3)));

        let mut record = RECORD.to_vec();
        record[0] = 0x1a; // length 13: one byte past the last header
        record.push(0);
        let err = decode_batch(&raw_batch(0, 1, &record)).unwrap_err();
        assert!(matches!(err, RecordError::Malformed { field: "length", .. }), "{err}");
    }

    #[test]
    fn bad_compression_is_reported() {
        let unknown = raw_batch(5, 1, &RECORD);
        assert_eq!(decode_batch(&unknown), Err(RecordError::UnknownCompression(5)));
        let err = decode_batch(&raw_batch(1, 1, &RECORD)).unwrap_err();
        assert!(matches!(err, RecordError::Decompress { codec: Compression::Gzip, .. }), "{err}");
        assert!(err.to_string().contains("gzip"), "{err}");
    }

    #[test]
    fn empty_builder_is_an_error() {
        assert_eq!(BatchBuilder::new(0, Compression::Zstd).build(), Err(RecordError::Empty));
    }

    #[test]
    fn decode_batches_skips_control_batches() {
        let mut first = BatchBuilder::new(0, Compression::None);
        first.push(1, None, Some(b"a"), &[]).push(2, None, Some(b"b"), &[]);
        let mut last = BatchBuilder::new(8, Compression::Lz4);
        last.push(3, None, Some(b"c"), &[]);
        let mut log = first.build().unwrap().to_vec();
        log.extend_from_slice(&raw_batch(0x20, 1, &RECORD)); // a control batch at offset 7
        log.extend_from_slice(&last.build().unwrap());

        let offsets: Vec<_> = decode_batches(&log).unwrap().iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 1, 8]);

        log.pop();
        assert!(matches!(
            decode_batches(&log),
            Err(RecordError::Batch(BatchError::Truncated { .. }))
        ));
    }

    #[test]
    fn mutated_batches_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let originals = [sample(Compression::None), sample(Compression::Zstd)];
        let mut decoded = 0;
        for i in 0..2_000 {
            let mut batch = originals[i % 2].to_vec();
            for _ in 0..=next() % 4 {
                let at = (next() % batch.len() as u64) as usize;
                batch[at] = next() as u8;
            }
            if next() % 8 == 0 {
                batch.truncate(HEADER_LEN + (next() % (batch.len() - HEADER_LEN) as u64) as usize);
            }
            reseal(&mut batch);
            decoded += usize::from(decode_batch(&batch).is_ok());
        }
        // Some mutations (in values, say) leave a decodable batch; most do not.
        assert!(0 < decoded && decoded < 2_000, "decoded {decoded}");
    }
}
