//! What a database adapter implements: three traits, all blocking, all called off the async runtime.
//!
//! - [`Database`]: run one bound call in its own transaction on a pooled connection, pushing rows
//!   into a [`RowSink`] (all at once, or in batches from a cursor when the caller streams), with
//!   the caller's identity set and a [`CancelSlot`] armed while statements run.
//! - [`CatalogSource`]: read the exposed procedures, and wait for a hint that they changed.
//! - [`EventQueue`]: the transactional outbox, consumed in commit order by a named consumer.
//!
//! The shapes follow what both PostgreSQL and Oracle can do: named parameter notation
//! (`f(a => $1)` / `f(a => :a)`), OUT parameters returned as one record, set results read through
//! a cursor (a portal / a `REF CURSOR`), and a queue whose entries appear on commit (a table plus
//! a settled-transaction horizon / Advanced Queuing with `ON_COMMIT` visibility).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use wamp::router::observe::TraceContext;
use wamp::{Dict, List};

use crate::args::BoundCall;
use crate::cancel::CancelSlot;
use crate::catalog::Procedure;
use crate::error::CallError;
use crate::results::Rows;

/// Who calls, from INVOCATION details (present when the router discloses the caller).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Caller {
    pub session: Option<u64>,
    pub authid: Option<String>,
    pub authrole: Option<String>,
}

/// How one call runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CallContext {
    pub caller: Caller,
    /// `Some(n)`: the caller takes progressive results; read set results from a cursor `n` rows at a time.
    pub stream_batch: Option<usize>,
    /// The W3C trace context the router forwarded in the INVOCATION (`traceparent`, `tracestate`):
    /// the router's call span. Adapters hand it to the database (a transaction-local setting,
    /// CLIENT_INFO) so database-side work can be joined to the trace.
    pub trace: Option<TraceContext>,
}

impl CallContext {
    /// The forwarded `traceparent`, if any.
    pub fn traceparent(&self) -> Option<&str> {
        self.trace.as_ref().and_then(|t| t.traceparent.as_deref())
    }
}

/// The caller went away (or canceled) while rows were being pushed: stop fetching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Where an adapter puts result rows.
pub trait RowSink {
    /// Takes the next batch (every row of a non-streamed call comes in one batch).
    fn push(&mut self, rows: Rows) -> Result<(), Stopped>;
}

/// A call running as non-blocking I/O on the async runtime: every row, or the failure.
pub type AsyncCall = Pin<Box<dyn Future<Output = Result<Rows, CallError>> + Send + 'static>>;

/// Runs calls. Shared by the executor's threads.
pub trait Database: Send + Sync + 'static {
    /// The OpenTelemetry `db.system` of this database (`postgresql`, `oracle`).
    fn system(&self) -> &'static str {
        "other_sql"
    }

    /// The OpenTelemetry `db.operation` of `call` (`SELECT`, `CALL`, ...).
    fn operation(&self, _call: &BoundCall) -> &'static str {
        "CALL"
    }

    /// Runs `call` in one transaction (read-only for stable/immutable procedures), committed on
    /// success and rolled back on error, with the caller's identity visible to the procedure.
    /// Statements run with `cancel` armed; a canceled statement returns [`CallError::Canceled`]
    /// and leaves the connection healthy for the pool.
    fn execute(&self, call: &BoundCall, ctx: &CallContext, cancel: &CancelSlot, sink: &mut dyn RowSink) -> Result<(), CallError>;

    /// `call` as a future on the async runtime, for adapters whose driver has non-blocking I/O
    /// (PostgreSQL, for calls outside a cursor); `None` runs it on a worker thread through
    /// [`Database::execute`]. The same contract holds: one transaction, identity set, and when
    /// `cancel` fires the statement is canceled and the future ends with [`CallError::Canceled`].
    /// It must never block its thread.
    fn execute_async(&self, _call: &BoundCall, _ctx: &CallContext, _cancel: &Arc<CancelSlot>) -> Option<AsyncCall> {
        None
    }
}

/// Reads the exposed procedures.
pub trait CatalogSource: Send + 'static {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Every procedure in the exposed schemas (the bridge maps them to URIs).
    fn load(&mut self) -> Result<Vec<Procedure>, Self::Error>;

    /// Blocks up to `timeout` for a hint that the catalog changed; `Ok(true)` if one came.
    fn wait_for_change(&mut self, timeout: Duration) -> Result<bool, Self::Error>;
}

/// One queued event.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedEvent<P> {
    /// Unique and stable per database: subscribers deduplicate on it (`_event_id` in EVENT details).
    pub id: i64,
    /// Where the consumer stands once this event is delivered.
    pub position: P,
    pub topic: String,
    pub args: List,
    pub kwargs: Dict,
    /// PUBLISH options (`exclude`, `eligible`, `retain`, ...).
    pub options: Dict,
    /// When the event was written (≈ its transaction's commit), for the pump lag metric; `None`
    /// when the queue does not say.
    pub created: Option<std::time::SystemTime>,
}

/// The transactional outbox, as seen by one named consumer.
pub trait EventQueue: Send + 'static {
    type Position: Clone + Send + std::fmt::Debug + 'static;
    type Error: std::error::Error + Send + Sync + 'static;

    /// Up to `limit` events after the consumer's stored position, in commit order, only from
    /// transactions that can no longer be overtaken by an earlier one.
    fn fetch(&mut self, limit: usize) -> Result<Vec<QueuedEvent<Self::Position>>, Self::Error>;

    /// Stores the consumer's position (never moves it backwards).
    fn ack(&mut self, upto: &Self::Position) -> Result<(), Self::Error>;

    /// Deletes events every registered consumer has, and events older than `retention`.
    fn purge(&mut self, retention: Duration) -> Result<u64, Self::Error>;

    /// Blocks up to `timeout` for a wake-up (a commit that published); `Ok(true)` if one came.
    fn wait(&mut self, timeout: Duration) -> Result<bool, Self::Error>;
}
