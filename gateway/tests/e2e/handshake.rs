//! The WebSocket handshake: subprotocol negotiation and refusals.

use tokio_tungstenite::tungstenite;

use crate::helpers::*;

fn refused(result: Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error>) -> (u16, String) {
    match result {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            (response.status().as_u16(), body)
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, the upgrade was accepted"),
    }
}

#[tokio::test]
async fn wrong_subprotocol_is_refused_with_400_naming_the_supported_ones() {
    let app = spawn_with("").await;
    let (status, body) = refused(connect(&app.url(), &["mqtt", "wamp.2.xml"]).await);
    assert_eq!(status, 400);
    assert!(body.contains("wamp.2.json") && body.contains("wamp.2.msgpack") && body.contains("wamp.2.cbor"), "{body}");
    assert!(body.contains("mqtt"), "the body says what was offered: {body}");
}

#[tokio::test]
async fn no_subprotocol_is_refused_with_400() {
    let app = spawn_with("").await;
    let (status, body) = refused(connect(&app.url(), &[]).await);
    assert_eq!(status, 400);
    assert!(body.contains("no WebSocket subprotocol was offered") && body.contains("wamp.2.json"), "{body}");
}

#[tokio::test]
async fn a_serializer_the_transport_does_not_serve_is_refused() {
    let app = spawn_with("serializers = [\"cbor\"]").await;
    let (status, body) = refused(connect(&app.url(), &["wamp.2.json", "wamp.2.msgpack"]).await);
    assert_eq!(status, 400);
    assert!(body.contains("supports: wamp.2.cbor"), "{body}");
}

#[tokio::test]
async fn each_serializer_is_negotiated_and_echoed() {
    let app = spawn_with("").await;
    for protocol in ["wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor"] {
        let (_ws, response) = connect(&app.url(), &[protocol]).await.expect("upgrade accepted");
        assert_eq!(response.status().as_u16(), 101);
        let echoed = response.headers().get("Sec-WebSocket-Protocol").expect("a subprotocol is echoed");
        assert_eq!(echoed, protocol);
    }
}

#[tokio::test]
async fn the_clients_order_of_preference_wins() {
    let app = spawn_with("").await;
    let (_ws, response) = connect(&app.url(), &["wamp.2.cbor", "wamp.2.json"]).await.expect("accepted");
    assert_eq!(response.headers().get("Sec-WebSocket-Protocol").expect("echoed"), "wamp.2.cbor");
    let (_ws, response) = connect(&app.url(), &["mqtt", "wamp.2.msgpack", "wamp.2.json"]).await.expect("accepted");
    assert_eq!(response.headers().get("Sec-WebSocket-Protocol").expect("echoed"), "wamp.2.msgpack");
}

#[tokio::test]
async fn other_paths_are_not_found() {
    let app = spawn_with("path = \"/wamp\"").await;
    let (status, _) = refused(connect(&app.url_of(0, "/ws"), &["wamp.2.json"]).await);
    assert_eq!(status, 404);
    connect(&app.url_of(0, "/wamp"), &["wamp.2.json"]).await.expect("the configured path upgrades");
}

#[tokio::test]
async fn each_transport_has_its_own_listener_path_and_serializers() {
    let second = "[[transports]]\ntype = \"websocket\"\nlisten = \"127.0.0.1:0\"\npath = \"/second\"\nserializers = [\"cbor\"]\n[transports.auth.anonymous]\n";
    let app = spawn_app(&format!("{}{second}{REALM}", transport(""))).await;
    assert_eq!(app.addresses.len(), 2);
    assert_ne!(app.addresses[0].port(), app.addresses[1].port());
    connect(&app.url_of(1, "/second"), &["wamp.2.cbor"]).await.expect("the second transport serves cbor");
    let (status, _) = refused(connect(&app.url_of(1, "/second"), &["wamp.2.json"]).await);
    assert_eq!(status, 400, "the second transport serves only cbor");
    connect(&app.url_of(0, "/ws"), &["wamp.2.json"]).await.expect("the first transport serves json");
}

/// `allowed_origins` (as Crossbar's): a browser from another origin gets 403 before any upgrade;
/// a listed origin, or a client that sends no `Origin` (not a browser), is served.
#[tokio::test]
async fn browsers_from_origins_not_allowed_are_refused_with_403() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = spawn_with("allowed_origins = [\"https://app.example.com\", \"http://localhost:*\"]").await;
    let from = |origin: &str| {
        let mut request = app.url().into_client_request().expect("valid URL");
        request.headers_mut().insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
        request.headers_mut().insert("Origin", origin.parse().unwrap());
        request
    };
    let (status, body) = refused(tokio_tungstenite::connect_async(from("https://evil.example")).await);
    assert_eq!(status, 403);
    assert!(body.contains("https://evil.example") && body.contains("allowed_origins"), "{body}");
    for allowed in ["https://app.example.com", "http://localhost:5173"] {
        let (mut ws, _) = tokio_tungstenite::connect_async(from(allowed)).await.expect("upgrade accepted");
        join(&mut ws, "realm1").await;
    }
    let mut ws = connect_json(&app.url()).await;
    join(&mut ws, "realm1").await;
}
