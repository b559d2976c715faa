//! The bridge's settings: a serde struct the gateway embeds as `[[bridges]] type = "oracle"`.
//!
//! ```toml
//! [[bridges]]
//! type = "oracle"
//! realm = "realm1"
//! connect = "//dbhost:1521/FREEPDB1"
//! user = "GW_APP"
//! password = "${ORACLE_PASSWORD}"
//! pool_size = 8
//! consumer = "gateway"
//! queue = "HR.WAMP_EVENTS"
//!
//! [[bridges.expose]]
//! package = "HR_API"
//! owner = "HR"
//! prefix = "com.example.hr"
//! ```
//! The password is a secret: it never appears in `Debug` output or logs. `${ORACLE_PASSWORD}` is
//! replaced by the gateway's config loader, as every `${VAR}` in a string value of the file (a
//! variable that is not set is an error naming the key); `GATEWAY__BRIDGES__<n>__PASSWORD`
//! overrides work as for every key. This type takes the password as it arrives.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use thiserror::Error;

/// One Oracle bridge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleBridgeConfig {
    /// The realm whose sessions call the procedures and receive the events.
    pub realm: String,
    /// An Easy Connect string (`//host:1521/SERVICE`) or a `tnsnames.ora` alias.
    pub connect: String,
    /// The gateway's database user (least privilege: see `plsql/grants.sql`).
    pub user: String,
    /// Its password (write `"${ORACLE_PASSWORD}"` in the file: the gateway's loader expands it).
    pub password: SecretString,
    /// Sessions in the call pool, and worker threads running calls (default 8).
    #[serde(default = "defaults::pool_size")]
    pub pool_size: u32,
    /// The AQ subscriber (consumer) name the event pump dequeues as (default `gateway`).
    #[serde(default = "defaults::consumer")]
    pub consumer: String,
    /// The event queue, `OWNER.WAMP_EVENTS` when the gateway user does not own it (default `WAMP_EVENTS`).
    #[serde(default = "defaults::queue")]
    pub queue: String,
    /// Packages whose subprograms become procedures under a URI prefix.
    #[serde(default)]
    pub expose: Vec<ExposeConfig>,
    /// The role the bridge's sessions join with (default `bridge`).
    #[serde(default = "defaults::authrole")]
    pub authrole: String,
    /// Events per dequeue (default 100).
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// How long one dequeue waits for a message before the pump looks again, in ms (default 1000;
    /// AQ waits in whole seconds, so this is rounded up).
    #[serde(default = "defaults::poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// How often `ALL_OBJECTS.LAST_DDL_TIME` of the exposed packages is checked, in ms (default 3000).
    #[serde(default = "defaults::ddl_check_ms")]
    pub ddl_check_ms: u64,
    /// How often the whole catalog is re-read without a DDL change, in ms (default 60000).
    #[serde(default = "defaults::catalog_poll_ms")]
    pub catalog_poll_ms: u64,
    /// Rows per progressive result when a caller streams a cursor (default 1000).
    #[serde(default = "defaults::stream_batch_rows")]
    pub stream_batch_rows: usize,
    /// Calls waiting for a free session before new ones get `wamp.error.unavailable` (default 1024).
    #[serde(default = "defaults::queue_size")]
    pub queue_size: usize,
    /// Backstop for one round trip (`set_call_timeout`), in ms; 0 turns it off (default 600000).
    /// WAMP cancels and router timeouts stop a statement earlier, through `break_execution`.
    #[serde(default = "defaults::call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// Overflow envelopes older than this are deleted, in seconds (default 7 days).
    #[serde(default = "defaults::retention_secs")]
    pub retention_secs: u64,
}

/// One exposed package.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExposeConfig {
    pub package: String,
    /// The package's schema; without it the name resolves as the gateway user's SQL would
    /// (its own schema, then a private, then a public synonym).
    #[serde(default)]
    pub owner: Option<String>,
    pub prefix: String,
    /// Procedures (without OUT parameters) that return implicit results
    /// (`DBMS_SQL.RETURN_RESULT`): their rows become the result, `[[{...}, ...]]`.
    #[serde(default)]
    pub implicit_results: Vec<String>,
}

impl ExposeConfig {
    /// How SQL text names the package: `"HR"."HR_API"` or `"HR_API"` (validated identifiers).
    pub fn reference(&self) -> String {
        match &self.owner {
            Some(o) => format!("\"{}\".\"{}\"", o.to_uppercase(), self.package.to_uppercase()),
            None => format!("\"{}\"", self.package.to_uppercase()),
        }
    }
}

mod defaults {
    pub fn pool_size() -> u32 {
        8
    }
    pub fn consumer() -> String {
        "gateway".into()
    }
    pub fn queue() -> String {
        "WAMP_EVENTS".into()
    }
    pub fn authrole() -> String {
        "bridge".into()
    }
    pub fn batch_size() -> usize {
        100
    }
    pub fn poll_interval_ms() -> u64 {
        1000
    }
    pub fn ddl_check_ms() -> u64 {
        3000
    }
    pub fn catalog_poll_ms() -> u64 {
        60_000
    }
    pub fn stream_batch_rows() -> usize {
        1000
    }
    pub fn queue_size() -> usize {
        1024
    }
    pub fn call_timeout_ms() -> u64 {
        600_000
    }
    pub fn retention_secs() -> u64 {
        7 * 24 * 3600
    }
}

/// A setting that cannot work.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("bridges.{0} must not be empty")]
    Empty(&'static str),
    #[error("bridges.{0} must be at least 1")]
    Zero(&'static str),
    #[error("bridges.{key} '{value}' is not an Oracle identifier (a letter, then letters, digits, _ $ #; at most 128)")]
    Identifier { key: &'static str, value: String },
    #[error("bridges.expose.prefix '{0}' is not a valid URI prefix (dot-separated, no empty components, no spaces or '#')")]
    Prefix(String),
    #[error("package '{0}' is exposed twice under the same prefix")]
    Duplicate(String),
}

/// A letter, then letters, digits, `_`, `$`, `#`: an identifier Oracle stores upper-cased, which
/// may be spliced (quoted) into SQL text.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && s.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '#'))
}

impl OracleBridgeConfig {
    /// A config with every default, for code and tests that build one by hand.
    pub fn new(realm: impl Into<String>, connect: impl Into<String>, user: impl Into<String>, password: impl Into<String>) -> Self {
        OracleBridgeConfig {
            realm: realm.into(),
            connect: connect.into(),
            user: user.into(),
            password: SecretString::from(password.into()),
            pool_size: defaults::pool_size(),
            consumer: defaults::consumer(),
            queue: defaults::queue(),
            expose: Vec::new(),
            authrole: defaults::authrole(),
            batch_size: defaults::batch_size(),
            poll_interval_ms: defaults::poll_interval_ms(),
            ddl_check_ms: defaults::ddl_check_ms(),
            catalog_poll_ms: defaults::catalog_poll_ms(),
            stream_batch_rows: defaults::stream_batch_rows(),
            queue_size: defaults::queue_size(),
            call_timeout_ms: defaults::call_timeout_ms(),
            retention_secs: defaults::retention_secs(),
        }
    }

    /// Checks everything that can be checked without a database.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [("realm", &self.realm), ("connect", &self.connect), ("user", &self.user), ("authrole", &self.authrole)] {
            if value.trim().is_empty() {
                return Err(ConfigError::Empty(name));
            }
        }
        for (name, value) in [
            ("pool_size", self.pool_size as u64),
            ("batch_size", self.batch_size as u64),
            ("poll_interval_ms", self.poll_interval_ms),
            ("ddl_check_ms", self.ddl_check_ms),
            ("catalog_poll_ms", self.catalog_poll_ms),
            ("stream_batch_rows", self.stream_batch_rows as u64),
            ("retention_secs", self.retention_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if !is_identifier(&self.consumer) {
            return Err(ConfigError::Identifier { key: "consumer", value: self.consumer.clone() });
        }
        if !self.queue.split('.').all(is_identifier) || self.queue.split('.').count() > 2 {
            return Err(ConfigError::Identifier { key: "queue", value: self.queue.clone() });
        }
        let mut seen = std::collections::HashSet::new();
        for e in &self.expose {
            if !is_identifier(&e.package) {
                return Err(ConfigError::Identifier { key: "expose.package", value: e.package.clone() });
            }
            if let Some(o) = e.owner.as_deref().filter(|o| !is_identifier(o)) {
                return Err(ConfigError::Identifier { key: "expose.owner", value: o.to_owned() });
            }
            if let Some(p) = e.implicit_results.iter().find(|p| !is_identifier(p)) {
                return Err(ConfigError::Identifier { key: "expose.implicit_results", value: p.clone() });
            }
            let valid = !e.prefix.is_empty() && e.prefix.split('.').all(|c| !c.is_empty() && !c.contains(|ch: char| ch.is_whitespace() || ch == '#'));
            if !valid {
                return Err(ConfigError::Prefix(e.prefix.clone()));
            }
            if !seen.insert((e.reference(), e.prefix.clone())) {
                return Err(ConfigError::Duplicate(e.package.clone()));
            }
        }
        Ok(())
    }

    /// The password (any `${VAR}` in the file was replaced by the gateway's loader).
    pub fn password(&self) -> SecretString {
        self.password.clone()
    }

    /// The queue's owner, when `queue` is qualified: the consumer package lives there too.
    pub fn queue_owner(&self) -> Option<&str> {
        self.queue.split_once('.').map(|(owner, _)| owner)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn ddl_check(&self) -> Duration {
        Duration::from_millis(self.ddl_check_ms)
    }

    pub fn catalog_poll(&self) -> Duration {
        Duration::from_millis(self.catalog_poll_ms)
    }

    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_secs)
    }

    /// `None` when the backstop is off.
    pub fn call_timeout(&self) -> Option<Duration> {
        (self.call_timeout_ms > 0).then(|| Duration::from_millis(self.call_timeout_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_example_parses_with_the_documented_defaults() {
        let c: OracleBridgeConfig = toml::from_str(
            r#"
            realm = "realm1"
            connect = "//dbhost:1521/FREEPDB1"
            user = "GW_APP"
            password = "hunter2"
            [[expose]]
            package = "HR_API"
            prefix = "com.example.hr"
            "#,
        )
        .unwrap();
        assert_eq!((c.pool_size, c.consumer.as_str(), c.queue.as_str(), c.authrole.as_str()), (8, "gateway", "WAMP_EVENTS", "bridge"));
        assert_eq!(c.expose[0].owner, None);
        assert_eq!(c.expose[0].reference(), "\"HR_API\"");
        c.validate().unwrap();
        assert!(!format!("{c:?}").contains("hunter2"), "the password must not leak into Debug output");
        assert_eq!(c.call_timeout(), Some(Duration::from_secs(600)));
        assert_eq!(c.queue_owner(), None);
    }

    #[test]
    fn identifiers_prefixes_and_numbers_are_checked() {
        let mut c = OracleBridgeConfig::new("realm1", "//h/s", "GW", "pw");
        c.expose.push(ExposeConfig { package: "HR_API".into(), owner: Some("HR".into()), prefix: "com.x".into(), implicit_results: vec![] });
        c.validate().unwrap();
        assert_eq!(c.expose[0].reference(), "\"HR\".\"HR_API\"");
        c.queue = "HR.WAMP_EVENTS".into();
        c.validate().unwrap();
        assert_eq!(c.queue_owner(), Some("HR"));
        c.queue = "a.b.c".into();
        assert!(matches!(c.validate(), Err(ConfigError::Identifier { key: "queue", .. })));
        c.queue = "WAMP_EVENTS".into();
        c.expose[0].package = "HR_API\"; drop".into();
        assert!(matches!(c.validate(), Err(ConfigError::Identifier { key: "expose.package", .. })));
        c.expose[0].package = "HR_API".into();
        c.expose.push(c.expose[0].clone());
        assert_eq!(c.validate(), Err(ConfigError::Duplicate("HR_API".into())));
        c.expose.pop();
        c.expose[0].prefix = "com..x".into();
        assert_eq!(c.validate(), Err(ConfigError::Prefix("com..x".into())));
        c.expose[0].prefix = "com.x".into();
        c.pool_size = 0;
        assert_eq!(c.validate(), Err(ConfigError::Zero("pool_size")));
        let unknown = toml::from_str::<OracleBridgeConfig>("realm='r'\nconnect='c'\nuser='u'\npassword='p'\npool=3");
        assert!(unknown.unwrap_err().to_string().contains("unknown field `pool`"));
        assert!(is_identifier("WAMP$Q#1") && !is_identifier("1A") && !is_identifier("") && !is_identifier("a b"));
    }
}
