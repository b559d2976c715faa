//! PostgreSQL binary result values to WAMP values.
//!
//! - integers, floats, booleans → numbers and booleans; text types and enums → strings;
//! - `numeric` → an integer when it is one that fits 64 bits; otherwise a JSON number when the
//!   shortest decimal form of the nearest double *is* the value (`12.5`, `0.1`), else a string with
//!   the exact decimal (`12345678901234567890.123456789`, `NaN`, `Infinity`);
//! - `json`/`jsonb` → the JSON value itself;
//! - `timestamp` → `YYYY-MM-DDTHH:MM:SS[.ffffff]`, `timestamptz` → the same in UTC with `Z`,
//!   `date` → `YYYY-MM-DD`, `time` → `HH:MM:SS[.ffffff]` (ISO 8601; `infinity`/`-infinity` as is);
//! - `uuid` → its canonical string; `bytea` → WAMP binary;
//! - arrays → (nested) lists; composites → objects; domains → their base type; NULL → null.
//!
//! Types outside this list are selected as text (see [`supported`]).

use postgres::types::{FromSql, Kind, Type};
use wamp::{Dict, Value};

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// One decoded column value.
pub struct Cell(pub Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        decode(ty, raw).map(Cell)
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Whether [`decode`] understands `ty` (otherwise the column must be cast to text).
pub fn supported(ty: &Type) -> bool {
    match ty.kind() {
        Kind::Array(elem) => supported(elem),
        Kind::Domain(base) => supported(base),
        Kind::Enum(_) => true,
        Kind::Composite(fields) => fields.iter().all(|f| supported(f.type_())),
        _ => is_text(ty) || SIMPLE.contains(ty),
    }
}

const SIMPLE: [Type; 16] = [
    Type::BOOL,
    Type::INT2,
    Type::INT4,
    Type::INT8,
    Type::OID,
    Type::FLOAT4,
    Type::FLOAT8,
    Type::NUMERIC,
    Type::JSON,
    Type::JSONB,
    Type::UUID,
    Type::BYTEA,
    Type::TIMESTAMP,
    Type::TIMESTAMPTZ,
    Type::DATE,
    Type::TIME,
];

fn is_text(ty: &Type) -> bool {
    [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME, Type::UNKNOWN, Type::CHAR].contains(ty)
        || ty.name() == "citext"
}

fn decode(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    match ty.kind() {
        Kind::Array(elem) => return decode_array(elem, raw),
        Kind::Domain(base) => return decode(base, raw),
        Kind::Enum(_) => return text(raw),
        Kind::Composite(fields) => return decode_record(fields, raw),
        _ => {}
    }
    Ok(match *ty {
        Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
        Type::INT2 => Value::Int(i16::from_sql(ty, raw)? as i64),
        Type::INT4 => Value::Int(i32::from_sql(ty, raw)? as i64),
        Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
        Type::OID => Value::Int(u32::from_sql(ty, raw)? as i64),
        Type::FLOAT4 => Value::Float(f32::from_sql(ty, raw)? as f64),
        Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
        Type::NUMERIC => numeric_value(&numeric(raw)?),
        Type::JSON => json(raw)?,
        Type::JSONB => match raw.split_first() {
            Some((1, rest)) => json(rest)?,
            _ => return Err("unsupported jsonb format version".into()),
        },
        Type::UUID => Value::Str(uuid(raw)?),
        Type::BYTEA => Value::Bytes(raw.to_vec()),
        Type::TIMESTAMP => Value::Str(timestamp(be_i64(raw)?, "")),
        Type::TIMESTAMPTZ => Value::Str(timestamp(be_i64(raw)?, "Z")),
        Type::DATE => Value::Str(date(be_i32(raw)?)),
        Type::TIME => Value::Str(time_of_day(be_i64(raw)?)),
        Type::CHAR => Value::Str(String::from_utf8_lossy(raw).into_owned()),
        _ if is_text(ty) => text(raw)?,
        _ => return Err(format!("cannot decode type {}", ty.name()).into()),
    })
}

fn text(raw: &[u8]) -> Result<Value, BoxError> {
    Ok(Value::Str(std::str::from_utf8(raw)?.to_owned()))
}

fn json(raw: &[u8]) -> Result<Value, BoxError> {
    Ok(bridge::convert::from_json(serde_json::from_slice(raw)?))
}

fn be_i32(raw: &[u8]) -> Result<i32, BoxError> {
    Ok(i32::from_be_bytes(raw.try_into().map_err(|_| "bad int4 length")?))
}

fn be_i64(raw: &[u8]) -> Result<i64, BoxError> {
    Ok(i64::from_be_bytes(raw.try_into().map_err(|_| "bad int8 length")?))
}

/// Reads big-endian fields off the front of a buffer.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BoxError> {
        if self.0.len() < n {
            return Err("truncated binary value".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn i32(&mut self) -> Result<i32, BoxError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("took 4")))
    }
    fn u16(&mut self) -> Result<u16, BoxError> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("took 2")))
    }
    fn i16(&mut self) -> Result<i16, BoxError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("took 2")))
    }
    /// A length-prefixed element: `None` for NULL (length -1).
    fn element(&mut self) -> Result<Option<&'a [u8]>, BoxError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize).map(Some)
    }
}

fn decode_array(elem: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    let mut r = Reader(raw);
    let ndim = r.i32()?;
    let _has_nulls = r.i32()?;
    let _elem_oid = r.i32()?;
    let mut dims = Vec::with_capacity(ndim.max(0) as usize);
    for _ in 0..ndim {
        dims.push(r.i32()?.max(0) as usize);
        let _lower_bound = r.i32()?;
    }
    if dims.is_empty() {
        return Ok(Value::List(Vec::new()));
    }
    let total: usize = dims.iter().product();
    let mut flat = Vec::with_capacity(total);
    for _ in 0..total {
        flat.push(match r.element()? {
            Some(bytes) => decode(elem, bytes)?,
            None => Value::Null,
        });
    }
    Ok(nest(&dims, &mut flat.into_iter()))
}

/// Rebuilds nested lists from row-major elements.
fn nest(dims: &[usize], flat: &mut impl Iterator<Item = Value>) -> Value {
    match dims.split_first() {
        Some((&n, [])) => Value::List(flat.take(n).collect()),
        Some((&n, rest)) => Value::List((0..n).map(|_| nest(rest, flat)).collect()),
        None => Value::List(Vec::new()),
    }
}

fn decode_record(fields: &[postgres::types::Field], raw: &[u8]) -> Result<Value, BoxError> {
    let mut r = Reader(raw);
    let n = r.i32()?;
    let mut d = Dict::new();
    for i in 0..n.max(0) as usize {
        let _oid = r.i32()?;
        let field = fields.get(i).ok_or("record has more fields than its type")?;
        let v = match r.element()? {
            Some(bytes) => decode(field.type_(), bytes)?,
            None => Value::Null,
        };
        d.insert(field.name().to_owned(), v);
    }
    Ok(Value::Dict(d))
}

/// The exact decimal text of a binary `numeric`.
pub fn numeric(raw: &[u8]) -> Result<String, BoxError> {
    let mut r = Reader(raw);
    let ndigits = r.i16()?.max(0) as usize;
    let weight = r.i16()? as i32;
    let sign = r.u16()?;
    let dscale = r.u16()? as usize;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let mut digits = Vec::with_capacity(ndigits);
    for _ in 0..ndigits {
        digits.push(r.i16()?);
    }
    // Digit i (base 10000) has weight `weight - i`.
    let group = |w: i32| -> i16 {
        let i = weight - w;
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            0
        }
    };
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        s.push_str(&group(weight).to_string());
        for w in (0..weight).rev() {
            s.push_str(&format!("{:04}", group(w)));
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut w = -1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", group(w)));
            w -= 1;
        }
        frac.truncate(dscale);
        s.push('.');
        s.push_str(&frac);
    }
    if s == "-0" || (s.starts_with("-0") && s[1..].bytes().all(|b| b == b'0' || b == b'.')) {
        s.remove(0);
    }
    Ok(s)
}

/// A decimal as a WAMP number when that is exact, else as its string.
pub fn numeric_value(decimal: &str) -> Value {
    if let Ok(i) = decimal.parse::<i64>() {
        return Value::Int(i);
    }
    let normalized = match decimal.split_once('.') {
        Some((int, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                int.to_owned()
            } else {
                format!("{int}.{frac}")
            }
        }
        None => decimal.to_owned(),
    };
    if let Ok(i) = normalized.parse::<i64>() {
        return Value::Int(i);
    }
    match normalized.parse::<f64>() {
        // Display prints the shortest decimal that reads back as the same double, never an exponent.
        Ok(f) if f.is_finite() && f.to_string() == normalized => Value::Float(f),
        _ => Value::Str(decimal.to_owned()),
    }
}

fn uuid(raw: &[u8]) -> Result<String, BoxError> {
    if raw.len() != 16 {
        return Err("bad uuid length".into());
    }
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// PostgreSQL counts from 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

fn date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        d => {
            let (y, m, d) = civil_from_days(d as i64 + PG_EPOCH_DAYS);
            format_ymd(y, m, d)
        }
    }
}

fn format_ymd(y: i64, m: u32, d: u32) -> String {
    if (0..=9999).contains(&y) {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("{y:+05}-{m:02}-{d:02}")
    }
}

fn time_of_day(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = format!("{h:02}:{m:02}:{s:02}");
    if frac != 0 {
        let f = format!("{frac:06}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out
}

fn timestamp(micros: i64, zone: &str) -> String {
    match micros {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        us => {
            let days = us.div_euclid(86_400_000_000);
            let (y, m, d) = civil_from_days(days + PG_EPOCH_DAYS);
            format!("{}T{}{zone}", format_ymd(y, m, d), time_of_day(us.rem_euclid(86_400_000_000)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((digits.len() as i16).to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_text_is_exact() {
        assert_eq!(numeric(&numeric_bytes(0, 0, 2, &[12, 3400])).unwrap(), "12.34");
        assert_eq!(numeric(&numeric_bytes(1, 0x4000, 0, &[1, 2345])).unwrap(), "-12345");
        assert_eq!(numeric(&numeric_bytes(-1, 0, 5, &[50])).unwrap(), "0.00500");
        assert_eq!(numeric(&numeric_bytes(2, 0, 0, &[1])).unwrap(), "100000000");
        assert_eq!(numeric(&numeric_bytes(0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(numeric(&numeric_bytes(0, 0xC000, 0, &[])).unwrap(), "NaN");
    }

    #[test]
    fn numeric_is_a_number_only_when_exact() {
        assert_eq!(numeric_value("42"), Value::Int(42));
        assert_eq!(numeric_value("42.000"), Value::Int(42));
        assert_eq!(numeric_value("12.50"), Value::Float(12.5));
        assert_eq!(numeric_value("0.1"), Value::Float(0.1));
        assert_eq!(numeric_value("12345678901234567890.123456789"), Value::Str("12345678901234567890.123456789".into()));
        assert_eq!(numeric_value("0.10000000000000000001"), Value::Str("0.10000000000000000001".into()));
        assert_eq!(numeric_value("NaN"), Value::Str("NaN".into()));
    }

    #[test]
    fn dates_and_times_are_iso_8601() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(8825), "2024-02-29");
        assert_eq!(date(i32::MAX), "infinity");
        assert_eq!(timestamp(0, "Z"), "2000-01-01T00:00:00Z");
        assert_eq!(timestamp(-1, ""), "1999-12-31T23:59:59.999999");
        assert_eq!(timestamp(86_400_000_000 + 3_723_500_000, ""), "2000-01-02T01:02:03.5");
        assert_eq!(time_of_day(45_296_000_123), "12:34:56.000123");
    }

    #[test]
    fn arrays_nest_by_dimension() {
        let dims = [2, 3];
        let v = nest(&dims, &mut (0..6).map(Value::from));
        let row = |a: i64| Value::List(vec![Value::from(a), Value::from(a + 1), Value::from(a + 2)]);
        assert_eq!(v, Value::List(vec![row(0), row(3)]));
    }

    #[test]
    fn uuids_are_canonical() {
        let raw: Vec<u8> = (0u8..16).collect();
        assert_eq!(uuid(&raw).unwrap(), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }
}
