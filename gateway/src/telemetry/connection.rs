//! What one transport connection reports: every message in and out (by type), a slow consumer's
//! disconnect, and the session span.
//!
//! The session span runs from WELCOME (seen going out, which is where the transport learns the
//! session's id, authid and authrole) until the connection ends. Its trace and span ids are also
//! recorded on the connection's `tracing` span (fields `trace_id`, `span_id`), so every log line
//! of that connection carries them, in text and JSON alike.

use std::sync::Arc;

use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{SdkTracer, Span};
use wamp::{Message, Serializer};

use super::metrics::{Direction, Metrics};

/// One connection's telemetry handle, owned by its task.
pub struct ConnectionTelemetry {
    transport: &'static str,
    tracer: Option<SdkTracer>,
    metrics: Option<Arc<Metrics>>,
    session: Option<Span>,
}

impl ConnectionTelemetry {
    pub(super) fn new(transport: &'static str, tracer: Option<SdkTracer>, metrics: Option<Arc<Metrics>>) -> Self {
        ConnectionTelemetry { transport, tracer, metrics, session: None }
    }

    /// A message was decoded from the peer.
    pub fn received(&self, msg: &Message) {
        if let Some(m) = &self.metrics {
            m.message(Direction::In, msg.code());
        }
    }

    /// A message is being written to the peer. On WELCOME the session span starts, with `realm`
    /// (the session's) and `serializer` as attributes.
    pub fn sent(&mut self, msg: &Message, realm: Option<&str>, serializer: Option<Serializer>) {
        if let Some(m) = &self.metrics {
            m.message(Direction::Out, msg.code());
        }
        if let (Message::Welcome { session, details }, Some(tracer)) = (msg, &self.tracer) {
            let text = |key: &str| details.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let mut attributes = vec![
                KeyValue::new("wamp.realm", realm.unwrap_or("").to_owned()),
                KeyValue::new("wamp.session", session.0 as i64),
                KeyValue::new("wamp.authid", text("authid")),
                KeyValue::new("wamp.authrole", text("authrole")),
                KeyValue::new("wamp.transport", self.transport),
            ];
            if let Some(s) = serializer {
                attributes.push(KeyValue::new("wamp.serializer", s.name()));
            }
            let span =
                tracer.span_builder("session").with_kind(SpanKind::Server).with_attributes(attributes).start(tracer);
            let cx = span.span_context();
            tracing::Span::current()
                .record("trace_id", tracing::field::display(cx.trace_id()))
                .record("span_id", tracing::field::display(cx.span_id()));
            self.session = Some(span);
        }
    }

    /// The session was cut off because its outbound queue was full.
    pub fn slow_consumer(&mut self) {
        if let Some(m) = &self.metrics {
            m.slow_consumer(self.transport);
        }
        if let Some(span) = &mut self.session {
            span.add_event("slow consumer disconnected", vec![]);
        }
    }
}

impl Drop for ConnectionTelemetry {
    /// The connection is over: so is the session span.
    fn drop(&mut self) {
        if let Some(mut span) = self.session.take() {
            span.end();
        }
    }
}
