//! How a session drives its authenticator: the context it is given, the challenge round, and
//! the rule that one failed AUTHENTICATE ends the session.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use wamp::dict;
use wamp::router::auth::{BoxFuture, HelloContext, Pending};
use wamp::router::{AuthStep, Authenticator, Flow, Identity};
use wamp::{Dict, Message, SessionId};

/// Challenges everyone; "right" is the only answer it accepts. Records what HELLO's context said.
#[derive(Default)]
struct Challenger {
    seen: Mutex<Vec<(SessionId, &'static str, String)>>,
}

impl Authenticator for Challenger {
    fn hello<'a>(&'a self, _realm: &'a str, _details: &'a Dict) -> BoxFuture<'a, AuthStep> {
        panic!("the session calls hello_via")
    }

    fn hello_via<'a>(
        &'a self,
        ctx: &'a HelloContext<'a>,
        _realm: &'a str,
        _details: &'a Dict,
    ) -> BoxFuture<'a, AuthStep> {
        self.seen.lock().unwrap().push((ctx.session, ctx.transport.kind, ctx.transport.peer.clone()));
        Box::pin(async move {
            // The router handed over is usable (e.g. for internal calls).
            assert!(ctx.router.stats("realm1").is_some());
            AuthStep::Challenge { authmethod: "ticket".into(), extra: Dict::new(), pending: Pending(Box::new(7u8)) }
        })
    }

    fn authenticate<'a>(&'a self, pending: Pending, signature: &'a str, _extra: &'a Dict) -> BoxFuture<'a, AuthStep> {
        let step = match (pending.0.downcast::<u8>(), signature) {
            (Ok(state), "right") if *state == 7 => AuthStep::Welcome(Identity {
                authid: "who".into(),
                authrole: "anonymous".into(),
                authmethod: "ticket".into(),
                authprovider: "test".into(),
                authextra: Dict::new(),
                realm: None,
            }),
            _ => AuthStep::Abort { reason: "wamp.error.authentication_failed".into(), message: "no".into() },
        };
        Box::pin(std::future::ready(step))
    }
}

async fn challenged(auth: &Arc<Challenger>) -> wamp::router::link::Link {
    let r = router();
    let mut link = r.connect_local("peer-x", 16, auth.clone());
    assert_eq!(link.send(Message::Hello { realm: "realm1".into(), details: hello_details() }).await, Flow::Continue);
    assert!(matches!(link.recv().await, Some(Message::Challenge { authmethod, .. }) if authmethod == "ticket"));
    link
}

#[tokio::test]
async fn the_session_id_announced_at_hello_is_the_one_welcome_gives() {
    let auth = Arc::new(Challenger::default());
    let mut link = challenged(&auth).await;
    link.send(Message::Authenticate { signature: "right".into(), extra: Dict::new() }).await;
    let Some(Message::Welcome { session, details }) = link.recv().await else { panic!("expected WELCOME") };
    let seen = auth.seen.lock().unwrap().clone();
    assert_eq!(seen, [(session, "local", "peer-x".to_owned())]);
    assert_eq!(details["authid"], "who".into());
    assert_eq!(details["authprovider"], "test".into());
}

#[tokio::test]
async fn a_failed_authenticate_ends_the_session_without_a_second_try() {
    let auth = Arc::new(Challenger::default());
    let mut link = challenged(&auth).await;
    let flow = link.send(Message::Authenticate { signature: "wrong".into(), extra: Dict::new() }).await;
    let Flow::Close(Some(Message::Abort { reason, .. })) = flow else { panic!("expected ABORT, got {flow:?}") };
    assert_eq!(reason, "wamp.error.authentication_failed");
    // The right answer now changes nothing: the session is over.
    let again = link.send(Message::Authenticate { signature: "right".into(), extra: Dict::new() }).await;
    assert_eq!(again, Flow::Close(None));
    assert_eq!(link.try_recv(), None, "no WELCOME after all");
}

#[tokio::test]
async fn anything_but_authenticate_after_a_challenge_is_a_protocol_violation() {
    let auth = Arc::new(Challenger::default());
    let mut link = challenged(&auth).await;
    let flow = link.send(Message::Hello { realm: "realm1".into(), details: dict! {} }).await;
    let Flow::Close(Some(Message::Abort { reason, .. })) = flow else { panic!("expected ABORT, got {flow:?}") };
    assert_eq!(reason, "wamp.error.protocol_violation");
}
