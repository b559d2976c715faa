//! The adapter's errors, and PostgreSQL errors classified into [`CallError`]s.
//!
//! Raised by the function's code or hit through its data (PL/pgSQL `RAISE`, constraint
//! violations, data exceptions, serialization failures, custom SQLSTATEs): the caller sees the
//! message and SQLSTATE (or the URI, by the `"<uri>: <message>"` convention). Problems of the
//! system itself (syntax and undefined objects — SQLSTATE class 42 —, connections, resources,
//! operator intervention, internal errors): the caller sees a generic message, the log the detail.

use bridge::CallError;
use postgres::error::SqlState;
use thiserror::Error;

/// Failures of the adapter's own connections (catalog, events, install).
#[derive(Debug, Error)]
pub enum PgBridgeError {
    #[error("database: {0}")]
    Db(#[from] postgres::Error),
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("another bridge holds event consumer '{0}' (its connection is open); waiting")]
    ConsumerBusy(String),
    #[error("malformed event {id}: {reason}")]
    Event { id: i64, reason: String },
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
}

/// SQLSTATE classes that are the system's problem, not the function's.
const INTERNAL_CLASSES: [&str; 13] = ["08", "0A", "28", "3D", "3F", "42", "53", "54", "55", "57", "58", "F0", "XX"];

/// Classifies an error from a call's statements.
pub fn classify(err: &postgres::Error) -> CallError {
    let Some(db) = err.as_db_error() else {
        return CallError::Internal(format!("connection: {err}"));
    };
    let code = db.code();
    if *code == SqlState::QUERY_CANCELED {
        return CallError::Canceled;
    }
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        return CallError::NotAuthorized(db.message().to_owned());
    }
    let sqlstate = code.code();
    if INTERNAL_CLASSES.iter().any(|c| sqlstate.starts_with(c)) {
        let mut detail = format!("{sqlstate}: {}", db.message());
        if let Some(d) = db.detail() {
            detail.push_str(&format!(" (detail: {d})"));
        }
        if let Some(w) = db.where_() {
            detail.push_str(&format!(" (where: {w})"));
        }
        return CallError::Internal(detail);
    }
    CallError::Raised {
        sqlstate: sqlstate.to_owned(),
        message: db.message().to_owned(),
        detail: db.detail().map(String::from),
        hint: db.hint().map(String::from),
    }
}

/// A pool checkout failure (the database is down or the pool exhausted).
pub fn pool_failure(err: r2d2::Error) -> CallError {
    CallError::Internal(format!("no database connection: {err}"))
}
