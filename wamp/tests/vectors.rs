//! Runs the WAMP test vectors (`tests/fixtures/wamp-test-vectors`, CC-BY-SA 3.0, attribution in
//! the README there) through the JSON, MessagePack and CBOR codecs.
//!
//! For every serialization sample and every byte string it gives for our three serializers: the
//! bytes decode to exactly the message the `expected_attributes` describe, the message re-encodes
//! and decodes back to itself, and our encoding is byte-identical to the vector's for MessagePack,
//! CBOR and every compact JSON sample (no whitespace outside strings). The vectors carry no floats
//! and no non-ASCII text, the two places where equally valid encoders may legitimately differ, so
//! no sample is exempt from byte-exactness.
//!
//! Two kinds of sample have no [`Message`] form yet and are checked at the [`Value`] level, with a
//! test pinning the message-level error so that adding support flips it:
//! - EVENT_RECEIVED (code 337) is a provisional message outside the 24 WAMP v2 types we model;
//! - PUBLISH/EVENT with a transparent (end-to-end encrypted) binary payload in place of
//!   `Arguments` (Payload Passthru Mode): [`wamp::Payload`] has no slot for it.

#[path = "vectors/attrs.rs"]
mod attrs;

use std::path::Path;

use attrs::Attrs;
use base64::Engine as _;
use serde_json::Value as J;
use wamp::{Message, ProtocolError, Serializer, Value};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/wamp-test-vectors");
const SERIALIZERS: [(&str, Serializer); 3] =
    [("json", Serializer::Json), ("msgpack", Serializer::MsgPack), ("cbor", Serializer::Cbor)];

fn load_dir(dir: &str) -> Vec<(String, J)> {
    let path = Path::new(ROOT).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (format!("{dir}/{}", p.file_name().expect("file name").to_string_lossy()), json)
        })
        .collect()
}

fn single_message_files() -> Vec<(String, J)> {
    let basic = load_dir("singlemessage/basic");
    let advanced = load_dir("singlemessage/advanced");
    assert_eq!(basic.len(), 22, "basic vector files");
    assert_eq!(advanced.len(), 4, "advanced vector files");
    basic.into_iter().chain(advanced).collect()
}

/// What a serialization sample must decode to.
enum Expected {
    Message(Message),
    /// No message form (see the module docs); `Err` is the message-level error we give today.
    Value(Value, fn(&ProtocolError) -> bool),
}

fn expected(attributes: &J) -> Result<Expected, String> {
    let map = attributes.as_object().ok_or("expected_attributes is not an object")?;
    let mut a = Attrs::new(map);
    let code = a.id(&["message_type"])?;
    let transparent = a.transparent_payload()?;
    let expected = match (code, transparent) {
        (337, None) => Expected::Value(
            Value::List(vec![code.into(), a.id(&["publication_id"])?.into()]),
            |e| matches!(e, ProtocolError::UnknownType(337)),
        ),
        (16 | 36, Some(payload)) => {
            let mut items: Vec<Value> = vec![code.into()];
            if code == 16 {
                items.extend([a.id(&["request_id"])?.into(), a.dict("options")?.into(), a.string("topic")?.into()]);
            } else {
                items.extend([a.id(&["subscription"])?.into(), a.id(&["publication"])?.into(), a.dict("details")?.into()]);
            }
            items.push(Value::Bytes(payload));
            let rest = a.payload()?;
            if rest.args.is_some() || rest.kwargs.is_some() {
                return Err("transparent payload with args/kwargs".into());
            }
            Expected::Value(Value::List(items), |e| {
                matches!(e, ProtocolError::BadElement { element: "Arguments", got: "binary", .. })
            })
        }
        (_, Some(_)) => return Err(format!("transparent payload on message type {code}")),
        (code, None) => Expected::Message(attrs::message(code, &mut a)?),
    };
    a.finish()?;
    Ok(expected)
}

/// The byte strings a representation gives, checked to agree when it gives several.
fn representation_bytes(rep: &J) -> Result<Vec<u8>, String> {
    let mut found: Vec<Vec<u8>> = Vec::new();
    if let Some(s) = rep.get("bytes").and_then(J::as_str) {
        found.push(s.as_bytes().to_vec());
    }
    if let Some(h) = rep.get("bytes_hex").and_then(J::as_str) {
        found.push(attrs::hex(h));
    }
    if let Some(b) = rep.get("bytes_base64").and_then(J::as_str) {
        found.push(base64::engine::general_purpose::STANDARD.decode(b).map_err(|e| e.to_string())?);
    }
    match found.split_first() {
        None => Err("representation without bytes".into()),
        Some((first, others)) if others.iter().all(|o| o == first) => Ok(first.clone()),
        Some(_) => Err("bytes, bytes_hex and bytes_base64 disagree".into()),
    }
}

/// Whether a JSON text has no whitespace outside string literals (the canonical compact form).
fn is_compact_json(bytes: &[u8]) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b' ' | b'\n' | b'\r' | b'\t') => return false,
            _ => {}
        }
    }
    true
}

#[derive(Default)]
struct Tally {
    samples: usize,
    decoded: usize,
    byte_exact: usize,
    value_level: usize,
    failures: Vec<String>,
}

fn check_representation(t: &mut Tally, s: Serializer, bytes: &[u8], expected: &Expected) -> Result<(), String> {
    let exact_expected = s.is_binary() || is_compact_json(bytes);
    let ours = match expected {
        Expected::Message(msg) => {
            let decoded = s.decode(bytes).map_err(|e| format!("decode failed: {e}"))?;
            if &decoded != msg {
                return Err(format!("decoded {decoded:?}\n   expected {msg:?}"));
            }
            // Re-encode what was decoded, not `msg`: dict equality ignores order, and the vectors'
            // attribute dicts do not always list keys in wire order; decoding preserves it.
            let ours = s.encode(&decoded);
            if s.decode(&ours).as_ref() != Ok(msg) {
                return Err("decode(encode(msg)) != msg".into());
            }
            ours
        }
        Expected::Value(value, message_error) => {
            let decoded = s.decode_value(bytes).map_err(|e| format!("decode_value failed: {e}"))?;
            if &decoded != value {
                return Err(format!("decoded {decoded:?}\n   expected {value:?}"));
            }
            match s.decode(bytes) {
                Err(e) if message_error(&e) => {}
                other => return Err(format!("message-level result changed: {other:?} (update the test)")),
            }
            let ours = s.encode_value(&decoded);
            if s.decode_value(&ours).as_ref() != Ok(value) {
                return Err("decode(encode(value)) != value".into());
            }
            t.value_level += 1;
            ours
        }
    };
    t.decoded += 1;
    if exact_expected {
        if ours != bytes {
            return Err(format!("not byte-exact:\n   ours   {}\n   theirs {}", to_hex(&ours), to_hex(bytes)));
        }
        t.byte_exact += 1;
    }
    Ok(())
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn serialization_samples_decode_round_trip_and_match_bytes() {
    let mut t = Tally::default();
    for (file, vector) in single_message_files() {
        let samples = vector["samples"].as_array().expect("samples");
        for (i, sample) in samples.iter().enumerate().filter(|(_, s)| s.get("wmsg").is_none()) {
            t.samples += 1;
            let at = format!("{file} #{i} ({})", sample["description"].as_str().unwrap_or("?"));
            let expected = match expected(&sample["expected_attributes"]) {
                Ok(e) => e,
                Err(e) => {
                    t.failures.push(format!("{at}: attributes: {e}"));
                    continue;
                }
            };
            for (name, s) in SERIALIZERS {
                let reps = sample["serializers"][name].as_array().map(Vec::as_slice).unwrap_or_default();
                if reps.is_empty() {
                    t.failures.push(format!("{at}: no {name} representation"));
                }
                for rep in reps {
                    let result = representation_bytes(rep).and_then(|b| check_representation(&mut t, s, &b, &expected));
                    if let Err(e) = result {
                        t.failures.push(format!("{at} [{name}]: {e}"));
                    }
                }
            }
        }
    }
    assert!(t.failures.is_empty(), "{} failures:\n{}", t.failures.len(), t.failures.join("\n"));
    // Exact counts guard against a fixture or filter change silently shrinking the run.
    assert_eq!(t.samples, 35, "serialization samples");
    assert_eq!(t.decoded, 129, "byte strings decoded (json/msgpack/cbor)");
    // msgpack + cbor for every sample, plus exactly one compact JSON each: all must be exact.
    assert_eq!(t.byte_exact, 3 * t.samples, "byte-exact checks");
    // EVENT_RECEIVED (2 JSON + msgpack + cbor) and 4 transparent payloads (1 JSON + msgpack + cbor).
    assert_eq!(t.value_level, 4 + 4 * 3, "byte strings checked at the value level");
}

#[test]
fn validation_samples_reach_the_router_intact() {
    // These samples test option/detail *semantics* (types of `acknowledge`, `exclude`, …), which
    // is the router's job: at this layer Options and Details are schemaless dicts. What the codec
    // layer owes the router is the sample, intact, in every serializer, with the key to validate.
    let mut checked = 0;
    for (file, vector) in single_message_files() {
        for sample in vector["samples"].as_array().expect("samples").iter().filter(|s| s.get("wmsg").is_some()) {
            let at = format!("{file}: {}", sample["description"].as_str().unwrap_or("?"));
            let wmsg = attrs::value(&sample["wmsg"]);
            for (_, s) in SERIALIZERS {
                assert_eq!(s.decode_value(&s.encode_value(&wmsg)).as_ref(), Ok(&wmsg), "{at} [{}]", s.name());
            }
            let Value::List(items) = &wmsg else { panic!("{at}: wmsg is not a list") };
            let key = sample["expected_error"]["contains"].as_str();
            let dict = items.iter().find_map(Value::as_dict).unwrap_or_else(|| panic!("{at}: no options/details"));
            if let Some(key) = key {
                assert!(dict.contains_key(key), "{at}: {key} not in {dict:?}");
            }
            // PUBLISH and EVENT both carry Arguments at index 4; a string there is a transparent payload.
            let transparent = items.get(4).is_some_and(|v| v.as_str().is_some());
            match Message::from_value(wmsg.clone()) {
                Ok(_) => assert!(!transparent, "{at}: transparent payload accepted (update this test)"),
                Err(ProtocolError::BadElement { element: "Arguments", .. }) => assert!(transparent, "{at}"),
                Err(e) => panic!("{at}: {e}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 67, "validation samples");
}

#[test]
fn multi_session_messages_round_trip() {
    let files = load_dir("multisession/advanced");
    assert!(!files.is_empty(), "no multi-session vectors");
    let mut checked = 0;
    for (file, vector) in files {
        for step in vector["sequence"].as_array().expect("sequence") {
            let at = format!("{file} step {}", step["step"]);
            let mut fields = step["message"].as_object().expect("message").clone();
            let name = fields.remove("type").and_then(|t| t.as_str().map(str::to_owned)).expect("type");
            let code = attrs::code_of(&name).unwrap_or_else(|| panic!("{at}: unknown type {name}"));
            let mut a = Attrs::new(&fields);
            let msg = attrs::message(code, &mut a).unwrap_or_else(|e| panic!("{at}: {e}"));
            a.finish().unwrap_or_else(|e| panic!("{at}: {e}"));
            for (_, s) in SERIALIZERS {
                assert_eq!(s.decode(&s.encode(&msg)).as_ref(), Ok(&msg), "{at} [{}]", s.name());
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "multi-session steps");
}

#[test]
fn compact_json_detection() {
    assert!(is_compact_json(br#"[1,{"a b":"c, d"},"\" x"]"#));
    assert!(!is_compact_json(br#"[1, 2]"#));
    assert!(!is_compact_json(br#"{"a": 1}"#));
}
