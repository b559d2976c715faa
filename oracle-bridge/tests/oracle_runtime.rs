//! Streaming, cancel and timeout, concurrency, and the catalog following DDL. Needs Oracle (see
//! `common`); prints `SKIPPED (no Oracle configured): <test>` otherwise.

mod common;

use std::time::{Duration, Instant};

use common::*;
use wamp::{dict, Dict, Message, Value};

const API: &str = r#"
create or replace package {o}.rt_api as
  function numbers(n number) return sys_refcursor;
  function slow(seconds number) return number;
  function ping return number;
end;
/
create or replace package body {o}.rt_api as
  function numbers(n number) return sys_refcursor is c sys_refcursor;
  begin open c for select level as n from dual connect by level <= numbers.n; return c; end;
  function slow(seconds number) return number is begin dbms_session.sleep(seconds); return seconds; end;
  function ping return number is begin return 1; end;
end;
/
"#;

async fn oracle_progressive_results_stream_a_large_cursor_in_batches() {
    let Some(env) = oracle_env("oracle_progressive_results_stream_a_large_cursor_in_batches") else { return };
    let db = TestDb::new(env, API, "RT_API");
    let router = router();
    let mut config = db.config("RT_API");
    config.stream_batch_rows = 1000;
    let bridge = start_bridge(&router, &config, Some("com.test.numbers")).await;
    let mut c = Peer::join(&router, "anonymous").await;
    let request = c.call("com.test.numbers", dict! {"receive_progress" => true}, vec![5500.into()], Dict::new()).await;
    let (mut progressive, mut total) = (0, 0);
    loop {
        match c.recv().await {
            Message::Result { request: r, details, payload } if r == request => {
                let Some(Value::List(rows)) = payload.args.and_then(|a| a.into_iter().next()) else { panic!("a batch of rows") };
                total += rows.len();
                if details.get("progress") == Some(&Value::Bool(true)) {
                    assert_eq!(rows.len(), 1000);
                    progressive += 1;
                } else {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((progressive, total), (5, 5500));
    let Value::List(all) = c.call_ok("com.test.numbers", vec![3.into()], Dict::new()).await else { panic!("rows") };
    assert_eq!(all, vec![Value::Dict(dict! {"n" => 1}), Value::Dict(dict! {"n" => 2}), Value::Dict(dict! {"n" => 3})]);
    bridge.stop().await;
}

async fn oracle_cancel_and_timeout_break_the_statement_and_keep_the_pool_healthy() {
    let Some(env) = oracle_env("oracle_cancel_and_timeout_break_the_statement_and_keep_the_pool_healthy") else { return };
    let db = TestDb::new(env, API, "RT_API");
    let router = router();
    let bridge = start_bridge(&router, &db.config("RT_API"), Some("com.test.slow")).await;
    let mut c = Peer::join(&router, "anonymous").await;
    let started = Instant::now();
    let request = c.call("com.test.slow", Dict::new(), vec![30.into()], Dict::new()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.link.send(Message::Cancel { request, options: dict! {"mode" => "kill"} }).await;
    loop {
        match c.recv().await {
            Message::Error { request: r, error, .. } if r == request => {
                assert_eq!(error, "wamp.error.canceled");
                break;
            }
            _ => continue,
        }
    }
    let timed = c.call("com.test.slow", dict! {"timeout" => 500}, vec![30.into()], Dict::new()).await;
    loop {
        match c.recv().await {
            Message::Error { request: r, error, .. } if r == timed => {
                assert_eq!(error, "wamp.error.canceled");
                break;
            }
            _ => continue,
        }
    }
    assert!(started.elapsed() < Duration::from_secs(20), "the statements were stopped, not waited for");
    // Both pooled sessions still work.
    for _ in 0..4 {
        assert_eq!(c.call_ok("com.test.ping", vec![], Dict::new()).await, Value::from(1));
    }
    bridge.stop().await;
    drop(db);
}

async fn oracle_two_hundred_concurrent_calls_over_a_pool_of_two() {
    let Some(env) = oracle_env("oracle_two_hundred_concurrent_calls_over_a_pool_of_two") else { return };
    let db = TestDb::new(env, API, "RT_API");
    let router = router();
    let bridge = start_bridge(&router, &db.config("RT_API"), Some("com.test.ping")).await;
    let mut c = Peer::join(&router, "anonymous").await;
    let mut requests = Vec::new();
    for _ in 0..200 {
        requests.push(c.call("com.test.ping", Dict::new(), vec![], Dict::new()).await);
    }
    let mut ok = 0;
    while ok < requests.len() {
        match c.recv().await {
            Message::Result { payload, .. } => {
                assert_eq!(payload.args, Some(vec![Value::from(1)]));
                ok += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    bridge.stop().await;
}

async fn oracle_subprograms_added_and_removed_while_running() {
    let Some(env) = oracle_env("oracle_subprograms_added_and_removed_while_running") else { return };
    let db = TestDb::new(env, API, "RT_API");
    let router = router();
    let bridge = start_bridge(&router, &db.config("RT_API"), Some("com.test.ping")).await;
    let mut c = Peer::join(&router, "anonymous").await;
    db.script(
        "create or replace package {o}.rt_api as function ping return number; function pong return number; end;\n/\n\
         create or replace package body {o}.rt_api as function ping return number is begin return 2; end; \
         function pong return number is begin return 3; end; end;\n/\n",
    );
    wait_registered(&router, "com.test.pong", true, Duration::from_secs(20)).await;
    wait_registered(&router, "com.test.numbers", false, Duration::from_secs(20)).await;
    // The recompiled body discarded package state for pooled sessions: ORA-04068 is retried once.
    assert_eq!(c.call_ok("com.test.ping", vec![], Dict::new()).await, Value::from(2));
    assert_eq!(c.call_ok("com.test.pong", vec![], Dict::new()).await, Value::from(3));
    bridge.stop().await;
}

oracle_suite!(oracle_runtime: oracle_progressive_results_stream_a_large_cursor_in_batches, oracle_cancel_and_timeout_break_the_statement_and_keep_the_pool_healthy, oracle_two_hundred_concurrent_calls_over_a_pool_of_two, oracle_subprograms_added_and_removed_while_running);
