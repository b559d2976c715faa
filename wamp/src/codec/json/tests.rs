//! JSON byte-level tests: compact output, the binary convention, number mapping, and rejections.

use super::*;
use crate::dict;

fn text(v: &Value) -> String {
    String::from_utf8(encode(v)).expect("JSON output is UTF-8")
}

fn reason(bytes: &[u8]) -> String {
    match decode(bytes) {
        Err(ProtocolError::Decode { serializer: "json", reason }) => reason,
        other => panic!("expected a json decode error, got {other:?}"),
    }
}

#[test]
fn output_is_compact() {
    let v = Value::List(vec![
        Value::from(48),
        Value::from(7_814_135),
        Value::Dict(Dict::new()),
        Value::from("com.x"),
        Value::List(vec![Value::from("a")]),
    ]);
    assert_eq!(text(&v), r#"[48,7814135,{},"com.x",["a"]]"#);
    let d = Value::Dict(dict! { "b" => Value::Null, "a" => Value::List(vec![true.into(), 1.5.into()]) });
    assert_eq!(text(&d), r#"{"b":null,"a":[true,1.5]}"#);
}

#[test]
fn strings_are_escaped_minimally_and_unicode_stays_raw() {
    assert_eq!(text(&Value::from("a\"b\\c\nd\u{1}é✓")), "\"a\\\"b\\\\c\\nd\\u0001é✓\"");
    assert_eq!(decode(br#""\u00e9\ud83d\ude00\/""#), Ok(Value::from("é😀/")));
}

#[test]
fn binary_uses_the_nul_base64_convention_both_ways() {
    let v = Value::Bytes(vec![0, 1, 2, 0xff]);
    assert_eq!(text(&v), r#""\u0000AAEC/w==""#);
    assert_eq!(decode(br#""\u0000AAEC/w==""#), Ok(v.clone()));
    assert_eq!(decode(br#""\u0000AAEC/w""#), Ok(v), "unpadded base64 is accepted");
    assert_eq!(text(&Value::Bytes(vec![])), r#""\u0000""#);
    assert_eq!(decode(br#""\u0000""#), Ok(Value::Bytes(vec![])));
    assert!(reason(br#""\u0000not base64!""#).contains("base64"));
    assert!(reason(br#"{"k":"\u0000A"}"#).contains("base64"));
}

#[test]
fn nul_prefixed_keys_stay_strings() {
    assert_eq!(decode(br#"{"\u0000AA==":1}"#), Ok(Value::Dict(dict! { "\0AA==" => 1 })));
}

#[test]
fn numbers_map_onto_int_uint_and_float() {
    let cases: &[(&str, Value)] = &[
        ("0", Value::Int(0)),
        ("9223372036854775807", Value::Int(i64::MAX)),
        ("9223372036854775808", Value::UInt(1 << 63)),
        ("18446744073709551615", Value::UInt(u64::MAX)),
        ("18446744073709551616", Value::Float(18446744073709551616.0)),
        ("-9223372036854775808", Value::Int(i64::MIN)),
        ("-9223372036854775809", Value::Float(-9223372036854775809.0)),
        ("-7", Value::Int(-7)),
        ("1.0", Value::Float(1.0)),
        ("1e3", Value::Float(1000.0)),
        ("-0.5", Value::Float(-0.5)),
    ];
    for (json, want) in cases {
        assert_eq!(decode(json.as_bytes()).as_ref(), Ok(want), "{json}");
    }
    assert_eq!(text(&Value::UInt(u64::MAX)), "18446744073709551615");
    assert_eq!(text(&Value::Int(i64::MIN)), "-9223372036854775808");
    assert_eq!(text(&Value::Float(1.0)), "1.0");
    assert_eq!(text(&Value::Float(0.1)), "0.1");
}

#[test]
fn floats_round_trip_exactly() {
    for f in [0.1, 1.0 / 3.0, 1e300, -2.5e-308, 5e-324, f64::MAX, f64::MIN_POSITIVE, 123456.789e10, -0.0] {
        match decode(&encode(&Value::Float(f))) {
            Ok(Value::Float(g)) => assert_eq!(g.to_bits(), f.to_bits(), "{f:e}"),
            other => panic!("{f:e}: {other:?}"),
        }
    }
}

#[test]
fn non_finite_floats_become_null() {
    assert_eq!(text(&Value::Float(f64::NAN)), "null");
    assert_eq!(text(&Value::Float(f64::NEG_INFINITY)), "null");
}

#[test]
fn rejects_malformed_input() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "EOF"),
        (b"[1,2", "EOF"),
        (b"[1,]", "trailing comma"),
        (b"[1] x", "trailing characters"),
        (b"[1][2]", "trailing characters"),
        (b"{1:2}", "key must be a string"),
        (b"[\"\xff\"]", "invalid unicode"),
        (b"\xef\xbb\xbf[1]", "expected value"),
        (br#"["\ud800"]"#, "escape"),
        (br#"["\udc00x"]"#, "surrogate"),
        (b"[NaN]", "expected value"),
        (b"[1e400]", "out of range"),
        (b"'a'", "expected value"),
    ];
    for (json, want) in cases {
        let r = reason(json);
        assert!(r.contains(want), "{}: {r}", String::from_utf8_lossy(json));
    }
}

#[test]
fn nesting_is_bounded() {
    let nested = |n: usize| [vec![b'['; n], vec![b']'; n]].concat();
    assert!(decode(&nested(MAX_DEPTH)).is_ok());
    assert!(reason(&nested(MAX_DEPTH + 1)).contains("nesting"));
    assert!(reason(&vec![b'['; 1_000_000]).contains("nesting"));
    let objects = [br#"{"a":"#.repeat(MAX_DEPTH + 1), b"1".to_vec(), b"}".repeat(MAX_DEPTH + 1)].concat();
    assert!(reason(&objects).contains("nesting"));
}

#[test]
fn duplicate_keys_keep_the_first_position_and_last_value() {
    let v = decode(br#"{"a":1,"b":2,"a":3}"#).expect("valid JSON");
    assert_eq!(text(&v), r#"{"a":3,"b":2}"#);
}

#[test]
fn nul_prefixed_strings_cannot_round_trip() {
    // Documented limitation of the WAMP convention: such a string is binary to every JSON peer.
    let s = Value::from("\0AA==");
    assert_eq!(decode(&encode(&s)), Ok(Value::Bytes(vec![0])));
}

#[test]
fn negative_zero_is_a_float() {
    match decode(b"-0") {
        Ok(Value::Float(f)) => assert!(f == 0.0 && f.is_sign_negative()),
        other => panic!("{other:?}"),
    }
    assert_eq!(text(&Value::Float(-0.0)), "-0.0");
}
