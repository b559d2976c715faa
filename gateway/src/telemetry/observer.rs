//! The router's [`Observer`], implemented with OpenTelemetry: a span per CALL and per PUBLISH at
//! the router, and the session, call and event metrics.
//!
//! Everything here runs under a realm lock, so nothing may wait: starting and ending an SDK span
//! only touches memory (the batch processor takes ended spans through a bounded queue and drops
//! them when it is full), and metric instruments are in-memory aggregations.
//!
//! Context: the client's W3C `traceparent`/`tracestate` (CALL or PUBLISH options) is extracted
//! with the TraceContext propagator and becomes the parent of the router's span; `forward()`
//! returns the router span's own context, which the router writes into INVOCATION/EVENT details.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanContext, SpanKind, Status, Tracer as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, Span};
use wamp::router::observe::{CallObservation, CallOutcome, CallStart, Observer, PublishObservation, TraceContext};
use wamp::router::TransportInfo;
use wamp::SessionId;

use super::metrics::{Metrics, ProcedureStats};

/// The label of calls to procedures nobody registered.
pub const OTHER_PROCEDURE: &str = "other";

/// Spans (when a tracer is given) and metrics (when instruments are) for the router's events.
pub struct GatewayObserver {
    pub(super) tracer: Option<SdkTracer>,
    pub(super) metrics: Option<Arc<Metrics>>,
}

impl Observer for GatewayObserver {
    fn session_joined(&self, realm: &str, transport: &TransportInfo) {
        if let Some(m) = &self.metrics {
            m.session_joined(realm, transport.kind, 1);
        }
    }

    fn session_left(&self, realm: &str, transport: &TransportInfo) {
        if let Some(m) = &self.metrics {
            m.session_joined(realm, transport.kind, -1);
        }
    }

    fn call_started(&self, call: &CallStart<'_>) -> Option<Box<dyn CallObservation>> {
        let span = self.tracer.as_ref().map(|tracer| {
            let mut attributes = vec![
                KeyValue::new("rpc.system", "wamp"),
                KeyValue::new("rpc.method", call.procedure.to_owned()),
                KeyValue::new("wamp.realm", call.realm.to_owned()),
                KeyValue::new("wamp.procedure", call.procedure.to_owned()),
                KeyValue::new("wamp.caller", id(call.caller)),
                KeyValue::new("wamp.caller_authid", call.caller_authid.to_owned()),
            ];
            if let Some(registration) = call.registration {
                attributes.push(KeyValue::new("wamp.registration", registration.to_owned()));
            }
            if let Some(callee) = call.callee {
                attributes.push(KeyValue::new("wamp.callee", id(callee)));
            }
            tracer
                .span_builder(format!("call {}", call.registration.unwrap_or(call.procedure)))
                .with_kind(SpanKind::Server)
                .with_attributes(attributes)
                .start_with_context(tracer, &parent(call.context))
        });
        let metrics = self.metrics.as_ref().map(|m| (m.clone(), m.procedure(call.registration.unwrap_or(OTHER_PROCEDURE))));
        if span.is_none() && metrics.is_none() {
            return None;
        }
        Some(Box::new(CallSpan { span, started: Instant::now(), metrics }))
    }

    fn publishing(
        &self,
        realm: &str,
        topic: &str,
        publisher: Option<SessionId>,
        context: &TraceContext,
    ) -> Option<Box<dyn PublishObservation>> {
        let span = self.tracer.as_ref().map(|tracer| {
            let mut attributes =
                vec![KeyValue::new("wamp.realm", realm.to_owned()), KeyValue::new("wamp.topic", topic.to_owned())];
            if let Some(p) = publisher {
                attributes.push(KeyValue::new("wamp.publisher", id(p)));
            }
            tracer
                .span_builder(format!("publish {topic}"))
                .with_kind(SpanKind::Producer)
                .with_attributes(attributes)
                .start_with_context(tracer, &parent(context))
        });
        Some(Box::new(PublishSpan { span, realm: realm.to_owned(), metrics: self.metrics.clone() }))
    }
}

struct CallSpan {
    span: Option<Span>,
    started: Instant,
    /// The instruments, and the counters of this call's procedure label.
    metrics: Option<(Arc<Metrics>, Arc<ProcedureStats>)>,
}

impl CallObservation for CallSpan {
    fn forward(&self) -> TraceContext {
        self.span.as_ref().map(|s| traceparent(s.span_context())).unwrap_or_default()
    }

    fn finish(self: Box<Self>, outcome: CallOutcome<'_>) {
        let error = match outcome {
            CallOutcome::Result => None,
            CallOutcome::Error(uri) => Some(uri),
        };
        if let Some(mut span) = self.span {
            span.set_attribute(KeyValue::new("wamp.outcome", if error.is_some() { "error" } else { "result" }));
            if let Some(uri) = error {
                span.set_attribute(KeyValue::new("wamp.error", uri.to_owned()));
                span.set_status(Status::error(uri.to_owned()));
            }
            span.end();
        }
        if let Some((m, procedure)) = &self.metrics {
            m.call(procedure, self.started.elapsed().as_secs_f64(), error);
        }
    }
}

struct PublishSpan {
    span: Option<Span>,
    realm: String,
    metrics: Option<Arc<Metrics>>,
}

impl PublishObservation for PublishSpan {
    fn forward(&self) -> TraceContext {
        self.span.as_ref().map(|s| traceparent(s.span_context())).unwrap_or_default()
    }

    fn finish(self: Box<Self>, deliveries: usize) {
        if let Some(mut span) = self.span {
            span.set_attribute(KeyValue::new("wamp.deliveries", deliveries as i64));
            span.end();
        }
        if let Some(m) = &self.metrics {
            m.published(&self.realm, deliveries);
        }
    }
}

/// WAMP ids are below 2^53, so they fit an OpenTelemetry integer attribute.
fn id(session: SessionId) -> i64 {
    session.0 as i64
}

/// The parent context a client sent (an empty context when it sent none or garbage).
pub fn parent(context: &TraceContext) -> opentelemetry::Context {
    let mut carrier = HashMap::new();
    if let Some(tp) = &context.traceparent {
        carrier.insert("traceparent".to_owned(), tp.clone());
    }
    if let Some(ts) = &context.tracestate {
        carrier.insert("tracestate".to_owned(), ts.clone());
    }
    TraceContextPropagator::new().extract(&carrier)
}

/// A span's context in W3C form (version 00).
pub fn traceparent(span: &SpanContext) -> TraceContext {
    if !span.is_valid() {
        return TraceContext::default();
    }
    let traceparent = format!("00-{}-{}-{:02x}", span.trace_id(), span.span_id(), span.trace_flags().to_u8());
    let state = span.trace_state().header();
    TraceContext { traceparent: Some(traceparent), tracestate: (!state.is_empty()).then_some(state) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    #[test]
    fn a_traceparent_round_trips_through_the_propagator() {
        let sent = TraceContext {
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            tracestate: Some("vendor=value".into()),
        };
        let cx = parent(&sent);
        assert_eq!(traceparent(cx.span().span_context()), sent);
        assert!(!parent(&TraceContext { traceparent: Some("garbage".into()), tracestate: None }).has_active_span());
    }
}
