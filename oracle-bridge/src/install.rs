//! The `plsql/` scripts, and running them without SQL*Plus (the integration tests do).
//!
//! The scripts are written so that SQL*Plus, SQLcl and [`statements`] read them alike: every
//! statement ends with a line holding only `/`; SQL*Plus commands (`set`, `define`, `prompt`,
//! `whenever`) appear only between statements; substitution variables are `&&name`.

use oracle::Connection;

pub const INSTALL_SQL: &str = include_str!("../../plsql/install.sql");
pub const SUBSCRIBER_SQL: &str = include_str!("../../plsql/subscriber.sql");
pub const GRANTS_SQL: &str = include_str!("../../plsql/grants.sql");
pub const UNINSTALL_SQL: &str = include_str!("../../plsql/uninstall.sql");
pub const DEMO_HR_API_SQL: &str = include_str!("../../plsql/demo_hr_api.sql");

const SQLPLUS_COMMANDS: [&str; 7] = ["set ", "define ", "prompt", "whenever ", "exit", "spool ", "undefine "];

/// The statements of `script`, with `&&name` / `&name` (and an optional terminating `.`)
/// replaced from `vars`.
pub fn statements(script: &str, vars: &[(&str, &str)]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        let trimmed = line.trim();
        if trimmed == "/" {
            let stmt = current.trim().to_owned();
            if !stmt.is_empty() {
                out.push(substitute(&stmt, vars)?);
            }
            current.clear();
            continue;
        }
        let between = current.trim().is_empty() || current.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"));
        let lower = trimmed.to_ascii_lowercase();
        if between && (SQLPLUS_COMMANDS.iter().any(|c| lower.starts_with(c)) || trimmed.starts_with("--") || trimmed.is_empty()) {
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        return Err(format!("statement not terminated by a '/' line: {}", current.trim().lines().next().unwrap_or_default()));
    }
    Ok(out)
}

fn substitute(stmt: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(stmt.len());
    let mut rest = stmt;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = rest[i..].trim_start_matches('&');
        let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        let name = &after[..len];
        let value = vars.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).ok_or_else(|| format!("substitution variable '{name}' has no value"))?.1;
        out.push_str(value);
        rest = after[len..].strip_prefix('.').unwrap_or(&after[len..]);
    }
    out.push_str(rest);
    Ok(out)
}

/// Runs a script's statements on `conn` and commits; a PL/SQL unit that compiles with errors
/// (a warning to OCI) fails it.
pub fn run_script(conn: &Connection, script: &str, vars: &[(&str, &str)]) -> Result<(), String> {
    for stmt in statements(script, vars)? {
        let head = stmt.lines().next().unwrap_or_default().to_owned();
        conn.execute(&stmt, &[]).map_err(|e| format!("{head}: {e}"))?;
        if let Some(w) = conn.last_warning() {
            return Err(format!("{head}: {w}"));
        }
    }
    conn.commit().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_on_slash_lines_and_skip_sqlplus_commands() {
        let script = "set serveroutput on\ndefine x = 1\n-- comment\nbegin\n  null; -- a / in a comment\nend;\n/\n\ncreate table t (a number)\n/\nprompt done\n";
        assert_eq!(statements(script, &[]).unwrap(), vec!["begin\n  null; -- a / in a comment\nend;".to_string(), "create table t (a number)".into()]);
        assert!(statements("select 1 from dual", &[]).unwrap_err().contains("not terminated"));
    }

    #[test]
    fn substitution_variables() {
        let s = statements("grant execute on wamp_consumer to &&gateway_user.\n/\n", &[("GATEWAY_USER", "GW_APP")]).unwrap();
        assert_eq!(s, vec!["grant execute on wamp_consumer to GW_APP"]);
        assert!(statements("select '&nope' from dual\n/\n", &[]).unwrap_err().contains("'nope'"));
    }

    #[test]
    fn every_shipped_script_splits() {
        let vars = [("gateway_user", "GW_APP"), ("consumer", "GATEWAY"), ("api_package", "HR_API")];
        for (name, script, min) in [
            ("install", INSTALL_SQL, 6),
            ("subscriber", SUBSCRIBER_SQL, 1),
            ("grants", GRANTS_SQL, 2),
            ("uninstall", UNINSTALL_SQL, 1),
            ("demo_hr_api", DEMO_HR_API_SQL, 4),
        ] {
            let stmts = statements(script, &vars).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(stmts.len() >= min, "{name}: {} statements", stmts.len());
            for s in &stmts {
                let lower = s.to_ascii_lowercase();
                // A PL/SQL unit keeps its final `end;`; a SQL statement has no trailing `;`.
                let plsql = lower.starts_with("begin") || lower.starts_with("declare") || lower.starts_with("create or replace package");
                assert_eq!(s.ends_with(';'), plsql, "{name}: {s}");
            }
        }
    }
}
