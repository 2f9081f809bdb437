//! Joins kept in the processor's state: a stream-table join ([`Table`]) and a
//! windowed stream-stream join ([`StreamJoin`]).
//!
//! Both need the records of one key from both sides at the same worker: deploy
//! the processor with both topics as its `inputs` (co-partitioned and keyed
//! alike; re-key a side first if it is not) and tell the records apart by
//! [`Record::topic`]. The host feeds the inputs merged by timestamp, so a stream
//! record meets the table as it was at the record's time.
//!
//! ```
//! use weir_sdk::join::Table;
//! use weir_sdk::testing::TestContext;
//! use weir_sdk::Record;
//!
//! let customers = Table::new("customers").unwrap();
//! let mut test = TestContext::new();
//! let mut ctx = test.context();
//! customers.apply(&mut ctx, &Record::new("c-1", "Ada").with_topic("customers")).unwrap();
//! assert_eq!(customers.get(&mut ctx, b"c-1").as_deref(), Some(&b"Ada"[..]));
//! customers.apply(&mut ctx, &Record::tombstone("c-1")).unwrap();
//! assert_eq!(customers.get(&mut ctx, b"c-1"), None);
//! ```

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::keys::{self, decode_time, encode_time, key_part, scan_all};
use crate::window::Late;
use crate::{Context, Error, Record};

/// A table: a topic materialised into the state, one row per key, each record
/// of the topic replacing its key's row and a tombstone (no value) deleting it,
/// as Kafka Streams' `KTable` reads a changelog. Build it in `init`.
#[derive(Debug, Clone)]
pub struct Table {
    /// The state prefix, `__weir/table/{name}/`.
    prefix: Vec<u8>,
}

impl Table {
    /// A table kept under `name` (non-empty, no `/`).
    pub fn new(name: &str) -> Result<Self, Error> {
        Ok(Self { prefix: keys::prefix("table", name)? })
    }

    /// Applies a record of the table's topic: its value becomes its key's row; a
    /// tombstone deletes the row. A record without a key cannot be a row: an
    /// error, so the host dead-letters it.
    pub fn apply(&self, ctx: &mut Context<'_>, record: &Record) -> Result<(), Error> {
        let key = record.key().ok_or_else(|| {
            Error::msg("a table record has no key: produce the table's topic with keys")
        })?;
        let row = self.row_key(key);
        match record.value() {
            Some(value) => ctx.state_put(&row, value)?,
            None => ctx.state_delete(&row),
        }
        Ok(())
    }

    /// The row of `key`, if there is one.
    pub fn get(&self, ctx: &mut Context<'_>, key: &[u8]) -> Option<Vec<u8>> {
        ctx.state_get(&self.row_key(key))
    }

    /// The row of `key` parsed from JSON, if there is one.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        ctx: &mut Context<'_>,
        key: &[u8],
    ) -> Result<Option<T>, Error> {
        match self.get(ctx, key) {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    fn row_key(&self, key: &[u8]) -> Vec<u8> {
        [&self.prefix[..], b"row/", key].concat()
    }
}

/// A side of a [`StreamJoin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first stream.
    Left,
    /// The second stream.
    Right,
}

impl Side {
    fn tag(self) -> &'static [u8] {
        match self {
            Side::Left => b"L/",
            Side::Right => b"R/",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// Two records that joined: one of each side, same key, timestamps at most the
/// window apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The key both were added under.
    pub key: Vec<u8>,
    /// The left record's value and timestamp.
    pub left: (Vec<u8>, i64),
    /// The right record's value and timestamp.
    pub right: (Vec<u8>, i64),
}

/// What [`StreamJoin::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "pairs are results to emit, and a late record must go somewhere"]
pub enum Joined {
    /// Added; these pairs (possibly none) joined, the other side's records in
    /// timestamp order.
    InTime(Vec<Pair>),
    /// Not added: the record is older than the watermark, so records it would
    /// have joined may already be gone.
    Late(Late),
}

/// A windowed inner join of two streams: a record of one side joins every
/// record of the other side with the same key whose timestamp is at most
/// `window` away, whichever arrives first (Kafka Streams' `JoinWindows`). Each
/// side's records are kept in the state until stream time, less the grace
/// period, is more than `window` past them. Build it in `init`.
#[derive(Debug, Clone)]
pub struct StreamJoin {
    /// The state prefix, `__weir/join/{name}/`.
    prefix: Vec<u8>,
    window: i64,
    grace: i64,
}

impl StreamJoin {
    /// A join kept under `name` (non-empty, no `/`) of records at most `window` apart.
    pub fn new(name: &str, window: Duration) -> Result<Self, Error> {
        let window = i64::try_from(window.as_millis())
            .map_err(|_| Error::msg(format!("join {name:?}: the window is too long")))?;
        Ok(Self { prefix: keys::prefix("join", name)?, window, grace: 0 })
    }

    /// How far behind stream time a record may be and still join (default none):
    /// the disorder the inputs may have.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// Adds `value` of `side` under `key` at `timestamp` (ms); `id` tells apart
    /// records of one side with the same key and timestamp (the record's offset
    /// does). Returns the pairs it makes with the other side's records, or says
    /// it is late.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &self,
        ctx: &mut Context<'_>,
        side: Side,
        key: &[u8],
        timestamp: i64,
        id: u64,
        value: &[u8],
    ) -> Result<Joined, Error> {
        let time_key = [&self.prefix[..], b"time"].concat();
        let stream_time = match ctx.state_get(&time_key) {
            Some(bytes) => decode_time(&bytes, "join")?.max(timestamp),
            None => timestamp,
        };
        let watermark = stream_time.saturating_sub(self.grace);
        if timestamp < watermark {
            return Ok(Joined::Late(Late { timestamp, watermark }));
        }
        ctx.state_put(&time_key, &encode_time(stream_time))?;
        let pairs = self.partners(ctx, side, key, timestamp, value)?;
        let entry = [&key_part(key)[..], &encode_time(timestamp), &id.to_be_bytes()].concat();
        ctx.state_put(&[&self.prefix[..], side.tag(), &entry].concat(), value)?;
        let expires = timestamp.saturating_add(self.window);
        let index = [&self.prefix[..], b"x/", &encode_time(expires), side.tag(), &entry].concat();
        ctx.state_put(&index, &[])?;
        self.expire(ctx, watermark)?;
        Ok(Joined::InTime(pairs))
    }

    /// The other side's records of `key` within the window of `timestamp`.
    fn partners(
        &self,
        ctx: &mut Context<'_>,
        side: Side,
        key: &[u8],
        timestamp: i64,
        value: &[u8],
    ) -> Result<Vec<Pair>, Error> {
        let other = [&self.prefix[..], side.other().tag(), &key_part(key)].concat();
        let (from, to) =
            (timestamp.saturating_sub(self.window), timestamp.saturating_add(self.window));
        let mut pairs = Vec::new();
        for (stored, bytes) in scan_all(ctx, &other) {
            let at = decode_time(&stored[other.len()..other.len() + 8], "join")?;
            if at < from || at > to {
                continue;
            }
            let (this, that) = ((value.to_vec(), timestamp), (bytes, at));
            let (left, right) = match side {
                Side::Left => (this, that),
                Side::Right => (that, this),
            };
            pairs.push(Pair { key: key.to_vec(), left, right });
        }
        Ok(pairs)
    }

    /// Removes the records no in-time record can join any more: those more than
    /// the window before the watermark.
    fn expire(&self, ctx: &mut Context<'_>, watermark: i64) -> Result<(), Error> {
        let prefix = [&self.prefix[..], b"x/"].concat();
        while let Some((index, _)) = ctx.state_scan(&prefix, None, 1).pop() {
            let expires = decode_time(&index[prefix.len()..prefix.len() + 8], "join")?;
            if expires >= watermark {
                break;
            }
            let entry = &index[prefix.len() + 8..];
            ctx.state_delete(&[&self.prefix[..], entry].concat());
            ctx.state_delete(&index);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
