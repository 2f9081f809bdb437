//! Event-time windows kept in the processor's state: tumbling, hopping, sliding and
//! session windows with a grace period, each giving its final result once, when it
//! closes, and its result so far on demand ([`Windows::so_far`], for early updates).
//!
//! Time is the records' own timestamps. A [`Windows`] keeps a *stream time* per
//! input partition, the largest timestamp it was given, in the state, so it
//! survives restarts and a replay of the same input reaches the same value; the
//! *watermark* is stream time minus the grace period. Then:
//! - a time window `[start, end)` closes once the watermark reaches `end`; a record
//!   whose windows are all closed is late (Kafka Streams' rule);
//! - a session (records of a key less than `gap` apart; `end` is its last record's
//!   timestamp) closes once the watermark passes `end + gap`; a record older than
//!   the watermark is late, since it could belong to a session already closed;
//! - sliding windows (Kafka Streams' `SlidingWindows`) are the windows `[start,
//!   start + size)` of a key that begin or end at its records: one ending just
//!   after each record, `[t + 1 - size, t + 1)`, and one starting just after it,
//!   `[t + 1, t + 1 + size)`, if any record falls in it; two records share a
//!   window when they are less than `size` apart. Each closes like a time window,
//!   and a record older than the watermark is late. Their state is each record's
//!   contribution (until no open window can hold it) and an index of window ends;
//!   an aggregate is combined when its window closes.
//!
//! [`Windows::add`] returns the windows that closed (to emit their results) or says
//! the record was late, so that the processor sends it to a late-records topic or
//! fails it into the dead-letter topic: the SDK never drops a record in silence.
//! Windows close as records advance stream time; a partition that receives nothing
//! keeps its last windows open.
//!
//! ```
//! use std::time::Duration;
//! use weir_sdk::testing::TestContext;
//! use weir_sdk::window::{Added, Windows};
//!
//! let minutes = Windows::tumbling("per-minute", Duration::from_secs(60))
//!     .unwrap()
//!     .grace(Duration::from_secs(5));
//! let mut test = TestContext::new();
//! let mut ctx = test.context();
//! assert!(matches!(minutes.add(&mut ctx, b"all", 1_000, 1u64).unwrap(), Added::InTime(c) if c.is_empty()));
//! minutes.add(&mut ctx, b"all", 2_000, 1u64).unwrap();
//! // 65 s: the watermark (60 s) reaches the first minute's end, which closes.
//! let Added::InTime(closed) = minutes.add(&mut ctx, b"all", 65_000, 1u64).unwrap() else {
//!     panic!("in time")
//! };
//! assert_eq!((closed[0].start, closed[0].end, closed[0].value), (0, 60_000, 2));
//! // A record of the closed minute is late.
//! assert!(matches!(minutes.add(&mut ctx, b"all", 3_000, 1u64).unwrap(), Added::Late(_)));
//! ```
//!
//! State layout, under `__weir/window/{name}/`: `time` (the stream time), `agg/`
//! (each open window's aggregate, by key and start) and `close/` (the same windows
//! ordered by the watermark that closes them, so closing reads only what closes).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::keys::{self, encode_time, key_part, scan_all, split_key_part};
use crate::{Context, Error};

/// A window aggregate: each record's contribution is combined into its windows'
/// aggregates in the order records arrive; sessions that a record joins combine in
/// start order, then with the record's. Make it commutative (a count, a sum, a
/// minimum) unless arrival order is what you mean.
pub trait Combine: Clone + Serialize + DeserializeOwned {
    /// `self` (what came first) followed by `later`.
    fn combine(self, later: Self) -> Self;
}

impl Combine for u64 {
    fn combine(self, later: Self) -> Self {
        self.saturating_add(later)
    }
}

impl Combine for i64 {
    fn combine(self, later: Self) -> Self {
        self.saturating_add(later)
    }
}

/// How records are grouped into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Windows of `size` ms every `advance` ms (tumbling: advance == size).
    Fixed { size: i64, advance: i64 },
    /// Sessions: records less than `gap` ms apart.
    Session { gap: i64 },
    /// Windows of `size` ms beginning or ending at records.
    Sliding { size: i64 },
}

/// A set of windows with a name (its place in the state), a shape and a grace
/// period. Build it in `init`; it holds no data itself.
#[derive(Debug, Clone)]
pub struct Windows {
    /// The state prefix, `__weir/window/{name}/`.
    prefix: Vec<u8>,
    shape: Shape,
    /// Milliseconds a window waits for late records after stream time passes it.
    grace: i64,
}

/// A window that closed: its key, bounds and final aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed<A> {
    /// The key the records were added under.
    pub key: Vec<u8>,
    /// The window's start (ms); for a session, its first record's timestamp.
    pub start: i64,
    /// The window's end, exclusive (ms); for a session, its last record's
    /// timestamp.
    pub end: i64,
    /// The aggregate of its records.
    pub value: A,
}

/// A record that came after the windows it belongs to closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Late {
    /// The record's timestamp.
    pub timestamp: i64,
    /// The watermark it missed (stream time minus grace).
    pub watermark: i64,
}

/// What [`Windows::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "closed windows are results to emit, and a late record must go somewhere"]
pub enum Added<A> {
    /// Added; these windows (of any key) closed, oldest first.
    InTime(Vec<Closed<A>>),
    /// Not added: every window the record belongs to had closed.
    Late(Late),
}

impl Windows {
    /// Windows of `size`, one after the other (`[0, size)`, `[size, 2 * size)`...).
    pub fn tumbling(name: &str, size: Duration) -> Result<Self, Error> {
        Self::hopping(name, size, size)
    }

    /// Windows of `size` starting every `advance` (at most `size`): a record is in
    /// `size / advance` of them.
    pub fn hopping(name: &str, size: Duration, advance: Duration) -> Result<Self, Error> {
        let (size, advance) = (millis(size)?, millis(advance)?);
        if advance > size {
            return Err(Error::msg(format!(
                "window {name:?}: the advance ({advance} ms) is longer than the size ({size} ms): \
                 records between windows would belong to none"
            )));
        }
        Self::new(name, Shape::Fixed { size, advance })
    }

    /// Sliding windows of `size` per key (see the module's docs): every distinct
    /// set of records less than `size` apart gets one result.
    pub fn sliding(name: &str, size: Duration) -> Result<Self, Error> {
        Self::new(name, Shape::Sliding { size: millis(size)? })
    }

    /// Sessions per key: a session takes every record less than `gap` after its
    /// last one, and merges with any session a record joins it to.
    pub fn session(name: &str, gap: Duration) -> Result<Self, Error> {
        Self::new(name, Shape::Session { gap: millis(gap)? })
    }

    /// How long after stream time passes a window it still takes records (default
    /// none): the disorder the input may have.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        self
    }

    fn new(name: &str, shape: Shape) -> Result<Self, Error> {
        Ok(Self { prefix: keys::prefix("window", name)?, shape, grace: 0 })
    }

    /// Adds `value`, a record's contribution, under `key` at `timestamp` (ms), and
    /// closes what the record's timestamp lets close.
    pub fn add<A: Combine>(
        &self,
        ctx: &mut Context<'_>,
        key: &[u8],
        timestamp: i64,
        value: A,
    ) -> Result<Added<A>, Error> {
        let time_key = self.key(b"time", &[]);
        let stream_time = match ctx.state_get(&time_key) {
            Some(bytes) => decode_time(&bytes)?.max(timestamp),
            None => timestamp,
        };
        let watermark = stream_time.saturating_sub(self.grace);
        let added = match self.shape {
            Shape::Fixed { size, advance } => {
                self.add_fixed(ctx, key, timestamp, value, (size, advance), watermark)?
            }
            Shape::Session { gap } if timestamp >= watermark => {
                self.add_session(ctx, key, timestamp, value, gap)?;
                true
            }
            Shape::Session { .. } => false,
            Shape::Sliding { size } if timestamp >= watermark => {
                sliding::add(self, ctx, key, timestamp, value, size)?;
                true
            }
            Shape::Sliding { .. } => false,
        };
        if !added {
            return Ok(Added::Late(Late { timestamp, watermark }));
        }
        ctx.state_put(&time_key, &encode_time(stream_time))?;
        let closed = match self.shape {
            Shape::Sliding { size } => sliding::close(self, ctx, watermark, size)?,
            _ => self.close(ctx, watermark)?,
        };
        Ok(Added::InTime(closed))
    }

    /// The open windows of `key` that hold `timestamp`, with their aggregates
    /// so far: what to emit as early updates before the final result. For
    /// sliding windows, the window ending just after `timestamp`. Empty when
    /// none is open (or nothing was added to them).
    pub fn so_far<A: Combine>(
        &self,
        ctx: &mut Context<'_>,
        key: &[u8],
        timestamp: i64,
    ) -> Result<Vec<Closed<A>>, Error> {
        let mut open = Vec::new();
        match self.shape {
            Shape::Fixed { size, advance } => {
                let last = timestamp.div_euclid(advance) * advance;
                let starts = (0..)
                    .map(|i| last - i * advance)
                    .take_while(|start| timestamp < start.saturating_add(size));
                let starts: Vec<i64> = starts.collect();
                for start in starts.into_iter().rev() {
                    if let Some(bytes) = ctx.state_get(&self.key(b"agg/", &window_id(key, start))) {
                        let (end, value): (i64, A) = serde_json::from_slice(&bytes)?;
                        open.push(Closed { key: key.to_vec(), start, end, value });
                    }
                }
            }
            Shape::Session { .. } => {
                for (stored, bytes) in scan_all(ctx, &self.key(b"agg/", &key_part(key))) {
                    let start = decode_time(&stored[stored.len() - 8..])?;
                    let (end, value): (i64, A) = serde_json::from_slice(&bytes)?;
                    if start <= timestamp && timestamp <= end {
                        open.push(Closed { key: key.to_vec(), start, end, value });
                    }
                }
            }
            Shape::Sliding { size } => {
                let end = timestamp.saturating_add(1);
                let stream_time = match ctx.state_get(&self.key(b"time", &[])) {
                    Some(bytes) => decode_time(&bytes)?,
                    None => return Ok(open),
                };
                let open_now = end > stream_time.saturating_sub(self.grace);
                if let Some(value) = sliding::aggregate(self, ctx, key, end, size)?
                    && open_now
                {
                    open.push(Closed { key: key.to_vec(), start: end - size, end, value });
                }
            }
        }
        Ok(open)
    }

    /// Adds to each open window of `timestamp`; false if every one is closed.
    fn add_fixed<A: Combine>(
        &self,
        ctx: &mut Context<'_>,
        key: &[u8],
        timestamp: i64,
        value: A,
        (size, advance): (i64, i64),
        watermark: i64,
    ) -> Result<bool, Error> {
        // Starts s with s <= timestamp < s + size, on multiples of advance.
        let last = timestamp.div_euclid(advance) * advance;
        let open: Vec<i64> = (0..)
            .map(|i| last - i * advance)
            .take_while(|start| timestamp < start.saturating_add(size))
            .filter(|start| start.saturating_add(size) > watermark)
            .collect();
        for &start in &open {
            let end = start.saturating_add(size);
            let stored = self.key(b"agg/", &window_id(key, start));
            let aggregate = match ctx.state_get(&stored) {
                Some(bytes) => {
                    let (_, old): (i64, A) = serde_json::from_slice(&bytes)?;
                    old.combine(value.clone())
                }
                None => {
                    ctx.state_put(&self.close_key(end, key, start), &[])?;
                    value.clone()
                }
            };
            ctx.state_put(&stored, &serde_json::to_vec(&(end, aggregate))?)?;
        }
        Ok(!open.is_empty())
    }

    /// Adds to the session of `key` the record falls in, merging the sessions it
    /// joins.
    fn add_session<A: Combine>(
        &self,
        ctx: &mut Context<'_>,
        key: &[u8],
        timestamp: i64,
        value: A,
        gap: i64,
    ) -> Result<(), Error> {
        // The key's open sessions, by start; the record joins each one it is less
        // than `gap` from.
        let mut joined: Vec<(i64, i64, A)> = Vec::new();
        for (stored, bytes) in scan_all(ctx, &self.key(b"agg/", &key_part(key))) {
            let start = decode_time(&stored[stored.len() - 8..])?;
            let (end, aggregate): (i64, A) = serde_json::from_slice(&bytes)?;
            if start.saturating_sub(gap) < timestamp && timestamp < end.saturating_add(gap) {
                ctx.state_delete(&stored);
                ctx.state_delete(&self.close_key(end.saturating_add(gap), key, start));
                joined.push((start, end, aggregate));
            }
        }
        let (mut start, mut end) = (timestamp, timestamp);
        let mut merged: Option<A> = None;
        for (s, e, aggregate) in joined {
            merged = Some(match merged {
                Some(merged) => merged.combine(aggregate),
                None => aggregate,
            });
            (start, end) = (start.min(s), end.max(e));
        }
        let merged = match merged {
            Some(merged) => merged.combine(value),
            None => value,
        };
        ctx.state_put(
            &self.key(b"agg/", &window_id(key, start)),
            &serde_json::to_vec(&(end, merged))?,
        )?;
        ctx.state_put(&self.close_key(end.saturating_add(gap), key, start), &[])?;
        Ok(())
    }

    /// Removes and returns every window that `watermark` closes, oldest first.
    fn close<A: Combine>(
        &self,
        ctx: &mut Context<'_>,
        watermark: i64,
    ) -> Result<Vec<Closed<A>>, Error> {
        let mut closed = Vec::new();
        let prefix = self.key(b"close/", &[]);
        // One entry at a time: on most records nothing closes, and the oldest
        // entry says so without copying a page of them out of the host.
        while let Some((index, _)) = ctx.state_scan(&prefix, None, 1).pop() {
            let entry = &index[prefix.len()..];
            let closes_at = decode_time(&entry[..8])?;
            let closes = match self.shape {
                Shape::Fixed { .. } | Shape::Sliding { .. } => closes_at <= watermark,
                Shape::Session { .. } => closes_at < watermark,
            };
            if !closes {
                break;
            }
            let id = &entry[8..];
            let stored = self.key(b"agg/", id);
            let bytes = ctx
                .state_get(&stored)
                .ok_or_else(|| Error::msg("window state: a closing window has no aggregate"))?;
            let (end, value): (i64, A) = serde_json::from_slice(&bytes)?;
            let (key, start) = split_window_id(id)?;
            ctx.state_delete(&stored);
            ctx.state_delete(&index);
            closed.push(Closed { key, start, end, value });
        }
        Ok(closed)
    }

    /// `prefix` + `part` + `rest`.
    pub(crate) fn key(&self, part: &[u8], rest: &[u8]) -> Vec<u8> {
        [&self.prefix[..], part, rest].concat()
    }

    /// The close index entry of the window `key`/`start`, closed by `closes_at`.
    fn close_key(&self, closes_at: i64, key: &[u8], start: i64) -> Vec<u8> {
        self.key(b"close/", &[&encode_time(closes_at)[..], &window_id(key, start)].concat())
    }
}

/// A window's identity in the state: [`key_part`] and the start, so a key's
/// windows sort by start.
fn window_id(key: &[u8], start: i64) -> Vec<u8> {
    [&key_part(key)[..], &encode_time(start)].concat()
}

fn split_window_id(id: &[u8]) -> Result<(Vec<u8>, i64), Error> {
    let (key, start) =
        split_key_part(id).ok_or_else(|| Error::msg("window state: a malformed window id"))?;
    Ok((key.to_vec(), decode_time(start)?))
}

pub(crate) fn decode_time(bytes: &[u8]) -> Result<i64, Error> {
    keys::decode_time(bytes, "window")
}

fn millis(duration: Duration) -> Result<i64, Error> {
    match i64::try_from(duration.as_millis()) {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err(Error::msg(format!("a window length of {duration:?}: use at least 1 ms"))),
    }
}

mod sliding;
#[cfg(test)]
mod tests;
