//! What a database bridge reports about itself, for whoever monitors the gateway.
//!
//! Bridges are WAMP sessions over an in-process link and know nothing of the gateway; the gateway
//! knows nothing of their internals. This trait is the meeting point: a bridge takes an
//! `Arc<dyn BridgeMonitor>` when it is built and reports through it, and the gateway hands it one
//! that feeds its readiness registry and OpenTelemetry metrics (`gateway::telemetry::BridgeMetrics`,
//! made by `Telemetry::bridge(kind, name)`). Every method has an empty default, so [`Unmonitored`]
//! (tests, tools) costs nothing.
//!
//! Implementations are called from the bridge's own tasks and must not block.

use std::time::Duration;

/// How one database call ended, as a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbOutcome {
    Ok,
    Error,
}

/// The reports a bridge makes.
pub trait BridgeMonitor: Send + Sync + 'static {
    /// The bridge can (or can no longer) serve: connected to its database, catalog loaded.
    /// `detail` says why, for `/readyz` (e.g. "connection refused"); never a secret.
    fn set_ready(&self, _ready: bool, _detail: &str) {}

    /// The connection pool right now.
    fn pool_state(&self, _in_use: u64, _idle: u64) {}

    /// How long a call waited for a pooled connection.
    fn pool_wait(&self, _waited: Duration) {}

    /// One database call for `procedure` (a catalog entry: bounded) took `elapsed`.
    fn db_call(&self, _procedure: &str, _elapsed: Duration, _outcome: DbOutcome) {}

    /// The event pump published a batch of `events`; `lag` is commit → publish of the oldest.
    fn pump_batch(&self, _events: usize, _lag: Duration) {}

    /// The procedure catalog was refreshed (`ok`), now holding `procedures` entries.
    fn catalog_refreshed(&self, _ok: bool, _procedures: usize) {}
}

/// The monitor that records nothing.
pub struct Unmonitored;

impl BridgeMonitor for Unmonitored {}
