//! `cryptosign` (WAMP-Cryptosign): the client proves it holds an Ed25519 key by signing a
//! random challenge, as autobahn's `AuthCryptoSign` does it.
//!
//! HELLO carries `authextra.pubkey` (hex). The principal is found by authid, or — when the
//! client gives none — by that key. CHALLENGE `cryptosign` carries `{"challenge": <32 random
//! bytes, hex>, "channel_binding": null}`; the client answers with
//! `hex(signature (64 bytes) ‖ challenge (32 bytes))`, and the signature is checked with
//! `verify_strict` against the key. A key that is not one of the principal's authorized keys is
//! only refused after AUTHENTICATE, with the same ABORT as a bad signature. Channel binding
//! (`tls-unique`) is not supported: a client that asks for it is refused.

use std::collections::HashMap;

use ed25519_dalek::{Signature, VerifyingKey};
use wamp::router::AuthStep;
use wamp::{Dict, Value};

use super::{outcome, Exchange, Hello};
use crate::config::auth::{parse_public_key, CryptosignAuth};

pub struct Cryptosign {
    principals: HashMap<String, Principal>,
    /// Which principal a key belongs to (validation makes it at most one).
    owners: HashMap<[u8; 32], String>,
}

struct Principal {
    keys: Vec<VerifyingKey>,
    role: String,
}

/// The challenge sent and the keys that may answer it.
pub struct Pending {
    authid: String,
    challenge: [u8; 32],
    candidates: Vec<VerifyingKey>,
}

impl Cryptosign {
    pub fn new(config: &CryptosignAuth) -> Cryptosign {
        let mut principals = HashMap::new();
        let mut owners = HashMap::new();
        for (authid, p) in &config.principals {
            // Validation has refused every key that does not parse; none is skipped here.
            let keys: Vec<VerifyingKey> = p.authorized_keys.iter().filter_map(|k| parse_public_key(k).ok()).collect();
            for key in &keys {
                owners.entry(key.to_bytes()).or_insert_with(|| authid.clone());
            }
            principals.insert(authid.clone(), Principal { keys, role: p.role.clone() });
        }
        Cryptosign { principals, owners }
    }

    /// Whether HELLO names one of the configured principals (by authid, or without one by key).
    pub fn knows(&self, hello: &Hello<'_>) -> bool {
        match (hello.authid, hello_key(hello)) {
            (Some(authid), _) => self.principals.contains_key(authid),
            (None, Ok(Some(key))) => self.owners.contains_key(&key.to_bytes()),
            (None, _) => false,
        }
    }

    pub fn hello(&self, hello: &Hello<'_>) -> AuthStep {
        let Ok(pubkey) = hello_key(hello) else { return outcome::failed() };
        let authid = match (hello.authid, &pubkey) {
            (Some(authid), _) => Some(authid),
            (None, Some(key)) => self.owners.get(&key.to_bytes()).map(String::as_str),
            (None, None) => None,
        };
        let Some((authid, principal)) = authid.and_then(|id| self.principals.get_key_value(id)) else {
            tracing::info!(authmethod = "cryptosign", authid = hello.authid, "refused: unknown principal");
            return outcome::no_such_principal();
        };
        // With a pubkey, only that key may answer (and none if it is not authorized); without,
        // any of the principal's keys.
        let candidates = match pubkey {
            Some(key) => principal.keys.iter().filter(|k| **k == key).copied().collect(),
            None => principal.keys.clone(),
        };
        let (challenge, extra) = new_challenge();
        let pending = Pending { authid: authid.clone(), challenge, candidates };
        outcome::challenge("cryptosign", extra, Exchange::Cryptosign(pending))
    }

    pub fn verify(&self, pending: Pending, signature: &str) -> AuthStep {
        let Some(principal) = self.principals.get(&pending.authid) else { return outcome::failed() };
        if verify_signed_challenge(&pending.candidates, &pending.challenge, signature) {
            outcome::welcome_static(&pending.authid, &principal.role, "cryptosign")
        } else {
            tracing::info!(authmethod = "cryptosign", authid = %pending.authid, "refused: bad signature or key");
            outcome::failed()
        }
    }
}

/// HELLO asked for something cryptosign here refuses (channel binding, a malformed key).
#[derive(Debug)]
pub struct Unacceptable;

/// The key HELLO's `authextra.pubkey` names, if any; [`Unacceptable`] (refuse with
/// `authentication_failed`) for channel binding and malformed keys.
pub fn hello_key(hello: &Hello<'_>) -> Result<Option<VerifyingKey>, Unacceptable> {
    if !matches!(hello.authextra.get("channel_binding"), None | Some(Value::Null)) {
        tracing::info!(authmethod = "cryptosign", authid = hello.authid, "refused: channel binding requested");
        return Err(Unacceptable);
    }
    match hello.authextra.get("pubkey") {
        None => Ok(None),
        Some(v) => match v.as_str().map(parse_public_key) {
            Some(Ok(key)) => Ok(Some(key)),
            _ => {
                tracing::info!(authmethod = "cryptosign", authid = hello.authid, "refused: malformed pubkey");
                Err(Unacceptable)
            }
        },
    }
}

/// 32 random bytes to sign, and the CHALLENGE extra carrying them.
pub fn new_challenge() -> ([u8; 32], Dict) {
    let challenge: [u8; 32] = rand::random();
    let mut extra = Dict::new();
    extra.insert("challenge".into(), hex::encode(challenge).into());
    extra.insert("channel_binding".into(), Value::Null);
    (challenge, extra)
}

/// Whether `signature_hex` — hex of a 64-byte signature followed by the 32-byte challenge (or
/// the bare signature) — is a valid signature of `challenge` by one of `keys`.
pub fn verify_signed_challenge(keys: &[VerifyingKey], challenge: &[u8; 32], signature_hex: &str) -> bool {
    let Ok(bytes) = hex::decode(signature_hex) else { return false };
    let signature = match bytes.len() {
        96 if bytes[64..] == challenge[..] => &bytes[..64],
        64 => &bytes[..],
        _ => return false,
    };
    let Ok(signature) = Signature::from_slice(signature) else { return false };
    keys.iter().any(|key| key.verify_strict(challenge, &signature).is_ok())
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use wamp::dict;
    use wamp::router::Authenticator;

    // RFC 8032 section 7.1, TEST 1: the secret key, its public key, and its signature of the
    // empty message.
    const RFC_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn signing_key(hex_secret: &str) -> SigningKey {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_secret, &mut bytes).expect("hex");
        SigningKey::from_bytes(&bytes)
    }

    #[test]
    fn the_rfc_8032_vector_verifies() {
        let key = signing_key(RFC_SECRET);
        assert_eq!(hex::encode(key.verifying_key().to_bytes()), RFC_PUBLIC);
        assert_eq!(hex::encode(key.sign(b"").to_bytes()), RFC_SIGNATURE);
        let public = parse_public_key(RFC_PUBLIC).expect("valid key");
        let signature = Signature::from_slice(&hex::decode(RFC_SIGNATURE).expect("hex")).expect("64 bytes");
        assert!(public.verify_strict(b"", &signature).is_ok());
    }

    /// What autobahn's `sign_challenge` sends: hex(signature ‖ challenge).
    fn autobahn_answer(key: &SigningKey, challenge_hex: &str) -> String {
        let challenge = hex::decode(challenge_hex).expect("hex");
        format!("{}{challenge_hex}", hex::encode(key.sign(&challenge).to_bytes()))
    }

    #[test]
    fn signed_challenges_verify_only_with_the_right_key_and_challenge() {
        let key = signing_key(RFC_SECRET);
        let other = SigningKey::from_bytes(&[7u8; 32]);
        let challenge: [u8; 32] = rand::random();
        let answer = autobahn_answer(&key, &hex::encode(challenge));
        let keys = [key.verifying_key()];
        assert!(verify_signed_challenge(&keys, &challenge, &answer));
        assert!(verify_signed_challenge(&keys, &challenge, &answer[..128]), "the bare signature");
        assert!(!verify_signed_challenge(&[other.verifying_key()], &challenge, &answer));
        assert!(!verify_signed_challenge(&[], &challenge, &answer));
        let mut tampered = challenge;
        tampered[0] ^= 1;
        assert!(!verify_signed_challenge(&keys, &tampered, &answer));
        assert!(!verify_signed_challenge(&keys, &challenge, "zz"));
        assert!(!verify_signed_challenge(&keys, &challenge, &answer[..100]));
    }

    fn auth() -> super::super::TransportAuth {
        let other = hex::encode(SigningKey::from_bytes(&[7u8; 32]).verifying_key().to_bytes());
        testing::transport_auth(&format!(
            "[transports.auth.cryptosign.principals.carol]\nauthorized_keys = [\"{other}\", \"{RFC_PUBLIC}\"]\nrole = \"user\"\n"
        ))
    }

    fn hello(authid: Option<&str>, pubkey: Option<&str>) -> Dict {
        let mut details = dict! { "authmethods" => Value::List(vec!["cryptosign".into()]) };
        if let Some(authid) = authid {
            details.insert("authid".into(), authid.into());
        }
        if let Some(pubkey) = pubkey {
            details.insert("authextra".into(), dict! { "pubkey" => pubkey }.into());
        }
        details
    }

    async fn join(auth: &super::super::TransportAuth, details: Dict, key: &SigningKey) -> AuthStep {
        let (method, extra, pending) = testing::challenge(testing::hello(auth, details).await);
        assert_eq!(method, "cryptosign");
        assert_eq!(extra["channel_binding"], Value::Null);
        let challenge = extra["challenge"].as_str().expect("hex").to_owned();
        assert_eq!(challenge.len(), 64);
        auth.authenticate(pending, &autobahn_answer(key, &challenge), &dict! {}).await
    }

    #[tokio::test]
    async fn the_principal_is_found_by_authid_or_by_key() {
        let auth = auth();
        let key = signing_key(RFC_SECRET);
        for details in
            [hello(Some("carol"), Some(RFC_PUBLIC)), hello(None, Some(RFC_PUBLIC)), hello(Some("carol"), None)]
        {
            let identity = testing::welcome(join(&auth, details, &key).await);
            assert_eq!(
                (
                    identity.authid.as_str(),
                    identity.authrole.as_str(),
                    identity.authmethod.as_str(),
                    identity.authprovider.as_str()
                ),
                ("carol", "user", "cryptosign", "static")
            );
        }
    }

    #[tokio::test]
    async fn unknown_keys_and_principals_are_refused() {
        let auth = auth();
        let stranger = SigningKey::from_bytes(&[9u8; 32]);
        let stranger_pub = hex::encode(stranger.verifying_key().to_bytes());
        // A key nobody owns, without authid: no principal.
        assert_eq!(
            testing::abort(testing::hello(&auth, hello(None, Some(&stranger_pub))).await),
            "wamp.error.no_such_principal"
        );
        assert_eq!(
            testing::abort(testing::hello(&auth, hello(Some("dan"), Some(RFC_PUBLIC))).await),
            "wamp.error.no_such_principal"
        );
        assert_eq!(testing::abort(testing::hello(&auth, hello(None, None)).await), "wamp.error.no_such_principal");
        // Carol's authid with a key that is not hers: challenged, then refused like a bad signature.
        let step = join(&auth, hello(Some("carol"), Some(&stranger_pub)), &stranger).await;
        assert_eq!(testing::abort(step), "wamp.error.authentication_failed");
        // Carol's key announced, but the answer signed by another.
        let step = join(&auth, hello(Some("carol"), Some(RFC_PUBLIC)), &stranger).await;
        assert_eq!(testing::abort(step), "wamp.error.authentication_failed");
        // A malformed key or a channel binding request.
        assert_eq!(
            testing::abort(testing::hello(&auth, hello(Some("carol"), Some("xyz"))).await),
            "wamp.error.authentication_failed"
        );
        let mut bound = hello(Some("carol"), None);
        bound.insert("authextra".into(), dict! { "channel_binding" => "tls-unique" }.into());
        assert_eq!(testing::abort(testing::hello(&auth, bound).await), "wamp.error.authentication_failed");
    }
}
