//! TLS: wss and RawSocket over TLS with a throwaway CA, server and client certificate made by
//! each test (rcgen), and client-certificate authentication (`auth.tls`).

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use wamp::Serializer;

use crate::helpers::*;
use crate::rawsocket::{assert_abort, detail, RawClient};

/// The CN of the client certificate.
const CLIENT_CN: &str = "sensor-7";

/// PEM files in a temporary directory: a CA, a server certificate for localhost/127.0.0.1 and a
/// client certificate (CN [`CLIENT_CN`]), both issued by the CA.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: String,
}

impl Pki {
    fn new() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "gateway test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");

        let server_key = KeyPair::generate().expect("server key");
        let mut server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("server params");
        server.distinguished_name.push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = server.signed_by(&server_key, &ca).expect("server certificate");

        let client_key = KeyPair::generate().expect("client key");
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("client params");
        client.distinguished_name.push(DnType::CommonName, CLIENT_CN);
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = client.signed_by(&client_key, &ca).expect("client certificate");

        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("written");
        std::fs::write(dir.path().join("server.pem"), server.pem()).expect("written");
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).expect("written");
        Pki {
            dir,
            ca: ca.der().clone(),
            client_chain: vec![client.der().clone()],
            client_key: client_key.serialize_pem(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The transport's `tls` table; `client_ca` to require client certificates.
    fn tls(&self, client_ca: bool) -> String {
        let ca = if client_ca { format!(", client_ca = \"{}\"", self.path("ca.pem").display()) } else { String::new() };
        format!(
            "tls = {{ cert = \"{}\", key = \"{}\"{ca} }}",
            self.path("server.pem").display(),
            self.path("server.key").display()
        )
    }

    /// A client trusting the test CA, presenting the client certificate when `with_cert`.
    fn connector(&self, with_cert: bool) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).expect("the CA is a valid root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots);
        let config = if with_cert {
            let key = PrivateKeyDer::from_pem_slice(self.client_key.as_bytes()).expect("the client key");
            builder.with_client_auth_cert(self.client_chain.clone(), key).expect("client certificate")
        } else {
            builder.with_no_client_auth()
        };
        TlsConnector::from(Arc::new(config))
    }

    async fn connect(&self, app: &TestApp, transport: usize, with_cert: bool) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(app.addresses[transport]).await?;
        let name = ServerName::try_from("localhost").expect("a DNS name");
        tokio::time::timeout(PATIENCE, self.connector(with_cert).connect(name, tcp)).await.expect("TLS in time")
    }
}

fn anonymous() -> &'static str {
    "[transports.auth.anonymous]\nrole = \"anonymous\"\n"
}

/// A role for certificate holders in `realm1`.
const DEVICE_ROLE: &str = r#"
[[realms.roles]]
name = "device"
permissions = [{ uri = "", match = "prefix", call = true, register = true, publish = true, subscribe = true }]
"#;

/// `auth.tls` with role `device`.
fn certificate_auth() -> &'static str {
    "[transports.auth.tls]\nrole = \"device\"\n"
}

fn config(kind: &str, tls: &str, auth: &str) -> String {
    format!("[[transports]]\ntype = \"{kind}\"\nlisten = \"127.0.0.1:0\"\n{tls}\n{auth}{REALM}{DEVICE_ROLE}")
}

type Wss = WebSocketStream<TlsStream<TcpStream>>;

/// The WebSocket upgrade through `tls`, offering `wamp.2.json`.
async fn upgrade(app: &TestApp, tls: TlsStream<TcpStream>) -> Result<Wss, tungstenite::Error> {
    let url = format!("wss://localhost:{}/ws", app.addresses[0].port());
    let mut request = url.into_client_request().expect("a valid URL");
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("wamp.2.json"));
    let (ws, response) = tokio::time::timeout(PATIENCE, tokio_tungstenite::client_async(request, tls))
        .await
        .expect("upgrade in time")?;
    assert_eq!(response.headers().get("Sec-WebSocket-Protocol").expect("echoed"), "wamp.2.json");
    Ok(ws)
}

async fn wss(app: &TestApp, tls: TlsStream<TcpStream>) -> Wss {
    upgrade(app, tls).await.expect("upgrade accepted")
}

async fn wss_send(ws: &mut Wss, value: Value) {
    ws.send(Message::text(value.to_string())).await.expect("sent");
}

async fn wss_recv(ws: &mut Wss) -> Value {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("a message in time") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).expect("JSON"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// HELLO with `authmethods` → the answer.
async fn wss_hello(ws: &mut Wss, authmethods: &[&str]) -> Value {
    wss_send(ws, json!([1, "realm1", {"roles": {"caller": {}}, "authmethods": authmethods}])).await;
    wss_recv(ws).await
}

#[tokio::test]
async fn wss_serves_wamp_to_a_client_trusting_the_ca() {
    let pki = Pki::new();
    let app = spawn_app(&config("websocket", &pki.tls(false), anonymous())).await;
    assert_eq!(app.endpoints[0].to_string(), format!("listening on wss://{}/ws (websocket)", app.addresses[0]));
    let mut ws = wss(&app, pki.connect(&app, 0, false).await.expect("TLS handshake")).await;
    let welcome = wss_hello(&mut ws, &["anonymous"]).await;
    assert_eq!(welcome[0], 2, "{welcome}");
    assert_eq!(welcome[2]["authmethod"], "anonymous");

    // Plain WebSocket to a TLS port gets no upgrade.
    let plain = connect(&format!("ws://{}/ws", app.addresses[0]), &["wamp.2.json"]).await;
    assert!(plain.is_err(), "a plaintext WebSocket upgrade must fail on a TLS port");
}

#[tokio::test]
async fn rawsocket_over_tls() {
    let pki = Pki::new();
    let app = spawn_app(&config("rawsocket", &pki.tls(false), anonymous())).await;
    assert_eq!(app.endpoints[0].to_string(), format!("listening on tcps://{} (rawsocket)", app.addresses[0]));
    for serializer in Serializer::ALL {
        let tls = pki.connect(&app, 0, false).await.expect("TLS handshake");
        let mut client = RawClient::open(tls, serializer).await;
        let welcome = client.join("realm1").await;
        assert_eq!(detail(&welcome, "authrole"), "anonymous");
    }
    // A plain RawSocket handshake on the TLS port is not answered as RawSocket.
    let mut plain = TcpStream::connect(app.addresses[0]).await.expect("connects");
    plain.write_all(&[0x7F, 0xF1, 0, 0]).await.expect("sent");
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, plain.read_to_end(&mut reply)).await.expect("closed in time");
    assert!(!reply.starts_with(&[0x7F]), "a plaintext handshake must not be accepted: {reply:?}");
}

/// Whether the server refused the connection: the TLS handshake fails, or (TLS 1.3, where the
/// client finishes first) the first read fails or finds the end of the stream.
async fn refused(app: &TestApp, pki: &Pki) -> bool {
    let Ok(mut tls) = pki.connect(app, 0, false).await else { return true };
    let _ = tls.write_all(&[0x7F, 0xF1, 0, 0]).await;
    let mut reply = [0u8; 4];
    tokio::time::timeout(PATIENCE, tls.read_exact(&mut reply)).await.expect("an answer in time").is_err()
}

#[tokio::test]
async fn a_required_client_certificate_authenticates_rawsocket_sessions() {
    let pki = Pki::new();
    let app = spawn_app(&config("rawsocket", &pki.tls(true), certificate_auth())).await;
    assert!(refused(&app, &pki).await, "a client without a certificate is refused");

    let tls = pki.connect(&app, 0, true).await.expect("TLS handshake with a client certificate");
    let mut client = RawClient::open(tls, Serializer::Cbor).await;
    let welcome = client.join("realm1").await;
    assert_eq!(detail(&welcome, "authid"), CLIENT_CN);
    assert_eq!(detail(&welcome, "authmethod"), "tls");
    assert_eq!(detail(&welcome, "authrole"), "device");
    assert_eq!(detail(&welcome, "authprovider"), "static");

    // Offering only a method the transport does not have is refused, certificate or not.
    let tls = pki.connect(&app, 0, true).await.expect("TLS handshake");
    let mut client = RawClient::open(tls, Serializer::Json).await;
    let answer = client.hello("realm1", json!({"roles": {"caller": {}}, "authmethods": ["ticket"]})).await;
    assert_abort(&answer, "wamp.error.no_matching_auth_method");
}

#[tokio::test]
async fn a_required_client_certificate_authenticates_wss_sessions() {
    let pki = Pki::new();
    let app = spawn_app(&config("websocket", &pki.tls(true), &format!("{}{}", certificate_auth(), anonymous()))).await;
    let without_cert = match pki.connect(&app, 0, false).await {
        Err(_) => true,
        Ok(tls) => upgrade(&app, tls).await.is_err(),
    };
    assert!(without_cert, "a client without a certificate is refused");

    let mut ws = wss(&app, pki.connect(&app, 0, true).await.expect("TLS handshake")).await;
    let welcome = wss_hello(&mut ws, &["tls"]).await;
    assert_eq!(welcome[0], 2, "{welcome}");
    assert_eq!(welcome[2]["authid"], CLIENT_CN);
    assert_eq!(welcome[2]["authmethod"], "tls");
    assert_eq!(welcome[2]["authrole"], "device");

    // The same certificate holder may still choose anonymous when the transport allows it.
    let mut ws = wss(&app, pki.connect(&app, 0, true).await.expect("TLS handshake")).await;
    assert_eq!(wss_hello(&mut ws, &["anonymous"]).await[2]["authmethod"], "anonymous");
}

#[tokio::test]
async fn unreadable_tls_files_stop_the_start_naming_the_key() {
    let pki = Pki::new();
    std::fs::write(pki.path("server.key"), "not a key").expect("written");
    let settings =
        gateway::Settings::from_toml_str(&config("rawsocket", &pki.tls(false), anonymous())).expect("parses");
    let err = gateway::Application::build(settings).err().expect("the start fails");
    assert!(err.to_string().starts_with("transports[0].tls: "), "{err}");
    assert!(err.to_string().contains("server.key"), "{err}");
}
