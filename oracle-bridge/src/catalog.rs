//! `ALL_PROCEDURES` + `ALL_ARGUMENTS` rows → the bridge's catalog model. Pure: the queries live in
//! [`crate::dictionary`].
//!
//! - One [`Procedure`] per package subprogram (`SUBPROGRAM_ID`); overloads share a name and so a
//!   URI (`<prefix>.<lower-case name>`), and the core resolves them by argument names and arity.
//! - A function's return (`POSITION = 0`) becomes an unnamed OUT [`Param`] at index 0, so the
//!   call block knows to assign it; rows with `DATA_LEVEL > 0` (record/collection members) are
//!   ignored; a subprogram without rows (no arguments, since 12.1.0.2) or with the pre-12.1.0.2
//!   placeholder row (no name, no type) has no parameters.
//! - Argument and subprogram names are exposed lower-cased; names Oracle stores in another form
//!   than upper case (quoted identifiers) are not exposed, so the upper-cased URI name always
//!   names the database object exactly.
//! - Result shape: a function → its value (`Scalar`), or its rows when it returns a REF CURSOR;
//!   a procedure whose only output is one OUT REF CURSOR → those rows; a procedure listed in
//!   `implicit_results` → the rows of its implicit results; any other OUT / IN OUT parameters
//!   → one object by name (a function's value under `return`).

use bridge::{Param, ParamMode, Procedure, Returns, SqlType, Volatility};

/// The `db_type` of REF CURSOR parameters (`SYS_REFCURSOR` and typed cursors alike).
pub const REF_CURSOR: &str = "REF CURSOR";
/// The key of a function's value when it also has OUT parameters.
pub const RETURN_KEY: &str = "return";

/// One `ALL_PROCEDURES` row of a package.
#[derive(Debug, Clone, PartialEq)]
pub struct SubprogramRow {
    /// `OBJECT_ID` of the package.
    pub object_id: u64,
    /// `PROCEDURE_NAME`.
    pub name: String,
    pub subprogram_id: u32,
    /// `OVERLOAD`, for logs.
    pub overload: Option<String>,
}

/// One `ALL_ARGUMENTS` row of a package.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArgumentRow {
    pub subprogram_id: u32,
    pub argument_name: Option<String>,
    pub position: u32,
    pub sequence: u32,
    pub data_level: u32,
    pub data_type: Option<String>,
    pub pls_type: Option<String>,
    /// `IN`, `OUT` or `IN/OUT`.
    pub in_out: String,
    /// `DEFAULTED = 'Y'`.
    pub defaulted: bool,
}

/// What an argument's type maps to.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgType {
    Value(SqlType),
    Cursor,
}

/// Maps `DATA_TYPE` (and `PLS_TYPE`) to a type, or `None` if the bridge cannot bind it.
/// `name` (lower-cased) marks JSON text by the `_json` suffix, for databases without a JSON type.
pub fn arg_type(data_type: &str, pls_type: Option<&str>, name: &str) -> Option<ArgType> {
    let json_named = name.ends_with("_json");
    Some(ArgType::Value(match data_type {
        "NUMBER" | "FLOAT" => match pls_type {
            Some("INTEGER" | "INT" | "SMALLINT") => SqlType::Int64,
            _ => SqlType::Numeric,
        },
        "PL/SQL PLS INTEGER" | "PL/SQL BINARY INTEGER" | "BINARY_INTEGER" | "PLS_INTEGER" | "PL/SQL NATURAL" | "PL/SQL POSITIVE" => SqlType::Int32,
        "BINARY_FLOAT" => SqlType::Float32,
        "BINARY_DOUBLE" => SqlType::Float64,
        "VARCHAR2" | "NVARCHAR2" | "CHAR" | "NCHAR" | "CLOB" | "NCLOB" | "VARCHAR" | "LONG" if json_named => SqlType::Json,
        "VARCHAR2" | "NVARCHAR2" | "CHAR" | "NCHAR" | "CLOB" | "NCLOB" | "VARCHAR" | "LONG" => SqlType::Text,
        "JSON" => SqlType::Json,
        "DATE" | "TIMESTAMP" => SqlType::Timestamp,
        "TIMESTAMP WITH TIME ZONE" | "TIMESTAMP WITH LOCAL TIME ZONE" => SqlType::TimestampTz,
        "RAW" | "BLOB" | "LONG RAW" => SqlType::Bytes,
        "PL/SQL BOOLEAN" | "BOOLEAN" => SqlType::Bool,
        "INTERVAL DAY TO SECOND" | "INTERVAL YEAR TO MONTH" | "ROWID" | "UROWID" => SqlType::Other,
        "REF CURSOR" => return Some(ArgType::Cursor),
        _ => return None,
    }))
}

/// The lower-case name of an identifier Oracle stored upper-cased; `None` for other forms.
pub fn exposed_name(stored: &str) -> Option<String> {
    let canonical = stored.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && stored.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '_' | '$' | '#'));
    canonical.then(|| stored.to_ascii_lowercase())
}

/// The procedures of one exposed package. `reference` is how SQL names the package (it becomes
/// [`Procedure::schema`], the exposure key); `implicit` lists procedures returning implicit results.
pub fn procedures(reference: &str, subprograms: &[SubprogramRow], arguments: &[ArgumentRow], implicit: &[String]) -> Vec<Procedure> {
    subprograms
        .iter()
        .filter_map(|s| {
            let mut rows: Vec<&ArgumentRow> = arguments.iter().filter(|a| a.subprogram_id == s.subprogram_id && a.data_level == 0).collect();
            rows.sort_by_key(|a| a.sequence);
            let listed = implicit.iter().any(|i| i.eq_ignore_ascii_case(&s.name));
            match procedure(reference, s, &rows, listed) {
                Ok(p) => Some(p),
                Err(why) => {
                    tracing::warn!(package = %reference, subprogram = %s.name, overload = ?s.overload, "not exposed: {why}");
                    None
                }
            }
        })
        .collect()
}

fn procedure(reference: &str, s: &SubprogramRow, rows: &[&ArgumentRow], implicit: bool) -> Result<Procedure, String> {
    let name = exposed_name(&s.name).ok_or("its name is a quoted identifier")?;
    let mut params = Vec::new();
    let mut is_function = false;
    for a in rows {
        let Some(data_type) = a.data_type.as_deref() else {
            // The pre-12.1.0.2 placeholder row of a subprogram without arguments.
            if a.argument_name.is_none() {
                continue;
            }
            return Err(format!("argument {} has no type", a.argument_name.as_deref().unwrap_or("?")));
        };
        if a.position == 0 {
            let ty = arg_type(data_type, a.pls_type.as_deref(), &name).ok_or_else(|| format!("returns unsupported type {data_type}"))?;
            params.insert(0, param(None, ParamMode::Out, ty, data_type, false));
            is_function = true;
            continue;
        }
        let stored = a.argument_name.as_deref().ok_or("an argument has no name")?;
        let arg = exposed_name(stored).ok_or_else(|| format!("argument {stored} is a quoted identifier"))?;
        let mode = match a.in_out.as_str() {
            "IN" => ParamMode::In,
            "OUT" => ParamMode::Out,
            "IN/OUT" => ParamMode::InOut,
            other => return Err(format!("argument {stored} has mode {other}")),
        };
        let ty = arg_type(data_type, a.pls_type.as_deref(), &arg).ok_or_else(|| format!("argument {stored} has unsupported type {data_type}"))?;
        if ty == ArgType::Cursor && mode != ParamMode::Out {
            return Err(format!("argument {stored} passes a cursor in"));
        }
        params.push(param(Some(arg), mode, ty, data_type, a.defaulted));
    }
    let returns = shape(&params, is_function, implicit);
    let id = (s.object_id << 16) | u64::from(s.subprogram_id & 0xffff);
    Ok(Procedure { id, schema: reference.to_owned(), name, params, returns, volatility: Volatility::Volatile })
}

fn param(name: Option<String>, mode: ParamMode, ty: ArgType, data_type: &str, has_default: bool) -> Param {
    match ty {
        ArgType::Value(ty) => Param { name, mode, ty, db_type: data_type.to_owned(), has_default },
        ArgType::Cursor => Param { name, mode, ty: SqlType::Other, db_type: REF_CURSOR.to_owned(), has_default },
    }
}

/// Whether `p` is a REF CURSOR parameter.
pub fn is_cursor(p: &Param) -> bool {
    p.db_type == REF_CURSOR
}

/// Whether the procedure is a function (its value is parameter 0).
pub fn is_function(p: &Procedure) -> bool {
    p.params.first().is_some_and(|q| q.name.is_none() && q.mode == ParamMode::Out)
}

fn shape(params: &[Param], is_function: bool, implicit: bool) -> Returns {
    let outs: Vec<&Param> = params.iter().filter(|p| p.name.is_some() && p.mode.is_output()).collect();
    match (is_function, outs.as_slice()) {
        (true, []) if is_cursor(&params[0]) => Returns::Rows,
        (true, []) => Returns::Scalar(params[0].ty.clone()),
        (false, []) if implicit => Returns::Rows,
        (false, []) => Returns::Void,
        (false, [only]) if is_cursor(only) => Returns::Rows,
        _ => Returns::Record,
    }
}

/// Picks the package an unqualified name means, as Oracle resolves it: the user's own schema,
/// then a private synonym, then a public one. `found` holds `(kind, owner, object)` with kind
/// `SELF`, `PRIVATE` or `PUBLIC`.
pub fn resolve_package(found: &[(String, String, String)]) -> Option<(String, String)> {
    ["SELF", "PRIVATE", "PUBLIC"]
        .iter()
        .find_map(|kind| found.iter().find(|(k, _, _)| k == kind))
        .map(|(_, owner, object)| (owner.clone(), object.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(name: &str, id: u32) -> SubprogramRow {
        SubprogramRow { object_id: 7001, name: name.into(), subprogram_id: id, overload: None }
    }

    fn arg(sub: u32, seq: u32, pos: u32, name: Option<&str>, ty: &str, in_out: &str, defaulted: bool) -> ArgumentRow {
        ArgumentRow {
            subprogram_id: sub,
            argument_name: name.map(Into::into),
            position: pos,
            sequence: seq,
            data_level: 0,
            data_type: Some(ty.into()),
            pls_type: Some(ty.into()).filter(|t: &String| t != "REF CURSOR"),
            in_out: in_out.into(),
            defaulted,
        }
    }

    /// An HR_API-like package: a function with a default, overloads, OUT parameters, cursors,
    /// a procedure without arguments (no rows), a record argument and a quoted name.
    fn fixture() -> (Vec<SubprogramRow>, Vec<ArgumentRow>) {
        let subs = vec![
            sub("GET_EMP", 1),
            SubprogramRow { overload: Some("1".into()), ..sub("FIND", 2) },
            SubprogramRow { overload: Some("2".into()), ..sub("FIND", 3) },
            sub("STATS", 4),
            sub("LIST_EMPS", 5),
            sub("PING", 6),
            sub("OPEN_EMPS", 7),
            sub("BULK", 8),
            sub("weird", 9),
            sub("REPORT", 10),
            sub("HEADCOUNT", 11),
        ];
        let mut rec_member = arg(8, 2, 1, Some("ID"), "NUMBER", "IN", false);
        rec_member.data_level = 1;
        let mut int = arg(1, 2, 1, Some("P_ID"), "NUMBER", "IN", false);
        int.pls_type = Some("INTEGER".into());
        let args = vec![
            arg(1, 1, 0, None, "VARCHAR2", "OUT", false),
            int,
            arg(1, 3, 2, Some("P_UPPER"), "PL/SQL BOOLEAN", "IN", true),
            arg(2, 1, 0, None, "VARCHAR2", "OUT", false),
            arg(2, 2, 1, Some("P_ID"), "NUMBER", "IN", false),
            arg(3, 1, 0, None, "VARCHAR2", "OUT", false),
            arg(3, 2, 1, Some("P_NAME"), "VARCHAR2", "IN", false),
            arg(3, 3, 2, Some("P_EXACT"), "PL/SQL BOOLEAN", "IN", true),
            arg(4, 2, 2, Some("P_TOP"), "VARCHAR2", "OUT", false),
            arg(4, 1, 1, Some("P_TOTAL"), "NUMBER", "OUT", false),
            arg(4, 3, 3, Some("P_HIRED"), "DATE", "IN/OUT", false),
            arg(5, 1, 1, Some("P_MIN"), "NUMBER", "IN", true),
            arg(5, 2, 2, Some("P_CUR"), "REF CURSOR", "OUT", false),
            arg(7, 1, 0, None, "REF CURSOR", "OUT", false),
            arg(8, 1, 1, Some("P_ROWS"), "PL/SQL RECORD", "IN", false),
            rec_member,
            arg(10, 1, 1, Some("P_FILTER_JSON"), "CLOB", "IN", true),
            arg(11, 1, 0, None, "NUMBER", "OUT", false),
            ArgumentRow { subprogram_id: 6, position: 1, sequence: 1, in_out: "IN".into(), ..Default::default() },
        ];
        (subs, args)
    }

    fn by_id(ps: &[Procedure], sub: u32) -> &Procedure {
        ps.iter().find(|p| p.id & 0xffff == u64::from(sub)).unwrap_or_else(|| panic!("subprogram {sub} missing"))
    }

    #[test]
    fn rows_become_signatures() {
        let (subs, args) = fixture();
        let ps = procedures("\"HR\".\"HR_API\"", &subs, &args, &["report".into()]);
        // BULK (record argument) and "weird" (quoted name) are left out.
        assert_eq!(ps.len(), 9);
        assert!(ps.iter().all(|p| p.schema == "\"HR\".\"HR_API\""));

        let get = by_id(&ps, 1);
        assert_eq!((get.name.as_str(), get.id), ("get_emp", (7001 << 16) | 1));
        assert!(is_function(get));
        assert_eq!(get.returns, Returns::Scalar(SqlType::Text));
        assert_eq!(get.params[1], Param { name: Some("p_id".into()), mode: ParamMode::In, ty: SqlType::Int64, db_type: "NUMBER".into(), has_default: false });
        assert_eq!((get.params[2].ty.clone(), get.params[2].has_default), (SqlType::Bool, true));
        assert_eq!(get.signature(), "get_emp(p_id NUMBER, p_upper PL/SQL BOOLEAN = default)");

        let (f1, f2) = (by_id(&ps, 2), by_id(&ps, 3));
        assert_eq!((f1.name.as_str(), f2.name.as_str()), ("find", "find"));
        assert_eq!(f1.params[1].ty, SqlType::Numeric);
        assert_eq!(f2.inputs().map(|(_, p)| p.name.clone().unwrap()).collect::<Vec<_>>(), vec!["p_name", "p_exact"]);

        let stats = by_id(&ps, 4);
        assert!(!is_function(stats));
        assert_eq!(stats.returns, Returns::Record);
        // Declaration order (SEQUENCE), whatever the row order.
        let names: Vec<_> = stats.params.iter().map(|p| (p.name.clone().unwrap(), p.mode)).collect();
        assert_eq!(names, vec![("p_total".into(), ParamMode::Out), ("p_top".into(), ParamMode::Out), ("p_hired".into(), ParamMode::InOut)]);
        assert_eq!(stats.params[2].ty, SqlType::Timestamp);

        let list = by_id(&ps, 5);
        assert_eq!(list.returns, Returns::Rows);
        assert!(is_cursor(&list.params[1]) && list.params[0].has_default);

        let ping = by_id(&ps, 6);
        assert_eq!((ping.params.len(), ping.returns.clone()), (0, Returns::Void));
        assert_eq!(by_id(&ps, 7).returns, Returns::Rows);
        let report = by_id(&ps, 10);
        assert_eq!((report.returns.clone(), report.params[0].ty.clone()), (Returns::Rows, SqlType::Json));
        let headcount = by_id(&ps, 11);
        assert_eq!((headcount.params.len(), headcount.returns.clone()), (1, Returns::Scalar(SqlType::Numeric)));
    }

    #[test]
    fn no_argument_rows_since_12_1_0_2_and_a_function_with_outs() {
        let subs = vec![sub("NOTHING", 1), sub("SPLIT", 2)];
        let args = vec![
            arg(2, 1, 0, None, "NUMBER", "OUT", false),
            arg(2, 2, 1, Some("P_IN"), "VARCHAR2", "IN", false),
            arg(2, 3, 2, Some("P_REST"), "VARCHAR2", "OUT", false),
        ];
        let ps = procedures("\"P\"", &subs, &args, &[]);
        assert_eq!((ps[0].params.len(), ps[0].returns.clone()), (0, Returns::Void));
        assert_eq!(ps[1].returns, Returns::Record);
        assert!(is_function(&ps[1]));
    }

    #[test]
    fn cursors_in_and_unknown_types_are_refused() {
        let subs = vec![sub("TAKES_CURSOR", 1), sub("TAKES_OBJECT", 2), sub("OK", 3)];
        let args = vec![
            arg(1, 1, 1, Some("P_CUR"), "REF CURSOR", "IN/OUT", false),
            arg(2, 1, 1, Some("P_OBJ"), "OBJECT", "IN", false),
            arg(3, 1, 1, Some("P_X"), "BINARY_DOUBLE", "IN", false),
        ];
        let ps = procedures("\"P\"", &subs, &args, &[]);
        assert_eq!(ps.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), vec!["ok"]);
        assert_eq!(ps[0].params[0].ty, SqlType::Float64);
    }

    #[test]
    fn type_mapping() {
        assert_eq!(arg_type("NUMBER", Some("NUMBER"), "p"), Some(ArgType::Value(SqlType::Numeric)));
        assert_eq!(arg_type("PL/SQL PLS INTEGER", None, "p"), Some(ArgType::Value(SqlType::Int32)));
        assert_eq!(arg_type("BINARY_FLOAT", None, "p"), Some(ArgType::Value(SqlType::Float32)));
        assert_eq!(arg_type("CLOB", None, "p_doc_json"), Some(ArgType::Value(SqlType::Json)));
        assert_eq!(arg_type("NVARCHAR2", None, "p_doc"), Some(ArgType::Value(SqlType::Text)));
        assert_eq!(arg_type("JSON", None, "p"), Some(ArgType::Value(SqlType::Json)));
        assert_eq!(arg_type("TIMESTAMP WITH LOCAL TIME ZONE", None, "p"), Some(ArgType::Value(SqlType::TimestampTz)));
        assert_eq!(arg_type("BLOB", None, "p"), Some(ArgType::Value(SqlType::Bytes)));
        assert_eq!(arg_type("BOOLEAN", None, "p"), Some(ArgType::Value(SqlType::Bool)));
        assert_eq!(arg_type("REF CURSOR", None, "p"), Some(ArgType::Cursor));
        assert_eq!(arg_type("TABLE", None, "p"), None);
        assert_eq!(exposed_name("GET_EMP$2"), Some("get_emp$2".into()));
        assert_eq!(exposed_name("getEmp"), None);
    }

    #[test]
    fn unqualified_packages_resolve_like_sql() {
        let row = |k: &str, o: &str, n: &str| (k.to_string(), o.to_string(), n.to_string());
        let found = vec![row("PUBLIC", "PUB", "HR_API"), row("PRIVATE", "HR", "HR_API_V2")];
        assert_eq!(resolve_package(&found), Some(("HR".into(), "HR_API_V2".into())));
        let found = vec![row("PUBLIC", "PUB", "HR_API"), row("SELF", "GW", "HR_API")];
        assert_eq!(resolve_package(&found), Some(("GW".into(), "HR_API".into())));
        assert_eq!(resolve_package(&[]), None);
    }
}
