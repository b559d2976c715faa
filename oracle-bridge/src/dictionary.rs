//! The catalog source: reads `ALL_PROCEDURES` / `ALL_ARGUMENTS` of the exposed packages over a
//! dedicated session, and watches their `ALL_OBJECTS.LAST_DDL_TIME` (and status) for changes.
//!
//! Oracle has no cheap change notification for DDL that a least-privileged user may subscribe
//! to, so [`CatalogSource::wait_for_change`] compares a fingerprint of the packages' DDL times
//! every `ddl_check` (a few seconds); the core re-reads the full catalog when it changed, and at
//! its own (long) fallback interval.

use std::time::{Duration, Instant};

use bridge::{CatalogSource, Procedure};
use oracle::{Connection, Connector};
use secrecy::{ExposeSecret, SecretString};

use crate::catalog::{procedures, resolve_package, ArgumentRow, SubprogramRow};
use crate::config::ExposeConfig;
use crate::error::OraBridgeError;

const RESOLVE: &str = "
select 'SELF', o.owner, o.object_name from all_objects o
 where o.object_type = 'PACKAGE' and o.object_name = :pkg and o.owner = sys_context('USERENV', 'CURRENT_SCHEMA')
union all
select case s.owner when 'PUBLIC' then 'PUBLIC' else 'PRIVATE' end, s.table_owner, s.table_name from all_synonyms s
 where s.synonym_name = :pkg and s.owner in (sys_context('USERENV', 'CURRENT_SCHEMA'), 'PUBLIC')";

const SUBPROGRAMS: &str = "
select p.object_id, p.procedure_name, p.subprogram_id, p.overload
  from all_procedures p
 where p.owner = :owner and p.object_name = :pkg and p.object_type = 'PACKAGE' and p.procedure_name is not null
 order by p.subprogram_id";

const ARGUMENTS: &str = "
select a.subprogram_id, a.argument_name, a.position, a.sequence, a.data_level, a.data_type, a.pls_type, a.in_out, a.defaulted
  from all_arguments a
 where a.owner = :owner and a.package_name = :pkg
 order by a.subprogram_id, a.sequence";

const DDL: &str = "
select to_char(max(o.last_ddl_time), 'YYYYMMDDHH24MISS') || ':' || min(o.status) || ':' || count(*)
  from all_objects o
 where o.owner = :owner and o.object_name = :pkg and o.object_type = 'PACKAGE'";

/// How the catalog session connects.
#[derive(Clone)]
pub struct Login {
    pub connect: String,
    pub user: String,
    pub password: SecretString,
}

impl Login {
    pub fn connect(&self, action: &str) -> Result<Connection, OraBridgeError> {
        let conn = Connector::new(&self.user, self.password.expose_secret(), &self.connect).connect()?;
        conn.set_module("wamp-gateway")?;
        conn.set_action(action)?;
        Ok(conn)
    }
}

/// Reads and watches the exposed packages.
pub struct OraCatalog {
    login: Login,
    expose: Vec<ExposeConfig>,
    ddl_check: Duration,
    conn: Option<Connection>,
    /// The DDL fingerprint the last load saw.
    seen: Option<String>,
    last_check: Option<Instant>,
}

impl OraCatalog {
    pub fn new(login: Login, expose: Vec<ExposeConfig>, ddl_check: Duration) -> Self {
        OraCatalog { login, expose, ddl_check, conn: None, seen: None, last_check: None }
    }

    /// Runs `f` on the session (connecting first); drops the session if `f` fails.
    fn with<T>(&mut self, f: impl FnOnce(&Connection, &[ExposeConfig]) -> Result<T, OraBridgeError>) -> Result<T, OraBridgeError> {
        if self.conn.is_none() {
            self.conn = Some(self.login.connect("catalog")?);
        }
        let result = f(self.conn.as_ref().expect("connected above"), &self.expose);
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}

/// The `(owner, package)` an exposure names.
fn locate(conn: &Connection, e: &ExposeConfig) -> Result<(String, String), OraBridgeError> {
    let package = e.package.to_uppercase();
    if let Some(owner) = &e.owner {
        return Ok((owner.to_uppercase(), package));
    }
    let rows = conn.query_named(RESOLVE, &[("pkg", &package)])?;
    let mut found = Vec::new();
    for row in rows {
        let row = row?;
        found.push((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?));
    }
    resolve_package(&found).ok_or_else(|| OraBridgeError::PackageNotFound(package))
}

fn fingerprint(conn: &Connection, expose: &[ExposeConfig]) -> Result<String, OraBridgeError> {
    let mut parts = Vec::with_capacity(expose.len());
    for e in expose {
        let (owner, package) = locate(conn, e)?;
        let row = conn.query_row_named(DDL, &[("owner", &owner), ("pkg", &package)])?;
        parts.push(format!("{owner}.{package}={}", row.get::<_, Option<String>>(0)?.unwrap_or_default()));
    }
    Ok(parts.join(";"))
}

fn load(conn: &Connection, expose: &[ExposeConfig]) -> Result<Vec<Procedure>, OraBridgeError> {
    let mut all = Vec::new();
    for e in expose {
        let (owner, package) = match locate(conn, e) {
            Ok(found) => found,
            Err(OraBridgeError::PackageNotFound(p)) => {
                tracing::warn!(package = %p, "exposed package not visible to the gateway user (grant EXECUTE, or set owner)");
                continue;
            }
            Err(other) => return Err(other),
        };
        let mut subs = Vec::new();
        for row in conn.query_named(SUBPROGRAMS, &[("owner", &owner), ("pkg", &package)])? {
            let row = row?;
            subs.push(SubprogramRow {
                object_id: row.get::<_, i64>(0)? as u64,
                name: row.get(1)?,
                subprogram_id: row.get::<_, i64>(2)? as u32,
                overload: row.get(3)?,
            });
        }
        let mut args = Vec::new();
        for row in conn.query_named(ARGUMENTS, &[("owner", &owner), ("pkg", &package)])? {
            let row = row?;
            args.push(ArgumentRow {
                subprogram_id: row.get::<_, i64>(0)? as u32,
                argument_name: row.get(1)?,
                position: row.get::<_, i64>(2)? as u32,
                sequence: row.get::<_, i64>(3)? as u32,
                data_level: row.get::<_, i64>(4)? as u32,
                data_type: row.get(5)?,
                pls_type: row.get(6)?,
                in_out: row.get::<_, Option<String>>(7)?.unwrap_or_else(|| "IN".into()),
                defaulted: row.get::<_, Option<String>>(8)?.as_deref() == Some("Y"),
            });
        }
        all.extend(procedures(&e.reference(), &subs, &args, &e.implicit_results));
    }
    Ok(all)
}

impl CatalogSource for OraCatalog {
    type Error = OraBridgeError;

    fn load(&mut self) -> Result<Vec<Procedure>, OraBridgeError> {
        // The fingerprint first: a change during the read is then seen by the next check.
        let (seen, procedures) = self.with(|conn, expose| Ok((fingerprint(conn, expose)?, load(conn, expose)?)))?;
        self.seen = Some(seen);
        self.last_check = Some(Instant::now());
        Ok(procedures)
    }

    fn wait_for_change(&mut self, timeout: Duration) -> Result<bool, OraBridgeError> {
        let due = self.last_check.is_none_or(|t| t.elapsed() >= self.ddl_check);
        if !due {
            std::thread::sleep(timeout);
            return Ok(false);
        }
        self.last_check = Some(Instant::now());
        let now = self.with(fingerprint)?;
        Ok(self.seen.as_ref() != Some(&now))
    }
}
