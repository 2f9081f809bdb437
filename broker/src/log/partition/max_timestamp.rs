//! ListOffsets v7's max-timestamp lookup (KIP-734): the record with the
//! largest timestamp, the first of them if several share it.

use std::sync::Arc;

use super::{Partition, ReadError, Scanner, record};

impl Partition {
    /// The offset and timestamp of the first record with the largest timestamp
    /// at or after the log start; None when there is no record (or none has a
    /// timestamp). Reads the segment that holds it.
    pub fn offset_of_max_timestamp(&self) -> Result<Option<(u64, i64)>, ReadError> {
        let (found, log_start) = {
            let state = self.state.read();
            let log_start = state.log_start_offset();
            let newest = state
                .segments
                .values()
                .filter(|s| !s.is_empty() && s.next_offset() > log_start && s.max_timestamp() >= 0)
                // The first segment reaching the largest timestamp holds its first record.
                .fold(None, |best: Option<&super::Segment>, s| match best {
                    Some(b) if b.max_timestamp() >= s.max_timestamp() => Some(b),
                    _ => Some(s),
                });
            let found = newest.map(|s| (Arc::clone(s.log()), s.size(), s.max_timestamp()));
            (found, log_start)
        };
        let Some((file, end, max)) = found else { return Ok(None) };
        let mut scan = Scanner::new(&file, 0, end, false);
        while let Some(b) = scan.next_batch().map_err(|e| self.read_err(e))? {
            if b.header.max_timestamp() < max || (b.header.last_offset() as u64) < log_start {
                continue;
            }
            let mut bytes = vec![0u8; b.header.total_len()];
            std::os::unix::fs::FileExt::read_exact_at(&*file, &mut bytes, b.position)
                .map_err(|source| ReadError::Io { dir: self.dir.clone(), source })?;
            let first = record::decode_batch(&bytes).ok().and_then(|records| {
                records.into_iter().find(|r| r.timestamp == max && r.offset as u64 >= log_start)
            });
            if let Some(r) = first {
                return Ok(Some((r.offset as u64, r.timestamp)));
            }
            // Undecodable, or its record at `max` is before the log start: the
            // batch's own offsets are the best answer left.
            let offset = (b.header.base_offset() as u64).max(log_start);
            return Ok(Some((offset, max)));
        }
        Ok(None)
    }
}
