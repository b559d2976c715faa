//! The dynamic payload model shared by every serializer.
//!
//! WAMP payloads (`Arguments`, `ArgumentsKw`, `Details`, `Options`) are schemaless. [`Value`] is the one
//! in-memory form all three serializers decode into and encode from. Binary data is a first-class
//! variant so MessagePack `bin` and CBOR byte strings round-trip; JSON carries it with the spec's
//! `"\u0000" + base64` string convention (handled in the JSON codec, not here). Dictionaries keep
//! insertion order so a decoded message re-encodes to the same bytes.

use indexmap::IndexMap;

/// A WAMP dictionary: string keys, insertion order preserved.
pub type Dict = IndexMap<String, Value>;
/// A WAMP list.
pub type List = Vec<Value>;

/// A dynamically typed WAMP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Any integer that fits in `i64`.
    Int(i64),
    /// Integers above `i64::MAX` (only unsigned encodings can carry them).
    UInt(u64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(List),
    Dict(Dict),
}

impl Value {
    /// The value as a non-negative integer, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) if i >= 0 => Some(i as u64),
            Value::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// The value as a signed integer, if it is one that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::UInt(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "binary",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(v as i64) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(v),
        }
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::from(v as u64)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl From<List> for Value {
    fn from(v: List) -> Self {
        Value::List(v)
    }
}

impl From<Dict> for Value {
    fn from(v: Dict) -> Self {
        Value::Dict(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds a [`Dict`] from `key => value` pairs: `dict! { "a" => 1, "b" => "x" }`.
#[macro_export]
macro_rules! dict {
    () => { $crate::Dict::new() };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut d = $crate::Dict::new();
        $( d.insert(::std::string::String::from($k), $crate::Value::from($v)); )+
        d
    }};
}
