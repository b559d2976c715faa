//! MessagePack (`wamp.2.msgpack`): a hand-written encoder, and a decoder over a byte slice whose
//! recursion and allocations are bounded (see the [module guarantees](super)).
//!
//! Encoding uses the shortest form of every integer and length, `str` for strings, `bin` for
//! [`Value::Bytes`] and `float 64` for floats. Decoding accepts every standard form (including
//! `float 32` and non-shortest integers) and rejects extension types, the reserved byte `0xc1`,
//! non-string map keys, invalid UTF-8, nesting beyond [`MAX_DEPTH`] and trailing bytes.

use super::elements::Elem;
use super::{decode_error, MAX_DEPTH, MAX_PREALLOC};
use crate::error::ProtocolError;
use crate::value::{Dict, Value};

const NAME: &str = "msgpack";

/// Encodes `value` as one MessagePack item.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, value);
    out
}

/// Encodes a message's elements as one MessagePack array.
pub(super) fn encode_elements(elements: &[Elem<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_len(&mut out, [0x90, 0xdc, 0xdd], elements.len());
    for e in elements {
        match *e {
            Elem::UInt(u) => write_uint(&mut out, u),
            Elem::Str(s) => write_str(&mut out, s),
            Elem::Dict(d) => write_dict(&mut out, d),
            Elem::List(l) => write_list(&mut out, l),
        }
    }
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(false) => out.push(0xc2),
        Value::Bool(true) => out.push(0xc3),
        Value::Int(i) => write_int(out, *i),
        Value::UInt(u) => write_uint(out, *u),
        Value::Float(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => write_str(out, s),
        Value::Bytes(b) => {
            write_bin_len(out, b.len());
            out.extend_from_slice(b);
        }
        Value::List(l) => write_list(out, l),
        Value::Dict(d) => write_dict(out, d),
    }
}

fn write_uint(out: &mut Vec<u8>, u: u64) {
    if u < 0x80 {
        out.push(u as u8);
    } else if let Ok(v) = u8::try_from(u) {
        out.extend_from_slice(&[0xcc, v]);
    } else if let Ok(v) = u16::try_from(u) {
        out.push(0xcd);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(u) {
        out.push(0xce);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        // Non-negative integers use the unsigned forms, as every MessagePack encoder does.
        write_uint(out, i as u64);
    } else if i >= -32 {
        out.push(i as i8 as u8); // negative fixint 0xe0..=0xff
    } else if let Ok(v) = i8::try_from(i) {
        out.extend_from_slice(&[0xd0, v as u8]);
    } else if let Ok(v) = i16::try_from(i) {
        out.push(0xd1);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i32::try_from(i) {
        out.push(0xd2);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if let Ok(v) = u8::try_from(n) {
        out.extend_from_slice(&[0xd9, v]);
    } else {
        write_len16_32(out, 0xda, 0xdb, n);
    }
    out.extend_from_slice(s.as_bytes());
}

fn write_bin_len(out: &mut Vec<u8>, n: usize) {
    if let Ok(v) = u8::try_from(n) {
        out.extend_from_slice(&[0xc4, v]);
    } else {
        write_len16_32(out, 0xc5, 0xc6, n);
    }
}

/// Writes a container header: `markers` are the fix form's base, the 16-bit and the 32-bit marker.
fn write_len(out: &mut Vec<u8>, markers: [u8; 3], n: usize) {
    if n < 16 {
        out.push(markers[0] | n as u8);
    } else {
        write_len16_32(out, markers[1], markers[2], n);
    }
}

fn write_len16_32(out: &mut Vec<u8>, m16: u8, m32: u8, n: usize) {
    if let Ok(v) = u16::try_from(n) {
        out.push(m16);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        // MessagePack cannot express 2^32 or more; frames are capped far below that by transports.
        let v = u32::try_from(n).expect("a MessagePack string, binary or container holds fewer than 2^32 items");
        out.push(m32);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn write_list(out: &mut Vec<u8>, list: &[Value]) {
    write_len(out, [0x90, 0xdc, 0xdd], list.len());
    for v in list {
        write_value(out, v);
    }
}

fn write_dict(out: &mut Vec<u8>, dict: &Dict) {
    write_len(out, [0x80, 0xde, 0xdf], dict.len());
    for (k, v) in dict {
        write_str(out, k);
        write_value(out, v);
    }
}

/// Decodes exactly one MessagePack item filling all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, ProtocolError> {
    let mut r = Reader { rest: bytes };
    let value = r.value(0)?;
    if !r.rest.is_empty() {
        return Err(decode_error(NAME, format!("{} trailing bytes after the value", r.rest.len())));
    }
    Ok(value)
}

enum Container {
    List,
    Dict,
}

/// A cursor over the unread part of a frame.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if n > self.rest.len() {
            return Err(decode_error(NAME, format!("truncated: {n} bytes needed, {} left", self.rest.len())));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize, ProtocolError> {
        Ok(u16::from_be_bytes(self.array()?).into())
    }

    fn u32(&mut self) -> Result<usize, ProtocolError> {
        let n = u32::from_be_bytes(self.array()?);
        usize::try_from(n).map_err(|_| decode_error(NAME, "length does not fit this platform"))
    }

    /// Containers are handled here and everything else in [`Reader::scalar`], so the frame that
    /// recursion repeats stays small (it matters in unoptimized builds, where every match arm's
    /// temporaries get their own stack slots).
    fn value(&mut self, depth: usize) -> Result<Value, ProtocolError> {
        let marker = self.u8()?;
        match self.container(marker)? {
            Some((Container::List, n)) => self.list(n, depth),
            Some((Container::Dict, n)) => self.dict(n, depth),
            None => self.scalar(marker),
        }
    }

    /// The kind and claimed length of a container marker, `None` for anything else.
    #[inline(never)]
    fn container(&mut self, marker: u8) -> Result<Option<(Container, usize)>, ProtocolError> {
        Ok(Some(match marker {
            0x80..=0x8f => (Container::Dict, usize::from(marker & 0x0f)),
            0x90..=0x9f => (Container::List, usize::from(marker & 0x0f)),
            0xdc => (Container::List, self.u16()?),
            0xdd => (Container::List, self.u32()?),
            0xde => (Container::Dict, self.u16()?),
            0xdf => (Container::Dict, self.u32()?),
            _ => return Ok(None),
        }))
    }

    #[inline(never)]
    fn scalar(&mut self, marker: u8) -> Result<Value, ProtocolError> {
        Ok(match marker {
            0x00..=0x7f => Value::Int(marker.into()),
            0xa0..=0xbf => Value::Str(self.str(usize::from(marker & 0x1f))?),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4 => {
                let n = self.u8()?.into();
                Value::Bytes(self.take(n)?.to_vec())
            }
            0xc5 => {
                let n = self.u16()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            0xc6 => {
                let n = self.u32()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            0xc7..=0xc9 | 0xd4..=0xd8 => {
                return Err(decode_error(NAME, format!("extension type (marker {marker:#04x}) is not supported")))
            }
            0xca => Value::Float(f32::from_be_bytes(self.array()?).into()),
            0xcb => Value::Float(f64::from_be_bytes(self.array()?)),
            0xcc => Value::Int(self.u8()?.into()),
            0xcd => Value::Int(u16::from_be_bytes(self.array()?).into()),
            0xce => Value::Int(u32::from_be_bytes(self.array()?).into()),
            0xcf => Value::from(u64::from_be_bytes(self.array()?)),
            0xd0 => Value::Int(i8::from_be_bytes(self.array()?).into()),
            0xd1 => Value::Int(i16::from_be_bytes(self.array()?).into()),
            0xd2 => Value::Int(i32::from_be_bytes(self.array()?).into()),
            0xd3 => Value::Int(i64::from_be_bytes(self.array()?)),
            0xd9 => {
                let n = self.u8()?.into();
                Value::Str(self.str(n)?)
            }
            0xda => {
                let n = self.u16()?;
                Value::Str(self.str(n)?)
            }
            0xdb => {
                let n = self.u32()?;
                Value::Str(self.str(n)?)
            }
            0xe0..=0xff => Value::Int((marker as i8).into()),
            // 0xc1, and containers if a caller ever passed one here.
            _ => return Err(decode_error(NAME, format!("unexpected marker {marker:#04x}"))),
        })
    }

    fn str(&mut self, n: usize) -> Result<String, ProtocolError> {
        let bytes = self.take(n)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(decode_error(NAME, format!("string is not UTF-8: {e}"))),
        }
    }

    /// Checks depth, and that `n` items of at least `min_size` bytes each can fit in what is left.
    fn open(&self, n: usize, min_size: usize, depth: usize) -> Result<(), ProtocolError> {
        if depth >= MAX_DEPTH {
            return Err(decode_error(NAME, format!("nesting deeper than {MAX_DEPTH}")));
        }
        if n > self.rest.len() / min_size {
            return Err(decode_error(NAME, format!("claims {n} items but only {} bytes are left", self.rest.len())));
        }
        Ok(())
    }

    fn list(&mut self, n: usize, depth: usize) -> Result<Value, ProtocolError> {
        self.open(n, 1, depth)?;
        let mut list = Vec::with_capacity(n.min(MAX_PREALLOC));
        for _ in 0..n {
            list.push(self.value(depth + 1)?);
        }
        Ok(Value::List(list))
    }

    fn dict(&mut self, n: usize, depth: usize) -> Result<Value, ProtocolError> {
        self.open(n, 2, depth)?;
        let mut dict = Dict::with_capacity(n.min(MAX_PREALLOC));
        for _ in 0..n {
            let key = match self.value(depth + 1)? {
                Value::Str(k) => k,
                other => return Err(bad_key(&other)),
            };
            let value = self.value(depth + 1)?;
            dict.insert(key, value);
        }
        Ok(Value::Dict(dict))
    }
}

#[cold]
#[inline(never)]
fn bad_key(key: &Value) -> ProtocolError {
    decode_error(NAME, format!("map keys must be strings, not {}", key.type_name()))
}

#[cfg(test)]
mod tests;
