//! Feeds arbitrary bytes to every serializer's decoder. Decoding must never panic, overflow the
//! stack or allocate by claimed lengths; whatever decodes must re-encode to bytes that decode to
//! the same thing (compared structurally, floats by bit pattern so NaN and -0.0 count), and the
//! re-encoding must be a fixed point.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wamp::{Serializer, Value};

fuzz_target!(|data: &[u8]| {
    for s in Serializer::ALL {
        if let Ok(value) = s.decode_value(data) {
            let bytes = s.encode_value(&value);
            let back = s.decode_value(&bytes).expect("our own encoding must decode");
            assert!(same(&value, &back), "{} value round trip changed {value:?} into {back:?}", s.name());
            assert_eq!(s.encode_value(&back), bytes, "{} encoding is not a fixed point", s.name());
            for other in Serializer::ALL {
                if other != s && (other.is_binary() || json_safe(&value)) {
                    let across = other.decode_value(&other.encode_value(&value)).expect("cross-serializer decode");
                    assert!(same(&value, &across), "{} -> {} changed {value:?}", s.name(), other.name());
                }
            }
        }
        if let Ok(msg) = s.decode(data) {
            let bytes = s.encode(&msg);
            assert_eq!(bytes, s.encode_value(&msg.to_value()), "{} borrowed and owned encodings differ", s.name());
            let back = s.decode(&bytes).expect("our own message encoding must decode");
            assert!(same(&msg.to_value(), &back.to_value()), "{} message round trip changed {msg:?}", s.name());
        }
    }
});

/// Structural equality that compares floats by bits and dicts in order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kx, vx), (ky, vy))| kx == ky && same(vx, vy))
        }
        _ => a == b,
    }
}

/// Whether JSON can carry `v` exactly: no non-finite floats, no strings starting with U+0000.
fn json_safe(v: &Value) -> bool {
    match v {
        Value::Float(f) => f.is_finite(),
        Value::Str(s) => !s.starts_with('\0'),
        Value::List(l) => l.iter().all(json_safe),
        Value::Dict(d) => d.values().all(json_safe),
        _ => true,
    }
}
