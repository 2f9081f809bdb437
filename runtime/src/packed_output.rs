//! `send-packed`'s `packed-output` (declared in the WIT) unpacked into output
//! records. The generated binding lifts the guest's buffer with one copy into a
//! `Vec`; that `Vec` becomes one `Bytes` without another copy, and every key and
//! value is a slice of it: no allocation or copy per record (header names,
//! being `String`s, are copied; most records have no headers).

use bytes::Bytes;

use crate::bindings::weir::processor::types::{PackedHeader, PackedOutputEntry, Span};
use crate::store::{Header, OutputRecord};

/// Why a packed output cannot be unpacked: a bug of the guest's packing (its
/// SDK), not of the processor's logic; `send-packed` traps with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnpackError {
    /// A span of a record ends past the buffer.
    #[error(
        "send-packed: record {record}'s {part} (start {start}, length {len}) ends past \
         the {buffer}-byte buffer"
    )]
    SpanPastBuffer {
        /// The record's index in the packed output.
        record: usize,
        /// Which part: key, value, header name or header value.
        part: &'static str,
        /// The span's start.
        start: u32,
        /// The span's length.
        len: i32,
        /// The buffer's length.
        buffer: usize,
    },
    /// A record's headers are not all in the header list.
    #[error(
        "send-packed: record {record}'s headers ({count} from {start}) are past the \
         {headers} headers of the packed output"
    )]
    HeadersPastList {
        /// The record's index in the packed output.
        record: usize,
        /// Its `headers-start`.
        start: u32,
        /// Its `headers-count`.
        count: u32,
        /// The length of the header list.
        headers: usize,
    },
    /// A header name is null (header names are strings).
    #[error("send-packed: record {record} has a header whose name is null")]
    NullHeaderName {
        /// The record's index in the packed output.
        record: usize,
    },
}

/// An unpacked record, with where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// Index into the declared outputs (checked when it is emitted).
    pub output: usize,
    /// The explicit partition, if the guest chose one.
    pub partition: Option<u32>,
    /// The record, its key and values slices of the packed buffer.
    pub record: OutputRecord,
}

/// What records of one packed output are unpacked against.
#[derive(Debug)]
pub struct Unpacker {
    /// The packed output's buffer, moved (not copied) out of the lifted `Vec`.
    buffer: Bytes,
    /// The packed output's headers.
    headers: Vec<PackedHeader>,
    /// The timestamp of a record that carries none: the host's processing time.
    now_ms: i64,
}

/// The `timestamp` of a `packed-output-entry` that carries none.
pub const NO_TIMESTAMP: i64 = i64::MIN;

impl Unpacker {
    /// Unpacks against `buffer` and `headers` (moved out of the lifted
    /// `packed-output`), stamping `now_ms` where a record has no timestamp.
    pub fn new(buffer: Vec<u8>, headers: Vec<PackedHeader>, now_ms: i64) -> Self {
        Unpacker { buffer: Bytes::from(buffer), headers, now_ms }
    }

    /// Record number `index` of the packed output, described by `entry`.
    pub fn record(&self, index: usize, entry: &PackedOutputEntry) -> Result<Unpacked, UnpackError> {
        let (start, count) = (entry.headers_start as usize, entry.headers_count as usize);
        let Some(own) = start.checked_add(count).and_then(|end| self.headers.get(start..end))
        else {
            return Err(UnpackError::HeadersPastList {
                record: index,
                start: entry.headers_start,
                count: entry.headers_count,
                headers: self.headers.len(),
            });
        };
        let mut headers = Vec::with_capacity(count);
        for h in own {
            let name = self
                .span(index, "header name", h.key)?
                .ok_or(UnpackError::NullHeaderName { record: index })?;
            let key = String::from_utf8_lossy(&name).into_owned();
            headers.push(Header { key, value: self.span(index, "header value", h.value)? });
        }
        let timestamp = match entry.timestamp {
            NO_TIMESTAMP => self.now_ms,
            t => t,
        };
        let record = OutputRecord {
            key: self.span(index, "key", entry.key)?,
            value: self.span(index, "value", entry.value)?,
            headers,
            timestamp,
        };
        let partition = u32::try_from(entry.partition).ok();
        Ok(Unpacked { output: entry.output as usize, partition, record })
    }

    /// The bytes `span` covers, a slice of the buffer; `None` for a null span.
    fn span(
        &self,
        record: usize,
        part: &'static str,
        span: Span,
    ) -> Result<Option<Bytes>, UnpackError> {
        let Ok(len) = usize::try_from(span.len) else { return Ok(None) };
        let start = span.start as usize;
        match start.checked_add(len) {
            Some(end) if end <= self.buffer.len() => Ok(Some(self.buffer.slice(start..end))),
            _ => Err(UnpackError::SpanPastBuffer {
                record,
                part,
                start: span.start,
                len: span.len,
                buffer: self.buffer.len(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NULL: Span = Span { start: 0, len: -1 };

    fn span(start: u32, len: i32) -> Span {
        Span { start, len }
    }

    fn entry(key: Span, value: Span, headers: (u32, u32)) -> PackedOutputEntry {
        PackedOutputEntry {
            output: 0,
            key,
            value,
            headers_start: headers.0,
            headers_count: headers.1,
            partition: -1,
            timestamp: NO_TIMESTAMP,
        }
    }

    #[test]
    fn unpacks_nulls_headers_partitions_and_timestamps() {
        let headers = vec![
            PackedHeader { key: span(8, 1), value: span(9, 4) },
            PackedHeader { key: span(8, 1), value: NULL },
        ];
        let unpacker = Unpacker::new(b"keyvaluehname".to_vec(), headers, 7);
        let first = unpacker.record(0, &entry(span(0, 3), span(3, 5), (0, 2))).unwrap();
        assert_eq!((first.output, first.partition), (0, None));
        assert_eq!(first.record.key.as_deref(), Some(&b"key"[..]));
        assert_eq!(first.record.value.as_deref(), Some(&b"value"[..]));
        assert_eq!(
            first.record.headers,
            [
                Header { key: "h".into(), value: Some(Bytes::from_static(b"name")) },
                Header { key: "h".into(), value: None },
            ]
        );
        assert_eq!(first.record.timestamp, 7);
        let second = PackedOutputEntry {
            output: 1,
            partition: 2,
            timestamp: -5,
            ..entry(NULL, span(13, 0), (2, 0))
        };
        let second = unpacker.record(1, &second).unwrap();
        assert_eq!((second.output, second.partition, second.record.timestamp), (1, Some(2), -5));
        assert_eq!((second.record.key, second.record.value.as_deref()), (None, Some(&b""[..])));
        assert!(second.record.headers.is_empty());
    }

    #[test]
    fn malformed_entries_are_refused_with_the_record_and_part() {
        let headers = vec![PackedHeader { key: NULL, value: NULL }];
        let unpacker = Unpacker::new(b"abc".to_vec(), headers, 0);
        let past = unpacker.record(4, &entry(span(1, 3), NULL, (0, 0))).unwrap_err();
        assert_eq!(
            past,
            UnpackError::SpanPastBuffer { record: 4, part: "key", start: 1, len: 3, buffer: 3 }
        );
        assert!(unpacker.record(0, &entry(span(u32::MAX, 2), NULL, (0, 0))).is_err());
        let list = unpacker.record(0, &entry(NULL, NULL, (1, 1))).unwrap_err();
        assert!(matches!(list, UnpackError::HeadersPastList { start: 1, count: 1, .. }));
        let name = unpacker.record(2, &entry(NULL, NULL, (0, 1))).unwrap_err();
        assert_eq!(name, UnpackError::NullHeaderName { record: 2 });
    }
}
