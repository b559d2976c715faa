//! The bridge's settings: a serde struct the gateway embeds as `[[bridges]] type = "postgres"`.
//!
//! ```toml
//! [[bridges]]
//! type = "postgres"
//! realm = "realm1"
//! dsn = "postgresql://postgres@127.0.0.1:5432/test"
//! pool_size = 8
//! consumer = "gateway"
//!
//! [[bridges.expose]]
//! schema = "hr_api"
//! prefix = "com.example.hr"
//! ```
//! Every other key has a default (below). The DSN is a secret: it never appears in `Debug` output or logs.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use thiserror::Error;

/// One PostgreSQL bridge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresBridgeConfig {
    /// The realm whose sessions call the functions and receive the events.
    pub realm: String,
    /// A libpq-style URL or key=value connection string.
    pub dsn: SecretString,
    /// Connections in the call pool, and worker threads running calls (default 8).
    #[serde(default = "defaults::pool_size")]
    pub pool_size: u32,
    /// The event consumer name: each name receives every event once (default `gateway`).
    #[serde(default = "defaults::consumer")]
    pub consumer: String,
    /// Schemas whose functions become procedures under a URI prefix.
    #[serde(default)]
    pub expose: Vec<ExposeConfig>,
    /// Run each call as the caller's authrole (`SET LOCAL ROLE`), so database grants decide (default false).
    #[serde(default)]
    pub set_role: bool,
    /// The role the bridge's sessions join with; it needs `register` on the prefixes and
    /// `publish` on the event topics (default `bridge`).
    #[serde(default = "defaults::authrole")]
    pub authrole: String,
    /// How often the event pump looks for events without a wake-up NOTIFY, in ms (default 1000).
    #[serde(default = "defaults::poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Events per pump step (default 100).
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// Undelivered events older than this are deleted, in seconds (default 7 days).
    #[serde(default = "defaults::retention_secs")]
    pub retention_secs: u64,
    /// How often the catalog is re-read without a change NOTIFY, in ms (default 2000).
    #[serde(default = "defaults::catalog_poll_ms")]
    pub catalog_poll_ms: u64,
    /// Rows per progressive result when a caller streams a set (default 1000).
    #[serde(default = "defaults::stream_batch_rows")]
    pub stream_batch_rows: usize,
    /// Calls waiting for a free connection before new ones get `wamp.error.unavailable` (default 1024).
    #[serde(default = "defaults::queue_size")]
    pub queue_size: usize,
}

/// One exposed schema.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExposeConfig {
    pub schema: String,
    pub prefix: String,
}

mod defaults {
    pub fn pool_size() -> u32 {
        8
    }
    pub fn consumer() -> String {
        "gateway".into()
    }
    pub fn authrole() -> String {
        "bridge".into()
    }
    pub fn poll_interval_ms() -> u64 {
        1000
    }
    pub fn batch_size() -> usize {
        100
    }
    pub fn retention_secs() -> u64 {
        7 * 24 * 3600
    }
    pub fn catalog_poll_ms() -> u64 {
        2000
    }
    pub fn stream_batch_rows() -> usize {
        1000
    }
    pub fn queue_size() -> usize {
        1024
    }
}

/// A setting that cannot work.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("bridges.{0} must not be empty")]
    Empty(&'static str),
    #[error("bridges.{0} must be at least 1")]
    Zero(&'static str),
    #[error("bridges.dsn is not a valid PostgreSQL connection string: {0}")]
    Dsn(String),
    #[error("bridges.expose.prefix '{0}' is not a valid URI prefix (dot-separated, no empty components, no spaces or '#')")]
    Prefix(String),
    #[error("schema '{0}' is exposed twice under the same prefix")]
    Duplicate(String),
}

impl PostgresBridgeConfig {
    /// A config with every default, for code and tests that build one by hand.
    pub fn new(realm: impl Into<String>, dsn: impl Into<String>) -> Self {
        PostgresBridgeConfig {
            realm: realm.into(),
            dsn: SecretString::from(dsn.into()),
            pool_size: defaults::pool_size(),
            consumer: defaults::consumer(),
            expose: Vec::new(),
            set_role: false,
            authrole: defaults::authrole(),
            poll_interval_ms: defaults::poll_interval_ms(),
            batch_size: defaults::batch_size(),
            retention_secs: defaults::retention_secs(),
            catalog_poll_ms: defaults::catalog_poll_ms(),
            stream_batch_rows: defaults::stream_batch_rows(),
            queue_size: defaults::queue_size(),
        }
    }

    /// Checks everything that can be checked without a database.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [("realm", &self.realm), ("consumer", &self.consumer), ("authrole", &self.authrole)] {
            if value.trim().is_empty() {
                return Err(ConfigError::Empty(name));
            }
        }
        for (name, value) in [
            ("pool_size", self.pool_size as u64),
            ("poll_interval_ms", self.poll_interval_ms),
            ("batch_size", self.batch_size as u64),
            ("catalog_poll_ms", self.catalog_poll_ms),
            ("stream_batch_rows", self.stream_batch_rows as u64),
            ("retention_secs", self.retention_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        self.pg_config()?;
        let mut seen = std::collections::HashSet::new();
        for e in &self.expose {
            if e.schema.is_empty() {
                return Err(ConfigError::Empty("expose.schema"));
            }
            let valid = !e.prefix.is_empty() && e.prefix.split('.').all(|c| !c.is_empty() && !c.contains(|ch: char| ch.is_whitespace() || ch == '#'));
            if !valid {
                return Err(ConfigError::Prefix(e.prefix.clone()));
            }
            if !seen.insert((e.schema.clone(), e.prefix.clone())) {
                return Err(ConfigError::Duplicate(e.schema.clone()));
            }
        }
        Ok(())
    }

    /// The parsed connection settings.
    pub fn pg_config(&self) -> Result<postgres::Config, ConfigError> {
        self.async_config().map(postgres::Config::from)
    }

    /// The same settings for the async driver (calls outside a cursor).
    pub fn async_config(&self) -> Result<tokio_postgres::Config, ConfigError> {
        self.dsn.expose_secret().parse::<tokio_postgres::Config>().map_err(|e| ConfigError::Dsn(e.to_string()))
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn catalog_poll(&self) -> Duration {
        Duration::from_millis(self.catalog_poll_ms)
    }

    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_gets_the_documented_defaults() {
        let c: PostgresBridgeConfig = serde_json::from_value(serde_json::json!({
            "realm": "realm1", "dsn": "postgresql://postgres:hunter2@127.0.0.1/test",
            "expose": [{"schema": "hr_api", "prefix": "com.example.hr"}]
        }))
        .unwrap();
        assert_eq!((c.pool_size, c.consumer.as_str(), c.set_role, c.poll_interval_ms), (8, "gateway", false, 1000));
        assert_eq!(c.expose, vec![ExposeConfig { schema: "hr_api".into(), prefix: "com.example.hr".into() }]);
        c.validate().unwrap();
        assert!(!format!("{c:?}").contains("hunter2"), "the DSN must not leak into Debug output");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let unknown = serde_json::from_value::<PostgresBridgeConfig>(serde_json::json!({"realm": "r", "dsn": "host=x", "pool": 3}));
        assert!(unknown.unwrap_err().to_string().contains("unknown field `pool`"));
        let mut c = PostgresBridgeConfig::new("realm1", "host=localhost user=postgres");
        c.pool_size = 0;
        assert_eq!(c.validate(), Err(ConfigError::Zero("pool_size")));
        c.pool_size = 2;
        c.expose.push(ExposeConfig { schema: "s".into(), prefix: "com..x".into() });
        assert_eq!(c.validate(), Err(ConfigError::Prefix("com..x".into())));
        let bad_dsn = PostgresBridgeConfig::new("realm1", "postgresql://[::1");
        assert!(matches!(bad_dsn.validate(), Err(ConfigError::Dsn(_))));
    }
}
