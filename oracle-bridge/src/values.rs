//! WAMP values ↔ Oracle values, as pure functions (the driver calls live in [`crate::call`]).
//!
//! In: the core checked each argument against its [`SqlType`]; here it becomes a [`BindValue`]
//! with the Oracle type it is bound as: NUMBER from its exact decimal text (parsed by the client
//! with `.` as the separator, whatever the session's NLS settings), timestamps parsed from ISO 8601
//! here (so no NLS date format is involved), JSON as CLOB text, binary as RAW/BLOB, booleans as
//! PL/SQL BOOLEAN.
//!
//! Out: NUMBER → an integer when it is one that fits 64 bits, a JSON number when the shortest
//! form of the nearest double is the value, else the exact decimal string; DATE/TIMESTAMP →
//! `YYYY-MM-DDTHH:MM:SS[.fffffffff]`; with time zone → the same with its offset (`Z` for UTC);
//! JSON text → the JSON value; RAW/BLOB → binary.

use bridge::convert::{from_json, SqlValue};
use bridge::{Param, SqlType};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Timelike};
use oracle::sql_type::OracleType;
use wamp::Value;

use crate::catalog::is_cursor;

/// Largest VARCHAR2 / RAW a PL/SQL bind holds.
pub const MAX_PLSQL: u32 = 32767;

/// An argument ready to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum BindValue {
    /// NULL of the parameter's type.
    Null(OracleType),
    Text(String, OracleType),
    /// A NUMBER from its decimal text.
    Number(String),
    Float(f64, OracleType),
    Bool(bool),
    Bytes(Vec<u8>, OracleType),
    Timestamp(NaiveDateTime, OracleType),
    TimestampTz(DateTime<FixedOffset>),
}

/// The type an OUT (or IN OUT) parameter is bound as, and NULL arguments are bound with.
pub fn bind_type(p: &Param) -> OracleType {
    if is_cursor(p) {
        return OracleType::RefCursor;
    }
    let lob = matches!(p.db_type.as_str(), "CLOB" | "NCLOB" | "JSON" | "BLOB" | "LONG" | "LONG RAW");
    match &p.ty {
        SqlType::Int16 | SqlType::Int32 | SqlType::Int64 | SqlType::Numeric => OracleType::Number(0, -127),
        SqlType::Float32 => OracleType::BinaryFloat,
        SqlType::Float64 => OracleType::BinaryDouble,
        SqlType::Bool => OracleType::Boolean,
        SqlType::Bytes if lob => OracleType::BLOB,
        SqlType::Bytes => OracleType::Raw(MAX_PLSQL),
        SqlType::Timestamp if p.db_type == "DATE" => OracleType::Date,
        SqlType::Timestamp | SqlType::Date => OracleType::Timestamp(9),
        SqlType::TimestampTz => OracleType::TimestampTZ(9),
        SqlType::Json => OracleType::CLOB,
        _ if lob => OracleType::CLOB,
        _ if p.db_type.starts_with('N') => OracleType::NVarchar2(MAX_PLSQL / 2),
        _ => OracleType::Varchar2(MAX_PLSQL),
    }
}

/// The bind value of a checked argument.
pub fn to_bind(p: &Param, value: &SqlValue) -> Result<BindValue, String> {
    let ty = bind_type(p);
    Ok(match (value, &p.ty) {
        (SqlValue::Null, _) => BindValue::Null(ty),
        (SqlValue::Int(i), _) => BindValue::Number(i.to_string()),
        (SqlValue::Text(s), SqlType::Numeric) if s == "NaN" => return Err("NUMBER has no NaN".into()),
        (SqlValue::Text(s), SqlType::Numeric) => BindValue::Number(s.clone()),
        (SqlValue::Float(f), _) => BindValue::Float(*f, ty),
        (SqlValue::Bool(b), _) => BindValue::Bool(*b),
        (SqlValue::Bytes(b), _) => BindValue::Bytes(b.clone(), ty),
        (SqlValue::Json(j), _) => BindValue::Text(j.to_string(), OracleType::CLOB),
        (SqlValue::Text(s), SqlType::TimestampTz) => match parse_timestamp(s)? {
            Parsed::Zoned(t) => BindValue::TimestampTz(t),
            Parsed::Local(t) => BindValue::Timestamp(t, OracleType::Timestamp(9)),
        },
        (SqlValue::Text(s), SqlType::Timestamp | SqlType::Date) => match parse_timestamp(s)? {
            Parsed::Local(t) => BindValue::Timestamp(t, ty),
            Parsed::Zoned(_) => return Err(format!("{} takes no time zone offset", p.db_type)),
        },
        (SqlValue::Text(s), _) => BindValue::Text(s.clone(), ty),
        (SqlValue::Array(_), _) => return Err("Oracle collections are not supported".into()),
    })
}

/// An ISO 8601 timestamp, with or without an offset.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Local(NaiveDateTime),
    Zoned(DateTime<FixedOffset>),
}

/// Parses `YYYY-MM-DD[(T| )HH:MM[:SS[.f]]][Z|±HH[:MM]]`.
pub fn parse_timestamp(s: &str) -> Result<Parsed, String> {
    let bad = || format!("'{s}' is not an ISO 8601 timestamp");
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Parsed::Local(d.and_hms_opt(0, 0, 0).ok_or_else(bad)?));
    }
    let mut normalized = s.replace('z', "Z");
    if matches!(s.get(10..11), Some("t" | " ")) {
        normalized.replace_range(10..11, "T");
    }
    let (clock, offset) = match normalized.get(10..).and_then(|t| t.rfind(['Z', '+', '-'])) {
        Some(i) => normalized.split_at(10 + i),
        None => (normalized.as_str(), ""),
    };
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(clock, f).ok())
        .ok_or_else(bad)?;
    if offset.is_empty() {
        return Ok(Parsed::Local(local));
    }
    let seconds = if offset == "Z" {
        0
    } else {
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
        let (h, m) = match digits.len() {
            2 => (digits.parse::<i32>().map_err(|_| bad())?, 0),
            4 => (digits[..2].parse::<i32>().map_err(|_| bad())?, digits[2..].parse::<i32>().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        sign * (h * 3600 + m * 60)
    };
    let zone = FixedOffset::east_opt(seconds).ok_or_else(bad)?;
    local.and_local_timezone(zone).single().map(Parsed::Zoned).ok_or_else(bad)
}

/// `2024-02-29T13:45:00`, with the fraction when there is one (trailing zeros trimmed).
pub fn format_local(t: &NaiveDateTime) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s
}

/// [`format_local`] plus the offset: `Z` for UTC, else `+HH:MM`.
pub fn format_zoned(t: &DateTime<FixedOffset>) -> String {
    let mut s = format_local(&t.naive_local());
    match t.offset().local_minus_utc() {
        0 => s.push('Z'),
        secs => {
            let sign = if secs < 0 { '-' } else { '+' };
            let secs = secs.abs();
            s.push_str(&format!("{sign}{:02}:{:02}", secs / 3600, secs % 3600 / 60));
        }
    }
    s
}

/// A NUMBER's text as the most faithful WAMP value.
pub fn number_value(text: &str) -> Value {
    let t = text.trim();
    let normalized = match t.strip_prefix('-') {
        Some(rest) if rest.starts_with('.') => format!("-0{rest}"),
        _ if t.starts_with('.') => format!("0{t}"),
        _ => t.to_owned(),
    };
    if let Ok(i) = normalized.parse::<i64>() {
        return Value::Int(i);
    }
    if let Ok(f) = normalized.parse::<f64>() {
        if f.is_finite() && same_decimal(&f.to_string(), &normalized) {
            return Value::Float(f);
        }
    }
    Value::Str(normalized)
}

/// Whether two decimal texts denote the same number (compared digit by digit, ignoring
/// redundant zeros and exponent forms is not needed: Oracle prints plain decimals).
fn same_decimal(a: &str, b: &str) -> bool {
    fn canon(s: &str) -> String {
        let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        format!("{}{}.{}", if neg { "-" } else { "" }, if int.is_empty() { "0" } else { int }, frac)
    }
    canon(a) == canon(b)
}

/// Text that should hold JSON (a `JSON` value, or a `*_json` parameter or column).
pub fn json_value(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map(from_json).map_err(|e| format!("not valid JSON: {e}"))
}

/// The key of a column or OUT parameter: unquoted (upper-case) names lower-cased, others as they are.
pub fn column_key(name: &str) -> String {
    if name.chars().any(|c| c.is_lowercase()) {
        name.to_owned()
    } else {
        name.to_lowercase()
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary (DBMS_APPLICATION_INFO and
/// DBMS_SESSION limits).
pub fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge::ParamMode;

    fn param(ty: SqlType, db_type: &str) -> Param {
        Param { name: Some("p".into()), mode: ParamMode::In, ty, db_type: db_type.into(), has_default: false }
    }

    #[test]
    fn every_type_binds() {
        let num = param(SqlType::Numeric, "NUMBER");
        assert_eq!(to_bind(&num, &SqlValue::Text("12345678901234567890.5".into())), Ok(BindValue::Number("12345678901234567890.5".into())));
        assert_eq!(to_bind(&num, &SqlValue::Int(-7)), Ok(BindValue::Number("-7".into())));
        assert!(to_bind(&num, &SqlValue::Text("NaN".into())).is_err());
        assert_eq!(to_bind(&num, &SqlValue::Null), Ok(BindValue::Null(OracleType::Number(0, -127))));
        assert_eq!(to_bind(&param(SqlType::Float64, "BINARY_DOUBLE"), &SqlValue::Float(0.1)), Ok(BindValue::Float(0.1, OracleType::BinaryDouble)));
        assert_eq!(to_bind(&param(SqlType::Float32, "BINARY_FLOAT"), &SqlValue::Null), Ok(BindValue::Null(OracleType::BinaryFloat)));
        assert_eq!(to_bind(&param(SqlType::Text, "VARCHAR2"), &SqlValue::Text("x".into())), Ok(BindValue::Text("x".into(), OracleType::Varchar2(32767))));
        assert_eq!(to_bind(&param(SqlType::Text, "CLOB"), &SqlValue::Text("x".into())), Ok(BindValue::Text("x".into(), OracleType::CLOB)));
        assert_eq!(bind_type(&param(SqlType::Text, "NVARCHAR2")), OracleType::NVarchar2(16383));
        assert_eq!(to_bind(&param(SqlType::Bool, "PL/SQL BOOLEAN"), &SqlValue::Bool(true)), Ok(BindValue::Bool(true)));
        assert_eq!(to_bind(&param(SqlType::Bytes, "RAW"), &SqlValue::Bytes(vec![0, 255])), Ok(BindValue::Bytes(vec![0, 255], OracleType::Raw(32767))));
        assert_eq!(to_bind(&param(SqlType::Bytes, "BLOB"), &SqlValue::Bytes(vec![1])), Ok(BindValue::Bytes(vec![1], OracleType::BLOB)));
        let json = serde_json::json!({"a": [1, null]});
        assert_eq!(to_bind(&param(SqlType::Json, "CLOB"), &SqlValue::Json(json)), Ok(BindValue::Text(r#"{"a":[1,null]}"#.into(), OracleType::CLOB)));
        let date = to_bind(&param(SqlType::Timestamp, "DATE"), &SqlValue::Text("2024-02-29T13:45:00".into())).unwrap();
        let expected = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_opt(13, 45, 0).unwrap();
        assert_eq!(date, BindValue::Timestamp(expected, OracleType::Date));
        assert!(to_bind(&param(SqlType::Timestamp, "TIMESTAMP"), &SqlValue::Text("2024-02-29T13:45:00Z".into())).is_err());
        let tz = to_bind(&param(SqlType::TimestampTz, "TIMESTAMP WITH TIME ZONE"), &SqlValue::Text("2024-02-29T13:45:00.5+01:00".into())).unwrap();
        let BindValue::TimestampTz(t) = tz else { panic!("{tz:?}") };
        assert_eq!(format_zoned(&t), "2024-02-29T13:45:00.5+01:00");
        let cursor = Param { db_type: crate::catalog::REF_CURSOR.into(), ..param(SqlType::Other, "") };
        assert_eq!(bind_type(&cursor), OracleType::RefCursor);
        assert!(to_bind(&num, &SqlValue::Array(vec![])).is_err());
    }

    #[test]
    fn timestamps_parse_and_format() {
        let local = |s: &str| match parse_timestamp(s).unwrap() {
            Parsed::Local(t) => format_local(&t),
            Parsed::Zoned(t) => panic!("unexpected zone in {s}: {t}"),
        };
        assert_eq!(local("2024-02-29"), "2024-02-29T00:00:00");
        assert_eq!(local("2024-02-29 13:45"), "2024-02-29T13:45:00");
        assert_eq!(local("2024-02-29T13:45:00.123456789"), "2024-02-29T13:45:00.123456789");
        let zoned = |s: &str| match parse_timestamp(s).unwrap() {
            Parsed::Zoned(t) => format_zoned(&t),
            Parsed::Local(t) => panic!("no zone in {s}: {t}"),
        };
        assert_eq!(zoned("2024-02-29T13:45:00Z"), "2024-02-29T13:45:00Z");
        assert_eq!(zoned("2024-02-29T13:45:00-0530"), "2024-02-29T13:45:00-05:30");
        assert_eq!(zoned("2024-02-29t13:45:00+02"), "2024-02-29T13:45:00+02:00");
        assert!(parse_timestamp("2024-02-30").is_err());
        assert!(parse_timestamp("infinity").is_err());
        assert!(parse_timestamp("2024-02-29T25:00").is_err());
    }

    #[test]
    fn numbers_come_back_as_faithfully_as_json_allows() {
        assert_eq!(number_value("42"), Value::Int(42));
        assert_eq!(number_value("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(number_value("1000.5"), Value::Float(1000.5));
        assert_eq!(number_value(".1"), Value::Float(0.1));
        assert_eq!(number_value("-.25"), Value::Float(-0.25));
        assert_eq!(number_value("12345678901234567890.123456789"), Value::Str("12345678901234567890.123456789".into()));
        assert_eq!(number_value("99999999999999999999"), Value::Str("99999999999999999999".into()));
    }

    #[test]
    fn json_keys_and_limits() {
        assert_eq!(json_value(r#"{"x":[1,"two",null]}"#).unwrap(), Value::Dict(wamp::dict! {"x" => Value::List(vec![1.into(), "two".into(), Value::Null])}));
        assert!(json_value("{oops").is_err());
        assert_eq!(column_key("FIRST_NAME"), "first_name");
        assert_eq!(column_key("camelCase"), "camelCase");
        assert_eq!(truncate_bytes("héllo", 2), "h");
        assert_eq!(truncate_bytes("abc", 64), "abc");
    }
}
