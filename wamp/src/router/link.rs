//! The in-process link: a session with no socket and no serializer.
//!
//! Database bridges (and the router's own tests) attach through a [`Link`] exactly as a remote
//! peer attaches through a WebSocket: HELLO, WELCOME, then ordinary WAMP messages. Messages cross
//! as values, never as bytes, so a bridge pays no encoding cost; everything else (authorization,
//! timeouts, cancel, progressive results, the meta API) applies unchanged.

use std::sync::Arc;

use crate::message::Message;
use crate::router::auth::Authenticator;
use crate::router::outbox::{OutEvent, Outbox};
use crate::router::session::{Flow, Session, TransportInfo};
use crate::router::Router;

/// One in-process session.
pub struct Link {
    session: Session,
    outbox: Outbox,
    closed: bool,
}

impl Router {
    /// Opens an in-process session; `peer` describes it for the meta API (e.g. `bridge:postgres`).
    pub fn connect_local(
        self: &Arc<Self>,
        peer: impl Into<String>,
        queue: usize,
        authenticator: Arc<dyn Authenticator>,
    ) -> Link {
        let transport = TransportInfo {
            kind: "local",
            peer: peer.into(),
            serializer: None,
            outbound_queue: queue,
            client_cert_cn: None,
        };
        let (session, outbox) = self.open_session(transport, authenticator);
        Link { session, outbox, closed: false }
    }
}

impl Link {
    /// Hands a message to the router, as a transport would after decoding it. A final ABORT or
    /// GOODBYE, if the router ends the session, is returned by the next [`Link::recv`].
    pub async fn send(&mut self, msg: Message) -> Flow {
        if self.closed {
            return Flow::Close(None);
        }
        let flow = self.session.handle(msg).await;
        if matches!(flow, Flow::Close(_)) {
            self.closed = true;
        }
        flow
    }

    /// The next message from the router; `None` once the router closed the session.
    pub async fn recv(&mut self) -> Option<Message> {
        match self.outbox.next().await {
            OutEvent::Send(out) => Some(out.into_message()),
            OutEvent::Close(reason) => {
                if let Some(goodbye) = reason.goodbye() {
                    if !self.closed {
                        self.closed = true;
                        self.session.goodbye_sent();
                        return Some(goodbye);
                    }
                }
                self.closed = true;
                None
            }
        }
    }

    /// A message already queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Message> {
        self.outbox.try_next().map(|o| o.into_message())
    }

    /// The underlying session (its id and realm once joined).
    pub fn session(&self) -> &Session {
        &self.session
    }
}
