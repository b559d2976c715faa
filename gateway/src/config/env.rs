//! `GATEWAY__SECTION__KEY` environment overrides.
//!
//! The `config` crate's own environment source cannot address array elements, and this file is
//! mostly arrays (`[[transports]]`, `[[realms]]`), so the mapping is done here: segments are
//! separated by `__` and lower-cased, a numeric segment is an array index.
//!
//! | variable                                   | key                            |
//! |--------------------------------------------|--------------------------------|
//! | `GATEWAY__LOG__LEVEL=debug`                | `log.level`                    |
//! | `GATEWAY__TRANSPORTS__0__LISTEN=0.0.0.0:80`| `transports[0].listen`         |
//! | `GATEWAY__TRANSPORTS__0__SERIALIZERS=["json"]` | `transports[0].serializers` |
//!
//! Values are strings (the `config` crate converts them to numbers or booleans where a number or
//! boolean is expected); a value starting with `[` or `{` is read as a TOML array or inline table.

use config::{Config, File, FileFormat};

use super::ConfigError;

/// Prefix of every override variable.
pub const PREFIX: &str = "GATEWAY";
/// Separator between the prefix and each key segment.
pub const SEPARATOR: &str = "__";

/// One override: which variable, the `config` path it sets, and the value.
#[derive(Debug, Clone)]
pub struct Override {
    pub variable: String,
    pub path: String,
    pub value: config::Value,
}

/// The overrides among `vars` (every other variable is ignored).
pub fn overrides<I>(vars: I) -> Result<Vec<Override>, ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let start = format!("{PREFIX}{SEPARATOR}");
    let mut found: Vec<Override> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(&start))
        .map(|(variable, raw)| {
            let path = path_of(&variable[start.len()..]).ok_or_else(|| ConfigError::Environment {
                variable: variable.clone(),
                reason: "malformed key".into(),
            })?;
            let value =
                value_of(&raw).map_err(|reason| ConfigError::Environment { variable: variable.clone(), reason })?;
            Ok(Override { variable, path, value })
        })
        .collect::<Result<_, ConfigError>>()?;
    // Deterministic order whatever the environment's, so that a parent set as a table and one of
    // its keys set separately always combine the same way.
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// `TRANSPORTS__0__LISTEN` → `transports[0].listen`.
fn path_of(rest: &str) -> Option<String> {
    let mut path = String::new();
    for segment in rest.split(SEPARATOR) {
        let ok = !segment.is_empty() && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return None;
        }
        if segment.chars().all(|c| c.is_ascii_digit()) {
            if path.is_empty() {
                return None;
            }
            path.push('[');
            path.push_str(segment);
            path.push(']');
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment.to_ascii_lowercase());
        }
    }
    (!path.is_empty()).then_some(path)
}

fn value_of(raw: &str) -> Result<config::Value, String> {
    let trimmed = raw.trim_start();
    if !(trimmed.starts_with('[') || trimmed.starts_with('{')) {
        return Ok(config::Value::new(None, raw.to_owned()));
    }
    let parsed = Config::builder()
        .add_source(File::from_str(&format!("v = {raw}"), FileFormat::Toml))
        .build()
        .map_err(|e| format!("not a TOML array or inline table: {e}"))?;
    parsed.get::<config::Value>("v").map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn maps_sections_and_indexes() {
        let found = overrides(vars(&[
            ("GATEWAY__LOG__LEVEL", "debug"),
            ("GATEWAY__TRANSPORTS__0__LISTEN", "0.0.0.0:80"),
            ("GATEWAY__REALMS__1__ROLES__0__NAME", "x"),
            ("GATEWAY_SINGLE", "ignored"),
            ("PATH", "/bin"),
        ]))
        .expect("valid overrides");
        let paths: Vec<_> = found.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(paths, ["log.level", "realms[1].roles[0].name", "transports[0].listen"]);
    }

    #[test]
    fn arrays_are_parsed_as_toml() {
        let found = overrides(vars(&[("GATEWAY__TRANSPORTS__0__SERIALIZERS", r#"["json", "cbor"]"#)])).expect("valid");
        let list: Vec<String> = found[0].value.clone().try_deserialize().expect("a list of strings");
        assert_eq!(list, ["json", "cbor"]);
    }

    #[test]
    fn malformed_names_and_values_are_errors_naming_the_variable() {
        for (name, value) in [("GATEWAY__", "x"), ("GATEWAY__LOG____LEVEL", "x"), ("GATEWAY__0__X", "x")] {
            let err = overrides(vars(&[(name, value)])).expect_err("malformed");
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = overrides(vars(&[("GATEWAY__TRANSPORTS__0__SERIALIZERS", "[json")])).expect_err("bad TOML");
        assert!(err.to_string().contains("GATEWAY__TRANSPORTS__0__SERIALIZERS"), "{err}");
    }
}
