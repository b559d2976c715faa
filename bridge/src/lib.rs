//! # Database bridge core
//!
//! What every database adapter shares: stored procedures become WAMP procedures, events published
//! inside the database reach WAMP subscribers on commit. A bridge attaches to the router as two
//! ordinary sessions over the in-process [`Link`](wamp::router::link::Link); the adapter (e.g.
//! `postgres-bridge`, later Oracle) only implements the blocking traits in [`adapter`].
//!
//! ## Layout
//! - [`catalog`]: the model of exposed procedures (typed, named, defaulted, IN/OUT parameters,
//!   result shape) and their URIs.
//! - [`convert`]: WAMP values checked against parameter types ([`SqlValue`](convert::SqlValue)), JSON mapping.
//! - [`args`]: overload resolution and argument binding.
//! - [`results`]: rows to WAMP results.
//! - [`error`]: call errors and their WAMP ERROR form (the `"<uri>: <message>"` convention).
//! - [`adapter`]: the traits an adapter implements ([`Database`], [`CatalogSource`], [`EventQueue`]).
//! - [`cancel`]: routing an INTERRUPT to the running statement safely.
//! - [`executor`]: dedicated worker threads with a bounded queue.
//! - [`callee`]: the callee session (registrations, invocations, progressive results, interrupts).
//! - [`catalog_watch`]: re-reading the catalog on change.
//! - [`pump`]: the event pump (`try_execute_task() -> Outcome`).
//! - [`status`]: connected / reconnecting, for readiness (and the monitor's `set_ready`).
//! - [`monitoring`]: metrics and readiness through `wamp::monitor::BridgeMonitor`, database call spans.
//! - [`bridge`]: starting and stopping it all.

pub mod adapter;
pub mod args;
pub mod blocking;
pub mod bridge;
pub mod callee;
pub mod cancel;
pub mod catalog;
pub mod catalog_watch;
pub mod convert;
pub mod error;
pub mod executor;
pub mod monitoring;
pub mod pump;
pub mod results;
pub mod status;

pub use adapter::{AsyncCall, CallContext, Caller, CatalogSource, Database, EventQueue, QueuedEvent, RowSink, Stopped};
pub use bridge::{start, BridgeHandle, BridgeSpec, StartError};
pub use callee::CallOptions;
pub use catalog::{Catalog, Exposure, Param, ParamMode, Procedure, Returns, SqlType, Volatility};
pub use error::CallError;
pub use monitoring::Monitoring;
pub use pump::{EventPump, Outcome, PumpError, PumpOptions};
pub use status::{BridgeState, Status};

#[cfg(feature = "testing")]
pub mod testing;
