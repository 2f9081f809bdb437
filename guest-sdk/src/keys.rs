//! How the SDK's helpers (windows, joins) lay out their state keys: byte
//! strings that sort as their parts do, so that a prefix scan reads one key's
//! entries in time order.

use crate::{Context, Error};

/// Entries read per state scan.
pub(crate) const PAGE: u32 = 64;

/// State entries, key and value.
pub(crate) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A user key inside a state key: its length (4 bytes, big-endian), then the
/// key, so that no key's entries mix with a longer key's.
pub(crate) fn key_part(key: &[u8]) -> Vec<u8> {
    let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
    [&len.to_be_bytes()[..], key].concat()
}

/// Splits what [`key_part`] made off the front of `bytes`: the key and the rest.
pub(crate) fn split_key_part(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let key = bytes.get(4..4usize.checked_add(len)?)?;
    Some((key, &bytes[4 + len..]))
}

/// A timestamp as 8 bytes that sort as the numbers do (sign bit flipped,
/// big-endian).
pub(crate) fn encode_time(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The inverse of [`encode_time`]; `what` names the helper in the error.
pub(crate) fn decode_time(bytes: &[u8], what: &str) -> Result<i64, Error> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::msg(format!("{what} state: a timestamp is not 8 bytes")))?;
    Ok((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

/// Every entry under `prefix`, page by page.
pub(crate) fn scan_all(ctx: &mut Context<'_>, prefix: &[u8]) -> Entries {
    let mut all: Entries = Vec::new();
    loop {
        let after = all.last().map(|(k, _)| k.clone());
        let page = ctx.state_scan(prefix, after.as_deref(), PAGE);
        let full = page.len() == PAGE as usize;
        all.extend(page);
        if !full {
            return all;
        }
    }
}

/// A helper's name, checked: its entries live under `__weir/{kind}/{name}/`.
pub(crate) fn prefix(kind: &str, name: &str) -> Result<Vec<u8>, Error> {
    if name.is_empty() || name.contains('/') {
        return Err(Error::msg(format!("{kind} name {name:?}: use a non-empty name without '/'")));
    }
    Ok(format!("__weir/{kind}/{name}/").into_bytes())
}
