//! The dynamic authenticator: a WAMP procedure decides, like Crossbar's dynamic authenticators.
//!
//! It answers for the methods in `[transports.auth.dynamic] methods` (default `["ticket"]`),
//! for every authid that is not one of that method's static principals.
//!
//! ## `ticket`
//! A client asks for it by offering `ticket`. The exchange:
//!
//! 1. HELLO → CHALLENGE `ticket` with an empty extra; nothing is called yet.
//! 2. AUTHENTICATE → the procedure is called, in the realm of HELLO, through the router's
//!    internal session ([`wamp::router::Router::internal_caller`]), as
//!    `authenticate(realm, authid, details)`:
//!    - `realm`: the realm of HELLO;
//!    - `authid`: the authid of HELLO, or null;
//!    - `details`: `{"authmethod": "ticket", "authid", "authrole"` (what HELLO asked for, or
//!      null)`, "authextra"` (HELLO's, or `{}`)`, "session"` (the id the session will get)`,
//!      "transport": {"type", "peer", "serializer"}, "ticket"` (AUTHENTICATE's signature)`}`.
//! 3. It returns the role as a string, or a dict `{"role", "authid"?, "realm"?, "extra"?}`:
//!    `authid` replaces the one of HELLO (one of the two is needed), `realm` sends the session to
//!    another realm, `extra` (a dict) becomes WELCOME's `authextra`. WELCOME says
//!    `authmethod = "ticket"`, `authprovider = "dynamic"`.
//!
//! An ERROR from the procedure (including `wamp.error.no_such_procedure` when nobody registered
//! it), no answer within [`TIMEOUT`], or an answer of another shape ends the join with ABORT
//! `wamp.error.authentication_failed`; the client learns nothing more. The ticket is never
//! logged.
//!
//! ## `wampcra` and `cryptosign`
//! The procedure is called at HELLO, with the same arguments (`details.authmethod` names the
//! method; for cryptosign `details.authextra.pubkey` is the client's key), and returns the
//! principal as a dict — `role`, and optionally `authid`, `realm`, `extra` as above — plus:
//! - wampcra: `secret`, and for a salted key `salt` (with `iterations`, default 1000, and
//!   `keylen`, default 32); the router then sends the WAMP-CRA challenge (`authprovider`
//!   `dynamic` in its text) and checks the signature itself;
//! - cryptosign: `pubkey` (hex) or `authorized_keys` (a list of them); the router sends the
//!   challenge and checks the signature against those keys (only against HELLO's key when the
//!   client named one).
//!
//! WELCOME says the method and `authprovider = "dynamic"`. Refusals are as for tickets; the
//! secret is never logged.

use std::sync::Arc;
use std::time::Duration;

use wamp::router::caller::CallError;
use wamp::router::{AuthStep, Identity, Router};
use wamp::{Dict, Payload, Value};

use ed25519_dalek::VerifyingKey;

use super::{cryptosign, outcome, secrets_equal, wampcra, Exchange, Hello, Method};
use crate::config::auth::{parse_public_key, DynamicAuth, Secret, DEFAULT_ITERATIONS, DEFAULT_KEYLEN, MAX_KEYLEN};

/// How long the authenticator procedure may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Dynamic {
    procedure: String,
    methods: Vec<Method>,
}

/// What the call needs, gathered at HELLO.
pub struct Pending {
    router: Arc<Router>,
    realm: String,
    authid: Option<String>,
    details: Dict,
}

/// A dynamic principal's WAMP-CRA challenge, to be signed with its key.
pub struct CraPending {
    identity: Identity,
    key: Secret,
    challenge: String,
}

/// A dynamic principal's cryptosign challenge and the keys that may answer it.
pub struct SignPending {
    identity: Identity,
    challenge: [u8; 32],
    candidates: Vec<VerifyingKey>,
}

/// What the procedure decided.
#[derive(Debug, PartialEq)]
pub struct Principal {
    pub role: String,
    pub authid: Option<String>,
    pub realm: Option<String>,
    pub extra: Dict,
}

impl Dynamic {
    pub fn new(config: &DynamicAuth) -> Dynamic {
        let methods = config.methods.iter().filter_map(|m| Method::from_name(m)).collect();
        Dynamic { procedure: config.authenticator.clone(), methods }
    }

    /// Whether it answers for `method`.
    pub fn handles(&self, method: Method) -> bool {
        self.methods.contains(&method)
    }

    /// What the procedure is told about the client (`ticket` adds the ticket later).
    fn pending(hello: &Hello<'_>, authmethod: &str) -> Pending {
        let text = |v: Option<&str>| v.map_or(Value::Null, Value::from);
        let mut details = Dict::new();
        details.insert("authmethod".into(), authmethod.into());
        details.insert("authid".into(), text(hello.authid));
        details.insert("authrole".into(), text(hello.authrole));
        details.insert("authextra".into(), hello.authextra.clone().into());
        details.insert("session".into(), hello.ctx.session.into());
        details.insert("transport".into(), hello.ctx.transport.details().into());
        Pending {
            router: hello.ctx.router.clone(),
            realm: hello.realm.to_owned(),
            authid: hello.authid.map(str::to_owned),
            details,
        }
    }

    pub fn hello(&self, hello: &Hello<'_>) -> AuthStep {
        outcome::challenge("ticket", Dict::new(), Exchange::Dynamic(Dynamic::pending(hello, "ticket")))
    }

    pub async fn verify(&self, pending: Pending, ticket: &str) -> AuthStep {
        let mut pending = pending;
        pending.details.insert("ticket".into(), ticket.into());
        match self.ask(pending, "ticket").await {
            Ok((identity, _)) => AuthStep::Welcome(identity),
            Err(refused) => refused,
        }
    }

    /// WAMP-CRA for a principal the procedure knows: it returns the secret, we challenge.
    pub async fn hello_wampcra(&self, hello: &Hello<'_>) -> AuthStep {
        let session = hello.ctx.session;
        let (identity, mut rest) = match self.ask(Dynamic::pending(hello, "wampcra"), "wampcra").await {
            Ok(answer) => answer,
            Err(refused) => return refused,
        };
        let secret = match rest.shift_remove("secret") {
            Some(Value::Str(s)) if !s.is_empty() => s,
            _ => return self.bad_answer(&identity.authid, "no \"secret\" for wampcra"),
        };
        let salt = match rest.shift_remove("salt") {
            None | Some(Value::Null) => None,
            Some(Value::Str(s)) if !s.is_empty() => Some(s),
            Some(_) => return self.bad_answer(&identity.authid, "a \"salt\" that is not a string"),
        };
        // The bounds the configuration holds static users to (iterations capped, as the
        // procedure's answer is not reviewed like a file).
        let number = |v: Option<Value>, default: u32, max: u32| match v {
            None | Some(Value::Null) => Some(default),
            Some(v) => v.as_u64().filter(|n| (1..=u64::from(max)).contains(n)).map(|n| n as u32),
        };
        let mut extra = Dict::new();
        let key = match salt {
            None => Secret::new(secret),
            Some(salt) => {
                let (Some(iterations), Some(keylen)) =
                    (number(rest.shift_remove("iterations"), DEFAULT_ITERATIONS, 10_000_000), number(rest.shift_remove("keylen"), DEFAULT_KEYLEN, MAX_KEYLEN))
                else {
                    return self.bad_answer(&identity.authid, "\"iterations\" or \"keylen\" out of range");
                };
                let s = salt.clone();
                // PBKDF2 with as many iterations as the procedure said: not on the async threads.
                let derived = tokio::task::spawn_blocking(move || {
                    wampcra::derive_key(secret.as_bytes(), s.as_bytes(), iterations, keylen)
                })
                .await;
                let Ok(derived) = derived else { return outcome::failed() };
                extra.insert("salt".into(), salt.into());
                extra.insert("iterations".into(), u64::from(iterations).into());
                extra.insert("keylen".into(), u64::from(keylen).into());
                Secret::new(derived)
            }
        };
        let challenge = wampcra::new_challenge(&identity.authid, &identity.authrole, "dynamic", session);
        extra.insert("challenge".into(), challenge.clone().into());
        outcome::challenge("wampcra", extra, Exchange::DynamicWampCra(CraPending { identity, key, challenge }))
    }

    pub fn verify_wampcra(&self, pending: CraPending, signature: &str) -> AuthStep {
        let expected = wampcra::sign(pending.key.expose().as_bytes(), &pending.challenge);
        if secrets_equal(expected.as_bytes(), signature.as_bytes()) {
            AuthStep::Welcome(pending.identity)
        } else {
            tracing::info!(authmethod = "wampcra", authid = %pending.identity.authid, "refused: wrong signature (dynamic)");
            outcome::failed()
        }
    }

    /// Cryptosign for a principal the procedure knows: it returns the keys, we challenge.
    pub async fn hello_cryptosign(&self, hello: &Hello<'_>) -> AuthStep {
        let Ok(hello_key) = cryptosign::hello_key(hello) else { return outcome::failed() };
        let (identity, mut rest) = match self.ask(Dynamic::pending(hello, "cryptosign"), "cryptosign").await {
            Ok(answer) => answer,
            Err(refused) => return refused,
        };
        let texts: Vec<Value> = match (rest.shift_remove("pubkey"), rest.shift_remove("authorized_keys")) {
            (Some(Value::Str(k)), None) => vec![Value::Str(k)],
            (None, Some(Value::List(keys))) => keys,
            _ => return self.bad_answer(&identity.authid, "neither \"pubkey\" nor \"authorized_keys\" for cryptosign"),
        };
        let mut keys = Vec::with_capacity(texts.len());
        for t in &texts {
            match t.as_str().map(parse_public_key) {
                Some(Ok(key)) => keys.push(key),
                _ => return self.bad_answer(&identity.authid, "a key that is not 64 hex characters"),
            }
        }
        let candidates = match hello_key {
            Some(key) => keys.into_iter().filter(|k| *k == key).collect(),
            None => keys,
        };
        let (challenge, extra) = cryptosign::new_challenge();
        outcome::challenge("cryptosign", extra, Exchange::DynamicCryptosign(SignPending { identity, challenge, candidates }))
    }

    pub fn verify_cryptosign(&self, pending: SignPending, signature: &str) -> AuthStep {
        if cryptosign::verify_signed_challenge(&pending.candidates, &pending.challenge, signature) {
            AuthStep::Welcome(pending.identity)
        } else {
            tracing::info!(authmethod = "cryptosign", authid = %pending.identity.authid, "refused: bad signature or key (dynamic)");
            outcome::failed()
        }
    }

    fn bad_answer(&self, authid: &str, why: &str) -> AuthStep {
        tracing::warn!(procedure = %self.procedure, authid, "dynamic authenticator answered {why}; refusing");
        outcome::failed()
    }

    /// Calls the procedure; the identity it assigns, and the rest of its answer (a dict).
    async fn ask(&self, pending: Pending, authmethod: &str) -> Result<(Identity, Dict), AuthStep> {
        let Pending { router, realm, authid, details } = pending;
        let args = vec![realm.clone().into(), authid.clone().map_or(Value::Null, Value::from), details.into()];
        let caller = router.internal_caller(&realm);
        let procedure = self.procedure.as_str();
        let (principal, rest) = match caller.call(procedure, Payload::args(args), TIMEOUT).await {
            Ok(payload) => match principal_and_rest(payload) {
                Ok(p) => p,
                Err(why) => {
                    tracing::warn!(procedure, authid, "dynamic authenticator answered {why}; refusing");
                    return Err(outcome::failed());
                }
            },
            Err(CallError::Error { uri, .. }) => {
                if uri == "wamp.error.no_such_procedure" {
                    tracing::warn!(procedure, realm, "dynamic authenticator is not registered; refusing");
                } else {
                    tracing::info!(procedure, authid, error = %uri, "refused by the dynamic authenticator");
                }
                return Err(outcome::failed());
            }
            Err(err) => {
                tracing::warn!(procedure, authid, cause = %err, "dynamic authenticator failed; refusing");
                return Err(outcome::failed());
            }
        };
        let Some(authid) = principal.authid.or(authid) else {
            tracing::info!(procedure, "refused: the dynamic authenticator assigned no authid");
            return Err(outcome::no_such_principal());
        };
        let identity = Identity {
            authid,
            authrole: principal.role,
            authmethod: authmethod.into(),
            authprovider: "dynamic".into(),
            authextra: principal.extra,
            realm: principal.realm,
        };
        Ok((identity, rest))
    }
}

/// Reads the procedure's answer: its first positional result, a role or a principal dict.
pub fn principal(payload: Payload) -> Result<Principal, String> {
    principal_and_rest(payload).map(|(p, _)| p)
}

/// [`principal`], and the answer's other keys (a method's secret or keys).
pub fn principal_and_rest(payload: Payload) -> Result<(Principal, Dict), String> {
    let first = payload.args.and_then(|a| a.into_iter().next());
    let mut d = match first {
        Some(Value::Str(role)) => Dict::from_iter([("role".to_owned(), Value::Str(role))]),
        Some(Value::Dict(d)) => d,
        Some(other) => return Err(format!("a {}, neither a role nor a dict", other.type_name())),
        None => return Err("nothing".into()),
    };
    let mut text = |key: &str| match d.shift_remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) if !s.is_empty() => Ok(Some(s)),
        Some(other) => Err(format!("a {} for \"{key}\"", other.type_name())),
    };
    let role = text("role")?.ok_or("no role")?;
    let authid = text("authid")?;
    let realm = text("realm")?;
    let extra = match d.shift_remove("extra") {
        None | Some(Value::Null) => Dict::new(),
        Some(Value::Dict(extra)) => extra,
        Some(other) => return Err(format!("a {} for \"extra\"", other.type_name())),
    };
    Ok((Principal { role, authid, realm, extra }, d))
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use wamp::dict;
    use wamp::router::auth::Trusted;
    use wamp::router::Authenticator;
    use wamp::{Message, RequestId};

    #[test]
    fn answers_are_a_role_or_a_principal() {
        let answer = |v: Value| principal(Payload::args(vec![v]));
        let role_only = Principal { role: "user".into(), authid: None, realm: None, extra: Dict::new() };
        assert_eq!(answer("user".into()), Ok(role_only));
        let full = dict! { "role" => "user", "authid" => "x", "realm" => "realm2", "extra" => dict! { "k" => 1 } };
        assert_eq!(
            answer(full.into()),
            Ok(Principal {
                role: "user".into(),
                authid: Some("x".into()),
                realm: Some("realm2".into()),
                extra: dict! { "k" => 1 }
            })
        );
        assert!(answer(Value::Bool(true)).is_err());
        assert!(answer(dict! { "authid" => "x" }.into()).is_err(), "no role");
        assert!(answer(dict! { "role" => 1 }.into()).is_err());
        assert!(answer(dict! { "role" => "user", "extra" => "x" }.into()).is_err());
        assert!(principal(Payload::default()).is_err());
    }

    const AUTH: &str = "[transports.auth.ticket.principals.alice]\nticket = \"alice-secret\"\nrole = \"user\"\n\
        [transports.auth.dynamic]\nauthenticator = \"com.example.authenticate\"\n";

    fn hello_as(authid: &str) -> Dict {
        dict! { "authmethods" => Value::List(vec!["ticket".into()]), "authid" => authid, "authextra" => dict! { "a" => 1 } }
    }

    /// A session in realm1 that registers the authenticator and answers one call with `answer`
    /// (an ERROR when `Err`), returning the arguments it was called with.
    async fn authenticator_session(router: &Arc<Router>) -> wamp::router::link::Link {
        let identity = Identity {
            authid: "authenticator".into(),
            authrole: "anonymous".into(),
            authmethod: "trusted".into(),
            authprovider: "test".into(),
            authextra: Dict::new(),
            realm: None,
        };
        let mut link = router.connect_local("test", 16, Arc::new(Trusted(identity)));
        link.send(Message::Hello { realm: "realm1".into(), details: Dict::new() }).await;
        assert!(matches!(link.recv().await, Some(Message::Welcome { .. })));
        let register = Message::Register {
            request: RequestId(1),
            options: Dict::new(),
            procedure: "com.example.authenticate".into(),
        };
        link.send(register).await;
        assert!(matches!(link.recv().await, Some(Message::Registered { .. })));
        link
    }

    async fn answer_one(link: &mut wamp::router::link::Link, answer: Result<Value, &str>) -> Vec<Value> {
        let Some(Message::Invocation { request, payload, .. }) = link.recv().await else { panic!("no invocation") };
        let reply = match answer {
            Ok(v) => Message::Yield { request, options: Dict::new(), payload: Payload::args(vec![v]) },
            Err(uri) => Message::Error {
                request_type: 68,
                request,
                details: Dict::new(),
                error: uri.into(),
                payload: Payload::args(vec!["secret reason".into()]),
            },
        };
        link.send(reply).await;
        payload.args.expect("arguments")
    }

    async fn run(answer: Result<Value, &'static str>, authid: &str, ticket: &str) -> (AuthStep, Vec<Value>) {
        let router = testing::router();
        let mut link = authenticator_session(&router).await;
        let auth = testing::transport_auth(AUTH);
        let (method, extra, pending) = testing::challenge(testing::hello_on(&router, &auth, hello_as(authid)).await);
        assert_eq!((method.as_str(), extra.len()), ("ticket", 0));
        let ticket = ticket.to_owned();
        let answering = tokio::spawn(async move { answer_one(&mut link, answer).await });
        let step = auth.authenticate(pending, &ticket, &dict! {}).await;
        (step, answering.await.expect("the authenticator session ran"))
    }

    #[tokio::test]
    async fn the_procedure_gets_realm_authid_and_details_and_assigns_the_role() {
        let (step, args) = run(Ok("user".into()), "zoe", "zoe-token").await;
        let identity = testing::welcome(step);
        assert_eq!(
            (
                identity.authid.as_str(),
                identity.authrole.as_str(),
                identity.authmethod.as_str(),
                identity.authprovider.as_str()
            ),
            ("zoe", "user", "ticket", "dynamic")
        );
        assert_eq!(args[0], Value::from("realm1"));
        assert_eq!(args[1], Value::from("zoe"));
        let details = args[2].as_dict().expect("details");
        assert_eq!(details["authmethod"], Value::from("ticket"));
        assert_eq!(details["ticket"], Value::from("zoe-token"));
        assert_eq!(details["authextra"], dict! { "a" => 1 }.into());
        assert_eq!(details["session"], testing::SESSION.into());
        assert_eq!(details["transport"].as_dict().expect("transport")["type"], Value::from("websocket"));
    }

    #[tokio::test]
    async fn the_procedure_may_assign_authid_realm_and_extra() {
        let answer = dict! { "role" => "admin", "authid" => "zoe@example", "realm" => "realm2", "extra" => dict! { "x" => true } };
        let identity = testing::welcome(run(Ok(answer.into()), "zoe", "t").await.0);
        assert_eq!((identity.authid.as_str(), identity.authrole.as_str()), ("zoe@example", "admin"));
        assert_eq!(identity.realm.as_deref(), Some("realm2"));
        assert_eq!(identity.authextra, dict! { "x" => true });
    }

    #[tokio::test]
    async fn an_error_or_a_bad_answer_is_authentication_failed() {
        let (step, _) = run(Err("com.example.invalid_ticket"), "zoe", "t").await;
        assert_eq!(testing::abort(step), "wamp.error.authentication_failed");
        let (step, _) = run(Ok(Value::Int(3)), "zoe", "t").await;
        assert_eq!(testing::abort(step), "wamp.error.authentication_failed");
    }

    #[tokio::test]
    async fn nobody_registered_is_authentication_failed() {
        let auth = testing::transport_auth(AUTH);
        let (_, _, pending) = testing::challenge(testing::hello(&auth, hello_as("zoe")).await);
        assert_eq!(
            testing::abort(auth.authenticate(pending, "t", &dict! {}).await),
            "wamp.error.authentication_failed"
        );
    }

    #[tokio::test]
    async fn static_principals_stay_static() {
        let auth = testing::transport_auth(AUTH);
        let (_, _, pending) = testing::challenge(testing::hello(&auth, hello_as("alice")).await);
        let identity = testing::welcome(auth.authenticate(pending, "alice-secret", &dict! {}).await);
        assert_eq!(identity.authprovider, "static");
    }
}
