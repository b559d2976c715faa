//! Shutdown: joined sessions get GOODBYE `wamp.close.system_shutdown`, everything drains, the
//! application returns.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn shutdown_says_goodbye_to_joined_sessions_and_stops() {
    let app = spawn_with("").await;
    let mut ws = connect_json(&app.url()).await;
    join(&mut ws, "realm1").await;

    app.shutdown.trigger();
    let goodbye = recv_json(&mut ws).await;
    assert_eq!(goodbye[0], 6, "expected GOODBYE, got {goodbye}");
    assert_eq!(goodbye[2], "wamp.close.system_shutdown");
    send_json(&mut ws, json!([6, {}, "wamp.close.goodbye_and_out"])).await;
    assert_eq!(code(&recv_close(&mut ws).await), Some(1001));

    let result = tokio::time::timeout(PATIENCE, app.stopped).await.expect("stops in time").expect("task ok");
    assert!(result.is_ok(), "clean shutdown: {result:?}");
}

#[tokio::test]
async fn shutdown_closes_sessions_that_never_joined() {
    let app = spawn_with("").await;
    let mut ws = connect_json(&app.url()).await;
    app.shutdown.trigger();
    assert_eq!(code(&recv_close(&mut ws).await), Some(1001));
    let result = tokio::time::timeout(PATIENCE, app.stopped).await.expect("stops in time").expect("task ok");
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_peer_that_ignores_the_goodbye_is_closed_after_the_grace_period() {
    let app = spawn_with("close_grace_ms = 300").await;
    let mut ws = connect_json(&app.url()).await;
    join(&mut ws, "realm1").await;
    let started = Instant::now();
    app.shutdown.trigger();
    assert_eq!(recv_json(&mut ws).await[2], "wamp.close.system_shutdown");
    // No GOODBYE back: the close frame comes after the grace period.
    assert_eq!(code(&recv_close(&mut ws).await), Some(1001));
    assert!(started.elapsed() >= Duration::from_millis(250), "closed before the grace period");
    tokio::time::timeout(PATIENCE, app.stopped).await.expect("stops in time").expect("task ok").expect("clean");
}

#[tokio::test]
async fn the_drain_is_bounded() {
    // The grace period outlasts the drain: the drain timeout cuts the connection.
    let toml = format!("{}{REALM}[shutdown]\ndrain_timeout_ms = 300\n", transport("close_grace_ms = 60000"));
    let app = spawn_app(&toml).await;
    let mut ws = connect_json(&app.url()).await;
    join(&mut ws, "realm1").await;
    let started = Instant::now();
    app.shutdown.trigger();
    assert_eq!(recv_json(&mut ws).await[2], "wamp.close.system_shutdown");
    tokio::time::timeout(PATIENCE, app.stopped).await.expect("stops in time").expect("task ok").expect("clean");
    assert!(started.elapsed() < Duration::from_secs(3), "stopped after {:?}", started.elapsed());
}

/// RFC 6455 §7.1.1: once the close handshake is done the server closes TCP first; a client keeps
/// its side open waiting for that (autobahn-python for up to a second).
#[tokio::test]
async fn the_router_ends_tcp_after_the_close_handshake() {
    use futures_util::SinkExt;
    use tokio::io::AsyncReadExt;
    use tokio_tungstenite::MaybeTlsStream;

    let app = spawn_with("").await;
    for initiator in ["router", "client"] {
        let mut ws = connect_json(&app.url()).await;
        join(&mut ws, "realm1").await;
        send_json(&mut ws, json!([6, {}, "wamp.close.goodbye_and_out"])).await;
        assert_eq!(recv_json(&mut ws).await[0], 6, "GOODBYE answered");
        if initiator == "client" {
            // Close before the router does; its close frame is the answer.
            ws.close(None).await.expect("close frame sent");
        }
        assert_eq!(code(&recv_close(&mut ws).await), Some(1000), "{initiator}: close frame");
        // tungstenite queued its answer to the router's close frame; send it, keep TCP open.
        let _ = ws.flush().await;
        let MaybeTlsStream::Plain(tcp) = ws.get_mut() else { panic!("plain TCP") };
        let mut rest = Vec::new();
        // Not a speed target: without the router's FIN, TCP stays open until actix's client
        // disconnect timer (1 s) fires or the client gives up; with it, the end comes at once.
        let read = tokio::time::timeout(Duration::from_millis(500), tcp.read_to_end(&mut rest)).await;
        let read = read.unwrap_or_else(|_| panic!("{initiator}: the router kept TCP open after the close handshake"));
        assert!(read.is_ok(), "{initiator}: {read:?}");
        assert!(rest.is_empty(), "{initiator}: nothing follows the close frame, got {rest:?}");
    }
}

/// A connection that never joins (no HELLO, or an authentication left hanging) does not hold a
/// slot forever: after `join_timeout_ms` it is closed with 1008; a joined session is not.
#[tokio::test]
async fn connections_that_never_join_are_closed_after_the_join_timeout() {
    let app = spawn_with("join_timeout_ms = 300").await;
    let mut idle = connect_json(&app.url()).await;
    let mut joined = connect_json(&app.url()).await;
    join(&mut joined, "realm1").await;
    let started = Instant::now();
    assert_eq!(code(&recv_close(&mut idle).await), Some(1008), "the silent connection is closed");
    assert!(started.elapsed() >= Duration::from_millis(250), "not before the timeout");
    tokio::time::sleep(Duration::from_millis(400)).await;
    send_json(&mut joined, json!([32, 1, {}, "com.example.topic"])).await;
    assert_eq!(recv_json(&mut joined).await[0], 33, "the joined session still works");

    // RawSocket too: a handshake and then silence.
    let raw = format!(
        "[[transports]]\ntype = \"rawsocket\"\nlisten = \"127.0.0.1:0\"\njoin_timeout_ms = 300\n[transports.auth.anonymous]\nrole = \"anonymous\"\n{REALM}"
    );
    let app = spawn_app(&raw).await;
    let mut stream = tokio::net::TcpStream::connect(app.addresses[0]).await.expect("connects");
    let reply = crate::rawsocket::handshake(&mut stream, 0xF1).await;
    assert_eq!(reply[0], 0x7F);
    assert_eq!(crate::rawsocket::read_frame(&mut stream).await, None, "closed without a session");
}
