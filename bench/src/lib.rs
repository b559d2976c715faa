//! # Benchmarks: a WAMP load generator and the report of a run
//!
//! The generator drives **any** WAMP router by URL (our gateway, Crossbar.io) and a plain
//! WebSocket echo server (the transport limit), so every figure of a run comes from the same
//! client code. Speed targets live in the report, never in timed tests.
//!
//! ## Layout
//! - [`client`]: a minimal WAMP client on tokio-tungstenite, using the `wamp` crate's codecs.
//! - [`stats`]: the measurement window and HDR latency histograms.
//! - [`procfs`]: the router's CPU time and memory from `/proc` (`--router-pid`).
//! - [`scenario`]: `rpc`, `echo`, `db` (one caller loop, closed or open), `fanout`, `idle`.
//! - [`report`]: turns a run's JSON lines into `bench/results/<date>.{json,md}` with targets.
//! - [`chart`]: the PNG chart of latency percentiles against load (plotters, bitmap backend).
//!
//! Binaries: `wamp-bench` (the generator), `echo-server` (actix-ws echo, the same stack as the
//! gateway), `bench-report` (the report). `scripts/bench` runs them all.

pub mod chart;
pub mod client;
pub mod procfs;
pub mod report;
pub mod scenario;
pub mod stats;
