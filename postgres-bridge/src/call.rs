//! Running one call: a pooled connection, one transaction, identity settings, the statement
//! (streamed from a portal when the caller takes progressive results), commit or rollback.

use std::sync::Arc;

use bridge::args::BoundCall;
use bridge::cancel::{CancelSlot, Canceler};
use bridge::results::Rows;
use bridge::{AsyncCall, CallContext, CallError, Database, RowSink};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{CancelToken, GenericClient, NoTls, Statement};

use crate::decode::{supported, Cell};
use crate::error::{classify, pool_failure};
use crate::async_pool::AsyncPool;
use crate::pool::{PgConn, PgPool};
use crate::sql::{call_sql, cast_columns, context_call_sql, context_sql, quote_ident, to_text};

/// Runs calls on pooled connections: one statement outside a cursor on the async path
/// ([`AsyncPool`], see [`context_call_sql`]), cursors and role switches on a worker thread in an
/// explicit transaction ([`PgPool`]).
pub struct PgDatabase {
    pool: PgPool,
    async_pool: Arc<AsyncPool>,
    set_role: bool,
}

impl PgDatabase {
    pub fn new(pool: PgPool, async_pool: Arc<AsyncPool>, set_role: bool) -> Self {
        PgDatabase { pool, async_pool, set_role }
    }

    /// A pooled connection that answers: one idle for a while is pinged first, and a dead one is
    /// dropped (the pool sees it closed) and the next one tried.
    fn connection(&self) -> Result<r2d2::PooledConnection<crate::pool::PgManager>, CallError> {
        for _ in 0..=self.pool.max_size() {
            let mut conn = self.pool.get().map_err(pool_failure)?;
            if conn.alive_after_idle() {
                return Ok(conn);
            }
        }
        Err(CallError::Internal("no database connection: every pooled connection was dead".into()))
    }
}

impl Drop for PgDatabase {
    /// Closing a `postgres` client blocks on its own runtime, which panics on an async runtime's
    /// thread, where the bridge may let go of the pool; the last handle is dropped on a thread of its own.
    fn drop(&mut self) {
        let pool = self.pool.clone();
        let _ = std::thread::Builder::new().name("pg-pool-close".into()).spawn(move || drop(pool));
    }
}

/// Cancels through PostgreSQL's cancel protocol (a separate connection to the server).
struct PgCanceler(CancelToken);

impl Canceler for PgCanceler {
    fn cancel(&self) -> Result<(), String> {
        if tokio::runtime::Handle::try_current().is_ok() {
            // The blocking driver's cancel starts a runtime of its own, which must not happen on
            // a runtime's thread (the bridge's shutdown cancels from one): send it from a thread.
            let token = self.0.clone();
            std::thread::spawn(move || {
                if let Err(e) = token.cancel_query(NoTls) {
                    tracing::warn!(cause = %e, "cancel request failed");
                }
            });
            return Ok(());
        }
        self.0.cancel_query(NoTls).map_err(|e| e.to_string())
    }
}

/// The async driver's cancel request, sent from the runtime (or a thread of its own outside one).
struct AsyncCanceler(tokio_postgres::CancelToken);

impl Canceler for AsyncCanceler {
    fn cancel(&self) -> Result<(), String> {
        let token = self.0.clone();
        let send = async move {
            if let Err(e) = token.cancel_query(tokio_postgres::NoTls).await {
                tracing::warn!(cause = %e, "cancel request failed");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(send);
            }
            Err(_) => {
                std::thread::spawn(move || {
                    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        Ok(rt) => rt.block_on(send),
                        Err(e) => tracing::warn!(cause = %e, "cancel request not sent"),
                    }
                });
            }
        }
        Ok(())
    }
}

impl Database for PgDatabase {
    fn system(&self) -> &'static str {
        "postgresql"
    }

    /// Every function is called through `select` (see [`call_sql`]).
    fn operation(&self, _call: &BoundCall) -> &'static str {
        "SELECT"
    }

    /// A call outside a cursor and without `set_role`: one statement on the async path.
    fn execute_async(&self, call: &BoundCall, ctx: &CallContext, cancel: &Arc<CancelSlot>) -> Option<AsyncCall> {
        let streaming = ctx.stream_batch.is_some() && call.procedure.returns.is_set();
        if streaming || self.set_role {
            return None;
        }
        let (pool, call, cancel) = (self.async_pool.clone(), call.clone(), cancel.clone());
        let context = context_values(ctx);
        Some(Box::pin(async move {
            let mut lease = pool.get().await.map_err(|e| CallError::Internal(format!("no database connection: {e}")))?;
            let conn = lease.conn();
            let _armed = cancel.arm(Box::new(AsyncCanceler(conn.client.cancel_token())));
            let sql = context_call_sql(&call, call.procedure.read_only());
            let texts: Vec<Option<String>> = call.args.iter().map(|a| to_text(&a.value)).collect();
            let mut params: Vec<&(dyn ToSql + Sync)> = context.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            params.extend(texts.iter().map(|t| t as &(dyn ToSql + Sync)));
            let mut retried = false;
            loop {
                if cancel.is_canceled() {
                    return Err(CallError::Canceled);
                }
                let outcome = async {
                    let stmt = match conn.statements.get(&sql) {
                        Some(stmt) => stmt,
                        None => {
                            let stmt = prepare_async(&conn.client, &sql).await.map_err(db)?;
                            conn.statements.keep(&sql, stmt.clone());
                            stmt
                        }
                    };
                    let rows = conn.client.query(&stmt, &params).await.map_err(db)?;
                    rows_of(&call, &stmt, rows)
                }
                .await;
                match outcome {
                    Err(Stale) if !retried => {
                        // See `execute`: refused before it ran, so running it again is safe.
                        conn.statements.clear();
                        retried = true;
                    }
                    Err(Stale) => return Err(CallError::Internal("a prepared statement went stale twice".into())),
                    Err(Failed(e)) => return Err(e),
                    Ok(rows) => return Ok(rows),
                }
            }
        }))
    }

    fn execute(&self, call: &BoundCall, ctx: &CallContext, cancel: &CancelSlot, sink: &mut dyn RowSink) -> Result<(), CallError> {
        let mut conn = self.connection()?;
        let armed = cancel.arm(Box::new(PgCanceler(conn.client.cancel_token())));
        let mut result = self.attempt(&mut conn, call, ctx, cancel, sink);
        if let Err(Stale) = result {
            // A cached statement outlived its function's result type; PostgreSQL refused it
            // before running anything, so preparing afresh and running once more is safe.
            conn.statements.clear();
            result = self.attempt(&mut conn, call, ctx, cancel, sink);
        }
        drop(armed);
        conn.touch();
        result.map_err(|e| match e {
            Stale => CallError::Internal("a prepared statement went stale twice".into()),
            Failed(e) => e,
        })
    }
}

/// How one attempt at a call ended badly.
enum Failure {
    /// PostgreSQL refused a cached statement because the function's result type changed.
    Stale,
    Failed(CallError),
}
use Failure::{Failed, Stale};

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failed(e)
    }
}

fn db(e: postgres::Error) -> Failure {
    let stale = e.as_db_error().is_some_and(|d| {
        *d.code() == SqlState::FEATURE_NOT_SUPPORTED && d.message().starts_with("cached plan must not change result type")
    });
    if stale {
        Stale
    } else {
        Failed(classify(&e))
    }
}

/// The identity settings' values: session, authid, authrole, traceparent, tracestate.
fn context_values(ctx: &CallContext) -> [String; 5] {
    let caller = &ctx.caller;
    [
        caller.session.map(|s| s.to_string()).unwrap_or_default(),
        caller.authid.clone().unwrap_or_default(),
        caller.authrole.clone().unwrap_or_default(),
        ctx.traceparent().unwrap_or_default().to_owned(),
        ctx.trace.as_ref().and_then(|t| t.tracestate.as_deref()).unwrap_or_default().to_owned(),
    ]
}

impl PgDatabase {
    /// A call on a worker thread: one that reads a cursor or switches role (every other call
    /// takes the async path, see [`Database::execute_async`]).
    fn attempt(&self, conn: &mut PgConn, call: &BoundCall, ctx: &CallContext, cancel: &CancelSlot, sink: &mut dyn RowSink) -> Result<(), Failure> {
        let streaming = ctx.stream_batch.is_some() && call.procedure.returns.is_set();
        let context = context_values(ctx);
        let texts: Vec<Option<String>> = call.args.iter().map(|a| to_text(&a.value)).collect();
        // In an explicit transaction: the role is set before the function's permission is
        // checked, and a cursor needs one.
        let context_stmt = prepared(conn, &context_sql())?;
        let sql = call_sql(call);
        let stmt = prepared(conn, &sql)?;
        let mut tx = conn.client.build_transaction().read_only(call.procedure.read_only()).start().map_err(db)?;
        let context_params: Vec<&(dyn ToSql + Sync)> = context.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
        tx.execute(&context_stmt, &context_params).map_err(db)?;
        if self.set_role {
            let Some(role) = ctx.caller.authrole.as_deref().filter(|r| !r.is_empty()) else {
                return Err(Failed(CallError::NotAuthorized("set_role is on but the router did not disclose the caller's authrole".into())));
            };
            tx.batch_execute(&format!("set local role {}", quote_ident(role))).map_err(db)?;
        }
        let params: Vec<&(dyn ToSql + Sync)> = texts.iter().map(|t| t as &(dyn ToSql + Sync)).collect();
        if cancel.is_canceled() {
            return Err(Failed(CallError::Canceled));
        }
        match ctx.stream_batch {
            Some(batch) if streaming => {
                let columns = column_names(&stmt);
                let portal = tx.bind(&stmt, &params).map_err(db)?;
                loop {
                    if cancel.is_canceled() {
                        return Err(Failed(CallError::Canceled));
                    }
                    let rows = tx.query_portal(&portal, batch as i32).map_err(db)?;
                    let n = rows.len();
                    let decoded = decode_rows(&stmt, rows)?;
                    sink.push(Rows { columns: columns.clone(), rows: decoded }).map_err(|_| Failed(CallError::Canceled))?;
                    if n < batch {
                        break;
                    }
                }
            }
            _ => {
                let rows = tx.query(&stmt, &params).map_err(db)?;
                push_all(call, &stmt, rows, sink)?;
            }
        }
        // On error the transaction is dropped before this, which rolls it back.
        tx.commit().map_err(db)
    }
}

fn column_names(stmt: &Statement) -> Arc<[String]> {
    stmt.columns().iter().map(|c| c.name().to_owned()).collect::<Vec<_>>().into()
}

fn decode_rows(stmt: &Statement, rows: Vec<postgres::Row>) -> Result<Vec<Vec<wamp::Value>>, CallError> {
    let width = stmt.columns().len();
    rows.into_iter()
        .map(|row| {
            (0..width)
                .map(|i| row.try_get::<_, Cell>(i).map(|c| c.0).map_err(|e| CallError::Internal(format!("decoding column {i}: {e}"))))
                .collect()
        })
        .collect()
}

/// Every row of a non-streamed call (none for a void function).
fn rows_of(call: &BoundCall, stmt: &Statement, rows: Vec<postgres::Row>) -> Result<Rows, Failure> {
    if call.procedure.returns == bridge::Returns::Void {
        return Ok(Rows::default());
    }
    Ok(Rows { columns: column_names(stmt), rows: decode_rows(stmt, rows)? })
}

/// [`prepare`] on the async driver.
async fn prepare_async(client: &tokio_postgres::Client, sql: &str) -> Result<Statement, postgres::Error> {
    let stmt = client.prepare(sql).await?;
    if stmt.columns().iter().all(|c| supported(c.type_())) {
        return Ok(stmt);
    }
    let cols: Vec<(String, bool)> = stmt.columns().iter().map(|c| (c.name().to_owned(), !supported(c.type_()))).collect();
    client.prepare(&cast_columns(sql, &cols)).await
}

/// Every row of a non-streamed call in one batch (none for a void function).
fn push_all(call: &BoundCall, stmt: &Statement, rows: Vec<postgres::Row>, sink: &mut dyn RowSink) -> Result<(), Failure> {
    if call.procedure.returns == bridge::Returns::Void {
        return Ok(());
    }
    sink.push(rows_of(call, stmt, rows)?).map_err(|_| Failed(CallError::Canceled))
}

/// The connection's statement for `sql`, prepared on first use (see [`prepare`]).
fn prepared(conn: &mut PgConn, sql: &str) -> Result<Statement, Failure> {
    if let Some(stmt) = conn.statements.get(sql) {
        return Ok(stmt);
    }
    let stmt = prepare(&mut conn.client, sql).map_err(db)?;
    conn.statements.keep(sql, stmt.clone());
    Ok(stmt)
}

/// Prepares `sql`; if a result column has a type the decoder does not know, re-prepares with
/// that column cast to text.
fn prepare(client: &mut impl GenericClient, sql: &str) -> Result<Statement, postgres::Error> {
    let stmt = client.prepare(sql)?;
    if stmt.columns().iter().all(|c| supported(c.type_())) {
        return Ok(stmt);
    }
    let cols: Vec<(String, bool)> = stmt.columns().iter().map(|c| (c.name().to_owned(), !supported(c.type_()))).collect();
    client.prepare(&cast_columns(sql, &cols))
}
