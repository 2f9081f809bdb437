//! `emit.send` and `emit.send-batch` without an allocation per record: the record is lifted as views
//! of guest memory (`WasmStr`, `WasmList`), its topic compared in place, and its
//! key and value copied into slices of the host's arena buffer. The linker
//! installs this over the generated binding (same WIT signature).

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
