//! `ticket` (WAMP-Ticket) against the principals of the configuration.
//!
//! HELLO names the authid; a known one gets CHALLENGE `ticket` with an empty extra, and
//! AUTHENTICATE's signature is the ticket itself, compared in constant time. An unknown authid is
//! refused at HELLO with `wamp.error.no_such_principal` — unless the transport also has a
//! dynamic authenticator, which then gets every authid the configuration does not know.

use std::collections::HashMap;

use wamp::router::AuthStep;
use wamp::Dict;

use super::{outcome, secrets_equal, Exchange, Hello};
use crate::config::auth::{Secret, TicketAuth};

pub struct Ticket {
    principals: HashMap<String, Principal>,
}

struct Principal {
    ticket: Secret,
    role: String,
}

/// Whose ticket AUTHENTICATE must carry.
pub struct Pending {
    authid: String,
}

impl Ticket {
    pub fn new(config: &TicketAuth) -> Ticket {
        let principals = config
            .principals
            .iter()
            .map(|(authid, p)| (authid.clone(), Principal { ticket: p.ticket.clone(), role: p.role.clone() }))
            .collect();
        Ticket { principals }
    }

    /// Whether `authid` is one of the configured principals.
    pub fn knows(&self, authid: &str) -> bool {
        self.principals.contains_key(authid)
    }

    pub fn hello(&self, hello: &Hello<'_>) -> AuthStep {
        match hello.authid.filter(|id| self.knows(id)) {
            Some(authid) => {
                outcome::challenge("ticket", Dict::new(), Exchange::Ticket(Pending { authid: authid.into() }))
            }
            None => {
                tracing::info!(authmethod = "ticket", authid = hello.authid, "refused: unknown principal");
                outcome::no_such_principal()
            }
        }
    }

    pub fn verify(&self, pending: Pending, ticket: &str) -> AuthStep {
        let Some(principal) = self.principals.get(&pending.authid) else { return outcome::failed() };
        if secrets_equal(principal.ticket.expose().as_bytes(), ticket.as_bytes()) {
            outcome::welcome_static(&pending.authid, &principal.role, "ticket")
        } else {
            tracing::info!(authmethod = "ticket", authid = %pending.authid, "refused: wrong ticket");
            outcome::failed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use wamp::dict;
    use wamp::router::Authenticator;
    use wamp::Value;

    const AUTH: &str = "[transports.auth.ticket.principals.alice]\nticket = \"alice-secret\"\nrole = \"user\"\n";

    fn hello_as(authid: &str) -> wamp::Dict {
        dict! { "authmethods" => Value::List(vec!["ticket".into()]), "authid" => authid }
    }

    #[tokio::test]
    async fn the_right_ticket_joins() {
        let auth = testing::transport_auth(AUTH);
        let (method, extra, pending) = testing::challenge(testing::hello(&auth, hello_as("alice")).await);
        assert_eq!((method.as_str(), extra.len()), ("ticket", 0));
        let identity = testing::welcome(auth.authenticate(pending, "alice-secret", &dict! {}).await);
        assert_eq!(
            (
                identity.authid.as_str(),
                identity.authrole.as_str(),
                identity.authmethod.as_str(),
                identity.authprovider.as_str()
            ),
            ("alice", "user", "ticket", "static")
        );
    }

    #[tokio::test]
    async fn a_wrong_ticket_fails() {
        let auth = testing::transport_auth(AUTH);
        for wrong in ["alice-secreT", "", "alice-secret ", "bob-secret"] {
            let (_, _, pending) = testing::challenge(testing::hello(&auth, hello_as("alice")).await);
            let step = auth.authenticate(pending, wrong, &dict! {}).await;
            assert_eq!(testing::abort(step), "wamp.error.authentication_failed", "{wrong:?}");
        }
    }

    #[tokio::test]
    async fn an_unknown_or_missing_authid_is_no_such_principal() {
        let auth = testing::transport_auth(AUTH);
        assert_eq!(testing::abort(testing::hello(&auth, hello_as("mallory")).await), "wamp.error.no_such_principal");
        let no_authid = dict! { "authmethods" => Value::List(vec!["ticket".into()]) };
        assert_eq!(testing::abort(testing::hello(&auth, no_authid).await), "wamp.error.no_such_principal");
    }
}
