//! Network transports: each puts WAMP sessions on a kind of connection.
//!
//! A transport owns the socket and the framing; everything WAMP happens in the router's
//! [`Session`](wamp::router::Session), which the transport feeds decoded messages and whose
//! [`Outbox`](wamp::router::Outbox) it writes out. Both transports drive their sessions with the
//! same loop ([`connection`]) over their own [`Wire`](connection::Wire).
//!
//! - [`websocket`]: WAMP over WebSocket (actix-web).
//! - [`rawsocket`]: WAMP over RawSocket (tokio), on TCP or Unix sockets.
//! - [`tls`]: TLS for either, with optional client certificates; [`tls_auth`] authenticates
//!   sessions by the certificate's CN.

pub mod connection;
pub mod rawsocket;
pub mod tls;
pub mod tls_auth;
pub mod websocket;
