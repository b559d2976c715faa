//! Advanced profile through the in-process link: progressive results, canceling, timeouts,
//! shared and pattern-based registrations, caller disclosure, and the broker's advanced options.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use wamp::dict;
use wamp::router::auth::Anonymous;
use wamp::{Dict, Message, Payload, Value};

async fn invocation(p: &mut Peer) -> (wamp::RequestId, Dict) {
    match p.recv().await {
        Message::Invocation { request, details, .. } => (request, details),
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

#[tokio::test]
async fn progressive_results_reach_a_caller_that_asked() {
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.stream", Dict::new()).await;
    caller.call("com.example.stream", dict! {"receive_progress" => true}, Payload::default()).await;
    let (inv, details) = invocation(&mut callee).await;
    assert_eq!(details["receive_progress"], Value::from(true));
    for i in 0..3 {
        let options = dict! {"progress" => true};
        callee.send(Message::Yield { request: inv, options, payload: Payload::args(vec![i.into()]) }).await;
    }
    callee.send(Message::Yield { request: inv, options: Dict::new(), payload: Payload::args(vec!["done".into()]) }).await;
    for i in 0..3 {
        let Message::Result { details, payload, .. } = caller.recv().await else { panic!() };
        assert_eq!(details["progress"], Value::from(true));
        assert_eq!(payload.args, Some(vec![Value::from(i)]));
    }
    let Message::Result { details, payload, .. } = caller.recv().await else { panic!() };
    assert!(!details.contains_key("progress"));
    assert_eq!(payload.args, Some(vec![Value::from("done")]));
}

#[tokio::test]
async fn progressive_yields_to_a_caller_that_did_not_ask_are_dropped() {
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.stream", Dict::new()).await;
    caller.call("com.example.stream", Dict::new(), Payload::default()).await;
    let (inv, details) = invocation(&mut callee).await;
    assert!(!details.contains_key("receive_progress"));
    callee.send(Message::Yield { request: inv, options: dict! {"progress" => true}, payload: Payload::default() }).await;
    callee.send(Message::Yield { request: inv, options: Dict::new(), payload: Payload::args(vec![1.into()]) }).await;
    let Message::Result { details, payload, .. } = caller.recv().await else { panic!() };
    assert!(details.is_empty());
    assert_eq!(payload.args, Some(vec![Value::from(1)]));
    caller.assert_idle();
}

#[tokio::test]
async fn cancel_modes() {
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.slow", Dict::new()).await;

    // killnowait (the default): ERROR now, INTERRUPT to the callee, late YIELD dropped.
    let req = caller.call("com.example.slow", Dict::new(), Payload::default()).await;
    let (inv, _) = invocation(&mut callee).await;
    caller.send(Message::Cancel { request: req, options: Dict::new() }).await;
    assert_eq!(error_uri(&caller.recv().await), "wamp.error.canceled");
    let Message::Interrupt { request, options } = callee.recv().await else { panic!() };
    assert_eq!((request, &options["mode"]), (inv, &Value::from("killnowait")));
    callee.send(Message::Yield { request: inv, options: Dict::new(), payload: Payload::default() }).await;
    caller.assert_idle();

    // skip: ERROR now, no INTERRUPT.
    let req = caller.call("com.example.slow", Dict::new(), Payload::default()).await;
    let (inv, _) = invocation(&mut callee).await;
    caller.send(Message::Cancel { request: req, options: dict! {"mode" => "skip"} }).await;
    assert_eq!(error_uri(&caller.recv().await), "wamp.error.canceled");
    callee.assert_idle();
    callee.send(Message::Yield { request: inv, options: Dict::new(), payload: Payload::default() }).await;
    caller.assert_idle();

    // kill: INTERRUPT, and the caller gets whatever the callee answers.
    let req = caller.call("com.example.slow", Dict::new(), Payload::default()).await;
    let (inv, _) = invocation(&mut callee).await;
    caller.send(Message::Cancel { request: req, options: dict! {"mode" => "kill"} }).await;
    let Message::Interrupt { options, .. } = callee.recv().await else { panic!() };
    assert_eq!(options["mode"], Value::from("kill"));
    caller.assert_idle();
    callee
        .send(Message::Error {
            request_type: 68,
            request: inv,
            details: Dict::new(),
            error: "wamp.error.canceled".into(),
            payload: Payload::default(),
        })
        .await;
    assert_eq!(error_uri(&caller.recv().await), "wamp.error.canceled");

    // Cancel of an unknown request: ignored, session stays usable.
    caller.send(Message::Cancel { request: wamp::RequestId(424242), options: Dict::new() }).await;
    caller.assert_idle();
    assert_eq!(error_uri(&caller.call_wait("com.example.none", vec![]).await), "wamp.error.no_such_procedure");

    // An invalid mode is an error reply to the CANCEL.
    let req = caller.call("com.example.slow", Dict::new(), Payload::default()).await;
    let _ = invocation(&mut callee).await;
    caller.send(Message::Cancel { request: req, options: dict! {"mode" => "explode"} }).await;
    assert!(matches!(caller.recv().await, Message::Error { request_type: 49, ref error, .. } if error == "wamp.error.invalid_argument"));
}

#[tokio::test]
async fn cancel_to_a_callee_without_canceling_support_is_skip() {
    let r = router();
    let anon = Arc::new(Anonymous { role: "anonymous".into() });
    let mut callee = Peer::join_with(&r, Dict::new(), anon).await; // announces no features
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.slow", Dict::new()).await;
    let req = caller.call("com.example.slow", Dict::new(), Payload::default()).await;
    let _ = invocation(&mut callee).await;
    caller.send(Message::Cancel { request: req, options: dict! {"mode" => "kill"} }).await;
    assert_eq!(error_uri(&caller.recv().await), "wamp.error.canceled");
    callee.assert_idle();
}

#[tokio::test(start_paused = true)]
async fn router_enforces_call_timeouts_even_when_the_callee_ignores_interrupt() {
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.hang", Dict::new()).await;
    let req = caller.call("com.example.hang", dict! {"timeout" => 200}, Payload::default()).await;
    let (inv, details) = invocation(&mut callee).await;
    assert!(!details.contains_key("timeout"), "the router enforces the timeout itself");
    tokio::time::sleep(Duration::from_millis(150)).await;
    caller.assert_idle();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m = caller.recv().await;
    assert_eq!(error_uri(&m), "wamp.error.canceled");
    let Message::Error { request, details, .. } = m else { unreachable!() };
    assert_eq!((request, &details["reason"]), (req, &Value::from("wamp.error.timeout")));
    let Message::Interrupt { request, options } = callee.recv().await else { panic!() };
    assert_eq!((request, &options["reason"]), (inv, &Value::from("wamp.error.timeout")));
    // The callee ignores the INTERRUPT and answers late: dropped.
    callee.send(Message::Yield { request: inv, options: Dict::new(), payload: Payload::default() }).await;
    caller.assert_idle();
    assert_eq!(r.stats("realm1").unwrap().pending_calls, 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_answered_in_time_is_not_timed_out() {
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.quick", Dict::new()).await;
    caller.call("com.example.quick", dict! {"timeout" => 100}, Payload::default()).await;
    let (inv, _) = invocation(&mut callee).await;
    callee.send(Message::Yield { request: inv, options: Dict::new(), payload: Payload::default() }).await;
    assert!(matches!(caller.recv().await, Message::Result { .. }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    caller.assert_idle();
    callee.assert_idle();
}

#[tokio::test]
async fn caller_disclosure_follows_the_role_permission() {
    // The default anonymous role discloses callers.
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.who", Dict::new()).await;
    caller.call("com.example.who", Dict::new(), Payload::default()).await;
    let (_, details) = invocation(&mut callee).await;
    assert_eq!(details["caller"], Value::from(caller.id));
    assert_eq!(details["caller_authrole"], Value::from("anonymous"));
    assert!(details.contains_key("caller_authid"));

    // A role without disclose_caller is not disclosed, unless it asks with disclose_me.
    let r = router_with_limited_role();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join_as(&r, "lim", "limited").await;
    callee.register_ok("com.allowed.who", Dict::new()).await;
    caller.call("com.allowed.who", Dict::new(), Payload::default()).await;
    let (_, details) = invocation(&mut callee).await;
    assert!(!details.contains_key("caller"));
    caller.call("com.allowed.who", dict! {"disclose_me" => true}, Payload::default()).await;
    let (_, details) = invocation(&mut callee).await;
    assert_eq!(details["caller_authid"], Value::from("lim"));
}

#[tokio::test]
async fn shared_registration_policies() {
    let r = router();
    let mut a = Peer::join(&r).await;
    let mut b = Peer::join(&r).await;
    let mut c = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    let rr = dict! {"invoke" => "roundrobin"};
    let id = a.register_ok("com.example.rr", rr.clone()).await;
    assert_eq!(b.register_ok("com.example.rr", rr.clone()).await, id, "same registration shared");
    assert_eq!(
        error_uri(&c.register("com.example.rr", dict! {"invoke" => "random"}).await),
        "wamp.error.procedure_exists_with_different_invocation_policy"
    );
    assert_eq!(
        error_uri(&c.register("com.example.rr", Dict::new()).await),
        "wamp.error.procedure_exists_with_different_invocation_policy"
    );
    assert_eq!(error_uri(&a.register("com.example.rr", rr).await), "wamp.error.procedure_already_exists");
    assert_eq!(error_uri(&c.register("com.example.bad", dict! {"invoke" => "all"}).await), "wamp.error.invalid_argument");

    // Round robin alternates a, b, a, b.
    for expect_a in [true, false, true, false] {
        caller.call("com.example.rr", Dict::new(), Payload::default()).await;
        let target = if expect_a { &mut a } else { &mut b };
        let (inv, _) = invocation(target).await;
        target.send(Message::Yield { request: inv, options: Dict::new(), payload: Payload::default() }).await;
        assert!(matches!(caller.recv().await, Message::Result { .. }));
    }

    // first / last.
    let first = dict! {"invoke" => "first"};
    a.register_ok("com.example.first", first.clone()).await;
    b.register_ok("com.example.first", first).await;
    caller.call("com.example.first", Dict::new(), Payload::default()).await;
    let _ = invocation(&mut a).await;
    let last = dict! {"invoke" => "last"};
    a.register_ok("com.example.last", last.clone()).await;
    b.register_ok("com.example.last", last).await;
    caller.call("com.example.last", Dict::new(), Payload::default()).await;
    let _ = invocation(&mut b).await;

    // random reaches only registered callees.
    let random = dict! {"invoke" => "random"};
    a.register_ok("com.example.random", random.clone()).await;
    b.register_ok("com.example.random", random).await;
    let mut seen = [0, 0];
    for _ in 0..40 {
        caller.call("com.example.random", Dict::new(), Payload::default()).await;
        tokio::task::yield_now().await;
        if a.link.try_recv().is_some() {
            seen[0] += 1;
        }
        if b.link.try_recv().is_some() {
            seen[1] += 1;
        }
    }
    assert_eq!(seen[0] + seen[1], 40);
    assert!(seen[0] > 0 && seen[1] > 0, "both callees used: {seen:?}");
    c.assert_idle();
}

#[tokio::test]
async fn pattern_registrations_follow_precedence_and_name_the_procedure() {
    let r = router();
    let mut exact = Peer::join(&r).await;
    let mut prefix = Peer::join(&r).await;
    let mut wildcard = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    exact.register_ok("com.example.a.get", Dict::new()).await;
    prefix.register_ok("com.example.a", dict! {"match" => "prefix"}).await;
    wildcard.register_ok("com.example..get", dict! {"match" => "wildcard"}).await;

    caller.call("com.example.a.get", Dict::new(), Payload::default()).await;
    let (_, d) = invocation(&mut exact).await;
    assert!(!d.contains_key("procedure"));
    caller.call("com.example.a.put", Dict::new(), Payload::default()).await;
    let (_, d) = invocation(&mut prefix).await;
    assert_eq!(d["procedure"], Value::from("com.example.a.put"));
    caller.call("com.example.b.get", Dict::new(), Payload::default()).await;
    let (_, d) = invocation(&mut wildcard).await;
    assert_eq!(d["procedure"], Value::from("com.example.b.get"));
    assert_eq!(error_uri(&caller.call_wait("com.other", vec![]).await), "wamp.error.no_such_procedure");
    assert_eq!(error_uri(&caller.register("com.example", dict! {"match" => "regex"}).await), "wamp.error.invalid_argument");
}

#[tokio::test]
async fn pattern_subscriptions_get_one_event_each_with_the_topic() {
    let r = router();
    let mut sub = Peer::join(&r).await;
    let mut publ = Peer::join(&r).await;
    let exact = sub.subscribe_ok("com.example.a.b", Dict::new()).await;
    let prefix = sub.subscribe_ok("com.example", dict! {"match" => "prefix"}).await;
    let wild = sub.subscribe_ok("com...b", dict! {"match" => "wildcard"}).await;
    publ.publish("com.example.a.b", Dict::new(), vec![]).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let Message::Event { subscription, details, .. } = sub.recv().await else { panic!() };
        got.push((subscription.0, details.get("topic").cloned()));
    }
    got.sort_by_key(|(s, _)| *s);
    let topic = Some(Value::from("com.example.a.b"));
    let mut want = vec![(exact, None), (prefix, topic.clone()), (wild, topic)];
    want.sort_by_key(|(s, _)| *s);
    assert_eq!(got, want);
    sub.assert_idle();
}

#[tokio::test]
async fn publisher_exclusion_and_identification() {
    let r = router();
    let mut p = Peer::join(&r).await;
    p.subscribe_ok("com.example.me", Dict::new()).await;
    p.publish("com.example.me", Dict::new(), vec![]).await;
    p.assert_idle();
    p.publish("com.example.me", dict! {"exclude_me" => false}, vec![]).await;
    let Message::Event { details, .. } = p.recv().await else { panic!() };
    assert_eq!(details["publisher"], Value::from(p.id), "anonymous role discloses publishers");

    let r = router_with_limited_role();
    let mut sub = Peer::join(&r).await;
    sub.subscribe_ok("com.example.x", Dict::new()).await;
    // The limited role may not publish at all.
    let mut lim = Peer::join_as(&r, "lim", "limited").await;
    lim.publish("com.example.x", dict! {"acknowledge" => true}, vec![]).await;
    assert_eq!(error_uri(&lim.recv().await), "wamp.error.not_authorized");
    sub.assert_idle();
}

#[tokio::test]
async fn black_and_white_listing() {
    let r = router();
    let mut a = Peer::join_as(&r, "alice", "anonymous").await;
    let mut b = Peer::join_as(&r, "bob", "anonymous").await;
    let mut publ = Peer::join(&r).await;
    a.subscribe_ok("com.example.t", Dict::new()).await;
    b.subscribe_ok("com.example.t", Dict::new()).await;
    let cases: Vec<(Dict, bool, bool)> = vec![
        (dict! {"exclude" => vec![Value::from(a.id)]}, false, true),
        (dict! {"eligible" => vec![Value::from(a.id)]}, true, false),
        (dict! {"exclude_authid" => vec![Value::from("bob")]}, true, false),
        (dict! {"eligible_authid" => vec![Value::from("bob")]}, false, true),
        (dict! {"exclude_authrole" => vec![Value::from("anonymous")]}, false, false),
        (dict! {"eligible_authrole" => vec![Value::from("anonymous")]}, true, true),
    ];
    for (options, to_a, to_b) in cases {
        publ.publish("com.example.t", options.clone(), vec![]).await;
        for (peer, expect) in [(&mut a, to_a), (&mut b, to_b)] {
            tokio::task::yield_now().await;
            assert_eq!(peer.link.try_recv().is_some(), expect, "{options:?}");
        }
    }
}

#[tokio::test]
async fn retained_events() {
    let r = router();
    let mut publ = Peer::join(&r).await;
    let mut sub = Peer::join(&r).await;
    // Nothing retained yet: no event.
    sub.subscribe_ok("com.example.state", dict! {"get_retained" => true}).await;
    sub.assert_idle();
    publ.publish("com.example.state", dict! {"retain" => true}, vec![1.into()]).await;
    let _ = sub.recv().await;
    publ.publish("com.example.state", dict! {"retain" => true}, vec![2.into()]).await;
    let _ = sub.recv().await;
    let mut late = Peer::join(&r).await;
    late.subscribe_ok("com.example.state", dict! {"get_retained" => true}).await;
    let Message::Event { details, payload, .. } = late.recv().await else { panic!() };
    assert_eq!(details["retained"], Value::from(true));
    assert_eq!(payload.args, Some(vec![Value::from(2)]), "only the last event is kept");
    late.assert_idle();
    // Without get_retained, nothing.
    let mut plain = Peer::join(&r).await;
    plain.subscribe_ok("com.example.state", Dict::new()).await;
    plain.assert_idle();
}

#[tokio::test]
async fn one_event_encoding_is_shared_by_all_subscribers() {
    // The EVENT a fan-out sends is one shared Outgoing per subscription: encoded bytes are cached
    // on it, so every subscriber's transport writes the same buffer.
    let r = router();
    let mut publ = Peer::join(&r).await;
    let mut subs = Vec::new();
    for _ in 0..3 {
        let mut s = Peer::join(&r).await;
        s.subscribe_ok("com.example.fan", Dict::new()).await;
        subs.push(s);
    }
    publ.publish("com.example.fan", Dict::new(), vec![Value::Bytes(vec![7; 1024])]).await;
    let mut ids = Vec::new();
    for s in &mut subs {
        let Message::Event { subscription, publication, .. } = s.recv().await else { panic!() };
        ids.push((subscription, publication));
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "same subscription and publication id for all: {ids:?}");
}

#[tokio::test]
async fn authorization_is_enforced() {
    let r = router_with_limited_role();
    let mut owner = Peer::join(&r).await;
    owner.register_ok("com.allowed.x", Dict::new()).await;
    owner.register_ok("com.denied.x", Dict::new()).await;
    let mut lim = Peer::join_as(&r, "lim", "limited").await;
    // allowed call
    lim.call("com.allowed.x", Dict::new(), Payload::default()).await;
    assert!(matches!(owner.recv().await, Message::Invocation { .. }));
    // denied call, register, subscribe, meta call
    assert_eq!(error_uri(&lim.call_wait("com.denied.x", vec![]).await), "wamp.error.not_authorized");
    assert_eq!(error_uri(&lim.register("com.allowed.y", Dict::new()).await), "wamp.error.not_authorized");
    let request = lim.req();
    lim.send(Message::Subscribe { request, options: Dict::new(), topic: "com.allowed.t".into() }).await;
    assert_eq!(error_uri(&lim.recv().await), "wamp.error.not_authorized");
    assert_eq!(error_uri(&lim.call_wait("wamp.session.count", vec![]).await), "wamp.error.not_authorized");
}
