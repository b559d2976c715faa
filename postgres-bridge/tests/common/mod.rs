//! Test harness: a real PostgreSQL, a fresh schema per test, an in-process router, the bridge
//! attached to it, and WAMP peers over in-process links. No mocks.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge::BridgeHandle;
#[allow(unused_imports)] // not every suite polls
pub use bridge::testing::{eventually, Peer};
use postgres_bridge::{ExposeConfig, PostgresBridgeConfig};
use wamp::router::{Permission, RealmConfig, RoleConfig, Router, RouterConfig};
use wamp::{Dict, Message, Value};

/// The database the tests use: `WAMP_TEST_PG_DSN`, or the machine's PostgreSQL.
pub fn dsn() -> String {
    std::env::var("WAMP_TEST_PG_DSN").unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/test".into())
}

/// A client for test setup and checks; fails loudly if PostgreSQL is not there.
pub async fn pg() -> tokio_postgres::Client {
    let (client, conn) = match tokio_postgres::connect(&dsn(), tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is unreachable at {} ({e}). These tests need a real PostgreSQL: start it (the project's test \
             command does) or point WAMP_TEST_PG_DSN at one.",
            dsn()
        ),
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A fresh schema (random name) and a fresh event consumer name, both removed on drop.
pub struct TestDb {
    pub client: tokio_postgres::Client,
    pub schema: String,
    pub consumer: String,
}

impl TestDb {
    /// Creates the schema and runs `setup` with every `{s}` replaced by the schema name.
    pub async fn new(setup: &str) -> TestDb {
        let client = pg().await;
        let tag: u64 = rand::random();
        let schema = format!("t_{:016x}", tag);
        let consumer = format!("test_{:016x}", tag);
        client.batch_execute(&format!("create schema {schema}")).await.expect("create test schema");
        let db = TestDb { client, schema, consumer };
        db.exec(setup).await;
        db
    }

    pub async fn exec(&self, sql: &str) {
        let sql = sql.replace("{s}", &self.schema);
        if let Err(e) = self.client.batch_execute(&sql).await {
            panic!("setup SQL failed: {e:?}\n{sql}");
        }
    }

    /// The bridge config for this schema: prefix `com.test`, this test's consumer, small pool.
    pub fn config(&self) -> PostgresBridgeConfig {
        let mut c = PostgresBridgeConfig::new("realm1", dsn());
        c.expose.push(ExposeConfig { schema: self.schema.clone(), prefix: "com.test".into() });
        c.consumer = self.consumer.clone();
        c.pool_size = 2;
        c.poll_interval_ms = 200;
        c.catalog_poll_ms = 1000;
        c
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (schema, consumer, dsn) = (self.schema.clone(), self.consumer.clone(), dsn());
        // Synchronous cleanup off the async runtime's threads.
        let cleanup = std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&dsn, postgres::NoTls)?;
            c.batch_execute(&format!("drop schema if exists {schema} cascade"))?;
            c.execute("delete from wamp.consumer where name = $1", &[&consumer]).map(|_| ())
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("cleanup of {} failed: {e}", self.schema);
        }
    }
}

fn allow_all_role(name: &str, disclose: bool) -> RoleConfig {
    let mut p = Permission::allow_all("");
    p.disclose_caller = disclose;
    RoleConfig { name: name.into(), permissions: vec![p], authorizer: None }
}

/// realm1 with roles `anonymous` (everything, callers disclosed), `bridge` (the bridge's role),
/// `hr_test_reader` (for `set_role`), and `hidden` (everything, callers not disclosed).
pub fn router() -> Arc<Router> {
    let realm = RealmConfig {
        name: "realm1".into(),
        roles: vec![
            allow_all_role("anonymous", true),
            allow_all_role("bridge", true),
            allow_all_role("hr_test_reader", true),
            allow_all_role("hidden", false),
        ],
    };
    Router::new(RouterConfig { realms: vec![realm], ..RouterConfig::default() })
}

/// Starts the bridge and waits until it is connected and `probe` (a URI) is registered.
pub async fn start_bridge(router: &Arc<Router>, config: &PostgresBridgeConfig, probe: Option<&str>) -> BridgeHandle {
    let handle = postgres_bridge::start(config, router).await.expect("bridge starts");
    assert!(handle.wait_connected(Duration::from_secs(15)).await, "bridge did not connect: {:?}", handle.state());
    if let Some(uri) = probe {
        wait_registered(router, uri, Duration::from_secs(10)).await;
    }
    handle
}

/// Waits until a procedure is registered (as seen through the meta API).
pub async fn wait_registered(router: &Arc<Router>, uri: &str, within: Duration) -> Duration {
    let started = Instant::now();
    let mut peer = Peer::join(router, "anonymous").await;
    loop {
        let m = peer.call_wait("wamp.registration.lookup", vec![uri.into()], Dict::new()).await;
        if matches!(&m, Message::Result { payload, .. } if payload.args.as_ref().is_some_and(|a| a.first().is_some_and(|v| *v != Value::Null))) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "'{uri}' not registered within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a procedure is no longer registered.
pub async fn wait_unregistered(router: &Arc<Router>, uri: &str, within: Duration) {
    let started = Instant::now();
    let mut peer = Peer::join(router, "anonymous").await;
    loop {
        let m = peer.call_wait("wamp.registration.lookup", vec![uri.into()], Dict::new()).await;
        if matches!(&m, Message::Result { payload, .. } if payload.args.as_ref().is_none_or(|a| a.first().is_none_or(|v| *v == Value::Null))) {
            return;
        }
        assert!(started.elapsed() < within, "'{uri}' still registered after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

