//! The catalog model: what a database exposes as WAMP procedures.
//!
//! An adapter reads its database's dictionary (`pg_proc`, `ALL_ARGUMENTS`, ...) into
//! [`Procedure`]s; [`Catalog::build`] maps them to URIs (`<prefix>.<name>`) and groups overloads.
//! Nothing here talks to a database: the model is plain data, compared by value so a re-read that
//! changed nothing costs no re-registration.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The type of a parameter or result, as far as argument checking and result decoding care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlType {
    Text,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// Arbitrary-precision decimal (PostgreSQL `numeric`, Oracle `NUMBER`).
    Numeric,
    Bool,
    /// `json`/`jsonb` (or an Oracle `JSON`/`CLOB IS JSON` column): any WAMP value but binary.
    Json,
    Timestamp,
    TimestampTz,
    Date,
    Time,
    Uuid,
    /// `bytea`/`BLOB`/`RAW`: WAMP binary.
    Bytes,
    Array(Box<SqlType>),
    /// A composite (row) type: an object whose keys are its attribute names (missing ones are
    /// NULL), or the type's text literal (`(1,"a")`).
    Composite,
    /// Anything else (enums, ranges, ...): given as a string, parsed by the database.
    Other,
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            SqlType::Text => "string",
            SqlType::Int16 => "integer (16 bit)",
            SqlType::Int32 => "integer (32 bit)",
            SqlType::Int64 => "integer (64 bit)",
            SqlType::Float32 | SqlType::Float64 => "number",
            SqlType::Numeric => "number or decimal string",
            SqlType::Bool => "boolean",
            SqlType::Json => "JSON value",
            SqlType::Timestamp | SqlType::TimestampTz => "ISO 8601 timestamp string",
            SqlType::Date => "ISO 8601 date string",
            SqlType::Time => "ISO 8601 time string",
            SqlType::Uuid => "UUID string",
            SqlType::Bytes => "binary",
            SqlType::Array(inner) => return write!(f, "list of {inner}"),
            SqlType::Composite => "object (or a row literal string)",
            SqlType::Other => "string",
        };
        f.write_str(name)
    }
}

/// How a parameter passes data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamMode {
    In,
    Out,
    InOut,
    /// The last input parameter collects any extra positional arguments as an array.
    Variadic,
}

impl ParamMode {
    /// Whether the caller supplies a value for it.
    pub fn is_input(self) -> bool {
        !matches!(self, ParamMode::Out)
    }

    /// Whether it is part of the result.
    pub fn is_output(self) -> bool {
        matches!(self, ParamMode::Out | ParamMode::InOut)
    }
}

/// One parameter of a procedure, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The parameter's name as the database stores it; kwargs must match it exactly.
    pub name: Option<String>,
    pub mode: ParamMode,
    pub ty: SqlType,
    /// The database's own spelling of the type, for casts and binds (e.g. `timestamp with time zone`).
    pub db_type: String,
    pub has_default: bool,
}

/// Whether a procedure may write: read-only ones run in a read-only transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    Volatile,
    Stable,
    Immutable,
}

/// The shape of what a procedure returns, which decides the shape of the WAMP result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returns {
    /// No result arguments.
    Void,
    /// One positional result (a JSON value for `json`/`jsonb`).
    Scalar(SqlType),
    /// A composite or OUT parameters: one object `{name: value}`.
    Record,
    /// `SETOF` a row type, or `TABLE (...)`: one array of row objects.
    Rows,
    /// `SETOF` a scalar type: one array of values.
    Values,
}

impl Returns {
    /// Whether the result is a set (and so may be streamed as progressive results).
    pub fn is_set(&self) -> bool {
        matches!(self, Returns::Rows | Returns::Values)
    }
}

/// A callable database routine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Procedure {
    /// The adapter's id for this overload (a PostgreSQL oid, an Oracle object id + overload number).
    pub id: u64,
    pub schema: String,
    pub name: String,
    pub params: Vec<Param>,
    pub returns: Returns,
    pub volatility: Volatility,
}

impl Procedure {
    /// The parameters the caller supplies, with their index in [`Procedure::params`].
    pub fn inputs(&self) -> impl Iterator<Item = (usize, &Param)> {
        self.params.iter().enumerate().filter(|(_, p)| p.mode.is_input())
    }

    /// Whether it may run in a read-only transaction.
    pub fn read_only(&self) -> bool {
        self.volatility != Volatility::Volatile
    }

    /// `name(a integer, b text = default)`, for error messages.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .inputs()
            .enumerate()
            .map(|(i, (_, p))| {
                let name = p.name.clone().unwrap_or_else(|| format!("${}", i + 1));
                let default = if p.has_default { " = default" } else { "" };
                let variadic = if p.mode == ParamMode::Variadic { "variadic " } else { "" };
                format!("{variadic}{name} {}{default}", p.db_type)
            })
            .collect();
        format!("{}({})", self.name, params.join(", "))
    }
}

/// Which schema is exposed under which URI prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    pub schema: String,
    pub prefix: String,
}

/// Every exposed procedure, by URI; overloads share a URI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    by_uri: BTreeMap<String, Vec<Arc<Procedure>>>,
}

impl Catalog {
    /// Groups `procedures` by `<prefix>.<name>`, following `exposures`. Procedures of schemas not
    /// exposed, and names that cannot be a URI component, are left out (and logged).
    pub fn build(procedures: Vec<Procedure>, exposures: &[Exposure]) -> Catalog {
        let mut by_uri: BTreeMap<String, Vec<Arc<Procedure>>> = BTreeMap::new();
        for p in procedures {
            if !is_uri_component(&p.name) {
                tracing::warn!(schema = %p.schema, name = %p.name, "not exposed: the name is not a valid URI component");
                continue;
            }
            for e in exposures.iter().filter(|e| e.schema == p.schema) {
                let uri = format!("{}.{}", e.prefix, p.name);
                by_uri.entry(uri).or_default().push(Arc::new(p.clone()));
            }
        }
        Catalog { by_uri }
    }

    /// The overloads registered under `uri`.
    pub fn overloads(&self, uri: &str) -> Option<&[Arc<Procedure>]> {
        self.by_uri.get(uri).map(Vec::as_slice)
    }

    /// Every URI, sorted.
    pub fn uris(&self) -> impl Iterator<Item = &str> {
        self.by_uri.keys().map(String::as_str)
    }

    pub fn contains(&self, uri: &str) -> bool {
        self.by_uri.contains_key(uri)
    }

    pub fn len(&self) -> usize {
        self.by_uri.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_uri.is_empty()
    }
}

/// Lower-case letters, digits and underscores, not starting with a digit: what a SQL identifier
/// that needs no quoting looks like, and what a strict WAMP URI component allows.
pub fn is_uri_component(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn proc(name: &str, schema: &str) -> Procedure {
        Procedure {
            id: 1,
            schema: schema.into(),
            name: name.into(),
            params: vec![],
            returns: Returns::Void,
            volatility: Volatility::Volatile,
        }
    }

    #[test]
    fn catalog_maps_schemas_to_prefixes_and_groups_overloads() {
        let exposures = vec![Exposure { schema: "hr".into(), prefix: "com.example.hr".into() }];
        let mut second = proc("get", "hr");
        second.id = 2;
        let c = Catalog::build(vec![proc("get", "hr"), second, proc("other", "private"), proc("Bad Name", "hr")], &exposures);
        assert_eq!(c.uris().collect::<Vec<_>>(), vec!["com.example.hr.get"]);
        assert_eq!(c.overloads("com.example.hr.get").map(|o| o.len()), Some(2));
    }

    #[test]
    fn uri_components() {
        assert!(is_uri_component("get_employee2"));
        assert!(is_uri_component("_x"));
        assert!(!is_uri_component("2x"));
        assert!(!is_uri_component("Get"));
        assert!(!is_uri_component("a.b"));
        assert!(!is_uri_component(""));
    }
}
