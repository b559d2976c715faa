//! RawSocket: the handshake and its refusals, framing limits, PING/PONG, sessions over TCP and Unix
//! sockets. The client is raw tokio I/O; WAMP messages go through the `wamp` crate's codecs.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wamp::{Dict, Message, Payload, RequestId, Serializer, Value};

use crate::helpers::*;

/// Frame types.
pub const MESSAGE: u8 = 0;
pub const PING: u8 = 1;
pub const PONG: u8 = 2;

/// A rawsocket transport on port 0 with anonymous auth, plus `extra` keys, and `realm1`.
pub fn rawsocket_config(extra: &str) -> String {
    format!(
        "[[transports]]\ntype = \"rawsocket\"\nlisten = \"127.0.0.1:0\"\n{extra}\n[transports.auth.anonymous]\nrole = \"anonymous\"\n{REALM}"
    )
}

/// Sends the 4-octet handshake `0x7F, second, 0, 0` and reads the router's 4 octets.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, second: u8) -> [u8; 4] {
    stream.write_all(&[0x7F, second, 0, 0]).await.expect("handshake sent");
    let mut reply = [0u8; 4];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut reply))
        .await
        .expect("a handshake reply in time")
        .expect("a 4-octet handshake reply");
    reply
}

pub async fn write_frame<S: AsyncWrite + Unpin>(stream: &mut S, kind: u8, payload: &[u8]) {
    let len = payload.len();
    let prefix = [kind, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    stream.write_all(&prefix).await.expect("prefix sent");
    stream.write_all(payload).await.expect("payload sent");
}

/// The next frame, or `None` once the router closed the connection.
pub async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Option<(u8, Vec<u8>)> {
    let read = async {
        let mut prefix = [0u8; 4];
        stream.read_exact(&mut prefix).await.ok()?;
        assert_eq!(prefix[0] & 0xF8, 0, "the router sets no reserved bits (and no 16 MiB frames here)");
        let len = usize::from(prefix[1]) << 16 | usize::from(prefix[2]) << 8 | usize::from(prefix[3]);
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.ok()?;
        Some((prefix[0], payload))
    };
    tokio::time::timeout(PATIENCE, read).await.expect("a frame or the end of the connection in time")
}

/// Reads to the end of the connection; panics if anything but PINGs arrives first.
pub async fn expect_eof<S: AsyncRead + Unpin>(stream: &mut S) {
    while let Some((kind, payload)) = read_frame(stream).await {
        assert_eq!(kind, PING, "expected the connection to end, got a frame of type {kind}: {payload:?}");
    }
}

pub fn dict(value: serde_json::Value) -> Dict {
    let serde_json::Value::Object(map) = value else { panic!("an object") };
    map.into_iter().map(|(k, v)| (k, json_value(v))).collect()
}

fn json_value(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            n.as_i64().map(Value::Int).unwrap_or_else(|| Value::Float(n.as_f64().expect("a float")))
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(json_value).collect()),
        o @ serde_json::Value::Object(_) => Value::Dict(dict(o)),
    }
}

/// A RawSocket WAMP client after a successful handshake.
pub struct RawClient<S> {
    pub stream: S,
    pub serializer: Serializer,
    next_request: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawClient<S> {
    /// Handshakes for `serializer`, announcing that we take messages up to 2^(9 + `exponent`) octets.
    pub async fn open_with(mut stream: S, serializer: Serializer, exponent: u8) -> RawClient<S> {
        let id = serializer.rawsocket_id();
        let reply = handshake(&mut stream, exponent << 4 | id).await;
        assert_eq!((reply[0], reply[1] & 0x0F, reply[2], reply[3]), (0x7F, id, 0, 0), "accepted: {reply:?}");
        RawClient { stream, serializer, next_request: 0 }
    }

    pub async fn open(stream: S, serializer: Serializer) -> RawClient<S> {
        RawClient::open_with(stream, serializer, 15).await
    }

    pub fn request(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    pub async fn send(&mut self, msg: &Message) {
        let bytes = self.serializer.encode(msg);
        write_frame(&mut self.stream, MESSAGE, &bytes).await;
    }

    /// The next WAMP message (PINGs are answered on the way).
    pub async fn recv(&mut self) -> Message {
        self.try_recv().await.expect("a message, not the end of the connection")
    }

    /// The next WAMP message, or `None` when the connection ends first.
    pub async fn try_recv(&mut self) -> Option<Message> {
        loop {
            let (kind, payload) = read_frame(&mut self.stream).await?;
            match kind {
                MESSAGE => return Some(self.serializer.decode(&payload).expect("the router sends valid messages")),
                PING => write_frame(&mut self.stream, PONG, &payload).await,
                other => panic!("unexpected frame type {other}"),
            }
        }
    }

    /// HELLO with `details` → the answer (WELCOME or ABORT).
    pub async fn hello(&mut self, realm: &str, details: serde_json::Value) -> Message {
        self.send(&Message::Hello { realm: realm.into(), details: dict(details) }).await;
        self.recv().await
    }

    /// HELLO → WELCOME; the WELCOME's details.
    pub async fn join(&mut self, realm: &str) -> Dict {
        let roles = json!({"roles": {"caller": {}, "callee": {}, "publisher": {}, "subscriber": {}}});
        match self.hello(realm, roles).await {
            Message::Welcome { session, details } => {
                assert!(session.0 > 0);
                details
            }
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }
}

pub fn detail<'a>(details: &'a Dict, key: &str) -> &'a str {
    details.get(key).and_then(Value::as_str).unwrap_or_else(|| panic!("{key} in {details:?}"))
}

pub fn assert_abort(msg: &Message, expected: &str) {
    match msg {
        Message::Abort { reason, details } => {
            assert_eq!(reason, expected, "{details:?}");
            assert!(details.get("message").and_then(Value::as_str).is_some_and(|m| !m.is_empty()));
        }
        other => panic!("expected ABORT {expected}, got {other:?}"),
    }
}

async fn tcp(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.addresses[0]).await.expect("connects")
}

#[tokio::test]
async fn each_serializer_is_accepted_and_joins() {
    let app = spawn_app(&rawsocket_config("")).await;
    assert_eq!(app.endpoints[0].url, format!("tcp://{}", app.addresses[0]));
    assert_eq!(app.endpoints[0].to_string(), format!("listening on tcp://{} (rawsocket)", app.addresses[0]));
    for serializer in Serializer::ALL {
        let mut stream = tcp(&app).await;
        let id = serializer.rawsocket_id();
        // We announce 2^(9+4) octets; the router announces 2^(9+15) = its 16 MiB default.
        assert_eq!(handshake(&mut stream, 0x40 | id).await, [0x7F, 0xF0 | id, 0, 0], "{serializer:?}");
        let mut client = RawClient { stream, serializer, next_request: 0 };
        let welcome = client.join("realm1").await;
        assert_eq!(detail(&welcome, "authmethod"), "anonymous", "{serializer:?}");
    }
}

#[tokio::test]
async fn an_unsupported_serializer_is_refused_with_error_1() {
    let app = spawn_app(&rawsocket_config("serializers = [\"cbor\"]")).await;
    for second in [0xF1, 0xF2, 0xF0, 0xF7] {
        let mut stream = tcp(&app).await;
        assert_eq!(handshake(&mut stream, second).await, [0x7F, 0x10, 0, 0], "request {second:#04x}");
        expect_eof(&mut stream).await;
    }
    RawClient::open(tcp(&app).await, Serializer::Cbor).await.join("realm1").await;
}

#[tokio::test]
async fn reserved_octets_are_refused_with_error_3() {
    let app = spawn_app(&rawsocket_config("")).await;
    let mut stream = tcp(&app).await;
    stream.write_all(&[0x7F, 0xF1, 0, 1]).await.expect("sent");
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await.expect("a reply");
    assert_eq!(reply, [0x7F, 0x30, 0, 0]);
    expect_eof(&mut stream).await;
}

#[tokio::test]
async fn a_wrong_magic_octet_closes_without_a_reply() {
    let app = spawn_app(&rawsocket_config("")).await;
    let mut stream = tcp(&app).await;
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("sent");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest)).await.expect("closed in time");
    assert!(read.is_err() || rest.is_empty(), "the router answered a non-RawSocket client: {rest:?}");
}

#[tokio::test]
async fn the_announced_length_follows_max_message_size() {
    let app = spawn_app(&rawsocket_config("max_message_size = 1500")).await;
    let mut stream = tcp(&app).await;
    assert_eq!(handshake(&mut stream, 0xF1).await, [0x7F, 0x11, 0, 0], "2^(9+1) = 1024 is the largest power ≤ 1500");
}

#[tokio::test]
async fn an_oversized_frame_ends_only_that_session() {
    let app = spawn_app(&rawsocket_config("max_message_size = 1024")).await;
    let mut bystander = RawClient::open(tcp(&app).await, Serializer::Json).await;
    bystander.join("realm1").await;

    let mut client = RawClient::open(tcp(&app).await, Serializer::Json).await;
    client.join("realm1").await;
    // The prefix alone announces 1025 octets: refused before any payload.
    client.stream.write_all(&[MESSAGE, 0, 0x04, 0x01]).await.expect("sent");
    assert_abort(&client.recv().await, "wamp.error.protocol_violation");
    expect_eof(&mut client.stream).await;

    bystander.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() }).await;
    assert!(
        matches!(bystander.recv().await, Message::Goodbye { reason, .. } if reason == "wamp.close.goodbye_and_out")
    );
    expect_eof(&mut bystander.stream).await;
}

#[tokio::test]
async fn a_reserved_frame_type_is_a_protocol_violation() {
    let app = spawn_app(&rawsocket_config("")).await;
    let mut client = RawClient::open(tcp(&app).await, Serializer::MsgPack).await;
    write_frame(&mut client.stream, 5, b"?").await;
    assert_abort(&client.recv().await, "wamp.error.protocol_violation");
    expect_eof(&mut client.stream).await;
}

#[tokio::test]
async fn a_message_larger_than_the_client_accepts_ends_its_session() {
    let app = spawn_app(&rawsocket_config("")).await;
    let mut callee = RawClient::open(tcp(&app).await, Serializer::Cbor).await;
    callee.join("realm1").await;
    let request = callee.request();
    let procedure = "com.example.echo".to_owned();
    callee.send(&Message::Register { request, options: Dict::new(), procedure: procedure.clone() }).await;
    assert!(matches!(callee.recv().await, Message::Registered { .. }));

    // This caller takes at most 2^(9+1) = 1024 octets.
    let mut caller = RawClient::open_with(tcp(&app).await, Serializer::Json, 1).await;
    caller.join("realm1").await;
    let request = caller.request();
    let big = Payload::args(vec![Value::from("x".repeat(2000).as_str())]);
    caller.send(&Message::Call { request, options: Dict::new(), procedure, payload: big.clone() }).await;

    let Message::Invocation { request, .. } = callee.recv().await else { panic!("expected INVOCATION") };
    callee.send(&Message::Yield { request, options: Dict::new(), payload: big }).await;
    assert_eq!(caller.try_recv().await, None, "the RESULT does not fit: the caller's connection ends instead");

    // The callee goes on.
    let request = callee.request();
    callee.send(&Message::Subscribe { request, options: Dict::new(), topic: "com.example.t".into() }).await;
    assert!(matches!(callee.recv().await, Message::Subscribed { .. }));
}

#[tokio::test]
async fn pings_are_answered_with_pongs_carrying_the_payload() {
    let app = spawn_app(&rawsocket_config("")).await;
    let mut client = RawClient::open(tcp(&app).await, Serializer::Json).await;
    write_frame(&mut client.stream, PING, b"before joining").await;
    assert_eq!(read_frame(&mut client.stream).await, Some((PONG, b"before joining".to_vec())));
    client.join("realm1").await;
    write_frame(&mut client.stream, PING, b"").await;
    assert_eq!(read_frame(&mut client.stream).await, Some((PONG, Vec::new())));
    write_frame(&mut client.stream, PING, &[0, 1, 2, 255]).await;
    assert_eq!(read_frame(&mut client.stream).await, Some((PONG, vec![0, 1, 2, 255])));
}

#[tokio::test]
async fn keepalive_pings_go_out_and_an_unanswered_one_closes_the_connection() {
    let app = spawn_app(&rawsocket_config("ping_interval_ms = 100\npong_timeout_ms = 400")).await;
    let mut client = RawClient::open(tcp(&app).await, Serializer::Json).await;
    client.join("realm1").await;
    for _ in 0..2 {
        let (kind, payload) = read_frame(&mut client.stream).await.expect("a PING");
        assert_eq!(kind, PING);
        write_frame(&mut client.stream, PONG, &payload).await;
    }
    // Stop answering: the router gives up after pong_timeout.
    let started = std::time::Instant::now();
    expect_eof(&mut client.stream).await;
    assert!(started.elapsed() >= Duration::from_millis(300), "closed after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_call_round_trip_between_rawsocket_and_websocket() {
    let toml = format!("{}{}", transport(""), rawsocket_config("").replace(REALM, ""));
    let app = spawn_app(&format!("{toml}{REALM}")).await;
    assert_eq!(app.endpoints.iter().map(|e| e.kind).collect::<Vec<_>>(), ["websocket", "rawsocket"]);

    let mut callee =
        RawClient::open(TcpStream::connect(app.addresses[1]).await.expect("connects"), Serializer::MsgPack).await;
    callee.join("realm1").await;
    let request = callee.request();
    callee.send(&Message::Register { request, options: Dict::new(), procedure: "com.example.add".into() }).await;
    assert!(matches!(callee.recv().await, Message::Registered { request: r, .. } if r == request));

    let mut caller =
        RawClient::open(TcpStream::connect(app.addresses[1]).await.expect("connects"), Serializer::Json).await;
    caller.join("realm1").await;
    let mut ws = connect_json(&app.url()).await;
    join(&mut ws, "realm1").await;

    for (round, via_websocket) in [(1, false), (2, true)] {
        let call_request = caller.request();
        if via_websocket {
            send_json(&mut ws, json!([48, 7, {}, "com.example.add", [round, 40]])).await;
        } else {
            let payload = Payload::args(vec![Value::Int(round), Value::Int(40)]);
            caller
                .send(&Message::Call {
                    request: call_request,
                    options: Dict::new(),
                    procedure: "com.example.add".into(),
                    payload,
                })
                .await;
        }
        let Message::Invocation { request, payload, .. } = callee.recv().await else { panic!("expected INVOCATION") };
        let args = payload.args.expect("arguments");
        let sum = args.iter().filter_map(Value::as_u64).sum::<u64>() as i64;
        callee
            .send(&Message::Yield { request, options: Dict::new(), payload: Payload::args(vec![Value::Int(sum)]) })
            .await;
        if via_websocket {
            assert_eq!(recv_json(&mut ws).await, json!([50, 7, {}, [42]]));
        } else {
            match caller.recv().await {
                Message::Result { request, payload, .. } => {
                    assert_eq!(request, call_request);
                    assert_eq!(payload.args, Some(vec![Value::Int(41)]));
                }
                other => panic!("expected RESULT, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn goodbye_ends_the_session_and_the_connection() {
    let app = spawn_app(&rawsocket_config("")).await;
    let mut client = RawClient::open(tcp(&app).await, Serializer::Cbor).await;
    client.join("realm1").await;
    assert_eq!(app.router.session_count(), 1);
    client.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() }).await;
    assert!(matches!(client.recv().await, Message::Goodbye { reason, .. } if reason == "wamp.close.goodbye_and_out"));
    expect_eof(&mut client.stream).await;
    assert_eq!(app.router.session_count(), 0);
}

#[tokio::test]
async fn max_connections_refuses_with_error_4() {
    let app = spawn_app(&rawsocket_config("max_connections = 1")).await;
    let mut first = RawClient::open(tcp(&app).await, Serializer::Json).await;
    first.join("realm1").await;
    let mut second = tcp(&app).await;
    assert_eq!(handshake(&mut second, 0xF1).await, [0x7F, 0x40, 0, 0]);
    expect_eof(&mut second).await;

    first.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() }).await;
    first.recv().await;
    expect_eof(&mut first.stream).await;
    drop(first);
    // The slot is free again once the first connection is gone.
    let mut third = None;
    for _ in 0..50 {
        let mut stream = tcp(&app).await;
        if handshake(&mut stream, 0xF1).await == [0x7F, 0xF1, 0, 0] {
            third = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(third.is_some(), "a new connection is accepted once the first ended");
}

#[tokio::test]
async fn shutdown_sends_goodbye_and_stops_cleanly() {
    let app = spawn_app(&rawsocket_config("")).await;
    let mut client = RawClient::open(tcp(&app).await, Serializer::Json).await;
    client.join("realm1").await;
    app.shutdown.trigger();
    assert!(matches!(client.recv().await, Message::Goodbye { reason, .. } if reason == "wamp.close.system_shutdown"));
    client.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() }).await;
    expect_eof(&mut client.stream).await;
    tokio::time::timeout(PATIENCE, app.stopped).await.expect("stops in time").expect("task ok").expect("clean");
    assert!(TcpStream::connect(app.addresses[0]).await.is_err(), "the listener is closed");
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_sessions_and_cleanup() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("wamp.sock");
    // A socket file left by a process that is gone does not stop the gateway.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("a stale socket file"));
    let toml = format!(
        "[[transports]]\ntype = \"rawsocket\"\nunix = \"{}\"\n[transports.auth.anonymous]\n{REALM}",
        path.display()
    );
    let app = spawn_app(&toml).await;
    assert!(app.addresses.is_empty());
    assert_eq!(app.endpoints[0].to_string(), format!("listening on unix:{} (rawsocket)", path.display()));

    let connect = || tokio::net::UnixStream::connect(&path);
    let mut callee = RawClient::open(connect().await.expect("connects"), Serializer::Json).await;
    callee.join("realm1").await;
    let request = callee.request();
    callee.send(&Message::Subscribe { request, options: Dict::new(), topic: "com.example.news".into() }).await;
    assert!(matches!(callee.recv().await, Message::Subscribed { .. }));
    let mut publisher = RawClient::open(connect().await.expect("connects"), Serializer::Cbor).await;
    publisher.join("realm1").await;
    let request = publisher.request();
    let options = dict(json!({"acknowledge": true}));
    let payload = Payload::args(vec![Value::from("hello")]);
    publisher.send(&Message::Publish { request, options, topic: "com.example.news".into(), payload }).await;
    assert!(matches!(publisher.recv().await, Message::Published { .. }));
    match callee.recv().await {
        Message::Event { payload, .. } => assert_eq!(payload.args, Some(vec![Value::from("hello")])),
        other => panic!("expected EVENT, got {other:?}"),
    }

    app.shutdown.trigger();
    for client in [&mut callee, &mut publisher] {
        assert!(matches!(client.recv().await, Message::Goodbye { .. }));
        client.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() }).await;
    }
    tokio::time::timeout(PATIENCE, app.stopped).await.expect("stops in time").expect("task ok").expect("clean");
    assert!(!path.exists(), "the socket file is removed at shutdown");
}

#[cfg(unix)]
#[tokio::test]
async fn a_unix_socket_that_cannot_be_bound_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let build = |path: &std::path::Path| {
        let toml = format!(
            "[[transports]]\ntype = \"rawsocket\"\nunix = \"{}\"\n[transports.auth.anonymous]\n{REALM}",
            path.display()
        );
        gateway::Application::build(gateway::Settings::from_toml_str(&toml).expect("parses")).err()
    };
    let missing_dir = dir.path().join("missing").join("wamp.sock");
    let err = build(&missing_dir).expect("no such directory");
    assert!(err.to_string().starts_with("transports[0].unix: cannot bind "), "{err}");

    // A socket another process still listens on is not taken over.
    let live = dir.path().join("live.sock");
    let _listening = std::os::unix::net::UnixListener::bind(&live).expect("bound");
    let err = build(&live).expect("in use");
    assert!(err.to_string().contains("another process is listening"), "{err}");
    assert!(live.exists());
}
