//! WAMP values to typed database values, checked against the parameter's [`SqlType`].
//!
//! Checking here, before anything reaches the database, is what lets a wrong argument come back
//! as `wamp.error.invalid_argument` naming the parameter instead of a database parse error. The
//! textual forms accepted for timestamps, dates, times and UUIDs are the ISO 8601 / RFC 4122 ones
//! (plus `infinity`/`-infinity` for timestamps and dates); the adapter hands them to the database,
//! which does the final parse.

use serde_json::{Map, Number};
use wamp::Value;

use crate::catalog::SqlType;

/// A checked argument value, ready for an adapter to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Text, and the textual form of numeric, date/time, UUID and other values.
    Text(String),
    Bytes(Vec<u8>),
    Json(serde_json::Value),
    Array(Vec<SqlValue>),
}

/// Checks `value` against `ty`; the error says what was expected and what came.
pub fn to_sql(ty: &SqlType, value: &Value) -> Result<SqlValue, String> {
    if matches!(value, Value::Null) {
        return Ok(SqlValue::Null);
    }
    let wrong = || format!("expected {ty}, got {}", value.type_name());
    Ok(match ty {
        SqlType::Text => SqlValue::Text(value.as_str().ok_or_else(wrong)?.to_owned()),
        SqlType::Int16 => SqlValue::Int(int_in(value, i16::MIN as i64, i16::MAX as i64).ok_or_else(wrong)?),
        SqlType::Int32 => SqlValue::Int(int_in(value, i32::MIN as i64, i32::MAX as i64).ok_or_else(wrong)?),
        SqlType::Int64 => SqlValue::Int(int_in(value, i64::MIN, i64::MAX).ok_or_else(wrong)?),
        SqlType::Float32 | SqlType::Float64 => SqlValue::Float(match *value {
            Value::Int(i) => i as f64,
            Value::UInt(u) => u as f64,
            Value::Float(f) => f,
            _ => return Err(wrong()),
        }),
        SqlType::Numeric => match value {
            Value::Int(i) => SqlValue::Text(i.to_string()),
            Value::UInt(u) => SqlValue::Text(u.to_string()),
            Value::Float(f) if f.is_finite() => SqlValue::Text(f.to_string()),
            Value::Str(s) if is_decimal(s) => SqlValue::Text(s.clone()),
            _ => return Err(wrong()),
        },
        SqlType::Bool => SqlValue::Bool(value.as_bool().ok_or_else(wrong)?),
        SqlType::Json => SqlValue::Json(to_json(value)?),
        SqlType::Timestamp | SqlType::TimestampTz => text_if(value, |s| is_infinity(s) || is_timestamp(s)).ok_or_else(wrong)?,
        SqlType::Date => text_if(value, |s| is_infinity(s) || is_date(s)).ok_or_else(wrong)?,
        SqlType::Time => text_if(value, is_time).ok_or_else(wrong)?,
        SqlType::Uuid => text_if(value, is_uuid).ok_or_else(wrong)?,
        SqlType::Bytes => match value {
            Value::Bytes(b) => SqlValue::Bytes(b.clone()),
            _ => return Err(wrong()),
        },
        // A list of objects for an array of a composite type goes as one JSON array (the
        // database builds the rows from it, see the adapter); row literals go element by element.
        SqlType::Array(inner) if **inner == SqlType::Composite && value.as_list().is_some_and(|l| !l.is_empty() && l.iter().all(|v| matches!(v, Value::Dict(_)))) => {
            SqlValue::Json(to_json(value)?)
        }
        SqlType::Array(inner) => {
            let items = value.as_list().ok_or_else(wrong)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                // A nested list is another dimension, unless the element type is itself JSON.
                let converted = match item {
                    Value::List(_) if **inner != SqlType::Json => to_sql(ty, item),
                    _ => to_sql(inner, item),
                };
                out.push(converted.map_err(|e| format!("element {i}: {e}"))?);
            }
            SqlValue::Array(out)
        }
        SqlType::Composite => match value {
            Value::Dict(_) => SqlValue::Json(to_json(value)?),
            Value::Str(s) => SqlValue::Text(s.clone()),
            _ => return Err(wrong()),
        },
        SqlType::Other => match value {
            Value::Str(s) => SqlValue::Text(s.clone()),
            Value::Int(i) => SqlValue::Text(i.to_string()),
            Value::UInt(u) => SqlValue::Text(u.to_string()),
            Value::Float(f) => SqlValue::Text(f.to_string()),
            Value::Bool(b) => SqlValue::Text(b.to_string()),
            _ => return Err(wrong()),
        },
    })
}

fn int_in(value: &Value, min: i64, max: i64) -> Option<i64> {
    let i = match *value {
        Value::Int(i) => i,
        Value::UInt(u) => i64::try_from(u).ok()?,
        // Some serializers send whole numbers as floats.
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => f as i64,
        _ => return None,
    };
    (min..=max).contains(&i).then_some(i)
}

fn text_if(value: &Value, ok: impl Fn(&str) -> bool) -> Option<SqlValue> {
    value.as_str().filter(|s| ok(s)).map(|s| SqlValue::Text(s.to_owned()))
}

/// A WAMP value as JSON; binary has no JSON form and is refused.
pub fn to_json(value: &Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(f) => Number::from_f64(*f).map(serde_json::Value::Number).ok_or("a non-finite number has no JSON form")?,
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Bytes(_) => return Err("binary has no JSON form".into()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect::<Result<_, _>>()?),
        Value::Dict(d) => {
            let mut m = Map::with_capacity(d.len());
            for (k, v) in d {
                m.insert(k.clone(), to_json(v)?);
            }
            serde_json::Value::Object(m)
        }
    })
}

/// A JSON value as a WAMP value.
pub fn from_json(value: serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Value::Dict(o.into_iter().map(|(k, v)| (k, from_json(v))).collect()),
    }
}

/// `-12`, `3.25`, `1e-3`, `NaN`: what a decimal column accepts as text.
pub fn is_decimal(s: &str) -> bool {
    if s == "NaN" {
        return true;
    }
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = (!int.is_empty() || !frac.is_empty()) && digits(int) && digits(frac);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

fn is_infinity(s: &str) -> bool {
    s == "infinity" || s == "-infinity"
}

fn fixed_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD` with a plausible month and day.
pub fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return false };
    fixed_digits(y, 4)
        && fixed_digits(m, 2)
        && fixed_digits(d, 2)
        && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&d.parse::<u32>().unwrap_or(0))
}

/// `HH:MM[:SS[.fraction]]` with an optional offset (`Z`, `+02`, `+02:00`, `-0530`).
pub fn is_time(s: &str) -> bool {
    let (clock, offset) = match s.find(['Z', 'z', '+', '-']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (clock.contains('.') && frac.is_empty()) {
        return false;
    }
    let parts: Vec<&str> = hms.split(':').collect();
    let clock_ok = match parts.as_slice() {
        [h, m] => fixed_digits(h, 2) && fixed_digits(m, 2) && frac.is_empty(),
        [h, m, sec] => fixed_digits(h, 2) && fixed_digits(m, 2) && fixed_digits(sec, 2),
        _ => false,
    } && parts[0].parse::<u32>().is_ok_and(|h| h <= 24)
        && parts[1].parse::<u32>().is_ok_and(|m| m < 60);
    clock_ok && offset.is_none_or(is_offset)
}

fn is_offset(o: &str) -> bool {
    if o == "Z" || o == "z" {
        return true;
    }
    let Some(rest) = o.strip_prefix(['+', '-']) else { return false };
    match rest.len() {
        2 => fixed_digits(rest, 2),
        4 => fixed_digits(rest, 4),
        5 => fixed_digits(&rest[..2], 2) && &rest[2..3] == ":" && fixed_digits(&rest[3..], 2),
        _ => false,
    }
}

/// A date, then `T` or a space, then a time (see [`is_time`]); a bare date is midnight.
pub fn is_timestamp(s: &str) -> bool {
    if is_date(s) {
        return true;
    }
    match s.get(..10).zip(s.get(10..11)).zip(s.get(11..)) {
        Some(((date, sep), time)) => is_date(date) && matches!(sep, "T" | "t" | " ") && is_time(time),
        None => false,
    }
}

/// `8-4-4-4-12` hexadecimal digits, or 32 of them without hyphens.
pub fn is_uuid(s: &str) -> bool {
    let hex = |p: &str| p.bytes().all(|b| b.is_ascii_hexdigit());
    if s.len() == 32 {
        return hex(s);
    }
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| hex(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wamp::dict;

    #[test]
    fn integers_are_range_checked() {
        assert_eq!(to_sql(&SqlType::Int16, &Value::Int(32767)), Ok(SqlValue::Int(32767)));
        assert!(to_sql(&SqlType::Int16, &Value::Int(32768)).is_err());
        assert!(to_sql(&SqlType::Int32, &Value::Int(1 << 31)).is_err());
        assert_eq!(to_sql(&SqlType::Int64, &Value::Float(3.0)), Ok(SqlValue::Int(3)));
        assert!(to_sql(&SqlType::Int64, &Value::Float(3.5)).is_err());
        assert!(to_sql(&SqlType::Int64, &Value::UInt(u64::MAX)).is_err());
        let e = to_sql(&SqlType::Int32, &Value::from("7")).unwrap_err();
        assert_eq!(e, "expected integer (32 bit), got string");
    }

    #[test]
    fn strings_are_not_coerced_to_other_scalars() {
        assert!(to_sql(&SqlType::Bool, &Value::from("true")).is_err());
        assert!(to_sql(&SqlType::Text, &Value::Int(1)).is_err());
        assert_eq!(to_sql(&SqlType::Text, &Value::Null), Ok(SqlValue::Null));
    }

    #[test]
    fn numeric_accepts_numbers_and_decimal_strings() {
        assert_eq!(to_sql(&SqlType::Numeric, &Value::from("12345678901234567890.123")), Ok(SqlValue::Text("12345678901234567890.123".into())));
        assert_eq!(to_sql(&SqlType::Numeric, &Value::Float(1.5)), Ok(SqlValue::Text("1.5".into())));
        assert!(to_sql(&SqlType::Numeric, &Value::from("1.2.3")).is_err());
        assert!(to_sql(&SqlType::Numeric, &Value::from("1; drop table x")).is_err());
        assert!(is_decimal("-1e10") && is_decimal(".5") && is_decimal("5.") && !is_decimal(".") && !is_decimal("1e"));
    }

    #[test]
    fn dates_times_and_uuids() {
        assert!(is_timestamp("2024-02-29T13:45:00.123456+01:00"));
        assert!(is_timestamp("2024-02-29 13:45:00Z"));
        assert!(is_timestamp("2024-02-29"));
        assert!(!is_timestamp("2024-02-29X13:45"));
        assert!(!is_timestamp("yesterday"));
        assert!(is_date("1999-12-31") && !is_date("1999-13-01") && !is_date("99-12-31"));
        assert!(is_time("23:59") && is_time("23:59:60.5") && is_time("10:00:00-05:30") && !is_time("10:00:00.") && !is_time("1:00"));
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(is_uuid("123e4567e89b12d3a456426614174000"));
        assert!(!is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
        assert_eq!(to_sql(&SqlType::TimestampTz, &Value::from("infinity")), Ok(SqlValue::Text("infinity".into())));
        assert!(to_sql(&SqlType::Uuid, &Value::from("x")).is_err());
    }

    #[test]
    fn arrays_check_each_element_and_nest() {
        let ty = SqlType::Array(Box::new(SqlType::Int32));
        let v = Value::List(vec![Value::List(vec![1.into(), 2.into()]), Value::List(vec![Value::Null, 4.into()])]);
        let expected = SqlValue::Array(vec![
            SqlValue::Array(vec![SqlValue::Int(1), SqlValue::Int(2)]),
            SqlValue::Array(vec![SqlValue::Null, SqlValue::Int(4)]),
        ]);
        assert_eq!(to_sql(&ty, &v), Ok(expected));
        let e = to_sql(&ty, &Value::List(vec![1.into(), "x".into()])).unwrap_err();
        assert_eq!(e, "element 1: expected integer (32 bit), got string");
    }

    #[test]
    fn json_round_trips_and_refuses_binary() {
        let v = Value::Dict(dict! { "a" => Value::List(vec![1.into(), 2.5.into(), "x".into(), Value::Null]), "b" => true });
        let j = to_json(&v).unwrap();
        assert_eq!(j, serde_json::json!({"a": [1, 2.5, "x", null], "b": true}));
        assert_eq!(from_json(j), v);
        assert!(to_sql(&SqlType::Json, &Value::Bytes(vec![1])).is_err());
        assert_eq!(from_json(serde_json::json!(u64::MAX)), Value::UInt(u64::MAX));
    }
}
