//! `${ENV_VAR}` in any string value of the settings, replaced at load time.
//!
//! Secrets (tickets, WAMP-CRA secrets, database passwords) then stay out of the file:
//! `password = "${ORACLE_PASSWORD}"`. The reference may stand anywhere in a string and several
//! may appear; `$${` writes a literal `${`. A variable that is not set is an error naming both
//! the key and the variable. Expansion runs once, after the `GATEWAY__…` overrides are applied,
//! over the merged tree; a value taken from a variable is not expanded again.

use config::{Value, ValueKind};

use super::ConfigError;

/// Replaces every `${NAME}` in the string values of `value`, looking names up with `lookup`.
pub fn expand(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    walk(value, &mut String::new(), lookup)
}

fn walk(value: &mut Value, path: &mut String, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    match &mut value.kind {
        ValueKind::String(s) if s.contains('$') => {
            *s = expand_str(s, lookup).map_err(|reason| ConfigError::Expand { key: path.clone(), reason })?;
        }
        ValueKind::Table(table) => {
            // Sorted, so that of several problems the same one is always reported.
            let mut keys: Vec<String> = table.keys().cloned().collect();
            keys.sort();
            for key in keys {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                if let Some(child) = table.get_mut(&key) {
                    walk(child, path, lookup)?;
                }
                path.truncate(len);
            }
        }
        ValueKind::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, lookup)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// One string: `${NAME}` → the variable's value, `$${` → `${`, every other `$` as it is.
fn expand_str(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end =
                after.find('}').ok_or_else(|| "unterminated \"${\" (write \"$${\" for a literal one)".to_owned())?;
            let name = &after[..end];
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("\"${{{name}}}\" is not an environment variable reference"));
            }
            let value = lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TICKET" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            "DOLLAR" => Some("${TICKET}".into()),
            _ => None,
        }
    }

    #[test]
    fn references_are_replaced_anywhere_in_a_string() {
        assert_eq!(expand_str("${TICKET}", &env).as_deref(), Ok("s3cret"));
        assert_eq!(expand_str("a-${TICKET}-${EMPTY}-b", &env).as_deref(), Ok("a-s3cret--b"));
        assert_eq!(expand_str("no reference", &env).as_deref(), Ok("no reference"));
    }

    #[test]
    fn dollars_that_are_not_references_stay() {
        assert_eq!(expand_str("$5 and $HOME and $", &env).as_deref(), Ok("$5 and $HOME and $"));
        assert_eq!(expand_str("$${TICKET}", &env).as_deref(), Ok("${TICKET}"));
        // A value is not expanded again.
        assert_eq!(expand_str("${DOLLAR}", &env).as_deref(), Ok("${TICKET}"));
    }

    #[test]
    fn missing_or_malformed_references_are_errors() {
        assert_eq!(expand_str("${NOPE}", &env), Err("environment variable NOPE is not set".into()));
        assert!(expand_str("${TICKET", &env).expect_err("unterminated").contains("unterminated"));
        assert!(expand_str("${1X}", &env).is_err());
        assert!(expand_str("${}", &env).is_err());
    }

    #[test]
    fn errors_name_the_key_in_nested_tables_and_arrays() {
        let toml =
            "[[transports]]\nlisten = \"${TICKET}\"\n[transports.auth.ticket.principals.alice]\nticket = \"${NOPE}\"\n";
        let mut value: Value = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .expect("parses")
            .try_deserialize()
            .expect("a table");
        let err = expand(&mut value, &env).expect_err("NOPE is not set");
        assert_eq!(
            err.to_string(),
            "transports[0].auth.ticket.principals.alice.ticket: environment variable NOPE is not set"
        );
    }
}
