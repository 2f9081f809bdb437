//! Walking the batches of a `.log` file, reading it in large sequential chunks.
//!
//! Reads use `pread` on a shared file handle, so a scan needs no lock on the
//! segment: the bytes below a segment's published size never change.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use thiserror::Error;

use super::batch::{self, BatchError, BatchHeader, HEADER_LEN};

/// Bytes read at a time.
const CHUNK: usize = 256 * 1024;
/// Without verification only headers are needed: after a batch at least this long,
/// the next header is read on its own (one small pread) rather than with a chunk that
/// would be mostly that batch's records, copied for nothing (readers send or copy
/// the batches themselves).
const HEADER_ONLY_AFTER: usize = 4 * 1024;

/// A batch found by a scan.
#[derive(Debug, Clone, Copy)]
pub struct ScannedBatch {
    /// Where the batch starts in the file.
    pub position: u64,
    /// A copy of its header.
    pub header: BatchHeader<[u8; HEADER_LEN]>,
}

impl ScannedBatch {
    /// The byte after the batch.
    pub fn end(&self) -> u64 {
        self.position + self.header.total_len() as u64
    }
}

/// Why a scan stopped before the end.
#[derive(Debug, Error)]
pub enum ScanError {
    /// The bytes at `position` are not a whole, valid batch.
    #[error("invalid batch at position {position}: {source}")]
    Corrupt {
        /// Where the bad batch starts: everything before it is sound.
        position: u64,
        /// What is wrong with it.
        source: BatchError,
    },
    /// Reading the file failed.
    #[error("reading the log failed: {0}")]
    Io(#[from] io::Error),
}

/// Iterates over the batches in `file` between two positions.
#[derive(Debug)]
pub struct Scanner<'f> {
    /// The `.log` file.
    file: &'f File,
    /// The next batch's position.
    position: u64,
    /// Where the scan ends (the segment's size).
    end: u64,
    /// With true, each batch's CRC and record count are checked (recovery); with
    /// false, only its header's shape and length (reads).
    verify: bool,
    /// Bytes of the file from `buf_start`.
    buf: Vec<u8>,
    /// The file position of `buf[0]`.
    buf_start: u64,
    /// Without verification: read the next header on its own, as the last batch was
    /// long (or none was read yet: the first header is read alone, batch sizes
    /// unknown); small batches switch to chunks, whose headers come many per read.
    header_only: bool,
}

impl<'f> Scanner<'f> {
    /// A scan of `file` from `position` up to `end`.
    pub fn new(file: &'f File, position: u64, end: u64, verify: bool) -> Self {
        Scanner {
            file,
            position,
            end,
            verify,
            buf: Vec::new(),
            buf_start: position,
            header_only: true,
        }
    }

    /// Where the next batch would start.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Makes `buf` hold the file's bytes `[at, at + len)`, reading at least `min_read`
    /// bytes (if the file has them).
    fn fill(&mut self, at: u64, len: usize, min_read: usize) -> io::Result<&[u8]> {
        let have =
            at >= self.buf_start && at + len as u64 <= self.buf_start + self.buf.len() as u64;
        if !have {
            let want = len.max(min_read).min((self.end - at) as usize).max(len);
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, at)?;
            self.buf_start = at;
        }
        let from = (at - self.buf_start) as usize;
        Ok(&self.buf[from..from + len])
    }

    /// The next batch, None at the end; an error for a torn or corrupt batch (the
    /// scan is over after an error).
    pub fn next_batch(&mut self) -> Result<Option<ScannedBatch>, ScanError> {
        if self.position >= self.end {
            return Ok(None);
        }
        let position = self.position;
        let corrupt = |source| ScanError::Corrupt { position, source };
        let remaining = (self.end - position) as usize;
        if remaining < HEADER_LEN {
            self.end = position;
            return Err(corrupt(BatchError::Truncated {
                needed: HEADER_LEN,
                available: remaining,
            }));
        }
        let min_read = if self.header_only && !self.verify { HEADER_LEN } else { CHUNK };
        let header = match BatchHeader::parse(self.fill(position, HEADER_LEN, min_read)?) {
            Ok(h) => h.to_owned(),
            Err(e) => {
                self.end = position;
                return Err(corrupt(e));
            }
        };
        let len = header.total_len();
        if len > remaining {
            self.end = position;
            return Err(corrupt(BatchError::Truncated { needed: len, available: remaining }));
        }
        if self.verify
            && let Err(e) = batch::validate(self.fill(position, len, CHUNK)?)
        {
            self.end = position;
            return Err(corrupt(e));
        }
        self.position += len as u64;
        self.header_only = len >= HEADER_ONLY_AFTER;
        Ok(Some(ScannedBatch { position, header }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::BatchBuilder;
    use crate::log::record::Compression;
    use std::io::Write;

    fn batch(base: i64, records: usize, value_len: usize) -> Vec<u8> {
        let mut b = BatchBuilder::new(base, Compression::None);
        for i in 0..records {
            b.push(1_000 + i as i64, None, Some(&vec![b'x'; value_len]), &[]);
        }
        b.build().unwrap().to_vec()
    }

    fn log_file(batches: &[Vec<u8>]) -> (tempfile::TempDir, File, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut f = File::create(&path).unwrap();
        for b in batches {
            f.write_all(b).unwrap();
        }
        let len = f.metadata().unwrap().len();
        (dir, File::open(&path).unwrap(), len)
    }

    #[test]
    fn scans_every_batch_including_ones_larger_than_a_chunk() {
        // Small, larger than a chunk, small, over HEADER_ONLY_AFTER, small, small:
        // both the chunked and the header-only way of reading headers.
        let batches = vec![
            batch(0, 3, 10),
            batch(3, 2, CHUNK + 100),
            batch(5, 1, 10),
            batch(6, 2, HEADER_ONLY_AFTER),
            batch(8, 1, 10),
            batch(9, 1, 10),
        ];
        let (_dir, file, len) = log_file(&batches);
        let mut expected = Vec::new();
        let mut position = 0;
        for b in &batches {
            let header = BatchHeader::parse(b).unwrap();
            expected.push((position, header.base_offset(), header.last_offset()));
            position += b.len() as u64;
        }
        for verify in [true, false] {
            let mut scan = Scanner::new(&file, 0, len, verify);
            let mut seen = Vec::new();
            while let Some(b) = scan.next_batch().unwrap() {
                seen.push((b.position, b.header.base_offset(), b.header.last_offset()));
            }
            assert_eq!(seen, expected, "verify: {verify}");
            assert_eq!(scan.position(), len);
        }
    }

    #[test]
    fn stops_at_a_torn_tail_and_at_a_bad_crc() {
        let batches = vec![batch(0, 1, 10), batch(1, 1, 10)];
        let (_dir, file, len) = log_file(&batches);
        let first = batches[0].len() as u64;

        let mut scan = Scanner::new(&file, 0, len - 5, true);
        assert!(scan.next_batch().unwrap().is_some());
        match scan.next_batch() {
            Err(ScanError::Corrupt { position, source: BatchError::Truncated { .. } }) => {
                assert_eq!(position, first)
            }
            other => panic!("expected a torn batch, got {other:?}"),
        }
        assert!(scan.next_batch().unwrap().is_none());

        let mut flipped = batches.clone();
        let last = flipped[1].len() - 1;
        flipped[1][last] ^= 1;
        let (_dir, file, len) = log_file(&flipped);
        let mut verified = Scanner::new(&file, 0, len, true);
        verified.next_batch().unwrap();
        assert!(matches!(
            verified.next_batch(),
            Err(ScanError::Corrupt { source: BatchError::CrcMismatch { .. }, .. })
        ));
        // Without verification the same bytes pass: reads trust what recovery checked.
        let mut unverified = Scanner::new(&file, 0, len, false);
        assert_eq!(std::iter::from_fn(|| unverified.next_batch().unwrap()).count(), 2);
    }

    #[test]
    fn zeroes_are_not_a_batch() {
        let (_dir, file, len) = log_file(&[vec![0u8; 200]]);
        let mut scan = Scanner::new(&file, 0, len, false);
        assert!(matches!(
            scan.next_batch(),
            Err(ScanError::Corrupt { position: 0, source: BatchError::BadMagic(0) })
        ));
    }
}
