//! WAMP over WebSocket (actix-web + actix-ws).
//!
//! - [`negotiate`]: picks the serializer from `Sec-WebSocket-Protocol` (HTTP 400 when none fits).
//! - [`frames`]: reassembles fragmented messages under the size limit.
//! - [`wire`]: one connection as a [`Wire`](crate::transport::connection::Wire) for the shared
//!   per-connection loop.
//!
//! Each transport is its own actix `HttpServer` on its own listener, so settings stay per
//! transport; the application stops them all together. With `tls`, the server speaks `wss://`
//! and, when client certificates are required, hands each connection's verified CN to the session.

pub mod frames;
pub mod negotiate;
pub mod socket;
pub mod wire;

use std::any::Any;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Extensions;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tracing::{field, info_span, Instrument};
use wamp::router::{Authenticator, Router, TransportInfo};
use wamp::Serializer;

use crate::config::WebSocketSettings;
use crate::lifecycle::Lifecycle;
use crate::telemetry::{self, Telemetry};
use crate::transport::connection::{Connection, Timing};
use crate::transport::tls::{self, TlsServer};
use socket::SocketHandle;
use wire::WsWire;

/// A websocket transport's settings in the form the connection uses (validated beforehand).
#[derive(Debug, Clone)]
pub struct Options {
    pub path: String,
    pub serializers: Vec<Serializer>,
    pub max_message_size: usize,
    pub outbound_queue: usize,
    pub timing: Timing,
    /// `allowed_origins`, lower-cased (see [`negotiate::origin_allowed`]).
    pub allowed_origins: Vec<String>,
}

impl Options {
    pub fn from_settings(ws: &WebSocketSettings) -> Options {
        Options {
            path: ws.path.clone(),
            serializers: ws.serializers.iter().filter_map(|s| Serializer::from_name(s)).collect(),
            max_message_size: ws.max_message_size,
            outbound_queue: ws.outbound_queue,
            timing: Timing::from_millis(ws.ping_interval_ms, ws.pong_timeout_ms, ws.close_grace_ms, ws.join_timeout_ms),
            allowed_origins: ws.allowed_origins.iter().map(|o| o.to_ascii_lowercase()).collect(),
        }
    }
}

/// What every connection of one transport shares.
pub struct Endpoint {
    pub options: Options,
    pub router: Arc<Router>,
    pub authenticator: Arc<dyn Authenticator>,
    pub lifecycle: Lifecycle,
    /// Metrics, session spans, and the monitoring endpoints served beside the WebSocket path.
    pub telemetry: Telemetry,
}

/// The subject CN of the client certificate verified on this connection's TLS handshake.
#[derive(Debug, Clone)]
struct ClientCertCn(String);

/// An actix server for one transport on an already bound listener, over TLS when `tls` is given.
/// It starts when first polled.
pub fn server(
    listener: TcpListener,
    endpoint: Endpoint,
    tls: Option<&TlsServer>,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(endpoint);
    let path = data.options.path.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route(&path, web::get().to(upgrade))
            // Telemetry: /metrics, /healthz, /readyz (paths from `[telemetry]`).
            .configure(|cfg| telemetry::http::routes(cfg, &data.telemetry))
    })
        // Signals are the application's business: it drains sessions before stopping servers.
        .disable_signals()
        // WAMP messages are small and each is written when it is ready: Nagle's algorithm would
        // hold one back while the peer has not acknowledged the previous (actix leaves it on).
        .tcp_nodelay(true)
        .on_connect(|connection, data| {
            remember_client_cert(connection, data);
            SocketHandle::remember(connection, data);
        });
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls.config().as_ref().clone())?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

/// actix's on-connect hook: keeps the verified client certificate's CN with the connection.
fn remember_client_cert(connection: &dyn Any, data: &mut Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    let Some(stream) = connection.downcast_ref::<Tls>() else {
        return;
    };
    if let Some(cn) = tls::client_cert_cn(stream.get_ref().1) {
        data.insert(ClientCertCn(cn));
    }
}

/// The HTTP GET on the endpoint's path: negotiate, upgrade, spawn the connection task.
async fn upgrade(req: HttpRequest, body: web::Payload, endpoint: web::Data<Endpoint>) -> HttpResponse {
    if endpoint.lifecycle.is_shutting_down() {
        return HttpResponse::ServiceUnavailable().body("the router is shutting down\n");
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !negotiate::origin_allowed(&endpoint.options.allowed_origins, origin) {
            tracing::info!(origin, "WebSocket upgrade refused: origin not allowed");
            return HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body(format!("origin {origin:?} is not allowed on this endpoint (allowed_origins)\n"));
        }
    }
    let supported = &endpoint.options.serializers;
    let values = req.headers().get_all(header::SEC_WEBSOCKET_PROTOCOL).filter_map(|v| v.to_str().ok());
    let offered = negotiate::offered(values);
    let Some(serializer) = negotiate::choose(&offered, supported) else {
        return HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body(negotiate::refusal(&offered, supported));
    };
    let (mut response, ws, inbound) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(e) => return e.error_response(),
    };
    response.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(serializer.subprotocol()));

    let options = endpoint.options.clone();
    let peer = req.peer_addr().map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let transport = TransportInfo {
        kind: "websocket",
        peer: peer.clone(),
        serializer: Some(serializer),
        outbound_queue: options.outbound_queue,
        client_cert_cn: req.conn_data::<ClientCertCn>().map(|cn| cn.0.clone()),
    };
    let (session, outbox) = endpoint.router.open_session(transport, endpoint.authenticator.clone());
    let connection = Connection {
        wire: WsWire::new(ws, inbound, serializer, options.max_message_size, req.conn_data::<SocketHandle>().copied()),
        session,
        outbox,
        serializer,
        timing: options.timing,
        lifecycle: endpoint.lifecycle.clone(),
        telemetry: endpoint.telemetry.connection("websocket"),
        guard: endpoint.lifecycle.connection(),
    };
    let span = info_span!(
        "session",
        transport = "websocket",
        %peer,
        serializer = serializer.name(),
        session_id = field::Empty,
        realm = field::Empty,
        // Set from the session's OpenTelemetry span once joined (see telemetry::connection).
        trace_id = field::Empty,
        span_id = field::Empty,
    );
    actix_web::rt::spawn(connection.run().instrument(span));
    response
}
