//! Test support for the adapters' integration suites: a WAMP peer over the in-process link, as a
//! frontend would be, and a polling helper. Compiled only with the `testing` feature, which the
//! adapters enable for their tests alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wamp::router::auth::{Identity, Trusted};
use wamp::router::link::Link;
use wamp::router::{Flow, Router};
use wamp::{dict, Dict, Message, Payload, RequestId, SessionId, Value};

/// A WAMP peer over an in-process link.
pub struct Peer {
    pub link: Link,
    pub id: SessionId,
    next: u64,
}

impl Peer {
    /// Joins realm1 with `authrole` (authid `<authrole>-user`), as caller, publisher and subscriber.
    pub async fn join(router: &Arc<Router>, authrole: &str) -> Peer {
        Self::join_queue(router, authrole, 4096).await
    }

    pub async fn join_queue(router: &Arc<Router>, authrole: &str, queue: usize) -> Peer {
        let identity = Identity {
            authid: format!("{authrole}-user"),
            authrole: authrole.into(),
            authmethod: "trusted".into(),
            authprovider: "test".into(),
            authextra: Dict::new(),
            realm: None,
        };
        let mut link = router.connect_local("test", queue, Arc::new(Trusted(identity)));
        let features = dict! { "call_canceling" => true, "progressive_call_results" => true, "call_timeout" => true };
        let details = dict! { "roles" => dict! {
            "caller" => dict! { "features" => features },
            "publisher" => Dict::new(),
            "subscriber" => Dict::new(),
        }};
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

    pub async fn recv_within(&mut self, within: Duration) -> Message {
        tokio::time::timeout(within, self.link.recv())
            .await
            .unwrap_or_else(|_| panic!("no message within {within:?}"))
            .expect("session still open")
    }

    pub async fn recv(&mut self) -> Message {
        self.recv_within(Duration::from_secs(20)).await
    }

    pub async fn call(&mut self, procedure: &str, options: Dict, args: Vec<Value>, kwargs: Dict) -> RequestId {
        let request = self.req();
        let payload = Payload { args: Some(args), kwargs: Some(kwargs) };
        self.link.send(Message::Call { request, options, procedure: procedure.into(), payload }).await;
        request
    }

    /// Calls and waits for the final RESULT or ERROR.
    pub async fn call_wait(&mut self, procedure: &str, args: Vec<Value>, kwargs: Dict) -> Message {
        let request = self.call(procedure, Dict::new(), args, kwargs).await;
        loop {
            let m = self.recv().await;
            match &m {
                Message::Result { request: r, .. } | Message::Error { request: r, .. } if *r == request => return m,
                _ => continue,
            }
        }
    }

    /// The single result argument of a successful call, or a panic showing the ERROR.
    pub async fn call_ok(&mut self, procedure: &str, args: Vec<Value>, kwargs: Dict) -> Value {
        match self.call_wait(procedure, args, kwargs).await {
            Message::Result { payload, .. } => payload.args.and_then(|a| a.into_iter().next()).unwrap_or(Value::Null),
            other => panic!("{procedure}: expected RESULT, got {other:?}"),
        }
    }

    /// The ERROR of a failing call: (uri, args, kwargs).
    pub async fn call_err(&mut self, procedure: &str, args: Vec<Value>, kwargs: Dict) -> (String, Vec<Value>, Dict) {
        match self.call_wait(procedure, args, kwargs).await {
            Message::Error { error, payload, .. } => (error, payload.args.unwrap_or_default(), payload.kwargs.unwrap_or_default()),
            other => panic!("{procedure}: expected ERROR, got {other:?}"),
        }
    }

    pub async fn subscribe(&mut self, topic: &str) -> u64 {
        let request = self.req();
        self.link.send(Message::Subscribe { request, options: Dict::new(), topic: topic.into() }).await;
        match self.recv().await {
            Message::Subscribed { subscription, .. } => subscription.0,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    /// Nothing arrives for `quiet`.
    pub async fn assert_silent(&mut self, quiet: Duration) {
        if let Ok(m) = tokio::time::timeout(quiet, self.link.recv()).await {
            panic!("unexpected message: {m:?}");
        }
    }
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
