//! Records in (from the input topic) and out (to an output topic).

use std::cell::RefCell;
use std::collections::HashSet;

use crate::Error;

thread_local! {
    /// Topic names handed out as `&'static str`, each stored once.
    static NAMES: RefCell<HashSet<&'static str>> = RefCell::new(HashSet::new());
}

/// `name` as a `&'static str`, stored once per name: a record's topic costs a
/// copy of two words, and an instance knows only a few names (its memory goes
/// with it).
pub(crate) fn intern(name: &str) -> &'static str {
    NAMES.with_borrow_mut(|names| match names.get(name) {
        Some(known) => known,
        None => {
            let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
            names.insert(leaked);
            leaked
        }
    })
}

/// A record header: Kafka headers are an ordered list, keys may repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's name.
    pub key: String,
    /// The header's value; Kafka allows a null one.
    pub value: Option<Vec<u8>>,
}

/// A record read from one of the input topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The input topic it came from: with several inputs, tells them apart.
    pub topic: &'static str,
    /// The record's key, if it has one.
    pub key: Option<Vec<u8>>,
    /// The record's value; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The record's headers, in order.
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch, as the producer (or broker) set it.
    pub timestamp: i64,
    /// The input partition; one instance only ever sees one partition index
    /// (of each input, when there are several).
    pub partition: u32,
    /// The record's offset in its partition.
    pub offset: u64,
}

impl Record {
    /// A record with this key and value at offset 0, partition 0, timestamp 0,
    /// of no named topic (`""`), for tests; the `with_*` methods set the rest.
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            topic: "",
            key: Some(key.into()),
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: 0,
            partition: 0,
            offset: 0,
        }
    }

    /// The same record from input topic `topic`.
    pub fn with_topic(mut self, topic: &str) -> Self {
        self.topic = intern(topic);
        self
    }

    /// A tombstone (no value) with this key, for tests of tables.
    pub fn tombstone(key: impl Into<Vec<u8>>) -> Self {
        Self { value: None, ..Self::new(key, Vec::new()) }
    }

    /// The same record at `offset`.
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// The same record with `timestamp` (ms since the epoch).
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The same record in `partition`.
    pub fn with_partition(mut self, partition: u32) -> Self {
        self.partition = partition;
        self
    }

    /// The same record with one more header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(Header { key: key.into(), value: Some(value.into()) });
        self
    }

    /// The key's bytes, if there is a key.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The value's bytes, if there is a value.
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// The value as UTF-8; an error if it is absent or not UTF-8.
    pub fn value_str(&self) -> Result<&str, Error> {
        let value = self.value.as_deref().ok_or_else(|| self.no_value())?;
        Ok(std::str::from_utf8(value)?)
    }

    /// The key as UTF-8, if there is a key; an error if it is not UTF-8.
    pub fn key_str(&self) -> Result<Option<&str>, Error> {
        Ok(self.key.as_deref().map(std::str::from_utf8).transpose()?)
    }

    /// The value of the first header named `key` (`Some(None)` for a null value).
    pub fn header(&self, key: &str) -> Option<Option<&[u8]>> {
        self.headers.iter().find(|h| h.key == key).map(|h| h.value.as_deref())
    }

    /// The value decoded from JSON; an error if it is absent or does not decode.
    #[cfg(feature = "json")]
    pub fn value_json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        let value = self.value.as_deref().ok_or_else(|| self.no_value())?;
        Ok(serde_json::from_slice(value)?)
    }

    fn no_value(&self) -> Error {
        Error::msg(format!("the record at offset {} has no value", self.offset))
    }
}

/// A header of an [`OutputRecord`], borrowed: on wasm32 it is the binding's own
/// type, so emitting passes the headers to the host without converting them.
#[cfg(target_arch = "wasm32")]
pub(crate) type HeaderRef<'a> = crate::guest::bindings::weir::processor::types::HeaderParam<'a>;

/// A header of an [`OutputRecord`], borrowed.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone)]
pub(crate) struct HeaderRef<'a> {
    /// The header's name.
    pub(crate) key: &'a str,
    /// The header's value, or null.
    pub(crate) value: Option<&'a [u8]>,
}

/// A record to emit, borrowing its parts: built with [`OutputRecord::new`] and the
/// methods that follow, then passed to [`crate::Context::emit_record`].
#[derive(Debug, Clone)]
pub struct OutputRecord<'a> {
    /// One of the deployment's output topics.
    pub(crate) topic: &'a str,
    /// The key; by default the host picks the partition by its hash.
    pub(crate) key: Option<&'a [u8]>,
    /// The value; `None` is a tombstone.
    pub(crate) value: Option<&'a [u8]>,
    /// The headers, in order.
    pub(crate) headers: Vec<HeaderRef<'a>>,
    /// An explicit partition instead of the key hash.
    pub(crate) partition: Option<u32>,
    /// An explicit timestamp (ms since the epoch) instead of the input
    /// record's.
    pub(crate) timestamp: Option<i64>,
}

impl<'a> OutputRecord<'a> {
    /// A record to `topic` with no key, value or headers.
    pub fn new(topic: &'a str) -> Self {
        Self {
            topic,
            key: None,
            value: None,
            headers: Vec::new(),
            partition: None,
            timestamp: None,
        }
    }

    /// With this key.
    pub fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// With this value.
    pub fn value(mut self, value: &'a [u8]) -> Self {
        self.value = Some(value);
        self
    }

    /// With one more header (`None`: a null value).
    pub fn header(mut self, key: &'a str, value: Option<&'a [u8]>) -> Self {
        self.headers.push(HeaderRef { key, value });
        self
    }

    /// With these headers appended, e.g. an input record's.
    pub fn headers(mut self, headers: &'a [Header]) -> Self {
        self.headers
            .extend(headers.iter().map(|h| HeaderRef { key: &h.key, value: h.value.as_deref() }));
        self
    }

    /// To this partition instead of the one the key hash picks.
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// With this timestamp (ms since the epoch) instead of the one of the input
    /// record being processed (the default, which keeps event time and makes a
    /// replay of the same input emit the same records).
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The same key, value and headers as `record`, to `topic`, with its
    /// timestamp (by default) and the key's partition (add [`Self::partition`] to
    /// keep the input's).
    pub fn copy_of(topic: &'a str, record: &'a Record) -> Self {
        let out =
            Self { key: record.key.as_deref(), value: record.value.as_deref(), ..Self::new(topic) };
        out.headers(&record.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_and_errors() {
        let record = Record::new("k", "v").with_offset(3).with_header("h", "x");
        assert_eq!(record.value_str().unwrap(), "v");
        assert_eq!(record.key_str().unwrap(), Some("k"));
        assert_eq!(record.header("h"), Some(Some(&b"x"[..])));
        assert_eq!(record.header("nope"), None);
        let tombstone = Record { value: None, ..record };
        assert!(tombstone.value_str().unwrap_err().message().contains("offset 3"));
        let bad = Record::new("k", vec![0xff]);
        assert!(bad.value_str().is_err());
    }
}
