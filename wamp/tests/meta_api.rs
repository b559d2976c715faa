//! The meta API through the in-process link: session, registration and subscription procedures,
//! their meta events, kill, and testaments.

mod common;

use common::*;
use wamp::dict;
use wamp::{Dict, Message, Payload, Value};

#[tokio::test]
async fn session_procedures() {
    let r = router();
    let mut a = Peer::join_as(&r, "alice", "anonymous").await;
    let b = Peer::join_as(&r, "bob", "anonymous").await;
    assert_eq!(result_arg(a.call_wait("wamp.session.count", vec![]).await), Value::from(2));
    let Value::List(ids) = result_arg(a.call_wait("wamp.session.list", vec![]).await) else { panic!() };
    assert!(ids.contains(&Value::from(a.id)) && ids.contains(&Value::from(b.id)));
    let filtered = a.call_wait("wamp.session.count", vec![Value::List(vec!["nobody".into()])]).await;
    assert_eq!(result_arg(filtered), Value::from(0));
    let Value::Dict(d) = result_arg(a.call_wait("wamp.session.get", vec![b.id.into()]).await) else { panic!() };
    assert_eq!((&d["session"], &d["authid"]), (&Value::from(b.id), &Value::from("bob")));
    assert_eq!(error_uri(&a.call_wait("wamp.session.get", vec![12345.into()]).await), "wamp.error.no_such_session");
    assert_eq!(error_uri(&a.call_wait("wamp.session.get", vec![]).await), "wamp.error.invalid_argument");
    assert_eq!(error_uri(&a.call_wait("wamp.session.nope", vec![]).await), "wamp.error.no_such_procedure");
}

#[tokio::test]
async fn kill_sends_goodbye_with_reason() {
    let r = router();
    let mut a = Peer::join(&r).await;
    let mut b = Peer::join_as(&r, "bob", "anonymous").await;
    let mut c = Peer::join_as(&r, "bob", "anonymous").await;
    assert_eq!(error_uri(&a.call_wait("wamp.session.kill", vec![a.id.into()]).await), "wamp.error.no_such_session");
    let kwargs = dict! {"reason" => "com.example.bye", "message" => "go away"};
    a.call("wamp.session.kill", Dict::new(), Payload::new(vec![b.id.into()], kwargs)).await;
    assert!(matches!(a.recv().await, Message::Result { .. }));
    let Message::Goodbye { reason, details } = b.recv().await else { panic!() };
    assert_eq!((reason.as_str(), &details["message"]), ("com.example.bye", &Value::from("go away")));
    let killed = result_arg(a.call_wait("wamp.session.kill_by_authid", vec!["bob".into()]).await);
    assert_eq!(killed, Value::List(vec![c.id.into()]), "b already left; c is killed");
    let Message::Goodbye { reason, .. } = c.recv().await else { panic!() };
    assert_eq!(reason, "wamp.close.killed");
    let bad = Payload::new(vec![1.into()], dict! {"reason" => "not a uri!"});
    a.call("wamp.session.kill", Dict::new(), bad).await;
    assert_eq!(error_uri(&a.recv().await), "wamp.error.invalid_uri");
    assert_eq!(result_arg(a.call_wait("wamp.session.kill_by_authrole", vec!["anonymous".into()]).await), Value::from(0));
}

#[tokio::test]
async fn join_and_leave_events() {
    let r = router();
    let mut watcher = Peer::join(&r).await;
    watcher.subscribe_ok("wamp.session.on_join", Dict::new()).await;
    watcher.subscribe_ok("wamp.session.on_leave", Dict::new()).await;
    let p = Peer::join_as(&r, "carol", "anonymous").await;
    let Message::Event { payload, .. } = watcher.recv().await else { panic!() };
    let details = payload.args.unwrap()[0].as_dict().unwrap().clone();
    assert_eq!((&details["session"], &details["authid"]), (&Value::from(p.id), &Value::from("carol")));
    let id = p.id;
    drop(p);
    let Message::Event { payload, .. } = watcher.recv().await else { panic!() };
    assert_eq!(payload.args.unwrap(), vec![Value::from(id), "carol".into(), "anonymous".into()]);
}

#[tokio::test]
async fn registration_procedures_and_events() {
    let r = router();
    let mut watcher = Peer::join(&r).await;
    for t in ["on_create", "on_register", "on_unregister", "on_delete"] {
        watcher.subscribe_ok(&format!("wamp.registration.{t}"), Dict::new()).await;
    }
    let mut callee = Peer::join(&r).await;
    let exact = callee.register_ok("com.example.p", Dict::new()).await;
    let prefix = callee.register_ok("com.example", dict! {"match" => "prefix"}).await;
    for _ in 0..4 {
        let _ = watcher.recv().await; // create+register twice
    }
    let list = result_arg(watcher.call_wait("wamp.registration.list", vec![]).await);
    let list = list.as_dict().unwrap();
    assert_eq!(list["exact"], Value::List(vec![exact.into()]));
    assert_eq!(list["prefix"], Value::List(vec![prefix.into()]));
    assert_eq!(list["wildcard"], Value::List(vec![]));
    assert_eq!(result_arg(watcher.call_wait("wamp.registration.lookup", vec!["com.example.p".into()]).await), Value::from(exact));
    let lookup_prefix = vec!["com.example".into(), dict! {"match" => "prefix"}.into()];
    assert_eq!(result_arg(watcher.call_wait("wamp.registration.lookup", lookup_prefix).await), Value::from(prefix));
    assert_eq!(result_arg(watcher.call_wait("wamp.registration.lookup", vec!["com.none".into()]).await), Value::Null);
    assert_eq!(result_arg(watcher.call_wait("wamp.registration.match", vec!["com.example.q".into()]).await), Value::from(prefix));
    let Value::Dict(d) = result_arg(watcher.call_wait("wamp.registration.get", vec![prefix.into()]).await) else { panic!() };
    assert_eq!((&d["uri"], &d["match"], &d["invoke"]), (&Value::from("com.example"), &Value::from("prefix"), &Value::from("single")));
    assert!(d["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(result_arg(watcher.call_wait("wamp.registration.list_callees", vec![exact.into()]).await), Value::List(vec![callee.id.into()]));
    assert_eq!(result_arg(watcher.call_wait("wamp.registration.count_callees", vec![exact.into()]).await), Value::from(1));
    assert_eq!(error_uri(&watcher.call_wait("wamp.registration.get", vec![999.into()]).await), "wamp.error.no_such_registration");
    let cid = callee.id;
    drop(callee);
    let mut events = Vec::new();
    for _ in 0..4 {
        let Message::Event { payload, .. } = watcher.recv().await else { panic!() };
        events.push(payload.args.unwrap());
    }
    assert!(events.iter().all(|a| a[0] == Value::from(cid)));
}

#[tokio::test]
async fn subscription_procedures_and_events() {
    let r = router();
    let mut watcher = Peer::join(&r).await;
    watcher.subscribe_ok("wamp.subscription.on_create", Dict::new()).await;
    let mut s = Peer::join(&r).await;
    let id = s.subscribe_ok("com.example.t", Dict::new()).await;
    let Message::Event { payload, .. } = watcher.recv().await else { panic!() };
    let args = payload.args.unwrap();
    assert_eq!(args[0], Value::from(s.id));
    assert_eq!(args[1].as_dict().unwrap()["uri"], Value::from("com.example.t"));
    let list = result_arg(watcher.call_wait("wamp.subscription.list", vec![]).await);
    assert!(list.as_dict().unwrap()["exact"].as_list().unwrap().contains(&Value::from(id)));
    assert_eq!(result_arg(watcher.call_wait("wamp.subscription.lookup", vec!["com.example.t".into()]).await), Value::from(id));
    assert_eq!(result_arg(watcher.call_wait("wamp.subscription.match", vec!["com.example.t".into()]).await), Value::List(vec![id.into()]));
    assert_eq!(result_arg(watcher.call_wait("wamp.subscription.match", vec!["com.none".into()]).await), Value::Null);
    assert_eq!(result_arg(watcher.call_wait("wamp.subscription.list_subscribers", vec![id.into()]).await), Value::List(vec![s.id.into()]));
    assert_eq!(result_arg(watcher.call_wait("wamp.subscription.count_subscribers", vec![id.into()]).await), Value::from(1));
    assert_eq!(error_uri(&watcher.call_wait("wamp.subscription.get", vec![999.into()]).await), "wamp.error.no_such_subscription");
}

#[tokio::test]
async fn testaments_are_published_on_leave_unless_flushed() {
    let r = router();
    let mut watcher = Peer::join(&r).await;
    watcher.subscribe_ok("com.example.gone", Dict::new()).await;
    let mut p = Peer::join(&r).await;
    let args = vec!["com.example.gone".into(), Value::List(vec!["bye".into()]), dict! {"who" => "p"}.into()];
    assert!(matches!(p.call_wait("wamp.session.add_testament", args.clone()).await, Message::Result { .. }));
    drop(p);
    let Message::Event { payload, .. } = watcher.recv().await else { panic!() };
    assert_eq!(payload.args, Some(vec![Value::from("bye")]));
    assert_eq!(payload.kwargs.unwrap()["who"], Value::from("p"));

    let mut q = Peer::join(&r).await;
    q.call_wait("wamp.session.add_testament", args).await;
    assert_eq!(result_arg(q.call_wait("wamp.session.flush_testaments", vec![]).await), Value::from(1));
    drop(q);
    tokio::task::yield_now().await;
    watcher.assert_idle();
}
