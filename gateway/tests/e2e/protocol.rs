//! WAMP sessions over the wire: joining, refusals, protocol violations, GOODBYE, other serializers.

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

#[tokio::test]
async fn hello_is_welcomed_and_goodbye_is_answered() {
    let app = spawn_with("").await;
    let mut ws = connect_json(&app.url()).await;
    let welcome = join(&mut ws, "realm1").await;
    assert!(welcome[2].is_object(), "WELCOME details: {welcome}");
    send_json(&mut ws, json!([6, {}, "wamp.close.close_realm"])).await;
    let goodbye = recv_json(&mut ws).await;
    assert_eq!(goodbye, json!([6, {}, "wamp.close.goodbye_and_out"]));
    assert_eq!(code(&recv_close(&mut ws).await), Some(1000));
}

#[tokio::test]
async fn the_builtin_configuration_serves_realm1_anonymously() {
    let app = spawn_builtin().await;
    let mut ws = connect_json(&app.url()).await;
    let welcome = join(&mut ws, "realm1").await;
    assert_eq!(welcome[2]["authrole"], "anonymous", "WELCOME details: {welcome}");
}

#[tokio::test]
async fn a_message_before_hello_is_aborted() {
    let app = spawn_with("").await;
    let mut ws = connect_json(&app.url()).await;
    send_json(&mut ws, json!([32, 1, {}, "com.example.topic"])).await;
    expect_abort_and_close(&mut ws, "wamp.error.protocol_violation").await;
}

#[tokio::test]
async fn malformed_json_aborts_only_that_session() {
    let app = spawn_with("").await;
    let mut bystander = connect_json(&app.url()).await;
    join(&mut bystander, "realm1").await;

    let mut ws = connect_json(&app.url()).await;
    join(&mut ws, "realm1").await;
    send_text(&mut ws, "[1, \"realm1\", {").await;
    expect_abort_and_close(&mut ws, "wamp.error.protocol_violation").await;

    // The other session on the same gateway still works.
    send_json(&mut bystander, json!([6, {}, "wamp.close.close_realm"])).await;
    assert_eq!(recv_json(&mut bystander).await, json!([6, {}, "wamp.close.goodbye_and_out"]));
    // And new sessions are still welcome.
    let mut late = connect_json(&app.url()).await;
    join(&mut late, "realm1").await;
}

#[tokio::test]
async fn an_unknown_message_type_is_aborted() {
    let app = spawn_with("").await;
    let mut ws = connect_json(&app.url()).await;
    send_json(&mut ws, json!([999, {}, "x"])).await;
    expect_abort_and_close(&mut ws, "wamp.error.protocol_violation").await;
}

#[tokio::test]
async fn a_binary_frame_on_a_json_session_is_a_protocol_violation() {
    let app = spawn_with("").await;
    let mut ws = connect_json(&app.url()).await;
    ws.send(Message::binary(hello("realm1").to_string().into_bytes())).await.expect("send");
    let frame = expect_abort_and_close(&mut ws, "wamp.error.protocol_violation").await;
    assert_eq!(code(&frame), Some(1003));
}

#[tokio::test]
async fn hello_for_an_unknown_realm_is_aborted_with_no_such_realm() {
    let app = spawn_with("").await;
    let mut ws = connect_json(&app.url()).await;
    send_json(&mut ws, hello("com.example.nowhere")).await;
    expect_abort_and_close(&mut ws, "wamp.error.no_such_realm").await;
}

#[tokio::test]
async fn a_transport_without_auth_refuses_every_join() {
    let toml = format!("[[transports]]\ntype = \"websocket\"\nlisten = \"127.0.0.1:0\"\n{REALM}");
    let app = spawn_app(&toml).await;
    let mut ws = connect_json(&app.url()).await;
    send_json(&mut ws, hello("realm1")).await;
    let abort = recv_json(&mut ws).await;
    assert_eq!(abort[0], 3, "expected ABORT, got {abort}");
    assert!(abort[2].as_str().is_some_and(|r| r.starts_with("wamp.error.")), "{abort}");
    assert!(recv_close(&mut ws).await.is_some());
}

#[tokio::test]
async fn msgpack_session_joins_and_leaves() {
    let app = spawn_with("").await;
    let (mut ws, _) = connect(&app.url(), &["wamp.2.msgpack"]).await.expect("upgrade");
    let encode = |v: &Value| rmp_serde::to_vec(v).expect("msgpack encodes");
    ws.send(Message::binary(encode(&hello("realm1")))).await.expect("send");
    let welcome: Value = match recv(&mut ws).await {
        Message::Binary(b) => rmp_serde::from_slice(&b).expect("WELCOME is msgpack"),
        other => panic!("msgpack travels in binary frames, got {other:?}"),
    };
    assert_eq!(welcome[0], 2, "{welcome}");
    ws.send(Message::binary(encode(&json!([6, {}, "wamp.close.close_realm"])))).await.expect("send");
    let goodbye: Value = match recv(&mut ws).await {
        Message::Binary(b) => rmp_serde::from_slice(&b).expect("GOODBYE is msgpack"),
        other => panic!("expected a binary frame, got {other:?}"),
    };
    assert_eq!(goodbye[2], "wamp.close.goodbye_and_out");
}

#[tokio::test]
async fn cbor_session_joins_and_a_text_frame_is_a_violation() {
    let app = spawn_with("").await;
    let (mut ws, _) = connect(&app.url(), &["wamp.2.cbor"]).await.expect("upgrade");
    let mut bytes = Vec::new();
    ciborium::into_writer(&hello("realm1"), &mut bytes).expect("cbor encodes");
    ws.send(Message::binary(bytes)).await.expect("send");
    let welcome: Value = match recv(&mut ws).await {
        Message::Binary(b) => ciborium::from_reader(&b[..]).expect("WELCOME is cbor"),
        other => panic!("cbor travels in binary frames, got {other:?}"),
    };
    assert_eq!(welcome[0], 2, "{welcome}");
    send_text(&mut ws, "[6, {}, \"wamp.close.close_realm\"]").await;
    let abort: Value = match recv(&mut ws).await {
        Message::Binary(b) => ciborium::from_reader(&b[..]).expect("ABORT is cbor"),
        other => panic!("expected a binary frame, got {other:?}"),
    };
    assert_abort(&abort, "wamp.error.protocol_violation");
    assert_eq!(code(&recv_close(&mut ws).await), Some(1003));
}
