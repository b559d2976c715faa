//! Message-level tests across all three serializers: every one of the 24 message types round-trips
//! with rich payloads, the borrowed encoder matches the owned one, and bad frames fail cleanly.

use super::*;
use crate::dict;
use crate::ids::{PublicationId, RegistrationId, RequestId, SessionId, SubscriptionId, MAX_ID};
use crate::message::Payload;
use crate::value::Dict;

/// A payload exercising every value kind: binary, nested dicts, UInt, negative ints, floats, unicode.
fn rich_payload() -> Payload {
    Payload::new(
        vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-1),
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::UInt((i64::MAX as u64) + 1),
            Value::Float(-1.5e-7),
            Value::Float(3.0),
            Value::from("Grüße, 世界 🎉"),
            Value::Bytes(vec![0, 1, 2, 254, 255]),
            Value::Bytes(vec![]),
            Value::List(vec![Value::List(vec![Value::Dict(dict! { "deep" => Value::Bytes(b"\0x".to_vec()) })])]),
        ],
        dict! {
            "nested" => dict! { "a" => dict! { "b" => dict! { "c" => -42 } }, "list" => Value::List(vec![1.into(), "two".into()]) },
            "ключ" => "значение",
            "empty" => Dict::new(),
            "big" => MAX_ID,
        },
    )
}

fn details() -> Dict {
    dict! { "x_custom" => Value::List(vec![1.into(), Value::Float(0.25)]), "flag" => false }
}

/// One message of each of the 24 types, in code order.
fn all_messages() -> Vec<Message> {
    let p = rich_payload;
    vec![
        Message::Hello { realm: "realm1".into(), details: dict! { "roles" => dict! { "caller" => Dict::new() } } },
        Message::Welcome { session: SessionId(MAX_ID), details: details() },
        Message::Abort { details: details(), reason: "wamp.error.no_such_realm".into() },
        Message::Challenge { authmethod: "wampcra".into(), extra: dict! { "challenge" => "{\"nonce\":1}" } },
        Message::Authenticate { signature: "c2lnbmF0dXJl".into(), extra: Dict::new() },
        Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() },
        Message::Error {
            request_type: 48,
            request: RequestId(1),
            details: details(),
            error: "com.app.error".into(),
            payload: p(),
        },
        Message::Publish { request: RequestId(2), options: details(), topic: "com.app.topic".into(), payload: p() },
        Message::Published { request: RequestId(2), publication: PublicationId(MAX_ID - 1) },
        Message::Subscribe { request: RequestId(3), options: dict! { "match" => "prefix" }, topic: "com.app".into() },
        Message::Subscribed { request: RequestId(3), subscription: SubscriptionId(77) },
        Message::Unsubscribe { request: RequestId(4), subscription: SubscriptionId(77) },
        Message::Unsubscribed { request: RequestId(0), details: Some(dict! { "reason" => "wamp.error.revoked" }) },
        Message::Event { subscription: SubscriptionId(77), publication: PublicationId(5), details: details(), payload: p() },
        Message::Call { request: RequestId(6), options: details(), procedure: "com.app.proc".into(), payload: p() },
        Message::Cancel { request: RequestId(6), options: dict! { "mode" => "killnowait" } },
        Message::Result { request: RequestId(6), details: dict! { "progress" => true }, payload: p() },
        Message::Register { request: RequestId(7), options: Dict::new(), procedure: "com.app..proc".into() },
        Message::Registered { request: RequestId(7), registration: RegistrationId(88) },
        Message::Unregister { request: RequestId(8), registration: RegistrationId(88) },
        Message::Unregistered { request: RequestId(8), details: None },
        Message::Invocation {
            request: RequestId(9),
            registration: RegistrationId(88),
            details: details(),
            payload: p(),
        },
        Message::Interrupt { request: RequestId(9), options: dict! { "reason" => "wamp.error.canceled" } },
        Message::Yield { request: RequestId(9), options: Dict::new(), payload: p() },
    ]
}

/// Payload short forms: none, args only, kwargs only, empty args with empty kwargs.
fn payload_variants() -> Vec<Payload> {
    vec![
        Payload::default(),
        Payload::args(vec![Value::Bytes(vec![9; 300])]),
        Payload { args: Some(vec![]), kwargs: Some(dict! { "k" => Value::UInt(u64::MAX) }) },
        Payload { args: Some(vec![]), kwargs: None },
    ]
}

#[test]
fn every_message_type_round_trips_in_every_serializer() {
    let messages = all_messages();
    let codes: Vec<u64> = messages.iter().map(Message::code).collect();
    assert_eq!(codes, [1, 2, 3, 4, 5, 6, 8, 16, 17, 32, 33, 34, 35, 36, 48, 49, 50, 64, 65, 66, 67, 68, 69, 70]);
    for s in Serializer::ALL {
        for msg in &messages {
            let bytes = s.encode(msg);
            assert_eq!(s.decode(&bytes).as_ref(), Ok(msg), "{} {}", s.name(), msg.name());
        }
    }
}

#[test]
fn borrowed_encoding_matches_encoding_the_owned_value() {
    let mut messages = all_messages();
    for payload in payload_variants() {
        messages.push(Message::Yield { request: RequestId(1), options: Dict::new(), payload: payload.clone() });
        messages.push(Message::Error {
            request_type: 68,
            request: RequestId(1),
            details: Dict::new(),
            error: "e".into(),
            payload,
        });
    }
    messages.push(Message::Unregistered { request: RequestId(0), details: Some(Dict::new()) });
    for s in Serializer::ALL {
        for msg in &messages {
            assert_eq!(s.encode(msg), s.encode_value(&msg.to_value()), "{} {:?}", s.name(), msg);
        }
    }
}

#[test]
fn payload_short_forms_round_trip() {
    for s in Serializer::ALL {
        for payload in payload_variants() {
            let msg = Message::Result { request: RequestId(1), details: Dict::new(), payload };
            let back = s.decode(&s.encode(&msg)).expect("round trip");
            // Empty kwargs are dropped on the wire; everything else must survive as is.
            let want = match msg {
                Message::Result { request, details, payload: Payload { args, kwargs } } => Message::Result {
                    request,
                    details,
                    payload: Payload { args, kwargs: kwargs.filter(|k| !k.is_empty()) },
                },
                other => other,
            };
            assert_eq!(back, want, "{}", s.name());
        }
    }
}

#[test]
fn the_three_serializers_agree_on_values() {
    let value = all_messages()[13].to_value();
    for s in Serializer::ALL {
        assert_eq!(s.decode_value(&s.encode_value(&value)).as_ref(), Ok(&value), "{}", s.name());
    }
}

#[test]
fn known_wire_forms() {
    let call = Message::Call {
        request: RequestId(7_814_135),
        options: Dict::new(),
        procedure: "com.x".into(),
        payload: Payload::args(vec!["a".into()]),
    };
    assert_eq!(Serializer::Json.encode(&call), br#"[48,7814135,{},"com.x",["a"]]"#);
    assert_eq!(Serializer::MsgPack.encode(&call), b"\x95\x30\xce\x00\x77\x3b\xf7\x80\xa5com.x\x91\xa1a");
    assert_eq!(Serializer::Cbor.encode(&call), b"\x85\x18\x30\x1a\x00\x77\x3b\xf7\xa0\x65com.x\x81\x61a");
}

#[test]
fn bad_frames_give_decode_errors_never_panics() {
    let frames: &[(Serializer, &[u8])] = &[
        (Serializer::Json, b"[48,1,{},\"p\""),
        (Serializer::Json, b"\xff\xfe"),
        (Serializer::MsgPack, b"\x95\x30\xce\x00"),
        (Serializer::MsgPack, b"\xdd\xff\xff\xff\xff"),
        (Serializer::Cbor, b"\x85\x18\x30\x1a\x00"),
        (Serializer::Cbor, b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff"),
    ];
    for (s, bytes) in frames {
        assert!(
            matches!(s.decode(bytes), Err(ProtocolError::Decode { serializer, .. }) if serializer == s.name()),
            "{} {bytes:02x?}",
            s.name()
        );
    }
}

#[test]
fn wrong_shapes_give_message_errors() {
    for s in Serializer::ALL {
        let not_a_list = s.encode_value(&Value::Dict(Dict::new()));
        assert_eq!(s.decode(&not_a_list), Err(ProtocolError::NotAList), "{}", s.name());
        let string_id = s.encode_value(&Value::List(vec![48.into(), "1".into(), Dict::new().into(), "p".into()]));
        assert!(matches!(s.decode(&string_id), Err(ProtocolError::BadElement { element: "Request", .. })));
        let negative_code = s.encode_value(&Value::List(vec![Value::Int(-48)]));
        assert!(matches!(s.decode(&negative_code), Err(ProtocolError::BadElement { .. })));
        let float_code = s.encode_value(&Value::List(vec![Value::Float(48.0)]));
        assert!(matches!(s.decode(&float_code), Err(ProtocolError::BadElement { .. })));
        let binary_uri = s.encode_value(&Value::List(vec![32.into(), 1.into(), Dict::new().into(), vec![1u8].into()]));
        assert!(matches!(s.decode(&binary_uri), Err(ProtocolError::BadElement { element: "Topic", .. })));
    }
}

#[test]
fn serializer_names_and_ids() {
    for s in Serializer::ALL {
        assert_eq!(Serializer::from_name(s.name()), Some(s));
        assert_eq!(Serializer::from_subprotocol(s.subprotocol()), Some(s));
        assert_eq!(Serializer::from_rawsocket_id(s.rawsocket_id()), Some(s));
    }
    assert!(!Serializer::Json.is_binary() && Serializer::MsgPack.is_binary() && Serializer::Cbor.is_binary());
}

#[test]
fn rmp_serde_reads_what_we_write() {
    use serde::de::DeserializeSeed;
    let value = all_messages()[6].to_value();
    let bytes = Serializer::MsgPack.encode_value(&value);
    let mut de = rmp_serde::Deserializer::new(&bytes[..]);
    let theirs = json::ValueSeed { depth: 0 }.deserialize(&mut de).expect("rmp-serde decodes our bytes");
    assert_eq!(theirs, value);
}

#[test]
fn we_read_what_rmp_writes() {
    let mut bytes = Vec::new();
    rmp::encode::write_array_len(&mut bytes, 4).expect("vec write");
    rmp::encode::write_f32(&mut bytes, 0.5).expect("vec write");
    rmp::encode::write_i64(&mut bytes, 5).expect("vec write");
    rmp::encode::write_bin(&mut bytes, &[1, 2]).expect("vec write");
    rmp::encode::write_map_len(&mut bytes, 1).expect("vec write");
    rmp::encode::write_str(&mut bytes, "k").expect("vec write");
    rmp::encode::write_sint(&mut bytes, -200).expect("vec write");
    let want = Value::List(vec![0.5.into(), 5.into(), Value::Bytes(vec![1, 2]), dict! { "k" => -200 }.into()]);
    assert_eq!(Serializer::MsgPack.decode_value(&bytes), Ok(want));
}

#[test]
fn max_depth_fits_a_small_thread_stack() {
    // Transports decode on runtime worker threads (2 MiB stacks by default); the deepest accepted
    // frame must fit comfortably, even unoptimized.
    let frames: [(Serializer, Vec<u8>); 3] = [
        (Serializer::Json, [vec![b'['; MAX_DEPTH], vec![b']'; MAX_DEPTH]].concat()),
        (Serializer::MsgPack, [vec![0x91; MAX_DEPTH - 1], vec![0x90]].concat()),
        (Serializer::Cbor, [vec![0x9f; MAX_DEPTH], vec![0xff; MAX_DEPTH]].concat()),
    ];
    let handle = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || frames.iter().all(|(s, bytes)| s.decode_value(bytes).is_ok()))
        .expect("spawn test thread");
    assert!(handle.join().expect("no stack overflow"));
}
