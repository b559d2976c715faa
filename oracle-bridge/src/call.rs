//! Running one call: a pooled session, the planned block, OUT values and cursors read into rows,
//! commit or rollback, identity cleared, and the session returned only if it is healthy.
//!
//! The pool is ODPI-C's session pool (`oracle::pool::Pool`, see the README for why not r2d2):
//! it hands out owned `Connection`s, which this module shares with the call's [`Canceler`] in an
//! `Arc` so that a WAMP cancel can call `break_execution` from another thread while the
//! statement runs. The pool is created on the first call, so a database that is down when the
//! gateway starts only fails calls until it is back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bridge::args::BoundCall;
use bridge::cancel::{CancelSlot, Canceler};
use bridge::results::Rows;
use bridge::{CallContext, CallError, Database, Procedure, Returns, RowSink};
use chrono::{DateTime, FixedOffset, NaiveDateTime};
use oracle::conn::CloseMode;
use oracle::pool::{GetMode, Pool, PoolBuilder};
use oracle::sql_type::{OracleType, RefCursor, ToSql};
use oracle::{Connection, Statement};
use secrecy::ExposeSecret;
use wamp::Value;

use crate::catalog::{is_cursor, is_function, RETURN_KEY};
use crate::dictionary::Login;
use crate::error::{classify_oracle, Classified};
use crate::plsql::{identity, plan, BindKind, CallPlan, Identity, CLEAR_IDENTITY};
use crate::values::{bind_type, column_key, format_local, format_zoned, json_value, number_value, to_bind, BindValue};

/// How long a call waits for a free session.
const GET_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs calls on pooled sessions.
pub struct OraDatabase {
    login: Login,
    pool_size: u32,
    call_timeout: Option<Duration>,
    pool: Mutex<Option<Pool>>,
    /// Package reference → URI prefix, for the `ACTION` the session shows.
    prefixes: HashMap<String, String>,
}

impl OraDatabase {
    pub fn new(login: Login, pool_size: u32, call_timeout: Option<Duration>, prefixes: HashMap<String, String>) -> Self {
        OraDatabase { login, pool_size, call_timeout, pool: Mutex::new(None), prefixes }
    }

    fn pool(&self) -> Result<Pool, CallError> {
        let mut guard = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = guard.as_ref() {
            return Ok(pool.clone());
        }
        let pool = PoolBuilder::new(&self.login.user, self.login.password.expose_secret(), &self.login.connect)
            .min_connections(0)
            .max_connections(self.pool_size)
            .get_mode(GetMode::TimedWait(GET_TIMEOUT))
            .build()
            .map_err(|e| CallError::Internal(format!("cannot create the session pool: {e}")))?;
        *guard = Some(pool.clone());
        Ok(pool)
    }

    fn uri(&self, p: &Procedure) -> String {
        match self.prefixes.get(&p.schema) {
            Some(prefix) => format!("{prefix}.{}", p.name),
            None => p.name.clone(),
        }
    }
}

/// Interrupts the statement running on one session.
struct OraCanceler(Arc<Connection>);

impl Canceler for OraCanceler {
    fn cancel(&self) -> Result<(), String> {
        self.0.break_execution().map_err(|e| e.to_string())
    }
}

impl Database for OraDatabase {
    fn system(&self) -> &'static str {
        "oracle"
    }

    /// Every subprogram is called from an anonymous PL/SQL block.
    fn operation(&self, _call: &BoundCall) -> &'static str {
        "CALL"
    }

    fn execute(&self, call: &BoundCall, ctx: &CallContext, cancel: &CancelSlot, sink: &mut dyn RowSink) -> Result<(), CallError> {
        let pool = self.pool()?;
        let conn = Arc::new(pool.get().map_err(|e| CallError::Internal(format!("no database session: {e}")))?);
        let mut broken = conn.set_call_timeout(self.call_timeout).is_err();
        let plan = plan(call);
        let id = identity(ctx, &self.uri(&call.procedure), ctx.traceparent());
        let mut retried = false;
        let outcome = loop {
            let result = {
                let _armed = cancel.arm(Box::new(OraCanceler(conn.clone())));
                if cancel.is_canceled() {
                    Err(Classified { error: CallError::Canceled, retry: false, broken: false })
                } else {
                    run(&conn, call, &plan, &id, ctx, cancel, sink)
                }
            };
            let ended = if result.is_ok() { conn.commit() } else { conn.rollback() };
            match (result, ended) {
                (Ok(()), Ok(())) => break Ok(()),
                (Ok(()), Err(e)) => {
                    let c = classify_oracle(&e);
                    broken |= c.broken;
                    break Err(c.error);
                }
                (Err(c), ended) => {
                    broken |= c.broken || ended.is_err();
                    if c.retry && !retried && !broken {
                        retried = true;
                        tracing::info!("package state discarded (ORA-04068): running the call once more");
                        continue;
                    }
                    break Err(c.error);
                }
            }
        };
        if !broken && conn.execute(CLEAR_IDENTITY, &[]).is_err() {
            broken = true;
        }
        // After a cancel or timeout, make sure the session still answers before reusing it.
        if !broken && outcome.is_err() {
            broken = conn.ping().is_err();
        }
        if broken {
            tracing::warn!("dropping an unhealthy session from the pool");
            let _ = conn.close_with_mode(CloseMode::Drop);
        }
        outcome
    }
}

fn db(e: oracle::Error) -> Classified {
    classify_oracle(&e)
}

fn stopped(_: bridge::Stopped) -> Classified {
    Classified { error: CallError::Canceled, retry: false, broken: false }
}

fn run(conn: &Connection, call: &BoundCall, plan: &CallPlan, id: &Identity, ctx: &CallContext, cancel: &CancelSlot, sink: &mut dyn RowSink) -> Result<(), Classified> {
    let p = &call.procedure;
    let mut stmt = conn.statement(&plan.text).build().map_err(db)?;
    stmt.bind("wamp_authid", &id.authid).map_err(db)?;
    stmt.bind("wamp_action", &id.action).map_err(db)?;
    stmt.bind("wamp_client_info", &id.client_info).map_err(db)?;
    for b in &plan.binds {
        let param = &p.params[b.param];
        let arg = match b.kind {
            BindKind::Out => None,
            BindKind::In { arg } | BindKind::InOut { arg: Some(arg) } => Some(arg),
            BindKind::InOut { arg: None } => None,
        };
        let value = match arg {
            Some(i) => to_bind(param, &call.args[i].value).map_err(|e| Classified {
                error: CallError::InvalidArgument(format!("argument '{}': {e}", param.name.as_deref().unwrap_or("?"))),
                retry: false,
                broken: false,
            })?,
            None => BindValue::Null(bind_type(param)),
        };
        bind(&mut stmt, &b.name, &value).map_err(db)?;
    }
    stmt.execute(&[]).map_err(db)?;
    match &p.returns {
        Returns::Void => Ok(()),
        Returns::Scalar(_) => {
            let v = read_out(&stmt, "ret", &p.params[0])?;
            sink.push(Rows { columns: vec!["result".to_string()].into(), rows: vec![vec![v]] }).map_err(stopped)
        }
        Returns::Rows | Returns::Values => {
            let cursor_bind = plan.binds.iter().find(|b| is_cursor(&p.params[b.param]) && b.kind == BindKind::Out);
            match cursor_bind {
                Some(b) => match stmt.bind_value::<_, Option<RefCursor>>(b.name.as_str()).map_err(db)? {
                    Some(c) => stream(c, ctx.stream_batch, cancel, sink, &mut None),
                    None => sink.push(Rows::default()).map_err(stopped),
                },
                None => {
                    let mut columns = None;
                    while let Some(c) = stmt.implicit_result().map_err(db)? {
                        stream(c, ctx.stream_batch, cancel, sink, &mut columns)?;
                    }
                    if columns.is_none() {
                        sink.push(Rows::default()).map_err(stopped)?;
                    }
                    Ok(())
                }
            }
        }
        Returns::Record => {
            let mut keys = Vec::new();
            let mut values = Vec::new();
            for b in plan.binds.iter().filter(|b| !matches!(b.kind, BindKind::In { .. })) {
                let param = &p.params[b.param];
                keys.push(if is_function(p) && b.param == 0 { RETURN_KEY.to_owned() } else { column_key(param.name.as_deref().unwrap_or("?")) });
                values.push(read_out(&stmt, &b.name, param)?);
            }
            sink.push(Rows { columns: keys.into(), rows: vec![values] }).map_err(stopped)
        }
    }
}

fn bind(stmt: &mut Statement, name: &str, value: &BindValue) -> oracle::Result<()> {
    let number = OracleType::Number(0, -127);
    let tz = OracleType::TimestampTZ(9);
    let v: (&dyn ToSql, &OracleType) = match value {
        BindValue::Null(ty) => return stmt.bind(name, ty),
        BindValue::Bool(b) => return stmt.bind(name, b),
        BindValue::Text(s, ty) => (s, ty),
        BindValue::Number(s) => (s, &number),
        BindValue::Float(f, ty) => (f, ty),
        BindValue::Bytes(b, ty) => (b, ty),
        BindValue::Timestamp(t, ty) => (t, ty),
        BindValue::TimestampTz(t) => (t, &tz),
    };
    stmt.bind(name, &Typed(v.0, v.1))
}

/// A value bound as a given Oracle type (with room for an IN OUT result).
struct Typed<'a>(&'a dyn ToSql, &'a OracleType);

impl ToSql for Typed<'_> {
    fn oratype(&self, _: &Connection) -> oracle::Result<OracleType> {
        Ok(self.1.clone())
    }
    fn to_sql(&self, val: &mut oracle::SqlValue) -> oracle::Result<()> {
        self.0.to_sql(val)
    }
}

/// An OUT value as a WAMP value.
fn read_out(stmt: &Statement, name: &str, param: &bridge::Param) -> Result<Value, Classified> {
    let ty = bind_type(param);
    let v = match ty {
        OracleType::RefCursor => match stmt.bind_value::<_, Option<RefCursor>>(name).map_err(db)? {
            Some(mut c) => Value::List(cursor_rows(&mut c).map_err(db)?),
            None => Value::Null,
        },
        OracleType::Number(..) => stmt.bind_value::<_, Option<String>>(name).map_err(db)?.map_or(Value::Null, |s| number_value(&s)),
        OracleType::BinaryFloat | OracleType::BinaryDouble => stmt.bind_value::<_, Option<f64>>(name).map_err(db)?.map_or(Value::Null, Value::Float),
        OracleType::Boolean => stmt.bind_value::<_, Option<bool>>(name).map_err(db)?.map_or(Value::Null, Value::Bool),
        OracleType::Raw(_) | OracleType::BLOB => stmt.bind_value::<_, Option<Vec<u8>>>(name).map_err(db)?.map_or(Value::Null, Value::Bytes),
        OracleType::Date | OracleType::Timestamp(_) => {
            stmt.bind_value::<_, Option<NaiveDateTime>>(name).map_err(db)?.map_or(Value::Null, |t| Value::Str(format_local(&t)))
        }
        OracleType::TimestampTZ(_) => {
            stmt.bind_value::<_, Option<DateTime<FixedOffset>>>(name).map_err(db)?.map_or(Value::Null, |t| Value::Str(format_zoned(&t)))
        }
        _ => match stmt.bind_value::<_, Option<String>>(name).map_err(db)? {
            Some(s) if param.ty == bridge::SqlType::Json => json_value(&s).map_err(|e| Classified {
                error: CallError::Internal(format!("OUT parameter {name} is not JSON: {e}")),
                retry: false,
                broken: false,
            })?,
            Some(s) => Value::Str(s),
            None => Value::Null,
        },
    };
    Ok(v)
}

/// Reads a cursor into batches of rows (one batch unless streaming). `columns` holds the column
/// names of an earlier cursor of the same call, which every later one must repeat.
fn stream(mut cursor: RefCursor, batch: Option<usize>, cancel: &CancelSlot, sink: &mut dyn RowSink, columns: &mut Option<Arc<[String]>>) -> Result<(), Classified> {
    let rs = cursor.query().map_err(db)?;
    let names: Arc<[String]> = rs.column_info().iter().map(|c| column_key(c.name())).collect::<Vec<_>>().into();
    match columns {
        Some(earlier) if *earlier != names => {
            return Err(Classified { error: CallError::Internal("implicit results with different columns".into()), retry: false, broken: false })
        }
        _ => *columns = Some(names.clone()),
    }
    let mut rows = Vec::new();
    for row in rs {
        let row = row.map_err(db)?;
        rows.push(decode_row(&row, &names).map_err(db)?);
        if batch.is_some_and(|n| rows.len() >= n) {
            if cancel.is_canceled() {
                return Err(stopped(bridge::Stopped));
            }
            sink.push(Rows { columns: names.clone(), rows: std::mem::take(&mut rows) }).map_err(stopped)?;
        }
    }
    sink.push(Rows { columns: names, rows }).map_err(stopped)
}

/// Every row of a cursor as objects (an OUT cursor inside a record, a nested cursor column).
fn cursor_rows(cursor: &mut RefCursor) -> oracle::Result<Vec<Value>> {
    let rs = cursor.query()?;
    let names: Vec<String> = rs.column_info().iter().map(|c| column_key(c.name())).collect();
    let mut out = Vec::new();
    for row in rs {
        let values = decode_row(&row?, &names)?;
        out.push(Value::Dict(names.iter().cloned().zip(values).collect()));
    }
    Ok(out)
}

fn decode_row(row: &oracle::Row, names: &[String]) -> oracle::Result<Vec<Value>> {
    row.sql_values().iter().zip(names).map(|(v, name)| cell(v, name)).collect()
}

/// One column value (see [`crate::values`] for the mapping).
fn cell(v: &oracle::SqlValue, name: &str) -> oracle::Result<Value> {
    if v.is_null()? {
        return Ok(Value::Null);
    }
    Ok(match v.oracle_type()? {
        OracleType::Number(..) | OracleType::Float(_) | OracleType::Int64 => number_value(&v.get::<String>()?),
        OracleType::BinaryFloat | OracleType::BinaryDouble => Value::Float(v.get::<f64>()?),
        OracleType::Boolean => Value::Bool(v.get::<bool>()?),
        OracleType::Raw(_) | OracleType::LongRaw | OracleType::BLOB => Value::Bytes(v.get::<Vec<u8>>()?),
        OracleType::Date | OracleType::Timestamp(_) => Value::Str(format_local(&v.get::<NaiveDateTime>()?)),
        OracleType::TimestampTZ(_) | OracleType::TimestampLTZ(_) => Value::Str(format_zoned(&v.get::<DateTime<FixedOffset>>()?)),
        OracleType::RefCursor => Value::List(cursor_rows(&mut v.get::<RefCursor>()?)?),
        OracleType::Json => {
            let s = v.get::<String>()?;
            json_value(&s).unwrap_or(Value::Str(s))
        }
        _ => {
            let s = v.get::<String>()?;
            if name.ends_with("_json") {
                json_value(&s).unwrap_or(Value::Str(s))
            } else {
                Value::Str(s)
            }
        }
    })
}
