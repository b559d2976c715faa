//! Authentication on the wire: the CHALLENGE round over a WebSocket and a RawSocket, and that a
//! failed AUTHENTICATE ends the connection (no second try). The methods themselves are tested
//! beside their code and, with autobahn, in tests/test_auth.py.

use serde_json::json;
use tokio::net::TcpStream;
use wamp::{Dict, Message, Serializer};

use crate::helpers::*;
use crate::rawsocket::{assert_abort as assert_raw_abort, detail, RawClient};

const TICKET: &str = r#"
[transports.auth.ticket.principals.alice]
ticket = "alice-secret"
role = "anonymous"
"#;

fn config(kind: &str) -> String {
    format!("[[transports]]\ntype = \"{kind}\"\nlisten = \"127.0.0.1:0\"\n{TICKET}{REALM}")
}

fn ticket_hello(authid: &str) -> serde_json::Value {
    json!([1, "realm1", {"roles": {"caller": {}}, "authmethods": ["ticket"], "authid": authid}])
}

#[tokio::test]
async fn a_wrong_ticket_is_aborted_and_the_connection_closed() {
    let app = spawn_app(&config("websocket")).await;
    let mut ws = connect_json(&app.url()).await;
    send_json(&mut ws, ticket_hello("alice")).await;
    let challenge = recv_json(&mut ws).await;
    assert_eq!(challenge, json!([4, "ticket", {}]));
    send_json(&mut ws, json!([5, "wrong", {}])).await;
    let abort = recv_json(&mut ws).await;
    assert_abort(&abort, "wamp.error.authentication_failed");
    assert_eq!(abort[1]["message"], "authentication failed", "the message says nothing about what was wrong");
    // The right ticket now is too late: the router has closed the connection.
    send_json(&mut ws, json!([5, "alice-secret", {}])).await;
    assert!(recv_close(&mut ws).await.is_some(), "a close frame after ABORT");
}

#[tokio::test]
async fn the_right_ticket_is_welcomed_with_the_identity() {
    let app = spawn_app(&config("websocket")).await;
    let mut ws = connect_json(&app.url()).await;
    send_json(&mut ws, ticket_hello("alice")).await;
    assert_eq!(recv_json(&mut ws).await[0], 4);
    send_json(&mut ws, json!([5, "alice-secret", {}])).await;
    let welcome = recv_json(&mut ws).await;
    assert_eq!(welcome[0], 2, "{welcome}");
    let details = &welcome[2];
    assert_eq!(
        (&details["authid"], &details["authrole"], &details["authmethod"], &details["authprovider"]),
        (&json!("alice"), &json!("anonymous"), &json!("ticket"), &json!("static"))
    );
}

#[tokio::test]
async fn rawsocket_transports_authenticate_the_same_way() {
    let app = spawn_app(&config("rawsocket")).await;
    let stream = TcpStream::connect(app.addresses[0]).await.expect("connects");
    let mut client = RawClient::open(stream, Serializer::MsgPack).await;
    let hello = json!({"roles": {"caller": {}}, "authmethods": ["ticket"], "authid": "alice"});
    let Message::Challenge { authmethod, .. } = client.hello("realm1", hello).await else {
        panic!("expected CHALLENGE")
    };
    assert_eq!(authmethod, "ticket");
    client.send(&Message::Authenticate { signature: "alice-secret".into(), extra: Dict::new() }).await;
    let Message::Welcome { details, .. } = client.recv().await else { panic!("expected WELCOME") };
    assert_eq!((detail(&details, "authid"), detail(&details, "authmethod")), ("alice", "ticket"));

    // Unknown principal, then nothing offered that the transport has.
    let stream = TcpStream::connect(app.addresses[0]).await.expect("connects");
    let mut client = RawClient::open(stream, Serializer::Json).await;
    let hello = json!({"authmethods": ["ticket"], "authid": "mallory"});
    assert_raw_abort(&client.hello("realm1", hello).await, "wamp.error.no_such_principal");
    let stream = TcpStream::connect(app.addresses[0]).await.expect("connects");
    let mut client = RawClient::open(stream, Serializer::Cbor).await;
    assert_raw_abort(&client.hello("realm1", json!({})).await, "wamp.error.no_matching_auth_method");
}
