//! JSON (`wamp.2.json`) on top of `serde_json`, with the WAMP binary convention.
//!
//! Output is compact (`[48,7814135,{},"com.x",["a"]]`), UTF-8 without `\u` escapes for non-ASCII.
//! [`Value::Bytes`] travels as a string holding `U+0000` followed by the standard, padded base64 of
//! the bytes; on input any string starting with `U+0000` must be such base64 (padding optional)
//! and becomes [`Value::Bytes`], else the frame is rejected. Consequently a [`Value::Str`] that
//! starts with `U+0000` cannot round-trip through JSON: every WAMP peer reads it back as binary.
//!
//! Numbers: non-negative integers that fit `i64` decode as [`Value::Int`], larger ones up to
//! `u64::MAX` as [`Value::UInt`], negative ones down to `i64::MIN` as `Int`; anything else
//! numeric (fractions, exponents, `-0`, integers beyond 64 bits) as [`Value::Float`]. Floats are
//! written in their shortest round-trip form; NaN and infinities, which JSON cannot express, are
//! written as `null`.

use std::fmt;

use base64::display::Base64Display;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserializer, Serialize, Serializer};

use super::elements::Elem;
use super::{decode_error, MAX_DEPTH, MAX_PREALLOC};
use crate::error::ProtocolError;
use crate::value::{Dict, Value};

const NAME: &str = "json";

/// Decodes base64 with or without padding, so peers that strip it interoperate.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes `value` as compact JSON.
pub fn encode(value: &Value) -> Vec<u8> {
    to_vec(&Json(value))
}

/// Encodes a message's elements as one compact JSON array.
pub(super) fn encode_elements(elements: &[Elem<'_>]) -> Vec<u8> {
    to_vec(&Elements(elements))
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    // serde_json fails only on writer errors (a Vec has none) and non-string map keys (a Dict has none).
    serde_json::to_writer(&mut out, value).expect("JSON serialization of a Value into a Vec cannot fail");
    out
}

/// Decodes exactly one JSON value filling all of `bytes` (surrounding whitespace allowed).
pub fn decode(bytes: &[u8]) -> Result<Value, ProtocolError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = ValueSeed { depth: 0 }.deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(json_error)?;
    Ok(value)
}

fn json_error(e: serde_json::Error) -> ProtocolError {
    decode_error(NAME, e.to_string())
}

struct Json<'a>(&'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(x) => s.serialize_str(x),
            Value::Bytes(b) => s.collect_str(&Binary(b)),
            Value::List(l) => serialize_list(s, l),
            Value::Dict(d) => serialize_dict(s, d),
        }
    }
}

fn serialize_list<S: Serializer>(s: S, list: &[Value]) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(list.len()))?;
    for v in list {
        seq.serialize_element(&Json(v))?;
    }
    seq.end()
}

fn serialize_dict<S: Serializer>(s: S, dict: &Dict) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(dict.len()))?;
    for (k, v) in dict {
        map.serialize_entry(k, &Json(v))?;
    }
    map.end()
}

struct Elements<'a, 'b>(&'b [Elem<'a>]);

impl Serialize for Elements<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for e in self.0 {
            match *e {
                Elem::UInt(u) => seq.serialize_element(&u)?,
                Elem::Str(x) => seq.serialize_element(x)?,
                Elem::Dict(d) => seq.serialize_element(&JsonDict(d))?,
                Elem::List(l) => seq.serialize_element(&JsonList(l))?,
            }
        }
        seq.end()
    }
}

struct JsonDict<'a>(&'a Dict);

impl Serialize for JsonDict<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_dict(s, self.0)
    }
}

struct JsonList<'a>(&'a [Value]);

impl Serialize for JsonList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_list(s, self.0)
    }
}

/// The WAMP JSON form of binary data, streamed into the output without a temporary string.
struct Binary<'a>(&'a [u8]);

impl fmt::Display for Binary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\0")?;
        Base64Display::new(self.0, &STANDARD).fmt(f)
    }
}

/// Builds a [`Value`] from any self-describing serde format, refusing to nest deeper than
/// [`MAX_DEPTH`] (`serde_json`'s own limit of 128 is only a backstop).
#[derive(Clone, Copy)]
pub(super) struct ValueSeed {
    pub(super) depth: usize,
}

impl ValueSeed {
    fn child<E: serde::de::Error>(self) -> Result<ValueSeed, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!("nesting deeper than {MAX_DEPTH}")));
        }
        Ok(ValueSeed { depth: self.depth + 1 })
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from(u))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Value, E> {
        match s.strip_prefix('\0') {
            Some(b64) => binary(b64),
            None => Ok(Value::Str(s.to_owned())),
        }
    }

    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Value, E> {
        match s.strip_prefix('\0') {
            Some(b64) => binary(b64),
            None => Ok(Value::Str(s)),
        }
    }

    fn visit_bytes<E>(self, b: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(b.to_vec()))
    }

    fn visit_byte_buf<E>(self, b: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(b))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        // JSON gives no length; a WAMP message (the outermost list) has at most 7 elements, so
        // room for them up front saves growing it twice per message.
        let guess = if self.depth == 0 { 7 } else { 0 };
        let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(guess).min(MAX_PREALLOC));
        while let Some(v) = seq.next_element_seed(child)? {
            list.push(v);
        }
        Ok(Value::List(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        let mut dict = Dict::with_capacity(map.size_hint().unwrap_or(0).min(MAX_PREALLOC));
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(child)?;
            dict.insert(k, v);
        }
        Ok(Value::Dict(dict))
    }
}

fn binary<E: serde::de::Error>(b64: &str) -> Result<Value, E> {
    BASE64_LENIENT
        .decode(b64)
        .map(Value::Bytes)
        .map_err(|e| E::custom(format_args!("string starting with \\u0000 is not valid base64 binary: {e}")))
}

#[cfg(test)]
mod tests;
