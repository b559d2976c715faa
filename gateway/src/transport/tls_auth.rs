//! `[transports.auth.tls]`: authentication by the client certificate verified in the TLS handshake.
//!
//! The certificate's subject CN becomes the authid (authmethod `tls`, authprovider `static`),
//! with the configured role. [`TlsOr`] puts the method in front of a transport's other methods.
//!
//! Which method a HELLO gets: `tls` when the client offers it in `authmethods` or offers no list
//! at all (a verified certificate already says who it is), provided the connection carries a
//! verified certificate; otherwise the transport's other methods decide, exactly as without
//! `auth.tls`.

use std::sync::Arc;

use wamp::router::auth::{BoxFuture, HelloContext, Pending};
use wamp::router::{AuthStep, Authenticator, Identity, TransportInfo};
use wamp::value::{Dict, Value};

use crate::config::AuthConfig;

/// The authmethod this authenticator answers to.
pub const AUTHMETHOD: &str = "tls";

/// Admits a connection's verified client certificate: authid = its CN.
pub struct TlsCertificate {
    pub role: String,
}

impl TlsCertificate {
    /// The identity for a connection, if it carries a verified client certificate.
    pub fn identity(&self, transport: &TransportInfo) -> Option<Identity> {
        let cn = transport.client_cert_cn.as_ref()?;
        Some(Identity {
            authid: cn.clone(),
            authrole: self.role.clone(),
            authmethod: AUTHMETHOD.into(),
            authprovider: "static".into(),
            authextra: Dict::new(),
            realm: None,
        })
    }
}

impl Authenticator for TlsCertificate {
    fn hello<'a>(&'a self, _realm: &'a str, _details: &'a Dict) -> BoxFuture<'a, AuthStep> {
        // Only reached without transport information, i.e. without a certificate.
        Box::pin(std::future::ready(no_certificate()))
    }

    fn hello_via<'a>(
        &'a self,
        ctx: &'a HelloContext<'a>,
        _realm: &'a str,
        _details: &'a Dict,
    ) -> BoxFuture<'a, AuthStep> {
        let step = self.identity(ctx.transport).map_or_else(no_certificate, AuthStep::Welcome);
        Box::pin(std::future::ready(step))
    }

    fn authenticate<'a>(&'a self, _p: Pending, _s: &'a str, _e: &'a Dict) -> BoxFuture<'a, AuthStep> {
        Box::pin(std::future::ready(AuthStep::Abort {
            reason: "wamp.error.authentication_failed".into(),
            message: "no challenge was issued".into(),
        }))
    }
}

fn no_certificate() -> AuthStep {
    AuthStep::Abort {
        reason: "wamp.error.no_matching_auth_method".into(),
        message: "no verified client certificate on this connection".into(),
    }
}

/// `auth.tls` in front of the transport's other methods (`rest`).
pub struct TlsOr {
    pub tls: TlsCertificate,
    pub rest: Arc<dyn Authenticator>,
}

/// The transport's authenticator: `rest` (from [`crate::auth::authenticator`]), with the TLS
/// client certificate method in front when `auth.tls` is configured.
pub fn with_tls(auth: Option<&AuthConfig>, rest: Arc<dyn Authenticator>) -> Arc<dyn Authenticator> {
    match auth.and_then(|a| a.tls.as_ref()) {
        Some(tls) => Arc::new(TlsOr { tls: TlsCertificate { role: tls.role.clone() }, rest }),
        None => rest,
    }
}

/// Whether HELLO's `authmethods` lets the `tls` method answer: listed, or no list at all.
fn offers_tls(details: &Dict) -> bool {
    match details.get("authmethods").and_then(Value::as_list) {
        None => true,
        Some(methods) => methods.is_empty() || methods.iter().any(|m| m.as_str() == Some(AUTHMETHOD)),
    }
}

impl Authenticator for TlsOr {
    fn hello<'a>(&'a self, realm: &'a str, details: &'a Dict) -> BoxFuture<'a, AuthStep> {
        self.rest.hello(realm, details)
    }

    fn hello_via<'a>(
        &'a self,
        ctx: &'a HelloContext<'a>,
        realm: &'a str,
        details: &'a Dict,
    ) -> BoxFuture<'a, AuthStep> {
        match self.tls.identity(ctx.transport).filter(|_| offers_tls(details)) {
            Some(identity) => Box::pin(std::future::ready(AuthStep::Welcome(identity))),
            None => self.rest.hello_via(ctx, realm, details),
        }
    }

    fn authenticate<'a>(&'a self, pending: Pending, signature: &'a str, extra: &'a Dict) -> BoxFuture<'a, AuthStep> {
        // The tls method never challenges: any challenge in flight is one of the other methods'.
        self.rest.authenticate(pending, signature, extra)
    }
}

#[cfg(test)]
mod tests {
    use wamp::router::auth::{Anonymous, Refuse};

    use super::*;

    fn transport(cn: Option<&str>) -> TransportInfo {
        TransportInfo {
            kind: "rawsocket",
            peer: "127.0.0.1:1".into(),
            serializer: None,
            outbound_queue: 1,
            client_cert_cn: cn.map(str::to_owned),
        }
    }

    fn hello(methods: Option<&[&str]>) -> Dict {
        let mut details = Dict::new();
        if let Some(methods) = methods {
            let list = methods.iter().map(|m| Value::from(*m)).collect::<Vec<_>>();
            details.insert("authmethods".into(), Value::List(list));
        }
        details
    }

    fn tls_or(rest: Arc<dyn Authenticator>) -> TlsOr {
        TlsOr { tls: TlsCertificate { role: "device".into() }, rest }
    }

    /// HELLO through `auth` on a connection with this certificate CN.
    async fn hello_on(auth: &dyn Authenticator, cn: Option<&str>, methods: Option<&[&str]>) -> AuthStep {
        let router = wamp::router::Router::new(wamp::router::RouterConfig::default());
        let transport = transport(cn);
        let ctx = HelloContext { session: wamp::SessionId(1), transport: &transport, router: &router };
        auth.hello_via(&ctx, "realm1", &hello(methods)).await
    }

    async fn step(auth: &TlsOr, cn: Option<&str>, methods: Option<&[&str]>) -> AuthStep {
        hello_on(auth, cn, methods).await
    }

    fn welcomed(step: AuthStep) -> Identity {
        match step {
            AuthStep::Welcome(identity) => identity,
            AuthStep::Abort { reason, message } => {
                panic!("expected WELCOME, got ABORT {reason}: {message}")
            }
            AuthStep::Challenge { authmethod, .. } => {
                panic!("expected WELCOME, got a {authmethod} CHALLENGE")
            }
        }
    }

    fn abort_reason(step: AuthStep) -> String {
        match step {
            AuthStep::Abort { reason, .. } => reason,
            _ => panic!("expected ABORT"),
        }
    }

    #[tokio::test]
    async fn the_certificate_cn_is_the_authid() {
        let auth = tls_or(Arc::new(Refuse));
        for methods in [None, Some(&["tls"][..]), Some(&["ticket", "tls"][..]), Some(&[][..])] {
            let identity = welcomed(step(&auth, Some("sensor-7"), methods).await);
            assert_eq!(
                (identity.authid.as_str(), identity.authrole.as_str(), identity.authmethod.as_str()),
                ("sensor-7", "device", "tls")
            );
            assert_eq!(identity.authprovider, "static");
        }
    }

    #[tokio::test]
    async fn without_a_certificate_or_the_method_the_other_methods_decide() {
        let auth = tls_or(Arc::new(Anonymous { role: "guest".into() }));
        let identity = welcomed(step(&auth, None, Some(&["tls", "anonymous"])).await);
        assert_eq!((identity.authmethod.as_str(), identity.authrole.as_str()), ("anonymous", "guest"));
        let identity = welcomed(step(&auth, Some("sensor-7"), Some(&["anonymous"])).await);
        assert_eq!(identity.authmethod, "anonymous", "a client that does not offer tls is not made to use it");

        let refused = tls_or(Arc::new(Refuse));
        assert_eq!(abort_reason(step(&refused, None, Some(&["tls"])).await), "wamp.error.no_matching_auth_method");
    }

    #[tokio::test]
    async fn the_method_alone_needs_a_certificate() {
        let auth = TlsCertificate { role: "device".into() };
        let step = hello_on(&auth, None, Some(&["tls"])).await;
        assert_eq!(abort_reason(step), "wamp.error.no_matching_auth_method");
        let step = hello_on(&auth, Some("cn"), None).await;
        assert_eq!(welcomed(step).authid, "cn");
    }
}
