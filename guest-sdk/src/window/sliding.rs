//! Sliding windows' state: each in-time record's contribution under
//! `contrib/{key}{timestamp}{seq}` (`seq` a counter, so records of one key and
//! time stay apart), and under `slide/{end}{key}` the end of every window a
//! record defined (the one ending just after it and the one starting just after
//! it; a window is known by its key and end, so two records defining the same
//! one make one entry). A window's aggregate is combined from the contributions
//! when it closes; contributions no open window can hold are deleted then.

use super::{Closed, Combine, Windows, decode_time};
use crate::keys::{encode_time, key_part, scan_all, split_key_part};
use crate::{Context, Error};

/// Keeps `value` as the contribution of `key` at `timestamp` and indexes the
/// two windows it defines.
pub(super) fn add<A: Combine>(
    w: &Windows,
    ctx: &mut Context<'_>,
    key: &[u8],
    timestamp: i64,
    value: A,
    size: i64,
) -> Result<(), Error> {
    let seq_key = w.key(b"seq", &[]);
    let seq = match ctx.state_get(&seq_key) {
        Some(bytes) => u64::from_be_bytes(
            bytes.try_into().map_err(|_| Error::msg("window state: a malformed counter"))?,
        ),
        None => 0,
    };
    ctx.state_put(&seq_key, &(seq + 1).to_be_bytes())?;
    let contribution = [&key_part(key)[..], &encode_time(timestamp), &seq.to_be_bytes()].concat();
    ctx.state_put(&w.key(b"contrib/", &contribution), &serde_json::to_vec(&value)?)?;
    let after = timestamp.saturating_add(1);
    for end in [after, after.saturating_add(size)] {
        ctx.state_put(&w.key(b"slide/", &[&encode_time(end)[..], &key_part(key)].concat()), &[])?;
    }
    Ok(())
}

/// The aggregate of `key`'s contributions in `[end - size, end)`, if any.
pub(super) fn aggregate<A: Combine>(
    w: &Windows,
    ctx: &mut Context<'_>,
    key: &[u8],
    end: i64,
    size: i64,
) -> Result<Option<A>, Error> {
    let prefix = w.key(b"contrib/", &key_part(key));
    let start = end.saturating_sub(size);
    let mut total: Option<A> = None;
    for (stored, bytes) in scan_all(ctx, &prefix) {
        let at = decode_time(&stored[prefix.len()..prefix.len() + 8])?;
        if at < start || at >= end {
            continue;
        }
        let value: A = serde_json::from_slice(&bytes)?;
        total = Some(match total {
            Some(total) => total.combine(value),
            None => value,
        });
    }
    Ok(total)
}

/// Removes and returns the windows `watermark` closes (end at or before it),
/// by end then key, skipping those that hold no record; then drops the
/// contributions of their keys that no window left to close can hold.
pub(super) fn close<A: Combine>(
    w: &Windows,
    ctx: &mut Context<'_>,
    watermark: i64,
    size: i64,
) -> Result<Vec<Closed<A>>, Error> {
    let mut closed = Vec::new();
    let prefix = w.key(b"slide/", &[]);
    while let Some((index, _)) = ctx.state_scan(&prefix, None, 1).pop() {
        let entry = &index[prefix.len()..];
        let end = decode_time(&entry[..8])?;
        if end > watermark {
            break;
        }
        ctx.state_delete(&index);
        let (key, _) = split_key_part(&entry[8..])
            .ok_or_else(|| Error::msg("window state: a malformed sliding window entry"))?;
        let key = key.to_vec();
        if let Some(value) = aggregate::<A>(w, ctx, &key, end, size)? {
            closed.push(Closed { key: key.clone(), start: end.saturating_sub(size), end, value });
        }
        // The key's windows still to close end after this one, so they start
        // after `end - size`: nothing at or before it is needed any more.
        let contributions = w.key(b"contrib/", &key_part(&key));
        for (stored, _) in scan_all(ctx, &contributions) {
            let at = decode_time(&stored[contributions.len()..contributions.len() + 8])?;
            if at > end.saturating_sub(size) {
                break;
            }
            ctx.state_delete(&stored);
        }
    }
    Ok(closed)
}
