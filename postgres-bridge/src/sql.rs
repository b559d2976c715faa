//! SQL text for a call, and argument values as text parameters.
//!
//! Every argument is bound as a text parameter and cast by the database to the parameter's type
//! (`$1::text::integer`), so one bind path serves every type, including enums and domains. Nothing
//! a caller sends is spliced into SQL: the function's schema and name and the parameter names come
//! from the catalog and are quoted as identifiers; the type names are `format_type()` output.

use bridge::args::BoundCall;
use bridge::convert::SqlValue;
use bridge::{Returns, SqlType};

/// `"name"`, with embedded quotes doubled: safe for any identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The statement for `call`: `select * from "s"."f"($1::text::int4, "b" => $2::text::text)` for
/// row-shaped results, `select "s"."f"(...) as "result"` for scalars and void.
pub fn call_sql(call: &BoundCall) -> String {
    let target = call_target(call, 1);
    match call.procedure.returns {
        Returns::Void | Returns::Scalar(_) => format!("select {target} as \"result\""),
        Returns::Record | Returns::Rows | Returns::Values => format!("select * from {target}"),
    }
}

/// Parameters `$1`..`$5` of [`context_call_sql`]: session, authid, authrole, traceparent, tracestate.
pub const CONTEXT_PARAMS: usize = 5;

/// The caller's identity and trace context as transaction-local settings (`$1`..`$5`); while the
/// statement runs, a `traceparent` is also the connection's `application_name` (`pg_stat_activity`).
const CONTEXT_SETTINGS: &str = "set_config('wamp.session', $1, true), set_config('wamp.authid', $2, true), \
set_config('wamp.authrole', $3, true), set_config('wamp.traceparent', $4, true), set_config('wamp.tracestate', $5, true), \
set_config('application_name', coalesce(nullif($4, ''), current_setting('application_name')), true)";

/// The settings alone, for a call that runs in an explicit transaction.
pub fn context_sql() -> String {
    format!("select {CONTEXT_SETTINGS}")
}

/// `call` and its context settings in one statement, so a call outside a cursor is one round trip
/// in one implicit transaction (as `pgbench -M prepared` does it). A materialized CTE sets the
/// settings (and `transaction_read_only` for stable and immutable functions); the function is
/// evaluated above the CTE's scan — in its select list, or in a lateral subquery that refers to
/// it — so always after the settings. Arguments are `$6` onwards.
pub fn context_call_sql(call: &BoundCall, read_only: bool) -> String {
    let target = call_target(call, CONTEXT_PARAMS + 1);
    let read_only = if read_only { ", set_config('transaction_read_only', 'on', true)" } else { "" };
    let ctx = format!("with \"wamp_context\" as materialized (select true as \"ready\", {CONTEXT_SETTINGS}{read_only})");
    match call.procedure.returns {
        Returns::Void | Returns::Scalar(_) => format!("{ctx} select {target} as \"result\" from \"wamp_context\""),
        Returns::Record | Returns::Rows | Returns::Values => format!(
            "{ctx} select \"r\".* from \"wamp_context\", lateral (select * from {target} where \"wamp_context\".\"ready\" offset 0) as \"r\""
        ),
    }
}

/// `"s"."f"($n::text::type, "name" => $n+1::text::type, ...)`, parameters numbered from `first`.
fn call_target(call: &BoundCall, first: usize) -> String {
    let p = &call.procedure;
    let args: Vec<String> = call
        .args
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            let param = &p.params[arg.param];
            let variadic = if param.mode == bridge::ParamMode::Variadic { "variadic " } else { "" };
            let n = i + first;
            let value = match (&param.ty, &arg.value) {
                // An object for a composite type: the row built from its keys, by the database.
                (SqlType::Composite, SqlValue::Json(_)) => format!("jsonb_populate_record(null::{}, ${n}::text::jsonb)", param.db_type),
                // A list of objects for an array of one: the rows, in order.
                (SqlType::Array(inner), SqlValue::Json(_)) if **inner == SqlType::Composite => {
                    let element = param.db_type.strip_suffix("[]").unwrap_or(&param.db_type);
                    format!("array(select jsonb_populate_recordset(null::{element}, ${n}::text::jsonb))")
                }
                _ => format!("${n}::text::{}", param.db_type),
            };
            match (&param.name, arg.named) {
                (Some(name), true) => format!("{variadic}{} => {value}", quote_ident(name)),
                _ => format!("{variadic}{value}"),
            }
        })
        .collect();
    format!("{}.{}({})", quote_ident(&p.schema), quote_ident(&p.name), args.join(", "))
}

/// Wraps `inner` so that the columns at `as_text` come back as text.
pub fn cast_columns(inner: &str, columns: &[(String, bool)]) -> String {
    let list: Vec<String> = columns
        .iter()
        .map(|(name, as_text)| if *as_text { format!("{0}::text as {0}", quote_ident(name)) } else { quote_ident(name) })
        .collect();
    format!("select {} from ({inner}) as r", list.join(", "))
}

/// The text form PostgreSQL parses back into the parameter's type; `None` for NULL.
pub fn to_text(value: &SqlValue) -> Option<String> {
    Some(match value {
        SqlValue::Null => return None,
        SqlValue::Bool(b) => b.to_string(),
        SqlValue::Int(i) => i.to_string(),
        SqlValue::Float(f) if f.is_nan() => "NaN".into(),
        SqlValue::Float(f) if f.is_infinite() => if *f > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        SqlValue::Float(f) => f.to_string(),
        SqlValue::Text(s) => s.clone(),
        SqlValue::Bytes(b) => {
            let mut s = String::with_capacity(2 + 2 * b.len());
            s.push_str("\\x");
            for byte in b {
                s.push_str(&format!("{byte:02x}"));
            }
            s
        }
        SqlValue::Json(j) => j.to_string(),
        SqlValue::Array(items) => array_literal(items),
    })
}

/// `{"a","b\"c",NULL,{"1","2"}}`: every element quoted, so no element text can break the literal.
fn array_literal(items: &[SqlValue]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| match item {
            SqlValue::Null => "NULL".to_owned(),
            SqlValue::Array(inner) => array_literal(inner),
            other => {
                let text = to_text(other).unwrap_or_default();
                format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
            }
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge::args::BoundArg;
    use bridge::{Param, ParamMode, Procedure, SqlType, Volatility};
    use std::sync::Arc;

    fn param(name: &str, db_type: &str, mode: ParamMode) -> Param {
        Param { name: Some(name.into()), mode, ty: SqlType::Other, db_type: db_type.into(), has_default: true }
    }

    #[test]
    fn call_text_binds_everything_and_quotes_identifiers() {
        let procedure = Arc::new(Procedure {
            id: 1,
            schema: "my\"schema".into(),
            name: "get".into(),
            params: vec![param("a", "integer", ParamMode::In), param("b", "text", ParamMode::In), param("xs", "integer[]", ParamMode::Variadic)],
            returns: Returns::Rows,
            volatility: Volatility::Stable,
        });
        let call = BoundCall {
            procedure,
            args: vec![
                BoundArg { param: 0, value: SqlValue::Int(1), named: false },
                BoundArg { param: 1, value: SqlValue::Text("x".into()), named: true },
                BoundArg { param: 2, value: SqlValue::Array(vec![]), named: true },
            ],
        };
        assert_eq!(
            call_sql(&call),
            r#"select * from "my""schema"."get"($1::text::integer, "b" => $2::text::text, variadic "xs" => $3::text::integer[])"#
        );
    }

    #[test]
    fn values_become_parseable_text() {
        assert_eq!(to_text(&SqlValue::Null), None);
        assert_eq!(to_text(&SqlValue::Bytes(vec![0, 255])), Some("\\x00ff".into()));
        assert_eq!(to_text(&SqlValue::Float(f64::NEG_INFINITY)), Some("-Infinity".into()));
        assert_eq!(to_text(&SqlValue::Json(serde_json::json!({"a": [1]}))), Some(r#"{"a":[1]}"#.into()));
        let arr = SqlValue::Array(vec![
            SqlValue::Array(vec![SqlValue::Text("a\"b".into()), SqlValue::Null]),
            SqlValue::Array(vec![SqlValue::Text("c\\d}".into()), SqlValue::Text("NULL".into())]),
        ]);
        assert_eq!(to_text(&arr), Some(r#"{{"a\"b",NULL},{"c\\d}","NULL"}}"#.into()));
    }

    #[test]
    fn text_casts_for_unsupported_columns() {
        let cols = vec![("id".to_string(), false), ("span".to_string(), true)];
        assert_eq!(cast_columns("select 1", &cols), r#"select "id", "span"::text as "span" from (select 1) as r"#);
    }
}
