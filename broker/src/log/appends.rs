//! Waking readers when a partition grows. `Partition::append` publishes each new
//! high watermark here, so no writer has to remember to wake anyone: async
//! readers (Fetch long polls) register a `Notify` with every partition they
//! wait on, and blocking readers (processor workers) wait on a condvar.

use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

/// One partition's append signal.
#[derive(Debug)]
pub struct AppendSignal {
    /// The high watermark as last published.
    high_watermark: Mutex<u64>,
    /// Signalled when `high_watermark` grows.
    grew: Condvar,
    /// Async waiters, one per fetch waiting on this partition; a waiter that is
    /// gone is dropped at the next publish or registration.
    waiters: Mutex<Vec<Weak<Notify>>>,
}

impl AppendSignal {
    /// A signal for a partition whose high watermark is `high_watermark`.
    pub fn new(high_watermark: u64) -> Self {
        AppendSignal {
            high_watermark: Mutex::new(high_watermark),
            grew: Condvar::new(),
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// Records that the partition now holds offsets below `high_watermark` and
    /// wakes every waiter. Concurrent appends may publish out of order: the
    /// highest wins.
    pub fn publish(&self, high_watermark: u64) {
        {
            let mut current = self.high_watermark.lock();
            if high_watermark <= *current {
                return;
            }
            *current = high_watermark;
        }
        self.grew.notify_all();
        self.waiters.lock().retain(|waiter| match waiter.upgrade() {
            // notify_one keeps a permit for a waiter not yet parked, so an
            // append between its check and its await is not missed.
            Some(notify) => {
                notify.notify_one();
                true
            }
            None => false,
        });
    }

    /// Wakes `waiter` at every later publish, for as long as it lives.
    pub fn register(&self, waiter: &Arc<Notify>) {
        let mut waiters = self.waiters.lock();
        waiters.retain(|w| w.strong_count() > 0);
        waiters.push(Arc::downgrade(waiter));
    }

    /// Blocks until the high watermark passes `offset` or `deadline` comes;
    /// true if it did.
    pub fn wait_past(&self, offset: u64, deadline: Instant) -> bool {
        let mut high_watermark = self.high_watermark.lock();
        while *high_watermark <= offset {
            if self.grew.wait_until(&mut high_watermark, deadline).timed_out() {
                return *high_watermark > offset;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn blocking_waiters_wake_on_growth_and_time_out_otherwise() {
        let signal = Arc::new(AppendSignal::new(5));
        assert!(signal.wait_past(4, Instant::now()), "already past");
        assert!(!signal.wait_past(5, Instant::now() + Duration::from_millis(10)));
        let waiter = {
            let signal = Arc::clone(&signal);
            std::thread::spawn(move || {
                signal.wait_past(5, Instant::now() + Duration::from_secs(30))
            })
        };
        signal.publish(3); // older than what is known: ignored
        signal.publish(6);
        assert!(waiter.join().unwrap());
    }

    #[tokio::test]
    async fn async_waiters_keep_a_permit_and_are_forgotten_when_dropped() {
        let signal = AppendSignal::new(0);
        let waiter = Arc::new(Notify::new());
        signal.register(&waiter);
        // Published before the waiter parks: the permit wakes it at once.
        signal.publish(1);
        tokio::time::timeout(Duration::from_secs(30), waiter.notified()).await.unwrap();
        drop(waiter);
        signal.publish(2);
        assert!(signal.waiters.lock().is_empty());
    }
}
