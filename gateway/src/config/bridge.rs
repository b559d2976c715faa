//! `[[bridges]]`: database bridges attached to a realm, tagged by `type`.
//!
//! `postgres` (settings: `postgres_bridge::PostgresBridgeConfig`) and `oracle` (settings:
//! `oracle_bridge::OracleBridgeConfig`), each variant with its own settings struct. As for transports, the tag is
//! read by hand so the `config` crate's string-to-number conversion (which `GATEWAY__BRIDGES__0__POOL_SIZE`
//! overrides rely on) keeps working inside the variant.

use oracle_bridge::OracleBridgeConfig;
use postgres_bridge::PostgresBridgeConfig;
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One `[[bridges]]` entry.
#[derive(Debug, Clone)]
pub enum BridgeConfig {
    /// PostgreSQL functions as procedures, `wamp.publish` events to subscribers (`type = "postgres"`).
    Postgres(PostgresBridgeConfig),
    /// PL/SQL package subprograms as procedures, `WAMP.PUBLISH` events via AQ (`type = "oracle"`).
    Oracle(OracleBridgeConfig),
}

/// The bridge kinds `type` accepts.
pub const BRIDGE_TYPES: &[&str] = &["postgres", "oracle"];

impl BridgeConfig {
    /// The `type` value.
    pub fn kind(&self) -> &'static str {
        match self {
            BridgeConfig::Postgres(_) => "postgres",
            BridgeConfig::Oracle(_) => "oracle",
        }
    }

    /// The realm the bridge attaches to.
    pub fn realm(&self) -> &str {
        match self {
            BridgeConfig::Postgres(pg) => &pg.realm,
            BridgeConfig::Oracle(ora) => &ora.realm,
        }
    }

    /// The role the bridge's sessions join with.
    pub fn authrole(&self) -> &str {
        match self {
            BridgeConfig::Postgres(pg) => &pg.authrole,
            BridgeConfig::Oracle(ora) => &ora.authrole,
        }
    }
}

impl<'de> Deserialize<'de> for BridgeConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = config::Value::deserialize(deserializer)?;
        let mut table = value.into_table().map_err(D::Error::custom)?;
        let kind = table
            .remove("type")
            .ok_or_else(|| D::Error::missing_field("type"))?
            .into_string()
            .map_err(D::Error::custom)?;
        let rest = config::Value::new(None, table);
        match kind.as_str() {
            "postgres" => rest.try_deserialize().map(BridgeConfig::Postgres).map_err(D::Error::custom),
            "oracle" => rest.try_deserialize().map(BridgeConfig::Oracle).map_err(D::Error::custom),
            other => Err(D::Error::unknown_variant(other, BRIDGE_TYPES)),
        }
    }
}

impl Serialize for BridgeConfig {
    /// The kind and realm only: the settings hold a DSN or password, which are secrets.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", self.kind())?;
        map.serialize_entry("realm", self.realm())?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    const WITH_BRIDGE: &str = r#"
[[transports]]
type = "websocket"
listen = "127.0.0.1:0"

[[realms]]
name = "realm1"

[[bridges]]
type = "postgres"
realm = "realm1"
dsn = "postgresql://postgres:secret@127.0.0.1:5432/test"
pool_size = 4

[[bridges.expose]]
schema = "hr_api"
prefix = "com.example.hr"
"#;

    #[test]
    fn a_postgres_bridge_parses_with_defaults_and_hides_its_dsn() {
        let settings = Settings::from_toml_str(WITH_BRIDGE).expect("parses");
        let BridgeConfig::Postgres(pg) = &settings.bridges[0] else { panic!("a postgres bridge") };
        assert_eq!((pg.pool_size, pg.consumer.as_str(), pg.expose.len()), (4, "gateway", 1));
        assert!(!format!("{settings:?}").contains("secret"));
        assert!(!serde_json::to_string(&settings).unwrap().contains("secret"));
    }

    #[test]
    fn unknown_types_and_keys_are_named() {
        let err = Settings::from_toml_str(&WITH_BRIDGE.replace("type = \"postgres\"", "type = \"mysql\"")).expect_err("unknown type");
        assert!(err.to_string().contains("mysql"), "{err}");
        let err = Settings::from_toml_str(&WITH_BRIDGE.replace("pool_size = 4", "pool_sise = 4")).expect_err("unknown key");
        assert!(err.to_string().contains("pool_sise"), "{err}");
    }

    #[test]
    fn environment_overrides_reach_bridge_keys() {
        let vars = [("GATEWAY__BRIDGES__0__POOL_SIZE".to_string(), "2".to_string())];
        let dir = std::env::temp_dir().join(format!("gw-bridge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("g.toml");
        std::fs::write(&file, WITH_BRIDGE).unwrap();
        let settings = Settings::load_with_env(&crate::config::ConfigSource::File(file), vars).expect("loads");
        let BridgeConfig::Postgres(pg) = &settings.bridges[0] else { panic!("a postgres bridge") };
        assert_eq!(pg.pool_size, 2);
    }

    const WITH_ORACLE: &str = r#"
[[transports]]
type = "websocket"
listen = "127.0.0.1:0"

[[realms]]
name = "realm1"

[[bridges]]
type = "oracle"
realm = "realm1"
connect = "//dbhost:1521/FREEPDB1"
user = "GW_APP"
password = "oracle-secret"
queue = "HR.WAMP_EVENTS"

[[bridges.expose]]
package = "HR_API"
owner = "HR"
prefix = "com.example.hr"
"#;

    #[test]
    fn an_oracle_bridge_parses_with_defaults_and_hides_its_password() {
        let settings = Settings::from_toml_str(WITH_ORACLE).expect("parses");
        let BridgeConfig::Oracle(ora) = &settings.bridges[0] else { panic!("an oracle bridge") };
        assert_eq!((ora.pool_size, ora.consumer.as_str(), ora.queue.as_str(), ora.expose.len()), (8, "gateway", "HR.WAMP_EVENTS", 1));
        assert_eq!((settings.bridges[0].kind(), settings.bridges[0].realm()), ("oracle", "realm1"));
        assert!(!format!("{settings:?}").contains("oracle-secret"));
        assert!(!serde_json::to_string(&settings).unwrap().contains("oracle-secret"));
        let err = Settings::from_toml_str(&WITH_ORACLE.replace("queue =", "qeue =")).expect_err("unknown key");
        assert!(err.to_string().contains("qeue"), "{err}");
    }

    #[test]
    fn environment_overrides_reach_oracle_keys() {
        let vars = [("GATEWAY__BRIDGES__0__POOL_SIZE".to_string(), "3".to_string())];
        let dir = std::env::temp_dir().join(format!("gw-oracle-bridge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("g.toml");
        std::fs::write(&file, WITH_ORACLE).unwrap();
        let settings = Settings::load_with_env(&crate::config::ConfigSource::File(file), vars).expect("loads");
        let BridgeConfig::Oracle(ora) = &settings.bridges[0] else { panic!("an oracle bridge") };
        assert_eq!(ora.pool_size, 3);
    }
}
