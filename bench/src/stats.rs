//! Latency recording (HDR histograms) and the measurement window.
//!
//! Sessions record into a small local buffer and merge it into one shared histogram now and then,
//! so thousands of subscriber tasks share a single histogram without a lock per event. Only
//! operations that *complete* inside the measurement window (after the warm-up, before the end)
//! are counted and recorded.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Latencies above this are clamped (a run never lasts longer).
const MAX_NS: u64 = 120_000_000_000;
/// Local buffer size before merging into the shared histogram.
const FLUSH_EVERY: usize = 256;

/// Latency percentiles of one run, in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Shared by every task of one run: the window, the histogram and the counters.
#[derive(Debug)]
pub struct Run {
    /// The zero of every timestamp of the run (payload timestamps are nanoseconds since it).
    pub epoch: Instant,
    window_start: Instant,
    window_end: Instant,
    histogram: Mutex<Histogram<u64>>,
    /// Operations completed inside the window.
    pub completed: AtomicU64,
    /// Operations that failed (ERROR replies, closed sessions), whole run.
    pub errors: AtomicU64,
    /// Requests or events never completed by the end of the drain.
    pub lost: AtomicU64,
    /// Set when the load must stop (end of the window, or a fatal error).
    stop: AtomicBool,
    halt: watch::Sender<bool>,
}

impl Run {
    pub fn new(warmup: Duration, duration: Duration) -> Arc<Run> {
        let epoch = Instant::now();
        Arc::new(Run {
            epoch,
            window_start: epoch + warmup,
            window_end: epoch + warmup + duration,
            histogram: Mutex::new(Histogram::new_with_bounds(1, MAX_NS, 3).expect("static histogram bounds are valid")),
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            halt: watch::Sender::new(false),
        })
    }

    pub fn window_start(&self) -> Instant {
        self.window_start
    }

    pub fn window_end(&self) -> Instant {
        self.window_end
    }

    /// Whether `t` falls inside the measurement window.
    pub fn in_window(&self, t: Instant) -> bool {
        t >= self.window_start && t < self.window_end
    }

    /// Nanoseconds since the run's epoch (what goes into payload timestamps).
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Stops the load: no new requests from now on.
    pub fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.halt.send_replace(true);
    }

    /// Resolves once [`Run::halt`] was called (at once if it already was).
    pub fn halted(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.halt.subscribe();
        async move {
            let _ = rx.wait_for(|h| *h).await;
        }
    }

    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn latency(&self) -> Latency {
        let h = self.histogram.lock().expect("histogram lock is never held across a panic");
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }
}

/// A task's local view of the run: buffers latencies and counts, merges them in batches.
pub struct Recorder {
    run: Arc<Run>,
    latencies: Vec<u64>,
    completed: u64,
}

impl Recorder {
    pub fn new(run: Arc<Run>) -> Recorder {
        Recorder { run, latencies: Vec::with_capacity(FLUSH_EVERY), completed: 0 }
    }

    pub fn run(&self) -> &Arc<Run> {
        &self.run
    }

    /// One operation completed at `now` with `latency_ns`; ignored outside the window.
    pub fn record(&mut self, now: Instant, latency_ns: u64) {
        if !self.run.in_window(now) {
            return;
        }
        self.completed += 1;
        self.latencies.push(latency_ns.clamp(1, MAX_NS));
        if self.latencies.len() >= FLUSH_EVERY {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if self.completed > 0 {
            self.run.completed.fetch_add(std::mem::take(&mut self.completed), Ordering::Relaxed);
        }
        if self.latencies.is_empty() {
            return;
        }
        let mut h = self.run.histogram.lock().expect("histogram lock is never held across a panic");
        for &ns in &self.latencies {
            // Values are clamped into the histogram's range above.
            let _ = h.record(ns);
        }
        self.latencies.clear();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}
