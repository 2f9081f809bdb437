//! Emitted records, buffered in the guest (wasm32 only) and handed to the host in
//! one `send-packed` call at the end of each `process` call instead of a host call
//! per record. Keys and values are copied into one buffer; the declared outputs
//! (asked of the host once) let `emit` refuse an undeclared topic or a missing
//! partition at once — such a record goes to the host's `send`, which records the
//! violation and gives the reason.

use std::cell::RefCell;
use std::ops::Range;

use crate::guest::bindings::weir::processor::emit as wit_emit;
use crate::{EmitError, OutputRecord};

/// Flush when this many records are buffered.
const FLUSH_RECORDS: usize = 4096;
/// Flush when this many bytes are buffered.
const FLUSH_BYTES: usize = 4 << 20;

/// One buffered record: its parts as ranges of `Outbox::data`.
struct Entry {
    topic: usize,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    headers: Vec<(Range<usize>, Option<Range<usize>>)>,
    partition: Option<u32>,
}

/// The buffer.
#[derive(Default)]
struct Outbox {
    /// The declared outputs and their partition counts, asked of the host once.
    outputs: Option<Vec<(String, u32)>>,
    /// Keys, values and header values, back to back.
    data: Vec<u8>,
    /// The records, in emit order.
    entries: Vec<Entry>,
}

std::thread_local! {
    static OUTBOX: RefCell<Outbox> = RefCell::default();
}

fn push(data: &mut Vec<u8>, bytes: Option<&[u8]>) -> Option<Range<usize>> {
    bytes.map(|b| {
        let start = data.len();
        data.extend_from_slice(b);
        start..data.len()
    })
}

/// Buffers `record`, or has the host refuse it.
pub(crate) fn emit(record: &OutputRecord<'_>) -> Result<(), EmitError> {
    let full = OUTBOX.with_borrow_mut(|outbox| {
        let outputs = outbox.outputs.get_or_insert_with(|| {
            wit_emit::outputs().into_iter().map(|o| (o.name, o.partitions)).collect()
        });
        let topic = outputs.iter().position(|(name, _)| name == record.topic);
        // An undeclared topic or missing partition: the host's `send` refuses it.
        let topic = topic.filter(|&t| record.partition.is_none_or(|p| p < outputs[t].1))?;
        let key = push(&mut outbox.data, record.key);
        let value = push(&mut outbox.data, record.value);
        let headers = record
            .headers
            .iter()
            .map(|h| {
                let name = push(&mut outbox.data, Some(h.key.as_bytes())).unwrap_or_default();
                (name, push(&mut outbox.data, h.value))
            })
            .collect();
        outbox.entries.push(Entry { topic, key, value, headers, partition: record.partition });
        Some(outbox.entries.len() >= FLUSH_RECORDS || outbox.data.len() >= FLUSH_BYTES)
    });
    match full {
        None => crate::guest::send_one(record),
        Some(true) => flush().map_err(|(_, e)| e),
        Some(false) => Ok(()),
    }
}

/// Hands every buffered record to the host in one `send-packed` call; on a
/// refusal, the index of the refused record in this flush and the reason.
pub(crate) fn flush() -> Result<(), (u32, EmitError)> {
    OUTBOX.with_borrow_mut(|outbox| {
        if outbox.entries.is_empty() {
            return Ok(());
        }
        // Layout: see `send-packed` in runtime/wit/processor.wit.
        let span = |r: &Option<Range<usize>>| match r {
            Some(r) => [r.start as u32, (r.end - r.start) as u32 + 1],
            None => [0, 0],
        };
        let mut records = Vec::with_capacity(outbox.entries.len() * 8);
        let mut headers = Vec::new();
        for e in &outbox.entries {
            let [key_start, key_len] = span(&e.key);
            let [value_start, value_len] = span(&e.value);
            let first_header = (headers.len() / 4) as u32;
            for (name, value) in &e.headers {
                let [value_start, value_len] = span(value);
                headers.extend([name.start as u32, (name.end - name.start) as u32]);
                headers.extend([value_start, value_len]);
            }
            records.extend([e.topic as u32, key_start, key_len, value_start, value_len]);
            records.extend([
                first_header,
                e.headers.len() as u32,
                e.partition.map_or(0, |p| p + 1),
            ]);
        }
        let result = wit_emit::send_packed(&outbox.data, &records, &headers);
        outbox.entries.clear();
        outbox.data.clear();
        result.map_err(|(i, e)| (i, crate::guest::emit_error(e)))
    })
}

/// Drops every buffered record (the call failed).
pub(crate) fn discard() {
    OUTBOX.with_borrow_mut(|outbox| {
        outbox.entries.clear();
        outbox.data.clear();
    });
}
