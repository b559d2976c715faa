//! A tiny test peer over the in-process link, with helpers that fail loudly on surprises.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use wamp::dict;
use wamp::router::auth::{Anonymous, Identity, Trusted};
use wamp::router::link::Link;
use wamp::router::{Flow, Permission, RealmConfig, RoleConfig, Router, RouterConfig};
use wamp::{Dict, Message, Payload, RequestId, SessionId, Value};

pub fn router() -> Arc<Router> {
    Router::new(RouterConfig::default())
}

/// A router whose realm1 also has a `limited` role: may call `com.allowed.*`, nothing else.
pub fn router_with_limited_role() -> Arc<Router> {
    let mut realm = RealmConfig::default_realm();
    realm.roles.push(RoleConfig {
        name: "limited".into(),
        permissions: vec![Permission {
            uri: "com.allowed.".into(),
            match_: wamp::uri::MatchPolicy::Prefix,
            call: true,
            register: false,
            publish: false,
            subscribe: false,
            disclose_caller: false,
            disclose_publisher: false,
        }],
        authorizer: None,
    });
    Router::new(RouterConfig { realms: vec![realm], ..RouterConfig::default() })
}

pub struct Peer {
    pub link: Link,
    pub id: SessionId,
    next: u64,
}

/// HELLO details announcing the callee features the router adapts to.
pub fn hello_details() -> Dict {
    let features = dict! { "call_canceling" => true, "progressive_call_results" => true };
    dict! { "roles" => dict! {
        "caller" => dict! { "features" => features.clone() },
        "callee" => dict! { "features" => features },
        "publisher" => Dict::new(),
        "subscriber" => Dict::new(),
    }}
}

impl Peer {
    pub async fn join(router: &Arc<Router>) -> Peer {
        Self::join_with(router, hello_details(), Arc::new(Anonymous { role: "anonymous".into() })).await
    }

    pub async fn join_as(router: &Arc<Router>, authid: &str, authrole: &str) -> Peer {
        let identity = Identity {
            authid: authid.into(),
            authrole: authrole.into(),
            authmethod: "trusted".into(),
            authprovider: "test".into(),
            authextra: Dict::new(),
            realm: None,
        };
        Self::join_with(router, hello_details(), Arc::new(Trusted(identity))).await
    }

    pub async fn join_with(router: &Arc<Router>, details: Dict, auth: Arc<dyn wamp::router::Authenticator>) -> Peer {
        let mut link = router.connect_local("test", 64, auth);
        assert_eq!(link.send(Message::Hello { realm: "realm1".into(), details }).await, Flow::Continue);
        match link.recv().await {
            Some(Message::Welcome { session, .. }) => Peer { link, id: session, next: 0 },
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    pub fn req(&mut self) -> RequestId {
        self.next += 1;
        RequestId(self.next)
    }

    pub async fn send(&mut self, msg: Message) -> Flow {
        self.link.send(msg).await
    }

    pub async fn recv(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(5), self.link.recv())
            .await
            .expect("a message within 5 s")
            .expect("session still open")
    }

    /// Asserts nothing is queued for this peer right now.
    pub fn assert_idle(&mut self) {
        if let Some(m) = self.link.try_recv() {
            panic!("unexpected message: {m:?}");
        }
    }

    pub async fn register(&mut self, procedure: &str, options: Dict) -> Message {
        let request = self.req();
        self.send(Message::Register { request, options, procedure: procedure.into() }).await;
        self.recv().await
    }

    pub async fn register_ok(&mut self, procedure: &str, options: Dict) -> u64 {
        match self.register(procedure, options).await {
            Message::Registered { registration, .. } => registration.0,
            other => panic!("expected REGISTERED, got {other:?}"),
        }
    }

    pub async fn subscribe_ok(&mut self, topic: &str, options: Dict) -> u64 {
        let request = self.req();
        self.send(Message::Subscribe { request, options, topic: topic.into() }).await;
        match self.recv().await {
            Message::Subscribed { subscription, .. } => subscription.0,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    pub async fn call(&mut self, procedure: &str, options: Dict, payload: Payload) -> RequestId {
        let request = self.req();
        self.send(Message::Call { request, options, procedure: procedure.into(), payload }).await;
        request
    }

    /// Calls and waits for the final RESULT or ERROR.
    pub async fn call_wait(&mut self, procedure: &str, args: Vec<Value>) -> Message {
        self.call(procedure, Dict::new(), Payload::args(args)).await;
        self.recv().await
    }

    pub async fn publish(&mut self, topic: &str, options: Dict, args: Vec<Value>) -> RequestId {
        let request = self.req();
        self.send(Message::Publish { request, options, topic: topic.into(), payload: Payload::args(args) }).await;
        request
    }
}

/// The error URI of an ERROR message, or a panic.
pub fn error_uri(m: &Message) -> &str {
    match m {
        Message::Error { error, .. } => error,
        other => panic!("expected ERROR, got {other:?}"),
    }
}

/// The first result argument of a RESULT message, or a panic.
pub fn result_arg(m: Message) -> Value {
    match m {
        Message::Result { payload, .. } => payload.args.and_then(|a| a.into_iter().next()).unwrap_or(Value::Null),
        other => panic!("expected RESULT, got {other:?}"),
    }
}
