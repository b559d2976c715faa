//! Message size limits (single and fragmented frames) and keepalive.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

fn fragment(data: &str, opcode: Data, is_final: bool) -> Message {
    Message::Frame(Frame::message(data.as_bytes().to_vec(), OpCode::Data(opcode), is_final))
}

/// A HELLO padded with an `x` detail of `pad` bytes.
fn padded_hello(pad: usize) -> String {
    json!([1, "realm1", {"roles": {"caller": {}}, "x": "a".repeat(pad)}]).to_string()
}

#[tokio::test]
async fn an_oversized_message_ends_only_that_session() {
    let app = spawn_with("max_message_size = 1024").await;
    let mut bystander = connect_json(&app.url()).await;
    join(&mut bystander, "realm1").await;

    let mut ws = connect_json(&app.url()).await;
    send_text(&mut ws, &padded_hello(2000)).await;
    let frame = expect_abort_and_close(&mut ws, "wamp.error.protocol_violation").await;
    assert_eq!(code(&frame), Some(1009));

    send_json(&mut bystander, json!([6, {}, "wamp.close.close_realm"])).await;
    assert_eq!(recv_json(&mut bystander).await[2], "wamp.close.goodbye_and_out");
}

#[tokio::test]
async fn a_message_just_under_the_limit_is_accepted() {
    let app = spawn_with("max_message_size = 1024").await;
    let mut ws = connect_json(&app.url()).await;
    let text = padded_hello(900);
    assert!(text.len() <= 1024);
    send_text(&mut ws, &text).await;
    assert_eq!(recv_json(&mut ws).await[0], 2);
}

#[tokio::test]
async fn fragmented_messages_are_reassembled() {
    let app = spawn_with("max_message_size = 1024").await;
    let mut ws = connect_json(&app.url()).await;
    let text = padded_hello(600);
    let (a, rest) = text.split_at(200);
    let (b, c) = rest.split_at(200);
    ws.send(fragment(a, Data::Text, false)).await.expect("send");
    ws.send(fragment(b, Data::Continue, false)).await.expect("send");
    ws.send(fragment(c, Data::Continue, true)).await.expect("send");
    assert_eq!(recv_json(&mut ws).await[0], 2, "the reassembled HELLO is welcomed");
}

#[tokio::test]
async fn the_limit_applies_across_fragments() {
    let app = spawn_with("max_message_size = 1024").await;
    let mut ws = connect_json(&app.url()).await;
    let text = padded_hello(1500);
    let (a, rest) = text.split_at(600);
    let (b, c) = rest.split_at(600);
    ws.send(fragment(a, Data::Text, false)).await.expect("send");
    ws.send(fragment(b, Data::Continue, false)).await.expect("send");
    // The server may already have closed; the last fragment may not get through.
    let _ = ws.send(fragment(c, Data::Continue, true)).await;
    let frame = expect_abort_and_close(&mut ws, "wamp.error.protocol_violation").await;
    assert_eq!(code(&frame), Some(1009));
}

#[tokio::test]
async fn client_pings_are_answered() {
    let app = spawn_with("").await;
    let mut ws = connect_json(&app.url()).await;
    ws.send(Message::Ping(b"are you there".to_vec().into())).await.expect("send");
    let pong = tokio::time::timeout(PATIENCE, ws.next()).await.expect("in time").expect("open").expect("ok");
    assert_eq!(pong, Message::Pong(b"are you there".to_vec().into()));
}

#[tokio::test]
async fn a_silent_peer_is_disconnected_after_the_pong_timeout() {
    let app = spawn_with("ping_interval_ms = 100\npong_timeout_ms = 200").await;
    let (mut ws, _) = connect(&app.url(), &["wamp.2.json"]).await.expect("upgrade");
    // Not reading means not answering pings (tungstenite answers them while reading).
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut pinged = false;
    let frame = loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("in time") {
            Some(Ok(Message::Ping(_))) => pinged = true,
            Some(Ok(Message::Close(frame))) => break frame,
            other => panic!("expected pings then a close frame, got {other:?}"),
        }
    };
    assert!(pinged, "the server pings");
    assert_eq!(code(&frame), Some(1001));
}

#[tokio::test]
async fn a_responsive_peer_stays_connected() {
    let app = spawn_with("ping_interval_ms = 50\npong_timeout_ms = 150").await;
    let mut ws = connect_json(&app.url()).await;
    join(&mut ws, "realm1").await;
    // Reading for a while answers the pings.
    let until = tokio::time::Instant::now() + Duration::from_millis(600);
    let mut pings = 0;
    while let Ok(next) = tokio::time::timeout_at(until, ws.next()).await {
        match next {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("only pings expected, got {other:?}"),
        }
    }
    assert!(pings >= 3, "the server pings every interval ({pings} pings)");
    send_json(&mut ws, json!([6, {}, "wamp.close.close_realm"])).await;
    assert_eq!(recv_json(&mut ws).await[2], "wamp.close.goodbye_and_out");
}
