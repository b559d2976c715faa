//! Dynamic authorization: a role whose decisions come from a WAMP procedure, with caching.

mod common;

use std::sync::Arc;

use common::*;
use wamp::dict;
use wamp::router::{RealmConfig, RoleConfig, Router, RouterConfig};
use wamp::{Dict, Message, Payload, Value};

fn router_with_dynamic_role() -> Arc<Router> {
    let mut realm = RealmConfig::default_realm();
    realm.roles.push(RoleConfig {
        name: "dyn".into(),
        permissions: vec![],
        authorizer: Some("com.example.authorize".into()),
    });
    Router::new(RouterConfig { realms: vec![realm], ..RouterConfig::default() })
}

/// Answers one authorizer invocation: allows URIs under `com.ok.`, caches when `cache_ok`.
async fn answer(authz: &mut Peer, cache_ok: bool) -> (String, String) {
    let Message::Invocation { request, payload, .. } = authz.recv().await else { panic!("no authorizer call") };
    let args = payload.args.unwrap();
    assert_eq!(args[0].as_dict().unwrap()["authrole"], Value::from("dyn"), "session details come first");
    let (uri, action) = (args[1].as_str().unwrap().to_owned(), args[2].as_str().unwrap().to_owned());
    let allow = uri.starts_with("com.ok.");
    let verdict = dict! {"allow" => allow, "disclose" => false, "cache" => cache_ok && allow};
    authz.send(Message::Yield { request, options: Dict::new(), payload: Payload::args(vec![verdict.into()]) }).await;
    (uri, action)
}

#[tokio::test]
async fn authorizer_decides_and_caches() {
    let r = router_with_dynamic_role();
    let mut authz = Peer::join(&r).await;
    authz.register_ok("com.example.authorize", Dict::new()).await;
    let mut callee = Peer::join(&r).await;
    callee.register_ok("com.ok.p", Dict::new()).await;
    callee.register_ok("com.no.p", Dict::new()).await;

    let r2 = r.clone();
    let client = tokio::spawn(async move {
        let mut dyn_peer = Peer::join_as(&r2, "d", "dyn").await;
        let first = dyn_peer.call_wait("com.ok.p", vec![]).await;
        let second = dyn_peer.call_wait("com.ok.p", vec![]).await;
        let denied = dyn_peer.call_wait("com.no.p", vec![]).await;
        (first, second, denied)
    });
    // First call: the authorizer is asked, allows, and says cache.
    assert_eq!(answer(&mut authz, true).await, ("com.ok.p".into(), "call".into()));
    let Message::Invocation { request, details, .. } = callee.recv().await else { panic!() };
    assert!(!details.contains_key("caller"), "authorizer said disclose=false");
    callee.send(Message::Yield { request, options: Dict::new(), payload: Payload::default() }).await;
    // Second call: cached, the authorizer is not asked again.
    let Message::Invocation { request, .. } = callee.recv().await else { panic!() };
    callee.send(Message::Yield { request, options: Dict::new(), payload: Payload::default() }).await;
    // Third: denied by the authorizer.
    assert_eq!(answer(&mut authz, true).await.0, "com.no.p");
    let (first, second, denied) = client.await.unwrap();
    assert!(matches!(first, Message::Result { .. }));
    assert!(matches!(second, Message::Result { .. }));
    assert_eq!(error_uri(&denied), "wamp.error.not_authorized");
    authz.assert_idle();
}

#[tokio::test]
async fn missing_authorizer_denies() {
    let r = router_with_dynamic_role();
    let mut dyn_peer = Peer::join_as(&r, "d", "dyn").await;
    let m = dyn_peer.call_wait("com.ok.p", vec![]).await;
    assert_eq!(error_uri(&m), "wamp.error.not_authorized");
}
