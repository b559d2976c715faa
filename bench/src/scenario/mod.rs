//! The load scenarios and what they share: command-line options, the measurement window, the
//! result record.
//!
//! Every scenario runs in three phases with a hard bound on each: **setup** (connect, join,
//! register/subscribe; [`crate::client::SETUP_TIMEOUT`] per step), **load** (warm-up, then the
//! measurement window, both fixed durations), **drain** (no new requests; outstanding ones get
//! [`DRAIN`] to complete, the rest are reported as lost). Router CPU and memory are read from
//! `/proc` at the window's edges only.

pub mod fanout;
pub mod idle;
pub mod rpc;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use wamp::Serializer;

use crate::procfs::{self, RouterUsage, Sample};
use crate::stats::{Latency, Run};

/// How long outstanding requests may take to complete after the window closed.
pub const DRAIN: Duration = Duration::from_secs(3);

/// Options every scenario takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Router (or echo server) WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    #[arg(long, default_value = "realm1")]
    pub realm: String,
    /// json, msgpack or cbor.
    #[arg(long, default_value = "json", value_parser = parse_serializer)]
    pub serializer: Serializer,
    /// Seconds of load measured.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Seconds of load before the measurement starts.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// The router's process id: adds its CPU µs per operation and peak RSS from /proc.
    #[arg(long)]
    pub router_pid: Option<u32>,
    /// A name for the system under test in the results (gateway, crossbar, echo, ...).
    #[arg(long, default_value = "router")]
    pub label: String,
    /// Append the result as one JSON line to this file (it is always printed to stdout too).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// How many sessions connect at the same time during setup.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
}

impl Common {
    pub fn run(&self) -> Arc<Run> {
        Run::new(secs(self.warmup), secs(self.duration))
    }
}

fn parse_serializer(name: &str) -> Result<Serializer, String> {
    Serializer::from_name(name).ok_or_else(|| format!("unknown serializer '{name}' (json, msgpack, cbor)"))
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// One scenario's figures: one JSON line of the results file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ScenarioResult {
    /// rpc, echo, fanout, idle or db.
    pub scenario: String,
    /// The system under test (from `--label`).
    pub label: String,
    pub serializer: String,
    /// `closed` (fixed requests in flight) or `open` (fixed rate, latency from intended send time).
    pub mode: String,
    /// Calling sessions (rpc, echo, db), subscribers (fanout), idle sessions (idle).
    pub sessions: u64,
    /// Requests in flight per session (closed loop), publications in flight (fanout).
    pub inflight: u64,
    /// Payload bytes per request or event.
    pub payload: u64,
    /// Offered rate for the open loop (requests or publications per second).
    pub rate: Option<f64>,
    /// Length of the measurement window, seconds.
    pub duration_s: f64,
    /// Operations completed in the window: calls, echoes, delivered events.
    pub operations: u64,
    /// Operations per second in the window.
    pub throughput: f64,
    /// Failed operations (ERROR replies, sessions closed under load), whole run.
    pub errors: u64,
    /// Requests or events never answered or delivered by the end of the drain.
    pub lost: u64,
    pub latency_us: Latency,
    pub router: Option<RouterUsage>,
    /// The generator's own CPU µs per operation and cores used, for context.
    pub generator_cpu_us_per_op: f64,
    pub generator_cores: f64,
    /// Idle sessions only: router RSS growth per session, bytes.
    pub rss_per_session_bytes: Option<f64>,
    /// Anything the scenario wants to say (e.g. why it stopped early).
    pub note: Option<String>,
}

impl ScenarioResult {
    /// Prints the result as JSON to stdout and appends it to `--out`.
    pub fn emit(&self, common: &Common) -> anyhow::Result<()> {
        let line = serde_json::to_string(self)?;
        println!("{line}");
        if let Some(path) = &common.out {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// The readings at the window's edges.
pub struct Window {
    pid: Option<u32>,
    before: Option<Sample>,
    after: Option<Sample>,
    pub generator_cpu_us: u64,
    pub seconds: f64,
}

impl Window {
    /// The router's usage over the window, for `operations` completed in it. Called once every
    /// task has finished, so every task's counts are in.
    pub fn router(&self, operations: u64) -> Option<RouterUsage> {
        match (self.pid, &self.before, &self.after) {
            (Some(pid), Some(b), Some(a)) => Some(RouterUsage::between(pid, b, a, operations)),
            _ => None,
        }
    }

    /// The generator's CPU µs per operation.
    pub fn generator_per_op(&self, operations: u64) -> f64 {
        if operations > 0 {
            self.generator_cpu_us as f64 / operations as f64
        } else {
            0.0
        }
    }

    pub fn generator_cores(&self) -> f64 {
        self.generator_cpu_us as f64 / 1e6 / self.seconds
    }
}

/// Sleeps through warm-up and window, reading /proc at both edges, then halts the run.
pub async fn measure(run: &Run, router_pid: Option<u32>) -> Window {
    tokio::time::sleep_until(run.window_start().into()).await;
    let before = router_pid.and_then(|p| procfs::sample(p).ok());
    let self_before = procfs::self_cpu_us();
    let start = std::time::Instant::now();
    tokio::time::sleep_until(run.window_end().into()).await;
    let after = router_pid.and_then(|p| procfs::sample(p).ok());
    let self_after = procfs::self_cpu_us();
    let seconds = start.elapsed().as_secs_f64();
    run.halt();
    Window { pid: router_pid, before, after, generator_cpu_us: self_after.saturating_sub(self_before), seconds }
}

/// Runs `connect(i)` for `0..n` with at most `concurrency` at a time; all must succeed.
pub async fn connect_all<T, F, Fut, E>(n: usize, concurrency: usize, connect: F) -> Result<Vec<T>, E>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let results: Vec<Result<T, E>> = stream::iter(0..n).map(connect).buffered(concurrency.max(1)).collect().await;
    results.into_iter().collect()
}
