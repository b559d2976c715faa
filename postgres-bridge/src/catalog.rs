//! Reads the exposed schemas' functions from `pg_proc` into the bridge's catalog model.
//!
//! Exposed: plain functions (`prokind = 'f'`) not owned by an extension, whose parameter types
//! are concrete (no `anyelement`, `internal`, ...) and whose result is not a trigger. Parameter
//! and result types are classified by their base type (domains by what they are over), and keep
//! their `format_type()` spelling for casts.

use std::collections::HashMap;
use std::time::Duration;

use bridge::{CatalogSource, Param, ParamMode, Procedure, Returns, SqlType, Volatility};
use postgres::Client;

use crate::error::PgBridgeError;
use crate::listen::Dedicated;

/// NOTIFY channel of the catalog event trigger (see `pgsql/install.sql`).
pub const CHANNEL: &str = "wamp_catalog";

const PROCS: &str = "
select p.oid::int8, n.nspname::text, p.proname::text, p.provolatile::text, p.proretset,
       p.pronargdefaults::int4, p.prorettype::int8,
       coalesce(p.proallargtypes, p.proargtypes::oid[])::int8[],
       coalesce(p.proargmodes::text[], '{}'::text[]),
       coalesce(p.proargnames, '{}'::text[])
  from pg_proc p
  join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = any($1) and p.prokind = 'f'
   and not exists (select 1 from pg_depend d
                    where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
 order by n.nspname, p.proname, p.oid";

const TYPES: &str = "
select t.oid::int8, format_type(t.oid, null), b.typtype::text, b.typcategory::text, b.typname::text,
       bn.nspname::text, e.typname::text, en.nspname::text, e.typtype::text, b.typrelid <> 0
  from pg_type t
  join pg_type b on b.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
  join pg_namespace bn on bn.oid = b.typnamespace
  left join pg_type e0 on e0.oid = b.typelem and b.typcategory = 'A'
  left join pg_type e on e.oid = case when e0.typtype = 'd' then e0.typbasetype else e0.oid end
  left join pg_namespace en on en.oid = e.typnamespace
 where t.oid = any($1::int8[]::oid[])";

/// What the catalog needs to know about one type.
#[derive(Debug, Clone)]
struct TypeInfo {
    display: String,
    /// `None` for pseudo-types nothing can be bound to or decoded from.
    ty: Option<SqlType>,
    pseudo_name: Option<String>,
    composite: bool,
}

/// Maps a base type to its [`SqlType`]; `None` for pseudo-types.
fn classify(typtype: &str, name: &str, builtin: bool) -> Option<SqlType> {
    if typtype == "p" {
        return None;
    }
    if typtype == "c" {
        return Some(SqlType::Composite);
    }
    if typtype != "b" || !builtin {
        return Some(if name == "citext" { SqlType::Text } else { SqlType::Other });
    }
    Some(match name {
        "text" | "varchar" | "bpchar" | "name" | "char" => SqlType::Text,
        "int2" => SqlType::Int16,
        "int4" | "oid" => SqlType::Int32,
        "int8" => SqlType::Int64,
        "float4" => SqlType::Float32,
        "float8" => SqlType::Float64,
        "numeric" => SqlType::Numeric,
        "bool" => SqlType::Bool,
        "json" | "jsonb" => SqlType::Json,
        "timestamp" => SqlType::Timestamp,
        "timestamptz" => SqlType::TimestampTz,
        "date" => SqlType::Date,
        "time" => SqlType::Time,
        "uuid" => SqlType::Uuid,
        "bytea" => SqlType::Bytes,
        _ => SqlType::Other,
    })
}

/// Reads the catalog over a dedicated connection that also LISTENs for change hints.
pub struct PgCatalog {
    conn: Dedicated,
    schemas: Vec<String>,
}

impl PgCatalog {
    pub fn new(config: postgres::Config, application_name: &str, schemas: Vec<String>) -> Self {
        PgCatalog { conn: Dedicated::new(config, application_name, &[CHANNEL]), schemas }
    }
}

impl CatalogSource for PgCatalog {
    type Error = PgBridgeError;

    fn load(&mut self) -> Result<Vec<Procedure>, PgBridgeError> {
        let schemas = self.schemas.clone();
        self.conn.with(|client, _| load(client, &schemas))
    }

    fn wait_for_change(&mut self, timeout: Duration) -> Result<bool, PgBridgeError> {
        self.conn.wait(timeout)
    }
}

fn load(client: &mut Client, schemas: &[String]) -> Result<Vec<Procedure>, PgBridgeError> {
    let rows = client.query(PROCS, &[&schemas])?;
    let mut oids: Vec<i64> = Vec::new();
    for r in &rows {
        oids.push(r.get(6));
        oids.extend(r.get::<_, Vec<i64>>(7));
    }
    oids.sort_unstable();
    oids.dedup();
    let mut types = HashMap::new();
    for r in client.query(TYPES, &[&oids])? {
        let (typtype, category, name, ns): (String, String, String, String) = (r.get(2), r.get(3), r.get(4), r.get(5));
        let builtin = ns == "pg_catalog";
        let ty = if category == "A" && typtype == "b" {
            let elem: Option<String> = r.get(6);
            let elem_ns: Option<String> = r.get(7);
            let elem_typtype: Option<String> = r.get(8);
            match (elem, elem_ns, elem_typtype) {
                (Some(e), Some(ens), Some(ett)) => classify(&ett, &e, ens == "pg_catalog").map(|t| SqlType::Array(Box::new(t))),
                _ => Some(SqlType::Other),
            }
        } else {
            classify(&typtype, &name, builtin)
        };
        let pseudo_name = (typtype == "p").then(|| name.clone());
        types.insert(r.get::<_, i64>(0), TypeInfo { display: r.get(1), ty, pseudo_name, composite: r.get(9) });
    }
    Ok(rows.iter().filter_map(|r| procedure(r, &types)).collect())
}

/// One `pg_proc` row as a [`Procedure`], or `None` (logged) if it cannot be exposed.
fn procedure(r: &postgres::Row, types: &HashMap<i64, TypeInfo>) -> Option<Procedure> {
    let (oid, schema, name): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
    let skip = |why: String| {
        tracing::debug!(schema = %schema, function = %name, "not exposed: {why}");
        None
    };
    let volatility = match r.get::<_, String>(3).as_str() {
        "i" => Volatility::Immutable,
        "s" => Volatility::Stable,
        _ => Volatility::Volatile,
    };
    let retset: bool = r.get(4);
    let ndefaults = r.get::<_, i32>(5).max(0) as usize;
    let rettype = types.get(&r.get::<_, i64>(6))?;
    let argtypes: Vec<i64> = r.get(7);
    let modes: Vec<String> = r.get(8);
    let names: Vec<String> = r.get(9);
    let mut params = Vec::with_capacity(argtypes.len());
    for (i, t) in argtypes.iter().enumerate() {
        let info = types.get(t)?;
        let mode = match modes.get(i).map(String::as_str) {
            None | Some("i") => ParamMode::In,
            Some("o") | Some("t") => ParamMode::Out,
            Some("b") => ParamMode::InOut,
            Some("v") => ParamMode::Variadic,
            Some(other) => return skip(format!("unknown parameter mode '{other}'")),
        };
        let Some(ty) = info.ty.clone() else {
            return skip(format!("parameter {} has pseudo-type {}", i + 1, info.display));
        };
        let name = names.get(i).filter(|n| !n.is_empty()).cloned();
        params.push(Param { name, mode, ty, db_type: info.display.clone(), has_default: false });
    }
    // The last `pronargdefaults` input parameters have defaults.
    let inputs: Vec<usize> = params.iter().enumerate().filter(|(_, p)| p.mode.is_input()).map(|(i, _)| i).collect();
    for &i in inputs.iter().rev().take(ndefaults) {
        params[i].has_default = true;
    }
    let has_out = params.iter().any(|p| p.mode.is_output());
    let returns = match (rettype.pseudo_name.as_deref(), retset) {
        (Some("void"), _) => Returns::Void,
        (Some("record"), true) if has_out => Returns::Rows,
        (Some("record"), false) if has_out => Returns::Record,
        (Some(other), _) => return skip(format!("returns pseudo-type {other}")),
        (None, true) if has_out || rettype.composite => Returns::Rows,
        (None, true) => Returns::Values,
        (None, false) if has_out || rettype.composite => Returns::Record,
        (None, false) => Returns::Scalar(rettype.ty.clone().unwrap_or(SqlType::Other)),
    };
    Some(Procedure { id: oid as u64, schema, name, params, returns, volatility })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_types_classify() {
        assert_eq!(classify("b", "int4", true), Some(SqlType::Int32));
        assert_eq!(classify("b", "timestamptz", true), Some(SqlType::TimestampTz));
        assert_eq!(classify("b", "citext", false), Some(SqlType::Text));
        assert_eq!(classify("e", "mood", false), Some(SqlType::Other));
        assert_eq!(classify("b", "inet", true), Some(SqlType::Other));
        assert_eq!(classify("p", "anyelement", true), None);
    }
}
