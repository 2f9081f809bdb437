//! Compaction of one partition: a cleaner pass (`log::cleaner`) over a snapshot of
//! its sealed segments, read without the partition's lock, and the swap of the
//! cleaned segments under it.
//!
//! Readers that hold a replaced segment's file keep reading the old bytes (the
//! file lives on while open); reads that start after the swap see the cleaned
//! segment. Appends wait only for the swap's renames and fsyncs.

use std::io;

use tracing::{info, warn};

use super::{Partition, now_ms};
use crate::log::cleaner::pass::{self, Sealed};
use crate::log::cleaner::swap;
use crate::log::cleaner::{CleanStats, CleanerOptions};
use crate::log::segment::{OpenMode, Segment};

impl Partition {
    /// Cleans the partition now if its topic is compacted and a cleaning is due by
    /// its settings. Returns what the pass did, or None when there was nothing to
    /// do (or the segments changed under it, and the next pass will do it).
    pub fn clean(&self, opts: &CleanerOptions) -> io::Result<Option<CleanStats>> {
        self.clean_at(now_ms(), opts)
    }

    /// `clean` as if the time were `now_ms`.
    pub fn clean_at(&self, now_ms: i64, opts: &CleanerOptions) -> io::Result<Option<CleanStats>> {
        let _one_at_a_time = self.cleaning.lock();
        let (cfg, sealed, next_base, cleaned_through) = {
            let state = self.state.read();
            if !state.config.cleanup.compact || state.closed {
                return Ok(None);
            }
            let mut segments = state.segments.values();
            let active = segments.next_back().map_or(0, Segment::base_offset);
            let sealed: Vec<Sealed> = segments
                .map(|s| Sealed {
                    base: s.base_offset(),
                    file: s.log().clone(),
                    size: s.size(),
                    newest: match (s.is_empty(), s.max_timestamp()) {
                        (true, _) => i64::MIN,
                        (false, ts) if ts >= 0 => ts,
                        _ => s.modified_ms(),
                    },
                })
                .collect();
            (state.config.clone(), sealed, active, state.cleaned_through)
        };
        let Some(plan) = pass::plan(sealed, next_base, &cfg.cleanup, cleaned_through, now_ms)
        else {
            return Ok(None);
        };
        let (swap, stats) = match pass::run(&self.dir, &plan, &cfg, opts, now_ms) {
            Ok(done) => done,
            Err(e) => {
                let _ = swap::discard(&self.dir);
                return Err(e);
            }
        };
        // Batches of idempotent producers may go: a producer state snapshot taken
        // after every cleaned segment keeps their sequences (restarts start from
        // it, never from the headers of the cleaned segments).
        self.checkpoint()?;
        let mut state = self.state.write();
        // Retention, DeleteRecords' deletions or a close may have come between.
        let sizes = |base: &u64| plan.segments.iter().find(|s| s.base == *base).map(|s| s.size);
        let unchanged = swap
            .replaced
            .iter()
            .chain(&swap.removed)
            .all(|base| state.segments.get(base).map(Segment::size) == sizes(base));
        if state.closed || !unchanged {
            drop(state);
            swap::discard(&self.dir)?;
            return Ok(None);
        }
        swap::commit(&self.dir, &swap)?;
        for &base in &swap.replaced {
            match Segment::open(&self.dir, base, &cfg, OpenMode::Trust, false, true) {
                Ok((segment, _)) => drop(state.segments.insert(base, segment)),
                Err(e) => {
                    // The old segment stays open for reads (its file lives on);
                    // the next open finds the cleaned one.
                    warn!(dir = %self.dir.display(), base, error = %e, "opening a cleaned segment failed");
                }
            }
        }
        for base in &swap.removed {
            state.segments.remove(base);
        }
        state.cleaned_through = swap.cleaned_through;
        drop(state);
        if stats.segments > 0 {
            info!(
                dir = %self.dir.display(),
                segments = stats.segments,
                bytes_before = stats.bytes_before,
                bytes_after = stats.bytes_after,
                records_removed = stats.records_removed,
                cleaned_through = stats.cleaned_through,
                "compacted"
            );
        }
        Ok(Some(stats))
    }

    /// Offsets below this were compacted (0 when never).
    pub fn cleaned_through(&self) -> u64 {
        self.state.read().cleaned_through
    }
}
