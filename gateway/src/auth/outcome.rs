//! What a method answers: WELCOME, CHALLENGE, or one of the ABORTs of the failure table in
//! [`super`]. Every refusal after the method is chosen carries the same message, so a client
//! cannot tell a wrong secret from a wrong key or a failing authenticator.

use wamp::router::auth::Pending;
use wamp::router::{AuthStep, Identity};
use wamp::Dict;

use super::Exchange;

/// The message of every ABORT after a method was chosen.
pub const FAILED: &str = "authentication failed";

/// Wrong ticket, signature or key; the dynamic authenticator refused or failed.
pub fn failed() -> AuthStep {
    abort("wamp.error.authentication_failed")
}

/// The authid is unknown (or none was given where one is needed).
pub fn no_such_principal() -> AuthStep {
    abort("wamp.error.no_such_principal")
}

/// None of the offered methods is configured on the transport.
pub fn no_matching_method() -> AuthStep {
    AuthStep::Abort {
        reason: "wamp.error.no_matching_auth_method".into(),
        message: "none of the offered authentication methods is allowed on this transport".into(),
    }
}

fn abort(reason: &str) -> AuthStep {
    AuthStep::Abort { reason: reason.into(), message: FAILED.into() }
}

/// CHALLENGE with this method and extra; `exchange` comes back with AUTHENTICATE.
pub fn challenge(authmethod: &str, extra: Dict, exchange: Exchange) -> AuthStep {
    AuthStep::Challenge { authmethod: authmethod.into(), extra, pending: Pending(Box::new(exchange)) }
}

/// WELCOME for a principal from the configuration (`authprovider = "static"`).
pub fn welcome_static(authid: &str, authrole: &str, authmethod: &str) -> AuthStep {
    AuthStep::Welcome(Identity {
        authid: authid.into(),
        authrole: authrole.into(),
        authmethod: authmethod.into(),
        authprovider: "static".into(),
        authextra: Dict::new(),
        realm: None,
    })
}
