//! Timers and the partition's watermark, kept in the processor's state under
//! the host's own prefix (`0xff` `weir/`), so they commit with the batch that
//! changes them and survive restarts like the rest of the state. The guest's
//! `state` import never sees or touches these keys.
//!
//! Layout, under the prefix:
//! - `wm`: the newest timestamp processed of the first input, 8 bytes
//!   big-endian (two's complement); `wm/{i}` (`i` 4 bytes big-endian) the same
//!   for input `i` > 0;
//! - `wmark`: the watermark: the least of the inputs' newest timestamps (of
//!   those that had a record), less the allowed lateness, never moving down;
//! - `t/{d}{at}{key}`: a timer of domain `d` (`e` or `p`) due at `at`, encoded
//!   so that byte order is time order, with an empty value;
//! - `k/{d}{key}`: the same timer's `at`, to move or cancel it by key;
//! - `now`: the processing time of the last batch committed, 8 bytes
//!   big-endian, so that processing time never goes back, also across
//!   restarts and a wall clock set back.

use crate::state::{State, StateFull};

/// Keys of the host's own state entries start with this.
pub const HOST_PREFIX: &[u8] = b"\xffweir/";

/// The clock a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Domain {
    /// The partition's watermark.
    Event,
    /// The host's clock.
    Processing,
}

impl Domain {
    fn tag(self) -> u8 {
        match self {
            Domain::Event => b'e',
            Domain::Processing => b'p',
        }
    }
}

/// A due timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// Its clock.
    pub domain: Domain,
    /// Its key.
    pub key: Vec<u8>,
    /// When it is due, ms.
    pub at: i64,
}

/// True for keys the guest may not read or write.
pub fn is_host_key(key: &[u8]) -> bool {
    key.starts_with(HOST_PREFIX)
}

fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = HOST_PREFIX.to_vec();
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// `at` as bytes whose order is numeric order.
fn ordered(at: i64) -> [u8; 8] {
    ((at as u64) ^ (1 << 63)).to_be_bytes()
}

fn from_ordered(bytes: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

fn read_i64(state: &State, key: &[u8]) -> Option<i64> {
    state.get(key).filter(|v| v.len() == 8).map(|v| i64::from_be_bytes(v.try_into().expect("8")))
}

fn input_time_key(input: u32) -> Vec<u8> {
    match input {
        0 => key(&[b"wm"]),
        i => key(&[b"wm/", &i.to_be_bytes()]),
    }
}

/// The watermark; the least i64 before any record. (A state written before
/// `wmark` existed had one input and no lateness: its `wm` is the watermark.)
pub fn watermark(state: &State) -> i64 {
    read_i64(state, &key(&[b"wmark"]))
        .or_else(|| read_i64(state, &input_time_key(0)))
        .unwrap_or(i64::MIN)
}

/// Moves input `input`'s newest timestamp up to `timestamp` (never down).
pub fn advance_input_time(state: &mut State, input: u32, timestamp: i64) -> Result<(), StateFull> {
    let k = input_time_key(input);
    if read_i64(state, &k).is_none_or(|t| timestamp > t) {
        state.put(k, timestamp.to_be_bytes().to_vec())?;
    }
    Ok(())
}

/// Recomputes the watermark from the newest timestamps of `inputs` inputs,
/// less `lateness_ms`; it never moves down. Inputs without a record yet do
/// not hold it back.
pub fn refresh_watermark(
    state: &mut State,
    inputs: u32,
    lateness_ms: u64,
) -> Result<(), StateFull> {
    let least = (0..inputs).filter_map(|i| read_i64(state, &input_time_key(i))).min();
    let Some(least) = least else { return Ok(()) };
    let lateness = i64::try_from(lateness_ms).unwrap_or(i64::MAX);
    let wanted = least.saturating_sub(lateness);
    if read_i64(state, &key(&[b"wmark"])).is_none_or(|w| wanted > w) {
        state.put(key(&[b"wmark"]), wanted.to_be_bytes().to_vec())?;
    }
    Ok(())
}

/// The processing time of a batch starting at wall-clock `wall` (ms): `wall`,
/// or the last one recorded if the clock went back.
pub fn processing_time(state: &State, wall: i64) -> i64 {
    read_i64(state, &key(&[b"now"])).map_or(wall, |recorded| recorded.max(wall))
}

/// Records `now` as the processing time of the batch being committed.
pub fn record_processing_time(state: &mut State, now: i64) -> Result<(), StateFull> {
    let k = key(&[b"now"]);
    if read_i64(state, &k).is_none_or(|t| now > t) {
        state.put(k, now.to_be_bytes().to_vec())?;
    }
    Ok(())
}

/// Sets `timer_key`'s timer in `domain` to `at`.
pub fn set(state: &mut State, domain: Domain, timer_key: &[u8], at: i64) -> Result<(), StateFull> {
    cancel(state, domain, timer_key);
    state.put(key(&[b"t/", &[domain.tag()], &ordered(at), timer_key]), Vec::new())?;
    state.put(key(&[b"k/", &[domain.tag()], timer_key]), ordered(at).to_vec())
}

/// Removes `timer_key`'s timer in `domain`, if any.
pub fn cancel(state: &mut State, domain: Domain, timer_key: &[u8]) {
    let index = key(&[b"k/", &[domain.tag()], timer_key]);
    if let Some(at) = state.get(&index).map(<[u8]>::to_vec) {
        state.delete(key(&[b"t/", &[domain.tag()], &at, timer_key]));
        state.delete(index);
    }
}

/// The earliest timers of `domain`, at most `limit`.
fn earliest(state: &State, domain: Domain, limit: usize) -> Vec<Timer> {
    let prefix = key(&[b"t/", &[domain.tag()]]);
    state
        .scan(&prefix, None, limit)
        .into_iter()
        .map(|(k, _)| {
            let rest = &k[prefix.len()..];
            Timer { domain, at: from_ordered(rest), key: rest[8..].to_vec() }
        })
        .collect()
}

/// When the earliest processing-time timer is due, if there is one.
pub fn next_processing(state: &State) -> Option<i64> {
    earliest(state, Domain::Processing, 1).first().map(|t| t.at)
}

/// True if a timer is due at `watermark` (event time) or `now` (processing time).
pub fn any_due(state: &State, watermark: i64, now: i64) -> bool {
    let due = |domain, clock| earliest(state, domain, 1).first().is_some_and(|t| t.at <= clock);
    due(Domain::Event, watermark) || due(Domain::Processing, now)
}

/// The timers due at `watermark` (event time) and `now` (processing time),
/// oldest first, at most `limit`; each removed from the state.
pub fn take_due(state: &mut State, watermark: i64, now: i64, limit: usize) -> Vec<Timer> {
    let mut due: Vec<Timer> = earliest(state, Domain::Event, limit)
        .into_iter()
        .take_while(|t| t.at <= watermark)
        .chain(earliest(state, Domain::Processing, limit).into_iter().take_while(|t| t.at <= now))
        .collect();
    due.sort_by(|a, b| (a.at, a.domain, &a.key).cmp(&(b.at, b.domain, &b.key)));
    due.truncate(limit);
    for t in &due {
        cancel(state, t.domain, &t.key);
    }
    due
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn timers_fire_in_time_order_once_and_move_by_key() {
        let mut state = State::new(BTreeMap::new(), u64::MAX);
        set(&mut state, Domain::Event, b"b", 20).unwrap();
        set(&mut state, Domain::Event, b"a", -5).unwrap();
        set(&mut state, Domain::Processing, b"a", 10).unwrap();
        set(&mut state, Domain::Event, b"c", 30).unwrap();
        set(&mut state, Domain::Event, b"c", 15).unwrap(); // moved
        set(&mut state, Domain::Event, b"gone", 1).unwrap();
        cancel(&mut state, Domain::Event, b"gone");
        let due = take_due(&mut state, 20, 12, 100);
        let fired: Vec<(Domain, &[u8], i64)> =
            due.iter().map(|t| (t.domain, &t.key[..], t.at)).collect();
        assert_eq!(
            fired,
            [
                (Domain::Event, &b"a"[..], -5),
                (Domain::Processing, &b"a"[..], 10),
                (Domain::Event, &b"c"[..], 15),
                (Domain::Event, &b"b"[..], 20),
            ]
        );
        assert!(take_due(&mut state, i64::MAX, i64::MAX, 100).is_empty(), "each fires once");
        assert!(state.scan(HOST_PREFIX, None, 100).is_empty(), "nothing left behind");
    }

    #[test]
    fn the_watermark_is_the_least_input_time_less_lateness_and_only_moves_up() {
        let mut state = State::new(BTreeMap::new(), u64::MAX);
        assert_eq!(watermark(&state), i64::MIN);
        advance_input_time(&mut state, 0, 50).unwrap();
        advance_input_time(&mut state, 0, 40).unwrap();
        refresh_watermark(&mut state, 1, 0).unwrap();
        assert_eq!(watermark(&state), 50);
        // A second input holds it back once it has a record; lateness lowers it,
        // but it never goes back down.
        advance_input_time(&mut state, 1, 30).unwrap();
        refresh_watermark(&mut state, 2, 5).unwrap();
        assert_eq!(watermark(&state), 50, "never down");
        advance_input_time(&mut state, 0, 100).unwrap();
        advance_input_time(&mut state, 1, 90).unwrap();
        refresh_watermark(&mut state, 2, 5).unwrap();
        assert_eq!(watermark(&state), 85);
        set(&mut state, Domain::Processing, b"x", 7).unwrap();
        assert_eq!(next_processing(&state), Some(7));
    }

    #[test]
    fn processing_time_is_recorded_and_never_goes_back() {
        let mut state = State::new(BTreeMap::new(), u64::MAX);
        assert_eq!(processing_time(&state, 1_000), 1_000, "nothing recorded: the wall clock");
        record_processing_time(&mut state, 1_000).unwrap();
        assert_eq!(processing_time(&state, 900), 1_000, "a clock set back");
        assert_eq!(processing_time(&state, 1_200), 1_200);
        record_processing_time(&mut state, 800).unwrap();
        assert_eq!(processing_time(&state, 0), 1_000, "the record never moves back");
    }
}
