//! `[[transports]]`: one listener each, tagged by `type`.
//!
//! Each kind (`websocket`, `rawsocket`) is a variant of [`TransportConfig`] with its own settings
//! struct, so each keeps `deny_unknown_fields` on exactly its own keys. Both take an optional
//! `tls` table ([`TlsSettings`]).

use std::path::{Path, PathBuf};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use super::auth::AuthConfig;

/// One `[[transports]]` entry.
///
/// Deserialization is written by hand rather than with `#[serde(tag = "type")]`: serde's
/// internally tagged enums buffer their content and lose the `config` crate's string-to-number
/// conversion, which `GATEWAY__…` environment overrides (always strings) depend on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TransportConfig {
    /// WAMP over WebSocket (`type = "websocket"`).
    WebSocket(WebSocketSettings),
    /// WAMP over RawSocket, on TCP or a Unix socket (`type = "rawsocket"`).
    RawSocket(RawSocketSettings),
}

/// The transport kinds `type` accepts.
pub const TRANSPORT_TYPES: &[&str] = &["websocket", "rawsocket"];

impl TransportConfig {
    /// The `type` value.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportConfig::WebSocket(_) => "websocket",
            TransportConfig::RawSocket(_) => "rawsocket",
        }
    }

    /// The `auth` section, if any.
    pub fn auth(&self) -> Option<&AuthConfig> {
        match self {
            TransportConfig::WebSocket(ws) => ws.auth.as_ref(),
            TransportConfig::RawSocket(rs) => rs.auth.as_ref(),
        }
    }

    /// The `tls` table, if any.
    pub fn tls(&self) -> Option<&TlsSettings> {
        match self {
            TransportConfig::WebSocket(ws) => ws.tls.as_ref(),
            TransportConfig::RawSocket(rs) => rs.tls.as_ref(),
        }
    }

    /// The `listen` address as written, or a rawsocket transport's `unix` path.
    pub fn listen(&self) -> &str {
        match self {
            TransportConfig::WebSocket(ws) => &ws.listen,
            TransportConfig::RawSocket(rs) => match rs.address() {
                RawSocketAddress::Tcp(listen) => listen,
                RawSocketAddress::Unix(path) => path.to_str().unwrap_or("<non-UTF-8 path>"),
            },
        }
    }

    /// Makes relative file paths (`tls` files, `unix`) relative to `base`, the configuration
    /// file's directory, rather than to whatever directory the gateway happens to start in.
    pub fn resolve_paths(&mut self, base: &Path) {
        let (tls, unix) = match self {
            TransportConfig::WebSocket(ws) => (ws.tls.as_mut(), None),
            TransportConfig::RawSocket(rs) => (rs.tls.as_mut(), rs.unix.as_mut()),
        };
        let files = tls.into_iter().flat_map(|t| [Some(&mut t.cert), Some(&mut t.key), t.client_ca.as_mut()]);
        for path in files.flatten().chain(unix) {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}

impl<'de> Deserialize<'de> for TransportConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = config::Value::deserialize(deserializer)?;
        let mut table = value.into_table().map_err(D::Error::custom)?;
        let kind = table
            .remove("type")
            .ok_or_else(|| D::Error::missing_field("type"))?
            .into_string()
            .map_err(D::Error::custom)?;
        let rest = config::Value::new(None, table);
        match kind.as_str() {
            "websocket" => rest.try_deserialize().map(TransportConfig::WebSocket).map_err(D::Error::custom),
            "rawsocket" => rest.try_deserialize().map(TransportConfig::RawSocket).map_err(D::Error::custom),
            other => Err(D::Error::unknown_variant(other, TRANSPORT_TYPES)),
        }
    }
}

/// Settings of a `type = "websocket"` transport. Every key has a default (see `config/gateway.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketSettings {
    /// `HOST:PORT` to bind; port 0 picks a free port (the real one is printed at startup).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The HTTP path of the WebSocket endpoint.
    #[serde(default = "default_path")]
    pub path: String,
    /// Serializers offered, by name (`json`, `msgpack`, `cbor`); the client's order of preference decides.
    #[serde(default = "default_serializers")]
    pub serializers: Vec<String>,
    /// Largest inbound message in bytes, continuation frames included.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// Capacity of each session's outbound queue, in messages; a session that lets it fill is closed.
    #[serde(default = "default_outbound_queue")]
    pub outbound_queue: usize,
    /// Milliseconds between keepalive pings; 0 disables them.
    #[serde(default = "default_ping_interval_ms")]
    pub ping_interval_ms: u64,
    /// Milliseconds a peer has to answer a ping (or to accept a write) before it is disconnected.
    #[serde(default = "default_pong_timeout_ms")]
    pub pong_timeout_ms: u64,
    /// Milliseconds to wait for the peer's GOODBYE (and close frame) after the router's own.
    #[serde(default = "default_close_grace_ms")]
    pub close_grace_ms: u64,
    /// Milliseconds a connection may stay open without a joined WAMP session (HELLO through
    /// WELCOME, authentication included); 0 disables the limit.
    #[serde(default = "default_join_timeout_ms")]
    pub join_timeout_ms: u64,
    /// Browser origins allowed to open the WebSocket (the `Origin` header, `*` matching any
    /// characters), as Crossbar's `allowed_origins`; a request without `Origin` (not a browser)
    /// is always allowed. Default `["*"]`.
    #[serde(default = "default_allowed_origins")]
    pub allowed_origins: Vec<String>,
    /// Serve `wss://` instead of `ws://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// Authentication methods; none at all means every join is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        WebSocketSettings {
            listen: default_listen(),
            path: default_path(),
            serializers: default_serializers(),
            max_message_size: default_max_message_size(),
            outbound_queue: default_outbound_queue(),
            ping_interval_ms: default_ping_interval_ms(),
            pong_timeout_ms: default_pong_timeout_ms(),
            close_grace_ms: default_close_grace_ms(),
            join_timeout_ms: default_join_timeout_ms(),
            allowed_origins: default_allowed_origins(),
            tls: None,
            auth: None,
        }
    }
}

/// Settings of a `type = "rawsocket"` transport: `listen` (TCP) or `unix` (a socket path), not
/// both; neither means `listen = "127.0.0.1:8081"`. The other keys mean what they mean for
/// websocket, except that keepalive pings are off by default (see `config/gateway.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSocketSettings {
    /// `HOST:PORT` to bind; port 0 picks a free port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// A Unix socket path to bind instead of a TCP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unix: Option<PathBuf>,
    /// Serializers served, by name; the client asks for exactly one in its handshake.
    #[serde(default = "default_serializers")]
    pub serializers: Vec<String>,
    /// Largest inbound message in bytes (512 to 16777216); announced in the handshake as the
    /// largest power of two not above it.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// Capacity of each session's outbound queue, in messages.
    #[serde(default = "default_outbound_queue")]
    pub outbound_queue: usize,
    /// Milliseconds between keepalive PINGs; 0 (the default) disables them.
    #[serde(default)]
    pub ping_interval_ms: u64,
    /// Milliseconds a peer has to answer a PING, to accept a write, or to finish its handshakes.
    #[serde(default = "default_pong_timeout_ms")]
    pub pong_timeout_ms: u64,
    /// Milliseconds to wait for the peer's GOODBYE after the router's own.
    #[serde(default = "default_close_grace_ms")]
    pub close_grace_ms: u64,
    /// As for websocket: how long a connection may stay without a joined session; 0: no limit.
    #[serde(default = "default_join_timeout_ms")]
    pub join_timeout_ms: u64,
    /// Most connections open at once on this transport; 0 means no limit. Beyond it, handshakes
    /// are answered with error 4 (maximum connection count reached).
    #[serde(default)]
    pub max_connections: usize,
    /// Serve RawSocket over TLS (`tcps://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// Authentication methods; none at all means every join is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
}

/// Where a rawsocket transport listens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawSocketAddress<'a> {
    Tcp(&'a str),
    Unix(&'a Path),
}

/// The TCP address a rawsocket transport binds when neither `listen` nor `unix` is given.
pub const DEFAULT_RAWSOCKET_LISTEN: &str = "127.0.0.1:8081";

impl RawSocketSettings {
    /// Where to listen: `unix` if given, else `listen`, else [`DEFAULT_RAWSOCKET_LISTEN`].
    /// (Validation refuses both at once.)
    pub fn address(&self) -> RawSocketAddress<'_> {
        match (&self.unix, &self.listen) {
            (Some(path), _) => RawSocketAddress::Unix(path),
            (None, Some(listen)) => RawSocketAddress::Tcp(listen),
            (None, None) => RawSocketAddress::Tcp(DEFAULT_RAWSOCKET_LISTEN),
        }
    }
}

impl Default for RawSocketSettings {
    fn default() -> Self {
        RawSocketSettings {
            listen: None,
            unix: None,
            serializers: default_serializers(),
            max_message_size: default_max_message_size(),
            outbound_queue: default_outbound_queue(),
            ping_interval_ms: 0,
            pong_timeout_ms: default_pong_timeout_ms(),
            close_grace_ms: default_close_grace_ms(),
            join_timeout_ms: default_join_timeout_ms(),
            max_connections: 0,
            tls: None,
            auth: None,
        }
    }
}

/// `tls = { cert, key, client_ca }`: serve the transport over TLS (rustls).
///
/// Relative paths are relative to the configuration file's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM). When given, every client must present a certificate issued by one
    /// of them; its subject CN is then available to `[transports.auth.tls]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

fn default_path() -> String {
    "/ws".into()
}

fn default_serializers() -> Vec<String> {
    wamp::Serializer::ALL.iter().map(|s| s.name().to_owned()).collect()
}

fn default_max_message_size() -> usize {
    16 * 1024 * 1024
}

fn default_outbound_queue() -> usize {
    1024
}

fn default_ping_interval_ms() -> u64 {
    30_000
}

fn default_pong_timeout_ms() -> u64 {
    10_000
}

fn default_close_grace_ms() -> u64 {
    2_000
}

fn default_allowed_origins() -> Vec<String> {
    vec!["*".into()]
}

/// Long enough for a dynamic authenticator (which may take 10 s) and a slow client.
fn default_join_timeout_ms() -> u64 {
    30_000
}
