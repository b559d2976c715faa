//! CBOR byte-level tests: shortest heads, every accepted input form, every rejection, and a
//! cross-check against the independent `ciborium` implementation.

use super::*;
use crate::dict;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex")).collect()
}

fn reason(bytes: &[u8]) -> String {
    match decode(bytes) {
        Err(ProtocolError::Decode { serializer: "cbor", reason }) => reason,
        other => panic!("expected a cbor decode error, got {other:?}"),
    }
}

#[test]
fn integers_use_the_shortest_head() {
    let cases: &[(Value, &str)] = &[
        (Value::Int(0), "00"),
        (Value::Int(23), "17"),
        (Value::Int(24), "1818"),
        (Value::Int(255), "18ff"),
        (Value::Int(256), "190100"),
        (Value::Int(7_814_135), "1a00773bf7"),
        (Value::Int(1 << 32), "1b0000000100000000"),
        (Value::UInt(u64::MAX), "1bffffffffffffffff"),
        (Value::Int(-1), "20"),
        (Value::Int(-24), "37"),
        (Value::Int(-25), "3818"),
        (Value::Int(-1000), "3903e7"),
        (Value::Int(i64::MIN), "3b7fffffffffffffff"),
    ];
    for (v, h) in cases {
        assert_eq!(encode(v), hex(h), "{v:?}");
        assert_eq!(decode(&hex(h)).as_ref(), Ok(v), "{h}");
    }
}

#[test]
fn other_values_encode_definite_and_canonical() {
    assert_eq!(encode(&Value::Null), hex("f6"));
    assert_eq!(encode(&Value::Bool(true)), hex("f5"));
    assert_eq!(encode(&Value::Float(1.5)), hex("fb3ff8000000000000"));
    assert_eq!(encode(&Value::from("a")), hex("6161"));
    assert_eq!(encode(&Value::Bytes(vec![1, 2])), hex("420102"));
    assert_eq!(encode(&Value::List(vec![Value::Int(1), Value::List(vec![])])), hex("820180"));
    assert_eq!(encode(&Value::Dict(dict! { "a" => 1, "b" => "c" })), hex("a261610161626163"));
    assert_eq!(encode(&Value::from("x".repeat(24)))[..2], [0x78, 24]);
}

#[test]
fn decodes_floats_of_every_width() {
    let cases: &[(&str, f64)] = &[
        ("f90000", 0.0),
        ("f98000", -0.0),
        ("f93c00", 1.0),
        ("f93e00", 1.5),
        ("f97bff", 65504.0),
        ("f90001", 1.0 / 16_777_216.0), // 2^-24, the smallest subnormal
        ("f9c400", -4.0),
        ("f97c00", f64::INFINITY),
        ("fa47c35000", 100000.0),
        ("fb3ff199999999999a", 1.1),
    ];
    for (h, f) in cases {
        match decode(&hex(h)) {
            Ok(Value::Float(got)) => assert_eq!(got.to_bits(), f.to_bits(), "{h}"),
            other => panic!("{h}: {other:?}"),
        }
    }
    assert!(matches!(decode(&hex("f97e00")), Ok(Value::Float(f)) if f.is_nan()));
}

#[test]
fn decodes_indefinite_lengths() {
    assert_eq!(decode(&hex("9f01820203ff")), Ok(Value::List(vec![Value::Int(1), Value::List(vec![2.into(), 3.into()])])));
    assert_eq!(decode(&hex("bf6161f5ff")), Ok(Value::Dict(dict! { "a" => true })));
    assert_eq!(decode(&hex("7f61616162ff")), Ok(Value::from("ab")));
    assert_eq!(decode(&hex("5f4101420203ff")), Ok(Value::Bytes(vec![1, 2, 3])));
    assert_eq!(decode(&hex("9fff")), Ok(Value::List(vec![])));
    assert_eq!(decode(&hex("7fff")), Ok(Value::from("")));
}

#[test]
fn tags_are_stripped() {
    // self-describe CBOR, a date string, a bignum, and a chain of tags
    assert_eq!(decode(&hex("d9d9f783010203")), Ok(Value::List(vec![1.into(), 2.into(), 3.into()])));
    assert_eq!(decode(&hex("c074323031332d30332d32315432303a30343a30305a")), Ok(Value::from("2013-03-21T20:04:00Z")));
    assert_eq!(decode(&hex("c249010000000000000000")), Ok(Value::Bytes(hex("010000000000000000"))));
    let chain = [vec![0xc6; 100_000], vec![0x01]].concat();
    assert_eq!(decode(&chain), Ok(Value::Int(1)));
    assert_eq!(decode(&hex("a1d8206161f6")), Ok(Value::Dict(dict! { "a" => Value::Null })));
}

#[test]
fn undefined_is_null() {
    assert_eq!(decode(&hex("f7")), Ok(Value::Null));
}

#[test]
fn rejects_malformed_items() {
    let cases: &[(&str, &str)] = &[
        ("", "truncated"),
        ("0102", "trailing"),
        ("1c", "reserved"),
        ("1f", "indefinite length not allowed"),
        ("3f", "indefinite length not allowed"),
        ("df", "indefinite length not allowed"),
        ("ff", "break outside"),
        ("8201ff", "break outside"),
        ("f0", "simple value"),
        ("f820", "simple value"),
        ("fc", "simple value"),
        ("a10102", "keys must be text"),
        ("a1420102f5", "keys must be text"),
        ("62c328", "not UTF-8"),
        ("7f61c361a9ff", "not UTF-8"),
        ("7f4161ff", "wrong type"),
        ("5f5f41ffff", "wrong type"),
        ("3b8000000000000000", "below -2^63"),
        ("1a0000", "truncated"),
        ("6461", "truncated"),
        ("9f01", "truncated"),
        ("bf6161", "truncated"),
        ("c6", "truncated"),
    ];
    for (h, want) in cases {
        let r = reason(&hex(h));
        assert!(r.contains(want), "{h}: {r}");
    }
}

#[test]
fn huge_claimed_lengths_fail_without_allocating() {
    for frame in ["9bffffffffffffffff", "bbffffffffffffffff", "9affffffff", "baffffffff", "5bffffffffffffffff", "7affffffff"]
    {
        let r = reason(&hex(frame));
        assert!(r.contains("claims") || r.contains("truncated"), "{frame}: {r}");
    }
}

#[test]
fn nesting_is_bounded() {
    let ok = [vec![0x81; MAX_DEPTH - 1], vec![0x80]].concat();
    assert!(decode(&ok).is_ok());
    for opener in [0x81u8, 0x9f] {
        let deep = vec![opener; 1_000_000];
        assert!(reason(&deep).contains("nesting"), "{opener:#x}");
    }
    let maps = [0xa1, 0x61, b'k'].repeat(MAX_DEPTH + 1);
    assert!(reason(&maps).contains("nesting"));
}

/// Converts ciborium's model into ours, for the cross-checks below.
fn from_ciborium(v: ciborium::Value) -> Value {
    match v {
        ciborium::Value::Integer(i) => {
            let i = i128::from(i);
            i64::try_from(i).map(Value::Int).unwrap_or_else(|_| Value::UInt(u64::try_from(i).expect("u64")))
        }
        ciborium::Value::Bytes(b) => Value::Bytes(b),
        ciborium::Value::Float(f) => Value::Float(f),
        ciborium::Value::Text(s) => Value::Str(s),
        ciborium::Value::Bool(b) => Value::Bool(b),
        ciborium::Value::Null => Value::Null,
        ciborium::Value::Tag(_, inner) => from_ciborium(*inner),
        ciborium::Value::Array(a) => Value::List(a.into_iter().map(from_ciborium).collect()),
        ciborium::Value::Map(m) => Value::Dict(
            m.into_iter().map(|(k, v)| (k.into_text().expect("text key"), from_ciborium(v))).collect(),
        ),
        other => panic!("unexpected ciborium value {other:?}"),
    }
}

fn sample() -> Value {
    Value::List(vec![
        Value::Int(-5),
        Value::Int(1 << 40),
        Value::UInt(u64::MAX),
        Value::Float(0.5),
        Value::Float(1.0e300),
        Value::Float(-3.25),
        Value::from("grüße ✓"),
        Value::Bytes((0..=255).collect()),
        Value::Dict(dict! { "nested" => Value::List(vec![Value::Null, Value::Bool(false)]), "z" => "a".repeat(300) }),
    ])
}

#[test]
fn ciborium_reads_what_we_write() {
    let ours = encode(&sample());
    let theirs: ciborium::Value = ciborium::de::from_reader(&ours[..]).expect("ciborium decodes our bytes");
    assert_eq!(from_ciborium(theirs), sample());
}

#[test]
fn we_read_what_ciborium_writes() {
    // ciborium picks the narrowest lossless float width, so this also covers half and single floats.
    let v = ciborium::Value::Array(vec![
        ciborium::Value::Float(0.5),
        ciborium::Value::Float(100000.0),
        ciborium::Value::Float(1.1),
        ciborium::Value::Integer((-300).into()),
        ciborium::Value::Tag(1, Box::new(ciborium::Value::Integer(1_363_896_240.into()))),
        ciborium::Value::Map(vec![(ciborium::Value::Text("k".into()), ciborium::Value::Bytes(vec![9]))]),
    ]);
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(&v, &mut bytes).expect("ciborium encodes");
    assert!(bytes.contains(&0xf9), "expected a half-width float in {bytes:02x?}");
    assert_eq!(decode(&bytes), Ok(from_ciborium(v)));
}
