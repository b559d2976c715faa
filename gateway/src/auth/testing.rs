//! Test helpers: drive an [`Authenticator`] as a session would, without a network.

use std::sync::Arc;

use wamp::router::auth::{HelloContext, Pending};
use wamp::router::{AuthStep, Authenticator, Identity, Router, RouterConfig, TransportInfo};
use wamp::{Dict, SessionId};

use crate::config::Settings;

/// The session id every test HELLO is given.
pub const SESSION: SessionId = SessionId(4242);

pub fn router() -> Arc<Router> {
    Router::new(RouterConfig::default())
}

pub fn transport() -> TransportInfo {
    TransportInfo {
        kind: "websocket",
        peer: "127.0.0.1:5555".into(),
        serializer: None,
        outbound_queue: 8,
        client_cert_cn: None,
    }
}

/// The authenticator of a websocket transport with this `auth` section (TOML, `[transports.auth…]`).
pub fn transport_auth(auth: &str) -> super::TransportAuth {
    let toml = format!("[[transports]]\ntype = \"websocket\"\n{auth}");
    let settings = Settings::from_toml_str(&toml).unwrap_or_else(|e| panic!("parses: {e}"));
    super::TransportAuth::new(settings.transports[0].auth().expect("an auth section"))
}

/// HELLO for `realm1` with these details.
pub async fn hello(auth: &dyn Authenticator, details: Dict) -> AuthStep {
    hello_on(&router(), auth, details).await
}

pub async fn hello_on(router: &Arc<Router>, auth: &dyn Authenticator, details: Dict) -> AuthStep {
    let transport = transport();
    let ctx = HelloContext { session: SESSION, transport: &transport, router };
    auth.hello_via(&ctx, "realm1", &details).await
}

pub fn challenge(step: AuthStep) -> (String, Dict, Pending) {
    match step {
        AuthStep::Challenge { authmethod, extra, pending } => (authmethod, extra, pending),
        AuthStep::Welcome(i) => panic!("expected CHALLENGE, got WELCOME {i:?}"),
        AuthStep::Abort { reason, message } => panic!("expected CHALLENGE, got ABORT {reason}: {message}"),
    }
}

pub fn welcome(step: AuthStep) -> Identity {
    match step {
        AuthStep::Welcome(identity) => identity,
        AuthStep::Challenge { authmethod, .. } => panic!("expected WELCOME, got CHALLENGE {authmethod}"),
        AuthStep::Abort { reason, message } => panic!("expected WELCOME, got ABORT {reason}: {message}"),
    }
}

/// The ABORT reason; also checks that the message gives nothing away.
pub fn abort(step: AuthStep) -> String {
    match step {
        AuthStep::Abort { reason, message } => {
            if reason != "wamp.error.no_matching_auth_method" {
                assert_eq!(message, super::outcome::FAILED, "the message never says what was wrong");
            }
            reason
        }
        AuthStep::Welcome(i) => panic!("expected ABORT, got WELCOME {i:?}"),
        AuthStep::Challenge { authmethod, .. } => panic!("expected ABORT, got CHALLENGE {authmethod}"),
    }
}
