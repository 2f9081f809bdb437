//! Helpers shared by the storage integration tests (`log_crash`, `log_corruption`):
//! building batches, and scanning a partition end to end while checking every
//! invariant a reader relies on.

use weir_broker::log::Partition;
use weir_broker::log::batch;
use weir_broker::log::record::{BatchBuilder, Compression, decode_batch};

/// A batch as the log holds it: offsets assigned, bytes exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// Offset of its first record.
    pub base: u64,
    /// Offset of its last record.
    pub last: u64,
    /// The whole batch, header included.
    pub bytes: Vec<u8>,
}

/// The timestamp the tests give the record at `offset`: strictly increasing, so the
/// answer to "first record at or after t" is known without asking the log.
pub fn timestamp_of(offset: u64) -> i64 {
    1_700_000_000_000 + offset as i64 * 10
}

/// A batch of `count` records meant for offsets `first..first + count`: key
/// `k{offset}`, a value of `value_len` bytes derived from the offset, timestamps from
/// [`timestamp_of`]. Its baseOffset is left at 0 for the log to assign; see
/// [`as_stored`] for the bytes the log then holds.
pub fn make_batch(first: u64, count: usize, value_len: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, Compression::None);
    for i in 0..count as u64 {
        let offset = first + i;
        let value: Vec<u8> = (0..value_len).map(|j| (offset as usize * 31 + j) as u8).collect();
        b.push(timestamp_of(offset), Some(format!("k{offset}").as_bytes()), Some(&value), &[]);
    }
    b.build().expect("a test batch encodes").to_vec()
}

/// The bytes of `request` (batches back to back) as the log stores them once it
/// assigned them offsets from `base`: each batch's baseOffset set in turn.
pub fn as_stored(request: &[u8], base: u64) -> Vec<u8> {
    let mut stored = request.to_vec();
    let mut at = 0;
    let mut next = base;
    while at < stored.len() {
        let header = batch::BatchHeader::parse(&stored[at..]).expect("a test batch");
        let (len, span) = (header.total_len(), header.last_offset_delta() as u64 + 1);
        batch::set_base_offset(&mut stored[at..at + len], next as i64);
        at += len;
        next += span;
    }
    stored
}

/// Checks one batch read back from the log: shape and CRC-32C, and records whose
/// offsets run from its base to its last offset with no gap. Returns it.
pub fn check_batch(bytes: &[u8]) -> StoredBatch {
    let header = batch::validate(bytes).unwrap_or_else(|e| panic!("invalid batch served: {e}"));
    let (base, last) = (header.base_offset() as u64, header.last_offset() as u64);
    let records = decode_batch(bytes)
        .unwrap_or_else(|e| panic!("records of the batch at {base} do not decode: {e}"));
    let offsets: Vec<u64> = records.iter().map(|r| r.offset as u64).collect();
    let expected: Vec<u64> = (base..=last).collect();
    assert_eq!(offsets, expected, "record offsets of the batch at {base}");
    StoredBatch { base, last, bytes: bytes.to_vec() }
}

/// Reads the whole log from its start to the high watermark, checking that every
/// batch is valid and that offsets are dense: each batch starts right after the
/// previous one, with no gap and no overlap, and the last ends at the high
/// watermark. Reading at the high watermark yields nothing.
pub fn scan_log(p: &Partition) -> Vec<StoredBatch> {
    let (start, hwm) = (p.log_start_offset(), p.high_watermark());
    let mut batches = Vec::new();
    let mut next = start;
    // Each read returns at least one batch of at least one offset.
    for _ in start..hwm {
        if next == hwm {
            break;
        }
        let read = p.read(next, 256 * 1024).unwrap_or_else(|e| panic!("read at {next}: {e}"));
        let slice = read.slice.unwrap_or_else(|| panic!("nothing served at {next} < hwm {hwm}"));
        let bytes = slice.read().expect("copying a file slice");
        for found in batch::split(&bytes) {
            let found = found.unwrap_or_else(|e| panic!("torn batch served after {next}: {e}"));
            let b = check_batch(found);
            assert_eq!(b.base, next, "a gap or an overlap: expected a batch at {next}");
            next = b.last + 1;
            batches.push(b);
        }
    }
    assert_eq!(next, hwm, "the log ends at the high watermark");
    let at_end = p.read(hwm, 1024).expect("reading at the high watermark");
    assert!(at_end.slice.is_none(), "a batch served at the high watermark {hwm}");
    batches
}

/// The batch a read from `offset` serves first; it must hold `offset`.
pub fn batch_at(p: &Partition, offset: u64) -> StoredBatch {
    let read = p.read(offset, 1).unwrap_or_else(|e| panic!("read at {offset}: {e}"));
    let slice = read.slice.unwrap_or_else(|| panic!("nothing served at {offset}"));
    let bytes = slice.read().expect("copying a file slice");
    let first = batch::split(&bytes).next().expect("a read returns at least one batch");
    let b = check_batch(first.expect("a whole batch"));
    assert!(
        b.base <= offset && offset <= b.last,
        "a read at {offset} served the batch {}..={} first",
        b.base,
        b.last
    );
    b
}
