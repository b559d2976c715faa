//! Running one call: a pooled connection, one transaction, identity settings, the statement
//! (streamed from a portal when the caller takes progressive results), commit or rollback.

use std::sync::Arc;

use bridge::args::BoundCall;
use bridge::cancel::{CancelSlot, Canceler};
use bridge::results::Rows;
use bridge::{CallContext, CallError, Database, RowSink};
use postgres::types::ToSql;
use postgres::{CancelToken, NoTls, Statement, Transaction};
use r2d2::Pool;
use r2d2_postgres::PostgresConnectionManager;

use crate::decode::{supported, Cell};
use crate::error::{classify, pool_failure};
use crate::sql::{call_sql, cast_columns, quote_ident, to_text};

/// The connection pool type.
pub type PgPool = Pool<PostgresConnectionManager<NoTls>>;

/// Runs calls on pooled connections.
pub struct PgDatabase {
    pool: PgPool,
    set_role: bool,
}

impl PgDatabase {
    pub fn new(pool: PgPool, set_role: bool) -> Self {
        PgDatabase { pool, set_role }
    }
}

/// Cancels through PostgreSQL's cancel protocol (a separate connection to the server).
struct PgCanceler(CancelToken);

impl Canceler for PgCanceler {
    fn cancel(&self) -> Result<(), String> {
        self.0.cancel_query(NoTls).map_err(|e| e.to_string())
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

    fn execute(&self, call: &BoundCall, ctx: &CallContext, cancel: &CancelSlot, sink: &mut dyn RowSink) -> Result<(), CallError> {
        let mut conn = self.pool.get().map_err(pool_failure)?;
        let armed = cancel.arm(Box::new(PgCanceler(conn.cancel_token())));
        let result = (|| {
            let mut tx = conn.build_transaction().read_only(call.procedure.read_only()).start().map_err(|e| classify(&e))?;
            run(&mut tx, call, ctx, self.set_role, cancel, sink)?;
            tx.commit().map_err(|e| classify(&e))
            // On error the transaction is dropped here, which rolls it back.
        })();
        drop(armed);
        result
    }
}

/// The caller's identity and trace context as transaction-local settings (all reset at commit/rollback).
const IDENTITY_SQL: &str = "select set_config('wamp.session', $1, true), set_config('wamp.authid', $2, true), \
     set_config('wamp.authrole', $3, true), set_config('wamp.traceparent', $4, true), set_config('wamp.tracestate', $5, true), \
     set_config('application_name', coalesce(nullif($4, ''), current_setting('application_name')), true)";

fn run(tx: &mut Transaction<'_>, call: &BoundCall, ctx: &CallContext, set_role: bool, cancel: &CancelSlot, sink: &mut dyn RowSink) -> Result<(), CallError> {
    let db = |e: postgres::Error| classify(&e);
    let caller = &ctx.caller;
    let session = caller.session.map(|s| s.to_string()).unwrap_or_default();
    let authid = caller.authid.clone().unwrap_or_default();
    let authrole = caller.authrole.clone().unwrap_or_default();
    // The router's trace context (W3C), so functions can log or forward it: `current_setting('wamp.traceparent', true)`;
    // while the transaction runs it is also the connection's `application_name` (`pg_stat_activity`),
    // at no extra round trip.
    let traceparent = ctx.traceparent().unwrap_or_default();
    let tracestate = ctx.trace.as_ref().and_then(|t| t.tracestate.as_deref()).unwrap_or_default();
    tx.execute(IDENTITY_SQL, &[&session, &authid, &authrole, &traceparent, &tracestate]).map_err(db)?;
    if set_role {
        let Some(role) = caller.authrole.as_deref().filter(|r| !r.is_empty()) else {
            return Err(CallError::NotAuthorized("set_role is on but the router did not disclose the caller's authrole".into()));
        };
        tx.batch_execute(&format!("set local role {}", quote_ident(role))).map_err(db)?;
    }
    let texts: Vec<Option<String>> = call.args.iter().map(|a| to_text(&a.value)).collect();
    let params: Vec<&(dyn ToSql + Sync)> = texts.iter().map(|t| t as &(dyn ToSql + Sync)).collect();
    let stmt = prepare(tx, &call_sql(call))?;
    if cancel.is_canceled() {
        return Err(CallError::Canceled);
    }
    let returns = &call.procedure.returns;
    if *returns == bridge::Returns::Void {
        tx.execute(&stmt, &params).map_err(db)?;
        return Ok(());
    }
    let columns: Arc<[String]> = stmt.columns().iter().map(|c| c.name().to_owned()).collect::<Vec<_>>().into();
    let width = columns.len();
    let decode = |row: postgres::Row| -> Result<Vec<wamp::Value>, CallError> {
        (0..width).map(|i| row.try_get::<_, Cell>(i).map(|c| c.0).map_err(|e| CallError::Internal(format!("decoding column {i}: {e}")))).collect()
    };
    match ctx.stream_batch {
        Some(batch) if returns.is_set() => {
            let portal = tx.bind(&stmt, &params).map_err(db)?;
            loop {
                if cancel.is_canceled() {
                    return Err(CallError::Canceled);
                }
                let rows = tx.query_portal(&portal, batch as i32).map_err(db)?;
                let n = rows.len();
                let decoded = rows.into_iter().map(decode).collect::<Result<Vec<_>, _>>()?;
                sink.push(Rows { columns: columns.clone(), rows: decoded }).map_err(|_| CallError::Canceled)?;
                if n < batch {
                    return Ok(());
                }
            }
        }
        _ => {
            let rows = tx.query(&stmt, &params).map_err(db)?;
            let decoded = rows.into_iter().map(decode).collect::<Result<Vec<_>, _>>()?;
            sink.push(Rows { columns, rows: decoded }).map_err(|_| CallError::Canceled)
        }
    }
}

/// Prepares `sql`; if a result column has a type the decoder does not know, re-prepares with
/// that column cast to text.
fn prepare(tx: &mut Transaction<'_>, sql: &str) -> Result<Statement, CallError> {
    let stmt = tx.prepare(sql).map_err(|e| classify(&e))?;
    if stmt.columns().iter().all(|c| supported(c.type_())) {
        return Ok(stmt);
    }
    let cols: Vec<(String, bool)> = stmt.columns().iter().map(|c| (c.name().to_owned(), !supported(c.type_()))).collect();
    tx.prepare(&cast_columns(sql, &cols)).map_err(|e| classify(&e))
}
