//! The gateway's metric instruments (OpenTelemetry metrics API) and their Prometheus exposition.
//!
//! Instruments are named the way Prometheus shows them (the exporter appends `_total` to counters
//! and the unit, `_seconds`, to durations); the same instruments go out over OTLP when export is
//! on. Every label has bounded cardinality: procedures are registration URIs (or `other`), error
//! URIs are capped at [`LABEL_CAP`] distinct values (then `other`).
//!
//! | Prometheus name                          | kind      | labels                    |
//! |------------------------------------------|-----------|---------------------------|
//! | `wamp_sessions_active`                   | gauge     | `realm`, `transport`      |
//! | `wamp_messages_total`                    | counter   | `direction`, `type`       |
//! | `wamp_calls_total`                       | counter   | `procedure`, `outcome`    |
//! | `wamp_call_duration_seconds`             | histogram | `procedure`               |
//! | `wamp_call_errors_total`                 | counter   | `error`                   |
//! | `wamp_events_published_total`            | counter   | `realm`                   |
//! | `wamp_events_delivered_total`            | counter   | `realm`                   |
//! | `wamp_slow_consumer_disconnects_total`   | counter   | `transport`               |
//!
//! The bridge instruments are in [`super::bridge`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableCounter, UpDownCounter};
use opentelemetry::KeyValue;
use wamp::message::code_name;

/// How many distinct values an open-ended label (an error URI) may take before `other`.
pub const LABEL_CAP: usize = 200;

/// Histogram buckets for durations in seconds: 0.5 ms to 30 s.
pub const DURATION_BUCKETS: [f64; 15] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The router's and transports' instruments.
pub struct Metrics {
    sessions_active: UpDownCounter<i64>,
    /// `wamp_messages`: counted per message into plain atomics, read by the exporter's callback.
    /// Four messages per routed call made a counter `add` with an attribute set (an attribute
    /// sort, hash and map lookup under a lock each) the largest cost of a call after the codec.
    messages: Arc<MessageCounts>,
    _messages_instrument: ObservableCounter<u64>,
    /// `wamp_calls`: per procedure label, counted into atomics read by the exporter's callback (a
    /// call looks its label up once, when it starts, and adds no attribute set per call).
    procedures: Arc<ProcedureTable>,
    _calls_instrument: ObservableCounter<u64>,
    call_duration: Histogram<f64>,
    call_errors: Counter<u64>,
    events_published: Counter<u64>,
    events_delivered: Counter<u64>,
    slow_consumers: Counter<u64>,
    error_labels: BoundedLabels,
}

/// How many distinct procedure labels get their own counters (then they share `other`'s).
pub const PROCEDURE_CAP: usize = 2000;

/// One procedure label's call counts and its attribute, built once.
pub struct ProcedureStats {
    label: KeyValue,
    results: AtomicU64,
    errors: AtomicU64,
}

/// The procedure labels seen so far.
struct ProcedureTable {
    by_label: RwLock<HashMap<String, Arc<ProcedureStats>, foldhash::fast::RandomState>>,
    other: Arc<ProcedureStats>,
}

impl ProcedureStats {
    fn new(label: &str) -> Arc<ProcedureStats> {
        Arc::new(ProcedureStats {
            label: KeyValue::new("procedure", label.to_owned()),
            results: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }
}

impl ProcedureTable {
    fn get(&self, label: &str) -> Arc<ProcedureStats> {
        if let Some(s) = self.by_label.read().unwrap_or_else(|p| p.into_inner()).get(label) {
            return s.clone();
        }
        let mut map = self.by_label.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PROCEDURE_CAP && !map.contains_key(label) {
            return self.other.clone();
        }
        map.entry(label.to_owned()).or_insert_with(|| ProcedureStats::new(label)).clone()
    }
}

/// Whether a message came in from a peer or went out to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// The highest WAMP message type code (YIELD).
const MAX_CODE: usize = 70;

/// Messages seen, by direction (in, out) and message type code.
/// Per-thread shards of the message counters, summed when read: one shared counter per message
/// type made every worker thread write the same cache lines for every message (in a fan-out, the
/// EVENT counter once per delivery from both workers).
struct MessageCounts(Box<[CountShard; COUNT_SHARDS]>);

const COUNT_SHARDS: usize = 8;

/// One thread's counters, on cache lines of their own.
#[repr(align(128))]
struct CountShard([[AtomicU64; MAX_CODE + 1]; 2]);

impl MessageCounts {
    fn new() -> MessageCounts {
        let shard = || CountShard(std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))));
        MessageCounts(Box::new(std::array::from_fn(|_| shard())))
    }

    /// The counter of this thread's shard.
    fn get(&self, row: usize, code: usize) -> Option<&AtomicU64> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % COUNT_SHARDS;
        }
        self.0[SHARD.with(|s| *s)].0[row].get(code)
    }

    /// The sum over all shards.
    fn total(&self, row: usize, code: usize) -> u64 {
        self.0.iter().map(|shard| shard.0[row][code].load(Ordering::Relaxed)).sum()
    }
}

impl Metrics {
    pub fn new(meter: &Meter) -> Metrics {
        let messages = Arc::new(MessageCounts::new());
        let counts = messages.clone();
        let messages_instrument = meter
            .u64_observable_counter("wamp_messages")
            .with_description("WAMP messages received (in) and sent (out) by the transports, by message type")
            .with_callback(move |observer| {
                for (row, direction) in ["in", "out"].into_iter().enumerate() {
                    for code in 0..=MAX_CODE {
                        let (n, Some(kind)) = (counts.total(row, code), code_name(code as u64)) else { continue };
                        if n > 0 {
                            observer.observe(n, &[KeyValue::new("direction", direction), KeyValue::new("type", kind)]);
                        }
                    }
                }
            })
            .build();
        let procedures = Arc::new(ProcedureTable {
            by_label: RwLock::new(HashMap::default()),
            other: ProcedureStats::new(crate::telemetry::observer::OTHER_PROCEDURE),
        });
        let table = procedures.clone();
        let calls_instrument = meter
            .u64_observable_counter("wamp_calls")
            .with_description("Calls routed, by registered procedure (or other) and outcome (result or error)")
            .with_callback(move |observer| {
                let map = table.by_label.read().unwrap_or_else(|p| p.into_inner());
                let labels = map.values().chain(std::iter::once(&table.other));
                for stats in labels {
                    for (outcome, count) in [("result", &stats.results), ("error", &stats.errors)] {
                        let n = count.load(Ordering::Relaxed);
                        if n > 0 {
                            observer.observe(n, &[stats.label.clone(), KeyValue::new("outcome", outcome)]);
                        }
                    }
                }
            })
            .build();
        Metrics {
            sessions_active: meter
                .i64_up_down_counter("wamp_sessions_active")
                .with_description("WAMP sessions currently joined")
                .build(),
            messages,
            _messages_instrument: messages_instrument,
            procedures,
            _calls_instrument: calls_instrument,
            call_duration: meter
                .f64_histogram("wamp_call_duration")
                .with_unit("s")
                .with_description("Time from CALL to RESULT or ERROR at the router")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            call_errors: meter
                .u64_counter("wamp_call_errors")
                .with_description("Calls that ended in ERROR, by error URI")
                .build(),
            events_published: meter
                .u64_counter("wamp_events_published")
                .with_description("Publications routed (from sessions and the router's meta events)")
                .build(),
            events_delivered: meter
                .u64_counter("wamp_events_delivered")
                .with_description("EVENT messages queued to subscribers")
                .build(),
            slow_consumers: meter
                .u64_counter("wamp_slow_consumer_disconnects")
                .with_description("Sessions disconnected because their outbound queue was full")
                .build(),
            error_labels: BoundedLabels::new(LABEL_CAP),
        }
    }

    pub fn session_joined(&self, realm: &str, transport: &'static str, delta: i64) {
        self.sessions_active
            .add(delta, &[KeyValue::new("realm", realm.to_owned()), KeyValue::new("transport", transport)]);
    }

    /// One message of type `code` (see [`wamp::message::code`]) in `direction`.
    pub fn message(&self, direction: Direction, code: u64) {
        let row = match direction {
            Direction::In => 0,
            Direction::Out => 1,
        };
        if let Some(count) = self.messages.get(row, code as usize) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters of procedure label `procedure` (a registration URI or `other`), for [`Metrics::call`].
    pub fn procedure(&self, procedure: &str) -> Arc<ProcedureStats> {
        self.procedures.get(procedure)
    }

    /// A call of `procedure` ended after `seconds`; `error` is the URI when it failed.
    pub fn call(&self, procedure: &ProcedureStats, seconds: f64, error: Option<&str>) {
        let count = if error.is_some() { &procedure.errors } else { &procedure.results };
        count.fetch_add(1, Ordering::Relaxed);
        self.call_duration.record(seconds, std::slice::from_ref(&procedure.label));
        if let Some(uri) = error {
            self.call_errors.add(1, &[KeyValue::new("error", self.error_labels.label(uri))]);
        }
    }

    pub fn published(&self, realm: &str, deliveries: usize) {
        let realm = [KeyValue::new("realm", realm.to_owned())];
        self.events_published.add(1, &realm);
        self.events_delivered.add(deliveries as u64, &realm);
    }

    pub fn slow_consumer(&self, transport: &'static str) {
        self.slow_consumers.add(1, &[KeyValue::new("transport", transport)]);
    }
}

/// An open-ended label kept bounded: the first `cap` distinct values pass, later ones are `other`.
pub struct BoundedLabels {
    seen: Mutex<HashSet<String>>,
    cap: usize,
}

impl BoundedLabels {
    pub fn new(cap: usize) -> BoundedLabels {
        BoundedLabels { seen: Mutex::new(HashSet::new()), cap }
    }

    pub fn label(&self, value: &str) -> String {
        // Held for one lookup; called under the realm lock, never around anything that waits.
        let mut seen = self.seen.lock().expect("label set lock is never held across a panic");
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() < self.cap {
            seen.insert(value.to_owned());
            return value.to_owned();
        }
        "other".into()
    }
}

/// The Prometheus text exposition (format 0.0.4) of everything `registry` holds.
pub fn render(registry: &prometheus::Registry) -> Result<String, prometheus::Error> {
    use prometheus::Encoder;
    let mut out = Vec::new();
    prometheus::TextEncoder::new().encode(&registry.gather(), &mut out)?;
    String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_ended_labels_are_capped() {
        let labels = BoundedLabels::new(2);
        assert_eq!(labels.label("a"), "a");
        assert_eq!(labels.label("b"), "b");
        assert_eq!(labels.label("c"), "other");
        assert_eq!(labels.label("a"), "a");
    }
}
