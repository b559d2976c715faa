//! Authentication: a transport's `auth` section as the router's [`Authenticator`].
//!
//! ## Layout
//! - [`TransportAuth`] (here) picks the method — the first of the client's `authmethods` that the
//!   transport has; no `authmethods` at all means `anonymous` — and hands HELLO and AUTHENTICATE
//!   to it. A transport without any method gets [`Refuse`], so a forgotten `auth` section locks
//!   the transport rather than opening it.
//! - one file per method: [`anonymous`], [`ticket`], [`wampcra`], [`cryptosign`], [`dynamic`]
//!   (a WAMP procedure that checks tickets, or gives the secret or keys of wampcra and
//!   cryptosign principals the configuration does not list).
//! - [`outcome`]: WELCOME, CHALLENGE and the ABORTs every method answers with.
//!
//! ## Failures
//! | situation                                                   | ABORT reason                          |
//! |-------------------------------------------------------------|---------------------------------------|
//! | none of the offered methods is configured on the transport  | `wamp.error.no_matching_auth_method`  |
//! | unknown authid (refused at HELLO, before any challenge, as Crossbar does) | `wamp.error.no_such_principal` |
//! | wrong ticket, signature or key; the dynamic authenticator refused or failed | `wamp.error.authentication_failed` |
//! | the principal's role is not defined in the realm            | `wamp.error.no_such_role` (the realm) |
//!
//! The ABORT message is the same "authentication failed" whatever part was wrong. A failed
//! AUTHENTICATE ends the session: there is no second try on the same connection. Secrets are
//! compared in constant time ([`secrets_equal`]) and never logged.

pub mod anonymous;
pub mod cryptosign;
pub mod dynamic;
pub mod outcome;
pub mod ticket;
pub mod wampcra;

#[cfg(test)]
mod testing;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use wamp::router::auth::{BoxFuture, HelloContext, Pending, Refuse};
use wamp::router::{AuthStep, Authenticator};
use wamp::{Dict, Value};

use crate::config::AuthConfig;

/// The authenticator for a transport with this `auth` section.
pub fn authenticator(auth: Option<&AuthConfig>) -> Arc<dyn Authenticator> {
    match auth {
        Some(auth) if !auth.is_empty() => Arc::new(TransportAuth::new(auth)),
        _ => Arc::new(Refuse),
    }
}

/// Whether two secrets are equal, in a time that depends on neither their contents nor their
/// lengths: both are hashed, and the digests compared with `subtle`.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    Sha256::digest(a).as_slice().ct_eq(Sha256::digest(b).as_slice()).into()
}

/// An authentication method, as a client names it in HELLO's `authmethods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Anonymous,
    /// Static tickets, or the dynamic authenticator.
    Ticket,
    WampCra,
    Cryptosign,
}

impl Method {
    pub fn from_name(name: &str) -> Option<Method> {
        match name {
            "anonymous" => Some(Method::Anonymous),
            "ticket" => Some(Method::Ticket),
            "wampcra" => Some(Method::WampCra),
            "cryptosign" => Some(Method::Cryptosign),
            _ => None,
        }
    }
}

/// What the methods read from HELLO.
pub struct Hello<'a> {
    pub ctx: &'a HelloContext<'a>,
    pub realm: &'a str,
    /// The authid the client asks for, if any.
    pub authid: Option<&'a str>,
    /// The authrole the client asks for, if any (only passed on to a dynamic authenticator).
    pub authrole: Option<&'a str>,
    pub authextra: Dict,
}

impl<'a> Hello<'a> {
    pub fn new(ctx: &'a HelloContext<'a>, realm: &'a str, details: &'a Dict) -> Hello<'a> {
        let text = |key: &str| details.get(key).and_then(Value::as_str);
        Hello {
            ctx,
            realm,
            authid: text("authid"),
            authrole: text("authrole"),
            authextra: details.get("authextra").and_then(Value::as_dict).cloned().unwrap_or_default(),
        }
    }
}

/// State of one method between CHALLENGE and AUTHENTICATE.
pub enum Exchange {
    Ticket(ticket::Pending),
    WampCra(wampcra::Pending),
    Cryptosign(cryptosign::Pending),
    Dynamic(dynamic::Pending),
    DynamicWampCra(dynamic::CraPending),
    DynamicCryptosign(dynamic::SignPending),
}

/// The methods one transport accepts.
pub struct TransportAuth {
    anonymous: Option<anonymous::Anonymous>,
    ticket: Option<ticket::Ticket>,
    wampcra: Option<wampcra::WampCra>,
    cryptosign: Option<cryptosign::Cryptosign>,
    dynamic: Option<dynamic::Dynamic>,
}

impl TransportAuth {
    /// From a validated `auth` section (see `config::auth::check`).
    pub fn new(config: &AuthConfig) -> TransportAuth {
        TransportAuth {
            anonymous: config.anonymous.as_ref().map(anonymous::Anonymous::new),
            ticket: config.ticket.as_ref().map(ticket::Ticket::new),
            wampcra: config.wampcra.as_ref().map(wampcra::WampCra::new),
            cryptosign: config.cryptosign.as_ref().map(cryptosign::Cryptosign::new),
            dynamic: config.dynamic.as_ref().map(dynamic::Dynamic::new),
        }
    }

    fn has(&self, method: Method) -> bool {
        let dynamic = self.dynamic.as_ref().is_some_and(|d| d.handles(method));
        match method {
            Method::Anonymous => self.anonymous.is_some(),
            Method::Ticket => self.ticket.is_some() || dynamic,
            Method::WampCra => self.wampcra.is_some() || dynamic,
            Method::Cryptosign => self.cryptosign.is_some() || dynamic,
        }
    }

    /// The first method in HELLO's `authmethods` that this transport has. Without
    /// `authmethods` (or with an empty list) a client asks for `anonymous`; names this router
    /// does not know are skipped.
    pub fn select(&self, details: &Dict) -> Option<Method> {
        let offered: Vec<&str> = match details.get("authmethods") {
            None => vec!["anonymous"],
            Some(Value::List(list)) if list.is_empty() => vec!["anonymous"],
            Some(Value::List(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(_) => vec![],
        };
        offered.into_iter().filter_map(Method::from_name).find(|m| self.has(*m))
    }

    /// Static principals first; any other authid is the dynamic authenticator's when it answers
    /// for the method.
    async fn start(&self, hello: &Hello<'_>, method: Method) -> AuthStep {
        let dynamic = self.dynamic.as_ref().filter(|d| d.handles(method));
        match method {
            Method::Anonymous => self.anonymous.as_ref().map_or_else(outcome::failed, |a| a.hello()),
            Method::Ticket => match (&self.ticket, dynamic) {
                (Some(t), _) if hello.authid.is_some_and(|id| t.knows(id)) => t.hello(hello),
                (_, Some(d)) => d.hello(hello),
                (Some(t), None) => t.hello(hello),
                (None, None) => outcome::failed(),
            },
            Method::WampCra => match (&self.wampcra, dynamic) {
                (Some(w), _) if hello.authid.is_some_and(|id| w.knows(id)) => w.hello(hello),
                (_, Some(d)) => d.hello_wampcra(hello).await,
                (Some(w), None) => w.hello(hello),
                (None, None) => outcome::failed(),
            },
            Method::Cryptosign => match (&self.cryptosign, dynamic) {
                (Some(c), _) if c.knows(hello) => c.hello(hello),
                (_, Some(d)) => d.hello_cryptosign(hello).await,
                (Some(c), None) => c.hello(hello),
                (None, None) => outcome::failed(),
            },
        }
    }
}

impl Authenticator for TransportAuth {
    fn hello<'a>(&'a self, _realm: &'a str, _details: &'a Dict) -> BoxFuture<'a, AuthStep> {
        // Sessions always call `hello_via`; without the context no challenge could name the
        // session and no procedure could be called.
        tracing::error!("authentication asked without the session's context; refusing");
        Box::pin(std::future::ready(outcome::failed()))
    }

    fn hello_via<'a>(
        &'a self,
        ctx: &'a HelloContext<'a>,
        realm: &'a str,
        details: &'a Dict,
    ) -> BoxFuture<'a, AuthStep> {
        Box::pin(async move {
            match self.select(details) {
                Some(method) => self.start(&Hello::new(ctx, realm, details), method).await,
                None => outcome::no_matching_method(),
            }
        })
    }

    fn authenticate<'a>(&'a self, pending: Pending, signature: &'a str, _extra: &'a Dict) -> BoxFuture<'a, AuthStep> {
        Box::pin(async move {
            let Ok(exchange) = pending.0.downcast::<Exchange>() else { return outcome::failed() };
            match *exchange {
                Exchange::Ticket(p) => self.ticket.as_ref().map_or_else(outcome::failed, |t| t.verify(p, signature)),
                Exchange::WampCra(p) => self.wampcra.as_ref().map_or_else(outcome::failed, |w| w.verify(p, signature)),
                Exchange::Cryptosign(p) => {
                    self.cryptosign.as_ref().map_or_else(outcome::failed, |c| c.verify(p, signature))
                }
                Exchange::Dynamic(p) => match &self.dynamic {
                    Some(d) => d.verify(p, signature).await,
                    None => outcome::failed(),
                },
                Exchange::DynamicWampCra(p) => {
                    self.dynamic.as_ref().map_or_else(outcome::failed, |d| d.verify_wampcra(p, signature))
                }
                Exchange::DynamicCryptosign(p) => {
                    self.dynamic.as_ref().map_or_else(outcome::failed, |d| d.verify_cryptosign(p, signature))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use wamp::dict;

    fn transport(auth: &str) -> TransportAuth {
        let toml = format!("[[transports]]\ntype = \"websocket\"\n{auth}");
        let settings = Settings::from_toml_str(&toml).expect("parses");
        TransportAuth::new(settings.transports[0].auth().expect("an auth section"))
    }

    fn offering(methods: &[&str]) -> Dict {
        dict! { "authmethods" => Value::List(methods.iter().map(|m| Value::from(*m)).collect()) }
    }

    const TICKET: &str = "[transports.auth.ticket.principals.alice]\nticket = \"t\"\nrole = \"user\"\n";
    const WAMPCRA: &str = "[transports.auth.wampcra.users.bob]\nsecret = \"s\"\nrole = \"user\"\n";
    const ANONYMOUS: &str = "[transports.auth.anonymous]\n";
    const DYNAMIC: &str = "[transports.auth.dynamic]\nauthenticator = \"com.example.auth\"\n";

    #[test]
    fn the_clients_order_wins_among_the_configured_methods() {
        let t = transport(&format!("{ANONYMOUS}{TICKET}{WAMPCRA}"));
        assert_eq!(t.select(&offering(&["wampcra", "ticket"])), Some(Method::WampCra));
        assert_eq!(t.select(&offering(&["ticket", "wampcra"])), Some(Method::Ticket));
        assert_eq!(t.select(&offering(&["cryptosign", "ticket"])), Some(Method::Ticket), "unconfigured: skipped");
        assert_eq!(t.select(&offering(&["kerberos", "anonymous"])), Some(Method::Anonymous), "unknown: skipped");
        assert_eq!(t.select(&offering(&["cryptosign"])), None);
    }

    #[test]
    fn no_authmethods_means_anonymous() {
        let with = transport(&format!("{ANONYMOUS}{TICKET}"));
        assert_eq!(with.select(&Dict::new()), Some(Method::Anonymous));
        assert_eq!(with.select(&offering(&[])), Some(Method::Anonymous));
        let without = transport(TICKET);
        assert_eq!(without.select(&Dict::new()), None);
        assert_eq!(without.select(&dict! { "authmethods" => "ticket" }), None, "not a list: nothing offered");
    }

    #[test]
    fn the_dynamic_authenticator_answers_to_ticket() {
        assert_eq!(transport(DYNAMIC).select(&offering(&["wampcra", "ticket"])), Some(Method::Ticket));
    }

    #[tokio::test]
    async fn an_empty_or_missing_section_refuses_every_join() {
        let open = crate::config::AnonymousAuth { role: "anonymous".into() };
        let cases = [
            (authenticator(None), true),
            (authenticator(Some(&AuthConfig::default())), true),
            (authenticator(Some(&AuthConfig { anonymous: Some(open), ..AuthConfig::default() })), false),
        ];
        for (auth, refused) in cases {
            let step = testing::hello(auth.as_ref(), Dict::new()).await;
            let aborted =
                matches!(&step, AuthStep::Abort { reason, .. } if reason == "wamp.error.no_matching_auth_method");
            assert_eq!(aborted, refused);
        }
    }

    #[test]
    fn secrets_compare_by_content_only() {
        assert!(secrets_equal(b"alice-secret", b"alice-secret"));
        assert!(!secrets_equal(b"alice-secret", b"alice-secreT"));
        assert!(!secrets_equal(b"alice-secret", b"alice-secret2"));
        assert!(!secrets_equal(b"", b"x"));
        assert!(secrets_equal(b"", b""));
    }
}
