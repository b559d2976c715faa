//! Canceling a running statement from another thread, without ever hitting the next one.
//!
//! Each call gets a [`CancelSlot`]. While the adapter runs a statement it *arms* the slot with a
//! [`Canceler`] for its connection; an INTERRUPT marks the slot canceled and fires the canceler.
//! Firing and disarming take the same lock, so a cancel request is either sent while the statement
//! runs or not at all: the connection goes back to the pool only after disarming, so a late
//! cancel can never reach an unrelated call that reuses the connection. PostgreSQL discards a
//! cancel that reaches an idle backend, so one sent in the instant before a statement starts is
//! lost; [`CancelSlot::cancel_until_stopped`] therefore repeats it until the adapter disarms.

use std::sync::Mutex;
use std::time::Duration;

/// Sends a cancel request for whatever runs on one connection right now (blocking).
pub trait Canceler: Send {
    fn cancel(&self) -> Result<(), String>;
}

#[derive(Default)]
struct Inner {
    canceled: bool,
    canceler: Option<Box<dyn Canceler>>,
}

/// One call's cancel state.
#[derive(Default)]
pub struct CancelSlot {
    inner: Mutex<Inner>,
}

/// Keeps the slot armed; dropping it disarms (waiting for a cancel being sent to finish).
pub struct Armed<'a> {
    slot: &'a CancelSlot,
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.slot.lock().canceler = None;
    }
}

impl CancelSlot {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the two fields inconsistent; keep going.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the call was canceled; adapters check it before each statement and fetch.
    pub fn is_canceled(&self) -> bool {
        self.lock().canceled
    }

    /// Routes cancels to `canceler` until the returned guard is dropped.
    pub fn arm(&self, canceler: Box<dyn Canceler>) -> Armed<'_> {
        self.lock().canceler = Some(canceler);
        Armed { slot: self }
    }

    /// Marks the call canceled and, if a statement runs, sends one cancel request. Returns
    /// whether the slot is still armed (the statement may still be running).
    pub fn cancel(&self) -> bool {
        let mut inner = self.lock();
        inner.canceled = true;
        match &inner.canceler {
            Some(c) => {
                if let Err(e) = c.cancel() {
                    tracing::warn!(cause = %e, "cancel request failed");
                }
                true
            }
            None => false,
        }
    }

    /// Cancels, then repeats every `every` while the adapter keeps the slot armed, at most
    /// `attempts` times (blocking: run it on a blocking thread).
    pub fn cancel_until_stopped(&self, every: Duration, attempts: u32) {
        for _ in 0..attempts {
            if !self.cancel() {
                return;
            }
            std::thread::sleep(every);
        }
        tracing::warn!("statement still running after repeated cancel requests");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Count(Arc<AtomicUsize>);
    impl Canceler for Count {
        fn cancel(&self) -> Result<(), String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn cancel_reaches_only_an_armed_slot() {
        let n = Arc::new(AtomicUsize::new(0));
        let slot = CancelSlot::new();
        assert!(!slot.cancel(), "nothing armed");
        assert!(slot.is_canceled());
        {
            let _armed = slot.arm(Box::new(Count(n.clone())));
            assert!(slot.cancel());
        }
        assert!(!slot.cancel());
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn repeated_cancel_stops_when_disarmed() {
        let n = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(CancelSlot::new());
        let s2 = slot.clone();
        let armed_for = std::thread::spawn({
            let n = n.clone();
            move || {
                let _armed = s2.arm(Box::new(Count(n)));
                std::thread::sleep(Duration::from_millis(60));
            }
        });
        std::thread::sleep(Duration::from_millis(10));
        slot.cancel_until_stopped(Duration::from_millis(10), 100);
        armed_for.join().unwrap();
        let sent = n.load(Ordering::SeqCst);
        assert!((2..100).contains(&sent), "sent {sent} cancels");
    }
}
