//! Observation hooks: how telemetry sees the router without the router knowing any telemetry.
//!
//! The gateway implements [`Observer`] with OpenTelemetry (spans, metrics); the router calls it at
//! the few points that matter: a session joins or leaves, a call starts and ends, a publication is
//! delivered, a slow consumer is cut off. Every method has an empty default, and the default
//! observer does nothing, so a router without telemetry pays one virtual call per event.
//!
//! Trace context: a CALL or PUBLISH may carry a W3C `traceparent` (and `tracestate`) in its
//! options. The observer makes it the parent of the router's span and returns the router span's own
//! context, which the router forwards in INVOCATION/EVENT details so callees continue the trace.

use crate::ids::SessionId;
use crate::router::session::TransportInfo;

/// W3C trace context as carried in WAMP options and details (`traceparent`, `tracestate`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

/// A call as it starts at the router.
#[derive(Debug)]
pub struct CallStart<'a> {
    pub realm: &'a str,
    /// The URI the caller called.
    pub procedure: &'a str,
    /// The registration's URI (the procedure itself for exact matches; the pattern otherwise):
    /// a bounded label for metrics. `None` when nothing is registered.
    pub registration: Option<&'a str>,
    pub caller: SessionId,
    pub caller_authid: &'a str,
    pub callee: Option<SessionId>,
    /// The caller's trace context, if it sent one.
    pub context: &'a TraceContext,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome<'a> {
    Result,
    /// An ERROR with this URI (from the callee, or the router's own: no_such_procedure, canceled…).
    Error(&'a str),
}

/// One call in flight, as the observer tracks it (a span, a timer).
pub trait CallObservation: Send {
    /// The context to forward to the callee (the router span's own), if tracing is on.
    fn forward(&self) -> TraceContext {
        TraceContext::default()
    }

    /// The call ended; consumes the observation.
    fn finish(self: Box<Self>, outcome: CallOutcome<'_>);
}

/// Receives the router's events. Implementations must not block: they run under the realm lock.
pub trait Observer: Send + Sync + 'static {
    fn session_joined(&self, _realm: &str, _transport: &TransportInfo) {}

    fn session_left(&self, _realm: &str, _transport: &TransportInfo) {}

    /// A call starts; the returned observation is finished when it ends. `None`: not observed.
    fn call_started(&self, _call: &CallStart<'_>) -> Option<Box<dyn CallObservation>> {
        None
    }

    /// A publication starts (from a session, or from the router itself when `publisher` is
    /// `None`); the returned observation learns how many EVENTs went out.
    fn publishing(
        &self,
        _realm: &str,
        _topic: &str,
        _publisher: Option<SessionId>,
        _context: &TraceContext,
    ) -> Option<Box<dyn PublishObservation>> {
        None
    }
}

/// One publication, as the observer tracks it.
pub trait PublishObservation: Send {
    /// The context to forward in the EVENTs, if tracing is on.
    fn forward(&self) -> TraceContext {
        TraceContext::default()
    }

    /// The publication was delivered to `deliveries` subscriber sessions.
    fn finish(self: Box<Self>, deliveries: usize);
}

impl TraceContext {
    /// The context a CALL or PUBLISH carries in its options.
    pub fn from_options(options: &crate::value::Dict) -> TraceContext {
        let get = |k: &str| options.get(k).and_then(|v| v.as_str()).map(String::from);
        TraceContext { traceparent: get("traceparent"), tracestate: get("tracestate") }
    }

    /// Writes the context into INVOCATION or EVENT details.
    pub fn write_to(&self, details: &mut crate::value::Dict) {
        if let Some(tp) = &self.traceparent {
            details.insert("traceparent".into(), tp.clone().into());
        }
        if let Some(ts) = &self.tracestate {
            details.insert("tracestate".into(), ts.clone().into());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.traceparent.is_none() && self.tracestate.is_none()
    }
}

/// The observer that observes nothing.
pub struct Unobserved;

impl Observer for Unobserved {}
