//! Connections for calls on the async path: tokio-postgres clients driven by the gateway's runtime.
//!
//! A call that needs no cursor and no role switch is one statement in one implicit transaction
//! (see [`crate::sql::context_call_sql`]); running it as non-blocking I/O saves the hand-off to a
//! worker thread and back. The bridge's callee admits at most `pool_size` such calls at a time, so
//! this pool never holds more connections than that; it opens them on demand, keeps their
//! prepared statements, and pings one that sat idle before using it again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Config, NoTls};

use crate::pool::{StatementCache, PING_AFTER_IDLE};

/// Idle connections, shared by the calls' tasks.
pub struct AsyncPool {
    config: Config,
    idle: Mutex<Vec<AsyncConn>>,
}

/// One connection with its statement cache.
pub struct AsyncConn {
    pub client: Client,
    pub statements: StatementCache,
    last_used: Instant,
}

/// A connection lent to one call; it goes back to the pool when dropped, unless it broke.
pub struct Lease {
    conn: Option<AsyncConn>,
    pool: Arc<AsyncPool>,
}

impl AsyncPool {
    pub fn new(mut config: Config) -> Arc<AsyncPool> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        Arc::new(AsyncPool { config, idle: Mutex::new(Vec::new()) })
    }

    fn pop(&self) -> Option<AsyncConn> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// An idle connection that answers, or a new one. Must be called on a tokio runtime (the new
    /// connection's I/O task is spawned on it).
    pub async fn get(self: &Arc<Self>) -> Result<Lease, tokio_postgres::Error> {
        while let Some(conn) = self.pop() {
            if conn.client.is_closed() {
                continue;
            }
            if conn.last_used.elapsed() >= PING_AFTER_IDLE && conn.client.simple_query("").await.is_err() {
                continue;
            }
            return Ok(Lease { conn: Some(conn), pool: self.clone() });
        }
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a call connection ended");
            }
        });
        let conn = AsyncConn { client, statements: StatementCache::default(), last_used: Instant::now() };
        Ok(Lease { conn: Some(conn), pool: self.clone() })
    }
}

impl Lease {
    pub fn conn(&mut self) -> &mut AsyncConn {
        self.conn.as_mut().expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            if !conn.client.is_closed() {
                conn.last_used = Instant::now();
                self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            }
        }
    }
}

