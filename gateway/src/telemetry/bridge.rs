//! What the database bridges report, as metrics and readiness: the gateway's side of
//! [`wamp::monitor::BridgeMonitor`].
//!
//! The gateway makes one [`BridgeMetrics`] per bridge with `Telemetry::bridge(kind, name)` and
//! hands it to the bridge as an `Arc<dyn BridgeMonitor>`; the bridge crate never depends on the
//! gateway. Every series carries `bridge="KIND:NAME"`.
//!
//! | Prometheus name                        | kind      | labels                              |
//! |----------------------------------------|-----------|-------------------------------------|
//! | `bridge_pool_connections`              | gauge     | `bridge`, `state` (in_use, idle)    |
//! | `bridge_pool_wait_seconds`             | histogram | `bridge`                            |
//! | `bridge_db_call_duration_seconds`      | histogram | `bridge`, `procedure`, `outcome`    |
//! | `bridge_event_pump_lag_seconds`        | histogram | `bridge`                            |
//! | `bridge_event_pump_batch_size`         | histogram | `bridge`                            |
//! | `bridge_catalog_refreshes_total`       | counter   | `bridge`, `outcome` (ok, error)     |
//! | `bridge_catalog_procedures`            | gauge     | `bridge`                            |

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};
use opentelemetry::KeyValue;
use wamp::monitor::{BridgeMonitor, DbOutcome};

use super::health::ReadyHandle;
use super::metrics::{BoundedLabels, DURATION_BUCKETS, LABEL_CAP};

/// Buckets for the number of events in one pump batch.
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// The bridge instruments, shared by every bridge.
pub struct BridgeInstruments {
    pool_connections: Gauge<u64>,
    pool_wait: Histogram<f64>,
    db_call: Histogram<f64>,
    pump_lag: Histogram<f64>,
    pump_batch: Histogram<u64>,
    catalog_refreshes: Counter<u64>,
    catalog_procedures: Gauge<u64>,
}

impl BridgeInstruments {
    pub fn new(meter: &Meter) -> BridgeInstruments {
        let seconds = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build()
        };
        BridgeInstruments {
            pool_connections: meter
                .u64_gauge("bridge_pool_connections")
                .with_description("Database connections in the bridge's pool, in use or idle")
                .build(),
            pool_wait: seconds("bridge_pool_wait", "Time a call waited for a pooled database connection"),
            db_call: seconds("bridge_db_call_duration", "Time of one database call made for a WAMP call"),
            pump_lag: seconds("bridge_event_pump_lag", "Time from a database commit to the publication of its event"),
            pump_batch: meter
                .u64_histogram("bridge_event_pump_batch_size")
                .with_description("Events published per event pump batch")
                .with_boundaries(BATCH_BUCKETS.to_vec())
                .build(),
            catalog_refreshes: meter
                .u64_counter("bridge_catalog_refreshes")
                .with_description("Procedure catalog refreshes, by outcome")
                .build(),
            catalog_procedures: meter
                .u64_gauge("bridge_catalog_procedures")
                .with_description("Procedures in the bridge's catalog after its last refresh")
                .build(),
        }
    }
}

/// One bridge's monitor: its metrics (labelled `bridge`) and its readiness component.
pub struct BridgeMetrics {
    instruments: Arc<BridgeInstruments>,
    bridge: KeyValue,
    procedures: BoundedLabels,
    ready: ReadyHandle,
}

impl BridgeMetrics {
    pub(super) fn new(instruments: Arc<BridgeInstruments>, bridge: String, ready: ReadyHandle) -> BridgeMetrics {
        BridgeMetrics {
            instruments,
            bridge: KeyValue::new("bridge", bridge),
            procedures: BoundedLabels::new(LABEL_CAP),
            ready,
        }
    }
}

impl BridgeMonitor for BridgeMetrics {
    fn set_ready(&self, ready: bool, detail: &str) {
        self.ready.set(ready, detail);
    }

    fn pool_state(&self, in_use: u64, idle: u64) {
        let g = &self.instruments.pool_connections;
        g.record(in_use, &[self.bridge.clone(), KeyValue::new("state", "in_use")]);
        g.record(idle, &[self.bridge.clone(), KeyValue::new("state", "idle")]);
    }

    fn pool_wait(&self, waited: Duration) {
        self.instruments.pool_wait.record(waited.as_secs_f64(), std::slice::from_ref(&self.bridge));
    }

    fn db_call(&self, procedure: &str, elapsed: Duration, outcome: DbOutcome) {
        let outcome = match outcome {
            DbOutcome::Ok => "ok",
            DbOutcome::Error => "error",
        };
        let labels = [
            self.bridge.clone(),
            KeyValue::new("procedure", self.procedures.label(procedure)),
            KeyValue::new("outcome", outcome),
        ];
        self.instruments.db_call.record(elapsed.as_secs_f64(), &labels);
    }

    fn pump_batch(&self, events: usize, lag: Duration) {
        self.instruments.pump_batch.record(events as u64, std::slice::from_ref(&self.bridge));
        self.instruments.pump_lag.record(lag.as_secs_f64(), std::slice::from_ref(&self.bridge));
    }

    fn catalog_refreshed(&self, ok: bool, procedures: usize) {
        let outcome = if ok { "ok" } else { "error" };
        self.instruments.catalog_refreshes.add(1, &[self.bridge.clone(), KeyValue::new("outcome", outcome)]);
        if ok {
            self.instruments.catalog_procedures.record(procedures as u64, std::slice::from_ref(&self.bridge));
        }
    }
}
