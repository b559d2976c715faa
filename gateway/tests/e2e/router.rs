//! The transport's side of router-initiated closes and cleanup, against the real router.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// Waits until the router counts `n` joined sessions.
async fn sessions_become(app: &TestApp, n: usize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while app.router.session_count() != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session count stayed {} (want {n})",
            app.router.session_count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_dropped_connection_leaves_the_realm() {
    let app = spawn_with("").await;
    let mut ws = connect_json(&app.url()).await;
    join(&mut ws, "realm1").await;
    sessions_become(&app, 1).await;
    drop(ws); // no GOODBYE, no close frame: the TCP connection just goes away
    sessions_become(&app, 0).await;
}

#[tokio::test]
async fn a_killed_session_gets_goodbye_with_the_reason_and_a_normal_close() {
    let app = spawn_with("").await;
    let mut victim = connect_json(&app.url()).await;
    let id = join(&mut victim, "realm1").await[1].clone();
    let mut admin = connect_json(&app.url()).await;
    join(&mut admin, "realm1").await;

    let kwargs = json!({"reason": "com.example.kicked", "message": "bye"});
    send_json(&mut admin, json!([48, 1, {}, "wamp.session.kill", [id], kwargs])).await;
    assert_eq!(recv_json(&mut admin).await[0], 50, "RESULT of the kill");

    let goodbye = recv_json(&mut victim).await;
    assert_eq!(goodbye, json!([6, {"message": "bye"}, "com.example.kicked"]));
    send_json(&mut victim, json!([6, {}, "wamp.close.goodbye_and_out"])).await;
    assert_eq!(code(&recv_close(&mut victim).await), Some(1000));
    sessions_become(&app, 1).await;
}

#[tokio::test]
async fn a_slow_consumer_is_cut_off_with_1008_without_hurting_others() {
    let app = spawn_with("outbound_queue = 4\npong_timeout_ms = 10000").await;
    let mut slow = connect_json(&app.url()).await;
    join(&mut slow, "realm1").await;
    send_json(&mut slow, json!([32, 1, {}, "com.example.flood"])).await;
    assert_eq!(recv_json(&mut slow).await[0], 33, "SUBSCRIBED");

    // `slow` stops reading; the publisher sends far more than the socket buffers hold.
    let mut publisher = connect_json(&app.url()).await;
    join(&mut publisher, "realm1").await;
    let chunk = "x".repeat(128 * 1024);
    for i in 0..200 {
        send_json(&mut publisher, json!([16, 100 + i, {}, "com.example.flood", [chunk]])).await;
    }
    send_json(&mut publisher, json!([16, 1, {"acknowledge": true}, "com.example.other", []])).await;
    assert_eq!(recv_json(&mut publisher).await[0], 17, "the publisher is unaffected (PUBLISHED)");

    // Reading again: whatever was already on its way, then the close.
    let mut events = 0;
    let frame = loop {
        match tokio::time::timeout(PATIENCE, slow.next()).await.expect("in time") {
            Some(Ok(Message::Text(t))) => {
                let msg: Value = serde_json::from_str(&t).expect("JSON");
                assert_eq!(msg[0], 36, "only EVENTs before the close");
                events += 1;
            }
            Some(Ok(Message::Close(frame))) => break frame,
            other => panic!("expected EVENTs then a close frame, got {other:?}"),
        }
    };
    assert!(events < 200, "the slow consumer was cut off ({events} events)");
    assert_eq!(code(&frame), Some(1008));
    sessions_become(&app, 1).await;
}
