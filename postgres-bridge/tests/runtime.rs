//! Streaming, cancel and timeout reaching the database, concurrency over a small pool, and
//! catalog changes while running.

mod common;

use std::time::Duration;

use common::*;
use wamp::{dict, Dict, Message, Value};

const SCHEMA: &str = r#"
create function {s}.big(n int) returns table (i int, label text) language sql immutable
  as $$ select g, 'row ' || g from generate_series(1, n) g $$;
create function {s}.sleepy(secs float8) returns int language plpgsql as $$ begin perform pg_sleep(secs); return 1; end $$;
create function {s}.add_one(a int) returns int language plpgsql as $$ begin perform pg_sleep(0.005); return a + 1; end $$;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progressive_results_stream_a_large_set_in_batches() {
    let db = TestDb::new(SCHEMA).await;
    let router = router();
    let bridge = start_bridge(&router, &db.config(), Some("com.test.big")).await;
    let mut c = Peer::join(&router, "anonymous").await;
    let request = c.call("com.test.big", dict! {"receive_progress" => true}, vec![100_000.into()], Dict::new()).await;
    let (mut progressive, mut total, mut next) = (0, 0, 1i64);
    loop {
        let Message::Result { request: r, details, payload } = c.recv().await else { panic!("expected RESULT") };
        assert_eq!(r, request);
        let Some(Value::List(rows)) = payload.args.and_then(|a| a.into_iter().next()) else { panic!("a batch is a list") };
        for row in &rows {
            assert_eq!(row.as_dict().unwrap()["i"], Value::from(next), "rows in order");
            next += 1;
        }
        total += rows.len();
        if details.get("progress") == Some(&Value::from(true)) {
            assert_eq!(rows.len(), 1000, "each progressive result is one full batch");
            progressive += 1;
        } else {
            assert_eq!(rows.len(), 1000, "the final result carries the last batch");
            break;
        }
    }
    assert_eq!((progressive, total), (99, 100_000));
    // Without progressive results, the same call returns one array.
    let Value::List(all) = c.call_ok("com.test.big", vec![2500.into()], Dict::new()).await else { panic!() };
    assert_eq!(all.len(), 2500);
    assert_eq!(all[2499], Value::Dict(dict! {"i" => 2500, "label" => "row 2500"}));
    // A short set fits in the final result alone.
    let request = c.call("com.test.big", dict! {"receive_progress" => true}, vec![5.into()], Dict::new()).await;
    let Message::Result { request: r, details, payload } = c.recv().await else { panic!() };
    assert_eq!((r, details.contains_key("progress")), (request, false));
    assert_eq!(payload.args.unwrap()[0].as_list().unwrap().len(), 5);
    bridge.stop().await;
}

/// Running statements of this test's schema, as the server sees them.
async fn active(db: &TestDb, function: &str) -> i64 {
    let pattern = format!("%{}%{}%", db.schema, function);
    let row = db
        .client
        .query_one(
            "select count(*) from pg_stat_activity where state = 'active' and query like $1 and pid <> pg_backend_pid()",
            &[&pattern],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_timeout_stop_the_statement_and_keep_the_pool_healthy() {
    let db = TestDb::new(SCHEMA).await;
    let router = router();
    let mut config = db.config();
    config.pool_size = 1; // every call reuses the one connection: it must come back healthy
    let bridge = start_bridge(&router, &config, Some("com.test.sleepy")).await;
    let mut c = Peer::join(&router, "anonymous").await;

    for mode in ["killnowait", "kill"] {
        let request = c.call("com.test.sleepy", Dict::new(), vec![30.into()], Dict::new()).await;
        eventually(Duration::from_secs(5), "the statement runs", || async { active(&db, "sleepy").await == 1 }).await;
        c.link.send(Message::Cancel { request, options: dict! {"mode" => mode} }).await;
        match c.recv().await {
            Message::Error { request: r, error, .. } => assert_eq!((r, error.as_str()), (request, "wamp.error.canceled"), "mode {mode}"),
            other => panic!("expected ERROR, got {other:?}"),
        }
        eventually(Duration::from_secs(3), "the statement is gone", || async { active(&db, "sleepy").await == 0 }).await;
        assert_eq!(c.call_ok("com.test.add_one", vec![1.into()], Dict::new()).await, Value::from(2), "pool works after {mode}");
    }

    let request = c.call("com.test.sleepy", dict! {"timeout" => 300}, vec![30.into()], Dict::new()).await;
    // A router timeout is a cancel the router makes: wamp.error.canceled, reason wamp.error.timeout.
    match c.recv_within(Duration::from_secs(5)).await {
        Message::Error { request: r, error, details, .. } => {
            assert_eq!((r, error.as_str()), (request, "wamp.error.canceled"));
            assert_eq!(details.get("reason"), Some(&Value::from("wamp.error.timeout")));
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    eventually(Duration::from_secs(3), "the timed-out statement is gone", || async { active(&db, "sleepy").await == 0 }).await;
    assert_eq!(c.call_ok("com.test.add_one", vec![41.into()], Dict::new()).await, Value::from(42));
    // A short call is unaffected by a generous timeout.
    let request = c.call("com.test.sleepy", dict! {"timeout" => 5000}, vec![0.05.into()], Dict::new()).await;
    assert!(matches!(c.recv().await, Message::Result { request: r, .. } if r == request));
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_calls_over_a_pool_of_four() {
    let db = TestDb::new(SCHEMA).await;
    let router = router();
    let mut config = db.config();
    config.pool_size = 4;
    let bridge = start_bridge(&router, &config, Some("com.test.add_one")).await;
    let mut callers = Vec::new();
    for _ in 0..4 {
        callers.push(Peer::join(&router, "anonymous").await);
    }
    let mut expected = Vec::new();
    for i in 0..200i64 {
        let c = &mut callers[(i % 4) as usize];
        let request = c.call("com.test.add_one", Dict::new(), vec![i.into()], Dict::new()).await;
        expected.push(((i % 4) as usize, request, i + 1));
    }
    let mut got = std::collections::HashMap::new();
    for (k, c) in callers.iter_mut().enumerate() {
        for _ in 0..50 {
            match c.recv().await {
                Message::Result { request, payload, .. } => {
                    got.insert((k, request), payload.args.unwrap()[0].clone());
                }
                other => panic!("expected RESULT, got {other:?}"),
            }
        }
    }
    for (k, request, value) in expected {
        assert_eq!(got.get(&(k, request)), Some(&Value::from(value)));
    }
    let app = format!("wamp-bridge:{}:call", db.consumer);
    let row = db.client.query_one("select count(*) from pg_stat_activity where application_name = $1", &[&app]).await.unwrap();
    let connections: i64 = row.get(0);
    assert!((1..=4).contains(&connections), "{connections} call connections");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_created_replaced_and_dropped_while_running() {
    let db = TestDb::new(SCHEMA).await;
    let router = router();
    let mut config = db.config();
    config.catalog_poll_ms = 60_000; // only the event trigger's NOTIFY can be fast enough
    let bridge = start_bridge(&router, &config, Some("com.test.big")).await;
    let mut c = Peer::join(&router, "anonymous").await;
    db.exec("create function {s}.fresh(x int) returns int language sql immutable as 'select x * 2'").await;
    let took = wait_registered(&router, "com.test.fresh", Duration::from_secs(5)).await;
    assert_eq!(c.call_ok("com.test.fresh", vec![21.into()], Dict::new()).await, Value::from(42), "registered after {took:?}");
    db.exec("create or replace function {s}.fresh(x int) returns int language sql immutable as 'select x * 3'").await;
    let started = std::time::Instant::now();
    while c.call_ok("com.test.fresh", vec![1.into()], Dict::new()).await != Value::from(3) {
        assert!(started.elapsed() < Duration::from_secs(5), "the replaced body runs within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // An overload added under the same name is used without re-registering.
    db.exec("create function {s}.fresh(x text) returns text language sql immutable as $$ select x || '!' $$").await;
    let started = std::time::Instant::now();
    while !matches!(c.call_wait("com.test.fresh", vec![1.into()], Dict::new()).await, Message::Error { .. }) {
        assert!(started.elapsed() < Duration::from_secs(5), "the new overload is known within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.exec("drop function {s}.fresh(int); drop function {s}.fresh(text)").await;
    wait_unregistered(&router, "com.test.fresh", Duration::from_secs(5)).await;
    let (uri, _, _) = c.call_err("com.test.fresh", vec![1.into()], Dict::new()).await;
    assert_eq!(uri, "wamp.error.no_such_procedure");
    bridge.stop().await;
}
