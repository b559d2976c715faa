//! Authentication hooks: what a transport plugs into a session to decide who joins as what.
//!
//! The session drives HELLO → (CHALLENGE → AUTHENTICATE)* → WELCOME | ABORT and asks its transport's
//! [`Authenticator`] at each step. Methods are async so an authenticator may call a WAMP procedure
//! (dynamic authentication) or a database.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::ids::SessionId;
use crate::router::session::TransportInfo;
use crate::router::Router;
use crate::value::Dict;

/// A boxed, sendable future (avoids a dependency on `async-trait`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who a session is, once authenticated.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub authid: String,
    pub authrole: String,
    pub authmethod: String,
    pub authprovider: String,
    /// Extra details for WELCOME's `authextra`.
    pub authextra: Dict,
    /// A realm the authenticator assigns instead of the one in HELLO, if any.
    pub realm: Option<String>,
}

/// What a HELLO came with, beyond the message itself.
pub struct HelloContext<'a> {
    /// The id the session gets if it joins: WAMP-CRA challenges name it, as Crossbar's do.
    pub session: SessionId,
    /// The connection it came over.
    pub transport: &'a TransportInfo,
    /// The router, for authenticators that call a WAMP procedure ([`Router::internal_caller`]).
    pub router: &'a Arc<Router>,
}

/// Authentication state carried from a CHALLENGE to the matching AUTHENTICATE.
pub struct Pending(pub Box<dyn Any + Send>);

/// What the session does next.
pub enum AuthStep {
    /// Join with this identity.
    Welcome(Identity),
    /// Send CHALLENGE and wait for AUTHENTICATE.
    Challenge { authmethod: String, extra: Dict, pending: Pending },
    /// Send ABORT with this reason URI and message.
    Abort { reason: String, message: String },
}

/// Decides who may join. One per transport.
pub trait Authenticator: Send + Sync + 'static {
    /// Called with HELLO's realm and details.
    fn hello<'a>(&'a self, realm: &'a str, details: &'a Dict) -> BoxFuture<'a, AuthStep>;

    /// Called with HELLO's realm and details and what they came with (the connection, the
    /// session's id-to-be, the router); this is what the session calls. Methods that depend on
    /// the context (TLS client certificates, WAMP-CRA, dynamic authentication) override it; the
    /// rest only implement [`hello`](Authenticator::hello), which this defaults to.
    fn hello_via<'a>(
        &'a self,
        ctx: &'a HelloContext<'a>,
        realm: &'a str,
        details: &'a Dict,
    ) -> BoxFuture<'a, AuthStep> {
        let _ = ctx;
        self.hello(realm, details)
    }

    /// Called with AUTHENTICATE's signature and extra, and the state from the challenge.
    fn authenticate<'a>(&'a self, pending: Pending, signature: &'a str, extra: &'a Dict) -> BoxFuture<'a, AuthStep>;
}

/// Lets everyone in as `anonymous` with a fixed role.
pub struct Anonymous {
    pub role: String,
}

impl Authenticator for Anonymous {
    fn hello<'a>(&'a self, _realm: &'a str, details: &'a Dict) -> BoxFuture<'a, AuthStep> {
        let offered = details.get("authmethods").and_then(|m| m.as_list());
        let allowed = offered.is_none_or(|l| l.is_empty() || l.iter().any(|m| m.as_str() == Some("anonymous")));
        let step = if allowed {
            AuthStep::Welcome(Identity {
                authid: format!("anonymous-{}", crate::ids::random_id()),
                authrole: self.role.clone(),
                authmethod: "anonymous".into(),
                authprovider: "static".into(),
                authextra: Dict::new(),
                realm: None,
            })
        } else {
            AuthStep::Abort {
                reason: "wamp.error.no_matching_auth_method".into(),
                message: "none of the offered authentication methods is allowed on this transport".into(),
            }
        };
        Box::pin(std::future::ready(step))
    }

    fn authenticate<'a>(&'a self, _p: Pending, _s: &'a str, _e: &'a Dict) -> BoxFuture<'a, AuthStep> {
        Box::pin(std::future::ready(AuthStep::Abort {
            reason: "wamp.error.authentication_failed".into(),
            message: "no challenge was issued".into(),
        }))
    }
}

/// Refuses every join: what a transport without any `auth` section gets, so that nothing is open by accident.
pub struct Refuse;

impl Authenticator for Refuse {
    fn hello<'a>(&'a self, _realm: &'a str, _details: &'a Dict) -> BoxFuture<'a, AuthStep> {
        Box::pin(std::future::ready(AuthStep::Abort {
            reason: "wamp.error.no_matching_auth_method".into(),
            message: "this transport has no authentication method configured".into(),
        }))
    }

    fn authenticate<'a>(&'a self, _p: Pending, _s: &'a str, _e: &'a Dict) -> BoxFuture<'a, AuthStep> {
        Box::pin(std::future::ready(AuthStep::Abort {
            reason: "wamp.error.no_matching_auth_method".into(),
            message: "this transport has no authentication method configured".into(),
        }))
    }
}

/// Admits exactly one fixed identity without a challenge: for trusted in-process sessions
/// (database bridges), which never face a network.
pub struct Trusted(pub Identity);

impl Authenticator for Trusted {
    fn hello<'a>(&'a self, _realm: &'a str, _details: &'a Dict) -> BoxFuture<'a, AuthStep> {
        Box::pin(std::future::ready(AuthStep::Welcome(self.0.clone())))
    }

    fn authenticate<'a>(&'a self, _p: Pending, _s: &'a str, _e: &'a Dict) -> BoxFuture<'a, AuthStep> {
        Box::pin(std::future::ready(AuthStep::Abort {
            reason: "wamp.error.authentication_failed".into(),
            message: "no challenge was issued".into(),
        }))
    }
}
