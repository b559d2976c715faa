//! Basic profile routing through the in-process link: sessions, RPC, PubSub, errors, cleanup.

mod common;

use std::sync::Arc;

use common::*;
use wamp::dict;
use wamp::router::auth::Anonymous;
use wamp::router::{Flow, RealmStats};
use wamp::{Dict, Message, Payload, RequestId, Value};

#[tokio::test]
async fn welcome_announces_roles_and_identity() {
    let r = router();
    let mut link = r.connect_local("t", 8, Arc::new(Anonymous { role: "anonymous".into() }));
    link.send(Message::Hello { realm: "realm1".into(), details: Dict::new() }).await;
    let Some(Message::Welcome { session, details }) = link.recv().await else { panic!("no WELCOME") };
    assert!((1..=1u64 << 53).contains(&session.0));
    assert_eq!(details["authrole"], Value::from("anonymous"));
    assert_eq!(details["authmethod"], Value::from("anonymous"));
    let roles = details["roles"].as_dict().expect("roles dict");
    assert!(roles.contains_key("broker") && roles.contains_key("dealer"));
    assert_eq!(r.session_count(), 1);
}

#[tokio::test]
async fn unknown_realm_is_aborted() {
    let r = router();
    let mut link = r.connect_local("t", 8, Arc::new(Anonymous { role: "anonymous".into() }));
    let flow = link.send(Message::Hello { realm: "nope".into(), details: Dict::new() }).await;
    let Flow::Close(Some(Message::Abort { reason, .. })) = flow else { panic!("expected ABORT, got {flow:?}") };
    assert_eq!(reason, "wamp.error.no_such_realm");
}

#[tokio::test]
async fn message_before_hello_is_a_protocol_violation() {
    let r = router();
    let mut link = r.connect_local("t", 8, Arc::new(Anonymous { role: "anonymous".into() }));
    let flow = link.send(Message::Goodbye { details: Dict::new(), reason: "wamp.close.normal".into() }).await;
    let Flow::Close(Some(Message::Abort { reason, .. })) = flow else { panic!("expected ABORT, got {flow:?}") };
    assert_eq!(reason, "wamp.error.protocol_violation");
}

#[tokio::test]
async fn second_hello_is_a_protocol_violation_and_the_session_leaves() {
    let r = router();
    let mut p = Peer::join(&r).await;
    let flow = p.send(Message::Hello { realm: "realm1".into(), details: Dict::new() }).await;
    assert!(matches!(flow, Flow::Close(Some(Message::Abort { ref reason, .. })) if reason == "wamp.error.protocol_violation"));
    assert_eq!(r.session_count(), 0);
}

#[tokio::test]
async fn goodbye_is_answered() {
    let r = router();
    let mut p = Peer::join(&r).await;
    let flow = p.send(Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() }).await;
    assert!(matches!(flow, Flow::Close(Some(Message::Goodbye { ref reason, .. })) if reason == "wamp.close.goodbye_and_out"));
    assert_eq!(r.session_count(), 0);
}

#[tokio::test]
async fn rpc_round_trip_with_args_kwargs_and_errors() {
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    let reg = callee.register_ok("com.example.add", Dict::new()).await;

    let req = caller.call("com.example.add", Dict::new(), Payload::new(vec![2.into(), 3.into()], dict! {"k" => "v"})).await;
    let Message::Invocation { request, registration, payload, details } = callee.recv().await else { panic!() };
    assert_eq!(registration.0, reg);
    assert_eq!(payload, Payload::new(vec![2.into(), 3.into()], dict! {"k" => "v"}));
    assert!(!details.contains_key("procedure"), "exact registrations carry no procedure detail");
    callee.send(Message::Yield { request, options: Dict::new(), payload: Payload::args(vec![5.into()]) }).await;
    let Message::Result { request: got, payload, .. } = caller.recv().await else { panic!() };
    assert_eq!(got, req);
    assert_eq!(payload.args, Some(vec![Value::from(5)]));

    // An application error travels back with URI, args and kwargs intact.
    let req = caller.call("com.example.add", Dict::new(), Payload::default()).await;
    let Message::Invocation { request, .. } = callee.recv().await else { panic!() };
    let err_payload = Payload::new(vec!["bad".into()], dict! {"detail" => 1});
    callee
        .send(Message::Error {
            request_type: 68,
            request,
            details: Dict::new(),
            error: "com.example.error.oops".into(),
            payload: err_payload.clone(),
        })
        .await;
    let Message::Error { request_type, request, error, payload, .. } = caller.recv().await else { panic!() };
    assert_eq!((request_type, request, error.as_str()), (48, req, "com.example.error.oops"));
    assert_eq!(payload, err_payload);
}

#[tokio::test]
async fn registration_errors() {
    let r = router();
    let mut a = Peer::join(&r).await;
    let mut b = Peer::join(&r).await;
    a.register_ok("com.example.p", Dict::new()).await;
    assert_eq!(error_uri(&b.register("com.example.p", Dict::new()).await), "wamp.error.procedure_already_exists");
    assert_eq!(error_uri(&b.register("com..bad", Dict::new()).await), "wamp.error.invalid_uri");
    assert_eq!(error_uri(&b.register("wamp.session.count", Dict::new()).await), "wamp.error.invalid_uri");
    assert_eq!(error_uri(&b.call_wait("com.example.none", vec![]).await), "wamp.error.no_such_procedure");
    assert_eq!(error_uri(&b.call_wait("com example", vec![]).await), "wamp.error.invalid_uri");
    let request = b.req();
    b.send(Message::Unregister { request, registration: wamp::RegistrationId(999_999) }).await;
    assert_eq!(error_uri(&b.recv().await), "wamp.error.no_such_registration");
    let request = b.req();
    b.send(Message::Unsubscribe { request, subscription: wamp::SubscriptionId(999_999) }).await;
    assert_eq!(error_uri(&b.recv().await), "wamp.error.no_such_subscription");
}

#[tokio::test]
async fn unregister_then_call_fails() {
    let r = router();
    let mut a = Peer::join(&r).await;
    let reg = a.register_ok("com.example.p", Dict::new()).await;
    let request = a.req();
    a.send(Message::Unregister { request, registration: wamp::RegistrationId(reg) }).await;
    assert!(matches!(a.recv().await, Message::Unregistered { request: got, .. } if got == request));
    assert_eq!(error_uri(&a.call_wait("com.example.p", vec![]).await), "wamp.error.no_such_procedure");
}

#[tokio::test]
async fn callee_leaving_mid_call_fails_the_call_and_frees_the_uri() {
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.slow", Dict::new()).await;
    let req = caller.call("com.example.slow", Dict::new(), Payload::default()).await;
    let _ = callee.recv().await;
    drop(callee);
    let m = caller.recv().await;
    assert_eq!(error_uri(&m), "wamp.error.canceled");
    assert!(matches!(m, Message::Error { request, .. } if request == req));
    assert_eq!(error_uri(&caller.call_wait("com.example.slow", vec![]).await), "wamp.error.no_such_procedure");
}

#[tokio::test]
async fn caller_leaving_interrupts_the_callee() {
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.slow", Dict::new()).await;
    caller.call("com.example.slow", Dict::new(), Payload::default()).await;
    let Message::Invocation { request, .. } = callee.recv().await else { panic!() };
    drop(caller);
    let Message::Interrupt { request: got, options } = callee.recv().await else { panic!("no INTERRUPT") };
    assert_eq!(got, request);
    assert_eq!(options["mode"], Value::from("killnowait"));
    // A late YIELD is dropped quietly.
    callee.send(Message::Yield { request, options: Dict::new(), payload: Payload::default() }).await;
    assert_eq!(r.stats("realm1").unwrap().pending_calls, 0);
}

#[tokio::test]
async fn pubsub_with_ack_exclusion_and_unsubscribe() {
    let r = router();
    let mut sub = Peer::join(&r).await;
    let mut publ = Peer::join(&r).await;
    let sid = sub.subscribe_ok("com.example.topic", Dict::new()).await;
    publ.subscribe_ok("com.example.topic", Dict::new()).await;
    let req = publ.publish("com.example.topic", dict! {"acknowledge" => true}, vec!["hi".into()]).await;
    let Message::Published { request, publication } = publ.recv().await else { panic!("no PUBLISHED") };
    assert_eq!(request, req);
    let Message::Event { subscription, publication: p2, payload, .. } = sub.recv().await else { panic!() };
    assert_eq!((subscription.0, p2), (sid, publication));
    assert_eq!(payload.args, Some(vec![Value::from("hi")]));
    publ.assert_idle(); // publisher excluded by default

    let request = sub.req();
    sub.send(Message::Unsubscribe { request, subscription: wamp::SubscriptionId(sid) }).await;
    assert!(matches!(sub.recv().await, Message::Unsubscribed { .. }));
    publ.publish("com.example.topic", dict! {"acknowledge" => true}, vec![]).await;
    let _ = publ.recv().await;
    sub.assert_idle();
}

#[tokio::test]
async fn publish_errors_only_with_acknowledge() {
    let r = router();
    let mut p = Peer::join(&r).await;
    p.publish("com..bad", Dict::new(), vec![]).await;
    p.assert_idle();
    let req = p.publish("com..bad", dict! {"acknowledge" => true}, vec![]).await;
    let m = p.recv().await;
    assert_eq!(error_uri(&m), "wamp.error.invalid_uri");
    assert!(matches!(m, Message::Error { request_type: 16, request, .. } if request == req));
}

#[tokio::test]
async fn events_arrive_in_publish_order() {
    let r = router();
    let mut sub = Peer::join(&r).await;
    let mut publ = Peer::join(&r).await;
    sub.subscribe_ok("com.example.seq", Dict::new()).await;
    for i in 0..50 {
        publ.publish("com.example.seq", Dict::new(), vec![i.into()]).await;
    }
    for i in 0..50 {
        let Message::Event { payload, .. } = sub.recv().await else { panic!() };
        assert_eq!(payload.args, Some(vec![Value::from(i)]));
    }
}

#[tokio::test]
async fn slow_consumer_is_closed_without_slowing_the_publisher() {
    let r = router();
    // Queue of 64 messages (see common::Peer::join_with); never read.
    let mut slow = Peer::join(&r).await;
    let mut fast = Peer::join(&r).await;
    let mut publ = Peer::join(&r).await;
    slow.subscribe_ok("com.example.flood", Dict::new()).await;
    fast.subscribe_ok("com.example.flood", Dict::new()).await;
    for i in 0..200 {
        publ.publish("com.example.flood", Dict::new(), vec![i.into()]).await;
        let Message::Event { payload, .. } = fast.recv().await else { panic!() };
        assert_eq!(payload.args, Some(vec![Value::from(i)]));
    }
    // The slow session's link reports the close (no GOODBYE: it could not even read).
    let mut drained = 0;
    while let Some(m) = slow.link.recv().await {
        assert!(matches!(m, Message::Event { .. }), "{m:?}");
        drained += 1;
    }
    assert!(drained <= 64, "queue bound respected, got {drained}");
}

#[tokio::test]
async fn everything_is_released_when_sessions_leave() {
    let r = router();
    for round in 0..3 {
        let mut peers = Vec::new();
        for i in 0..20 {
            let mut p = Peer::join(&r).await;
            p.register_ok(&format!("com.example.p{i}"), Dict::new()).await;
            p.subscribe_ok("com.example.shared", Dict::new()).await;
            p.subscribe_ok(&format!("com.example.t{i}"), Dict::new()).await;
            peers.push(p);
        }
        // Leave some calls in flight.
        let mut caller = Peer::join(&r).await;
        for i in 0..20 {
            caller.call(&format!("com.example.p{i}"), Dict::new(), Payload::default()).await;
        }
        let s = r.stats("realm1").unwrap();
        assert_eq!((s.sessions, s.registrations, s.subscriptions, s.pending_calls), (21, 20, 21, 20), "round {round}");
        drop(peers);
        drop(caller);
        assert_eq!(r.stats("realm1").unwrap(), RealmStats::default(), "round {round}");
    }
}

#[tokio::test]
async fn shutdown_says_goodbye() {
    let r = router();
    let mut p = Peer::join(&r).await;
    r.shutdown();
    let Message::Goodbye { reason, .. } = p.recv().await else { panic!() };
    assert_eq!(reason, "wamp.close.system_shutdown");
    assert_eq!(r.session_count(), 0, "the session left when the GOODBYE went out");
    let flow = p.send(Message::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() }).await;
    assert_eq!(flow, Flow::Close(None));
}

#[tokio::test]
async fn request_ids_of_invocations_are_sequential_per_callee() {
    let r = router();
    let mut callee = Peer::join(&r).await;
    let mut caller = Peer::join(&r).await;
    callee.register_ok("com.example.p", Dict::new()).await;
    for expected in 1..=3u64 {
        caller.call("com.example.p", Dict::new(), Payload::default()).await;
        let Message::Invocation { request, .. } = callee.recv().await else { panic!() };
        assert_eq!(request, RequestId(expected));
    }
}
