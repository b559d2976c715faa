//! A fixed set of dedicated OS threads for blocking database calls, fed by a bounded queue.
//!
//! Synchronous drivers (`postgres`, Oracle's OCI) block a thread for the whole statement; running
//! them on the async runtime's threads would stall every session. Each job carries the tracing
//! span it was submitted under (as `spawn_blocking_with_tracing` does), so a call's logs stay in
//! its span. A full queue refuses at once instead of waiting: the bridge's session must keep
//! reading its link, or the router would close it as a slow consumer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use thiserror::Error;
use tracing::Span;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a job was not queued.
#[derive(Debug, Error, PartialEq)]
pub enum SubmitError {
    #[error("all {threads} database workers are busy and {queue} calls are already waiting")]
    Full { threads: usize, queue: usize },
    #[error("the executor is shut down")]
    Closed,
}

/// The worker pool.
pub struct Executor {
    tx: SyncSender<(Span, Job)>,
    threads: usize,
    queue: usize,
    workers: Vec<JoinHandle<()>>,
}

impl Executor {
    /// Starts `threads` workers named `<name>-<n>` behind a queue of `queue` jobs.
    pub fn new(name: &str, threads: usize, queue: usize) -> std::io::Result<Executor> {
        let threads = threads.max(1);
        let (tx, rx) = sync_channel::<(Span, Job)>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads)
            .map(|n| {
                let rx = rx.clone();
                std::thread::Builder::new().name(format!("{name}-{n}")).spawn(move || work(&rx))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Executor { tx, threads, queue, workers })
    }

    /// Queues `job` to run on a worker, in the current span.
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) -> Result<(), SubmitError> {
        match self.tx.try_send((Span::current(), Box::new(job))) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(SubmitError::Full { threads: self.threads, queue: self.queue }),
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Closed),
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Stops accepting jobs and waits for the workers to finish the queued ones (blocking).
    pub fn shutdown(self) {
        let Executor { tx, workers, .. } = self;
        drop(tx);
        for w in workers {
            let _ = w.join();
        }
    }
}

fn work(rx: &Mutex<Receiver<(Span, Job)>>) {
    loop {
        // The lock is held only while waiting for the next job, so idle workers queue up on it.
        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok((span, job)) = next else { return };
        let _entered = span.enter();
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a database job panicked; the worker continues");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn runs_jobs_on_named_threads_and_refuses_when_full() {
        let ex = Executor::new("test-worker", 2, 1).unwrap();
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate_rx));
        let names = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..2 {
            let (gate, names) = (gate.clone(), names.clone());
            ex.submit(move || {
                names.lock().unwrap().push(std::thread::current().name().unwrap().to_owned());
                let _ = gate.lock().unwrap().recv();
            })
            .unwrap();
            // Let a worker take it off the queue of one.
            std::thread::sleep(Duration::from_millis(50));
        }
        ex.submit(|| {}).unwrap(); // fills the queue of 1
        assert_eq!(ex.submit(|| {}), Err(SubmitError::Full { threads: 2, queue: 1 }));
        gate_tx.send(()).unwrap();
        gate_tx.send(()).unwrap();
        ex.shutdown();
        assert!(names.lock().unwrap().iter().all(|n| n.starts_with("test-worker-")));
    }

    #[test]
    fn a_panicking_job_does_not_kill_the_worker() {
        let ex = Executor::new("panicky", 1, 4).unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        ex.submit(|| panic!("boom")).unwrap();
        let d = done.clone();
        ex.submit(move || {
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        ex.shutdown();
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }
}
