//! WAMP over RawSocket (plain tokio), on TCP or a Unix socket, optionally over TLS.
//!
//! - [`handshake`]: the 4-octet opening handshake (pure functions).
//! - [`frame`]: the length-prefixed frames that follow it (a `tokio-util` codec).
//! - [`wire`]: one connection as a [`Wire`](crate::transport::connection::Wire) for the shared
//!   per-connection loop, which drives the router session exactly as for WebSocket.
//! - [`server`]: the listener's accept loop, and each connection's TLS and RawSocket handshakes.

pub mod frame;
pub mod handshake;
pub mod server;
pub mod wire;

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use wamp::router::{Authenticator, Router};
use wamp::Serializer;

use crate::config::RawSocketSettings;
use crate::lifecycle::Lifecycle;
use crate::telemetry::Telemetry;
use crate::transport::connection::Timing;

pub use server::{bind_tcp, bind_unix, Bound, Control, Server};

/// A rawsocket transport's settings in the form connections use (validated beforehand).
#[derive(Debug, Clone)]
pub struct Options {
    pub serializers: Vec<Serializer>,
    /// The largest inbound message; frames above it fail the connection.
    pub max_message_size: usize,
    /// The length exponent announced in the handshake (never above `max_message_size`).
    pub exponent: u8,
    pub outbound_queue: usize,
    pub timing: Timing,
    /// 0: no limit.
    pub max_connections: usize,
}

impl Options {
    pub fn from_settings(rs: &RawSocketSettings) -> Options {
        Options {
            serializers: rs.serializers.iter().filter_map(|s| Serializer::from_name(s)).collect(),
            max_message_size: rs.max_message_size,
            exponent: handshake::exponent_for(rs.max_message_size),
            outbound_queue: rs.outbound_queue,
            timing: Timing::from_millis(rs.ping_interval_ms, rs.pong_timeout_ms, rs.close_grace_ms, rs.join_timeout_ms),
            max_connections: rs.max_connections,
        }
    }
}

/// What every connection of one transport shares.
pub struct Endpoint {
    pub options: Options,
    pub router: Arc<Router>,
    pub authenticator: Arc<dyn Authenticator>,
    pub lifecycle: Lifecycle,
    /// `Some` to serve RawSocket over TLS.
    pub tls: Option<TlsAcceptor>,
    /// One permit per open connection when `max_connections` is set.
    pub slots: Option<Arc<Semaphore>>,
    /// Metrics and session spans.
    pub telemetry: Telemetry,
}

impl Endpoint {
    pub fn new(
        options: Options,
        router: Arc<Router>,
        authenticator: Arc<dyn Authenticator>,
        lifecycle: Lifecycle,
        tls: Option<TlsAcceptor>,
        telemetry: Telemetry,
    ) -> Endpoint {
        let slots = (options.max_connections > 0).then(|| Arc::new(Semaphore::new(options.max_connections)));
        Endpoint { options, router, authenticator, lifecycle, tls, slots, telemetry }
    }
}
