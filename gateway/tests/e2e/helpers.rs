//! Starting the real gateway in-process on port 0, and a raw WebSocket client (tokio-tungstenite)
//! that speaks WAMP by hand: JSON written as text, MessagePack and CBOR through independent
//! encoders, never through the `wamp` crate's codecs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gateway::config::{ConfigSource, Settings};
use gateway::lifecycle::ShutdownHandle;
use gateway::{Application, StartupError};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wamp::router::Router;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any single expectation may take before the test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// `realm1` with an all-permissions `anonymous` role.
pub const REALM: &str = r#"
[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
permissions = [{ uri = "", match = "prefix", call = true, register = true, publish = true, subscribe = true }]
"#;

/// A websocket transport on port 0 with anonymous auth, plus `extra` keys for that transport.
pub fn transport(extra: &str) -> String {
    format!("[[transports]]\ntype = \"websocket\"\nlisten = \"127.0.0.1:0\"\n{extra}\n[transports.auth.anonymous]\nrole = \"anonymous\"\n")
}

/// A gateway running in this test's runtime.
pub struct TestApp {
    /// The TCP transports' addresses, in order (Unix sockets left out).
    pub addresses: Vec<SocketAddr>,
    /// Every transport's endpoint, in order.
    pub endpoints: Vec<gateway::Endpoint>,
    pub router: Arc<Router>,
    pub shutdown: ShutdownHandle,
    pub stopped: JoinHandle<Result<(), StartupError>>,
}

impl TestApp {
    /// `ws://…/ws` of the first transport.
    pub fn url(&self) -> String {
        self.url_of(0, "/ws")
    }

    pub fn url_of(&self, transport: usize, path: &str) -> String {
        format!("ws://{}{path}", self.addresses[transport])
    }
}

/// Starts the gateway with `toml` (no environment overrides).
pub async fn spawn_app(toml: &str) -> TestApp {
    let settings = Settings::from_toml_str(toml).expect("test configuration parses");
    start(settings)
}

/// Starts the gateway with a transport (anonymous, `extra` keys) and `realm1`.
pub async fn spawn_with(extra: &str) -> TestApp {
    spawn_app(&format!("{}{REALM}", transport(extra))).await
}

/// Starts the built-in configuration, moved to port 0 by an environment override.
pub async fn spawn_builtin() -> TestApp {
    let vars = [("GATEWAY__TRANSPORTS__0__LISTEN".to_string(), "127.0.0.1:0".to_string())];
    start(Settings::load_with_env(&ConfigSource::BuiltIn, vars).expect("built-in configuration loads"))
}

/// Starts the gateway with already loaded settings.
pub fn start(settings: Settings) -> TestApp {
    // `TEST_LOG=1 cargo test …` shows the gateway's logs (as zero-to-production does).
    if std::env::var_os("TEST_LOG").is_some() {
        gateway::telemetry::init(&gateway::config::LogSettings { level: "debug".into(), ..Default::default() });
    }
    let app = Application::build(settings).expect("the gateway starts");
    let addresses = app.addresses();
    let endpoints = app.endpoints().to_vec();
    let router = app.router().clone();
    let shutdown = app.shutdown_handle();
    let stopped = tokio::spawn(app.run_until_stopped());
    TestApp { addresses, endpoints, router, shutdown, stopped }
}

/// Opens a WebSocket offering `protocols` (none: no `Sec-WebSocket-Protocol` header at all).
pub async fn connect(
    url: &str,
    protocols: &[&str],
) -> Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error> {
    let mut request = url.into_client_request().expect("valid URL");
    if !protocols.is_empty() {
        let value = HeaderValue::from_str(&protocols.join(", ")).expect("valid header");
        request.headers_mut().insert("Sec-WebSocket-Protocol", value);
    }
    tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request)).await.expect("handshake in time")
}

/// A JSON connection.
pub async fn connect_json(url: &str) -> Ws {
    connect(url, &["wamp.2.json"]).await.expect("upgrade accepted").0
}

/// Sends a JSON text frame.
pub async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_owned())).await.expect("send");
}

pub async fn send_json(ws: &mut Ws, value: Value) {
    send_text(ws, &value.to_string()).await;
}

/// The next message that is not a ping or pong.
pub async fn recv(ws: &mut Ws) -> Message {
    loop {
        let next = tokio::time::timeout(PATIENCE, ws.next()).await.expect("a message in time");
        match next {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(m)) => return m,
            Some(Err(e)) => panic!("connection failed while a message was expected: {e}"),
            None => panic!("connection ended while a message was expected"),
        }
    }
}

/// The next message, which must be a JSON text frame.
pub async fn recv_json(ws: &mut Ws) -> Value {
    match recv(ws).await {
        Message::Text(t) => serde_json::from_str(&t).unwrap_or_else(|e| panic!("server sent bad JSON {t}: {e}")),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Reads to the end of the connection; the close frame the server sent, if any.
pub async fn recv_close(ws: &mut Ws) -> Option<CloseFrame> {
    loop {
        let next = tokio::time::timeout(PATIENCE, ws.next()).await.expect("the connection closes in time");
        match next {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => panic!("expected the connection to close, got {other:?}"),
            Some(Err(_)) | None => return None,
        }
    }
}

/// The close code of a close frame.
pub fn code(frame: &Option<CloseFrame>) -> Option<u16> {
    frame.as_ref().map(|f| u16::from(f.code))
}

pub fn hello(realm: &str) -> Value {
    json!([1, realm, {"roles": {"caller": {}, "callee": {}, "publisher": {}, "subscriber": {}}}])
}

/// HELLO → WELCOME; the WELCOME.
pub async fn join(ws: &mut Ws, realm: &str) -> Value {
    send_json(ws, hello(realm)).await;
    let welcome = recv_json(ws).await;
    assert_eq!(welcome[0], 2, "expected WELCOME, got {welcome}");
    assert!(welcome[1].as_u64().is_some_and(|id| id > 0), "WELCOME without a session id: {welcome}");
    welcome
}

/// Asserts `msg` is ABORT with `reason` and a human-readable message.
pub fn assert_abort(msg: &Value, reason: &str) {
    assert_eq!(msg[0], 3, "expected ABORT, got {msg}");
    assert_eq!(msg[2], reason, "ABORT reason in {msg}");
    assert!(msg[1]["message"].as_str().is_some_and(|m| !m.is_empty()), "ABORT without a message: {msg}");
}

/// The next message must be ABORT `reason`, then the connection must close; the close frame.
pub async fn expect_abort_and_close(ws: &mut Ws, reason: &str) -> Option<CloseFrame> {
    let abort = recv_json(ws).await;
    assert_abort(&abort, reason);
    let frame = recv_close(ws).await;
    assert!(frame.is_some(), "the server should send a close frame after ABORT");
    frame
}
