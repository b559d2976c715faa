//! Calls from the router's own code into WAMP procedures: how dynamic authenticators and
//! authorizers reach a procedure that may live in any session (including a database bridge).
//!
//! An [`InternalCaller`] owns one trusted in-process session per realm, run by a task; callers
//! send it requests over a bounded channel and await the answer. The session is an ordinary
//! caller, so the procedure sees the same routing, timeouts and errors as any other call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::ids::RequestId;
use crate::message::{Message, Payload};
use crate::router::auth::{Identity, Trusted};
use crate::router::Router;
use crate::value::Dict;

/// The role of router-internal sessions: allowed everything, only reachable in-process.
pub const TRUSTED_ROLE: &str = "trusted";

/// Why an internal call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The procedure answered with an ERROR.
    #[error("{uri}")]
    Error { uri: String, payload: Payload },
    /// The internal session is gone (router shut down) or could not join.
    #[error("internal session unavailable")]
    Unavailable,
    /// No answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

struct Request {
    procedure: String,
    payload: Payload,
    timeout: Duration,
    reply: oneshot::Sender<Result<Payload, CallError>>,
}

/// A handle for calling WAMP procedures from router code. Cheap to clone.
#[derive(Clone)]
pub struct InternalCaller {
    tx: mpsc::Sender<Request>,
}

impl InternalCaller {
    /// Starts the internal session for `realm` on the current tokio runtime.
    pub fn start(router: &Arc<Router>, realm: &str) -> InternalCaller {
        let (tx, rx) = mpsc::channel(1024);
        let identity = Identity {
            authid: format!("router-internal@{realm}"),
            authrole: TRUSTED_ROLE.into(),
            authmethod: "trusted".into(),
            authprovider: "router".into(),
            authextra: Dict::new(),
            realm: None,
        };
        let link = router.connect_local("router-internal", 4096, Arc::new(Trusted(identity)));
        tokio::spawn(run(link, realm.to_owned(), rx));
        InternalCaller { tx }
    }

    /// Calls `procedure` and waits at most `timeout` for its result.
    pub async fn call(&self, procedure: &str, payload: Payload, timeout: Duration) -> Result<Payload, CallError> {
        let (reply, rx) = oneshot::channel();
        let req = Request { procedure: procedure.to_owned(), payload, timeout, reply };
        self.tx.send(req).await.map_err(|_| CallError::Unavailable)?;
        rx.await.unwrap_or(Err(CallError::Unavailable))
    }
}

async fn run(mut link: crate::router::link::Link, realm: String, mut rx: mpsc::Receiver<Request>) {
    link.send(Message::Hello { realm, details: Dict::new() }).await;
    if !matches!(link.recv().await, Some(Message::Welcome { .. })) {
        tracing::error!("router-internal session could not join");
        return;
    }
    let mut pending: HashMap<RequestId, oneshot::Sender<Result<Payload, CallError>>> = HashMap::new();
    let mut next = 0u64;
    loop {
        tokio::select! {
            req = rx.recv() => {
                let Some(req) = req else { break };
                next += 1;
                let request = RequestId(next);
                let mut options = Dict::new();
                options.insert("timeout".into(), (req.timeout.as_millis() as u64).into());
                pending.insert(request, req.reply);
                link.send(Message::Call { request, options, procedure: req.procedure, payload: req.payload }).await;
            }
            msg = link.recv() => match msg {
                Some(Message::Result { request, payload, details }) => {
                    if details.get("progress").and_then(|v| v.as_bool()) == Some(true) {
                        continue;
                    }
                    if let Some(tx) = pending.remove(&request) {
                        let _ = tx.send(Ok(payload));
                    }
                }
                Some(Message::Error { request, error, payload, .. }) => {
                    if let Some(tx) = pending.remove(&request) {
                        let err = if error == "wamp.error.timeout" {
                            CallError::Timeout(Duration::default())
                        } else {
                            CallError::Error { uri: error, payload }
                        };
                        let _ = tx.send(Err(err));
                    }
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    for (_, tx) in pending {
        let _ = tx.send(Err(CallError::Unavailable));
    }
}
