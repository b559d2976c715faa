//! The worker threads' pool: r2d2 over `postgres` clients that keep their prepared statements,
//! for calls that read a cursor or switch role (see `call.rs`; the others use `async_pool`).
//!
//! A call's statement text depends only on the function's signature and the names the caller
//! used, so each connection prepares it once and reuses it ([`StatementCache`]). The pool does not
//! ping a connection on every checkout; a connection idle for longer than [`PING_AFTER_IDLE`] is
//! pinged before use, so one killed while idle (restart, `pg_terminate_backend`, a firewall) is
//! replaced instead of failing a call.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls, Statement};

/// Connections idle for longer than this are checked with an empty query before a call.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(2);

/// Prepared statements kept per connection; the cache starts over when it is full (statement
/// texts change only when functions or the callers' choice of named arguments do).
const STATEMENT_CACHE: usize = 512;

/// One connection's prepared statements, by SQL text (both pools' connections keep one).
#[derive(Default)]
pub struct StatementCache(HashMap<String, Statement>);

impl StatementCache {
    /// The statement prepared earlier for `sql`.
    pub fn get(&self, sql: &str) -> Option<Statement> {
        self.0.get(sql).cloned()
    }

    /// Keeps `stmt`, prepared for `sql`.
    pub fn keep(&mut self, sql: &str, stmt: Statement) {
        if self.0.len() >= STATEMENT_CACHE {
            self.0.clear();
        }
        self.0.insert(sql.to_owned(), stmt);
    }

    /// Forgets every statement (after one went stale: a function's result type changed).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// The connection pool type.
pub type PgPool = r2d2::Pool<PgManager>;

/// Opens pooled connections.
#[derive(Debug)]
pub struct PgManager {
    config: postgres::Config,
}

impl PgManager {
    pub fn new(config: postgres::Config) -> Self {
        PgManager { config }
    }
}

/// A pooled connection with its statement cache.
pub struct PgConn {
    pub client: Client,
    pub statements: StatementCache,
    last_used: Instant,
}

impl PgConn {
    /// Whether the connection answers; only asked of connections idle for a while.
    pub fn alive_after_idle(&mut self) -> bool {
        if self.last_used.elapsed() < PING_AFTER_IDLE {
            return true;
        }
        self.client.simple_query("").is_ok()
    }

    pub fn touch(&mut self) {
        self.last_used = Instant::now();
    }
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        let client = self.config.connect(NoTls)?;
        Ok(PgConn { client, statements: StatementCache::default(), last_used: Instant::now() })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// A pool of `size` connections that are opened on demand and not pinged on every checkout.
pub fn build(config: postgres::Config, size: u32) -> PgPool {
    // build_unchecked: a database that is down at start is retried by the pool, not fatal.
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(10))
        .build_unchecked(PgManager::new(config))
}
