//! What a bridge reports: metrics and readiness through [`BridgeMonitor`], and one OpenTelemetry
//! span per database call through an optional tracer.
//!
//! The bridge never depends on the gateway: the gateway hands it a [`Monitoring`] (its
//! `BridgeMetrics` as the monitor, its SDK tracer boxed as a [`BoxedTracer`]). With no tracer
//! (telemetry off) no span is built at all, and [`Unmonitored`] records nothing.
//!
//! The database span is a child of the router's call span: its parent is the W3C `traceparent`
//! the router forwarded in the INVOCATION, read with the standard [`TraceContextPropagator`].
//! Attributes: `db.system`, `db.operation`, `db.stored_procedure.name` (`schema.name`) and
//! `wamp.procedure` (the URI); never argument values.

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use wamp::monitor::{BridgeMonitor, Unmonitored};
use wamp::router::observe::TraceContext;

/// Where a bridge reports; [`Monitoring::default`] reports nowhere.
#[derive(Clone)]
pub struct Monitoring {
    pub monitor: Arc<dyn BridgeMonitor>,
    /// Builds the database call spans; `None`: no spans.
    pub tracer: Option<Arc<BoxedTracer>>,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring { monitor: Arc::new(Unmonitored), tracer: None }
    }
}

impl std::fmt::Debug for Monitoring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitoring").field("tracer", &self.tracer.is_some()).finish_non_exhaustive()
    }
}

/// What names one database call in its span.
pub struct DbCall<'a> {
    pub system: &'static str,
    pub operation: &'static str,
    /// `schema.name` of the stored procedure.
    pub procedure: &'a str,
    /// The WAMP procedure URI.
    pub uri: &'a str,
}

/// Starts the span of one database call, child of `parent` (the INVOCATION's trace context).
pub fn db_span(tracer: &BoxedTracer, call: &DbCall<'_>, parent: Option<&TraceContext>) -> BoxedSpan {
    let parent_cx = match parent {
        Some(tc) if tc.traceparent.is_some() => {
            let mut carrier = HashMap::with_capacity(2);
            if let Some(tp) = &tc.traceparent {
                carrier.insert("traceparent".to_owned(), tp.clone());
            }
            if let Some(ts) = &tc.tracestate {
                carrier.insert("tracestate".to_owned(), ts.clone());
            }
            TraceContextPropagator::new().extract(&carrier)
        }
        _ => opentelemetry::Context::new(),
    };
    tracer
        .span_builder(format!("{} {}", call.operation, call.procedure))
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("db.system", call.system),
            KeyValue::new("db.operation", call.operation),
            KeyValue::new("db.stored_procedure.name", call.procedure.to_owned()),
            KeyValue::new("wamp.procedure", call.uri.to_owned()),
        ])
        .start_with_context(tracer, &parent_cx)
}

/// Ends a database span with its outcome (`error`: the WAMP error URI, never argument values).
pub fn end_db_span(mut span: BoxedSpan, error: Option<&str>) {
    if let Some(uri) = error {
        span.set_attribute(KeyValue::new("error.type", uri.to_owned()));
        span.set_status(Status::error(uri.to_owned()));
    }
    span.end();
}

/// Starts the span of one event pumped from the database: a new trace (the event begins in the
/// database transaction that published it), with the event's queue wait (commit → pump) as an
/// attribute. Returns its context, and the W3C form of it to put into the PUBLISH options, so the
/// router's publish span and every subscriber continue this trace.
pub fn pump_span(
    tracer: &BoxedTracer,
    topic: &str,
    event_id: i64,
    queue_wait: Option<std::time::Duration>,
) -> (opentelemetry::Context, TraceContext) {
    use opentelemetry::trace::TraceContextExt as _;
    let mut attributes = vec![
        KeyValue::new("messaging.system", "wamp"),
        KeyValue::new("messaging.destination.name", topic.to_owned()),
        KeyValue::new("wamp.event_id", event_id),
    ];
    if let Some(wait) = queue_wait {
        attributes.push(KeyValue::new("wamp.queue_wait_ms", wait.as_secs_f64() * 1000.0));
    }
    let span = tracer
        .span_builder(format!("pump {topic}"))
        .with_kind(SpanKind::Producer)
        .with_attributes(attributes)
        .start_with_context(tracer, &opentelemetry::Context::new());
    let cx = opentelemetry::Context::new().with_span(span);
    let mut carrier: HashMap<String, String> = HashMap::with_capacity(2);
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    let forward = TraceContext { traceparent: carrier.remove("traceparent"), tracestate: carrier.remove("tracestate") };
    (cx, forward)
}

/// Ends a pumped event's span; `failed` when the event could not be published.
pub fn end_pump_span(cx: opentelemetry::Context, failed: bool) {
    use opentelemetry::trace::TraceContextExt as _;
    let span = cx.span();
    if failed {
        span.set_status(Status::error("the event could not be published"));
    }
    span.end();
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    #[test]
    fn the_span_is_a_child_of_the_forwarded_context() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let tracer = BoxedTracer::new(Box::new(provider.tracer("t")));
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let parent = TraceContext { traceparent: Some(tp.into()), tracestate: None };
        let call = DbCall { system: "postgresql", operation: "SELECT", procedure: "api.add", uri: "app.add" };
        let span = db_span(&tracer, &call, Some(&parent));
        assert!(span.span_context().is_valid());
        end_db_span(span, None);
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1);
        let s = &spans[0];
        assert_eq!(s.name, "SELECT api.add");
        assert_eq!(s.span_context.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(s.parent_span_id.to_string(), "b7ad6b7169203331");
        assert!(s.attributes.contains(&KeyValue::new("db.system", "postgresql")));
    }

    #[test]
    fn a_pumped_event_starts_a_trace_that_its_publish_continues() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let tracer = BoxedTracer::new(Box::new(provider.tracer("t")));
        let (cx, forward) = pump_span(&tracer, "com.example.hr.on_hire", 42, Some(std::time::Duration::from_millis(7)));
        end_pump_span(cx, false);
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1);
        let s = &spans[0];
        assert_eq!(s.name, "pump com.example.hr.on_hire");
        assert!(s.attributes.contains(&KeyValue::new("wamp.event_id", 42)));
        assert!(s.attributes.contains(&KeyValue::new("wamp.queue_wait_ms", 7.0)));
        let tp = forward.traceparent.expect("a traceparent for the PUBLISH");
        assert_eq!(tp, format!("00-{}-{}-01", s.span_context.trace_id(), s.span_context.span_id()));
    }
}
