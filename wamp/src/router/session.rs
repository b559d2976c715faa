//! One peer's session: the HELLO → WELCOME → … → GOODBYE state machine.
//!
//! A transport owns one [`Session`] per connection and calls [`Session::handle`] with each decoded
//! message. Joining, routing and leaving are delegated to the realm; the session only enforces
//! which messages are allowed in which state. Dropping a session makes it leave its realm, so a
//! connection that ends for any reason cleans up its registrations, subscriptions and calls.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::Serializer;
use crate::error::ProtocolError;
use crate::ids::{self, SessionId};
use crate::message::Message;
use crate::router::auth::{AuthStep, Authenticator, HelloContext, Pending};
use crate::router::outbox::{self, Mailbox, Outbox, Outgoing};
use crate::router::realm::{Action, Decision, Realm};
use crate::router::Router;
use crate::uri::{self, MatchPolicy};
use crate::message::Payload;
use crate::value::{Dict, Value};

/// Where a session comes from, for the meta API and logs.
#[derive(Debug, Clone)]
pub struct TransportInfo {
    /// `websocket`, `rawsocket` or `local`.
    pub kind: &'static str,
    /// The peer's address, or a description for in-process links.
    pub peer: String,
    /// The serializer in use; `None` for in-process links that exchange messages directly.
    pub serializer: Option<Serializer>,
    /// Capacity of the session's outbound queue, in messages.
    pub outbound_queue: usize,
    /// The subject CN of the client certificate the transport verified (TLS with client
    /// certificates), for authentication; `None` without one.
    pub client_cert_cn: Option<String>,
}

impl TransportInfo {
    /// The `transport` entry of session details (meta API, dynamic authenticators).
    pub fn details(&self) -> Dict {
        let mut transport = Dict::new();
        transport.insert("type".into(), self.kind.into());
        transport.insert("peer".into(), self.peer.clone().into());
        if let Some(s) = self.serializer {
            transport.insert("serializer".into(), s.name().into());
        }
        if let Some(cn) = &self.client_cert_cn {
            transport.insert("client_cert_cn".into(), cn.clone().into());
        }
        transport
    }
}

/// What the transport does after a message was handled.
// `Close` carries a whole message, but a Flow lives only for one return: boxing would cost an
// allocation per closing session to save a memcpy per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Write this last message (ABORT or GOODBYE), if any, then close the connection.
    Close(Option<Message>),
}

enum State {
    /// Waiting for HELLO.
    Connected,
    /// CHALLENGE sent, waiting for AUTHENTICATE. `id` is the session id the challenge announced.
    Authenticating { realm: String, hello: Dict, id: SessionId, pending: Pending },
    /// Joined a realm.
    Established(Joined),
    /// We sent GOODBYE (shutdown or kill) and wait for the peer's.
    Closing,
    /// Done: nothing more is accepted.
    Closed,
}

struct Joined {
    realm: Arc<Realm>,
    id: SessionId,
    /// The role's dynamic authorizer procedure, if any, and the decisions it allowed us to keep.
    authorizer: Option<String>,
    decisions: HashMap<(String, Action), Decision>,
}

/// How many cached authorizer decisions a session keeps before starting over.
const DECISION_CACHE_LIMIT: usize = 10_000;
/// How long a dynamic authorizer may take before the action is denied.
const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

/// One peer's session.
pub struct Session {
    router: Arc<Router>,
    transport: TransportInfo,
    authenticator: Arc<dyn Authenticator>,
    mailbox: Mailbox,
    state: State,
}

impl Session {
    pub(crate) fn new(
        router: Arc<Router>,
        transport: TransportInfo,
        authenticator: Arc<dyn Authenticator>,
    ) -> (Session, Outbox) {
        let (mailbox, outbox) = outbox::channel(transport.outbound_queue);
        (Session { router, transport, authenticator, mailbox, state: State::Connected }, outbox)
    }

    /// The session id once joined.
    pub fn id(&self) -> Option<SessionId> {
        match &self.state {
            State::Established(j) => Some(j.id),
            _ => None,
        }
    }

    /// The realm's name once joined.
    pub fn realm(&self) -> Option<&str> {
        match &self.state {
            State::Established(j) => Some(j.realm.name()),
            _ => None,
        }
    }

    pub fn transport(&self) -> &TransportInfo {
        &self.transport
    }

    /// Handles one inbound message.
    pub async fn handle(&mut self, msg: Message) -> Flow {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Connected => match msg {
                // Boxed, like every once-per-session or rare await below: an idle session's task holds the
                // largest state of this future, so the common path must stay small.
                Message::Hello { realm, details } => Box::pin(self.hello(realm, details)).await,
                other => self.violation(format!("{} received before HELLO", other.name())),
            },
            State::Authenticating { realm, hello, id, pending } => match msg {
                // One AUTHENTICATE per session: a failed one ends the session (see `auth_step`).
                Message::Authenticate { signature, extra } => {
                    Box::pin(async move {
                        let step = self.authenticator.authenticate(pending, &signature, &extra).await;
                        self.auth_step(realm, hello, id, step)
                    })
                    .await
                }
                other => self.violation(format!("{} received while authenticating", other.name())),
            },
            State::Established(joined) => {
                self.state = State::Established(joined);
                self.established(msg).await
            }
            State::Closing => match msg {
                // The peer answered our GOODBYE: done.
                Message::Goodbye { .. } => Flow::Close(None),
                // Anything else in flight is ignored, as the spec says.
                _ => {
                    self.state = State::Closing;
                    Flow::Continue
                }
            },
            State::Closed => Flow::Close(None),
        }
    }

    /// The frame could not be decoded: ends the session with ABORT `wamp.error.protocol_violation`.
    pub fn protocol_error(&mut self, err: &ProtocolError) -> Flow {
        self.violation(err.to_string())
    }

    /// The transport sent the GOODBYE of a router-side close (shutdown, kill): the session leaves
    /// its realm now and only waits for the peer's GOODBYE.
    pub fn goodbye_sent(&mut self) {
        self.leave();
        self.state = State::Closing;
    }

    async fn hello(&mut self, realm: String, details: Dict) -> Flow {
        if !uri::is_valid(&realm, self.router.uri_rules(), MatchPolicy::Exact) {
            return self.abort("wamp.error.invalid_uri", format!("invalid realm URI '{realm}'"));
        }
        if self.router.realm(&realm).is_none() {
            return self.abort("wamp.error.no_such_realm", format!("no realm '{realm}' on this router"));
        }
        // The id is chosen now so that a challenge can name it; the realm keeps it unless it is taken.
        let id = SessionId(ids::random_id());
        let ctx = HelloContext { session: id, transport: &self.transport, router: &self.router };
        let step = self.authenticator.hello_via(&ctx, &realm, &details).await;
        self.auth_step(realm, details, id, step)
    }

    fn auth_step(&mut self, realm: String, hello: Dict, id: SessionId, step: AuthStep) -> Flow {
        match step {
            AuthStep::Abort { reason, message } => self.abort(&reason, message),
            AuthStep::Challenge { authmethod, extra, pending } => {
                self.mailbox.send(Outgoing::new(Message::Challenge { authmethod, extra }));
                self.state = State::Authenticating { realm, hello, id, pending };
                Flow::Continue
            }
            AuthStep::Welcome(mut identity) => {
                let realm_name = identity.realm.take().unwrap_or(realm);
                let Some(realm) = self.router.realm(&realm_name) else {
                    return self.abort("wamp.error.no_such_realm", format!("no realm '{realm_name}' on this router"));
                };
                match realm.join(id, identity, &hello, self.transport.clone(), self.mailbox.clone()) {
                    Ok((id, authorizer)) => {
                        self.state = State::Established(Joined { realm, id, authorizer, decisions: HashMap::new() });
                        Flow::Continue
                    }
                    Err((reason, message)) => self.abort(reason, message),
                }
            }
        }
    }

    async fn established(&mut self, msg: Message) -> Flow {
        let decision = match &msg {
            Message::Call { procedure: uri, options, .. } => self.authorize(uri, Action::Call, options).await,
            Message::Register { procedure: uri, options, .. } => self.authorize(uri, Action::Register, options).await,
            Message::Publish { topic: uri, options, .. } => self.authorize(uri, Action::Publish, options).await,
            Message::Subscribe { topic: uri, options, .. } => self.authorize(uri, Action::Subscribe, options).await,
            _ => None,
        };
        let State::Established(joined) = &self.state else {
            unreachable!("called only in the established state")
        };
        match msg {
            Message::Goodbye { .. } => {
                self.leave();
                Flow::Close(Some(Message::Goodbye {
                    details: Dict::new(),
                    reason: "wamp.close.goodbye_and_out".into(),
                }))
            }
            Message::Abort { .. } => {
                self.leave();
                Flow::Close(None)
            }
            m @ (Message::Hello { .. }
            | Message::Welcome { .. }
            | Message::Challenge { .. }
            | Message::Authenticate { .. }
            | Message::Published { .. }
            | Message::Subscribed { .. }
            | Message::Unsubscribed { .. }
            | Message::Event { .. }
            | Message::Result { .. }
            | Message::Registered { .. }
            | Message::Unregistered { .. }
            | Message::Invocation { .. }
            | Message::Interrupt { .. }) => self.violation(format!("{} is not allowed from a client", m.name())),
            other => match joined.realm.handle(joined.id, other, decision) {
                Ok(()) => Flow::Continue,
                Err(violation) => self.violation(violation),
            },
        }
    }

    /// Asks the role's dynamic authorizer, if it has one (and the answer is not cached).
    async fn authorize(&mut self, uri: &str, action: Action, options: &Dict) -> Option<Decision> {
        let State::Established(joined) = &self.state else { return None };
        let authorizer = joined.authorizer.clone()?;
        let key = (uri.to_owned(), action);
        if let Some(d) = joined.decisions.get(&key) {
            return Some(*d);
        }
        let (realm, id) = (joined.realm.clone(), joined.id);
        let details = realm.session_details(id)?;
        let args = vec![Value::Dict(details), uri.into(), action.name().into(), Value::Dict(options.clone())];
        let caller = self.router.internal_caller(realm.name());
        let decision = match Box::pin(caller.call(&authorizer, Payload::args(args), AUTHORIZER_TIMEOUT)).await {
            Ok(payload) => parse_decision(payload),
            Err(err) => {
                tracing::warn!(authorizer = %authorizer, cause = %err, "dynamic authorizer failed; denying");
                Decision { allow: false, disclose: false, cache: false }
            }
        };
        if decision.cache {
            if let State::Established(joined) = &mut self.state {
                if joined.decisions.len() >= DECISION_CACHE_LIMIT {
                    joined.decisions.clear();
                }
                joined.decisions.insert(key, decision);
            }
        }
        Some(decision)
    }

    fn violation(&mut self, message: String) -> Flow {
        self.abort("wamp.error.protocol_violation", message)
    }

    fn abort(&mut self, reason: &str, message: String) -> Flow {
        self.leave();
        self.state = State::Closed;
        let mut details = Dict::new();
        details.insert("message".into(), message.into());
        Flow::Close(Some(Message::Abort { details, reason: reason.into() }))
    }

    fn leave(&mut self) {
        if let State::Established(joined) = std::mem::replace(&mut self.state, State::Closed) {
            joined.realm.leave(joined.id);
        }
    }
}

/// Reads an authorizer's answer: `true`/`false`, or `{"allow", "disclose", "cache"}`.
fn parse_decision(payload: Payload) -> Decision {
    let deny = Decision { allow: false, disclose: false, cache: false };
    match payload.args.and_then(|a| a.into_iter().next()) {
        Some(Value::Bool(allow)) => Decision { allow, ..deny },
        Some(Value::Dict(d)) => {
            let flag = |k: &str| d.get(k).and_then(Value::as_bool).unwrap_or(false);
            Decision { allow: flag("allow"), disclose: flag("disclose"), cache: flag("cache") }
        }
        _ => deny,
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_details_name_the_verified_client_certificate() {
        let mut t = TransportInfo {
            kind: "websocket",
            peer: "127.0.0.1:5000".into(),
            serializer: Some(Serializer::Json),
            outbound_queue: 8,
            client_cert_cn: None,
        };
        assert_eq!(t.details().get("client_cert_cn"), None);
        assert_eq!(t.details().get("serializer"), Some(&Value::from("json")));
        t.client_cert_cn = Some("device-7".into());
        assert_eq!(t.details().get("client_cert_cn"), Some(&Value::from("device-7")));
    }
}
