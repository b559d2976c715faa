//! Events published inside the database reach WAMP subscribers on commit: in commit order, once
//! per consumer, through killed connections, with PUBLISH options passed through.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bridge::{EventPump, Outcome, PumpOptions};
use common::*;
use postgres_bridge::events::PgEvents;
use wamp::router::auth::{Identity, Trusted};
use wamp::{dict, Dict, Message, Value};

const SCHEMA: &str = r#"
create table {s}.employee (id serial primary key, name text not null);
create function {s}.hire(name text, topic text) returns int language plpgsql as $$
declare new_id int;
begin
  insert into {s}.employee (name) values (hire.name) returning id into new_id;
  perform wamp.publish(topic, jsonb_build_array(hire.name), jsonb_build_object('id', new_id));
  return new_id;
end $$;
create function {s}.hire_then_fail(name text, topic text) returns int language plpgsql as $$
begin
  perform {s}.hire(name, topic);
  raise exception 'com.test.error.nope: rolled back';
end $$;
"#;

/// A topic no other test uses.
fn topic(db: &TestDb, name: &str) -> String {
    format!("com.test.{}.{name}", db.schema)
}

/// The next EVENT: (args, kwargs, details).
async fn event(p: &mut Peer, within: Duration) -> (Vec<Value>, Dict, Dict) {
    loop {
        if let Message::Event { payload, details, .. } = p.recv_within(within).await {
            return (payload.args.unwrap_or_default(), payload.kwargs.unwrap_or_default(), details);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_after_commit_and_never_after_rollback() {
    let db = TestDb::new(SCHEMA).await;
    let router = router();
    let bridge = start_bridge(&router, &db.config(), Some("com.test.hire")).await;
    let mut sub = Peer::join(&router, "anonymous").await;
    let mut caller = Peer::join(&router, "anonymous").await;
    let t = topic(&db, "hired");
    sub.subscribe(&t).await;

    let id = caller.call_ok("com.test.hire", vec!["Ada".into(), t.clone().into()], Dict::new()).await;
    let (args, kwargs, details) = event(&mut sub, Duration::from_secs(5)).await;
    assert_eq!((args, kwargs), (vec![Value::from("Ada")], dict! {"id" => id}));
    assert!(details.get("_event_id").and_then(|v| v.as_i64()).is_some_and(|i| i > 0), "event id in details: {details:?}");

    let (uri, _, _) = caller.call_err("com.test.hire_then_fail", vec!["Bob".into(), t.clone().into()], Dict::new()).await;
    assert_eq!(uri, "com.test.error.nope");
    let sql = format!("begin; select wamp.publish('{t}', '[\"rolled back\"]'); rollback;");
    db.client.batch_execute(&sql).await.unwrap();
    sub.assert_silent(Duration::from_millis(1500)).await;

    // Any transaction may publish, not only bridged calls.
    db.client.execute("select wamp.publish($1, '[\"direct\"]'::jsonb)", &[&t]).await.unwrap();
    let (args, _, _) = event(&mut sub, Duration::from_secs(5)).await;
    assert_eq!(args, vec![Value::from("direct")]);
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_back_later_commits_and_nothing_is_skipped() {
    let db = TestDb::new("").await;
    let router = router();
    let bridge = start_bridge(&router, &db.config(), None).await;
    let mut sub = Peer::join(&router, "anonymous").await;
    let t = topic(&db, "order");
    sub.subscribe(&t).await;
    // A takes its transaction id (and an earlier event id) first but commits last.
    let a = pg().await;
    a.batch_execute(&format!("begin; select wamp.publish('{t}', '[\"A\"]')")).await.unwrap();
    db.client.execute("select wamp.publish($1, '[\"B\"]'::jsonb)", &[&t]).await.unwrap();
    sub.assert_silent(Duration::from_millis(1500)).await;
    a.batch_execute("commit").await.unwrap();
    let (first, _, d1) = event(&mut sub, Duration::from_secs(5)).await;
    let (second, _, d2) = event(&mut sub, Duration::from_secs(5)).await;
    assert_eq!((first, second), (vec![Value::from("A")], vec![Value::from("B")]));
    assert_ne!(d1["_event_id"], d2["_event_id"]);
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_from_concurrent_writers_arrive_once_and_in_order() {
    let db = TestDb::new("").await;
    let router = router();
    let bridge = start_bridge(&router, &db.config(), None).await;
    let mut sub = Peer::join(&router, "anonymous").await;
    let t = topic(&db, "seq");
    sub.subscribe(&t).await;
    let writers: Vec<_> = (0..4i64)
        .map(|w| {
            let t = t.clone();
            tokio::spawn(async move {
                let c = pg().await;
                for seq in 0..250i64 {
                    c.execute("select wamp.publish($1, jsonb_build_array($2::int8, $3::int8))", &[&t, &w, &seq]).await.unwrap();
                }
            })
        })
        .collect();
    let mut next = [0i64; 4];
    let mut ids = HashSet::new();
    for _ in 0..1000 {
        let (args, _, details) = event(&mut sub, Duration::from_secs(20)).await;
        let (w, seq) = (args[0].as_i64().unwrap() as usize, args[1].as_i64().unwrap());
        assert_eq!(seq, next[w], "writer {w}'s events in its commit order");
        next[w] += 1;
        assert!(ids.insert(details["_event_id"].as_i64().unwrap()), "duplicate event");
    }
    for w in writers {
        w.await.unwrap();
    }
    sub.assert_silent(Duration::from_millis(1000)).await;
    assert_eq!(next, [250; 4]);
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_lose_nothing_and_duplicate_nothing() {
    let db = TestDb::new(SCHEMA).await;
    let router = router();
    let mut config = db.config();
    config.batch_size = 20;
    let bridge = start_bridge(&router, &config, Some("com.test.hire")).await;
    let mut states = bridge.watch();
    let observer = tokio::spawn(async move {
        let mut seen = Vec::new();
        while states.changed().await.is_ok() {
            let s = *states.borrow_and_update();
            seen.push(s);
            if s == bridge::BridgeState::Stopped {
                break;
            }
        }
        seen
    });
    let mut sub = Peer::join(&router, "anonymous").await;
    let t = topic(&db, "killed");
    sub.subscribe(&t).await;
    let writer = {
        let t = t.clone();
        tokio::spawn(async move {
            let c = pg().await;
            for seq in 0..1000i64 {
                c.execute("select wamp.publish($1, jsonb_build_array($2::int8))", &[&t, &seq]).await.unwrap();
            }
        })
    };
    let app = format!("wamp-bridge:{}:%", db.consumer);
    let killer = tokio::spawn(async move {
        let c = pg().await;
        let mut killed = 0i64;
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let row = c
                .query_one("select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name like $1", &[&app])
                .await
                .unwrap();
            killed += row.get::<_, i64>(0);
        }
        killed
    });
    for expected in 0..1000i64 {
        let (args, _, _) = event(&mut sub, Duration::from_secs(30)).await;
        assert_eq!(args, vec![Value::from(expected)], "in order, none lost, none repeated");
    }
    writer.await.unwrap();
    let killed = killer.await.unwrap();
    assert!(killed >= 8, "the bridge's connections were killed {killed} times");
    sub.assert_silent(Duration::from_millis(1500)).await;
    assert!(bridge.wait_connected(Duration::from_secs(15)).await, "reconnected");
    // Calls work again too (a killed pooled connection is replaced).
    let mut caller = Peer::join(&router, "anonymous").await;
    let mut tries = 0;
    loop {
        match caller.call_wait("com.test.hire", vec!["Eve".into(), t.clone().into()], Dict::new()).await {
            Message::Result { .. } => break,
            other => {
                tries += 1;
                assert!(tries < 5, "calls do not recover: {other:?}");
            }
        }
    }
    let (args, _, _) = event(&mut sub, Duration::from_secs(10)).await;
    assert_eq!(args, vec![Value::from("Eve")]);
    bridge.stop().await;
    let seen = observer.await.unwrap();
    assert!(seen.contains(&bridge::BridgeState::Reconnecting), "the state reported reconnecting: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_consumer_gets_every_event_and_consumed_events_are_purged() {
    let db = TestDb::new("").await;
    let other_consumer = format!("{}_second", db.consumer);
    let t = topic(&db, "shared");
    let (r1, r2) = (router(), router());
    let b1 = start_bridge(&r1, &db.config(), None).await;
    let mut c2 = db.config();
    c2.consumer = other_consumer.clone();
    let b2 = start_bridge(&r2, &c2, None).await;
    let mut s1 = Peer::join(&r1, "anonymous").await;
    let mut s2 = Peer::join(&r2, "anonymous").await;
    s1.subscribe(&t).await;
    s2.subscribe(&t).await;
    for i in 0..50i64 {
        db.client.execute("select wamp.publish($1, jsonb_build_array($2::int8))", &[&t, &i]).await.unwrap();
    }
    for s in [&mut s1, &mut s2] {
        for i in 0..50i64 {
            assert_eq!(event(s, Duration::from_secs(10)).await.0, vec![Value::from(i)]);
        }
    }
    b1.stop().await;
    b2.stop().await;
    // A purge deletes every event at or below the slowest consumer's position (taken before it;
    // positions only move forward, and no event can appear below the horizon).
    let left = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&dsn(), postgres::NoTls).unwrap();
        let min = c.query_one("select c.last_xid::text, c.last_id from wamp.consumer c order by c.last_xid, c.last_id limit 1", &[]).unwrap();
        let (xid, id): (String, i64) = (min.get(0), min.get(1));
        let mut q = PgEvents::new(dsn().parse().unwrap(), "wamp-bridge-test:purge", format!("{other_consumer}_purger"));
        bridge::EventQueue::purge(&mut q, Duration::from_secs(3600)).unwrap();
        drop(q);
        for name in [other_consumer.clone(), format!("{other_consumer}_purger")] {
            c.execute("delete from wamp.consumer where name = $1", &[&name]).unwrap();
        }
        let left = c.query_one("select count(*) from wamp.event where (xid, id) <= ($1::text::xid8, $2)", &[&xid, &id]).unwrap();
        left.get::<_, i64>(0)
    })
    .await
    .unwrap();
    assert_eq!(left, 0, "events every consumer has are deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_options_pass_through() {
    let db = TestDb::new("").await;
    let router = router();
    let bridge = start_bridge(&router, &db.config(), None).await;
    let mut anon = Peer::join(&router, "anonymous").await;
    let mut hidden = Peer::join(&router, "hidden").await;
    let t = topic(&db, "opts");
    anon.subscribe(&t).await;
    hidden.subscribe(&t).await;
    let only_hidden = r#"{"eligible_authrole": ["hidden"], "retain": true}"#;
    db.client.execute("select wamp.publish($1, '[1]', '{}', $2::text::jsonb)", &[&t, &only_hidden]).await.unwrap();
    let (args, _, _) = event(&mut hidden, Duration::from_secs(5)).await;
    assert_eq!(args, vec![Value::from(1)]);
    anon.assert_silent(Duration::from_millis(800)).await;
    // Retained: a late subscriber asking for it gets it.
    let mut late = Peer::join(&router, "hidden").await;
    let request = late.req();
    late.link.send(Message::Subscribe { request, options: dict! {"get_retained" => true}, topic: t.clone() }).await;
    assert!(matches!(late.recv().await, Message::Subscribed { .. }));
    let (args, _, details) = event(&mut late, Duration::from_secs(5)).await;
    assert_eq!((args, details.get("retained")), (vec![Value::from(1)], Some(&Value::from(true))));
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pump_can_be_driven_one_step_at_a_time() {
    let db = TestDb::new("").await;
    let router = router();
    let t = topic(&db, "steps");
    let identity = Identity {
        authid: "pump".into(),
        authrole: "bridge".into(),
        authmethod: "trusted".into(),
        authprovider: "test".into(),
        authextra: Dict::new(),
        realm: None,
    };
    let mut link = router.connect_local("pump", 64, Arc::new(Trusted(identity)));
    link.send(Message::Hello { realm: "realm1".into(), details: dict! {"roles" => dict! {"publisher" => Dict::new()}} }).await;
    assert!(matches!(link.recv().await, Some(Message::Welcome { .. })));
    let queue = PgEvents::new(dsn().parse().unwrap(), "wamp-bridge-test:steps", db.consumer.clone());
    let options = PumpOptions {
        poll_interval: Duration::from_millis(100),
        batch_size: 2,
        retention: Duration::from_secs(3600),
        purge_every: Duration::from_secs(3600),
    };
    let mut pump = EventPump::new(queue, link, options);
    // The first steps register the consumer at the current horizon and take whatever other
    // tests publish meanwhile; drive until the queue is empty.
    while pump.try_execute_task().await.unwrap() != Outcome::Empty {}
    let mut sub = Peer::join(&router, "anonymous").await;
    sub.subscribe(&t).await;
    for i in 0..3i64 {
        db.client.execute("select wamp.publish($1, jsonb_build_array($2::int8))", &[&t, &i]).await.unwrap();
    }
    let mut received = Vec::new();
    let mut steps = 0;
    while received.len() < 3 {
        steps += 1;
        assert!(steps < 200, "three events within 200 steps");
        match pump.try_execute_task().await.unwrap() {
            Outcome::Done(n) => assert!((1..=2).contains(&n), "batches of at most two, got {n}"),
            Outcome::Empty => tokio::time::sleep(Duration::from_millis(20)).await,
        }
        while let Some(m) = sub.link.try_recv() {
            if let Message::Event { payload, .. } = m {
                received.push(payload.args.unwrap()[0].clone());
            }
        }
    }
    assert_eq!(received, vec![Value::from(0), Value::from(1), Value::from(2)]);
    bridge::blocking::drop_blocking(pump).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_row_created_ahead_replays_events_published_before_the_first_start() {
    // The README's recipe: a consumer row written before the bridge first starts is kept (the
    // bridge registers new consumers with `on conflict do nothing`) and read from. Here the row
    // starts at this moment, not at '0', so other tests' leftovers don't matter; and it is written
    // before the events, as the recipe says: written after them, another test's bridge could purge
    // them in between (the purge goes by the slowest consumer on record).
    let db = TestDb::new("").await;
    let t = topic(&db, "early");
    let config = db.config();
    tokio::task::spawn_blocking(|| {
        let mut c = postgres::Client::connect(&dsn(), postgres::NoTls).unwrap();
        postgres_bridge::install::install(&mut c).unwrap();
    })
    .await
    .unwrap();
    // Events of later transactions have larger xids, so they all sort after this position.
    db.client
        .execute("insert into wamp.consumer (name, last_xid, last_id) values ($1, pg_current_xact_id(), 0)", &[&db.consumer])
        .await
        .unwrap();
    for i in 0..3i64 {
        db.client.execute("select wamp.publish($1, jsonb_build_array($2::int8))", &[&t, &i]).await.unwrap();
    }
    let router = router();
    let mut sub = Peer::join(&router, "anonymous").await;
    sub.subscribe(&t).await;
    let bridge = start_bridge(&router, &config, None).await;
    for i in 0..3i64 {
        assert_eq!(event(&mut sub, Duration::from_secs(10)).await.0, vec![Value::from(i)], "published before the start");
    }
    bridge.stop().await;
}
