//! MessagePack byte-level tests: shortest forms, every accepted input form, and every rejection.

use super::*;
use crate::dict;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex")).collect()
}

fn reason(bytes: &[u8]) -> String {
    match decode(bytes) {
        Err(ProtocolError::Decode { serializer: "msgpack", reason }) => reason,
        other => panic!("expected a msgpack decode error, got {other:?}"),
    }
}

#[test]
fn integers_use_the_shortest_form() {
    let cases: &[(Value, &str)] = &[
        (Value::Int(0), "00"),
        (Value::Int(127), "7f"),
        (Value::Int(128), "cc80"),
        (Value::Int(255), "ccff"),
        (Value::Int(256), "cd0100"),
        (Value::Int(65_536), "ce00010000"),
        (Value::Int(7_814_135), "ce00773bf7"),
        (Value::Int(1 << 32), "cf0000000100000000"),
        (Value::UInt(u64::MAX), "cfffffffffffffffff"),
        (Value::Int(-1), "ff"),
        (Value::Int(-32), "e0"),
        (Value::Int(-33), "d0df"),
        (Value::Int(-128), "d080"),
        (Value::Int(-129), "d1ff7f"),
        (Value::Int(-32_769), "d2ffff7fff"),
        (Value::Int(i64::MIN), "d38000000000000000"),
    ];
    for (v, h) in cases {
        assert_eq!(encode(v), hex(h), "{v:?}");
        assert_eq!(decode(&hex(h)).as_ref(), Ok(v), "{h}");
    }
}

#[test]
fn strings_binaries_and_containers_use_the_shortest_headers() {
    assert_eq!(encode(&Value::from("a".repeat(31)))[0], 0xbf);
    assert_eq!(encode(&Value::from("a".repeat(32)))[..2], [0xd9, 32]);
    assert_eq!(encode(&Value::from("a".repeat(256)))[..3], [0xda, 1, 0]);
    assert_eq!(encode(&Value::Bytes(vec![7; 3])), hex("c403070707"));
    assert_eq!(encode(&Value::Bytes(vec![0; 256]))[..3], [0xc5, 1, 0]);
    assert_eq!(encode(&Value::List(vec![Value::Null; 16]))[..3], [0xdc, 0, 16]);
    assert_eq!(encode(&Value::Dict(dict! { "a" => true })), hex("81a161c3"));
    assert_eq!(encode(&Value::Float(1.5)), hex("cb3ff8000000000000"));
}

#[test]
fn accepts_non_shortest_forms_and_float32() {
    assert_eq!(decode(&hex("cd0005")), Ok(Value::Int(5)));
    assert_eq!(decode(&hex("d3000000000000002a")), Ok(Value::Int(42)));
    assert_eq!(decode(&hex("ca3fc00000")), Ok(Value::Float(1.5)));
    assert_eq!(decode(&hex("d90161")), Ok(Value::from("a")));
    assert_eq!(decode(&hex("dc000100")), Ok(Value::List(vec![Value::Int(0)])));
    assert_eq!(decode(&hex("c60000000101")), Ok(Value::Bytes(vec![1])));
}

#[test]
fn rejects_malformed_frames() {
    assert!(reason(&[]).contains("truncated"));
    assert!(reason(&hex("93010203ff")).contains("trailing"));
    assert!(reason(&hex("c1")).contains("0xc1"));
    assert!(reason(&hex("d40100")).contains("extension"));
    assert!(reason(&hex("c7010500")).contains("extension"));
    assert!(reason(&hex("a2c328")).contains("UTF-8"));
    assert!(reason(&hex("810102")).contains("keys must be strings"));
    assert!(reason(&hex("81c40161c3")).contains("keys must be strings"));
    assert!(reason(&hex("cf0000")).contains("truncated"));
    assert!(reason(&hex("da0005616263")).contains("truncated"));
    assert!(reason(&hex("9301")).contains("claims 3 items"));
}

#[test]
fn huge_claimed_lengths_fail_without_allocating() {
    for frame in ["ddffffffff", "dfffffffff", "dbffffffff", "c6ffffffff", "dcffff", "deffff00"] {
        let r = reason(&hex(frame));
        assert!(r.contains("claims") || r.contains("truncated"), "{frame}: {r}");
    }
}

#[test]
fn nesting_is_bounded() {
    let ok = [vec![0x91; MAX_DEPTH - 1], vec![0x90]].concat();
    assert!(decode(&ok).is_ok());
    let deep = [vec![0x91; MAX_DEPTH], vec![0x90]].concat();
    assert!(reason(&deep).contains("nesting"));
    let very_deep = vec![0x91; 1_000_000];
    assert!(reason(&very_deep).contains("nesting"));
    let dicts = [0x81, 0xa1, b'k'].repeat(MAX_DEPTH + 1);
    assert!(reason(&dicts).contains("nesting"));
}

#[test]
fn duplicate_keys_keep_the_last_value() {
    let v = decode(&hex("82a16101a16102")).expect("valid map");
    assert_eq!(v, Value::Dict(dict! { "a" => 2 }));
}
