//! `wampcra` (WAMP-CRA): HMAC-SHA256 challenge-response, as autobahn and Crossbar do it.
//!
//! CHALLENGE `wampcra` carries `{"challenge": <JSON text>}`, the JSON naming authid, authrole,
//! authmethod, authprovider, a nonce, a UTC timestamp and the session id the session will get.
//! The client answers with `base64(HMAC-SHA256(key, challenge))`, where the key is the secret
//! itself, or — for a user with a `salt` — `base64(PBKDF2-HMAC-SHA256(secret, salt, iterations,
//! keylen))` as autobahn's `auth.derive_key` computes it (the base64 *text* is the HMAC key);
//! then the extra also carries `salt`, `iterations` and `keylen` so the client can derive it.
//! Salted keys are derived once, at startup, not per connection.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;
use wamp::router::AuthStep;
use wamp::{Dict, SessionId};

use super::{outcome, secrets_equal, Exchange, Hello};
use crate::config::auth::{Secret, WampCraAuth, WampCraUser, DEFAULT_ITERATIONS, DEFAULT_KEYLEN};

pub struct WampCra {
    users: HashMap<String, User>,
}

struct User {
    /// The HMAC key: the secret, or the base64 text of its PBKDF2 derivation.
    key: Secret,
    role: String,
    salted: Option<Salted>,
}

struct Salted {
    salt: String,
    iterations: u32,
    keylen: u32,
}

/// The challenge sent, to be signed.
pub struct Pending {
    authid: String,
    challenge: String,
}

impl WampCra {
    pub fn new(config: &WampCraAuth) -> WampCra {
        let users = config.users.iter().map(|(authid, u)| (authid.clone(), User::new(u))).collect();
        WampCra { users }
    }

    /// Whether `authid` is one of the configured users.
    pub fn knows(&self, authid: &str) -> bool {
        self.users.contains_key(authid)
    }

    pub fn hello(&self, hello: &Hello<'_>) -> AuthStep {
        let Some((authid, user)) = hello.authid.and_then(|id| self.users.get_key_value(id)) else {
            tracing::info!(authmethod = "wampcra", authid = hello.authid, "refused: unknown principal");
            return outcome::no_such_principal();
        };
        let challenge = new_challenge(authid, &user.role, "static", hello.ctx.session);
        let mut extra = Dict::new();
        extra.insert("challenge".into(), challenge.clone().into());
        if let Some(s) = &user.salted {
            extra.insert("salt".into(), s.salt.clone().into());
            extra.insert("iterations".into(), u64::from(s.iterations).into());
            extra.insert("keylen".into(), u64::from(s.keylen).into());
        }
        outcome::challenge("wampcra", extra, Exchange::WampCra(Pending { authid: authid.clone(), challenge }))
    }

    pub fn verify(&self, pending: Pending, signature: &str) -> AuthStep {
        let Some(user) = self.users.get(&pending.authid) else { return outcome::failed() };
        let expected = sign(user.key.expose().as_bytes(), &pending.challenge);
        if secrets_equal(expected.as_bytes(), signature.as_bytes()) {
            outcome::welcome_static(&pending.authid, &user.role, "wampcra")
        } else {
            tracing::info!(authmethod = "wampcra", authid = %pending.authid, "refused: wrong signature");
            outcome::failed()
        }
    }
}

impl User {
    fn new(config: &WampCraUser) -> User {
        let salted = config.salt.as_ref().map(|salt| Salted {
            salt: salt.clone(),
            iterations: config.iterations.unwrap_or(DEFAULT_ITERATIONS),
            keylen: config.keylen.unwrap_or(DEFAULT_KEYLEN),
        });
        let key = match &salted {
            Some(s) => {
                Secret::new(derive_key(config.secret.expose().as_bytes(), s.salt.as_bytes(), s.iterations, s.keylen))
            }
            None => config.secret.clone(),
        };
        User { key, role: config.role.clone(), salted }
    }
}

/// autobahn's `auth.derive_key`: base64 of PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen).
pub fn derive_key(secret: &[u8], salt: &[u8], iterations: u32, keylen: u32) -> String {
    let mut key = vec![0u8; keylen as usize];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret, salt, iterations, &mut key);
    BASE64.encode(key)
}

/// autobahn's `auth.compute_wcs`: base64 of HMAC-SHA256(key, challenge).
pub fn sign(key: &[u8], challenge: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(challenge.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// A fresh challenge (new nonce, current time) for `authid` as `authrole`, from `provider`.
pub fn new_challenge(authid: &str, authrole: &str, provider: &str, session: SessionId) -> String {
    challenge_text(authid, authrole, provider, session, &nonce(), &timestamp(OffsetDateTime::now_utc()))
}

/// The JSON text of a challenge, keys in Crossbar's order.
pub fn challenge_text(
    authid: &str,
    authrole: &str,
    provider: &str,
    session: SessionId,
    nonce: &str,
    timestamp: &str,
) -> String {
    serde_json::json!({
        "authid": authid,
        "authrole": authrole,
        "authmethod": "wampcra",
        "authprovider": provider,
        "nonce": nonce,
        "timestamp": timestamp,
        "session": session.0,
    })
    .to_string()
}

/// 48 random bytes in base64: 64 characters, like Crossbar's `util.newid(64)`.
fn nonce() -> String {
    BASE64.encode(rand::random::<[u8; 48]>())
}

/// UTC, ISO 8601 with milliseconds and `Z`, like autobahn's `util.utcnow()`.
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use wamp::dict;
    use wamp::router::Authenticator;
    use wamp::Value;

    #[test]
    fn derive_key_matches_autobahn() {
        // autobahn/wamp/test/test_wamp_auth.py, test_derive_key (iterations 1000, keylen 32).
        assert_eq!(derive_key(b"L3L1YUE8Txlw", b"salt123", 1000, 32), "qzcdsr9uu/L5hnss3kjNTRe490ETgA70ZBaB5rvnJ5Y=");
    }

    #[test]
    fn pbkdf2_sha256_matches_the_published_vectors() {
        // RFC 7914 section 11 (PBKDF2-HMAC-SHA256, the first 32 bytes of its 64).
        let key = BASE64.decode(derive_key(b"passwd", b"salt", 1, 32)).expect("base64");
        assert_eq!(hex::encode(key), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
    }

    #[test]
    fn sign_matches_autobahn() {
        // autobahn/wamp/test/test_wamp_auth.py, test_compute_wcs: json.dumps([1, 2, 3]).
        assert_eq!(sign(b"L3L1YUE8Txlw", "[1, 2, 3]"), "1njQtmmeYO41N5EWEzD2kAjjEKRZ5kPZt/TzpYXOzR0=");
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).expect("in range");
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.123Z");
    }

    fn hello_as(authid: &str) -> Dict {
        dict! { "authmethods" => Value::List(vec!["wampcra".into()]), "authid" => authid }
    }

    fn challenge_of(extra: &Dict) -> serde_json::Value {
        serde_json::from_str(extra["challenge"].as_str().expect("a string")).expect("JSON")
    }

    const AUTH: &str = "[transports.auth.wampcra.users.bob]\nsecret = \"bob-secret\"\nrole = \"user\"\n\
        [transports.auth.wampcra.users.dave]\nsecret = \"L3L1YUE8Txlw\"\nrole = \"admin\"\nsalt = \"salt123\"\n";

    #[tokio::test]
    async fn the_challenge_names_the_session_and_is_signed_with_the_secret() {
        let auth = testing::transport_auth(AUTH);
        let (method, extra, pending) = testing::challenge(testing::hello(&auth, hello_as("bob")).await);
        assert_eq!(method, "wampcra");
        assert!(!extra.contains_key("salt"));
        let c = challenge_of(&extra);
        assert_eq!(c["authid"], "bob");
        assert_eq!(c["authrole"], "user");
        assert_eq!(c["authmethod"], "wampcra");
        assert_eq!(c["authprovider"], "static");
        assert_eq!(c["session"], testing::SESSION.0);
        assert_eq!(c["nonce"].as_str().map(str::len), Some(64));
        let ts = c["timestamp"].as_str().expect("timestamp");
        assert!(ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");

        let signature = sign(b"bob-secret", extra["challenge"].as_str().expect("text"));
        let identity = testing::welcome(auth.authenticate(pending, &signature, &dict! {}).await);
        assert_eq!((identity.authid.as_str(), identity.authrole.as_str()), ("bob", "user"));
        assert_eq!((identity.authmethod.as_str(), identity.authprovider.as_str()), ("wampcra", "static"));
    }

    #[tokio::test]
    async fn salted_users_get_the_parameters_and_sign_with_the_derived_key() {
        let auth = testing::transport_auth(AUTH);
        let (_, extra, pending) = testing::challenge(testing::hello(&auth, hello_as("dave")).await);
        assert_eq!(extra["salt"], Value::from("salt123"));
        assert_eq!(extra["iterations"].as_u64(), Some(1000));
        assert_eq!(extra["keylen"].as_u64(), Some(32));
        let signature =
            sign(b"qzcdsr9uu/L5hnss3kjNTRe490ETgA70ZBaB5rvnJ5Y=", extra["challenge"].as_str().expect("text"));
        assert_eq!(testing::welcome(auth.authenticate(pending, &signature, &dict! {}).await).authrole, "admin");

        // Signing with the plain secret is wrong for a salted user.
        let (_, extra, pending) = testing::challenge(testing::hello(&auth, hello_as("dave")).await);
        let signature = sign(b"L3L1YUE8Txlw", extra["challenge"].as_str().expect("text"));
        assert_eq!(
            testing::abort(auth.authenticate(pending, &signature, &dict! {}).await),
            "wamp.error.authentication_failed"
        );
    }

    #[tokio::test]
    async fn wrong_signatures_and_unknown_users_are_refused() {
        let auth = testing::transport_auth(AUTH);
        let (_, extra, pending) = testing::challenge(testing::hello(&auth, hello_as("bob")).await);
        let signature = sign(b"not-bobs-secret", extra["challenge"].as_str().expect("text"));
        assert_eq!(
            testing::abort(auth.authenticate(pending, &signature, &dict! {}).await),
            "wamp.error.authentication_failed"
        );
        assert_eq!(testing::abort(testing::hello(&auth, hello_as("eve")).await), "wamp.error.no_such_principal");
    }

    #[tokio::test]
    async fn every_challenge_is_new() {
        let auth = testing::transport_auth(AUTH);
        let (_, first, _) = testing::challenge(testing::hello(&auth, hello_as("bob")).await);
        let (_, second, pending) = testing::challenge(testing::hello(&auth, hello_as("bob")).await);
        assert_ne!(challenge_of(&first)["nonce"], challenge_of(&second)["nonce"]);
        // The answer to an earlier challenge does not answer this one.
        let replay = sign(b"bob-secret", first["challenge"].as_str().expect("text"));
        assert_eq!(
            testing::abort(auth.authenticate(pending, &replay, &dict! {}).await),
            "wamp.error.authentication_failed"
        );
    }
}
