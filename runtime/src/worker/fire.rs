//! Firing timers: after each committed batch, and while idle for processing
//! time, the due timers go to `on-timer` as their own transaction (their removal,
//! what the call emits and changes, committed with the unchanged next offset),
//! retried with backoff; if it keeps failing the worker pauses, since no input
//! record is to blame.

use std::time::Duration;

use super::{ATTEMPTS, FIRST_BACKOFF, Interrupt, Slot, Worker};
use crate::instance::CallError;
use crate::logs::LogLevel;
use crate::status::WorkerState;
use crate::timers;

/// Most timers one `on-timer` call gets.
const MAX_FIRED: usize = 1_000;
/// Rounds of firing after one batch: timers that `on-timer` sets already due
/// fire in the next round; past this many, at the next batch or idle check.
const MAX_ROUNDS: usize = 16;

impl Worker {
    /// Fires what is due at the host's clock for this batch (`now_ms`) and the
    /// partition's watermark.
    pub(super) fn fire_timers(&mut self) -> Result<(), Interrupt> {
        for _ in 0..MAX_ROUNDS {
            let (watermark, now) = {
                let host = self.host();
                (timers::watermark(&host.state), host.now_ms)
            };
            let mut backoff = FIRST_BACKOFF;
            let mut fired = 0;
            for attempt in 1..=ATTEMPTS {
                if !timers::any_due(&self.host().state, watermark, now) {
                    return Ok(());
                }
                // The instance first: making one drops the call's state changes
                // (init may change nothing), which would put back the timers
                // taken, and they would fire again.
                let result = self.live().map(drop).and_then(|()| {
                    let due = timers::take_due(&mut self.host().state, watermark, now, MAX_FIRED);
                    fired = due.len();
                    self.live().and_then(|instance| instance.on_timer(&due))
                });
                match result {
                    Ok(()) => break,
                    Err(e) => {
                        self.host().drop_batch();
                        let message = format!("on-timer failed ({fired} timers): {}", e.message());
                        self.note(LogLevel::Error, &message);
                        self.status.lock().errors += 1;
                        if attempt == ATTEMPTS {
                            return Err(Interrupt::PausedAt(None, message));
                        }
                        self.set_state(WorkerState::Retrying(message));
                        if self.control.sleep(backoff) {
                            return Err(Interrupt::Stop);
                        }
                        backoff *= 2;
                    }
                }
            }
            self.record_clock();
            if let Err(e) = self.commit(&[], Vec::new()) {
                self.host().drop_batch();
                self.retrying(format!("committing {fired} fired timers failed: {e}"));
                return Ok(());
            }
        }
        Ok(())
    }

    /// How long an idle worker may wait before a processing-time timer is due.
    pub(super) fn until_next_timer(&mut self) -> Option<Duration> {
        let next = timers::next_processing(&self.host().state)?;
        let now = crate::logs::now_ms();
        Some(Duration::from_millis(next.saturating_sub(now).max(0) as u64))
    }

    /// The live instance, made from the module if the last one trapped.
    pub(super) fn live(&mut self) -> Result<&mut crate::instance::Instance, CallError> {
        if let Slot::Dead(_) = self.slot {
            self.instantiate()?;
        }
        match &mut self.slot {
            Slot::Live(instance) => Ok(instance),
            _ => unreachable!("instantiate leaves a live instance or an error"),
        }
    }
}
