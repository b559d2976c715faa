//! Realm, role and permission settings (serde types, shared with the gateway's configuration file).

use serde::{Deserialize, Serialize};

use crate::uri::{MatchPolicy, UriRules};

/// Router-wide settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// The realms this router serves. A HELLO for any other realm is refused with `wamp.error.no_such_realm`.
    #[serde(default)]
    pub realms: Vec<RealmConfig>,
    /// `loose` (default) or `strict` URI rules for every URI a peer sends.
    #[serde(default)]
    pub uri_check: UriRules,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig { realms: vec![RealmConfig::default_realm()], uri_check: UriRules::Loose }
    }
}

/// One realm: a routing namespace with its own sessions, registrations and subscriptions.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RealmConfig {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
}

impl RealmConfig {
    /// `realm1` with an `anonymous` role allowed everything: the built-in default.
    pub fn default_realm() -> Self {
        RealmConfig {
            name: "realm1".into(),
            roles: vec![RoleConfig {
                name: "anonymous".into(),
                permissions: vec![Permission::allow_all("")],
                authorizer: None,
            }],
        }
    }
}

/// A role and what it may do.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub name: String,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// A WAMP procedure that decides instead of `permissions`: called with
    /// `(session_details, uri, action, options)`, it returns `true`/`false` or
    /// `{"allow": bool, "disclose": bool, "cache": bool}`. With `cache = true` the decision is kept
    /// for that session, URI and action until the session leaves.
    #[serde(default)]
    pub authorizer: Option<String>,
}

/// One permission entry: which URIs it covers and which actions it allows on them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    pub uri: String,
    #[serde(rename = "match", default)]
    pub match_: MatchPolicy,
    #[serde(default)]
    pub call: bool,
    #[serde(default)]
    pub register: bool,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub subscribe: bool,
    #[serde(default)]
    pub disclose_caller: bool,
    #[serde(default)]
    pub disclose_publisher: bool,
}

impl Permission {
    /// Everything allowed under `prefix` (prefix match), caller and publisher disclosed.
    pub fn allow_all(prefix: &str) -> Self {
        Permission { uri: prefix.into(), ..Permission::everything(true) }
    }

    /// Every action on every URI; `disclose` sets both disclosure flags.
    pub const fn everything(disclose: bool) -> Self {
        Permission {
            uri: String::new(),
            match_: MatchPolicy::Prefix,
            call: true,
            register: true,
            publish: true,
            subscribe: true,
            disclose_caller: disclose,
            disclose_publisher: disclose,
        }
    }
}
