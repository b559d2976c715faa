//! The gateway's settings: types, loading and validation.
//!
//! Layering, lowest first: the TOML file (`--config FILE`, or the built-in `config/gateway.toml`
//! compiled into the binary), then `GATEWAY__SECTION__KEY` environment variables ([`env`]); then
//! every `${ENV_VAR}` in a string value is replaced by that variable ([`expand`]).
//! Every struct denies unknown keys, so a typo is an error naming the key rather than a setting
//! silently ignored. [`Settings::validate`] then checks what serde cannot (addresses, URIs,
//! duplicates, cross-references) before anything starts.
//!
//! Realms and roles are the router's own serde types ([`RealmConfig`]), embedded as they are;
//! `[[bridges]]` entries are the bridge crates' own settings types ([`BridgeConfig`]).
//! `[telemetry]` is [`TelemetrySettings`].

pub mod auth;
pub mod bridge;
pub mod env;
mod expand;
pub mod telemetry;
pub mod transport;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use wamp::router::{RealmConfig, RouterConfig};
use wamp::uri::UriRules;

pub use auth::{AnonymousAuth, AuthConfig, Secret, TlsAuth};
pub use bridge::BridgeConfig;
pub use telemetry::TelemetrySettings;
pub use transport::{RawSocketAddress, RawSocketSettings, TlsSettings, TransportConfig, WebSocketSettings};
pub use validate::Problem;

/// The built-in configuration, served when no `--config` is given; also the documented reference
/// of every key and its default.
pub const BUILTIN_TOML: &str = include_str!("../../../config/gateway.toml");

/// Where the settings come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    /// The built-in `config/gateway.toml`.
    BuiltIn,
    /// A TOML file.
    File(PathBuf),
}

/// Why settings could not be loaded or are not valid.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Unreadable file, bad TOML, unknown key or wrong type: the `config` crate's message, naming the key.
    #[error("{0}")]
    Load(String),
    #[error("environment variable {variable}: {reason}")]
    Environment { variable: String, reason: String },
    /// A `${ENV_VAR}` reference that cannot be replaced.
    #[error("{key}: {reason}")]
    Expand { key: String, reason: String },
    #[error("configuration file {}: not found", .0.display())]
    NotFound(PathBuf),
    #[error("invalid configuration:\n{}", list(.0))]
    Invalid(Vec<Problem>),
}

impl From<config::ConfigError> for ConfigError {
    fn from(err: config::ConfigError) -> Self {
        ConfigError::Load(tidy_key_paths(&err.to_string()))
    }
}

/// Makes the `config` crate's key paths read like the file: it writes `realms[0]roles[0]` for
/// `realms[0].roles[0]`, and a transport's nested error as "… for key `a` for key `transports[0]`".
fn tidy_key_paths(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 8);
    let mut prev = None;
    for c in message.chars() {
        if prev == Some(']') && (c.is_ascii_alphabetic() || c == '_') {
            out.push('.');
        }
        out.push(c);
        prev = Some(c);
    }
    const KEY: &str = " for key `";
    if let Some(first) = out.find(KEY) {
        let inner_start = first + KEY.len();
        if let Some(inner_len) = out[inner_start..].find('`') {
            let after = inner_start + inner_len + 1;
            if out[after..].starts_with(KEY) && out.ends_with('`') {
                let inner = &out[inner_start..inner_start + inner_len];
                let outer = &out[after + KEY.len()..out.len() - 1];
                return format!("{}{KEY}{outer}.{inner}`", &out[..first]);
            }
        }
    }
    out
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
}

/// The whole configuration file. (Not `PartialEq`: the router's realm types are not; compare
/// settings through their serialized form.)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Listeners; at least one.
    #[serde(default)]
    pub transports: Vec<TransportConfig>,
    /// Realms served; at least one.
    #[serde(default)]
    pub realms: Vec<RealmConfig>,
    /// `loose` (default) or `strict` URI rules.
    #[serde(default)]
    pub uri_check: UriRules,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub shutdown: ShutdownSettings,
    /// `[telemetry]`: OTLP export and the `/metrics`, `/healthz`, `/readyz` endpoints.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    /// Database bridges, each attached to one realm after the router starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bridges: Vec<BridgeConfig>,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter (`info`, `gateway=debug,wamp=info`, …); `RUST_LOG` takes precedence.
    #[serde(default = "default_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { level: default_level(), format: LogFormat::default() }
    }
}

fn default_level() -> String {
    "info".into()
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[shutdown]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// Milliseconds to let sessions finish their closing handshake before connections are cut.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        ShutdownSettings { drain_timeout_ms: default_drain_timeout_ms() }
    }
}

fn default_drain_timeout_ms() -> u64 {
    5_000
}

impl ShutdownSettings {
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
}

impl Settings {
    /// Loads from `source`, with the process environment's `GATEWAY__…` overrides. Not validated.
    pub fn load(source: &ConfigSource) -> Result<Settings, ConfigError> {
        // `vars_os` because `vars` panics on a variable that is not Unicode; those cannot be ours.
        let vars = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Settings::load_with_env(source, vars)
    }

    /// Loads from `source` with the overrides and `${…}` values found in `vars`. Not validated.
    pub fn load_with_env<I>(source: &ConfigSource, vars: I) -> Result<Settings, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let vars: std::collections::HashMap<String, String> = vars.into_iter().collect();
        let mut builder = config::Config::builder();
        builder = match source {
            ConfigSource::BuiltIn => builder.add_source(builtin_source()),
            ConfigSource::File(path) => builder.add_source(file_source(path)?),
        };
        for o in env::overrides(vars.iter().map(|(k, v)| (k.clone(), v.clone())))? {
            builder = builder
                .set_override(o.path.as_str(), o.value)
                .map_err(|e| ConfigError::Environment { variable: o.variable.clone(), reason: e.to_string() })?;
        }
        let mut tree: config::Value = builder.build()?.try_deserialize()?;
        expand::expand(&mut tree, &|name| vars.get(name).cloned())?;
        let mut settings: Settings = tree.try_deserialize()?;
        if let ConfigSource::File(path) = source {
            // A relative `tls.cert` in /etc/gateway/gateway.toml means /etc/gateway/…, whatever
            // directory the service starts in.
            let base = path.parent().unwrap_or(Path::new(""));
            settings.transports.iter_mut().for_each(|t| t.resolve_paths(base));
        }
        Ok(settings)
    }

    /// Settings from a TOML text, without environment overrides or `${…}` expansion (tests,
    /// tools). Not validated.
    pub fn from_toml_str(toml: &str) -> Result<Settings, ConfigError> {
        let source = config::File::from_str(toml, config::FileFormat::Toml);
        Ok(config::Config::builder().add_source(source).build()?.try_deserialize()?)
    }

    /// The built-in settings, without environment overrides.
    pub fn builtin() -> Settings {
        Settings::from_toml_str(BUILTIN_TOML).expect("the built-in configuration parses (tested)")
    }

    /// The part of the settings the router takes.
    pub fn router_config(&self) -> RouterConfig {
        RouterConfig { realms: self.realms.clone(), uri_check: self.uri_check }
    }

    /// Checks everything serde could not. `Ok` carries warnings: legal but probably unintended.
    pub fn validate(&self) -> Result<Vec<Problem>, ConfigError> {
        let report = validate::check(self);
        if report.errors.is_empty() {
            Ok(report.warnings)
        } else {
            Err(ConfigError::Invalid(report.errors))
        }
    }
}

fn builtin_source() -> config::File<config::FileSourceString, config::FileFormat> {
    config::File::from_str(BUILTIN_TOML, config::FileFormat::Toml)
}

fn file_source(path: &Path) -> Result<config::File<config::FileSourceFile, config::FileFormat>, ConfigError> {
    // Checked here because the `config` crate's own message does not say which file.
    if !path.is_file() {
        return Err(ConfigError::NotFound(path.to_owned()));
    }
    Ok(config::File::from(path).format(config::FileFormat::Toml).required(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_validates() {
        let settings = Settings::builtin();
        assert_eq!(settings.validate().expect("valid"), Vec::<Problem>::new());
    }

    #[test]
    fn env_overrides_a_transport_key_with_conversion() {
        let vars = [
            ("GATEWAY__TRANSPORTS__0__MAX_MESSAGE_SIZE".to_string(), "4096".to_string()),
            ("GATEWAY__LOG__FORMAT".to_string(), "json".to_string()),
        ];
        let settings = Settings::load_with_env(&ConfigSource::BuiltIn, vars).expect("loads");
        let TransportConfig::WebSocket(ws) = &settings.transports[0] else {
            panic!("the built-in transport is a websocket")
        };
        assert_eq!(ws.max_message_size, 4096);
        assert_eq!(settings.log.format, LogFormat::Json);
    }

    #[test]
    fn env_references_are_expanded_after_overrides() {
        let dir = std::env::temp_dir().join(format!("gateway-expand-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("gateway.toml");
        let toml = "[[transports]]\ntype = \"websocket\"\n[transports.auth.ticket.principals.alice]\nticket = \"${ALICE_TICKET}\"\nrole = \"user\"\n[[realms]]\nname = \"realm1\"\n";
        std::fs::write(&path, toml).expect("write config");
        let source = ConfigSource::File(path);
        let vars = [
            ("ALICE_TICKET".to_string(), "from-env".to_string()),
            ("GATEWAY__TRANSPORTS__0__LISTEN".to_string(), "${HOST}:9000".to_string()),
            ("HOST".to_string(), "127.0.0.2".to_string()),
            ("GATEWAY__TRANSPORTS__0__AUTH__TICKET__PRINCIPALS__ALICE__ROLE".to_string(), "admin".to_string()),
        ];
        let settings = Settings::load_with_env(&source, vars).expect("loads");
        let TransportConfig::WebSocket(ws) = &settings.transports[0] else { panic!("a websocket transport") };
        assert_eq!(ws.listen, "127.0.0.2:9000");
        let ticket = &ws.auth.as_ref().and_then(|a| a.ticket.as_ref()).expect("ticket section").principals["alice"];
        assert_eq!(ticket.ticket.expose(), "from-env");
        assert_eq!(ticket.role, "admin", "GATEWAY__ overrides reach auth keys too");

        let err = Settings::load_with_env(&source, []).expect_err("ALICE_TICKET is not set");
        assert_eq!(
            err.to_string(),
            "transports[0].auth.ticket.principals.alice.ticket: environment variable ALICE_TICKET is not set"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bridge_secrets_may_come_from_the_environment() {
        use secrecy::ExposeSecret;
        let dir = std::env::temp_dir().join(format!("gateway-expand-bridge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("gateway.toml");
        let toml = "[[bridges]]\ntype = \"postgres\"\nrealm = \"realm1\"\ndsn = \"postgresql://gw:${PGPASS}@db/app\"\n";
        std::fs::write(&path, toml).expect("write config");
        let vars = [("PGPASS".to_string(), "s3cret".to_string())];
        let settings = Settings::load_with_env(&ConfigSource::File(path), vars).expect("loads");
        let BridgeConfig::Postgres(pg) = &settings.bridges[0] else { panic!("a postgres bridge") };
        assert_eq!(pg.dsn.expose_secret(), "postgresql://gw:s3cret@db/app");

        // Oracle's password, as config/oracle.toml writes it; a `$` in the value stays as it is.
        let toml = "[[bridges]]\ntype = \"oracle\"\nrealm = \"realm1\"\nconnect = \"//h/s\"\nuser = \"GW\"\npassword = \"${ORACLE_PASSWORD}\"\nqueue = \"Q\"\n";
        std::fs::write(dir.join("oracle.toml"), toml).expect("write config");
        let vars = [("ORACLE_PASSWORD".to_string(), "pa$$w${x}rd".to_string())];
        let settings = Settings::load_with_env(&ConfigSource::File(dir.join("oracle.toml")), vars).expect("loads");
        let BridgeConfig::Oracle(ora) = &settings.bridges[0] else { panic!("an oracle bridge") };
        assert_eq!(ora.password().expose_secret(), "pa$$w${x}rd");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn key_paths_are_tidied() {
        assert_eq!(
            tidy_key_paths(
                "invalid type: string \"big\", expected an integer for key `max_message_size` for key `transports[0]`"
            ),
            "invalid type: string \"big\", expected an integer for key `transports[0].max_message_size`"
        );
        assert_eq!(
            tidy_key_paths("unknown field `bad` for key `realms[0]roles[1]permissions[0]`"),
            "unknown field `bad` for key `realms[0].roles[1].permissions[0]`"
        );
        assert_eq!(
            tidy_key_paths("missing configuration field \"transports[0]type\""),
            "missing configuration field \"transports[0].type\""
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Settings::from_toml_str("[log]\nlevle = \"x\"\n").expect_err("unknown key");
        assert!(err.to_string().contains("levle"), "{err}");
        let toml = "[[transports]]\ntype = \"websocket\"\nlisten = \"127.0.0.1:1\"\nbogus = 1\n";
        let err = Settings::from_toml_str(toml).expect_err("unknown key");
        assert!(err.to_string().contains("bogus"), "{err}");
        let err = Settings::from_toml_str("[[transports]]\ntype = \"carrier-pigeon\"\n").expect_err("unknown type");
        assert!(err.to_string().contains("carrier-pigeon"), "{err}");
    }
}
