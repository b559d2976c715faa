//! Telemetry through the real gateway: trace context from client to router span to callee and
//! subscribers (checked in what an in-process OTLP/HTTP receiver gets), the metrics at `/metrics`
//! after known traffic (parsed here, and checked by `promtool`), `/healthz` and `/readyz`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use gateway::config::Settings;
use gateway::telemetry::Telemetry;
use gateway::Application;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wamp::monitor::{BridgeMonitor, DbOutcome};

use crate::helpers::*;

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn client_traceparent() -> String {
    format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")
}

/// An OTLP/HTTP receiver on port 0 keeping every span it is sent.
struct Collector {
    address: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
}

async fn traces(body: web::Bytes, spans: web::Data<Arc<Mutex<Vec<Span>>>>) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut kept = spans.lock().expect("test lock");
    for rs in request.resource_spans {
        for ss in rs.scope_spans {
            kept.extend(ss.spans);
        }
    }
    // An empty ExportTraceServiceResponse: full success.
    HttpResponse::Ok().content_type("application/x-protobuf").finish()
}

impl Collector {
    fn start() -> Collector {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let data = web::Data::new(spans.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the collector");
        let address = listener.local_addr().expect("bound");
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/traces", web::post().to(traces))
                .route("/v1/metrics", web::post().to(HttpResponse::Ok))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Collector { address, spans }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    fn named(&self, name: &str) -> Vec<Span> {
        self.spans.lock().expect("test lock").iter().filter(|s| s.name == name).cloned().collect()
    }
}

/// An OTLP/gRPC receiver on port 0: HTTP/2 by hand (h2), answering every export with an empty
/// response and status 0, and keeping the spans of trace exports.
struct GrpcCollector {
    address: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl GrpcCollector {
    async fn start() -> GrpcCollector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("bound");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(tcp).await else {
                        return;
                    };
                    while let Some(Ok((request, respond))) = conn.accept().await {
                        tokio::spawn(grpc_export(request, respond, kept.clone()));
                    }
                });
            }
        });
        GrpcCollector { address, spans }
    }
}

async fn grpc_export(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<bytes::Bytes>,
    spans: Arc<Mutex<Vec<Span>>>,
) {
    let is_traces = request.uri().path() == "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    let mut body = request.into_body();
    let mut message = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        message.extend_from_slice(&chunk);
    }
    // gRPC framing: 1 byte "compressed" (0), 4 bytes length, then the protobuf message.
    if is_traces && message.len() >= 5 && message[0] == 0 {
        if let Ok(request) = ExportTraceServiceRequest::decode(&message[5..]) {
            let mut kept = spans.lock().expect("test lock");
            for rs in request.resource_spans {
                for ss in rs.scope_spans {
                    kept.extend(ss.spans);
                }
            }
        }
    }
    let response = http::Response::builder().header("content-type", "application/grpc").body(()).expect("valid");
    let Ok(mut send) = respond.send_response(response, false) else {
        return;
    };
    let _ = send.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), false);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let _ = send.send_trailers(trailers);
}

/// A gateway with `telemetry` as its `[telemetry]` section.
struct Gateway {
    ws: String,
    http: SocketAddr,
    telemetry: Telemetry,
}

fn start(telemetry: &str) -> Gateway {
    start_with(telemetry, "")
}

/// [`start`] with `extra` configuration (e.g. `[[bridges]]`) before the `[telemetry]` section.
fn start_with(telemetry: &str, extra: &str) -> Gateway {
    if std::env::var_os("TEST_LOG").is_some() {
        gateway::telemetry::init(&gateway::config::LogSettings { level: "debug".into(), ..Default::default() });
    }
    let toml = format!("{}{REALM}\n{extra}\n[telemetry]\n{telemetry}\n", transport(""));
    let app = Application::build(Settings::from_toml_str(&toml).expect("parses")).expect("starts");
    let http = app.addresses()[0];
    let telemetry = app.telemetry().clone();
    tokio::spawn(app.run_until_stopped());
    Gateway { ws: format!("ws://{http}/ws"), http, telemetry }
}

impl Gateway {
    /// Exports every ended span now (the exporter blocks: off the runtime's threads).
    async fn flush(&self) {
        let t = self.telemetry.clone();
        tokio::task::spawn_blocking(move || t.flush()).await.expect("flush");
    }

    async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path).await
    }
}

/// A minimal HTTP/1.0 GET: status and body.
async fn http_get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, stream.read_to_string(&mut response)).await.expect("in time").expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<any_value::Value> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.clone()).and_then(|v| v.value)
}

fn text(value: &str) -> Option<any_value::Value> {
    Some(any_value::Value::StringValue(value.into()))
}

/// `00-TRACE-SPAN-FLAGS` → (TRACE, SPAN).
fn ids(traceparent: &Value) -> (String, String) {
    let parts: Vec<&str> = traceparent.as_str().expect("a traceparent string").split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {traceparent}");
    (parts[1].to_owned(), parts[2].to_owned())
}

/// Waits until the collector has a span called `name` (exports run on their own thread).
async fn span_named(collector: &Collector, gateway: &Gateway, name: &str) -> Span {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        gateway.flush().await;
        if let Some(span) = collector.named(name).pop() {
            return span;
        }
        assert!(tokio::time::Instant::now() < deadline, "no span '{name}' exported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_client_traceparent_parents_the_call_span_which_the_callee_continues() {
    let collector = Collector::start();
    let gw = start(&format!("enabled = true\nendpoint = \"{}\"\nservice_name = \"gw-test\"", collector.endpoint()));
    let mut callee = connect_json(&gw.ws).await;
    join(&mut callee, "realm1").await;
    send_json(&mut callee, json!([64, 1, {}, "com.example.add"])).await;
    assert_eq!(recv_json(&mut callee).await[0], 65, "REGISTERED");
    let mut caller = connect_json(&gw.ws).await;
    join(&mut caller, "realm1").await;

    send_json(&mut caller, json!([48, 7, {"traceparent": client_traceparent()}, "com.example.add", [2, 3]])).await;
    let invocation = recv_json(&mut callee).await;
    assert_eq!(invocation[0], 68, "INVOCATION, got {invocation}");
    let (trace, router_span) = ids(&invocation[3]["traceparent"]);
    assert_eq!(trace, CLIENT_TRACE, "the callee continues the client's trace");
    assert_ne!(router_span, CLIENT_SPAN, "the callee's parent is the router's span, not the client's");
    send_json(&mut callee, json!([70, invocation[1], {}, [5]])).await;
    assert_eq!(recv_json(&mut caller).await, json!([50, 7, {}, [5]]));

    let span = span_named(&collector, &gw, "call com.example.add").await;
    assert_eq!(hex(&span.trace_id), CLIENT_TRACE);
    assert_eq!(hex(&span.parent_span_id), CLIENT_SPAN, "the client's span is the router span's parent");
    assert_eq!(hex(&span.span_id), router_span, "INVOCATION carries the router span's own context");
    assert_eq!(attribute(&span, "wamp.procedure"), text("com.example.add"));
    assert_eq!(attribute(&span, "wamp.outcome"), text("result"));
    assert_eq!(attribute(&span, "wamp.realm"), text("realm1"));

    send_json(&mut caller, json!([48, 8, {}, "com.example.none", []])).await;
    assert_eq!(recv_json(&mut caller).await[4], "wamp.error.no_such_procedure");
    let failed = span_named(&collector, &gw, "call com.example.none").await;
    assert_eq!(attribute(&failed, "wamp.error"), text("wamp.error.no_such_procedure"));
    assert!(failed.parent_span_id.is_empty(), "no traceparent sent: a root span");

    drop(caller);
    let session = span_named(&collector, &gw, "session").await;
    assert_eq!(attribute(&session, "wamp.authrole"), text("anonymous"));
    assert_eq!(attribute(&session, "wamp.transport"), text("websocket"));
    assert_eq!(attribute(&session, "wamp.serializer"), text("json"));
}

#[tokio::test]
async fn spans_are_exported_over_otlp_grpc_too() {
    let collector = GrpcCollector::start().await;
    let gw = start(&format!("enabled = true\nprotocol = \"grpc\"\nendpoint = \"http://{}\"", collector.address));
    let mut caller = connect_json(&gw.ws).await;
    join(&mut caller, "realm1").await;
    send_json(&mut caller, json!([48, 1, {"traceparent": client_traceparent()}, "com.example.nobody", []])).await;
    assert_eq!(recv_json(&mut caller).await[4], "wamp.error.no_such_procedure");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let span = loop {
        gw.flush().await;
        let found =
            collector.spans.lock().expect("test lock").iter().find(|s| s.name == "call com.example.nobody").cloned();
        if let Some(span) = found {
            break span;
        }
        assert!(tokio::time::Instant::now() < deadline, "no call span exported over gRPC");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(hex(&span.trace_id), CLIENT_TRACE);
    assert_eq!(hex(&span.parent_span_id), CLIENT_SPAN);
}

#[tokio::test]
async fn events_carry_the_publication_span_context() {
    let collector = Collector::start();
    let gw = start(&format!("enabled = true\nendpoint = \"{}\"", collector.endpoint()));
    let mut subscriber = connect_json(&gw.ws).await;
    join(&mut subscriber, "realm1").await;
    send_json(&mut subscriber, json!([32, 1, {}, "com.example.topic"])).await;
    assert_eq!(recv_json(&mut subscriber).await[0], 33, "SUBSCRIBED");
    let mut publisher = connect_json(&gw.ws).await;
    join(&mut publisher, "realm1").await;

    let options = json!({"traceparent": client_traceparent(), "acknowledge": true});
    send_json(&mut publisher, json!([16, 2, options, "com.example.topic", ["hi"]])).await;
    assert_eq!(recv_json(&mut publisher).await[0], 17, "PUBLISHED");
    let event = recv_json(&mut subscriber).await;
    assert_eq!(event[0], 36, "EVENT, got {event}");
    let (trace, publish_span) = ids(&event[3]["traceparent"]);
    assert_eq!(trace, CLIENT_TRACE);

    let span = span_named(&collector, &gw, "publish com.example.topic").await;
    assert_eq!(hex(&span.span_id), publish_span, "the EVENT carries the router's publication span");
    assert_eq!(hex(&span.parent_span_id), CLIENT_SPAN);
    assert_eq!(attribute(&span, "wamp.deliveries"), Some(any_value::Value::IntValue(1)));
}

#[tokio::test]
async fn a_dead_collector_never_slows_routing() {
    // Nothing listens there: every export fails (and is reported once), routing goes on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let gw = start(&format!("enabled = true\nendpoint = \"http://{dead}\""));
    let mut callee = connect_json(&gw.ws).await;
    join(&mut callee, "realm1").await;
    send_json(&mut callee, json!([64, 1, {}, "com.example.echo"])).await;
    assert_eq!(recv_json(&mut callee).await[0], 65);
    let mut caller = connect_json(&gw.ws).await;
    join(&mut caller, "realm1").await;
    let started = std::time::Instant::now();
    for request in 1..=50u64 {
        send_json(&mut caller, json!([48, request, {}, "com.example.echo", [request]])).await;
        let invocation = recv_json(&mut callee).await;
        send_json(&mut callee, json!([70, invocation[1], {}, [request]])).await;
        assert_eq!(recv_json(&mut caller).await, json!([50, request, {}, [request]]));
    }
    assert!(started.elapsed() < Duration::from_secs(3), "50 calls took {:?}", started.elapsed());
    gw.flush().await;
    gw.flush().await;
}

/// One sample of the exposition: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format strictly enough to catch malformed output: every sample
/// belongs to a family declared by `# TYPE` before it, names and labels are well-formed, values
/// are numbers.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, arg) = (parts.next(), parts.next().expect("a metric name"), parts.next());
            assert!(valid_name(name), "bad name in {line}");
            if kind == Some("TYPE") {
                let t = arg.expect("a type");
                assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&t), "bad type in {line}");
                types.insert(name.to_owned(), t.to_owned());
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels in {line}"));
                let mut labels = BTreeMap::new();
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line}"));
                    assert!(valid_name(k), "bad label name in {line}");
                    labels.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
                }
                (name, labels)
            }
        };
        assert!(valid_name(name), "bad name in {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|t| t == "histogram")))
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its # TYPE: {line}");
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    samples
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

/// `promtool check metrics` on the exposition. promtool comes with Debian's `prometheus`
/// package, which `scripts/test` installs; `GATEWAY_SKIP_PROMTOOL=1` skips the check by name.
fn promtool_check(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if std::env::var_os("GATEWAY_SKIP_PROMTOOL").is_some() {
        eprintln!("SKIPPED: promtool check metrics (GATEWAY_SKIP_PROMTOOL is set)");
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (scripts/test installs Debian's prometheus; GATEWAY_SKIP_PROMTOOL=1 skips)");
    child.stdin.take().expect("piped").write_all(text.as_bytes()).expect("write to promtool");
    let out = child.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_count_known_traffic_and_pass_promtool() {
    let gw = start(""); // defaults: no export, /metrics on
    let mut callee = connect_json(&gw.ws).await;
    join(&mut callee, "realm1").await;
    send_json(&mut callee, json!([64, 1, {}, "com.example.add"])).await;
    assert_eq!(recv_json(&mut callee).await[0], 65);
    send_json(&mut callee, json!([32, 2, {}, "com.example.topic"])).await;
    assert_eq!(recv_json(&mut callee).await[0], 33);
    let mut caller = connect_json(&gw.ws).await;
    join(&mut caller, "realm1").await;
    for request in [1u64, 2] {
        send_json(&mut caller, json!([48, request, {}, "com.example.add", [1, 2]])).await;
        let invocation = recv_json(&mut callee).await;
        send_json(&mut callee, json!([70, invocation[1], {}, [3]])).await;
        assert_eq!(recv_json(&mut caller).await[0], 50);
    }
    send_json(&mut caller, json!([48, 3, {}, "com.example.unknown", []])).await;
    assert_eq!(recv_json(&mut caller).await[4], "wamp.error.no_such_procedure");
    send_json(&mut caller, json!([16, 4, {"acknowledge": true}, "com.example.topic", []])).await;
    assert_eq!(recv_json(&mut caller).await[0], 17);
    assert_eq!(recv_json(&mut callee).await[0], 36, "EVENT");

    let (status, body) = gw.get("/metrics").await;
    assert_eq!(status, 200);
    let samples = parse_exposition(&body);
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in\n{body}"))
    };
    assert_eq!(v("wamp_sessions_active", &[("realm", "realm1"), ("transport", "websocket")]), 2.0);
    assert_eq!(v("wamp_calls_total", &[("procedure", "com.example.add"), ("outcome", "result")]), 2.0);
    assert_eq!(v("wamp_calls_total", &[("procedure", "other"), ("outcome", "error")]), 1.0);
    assert_eq!(v("wamp_call_errors_total", &[("error", "wamp.error.no_such_procedure")]), 1.0);
    assert_eq!(v("wamp_call_duration_seconds_count", &[("procedure", "com.example.add")]), 2.0);
    assert_eq!(v("wamp_call_duration_seconds_bucket", &[("procedure", "com.example.add"), ("le", "+Inf")]), 2.0);
    assert_eq!(v("wamp_messages_total", &[("direction", "in"), ("type", "CALL")]), 3.0);
    assert_eq!(v("wamp_messages_total", &[("direction", "out"), ("type", "INVOCATION")]), 2.0);
    assert_eq!(v("wamp_messages_total", &[("direction", "out"), ("type", "WELCOME")]), 2.0);
    assert!(v("wamp_events_published_total", &[("realm", "realm1")]) >= 1.0);
    assert!(v("wamp_events_delivered_total", &[("realm", "realm1")]) >= 1.0);
    assert!(
        !samples.iter().any(|s| s.labels.get("procedure").is_some_and(|p| p == "com.example.unknown")),
        "unregistered procedures never become labels"
    );
    promtool_check(&body);
}

#[tokio::test]
async fn healthz_and_readyz_report_listeners_and_components() {
    let gw = start("");
    let (status, body) = gw.get("/healthz").await;
    assert_eq!((status, serde_json::from_str::<Value>(&body).expect("JSON")), (200, json!({"status": "alive"})));

    // The listener turns ready once the application runs.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let body = loop {
        let (status, body) = gw.get("/readyz").await;
        if status == 200 {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let report: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(report["ready"], true);
    assert_eq!(report["components"]["listener:0"]["ready"], true, "{report}");

    // A bridge reports through the trait its crate sees; readiness follows it.
    let bridge: Arc<dyn BridgeMonitor> = Arc::new(gw.telemetry.bridge("postgres", "main"));
    let (status, body) = gw.get("/readyz").await;
    assert_eq!(status, 503, "a registered bridge starts not ready: {body}");
    bridge.set_ready(true, "connected");
    assert_eq!(gw.get("/readyz").await.0, 200);
    bridge.set_ready(false, "connection refused");
    let (status, body) = gw.get("/readyz").await;
    let report: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status, 503);
    assert_eq!(report["ready"], false);
    assert_eq!(report["components"]["bridge:postgres:main"], json!({"ready": false, "detail": "connection refused"}));
    bridge.set_ready(true, "connected");
    assert_eq!(gw.get("/readyz").await.0, 200, "back when the database returns");

    // A plain component through the registry API.
    let component = gw.telemetry.readiness().register("bridge:oracle");
    assert_eq!(gw.get("/readyz").await.0, 503);
    component.set_ready(true);
    assert_eq!(gw.get("/readyz").await.0, 200);

    // Its metrics appear under their documented names.
    bridge.pool_state(3, 7);
    bridge.pool_wait(Duration::from_millis(2));
    bridge.db_call("app.add", Duration::from_millis(4), DbOutcome::Ok);
    bridge.pump_batch(5, Duration::from_millis(30));
    bridge.catalog_refreshed(true, 12);
    let (_, body) = gw.get("/metrics").await;
    let samples = parse_exposition(&body);
    let b = ("bridge", "postgres:main");
    assert_eq!(value(&samples, "bridge_pool_connections", &[b, ("state", "in_use")]), Some(3.0), "{body}");
    assert_eq!(value(&samples, "bridge_pool_connections", &[b, ("state", "idle")]), Some(7.0));
    assert_eq!(value(&samples, "bridge_pool_wait_seconds_count", &[b]), Some(1.0));
    let call = [b, ("procedure", "app.add"), ("outcome", "ok")];
    assert_eq!(value(&samples, "bridge_db_call_duration_seconds_count", &call), Some(1.0));
    assert_eq!(value(&samples, "bridge_event_pump_batch_size_sum", &[b]), Some(5.0));
    assert_eq!(value(&samples, "bridge_event_pump_lag_seconds_count", &[b]), Some(1.0));
    assert_eq!(value(&samples, "bridge_catalog_refreshes_total", &[b, ("outcome", "ok")]), Some(1.0));
    assert_eq!(value(&samples, "bridge_catalog_procedures", &[b]), Some(12.0));
    promtool_check(&body);
}

#[tokio::test]
async fn monitoring_paths_are_configurable_and_can_be_disabled() {
    let gw = start("metrics_path = \"\"\nhealth_path = \"/live\"\nready_path = \"\"");
    assert_eq!(gw.get("/metrics").await.0, 404);
    assert_eq!(gw.get("/readyz").await.0, 404);
    assert_eq!(gw.get("/live").await.0, 200);
    assert_eq!(gw.get("/healthz").await.0, 404);
    // The WebSocket endpoint is unaffected.
    let mut ws = connect_json(&gw.ws).await;
    join(&mut ws, "realm1").await;
}

// --- Through a PostgreSQL bridge (a real PostgreSQL: WAMP_TEST_PG_DSN or postgres@127.0.0.1:5432/test) ---

fn pg_dsn(database: Option<&str>) -> String {
    let dsn = std::env::var("WAMP_TEST_PG_DSN").unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/test".into());
    match database {
        Some(db) => match dsn.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{db}"),
            None => dsn,
        },
        None => dsn,
    }
}

async fn pg_client(dsn: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is unreachable at {dsn} ({e}); these tests need a real PostgreSQL"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A `[[bridges]]` section: PostgreSQL at `dsn`, `schema` exposed under `com.test`, joining as
/// `anonymous` (the test realm's role), consumer `consumer`.
fn pg_bridge(dsn: &str, schema: &str, consumer: &str) -> String {
    format!(
        "[[bridges]]\ntype = \"postgres\"\nrealm = \"realm1\"\ndsn = \"{dsn}\"\nauthrole = \"anonymous\"\nconsumer = \"{consumer}\"\n\
         pool_size = 2\npoll_interval_ms = 200\ncatalog_poll_ms = 500\n[[bridges.expose]]\nschema = \"{schema}\"\nprefix = \"com.test\"\n"
    )
}

/// Polls `/readyz` until its status is `want`; the last body.
async fn ready_status(gw: &Gateway, want: u16, patience: Duration) -> String {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let (status, body) = gw.get("/readyz").await;
        if status == want {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/readyz never became {want}: {status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_database_span_continues_the_call_span_and_the_function_sees_the_traceparent() {
    let tag: u64 = rand::random();
    let (schema, consumer) = (format!("t_{tag:016x}"), format!("test_{tag:016x}"));
    let admin = pg_client(&pg_dsn(None)).await;
    admin
        .batch_execute(&format!(
            "create schema {schema};
             create function {schema}.trace() returns text language sql stable
                 as $$ select current_setting('wamp.traceparent', true) $$;
             create function {schema}.app_name() returns text language sql stable
                 as $$ select current_setting('application_name') $$;"
        ))
        .await
        .expect("test schema");
    let collector = Collector::start();
    let gw = start_with(&format!("enabled = true\nendpoint = \"{}\"", collector.endpoint()), &pg_bridge(&pg_dsn(None), &schema, &consumer));
    ready_status(&gw, 200, Duration::from_secs(15)).await;

    let mut caller = connect_json(&gw.ws).await;
    join(&mut caller, "realm1").await;
    // The catalog registers the function shortly after the bridge is connected.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut request = 0u64;
    let result = loop {
        request += 1;
        send_json(&mut caller, json!([48, request, {"traceparent": client_traceparent()}, "com.test.trace", []])).await;
        let answer = recv_json(&mut caller).await;
        if answer[0] == 50 {
            break answer;
        }
        assert_eq!(answer[4], "wamp.error.no_such_procedure", "{answer}");
        assert!(tokio::time::Instant::now() < deadline, "com.test.trace never registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Inside the function: the context the router forwarded (its call span, in the client's trace).
    let forwarded = &result[3][0];
    let (trace, router_span) = ids(forwarded);
    assert_eq!(trace, CLIENT_TRACE, "{result}");
    assert_ne!(router_span, CLIENT_SPAN);

    let _ = span_named(&collector, &gw, "call com.test.trace").await;
    let calls: Vec<Span> = collector.named("call com.test.trace");
    assert!(calls.iter().any(|s| hex(&s.span_id) == router_span), "the forwarded context is a router call span");
    let db_name = format!("SELECT {schema}.trace");
    let _ = span_named(&collector, &gw, &db_name).await;
    let db = collector.named(&db_name).into_iter().find(|s| hex(&s.parent_span_id) == router_span).expect("a database span under the call span");
    assert_eq!(hex(&db.trace_id), CLIENT_TRACE);
    assert_eq!(attribute(&db, "db.system"), text("postgresql"));
    assert_eq!(attribute(&db, "db.operation"), text("SELECT"));
    assert_eq!(attribute(&db, "db.stored_procedure.name"), text(&format!("{schema}.trace")));
    assert_eq!(attribute(&db, "wamp.procedure"), text("com.test.trace"));

    // The connection's application_name carries the context while the call runs, and only then.
    send_json(&mut caller, json!([48, request + 1, {"traceparent": client_traceparent()}, "com.test.app_name", []])).await;
    let answer = recv_json(&mut caller).await;
    assert_eq!(answer[0], 50, "{answer}");
    assert_eq!(ids(&answer[3][0]).0, CLIENT_TRACE, "{answer}");
    let names: Vec<String> = admin
        .query("select application_name from pg_stat_activity where application_name like $1", &[&format!("%{consumer}%")])
        .await
        .expect("pg_stat_activity")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(names.contains(&format!("wamp-bridge:{consumer}:call")), "after the call the pool's own name is back: {names:?}");

    let (_, body) = gw.get("/metrics").await;
    let samples = parse_exposition(&body);
    let bridge = ("bridge", format!("postgres:{consumer}"));
    let labels = [(bridge.0, bridge.1.as_str()), ("procedure", "com.test.trace"), ("outcome", "ok")];
    assert_eq!(value(&samples, "bridge_db_call_duration_seconds_count", &labels), Some(1.0), "{body}");
    assert!(value(&samples, "bridge_catalog_refreshes_total", &[(bridge.0, bridge.1.as_str()), ("outcome", "ok")]).is_some_and(|n| n >= 1.0));
    assert!(value(&samples, "bridge_pool_wait_seconds_count", &[(bridge.0, bridge.1.as_str())]).is_some_and(|n| n >= 1.0));

    let _ = admin.batch_execute(&format!("drop schema {schema} cascade; delete from wamp.consumer where name = '{consumer}'")).await;
}

#[tokio::test]
async fn readyz_follows_the_bridge_database() {
    let tag: u64 = rand::random();
    let (database, consumer) = (format!("wamp_ready_{tag:016x}"), format!("test_{tag:016x}"));
    let gw = start_with("", &pg_bridge(&pg_dsn(Some(&database)), "api", &consumer));
    let component = format!("bridge:postgres:{consumer}");

    // The database does not exist yet: not ready, and it stays so.
    let body = ready_status(&gw, 503, PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body2) = gw.get("/readyz").await;
    assert_eq!(status, 503, "{body2}");
    let report: Value = serde_json::from_str(&body2).expect("JSON");
    assert_eq!(report["components"][&component]["ready"], false, "{body} / {body2}");

    let admin = pg_client(&pg_dsn(None)).await;
    admin.batch_execute(&format!("create database {database}")).await.expect("create the bridge's database");
    let body = ready_status(&gw, 200, Duration::from_secs(15)).await;
    let report: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(report["components"][&component]["ready"], true, "{body}");

    // The database goes away (connections cut, new ones refused): not ready; back when it returns.
    admin
        .batch_execute(&format!(
            "alter database {database} allow_connections false;
             select pg_terminate_backend(pid) from pg_stat_activity where datname = '{database}';"
        ))
        .await
        .expect("cut the bridge off");
    let body = ready_status(&gw, 503, Duration::from_secs(10)).await;
    let report: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(report["components"][&component]["ready"], false, "{body}");
    admin.batch_execute(&format!("alter database {database} allow_connections true")).await.expect("let it back");
    ready_status(&gw, 200, Duration::from_secs(20)).await;

    let _ = admin.batch_execute(&format!("drop database {database} with (force)")).await;
}
