//! Batches made to follow their topic before they are appended, as Kafka's
//! broker does: `compression.type` other than `producer` recompresses a batch
//! written with another codec, and `message.timestamp.type=LogAppendTime`
//! stamps each batch with the broker's clock (maxTimestamp, attribute bit 3).
//!
//! Only the records section changes codec: records themselves are not decoded,
//! so their offsets, timestamps, keys, values and headers (duplicates included)
//! stay as the producer wrote them, as do the producer id, epoch and sequence an
//! idempotent producer's retries are matched by. Control batches (transaction
//! markers) are never compressed. A topic that asks for neither costs one
//! header look per batch.

use bytes::BytesMut;

use super::batch::{self, HEADER_LEN};
use super::record::{self, Compression, RecordError};

/// Bit 3 of a batch's attributes: its timestamps are the broker's.
const LOG_APPEND_TIME: i16 = 0x08;
/// Bits 0-2 of a batch's attributes: the codec.
const CODEC_BITS: i16 = 0x07;

/// What a topic asks of the batches appended to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conformance {
    /// Store batches with this codec (None: as the producer wrote them).
    pub compression: Option<Compression>,
    /// Stamp batches with the broker's clock when appended.
    pub log_append_time: bool,
}

impl Conformance {
    /// True when batches are stored exactly as received.
    pub fn as_received(&self) -> bool {
        self.compression.is_none() && !self.log_append_time
    }
}

/// `records` (batches back to back, each already validated) as the topic wants
/// them, or None when every batch already is. `now_ms` stamps LogAppendTime.
pub fn conform(
    records: &[u8],
    wants: Conformance,
    now_ms: i64,
) -> Result<Option<Vec<u8>>, (usize, RecordError)> {
    if wants.as_received() {
        return Ok(None);
    }
    let mut out: Option<Vec<u8>> = None;
    let mut at = 0;
    for (index, found) in batch::split(records).enumerate() {
        let bytes = found.map_err(|e| (index, RecordError::Batch(e)))?;
        let rewritten = conform_batch(bytes, wants, now_ms).map_err(|e| (index, e))?;
        match (rewritten, &mut out) {
            (Some(new), Some(out)) => out.extend_from_slice(&new),
            (Some(new), None) => {
                let mut started = Vec::with_capacity(records.len() + new.len());
                started.extend_from_slice(&records[..at]);
                started.extend_from_slice(&new);
                out = Some(started);
            }
            (None, Some(out)) => out.extend_from_slice(bytes),
            (None, None) => {}
        }
        at += bytes.len();
    }
    Ok(out)
}

/// One batch as the topic wants it, or None if it already is.
fn conform_batch(
    bytes: &[u8],
    wants: Conformance,
    now_ms: i64,
) -> Result<Option<Vec<u8>>, RecordError> {
    let header = batch::validate_produced(bytes)?;
    let codec = Compression::from_id(header.compression())?;
    let recodec = match wants.compression {
        Some(target) if target != codec && !header.is_control() => Some(target),
        _ => None,
    };
    if recodec.is_none() && !wants.log_append_time {
        return Ok(None);
    }
    let mut attributes = header.attributes();
    let mut max_timestamp = header.max_timestamp();
    let mut out = BytesMut::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..HEADER_LEN]);
    let section = &bytes[HEADER_LEN..];
    match recodec {
        Some(target) => {
            let raw = record::decompress(codec, section)?;
            record::compress(target, raw.as_deref().unwrap_or(section), &mut out)?;
            attributes = (attributes & !CODEC_BITS) | i16::from(target.id());
        }
        None => out.extend_from_slice(section),
    }
    if wants.log_append_time {
        attributes |= LOG_APPEND_TIME;
        max_timestamp = now_ms;
    }
    if out.len() > i32::MAX as usize {
        return Err(RecordError::TooLarge(out.len()));
    }
    batch::rewrite_header(&mut out, attributes, max_timestamp);
    Ok(Some(out.to_vec()))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::log::record::{BatchBuilder, Header, decode_batch};

    fn batch(codec: Compression) -> Bytes {
        let mut b = BatchBuilder::new(0, codec).producer(7, 1, 40);
        let headers = vec![
            Header { key: "h".into(), value: Some(Bytes::from_static(b"1")) },
            Header { key: "h".into(), value: None },
        ];
        for i in 0..50 {
            let value = format!("value {i} {}", "x".repeat(100));
            b.push(1_000 + i, Some(b"key"), Some(value.as_bytes()), &headers);
        }
        b.build().unwrap()
    }

    #[test]
    fn recompressing_keeps_every_record_and_the_producers_fields() {
        let source = batch(Compression::Snappy);
        let wants = Conformance { compression: Some(Compression::Lz4), log_append_time: false };
        let out = conform(&source, wants, 0).unwrap().expect("rewritten");
        let header = batch::validate(&out).unwrap();
        assert_eq!(header.compression(), Compression::Lz4.id());
        let original = batch::validate(&source).unwrap();
        assert_eq!(
            (header.producer_id(), header.producer_epoch(), header.base_sequence()),
            (7, 1, 40)
        );
        assert_eq!(header.max_timestamp(), original.max_timestamp());
        assert_eq!(decode_batch(&out).unwrap(), decode_batch(&source).unwrap());
        // Already lz4: nothing to do.
        assert_eq!(conform(&out, wants, 0).unwrap(), None);
        // Uncompressed is a codec too.
        let plain = Conformance { compression: Some(Compression::None), ..wants };
        let out = conform(&source, plain, 0).unwrap().unwrap();
        assert_eq!(batch::validate(&out).unwrap().compression(), 0);
        assert_eq!(decode_batch(&out).unwrap(), decode_batch(&source).unwrap());
    }

    #[test]
    fn log_append_time_stamps_each_batch_and_its_records() {
        let two = [batch(Compression::None), batch(Compression::Gzip)].concat();
        let wants = Conformance { compression: None, log_append_time: true };
        let out = conform(&two, wants, 99_000).unwrap().unwrap();
        let batches: Vec<&[u8]> = batch::split(&out).map(Result::unwrap).collect();
        assert_eq!(batches.len(), 2);
        for b in batches {
            let header = batch::validate(b).unwrap();
            assert!(header.is_log_append_time());
            assert_eq!(header.max_timestamp(), 99_000);
            assert!(decode_batch(b).unwrap().iter().all(|r| r.timestamp == 99_000));
        }
    }

    #[test]
    fn a_topic_that_asks_nothing_costs_nothing_and_bad_records_are_errors() {
        let source = batch(Compression::Gzip);
        assert_eq!(conform(&source, Conformance::default(), 0).unwrap(), None);
        let mut damaged = source.to_vec();
        let last = damaged.len() - 1;
        damaged[HEADER_LEN + 10] ^= 0xff;
        damaged[last] ^= 0xff;
        batch::write_crc(&mut damaged);
        let wants = Conformance { compression: Some(Compression::Zstd), log_append_time: false };
        let (index, error) = conform(&damaged, wants, 0).unwrap_err();
        assert_eq!(index, 0);
        assert!(matches!(error, RecordError::Decompress { .. }), "{error:?}");
    }
}
