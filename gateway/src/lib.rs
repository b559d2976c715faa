//! # The gateway: a WAMP router served over the network
//!
//! The routing itself lives in the `wamp` crate; this crate puts it on the network and runs it.
//!
//! ## Layout
//! - [`config`]: the settings file (TOML, `GATEWAY__SECTION__KEY` overrides), its types and validation.
//! - [`startup`]: [`Application`] — builds the router, binds every transport, starts the database
//!   bridges (`[[bridges]]`), runs until stopped,
//!   drains on shutdown.
//! - [`transport`]: network transports — [`transport::websocket`] and [`transport::rawsocket`],
//!   each with one task (one shared `select!` loop, [`transport::connection`]) per connection —
//!   and TLS ([`transport::tls`]) with client-certificate authentication ([`transport::tls_auth`]).
//! - [`auth`]: turns a transport's `auth` section into the router's [`wamp::router::Authenticator`].
//! - [`lifecycle`]: the shutdown signal and the count of live connections used to drain.
//! - [`telemetry`]: logs, OpenTelemetry traces and metrics (OTLP, `/metrics`), `/healthz`, `/readyz`
//!   and the readiness registry.
//!
//! `main.rs` only parses the command line.

pub mod auth;
pub mod config;
pub mod lifecycle;
pub mod startup;
pub mod telemetry;
pub mod transport;

pub use config::Settings;
pub use startup::{Address, Application, BridgeStates, Endpoint, StartupError};
