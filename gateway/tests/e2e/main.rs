//! End-to-end tests: the real gateway on port 0 (in-process, or the built binary for the CLI),
//! driven by independent raw clients (WebSocket, RawSocket, TLS). One test binary, so one link step.

mod cli;
mod auth;
mod config;
mod handshake;
mod helpers;
mod lifecycle;
mod limits;
mod protocol;
mod rawsocket;
mod router;
mod tls;
mod telemetry;
