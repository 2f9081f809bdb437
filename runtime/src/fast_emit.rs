//! The host side of emitting, installed over the generated bindings (same WIT
//! signatures): `send` and `send-batch` lift each record as views of guest
//! memory (`WasmStr`, `WasmList`) and copy its key and value into slices of the
//! host's arena buffer, with no allocation per record; `send-packed` (what the
//! Rust SDK uses) copies the batch's data once and slices it.

use bytes::Bytes;
use wasmtime::component::{ComponentType, Lift, Linker, WasmList, WasmStr};
use wasmtime::{AsContext, AsContextMut, StoreContextMut};

use crate::bindings::weir::processor::emit::EmitError;
use crate::host::Host;
use crate::store::{Header, OutputRecord};

/// The WIT `header`, lifted as views.
#[derive(ComponentType, Lift)]
#[component(record)]
struct HeaderView {
    key: WasmStr,
    value: Option<WasmList<u8>>,
}

/// The WIT `output-record`, lifted as views.
#[derive(ComponentType, Lift)]
#[component(record)]
struct OutputView {
    topic: WasmStr,
    key: Option<WasmList<u8>>,
    value: Option<WasmList<u8>>,
    headers: WasmList<HeaderView>,
    partition: Option<u32>,
}

/// The interface `send` belongs to.
const EMIT: &str = "weir:processor/emit@0.1.0";
/// Bytes the arena grows by when it runs out.
const ARENA_CHUNK: usize = 1 << 20;

/// Replaces the generated `emit.send` in `linker`.
pub fn add_to_linker(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut emit = linker.instance(EMIT)?;
    emit.func_wrap("send", send)?;
    emit.func_wrap("send-batch", send_batch)?;
    emit.func_wrap("send-packed", send_packed)?;
    linker.allow_shadowing(false);
    Ok(())
}

fn copy(arena: &mut bytes::BytesMut, data: &[u8]) -> Bytes {
    if arena.capacity() < data.len() {
        arena.reserve(ARENA_CHUNK.max(data.len()));
    }
    arena.extend_from_slice(data);
    arena.split().freeze()
}

fn send(
    store: StoreContextMut<'_, Host>,
    (view,): (OutputView,),
) -> wasmtime::Result<(Result<(), EmitError>,)> {
    Ok((emit_view(store, view)?,))
}

fn send_batch(
    mut store: StoreContextMut<'_, Host>,
    (list,): (WasmList<OutputView>,),
) -> wasmtime::Result<(Result<(), (u32, EmitError)>,)> {
    let views: Vec<OutputView> = list.iter(&mut store)?.collect::<wasmtime::Result<_>>()?;
    for (i, view) in views.into_iter().enumerate() {
        if let Err(e) = emit_view(store.as_context_mut(), view)? {
            return Ok((Err((i as u32, e)),));
        }
    }
    Ok((Ok(()),))
}

/// Words per record and per header in `send-packed`.
const RECORD_WORDS: usize = 8;
const HEADER_WORDS: usize = 4;

fn send_packed(
    mut store: StoreContextMut<'_, Host>,
    (data, records, headers): (WasmList<u8>, WasmList<u32>, WasmList<u32>),
) -> wasmtime::Result<(Result<(), (u32, EmitError)>,)> {
    // One copy of the data; every key and value is a slice of it.
    let (data, records, headers) = {
        let view = store.as_context();
        (
            Bytes::copy_from_slice(data.as_le_slice(&view)),
            records.as_le_slice(&view).to_vec(),
            headers.as_le_slice(&view).to_vec(),
        )
    };
    let now = store.data().now_ms;
    let unpacked = unpack(&data, &records, &headers, now)?;
    Ok((store.data_mut().emit_unpacked(unpacked),))
}

/// An unpacked `send-packed` record: output index, partition, record.
pub type Unpacked = (usize, Option<u32>, OutputRecord);

/// Unpacks the arguments of `send-packed` (layout in the WIT); an error for
/// malformed words is a trap: the guest's SDK is broken.
pub fn unpack(
    data: &Bytes,
    records: &[u32],
    headers: &[u32],
    now: i64,
) -> wasmtime::Result<Vec<Unpacked>> {
    if !records.len().is_multiple_of(RECORD_WORDS) || !headers.len().is_multiple_of(HEADER_WORDS) {
        wasmtime::bail!("send-packed: records or headers are not whole entries");
    }
    let span = |start: u32, len_plus_one: u32| -> wasmtime::Result<Option<Bytes>> {
        let Some(len) = len_plus_one.checked_sub(1) else { return Ok(None) };
        let (start, end) = (start as usize, start as usize + len as usize);
        if end > data.len() {
            wasmtime::bail!("send-packed: a range ends past the data");
        }
        Ok(Some(data.slice(start..end)))
    };
    let mut out = Vec::with_capacity(records.len() / RECORD_WORDS);
    for r in records.chunks_exact(RECORD_WORDS) {
        let (first, count) = (r[5] as usize, r[6] as usize);
        let Some(own) = headers.get(first * HEADER_WORDS..(first + count) * HEADER_WORDS) else {
            wasmtime::bail!("send-packed: a record's headers are past the header list");
        };
        let mut record_headers = Vec::with_capacity(count);
        for h in own.chunks_exact(HEADER_WORDS) {
            let name = span(h[0], h[1].saturating_add(1))?.unwrap_or_default();
            let key = String::from_utf8_lossy(&name).into_owned();
            record_headers.push(Header { key, value: span(h[2], h[3])? });
        }
        let record = OutputRecord {
            key: span(r[1], r[2])?,
            value: span(r[3], r[4])?,
            headers: record_headers,
            timestamp: now,
        };
        out.push((r[0] as usize, r[7].checked_sub(1), record));
    }
    Ok(out)
}

fn emit_view(
    mut store: StoreContextMut<'_, Host>,
    view: OutputView,
) -> wasmtime::Result<Result<(), EmitError>> {
    // Headers are rare: lift them (that needs the store mutably) before
    // borrowing guest memory for the rest.
    let header_views: Vec<HeaderView> = if view.headers.len() == 0 {
        Vec::new()
    } else {
        view.headers.iter(&mut store)?.collect::<wasmtime::Result<_>>()?
    };
    let (topic, record) = {
        let store = store.as_context();
        let host = store.data();
        let mut arena = host.arena.borrow_mut();
        let topic = TopicName::new(&view.topic.to_str(&store)?);
        let bytes = |list: &Option<WasmList<u8>>, arena: &mut bytes::BytesMut| {
            list.as_ref().map(|l| copy(arena, l.as_le_slice(&store)))
        };
        let key = bytes(&view.key, &mut arena);
        let value = bytes(&view.value, &mut arena);
        let mut headers = Vec::with_capacity(header_views.len());
        for h in &header_views {
            let hk = h.key.to_str(&store)?.into_owned();
            headers.push(Header { key: hk, value: bytes(&h.value, &mut arena) });
        }
        (topic, OutputRecord { key, value, headers, timestamp: host.now_ms })
    };
    Ok(store.data_mut().emit(&topic, view.partition, record))
}

/// The emitted topic's name, copied out of guest memory (which cannot stay
/// borrowed while the host state changes) into an inline buffer when short.
enum TopicName {
    Inline([u8; 64], usize),
    Heap(String),
}

impl TopicName {
    fn new(name: &str) -> Self {
        if name.len() <= 64 {
            let mut buf = [0u8; 64];
            buf[..name.len()].copy_from_slice(name.as_bytes());
            TopicName::Inline(buf, name.len())
        } else {
            TopicName::Heap(name.to_string())
        }
    }
}

impl std::ops::Deref for TopicName {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            // The bytes are a whole `str` (cut at its length), so this never fails.
            TopicName::Inline(buf, len) => std::str::from_utf8(&buf[..*len]).unwrap_or_default(),
            TopicName::Heap(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_records_with_nulls_and_headers() {
        let data = Bytes::from_static(b"keyvaluehname");
        // Record 0: key "key", value "value", one header; record 1: no key, empty
        // value, partition 2.
        let records = [0, 0, 4, 3, 6, 0, 1, 0, 1, 0, 0, 8, 1, 1, 0, 3];
        let headers = [8, 1, 9, 5];
        let out = unpack(&data, &records, &headers, 7).unwrap();
        assert_eq!(out.len(), 2);
        let (output, partition, r) = &out[0];
        assert_eq!((*output, *partition), (0, None));
        assert_eq!(r.key.as_deref(), Some(&b"key"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"value"[..]));
        assert_eq!(
            r.headers,
            [Header { key: "h".into(), value: Some(Bytes::from_static(b"name")) }]
        );
        assert_eq!(r.timestamp, 7);
        let (output, partition, r) = &out[1];
        assert_eq!((*output, *partition), (1, Some(2)));
        assert_eq!((r.key.as_deref(), r.value.as_deref()), (None, Some(&b""[..])));
    }

    #[test]
    fn malformed_words_are_refused() {
        let data = Bytes::from_static(b"abc");
        // Not whole records, a range past the data, headers past the list.
        assert!(unpack(&data, &[0; 7], &[], 0).is_err());
        assert!(unpack(&data, &[0, 0, 5, 0, 0, 0, 0, 0], &[], 0).is_err());
        assert!(unpack(&data, &[0, 0, 0, 0, 0, 0, 1, 0], &[], 0).is_err());
        assert!(unpack(&data, &[0, u32::MAX, 2, 0, 0, 0, 0, 0], &[], 0).is_err());
    }
}
