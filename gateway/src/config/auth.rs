//! `[transports.auth]`: which authentication methods a transport accepts, and their principals.
//!
//! Serde types plus their validation; the methods themselves live in [`crate::auth`]. Secrets
//! (tickets, WAMP-CRA secrets) are [`Secret`]s: never printed, never serialized, compared in
//! constant time. Like every string of the file they may be written as `"${ENV_VAR}"`
//! (see [`super::expand`]), which keeps them out of the file.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use wamp::uri::{self, MatchPolicy};

use super::validate::Report;
use super::Settings;

/// `[transports.auth]`. Without any method every join through the transport is refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `[transports.auth.anonymous]`: anyone may join, with this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<AnonymousAuth>,
    /// `[transports.auth.ticket.principals.AUTHID]`: WAMP-Ticket against static tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketAuth>,
    /// `[transports.auth.wampcra.users.AUTHID]`: WAMP-CRA challenge-response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wampcra: Option<WampCraAuth>,
    /// `[transports.auth.cryptosign.principals.AUTHID]`: WAMP-Cryptosign (Ed25519).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cryptosign: Option<CryptosignAuth>,
    /// `[transports.auth.dynamic]`: tickets checked by a WAMP procedure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic: Option<DynamicAuth>,
    /// `[transports.auth.tls]`: a verified client certificate's CN is the authid, with this role
    /// (see `transport::tls_auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsAuth>,
}

impl AuthConfig {
    /// Whether no method at all is configured.
    pub fn is_empty(&self) -> bool {
        self.anonymous.is_none()
            && self.ticket.is_none()
            && self.wampcra.is_none()
            && self.cryptosign.is_none()
            && self.dynamic.is_none()
            && self.tls.is_none()
    }
}

/// Anonymous authentication settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymousAuth {
    /// The role anonymous sessions get.
    #[serde(default = "default_anonymous_role")]
    pub role: String,
}

/// TLS client certificate authentication settings (needs `tls.client_ca` on the transport).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsAuth {
    /// The role sessions authenticated by their certificate get.
    pub role: String,
}

fn default_anonymous_role() -> String {
    "anonymous".into()
}

/// `[transports.auth.ticket]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketAuth {
    /// Principals by authid.
    #[serde(default)]
    pub principals: BTreeMap<String, TicketPrincipal>,
}

/// One WAMP-Ticket principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketPrincipal {
    /// The ticket the client must send in AUTHENTICATE.
    pub ticket: Secret,
    pub role: String,
}

/// `[transports.auth.wampcra]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WampCraAuth {
    /// Users by authid.
    #[serde(default)]
    pub users: BTreeMap<String, WampCraUser>,
}

/// One WAMP-CRA user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WampCraUser {
    /// The shared secret.
    pub secret: Secret,
    pub role: String,
    /// With a salt, the key is PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen) as autobahn's
    /// `auth.derive_key` computes it, and the client is told salt, iterations and keylen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// PBKDF2 iterations; only with `salt`. Default: 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    /// Derived key length in bytes; only with `salt`. Default: 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keylen: Option<u32>,
}

/// PBKDF2 iterations when `salt` is given without `iterations` (autobahn's and Crossbar's default).
pub const DEFAULT_ITERATIONS: u32 = 1000;
/// Derived key length when `salt` is given without `keylen` (autobahn's and Crossbar's default).
pub const DEFAULT_KEYLEN: u32 = 32;
/// The largest `keylen` accepted: far beyond any use, small enough to never be a burden.
pub const MAX_KEYLEN: u32 = 1024;

/// `[transports.auth.cryptosign]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptosignAuth {
    /// Principals by authid.
    #[serde(default)]
    pub principals: BTreeMap<String, CryptosignPrincipal>,
}

/// One WAMP-Cryptosign principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptosignPrincipal {
    /// Ed25519 public keys, 64 hex characters each; a key may belong to one principal only.
    pub authorized_keys: Vec<String>,
    pub role: String,
}

/// `[transports.auth.dynamic]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicAuth {
    /// The WAMP procedure that decides, called as `(realm, authid, details)` in the realm of HELLO.
    pub authenticator: String,
    /// The methods it answers for, as Crossbar's dynamic authenticators do: `ticket` (it checks
    /// the ticket), `wampcra` (it returns the principal's secret, the router runs the challenge),
    /// `cryptosign` (it returns the principal's public keys, the router runs the challenge).
    /// Static principals of a method are never asked about.
    #[serde(default = "default_dynamic_methods")]
    pub methods: Vec<String>,
}

/// The dynamic authenticator's methods when `methods` is not given: tickets only.
pub fn default_dynamic_methods() -> Vec<String> {
    vec!["ticket".into()]
}

/// The methods a dynamic authenticator can answer for.
pub const DYNAMIC_METHODS: [&str; 3] = ["ticket", "wampcra", "cryptosign"];

/// A secret string from the configuration. `Debug` and `Serialize` write `[redacted]`; equality
/// is constant-time.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(SecretString::from(value.into()))
    }

    /// The secret itself: only for comparing or deriving keys, never for logging.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        crate::auth::secrets_equal(self.expose().as_bytes(), other.expose().as_bytes())
    }
}

/// Decodes a cryptosign public key: 64 hex characters that are a valid Ed25519 point.
pub fn parse_public_key(hex_key: &str) -> Result<ed25519_dalek::VerifyingKey, String> {
    let mut bytes = [0u8; 32];
    if hex_key.len() != 64 || hex::decode_to_slice(hex_key, &mut bytes).is_err() {
        return Err(format!("\"{hex_key}\" is not an Ed25519 public key (64 hex characters)"));
    }
    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| format!("\"{hex_key}\" is not a valid Ed25519 public key"))
}

/// Checks one transport's `auth` section; `key` is the transport's (`transports[0]`).
pub(super) fn check(key: &str, auth: Option<&AuthConfig>, settings: &Settings, report: &mut Report) {
    let auth = match auth {
        Some(auth) if !auth.is_empty() => auth,
        _ => {
            report
                .warn(format!("{key}.auth"), "no authentication method: every join through this transport is refused");
            return;
        }
    };
    let key = format!("{key}.auth");
    let roles = RoleCheck { settings };
    if let Some(anonymous) = &auth.anonymous {
        roles.check(&format!("{key}.anonymous.role"), &anonymous.role, report);
    }
    if let Some(tls) = &auth.tls {
        roles.check(&format!("{key}.tls.role"), &tls.role, report);
    }
    if let Some(ticket) = &auth.ticket {
        for (authid, p) in &ticket.principals {
            let key = format!("{key}.ticket.principals.{authid}");
            roles.check(&format!("{key}.role"), &p.role, report);
            if p.ticket.expose().is_empty() {
                report.error(format!("{key}.ticket"), "must not be empty");
            }
        }
    }
    if let Some(wampcra) = &auth.wampcra {
        for (authid, u) in &wampcra.users {
            wampcra_user(&format!("{key}.wampcra.users.{authid}"), u, &roles, report);
        }
    }
    if let Some(cryptosign) = &auth.cryptosign {
        let mut owners: HashMap<String, &str> = HashMap::new();
        for (authid, p) in &cryptosign.principals {
            let key = format!("{key}.cryptosign.principals.{authid}");
            roles.check(&format!("{key}.role"), &p.role, report);
            if p.authorized_keys.is_empty() {
                report.warn(format!("{key}.authorized_keys"), "no key: this principal can never join");
            }
            for (i, hex_key) in p.authorized_keys.iter().enumerate() {
                let key = format!("{key}.authorized_keys[{i}]");
                if let Err(reason) = parse_public_key(hex_key) {
                    report.error(key, reason);
                } else if let Some(owner) = owners.insert(hex_key.to_ascii_lowercase(), authid) {
                    // A client may omit its authid and be found by its key: that needs one owner.
                    report.error(
                        key,
                        format!("also authorized for principal \"{owner}\"; a key identifies one principal"),
                    );
                }
            }
        }
    }
    if let Some(dynamic) = &auth.dynamic {
        if !uri::is_valid(&dynamic.authenticator, settings.uri_check, MatchPolicy::Exact) {
            report.error(
                format!("{key}.dynamic.authenticator"),
                format!("\"{}\" is not a valid procedure URI", dynamic.authenticator),
            );
        }
        if dynamic.methods.is_empty() {
            report.error(format!("{key}.dynamic.methods"), "must name at least one method");
        }
        for (i, m) in dynamic.methods.iter().enumerate() {
            if !DYNAMIC_METHODS.contains(&m.as_str()) {
                report.error(
                    format!("{key}.dynamic.methods[{i}]"),
                    format!("\"{m}\" is none of {}", DYNAMIC_METHODS.join(", ")),
                );
            }
        }
    }
}

fn wampcra_user(key: &str, user: &WampCraUser, roles: &RoleCheck, report: &mut Report) {
    roles.check(&format!("{key}.role"), &user.role, report);
    if user.secret.expose().is_empty() {
        report.error(format!("{key}.secret"), "must not be empty");
    }
    if user.salt.is_none() {
        for (name, set) in [("iterations", user.iterations.is_some()), ("keylen", user.keylen.is_some())] {
            if set {
                report.error(format!("{key}.{name}"), "only applies with a salt");
            }
        }
        return;
    }
    if user.iterations == Some(0) {
        report.error(format!("{key}.iterations"), "must be at least 1");
    }
    if let Some(keylen) = user.keylen {
        if keylen == 0 || keylen > MAX_KEYLEN {
            report.error(format!("{key}.keylen"), format!("must be between 1 and {MAX_KEYLEN}"));
        }
    }
}

/// Whether a principal's role exists somewhere: a role no realm defines can never join.
struct RoleCheck<'a> {
    settings: &'a Settings,
}

impl RoleCheck<'_> {
    fn check(&self, key: &str, role: &str, report: &mut Report) {
        if role.is_empty() {
            report.error(key, "must not be empty");
            return;
        }
        let missing: Vec<&str> = self
            .settings
            .realms
            .iter()
            .filter(|realm| !realm.roles.iter().any(|r| r.name == role))
            .map(|realm| realm.name.as_str())
            .collect();
        if !missing.is_empty() {
            let realms = missing.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ");
            report.warn(key, format!("role \"{role}\" is not defined in realm {realms}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "[[realms]]\nname = \"realm1\"\n[[realms.roles]]\nname = \"user\"\n";

    fn report(auth: &str) -> Report {
        let toml = format!("[[transports]]\ntype = \"websocket\"\n{auth}\n{REALM}");
        let settings = Settings::from_toml_str(&toml).unwrap_or_else(|e| panic!("parses: {e}"));
        let mut report = Report::default();
        check("transports[0]", settings.transports[0].auth(), &settings, &mut report);
        report
    }

    fn keys(problems: &[super::super::Problem]) -> Vec<String> {
        problems.iter().map(|p| p.to_string()).collect()
    }

    const KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    #[test]
    fn the_contract_keys_parse() {
        let toml = format!(
            r#"
            [transports.auth.anonymous]
            role = "user"
            [transports.auth.ticket.principals.alice]
            ticket = "alice-secret"
            role = "user"
            [transports.auth.wampcra.users.bob]
            secret = "bob-secret"
            role = "user"
            [transports.auth.wampcra.users.dave]
            secret = "dave-secret"
            role = "user"
            salt = "salt123"
            iterations = 100
            keylen = 16
            [transports.auth.cryptosign.principals.carol]
            authorized_keys = ["{KEY}"]
            role = "user"
            [transports.auth.dynamic]
            authenticator = "com.example.authenticate"
            "#
        );
        let r = report(&toml);
        assert!(r.errors.is_empty() && r.warnings.is_empty(), "{:?} {:?}", r.errors, r.warnings);
        let settings =
            Settings::from_toml_str(&format!("[[transports]]\ntype = \"websocket\"\n{toml}")).expect("parses");
        let auth = settings.transports[0].auth().expect("auth section");
        assert_eq!(auth.ticket.as_ref().expect("ticket").principals["alice"].ticket.expose(), "alice-secret");
        let dave = &auth.wampcra.as_ref().expect("wampcra").users["dave"];
        assert_eq!((dave.salt.as_deref(), dave.iterations, dave.keylen), (Some("salt123"), Some(100), Some(16)));
        assert_eq!(auth.cryptosign.as_ref().expect("cryptosign").principals["carol"].authorized_keys, [KEY]);
        assert_eq!(auth.dynamic.as_ref().expect("dynamic").authenticator, "com.example.authenticate");
    }

    #[test]
    fn secrets_never_print() {
        let toml = "[[transports]]\ntype = \"websocket\"\n[transports.auth.ticket.principals.alice]\nticket = \"hunter2\"\nrole = \"user\"\n";
        let settings = Settings::from_toml_str(toml).expect("parses");
        let debug = format!("{settings:?}");
        let json = serde_json::to_string(&settings).expect("serializes");
        assert!(!debug.contains("hunter2") && debug.contains("[redacted]"), "{debug}");
        assert!(!json.contains("hunter2") && json.contains("[redacted]"), "{json}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        for auth in [
            "[transports.auth.ticket.principals.alice]\nticket = \"x\"\nrole = \"user\"\npassword = \"y\"\n",
            "[transports.auth.wampcra]\nprincipals = {}\n",
            "[transports.auth.kerberos]\n",
        ] {
            let toml = format!("[[transports]]\ntype = \"websocket\"\n{auth}");
            assert!(Settings::from_toml_str(&toml).is_err(), "{auth}");
        }
    }

    #[test]
    fn cryptosign_keys_must_be_64_hex_characters_naming_the_key() {
        let toml = format!(
            "[transports.auth.cryptosign.principals.carol]\nauthorized_keys = [\"{KEY}\", \"abc\", \"{}\"]\nrole = \"user\"\n",
            "zz".repeat(32)
        );
        let found = keys(&report(&toml).errors);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("transports[0].auth.cryptosign.principals.carol.authorized_keys[1]: \"abc\""));
        assert!(found[1].starts_with("transports[0].auth.cryptosign.principals.carol.authorized_keys[2]: "));
    }

    #[test]
    fn a_key_belongs_to_one_principal() {
        let toml = format!(
            "[transports.auth.cryptosign.principals.a]\nauthorized_keys = [\"{KEY}\"]\nrole = \"user\"\n[transports.auth.cryptosign.principals.b]\nauthorized_keys = [\"{}\"]\nrole = \"user\"\n",
            KEY.to_uppercase()
        );
        let found = keys(&report(&toml).errors);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with(
            "transports[0].auth.cryptosign.principals.b.authorized_keys[0]: also authorized for principal \"a\""
        ));
    }

    #[test]
    fn unknown_roles_warn_and_empty_values_are_errors() {
        let r = report(
            "[transports.auth.ticket.principals.alice]\nticket = \"\"\nrole = \"admin\"\n[transports.auth.wampcra.users.bob]\nsecret = \"s\"\nrole = \"\"\niterations = 5\n",
        );
        assert_eq!(
            keys(&r.warnings),
            ["transports[0].auth.ticket.principals.alice.role: role \"admin\" is not defined in realm \"realm1\""]
        );
        assert_eq!(
            keys(&r.errors),
            [
                "transports[0].auth.ticket.principals.alice.ticket: must not be empty",
                "transports[0].auth.wampcra.users.bob.role: must not be empty",
                "transports[0].auth.wampcra.users.bob.iterations: only applies with a salt",
            ]
        );
    }

    #[test]
    fn salted_parameters_are_checked() {
        let r = report("[transports.auth.wampcra.users.bob]\nsecret = \"s\"\nrole = \"user\"\nsalt = \"x\"\niterations = 0\nkeylen = 0\n");
        assert_eq!(
            keys(&r.errors),
            [
                "transports[0].auth.wampcra.users.bob.iterations: must be at least 1",
                "transports[0].auth.wampcra.users.bob.keylen: must be between 1 and 1024",
            ]
        );
    }

    #[test]
    fn a_dynamic_authenticator_is_a_procedure_uri() {
        let r = report("[transports.auth.dynamic]\nauthenticator = \"not a uri\"\n");
        assert_eq!(keys(&r.errors).len(), 1);
        assert!(r.errors[0].key == "transports[0].auth.dynamic.authenticator", "{:?}", r.errors);
    }

    #[test]
    fn a_dynamic_authenticator_answers_for_known_methods_only() {
        let ok = report("[transports.auth.dynamic]\nauthenticator = \"com.example.auth\"\nmethods = [\"wampcra\", \"cryptosign\"]\n");
        assert!(ok.errors.is_empty(), "{:?}", ok.errors);
        let r = report("[transports.auth.dynamic]\nauthenticator = \"com.example.auth\"\nmethods = [\"ticket\", \"kerberos\"]\n");
        assert_eq!(keys(&r.errors), ["transports[0].auth.dynamic.methods[1]: \"kerberos\" is none of ticket, wampcra, cryptosign"]);
        let empty = report("[transports.auth.dynamic]\nauthenticator = \"com.example.auth\"\nmethods = []\n");
        assert_eq!(keys(&empty.errors), ["transports[0].auth.dynamic.methods: must name at least one method"]);
    }

    #[test]
    fn an_empty_auth_section_refuses_everyone_and_says_so() {
        let r = report("[transports.auth]\n");
        assert_eq!(
            keys(&r.warnings),
            ["transports[0].auth: no authentication method: every join through this transport is refused"]
        );
    }
}
