//! The observation hooks telemetry builds on: calls, publications and sessions are reported, and
//! the observer's trace context is what callees and subscribers receive.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use wamp::dict;
use wamp::router::observe::{CallObservation, CallOutcome, CallStart, Observer, PublishObservation, TraceContext};
use wamp::router::{Router, RouterConfig, TransportInfo};
use wamp::{Dict, Message, Payload, SessionId, Value};

#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<String>>,
}

struct Call(Arc<Recorder>, String);
struct Publication(Arc<Recorder>, String);

const ROUTER_SPAN: &str = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";

impl CallObservation for Call {
    fn forward(&self) -> TraceContext {
        TraceContext { traceparent: Some(ROUTER_SPAN.into()), tracestate: None }
    }
    fn finish(self: Box<Self>, outcome: CallOutcome<'_>) {
        self.0.log.lock().unwrap().push(format!("end {} {outcome:?}", self.1));
    }
}

impl PublishObservation for Publication {
    fn finish(self: Box<Self>, deliveries: usize) {
        self.0.log.lock().unwrap().push(format!("published {} to {deliveries}", self.1));
    }
}

struct Obs(Arc<Recorder>);

impl Observer for Obs {
    fn session_joined(&self, realm: &str, t: &TransportInfo) {
        self.0.log.lock().unwrap().push(format!("join {realm} {}", t.kind));
    }
    fn session_left(&self, realm: &str, _t: &TransportInfo) {
        self.0.log.lock().unwrap().push(format!("leave {realm}"));
    }
    fn call_started(&self, c: &CallStart<'_>) -> Option<Box<dyn CallObservation>> {
        let label = format!("{}@{}", c.procedure, c.registration.unwrap_or("-"));
        let parent = c.context.traceparent.clone().unwrap_or_default();
        self.0.log.lock().unwrap().push(format!("start {label} parent={parent} callee={}", c.callee.is_some()));
        Some(Box::new(Call(self.0.clone(), label)))
    }
    fn publishing(&self, _r: &str, topic: &str, _p: Option<SessionId>, _c: &TraceContext) -> Option<Box<dyn PublishObservation>> {
        Some(Box::new(Publication(self.0.clone(), topic.into())))
    }
}

#[tokio::test]
async fn calls_publications_and_sessions_are_observed() {
    let rec = Arc::new(Recorder::default());
    let r = Router::with_observer(RouterConfig::default(), Arc::new(Obs(rec.clone())));
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example", dict! {"match" => "prefix"}).await;

    let client_ctx = "00-11111111111111111111111111111111-2222222222222222-01";
    caller.call("com.example.add", dict! {"traceparent" => client_ctx}, Payload::default()).await;
    let Message::Invocation { request, details, .. } = callee.recv().await else { panic!() };
    assert_eq!(details["traceparent"], Value::from(ROUTER_SPAN), "callee continues the router's span");
    callee.send(Message::Yield { request, options: Dict::new(), payload: Payload::default() }).await;
    let _ = caller.recv().await;
    assert_eq!(error_uri(&caller.call_wait("com.none", vec![]).await), "wamp.error.no_such_procedure");

    let mut sub = Peer::join(&r).await;
    sub.subscribe_ok("com.example.t", Dict::new()).await;
    caller.publish("com.example.t", Dict::new(), vec![]).await;
    let _ = sub.recv().await;
    drop(sub);

    let log = rec.log.lock().unwrap().clone();
    let expect = [
        format!("start com.example.add@com.example parent={client_ctx} callee=true"),
        "end com.example.add@com.example Result".to_owned(),
        "start com.none@- parent= callee=false".to_owned(),
        "end com.none@- Error(\"wamp.error.no_such_procedure\")".to_owned(),
        "published com.example.t to 1".to_owned(),
        "leave realm1".to_owned(),
    ];
    let mut at = 0;
    for e in &expect {
        let pos = log[at..].iter().position(|l| l == e).unwrap_or_else(|| panic!("{e} not found after {at} in {log:#?}"));
        at += pos + 1;
    }
    assert_eq!(log.iter().filter(|l| l.starts_with("join realm1 local")).count(), 3);
}

#[tokio::test]
async fn without_an_observer_the_client_context_is_forwarded() {
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.p", Dict::new()).await;
    let ctx = "00-11111111111111111111111111111111-2222222222222222-01";
    caller.call("com.example.p", dict! {"traceparent" => ctx, "tracestate" => "k=v"}, Payload::default()).await;
    let Message::Invocation { details, .. } = callee.recv().await else { panic!() };
    assert_eq!((&details["traceparent"], &details["tracestate"]), (&Value::from(ctx), &Value::from("k=v")));
}
