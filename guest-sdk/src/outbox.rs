//! Emitted records, buffered in the guest (wasm32 only) and handed to the host in
//! one `send-packed` call at the end of each `process` call instead of a host call
//! per record. The outbox is the WIT `packed-output` itself: keys, values and
//! headers are copied into one buffer, and the records and headers are kept as
//! the binding's `packed-output-entry` and `packed-header`, whose lists (integers
//! only) are handed to the host as they lie in memory. The declared outputs
//! (asked of the host once) let `emit` refuse an undeclared topic or a missing
//! partition at once — such a record goes to the host's `send`, which records the
//! violation and gives the reason.

use std::cell::RefCell;

use crate::guest::bindings::weir::processor::emit as wit_emit;
use crate::guest::bindings::weir::processor::types::{
    PackedHeader, PackedOutput, PackedOutputEntry, Span,
};
use crate::{EmitError, OutputRecord};

/// Flush when this many records are buffered.
const FLUSH_RECORDS: usize = 4096;
/// Flush when this many bytes are buffered.
const FLUSH_BYTES: usize = 4 << 20;

/// The `partition` of a record without one (see `packed-output-entry`).
const NO_PARTITION: i32 = -1;
/// The `timestamp` of a record without one: the host stamps its own.
const NO_TIMESTAMP: i64 = i64::MIN;
/// A null span.
const NULL: Span = Span { start: 0, len: -1 };

/// The buffer.
#[derive(Default)]
struct Outbox {
    /// The declared outputs and their partition counts, asked of the host once.
    outputs: Option<Vec<(String, u32)>>,
    /// Keys, values, header names and header values, back to back.
    buffer: Vec<u8>,
    /// The records, in emit order, their parts spans of `buffer`.
    records: Vec<PackedOutputEntry>,
    /// The records' headers, each record's in a run.
    headers: Vec<PackedHeader>,
}

impl Outbox {
    fn clear(&mut self) {
        self.buffer.clear();
        self.records.clear();
        self.headers.clear();
    }
}

std::thread_local! {
    static OUTBOX: RefCell<Outbox> = RefCell::default();
}

/// Appends `bytes` to `buffer`; their span, or a null one.
fn push(buffer: &mut Vec<u8>, bytes: Option<&[u8]>) -> Span {
    match bytes {
        None => NULL,
        Some(b) => {
            // Guest memory is under 4 GiB and a flush comes at 4 MiB, so a span
            // of one record's part fits (the host checks every span anyway).
            let start = buffer.len() as u32;
            buffer.extend_from_slice(b);
            Span { start, len: b.len() as i32 }
        }
    }
}

/// Buffers `record`, or has the host refuse it.
pub(crate) fn emit(record: &OutputRecord<'_>) -> Result<(), EmitError> {
    let full = OUTBOX.with_borrow_mut(|outbox| {
        let outputs = outbox.outputs.get_or_insert_with(|| {
            wit_emit::outputs().into_iter().map(|o| (o.name, o.partitions)).collect()
        });
        let output = outputs.iter().position(|(name, _)| name == record.topic)?;
        // An undeclared topic or missing partition: the host's `send` refuses it.
        let partition = match record.partition {
            None => NO_PARTITION,
            Some(p) if p < outputs[output].1 => i32::try_from(p).ok()?,
            Some(_) => return None,
        };
        let headers_start = outbox.headers.len() as u32;
        for h in &record.headers {
            let key = push(&mut outbox.buffer, Some(h.key.as_bytes()));
            let value = push(&mut outbox.buffer, h.value);
            outbox.headers.push(PackedHeader { key, value });
        }
        let key = push(&mut outbox.buffer, record.key);
        let value = push(&mut outbox.buffer, record.value);
        outbox.records.push(PackedOutputEntry {
            output: output as u32,
            key,
            value,
            headers_start,
            headers_count: record.headers.len() as u32,
            partition,
            timestamp: record.timestamp.unwrap_or(NO_TIMESTAMP),
        });
        Some(outbox.records.len() >= FLUSH_RECORDS || outbox.buffer.len() >= FLUSH_BYTES)
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
        if outbox.records.is_empty() {
            return Ok(());
        }
        let packed = PackedOutput {
            buffer: &outbox.buffer,
            records: &outbox.records,
            headers: &outbox.headers,
        };
        let result = wit_emit::send_packed(packed);
        outbox.clear();
        result.map_err(|(i, e)| (i, crate::guest::emit_error(e)))
    })
}

/// Drops every buffered record (the call failed).
pub(crate) fn discard() {
    OUTBOX.with_borrow_mut(Outbox::clear);
}
