//! Test harness: a real Oracle (Database Free 23ai or 19c) named by `ORACLE_TEST_CONNECT`,
//! `ORACLE_TEST_USER`, `ORACLE_TEST_PASSWORD` (a user that may create users, e.g. SYSTEM), a
//! fresh schema owner and gateway user per test with `plsql/` installed, an in-process router,
//! the bridge attached to it, and WAMP peers over in-process links. No mocks.
//!
//! Without those variables each test prints `SKIPPED (no Oracle configured): <name>` straight to
//! the process's stderr (past the test harness's capture) and returns: a skip, not a check.
#![allow(dead_code)]

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge::BridgeHandle;
#[allow(unused_imports)] // not every suite polls
pub use bridge::testing::{eventually, Peer};
use oracle::Connection;
use oracle_bridge::install::{run_script, GRANTS_SQL, INSTALL_SQL, SUBSCRIBER_SQL};
use oracle_bridge::{ExposeConfig, OracleBridgeConfig};
use wamp::router::{Permission, RealmConfig, RoleConfig, Router, RouterConfig};
use wamp::{Dict, Message, Value};

/// Where the test database is.
#[derive(Clone)]
pub struct OracleEnv {
    pub connect: String,
    pub user: String,
    pub password: String,
}

/// The configured database, or `None` after printing the skip line for `test`.
pub fn oracle_env(test: &str) -> Option<OracleEnv> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    match (var("ORACLE_TEST_CONNECT"), var("ORACLE_TEST_USER"), var("ORACLE_TEST_PASSWORD")) {
        (Some(connect), Some(user), Some(password)) => Some(OracleEnv { connect, user, password }),
        _ => {
            let _ = writeln!(std::io::stderr(), "SKIPPED (no Oracle configured): {test}");
            None
        }
    }
}

/// A fresh application schema (owner) with `plsql/install.sql`, the test's API package and a
/// subscriber, and a fresh least-privileged gateway user; both dropped on drop.
pub struct TestDb {
    pub env: OracleEnv,
    pub owner: String,
    pub gateway: String,
    pub password: String,
    pub consumer: String,
    /// A session as the owner, for setup and checks.
    pub conn: Connection,
}

fn admin(env: &OracleEnv) -> Connection {
    Connection::connect(&env.user, &env.password, &env.connect)
        .unwrap_or_else(|e| panic!("Oracle is unreachable at {} as {} ({e})", env.connect, env.user))
}

impl TestDb {
    /// Creates the users, installs `plsql/`, then runs `api` (statements ending with `/` lines,
    /// `{o}` replaced by the owner) and grants EXECUTE on `package` to the gateway user.
    pub fn new(env: OracleEnv, api: &str, package: &str) -> TestDb {
        let tag: u32 = rand::random();
        let owner = format!("WT_{tag:08X}");
        let gateway = format!("WG_{tag:08X}");
        let password = format!("Pw_{tag:08x}_x1");
        let consumer = format!("C_{tag:08X}");
        let sys = admin(&env);
        for stmt in [
            format!("create user {owner} identified by \"{password}\" quota unlimited on users"),
            format!("grant create session, create table, create sequence, create procedure to {owner}"),
            format!("grant execute on sys.dbms_aq to {owner}"),
            format!("grant execute on sys.dbms_aqadm to {owner}"),
            format!("create user {gateway} identified by \"{password}\""),
            format!("grant create session to {gateway}"),
            format!("grant execute on sys.dbms_aq to {gateway}"),
        ] {
            sys.execute(&stmt, &[]).unwrap_or_else(|e| panic!("{stmt}: {e}"));
        }
        let conn = Connection::connect(&owner, &password, &env.connect).expect("connect as the test owner");
        run_script(&conn, INSTALL_SQL, &[]).expect("plsql/install.sql");
        run_script(&conn, SUBSCRIBER_SQL, &[("consumer", &consumer)]).expect("plsql/subscriber.sql");
        let db = TestDb { env, owner, gateway, password, consumer, conn };
        if !api.is_empty() {
            db.script(api);
        }
        // Without an API package, grants.sql's EXECUTE grant is simply repeated on WAMP_CONSUMER.
        let package = if package.is_empty() { "WAMP_CONSUMER" } else { package };
        run_script(&db.conn, GRANTS_SQL, &[("api_package", package), ("gateway_user", &db.gateway)]).expect("plsql/grants.sql");
        db
    }

    /// Runs statements separated by `/` lines, `{o}` being the owner.
    pub fn script(&self, sql: &str) {
        run_script(&self.conn, &sql.replace("{o}", &self.owner), &[]).unwrap_or_else(|e| panic!("setup failed: {e}"));
    }

    /// The bridge config for this schema: `package` under prefix `com.test`, small pool.
    pub fn config(&self, package: &str) -> OracleBridgeConfig {
        let mut c = OracleBridgeConfig::new("realm1", self.env.connect.clone(), self.gateway.clone(), self.password.clone());
        c.expose.push(ExposeConfig { package: package.into(), owner: Some(self.owner.clone()), prefix: "com.test".into(), implicit_results: vec!["REPORT".into()] });
        c.consumer = self.consumer.clone();
        c.queue = format!("{}.WAMP_EVENTS", self.owner);
        c.pool_size = 2;
        c.ddl_check_ms = 1000;
        c
    }

    /// A number from a query as the owner.
    pub fn count(&self, sql: &str) -> i64 {
        self.conn.query_row_as::<i64>(&sql.replace("{o}", &self.owner), &[]).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = self.conn.rollback();
        let _ = run_script(&self.conn, oracle_bridge::install::UNINSTALL_SQL, &[]);
        let sys = admin(&self.env);
        for user in [&self.gateway, &self.owner] {
            // Sessions of the stopped bridge may still be closing.
            let _ = sys.execute(&format!("drop user {user} cascade"), &[]);
        }
    }
}

fn allow_all_role(name: &str, disclose: bool) -> RoleConfig {
    let mut p = Permission::allow_all("");
    p.disclose_caller = disclose;
    RoleConfig { name: name.into(), permissions: vec![p], authorizer: None }
}

/// realm1 with roles `anonymous` (callers disclosed), `bridge`, and `hidden` (not disclosed).
pub fn router() -> Arc<Router> {
    let realm = RealmConfig {
        name: "realm1".into(),
        roles: vec![allow_all_role("anonymous", true), allow_all_role("bridge", true), allow_all_role("hidden", false)],
    };
    Router::new(RouterConfig { realms: vec![realm], ..RouterConfig::default() })
}

/// Starts the bridge and waits until it is connected and `probe` (a URI) is registered.
pub async fn start_bridge(router: &Arc<Router>, config: &OracleBridgeConfig, probe: Option<&str>) -> BridgeHandle {
    let handle = oracle_bridge::start(config, router).await.expect("bridge starts");
    assert!(handle.wait_connected(Duration::from_secs(30)).await, "bridge did not connect: {:?}", handle.state());
    if let Some(uri) = probe {
        wait_registered(router, uri, true, Duration::from_secs(20)).await;
    }
    handle
}

/// Waits until a procedure is (or is no longer) registered, through the meta API.
pub async fn wait_registered(router: &Arc<Router>, uri: &str, registered: bool, within: Duration) {
    let started = Instant::now();
    let mut peer = Peer::join(router, "anonymous").await;
    loop {
        let m = peer.call_wait("wamp.registration.lookup", vec![uri.into()], Dict::new()).await;
        let found = matches!(&m, Message::Result { payload, .. } if payload.args.as_ref().is_some_and(|a| a.first().is_some_and(|v| *v != Value::Null)));
        if found == registered {
            return;
        }
        assert!(started.elapsed() < within, "'{uri}' registered={found} after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A test of the suite: its name and its body.
pub type SuiteTest = (&'static str, fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);

/// Runs an Oracle suite (these test binaries use `harness = false`). Without `ORACLE_TEST_*`
/// nothing runs: every test prints `SKIPPED (no Oracle configured): <name>` and the closing line
/// counts them as skipped, never as passed. With a database each test runs on its own runtime;
/// the process fails if any test does.
pub fn run_suite(suite: &str, tests: &[SuiteTest]) {
    let configured = ["ORACLE_TEST_CONNECT", "ORACLE_TEST_USER", "ORACLE_TEST_PASSWORD"]
        .iter()
        .all(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()));
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, test) in tests {
        if !configured {
            println!("SKIPPED (no Oracle configured): {name}");
            skipped += 1;
            continue;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime for the test");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(test())));
        match outcome {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{suite}: {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        std::process::exit(1);
    }
}

/// `main` for a suite: `oracle_suite!(suite_name: test_a, test_b, ...)`.
#[macro_export]
macro_rules! oracle_suite {
    ($suite:ident: $($test:ident),+ $(,)?) => {
        fn main() {
            common::run_suite(stringify!($suite), &[
                $((stringify!($test), || Box::pin($test())),)+
            ]);
        }
    };
}
