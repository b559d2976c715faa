//! CBOR (`wamp.2.cbor`, RFC 8949): a hand-written encoder and a decoder over a byte slice whose
//! recursion and allocations are bounded (see the [module guarantees](super)).
//!
//! Encoding is definite-length only, with the shortest integer and length heads, text strings
//! for strings, byte strings for [`Value::Bytes`], and 64-bit floats (`fb`).
//!
//! Decoding accepts indefinite-length strings, arrays and maps, non-shortest heads, and floats of
//! all three widths. **Tags are stripped**: a tagged item decodes as the item itself, so the
//! self-describe tag 55799 that some encoders prepend is harmless, a bignum (tags 2/3) arrives as
//! its byte string and a date (tags 0/1) as its string or number. WAMP defines no tags, and a
//! router forwards payloads rather than interpreting them, so stripping loses nothing the router
//! could use, whereas rejecting would refuse peers whose libraries tag by default. `undefined`
//! decodes as [`Value::Null`]; other simple values, non-text map keys and invalid UTF-8 are errors.

use super::elements::Elem;
use super::{decode_error, MAX_DEPTH, MAX_PREALLOC};
use crate::error::ProtocolError;
use crate::value::{Dict, Value};

const NAME: &str = "cbor";

const UINT: u8 = 0;
const NEGINT: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
const TAG: u8 = 6;
const SIMPLE: u8 = 7;

/// Additional-information value that marks an indefinite length (and, in major type 7, "break").
const INDEFINITE: u8 = 31;
const BREAK: u8 = 0xff;

/// Encodes `value` as one CBOR data item.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, value);
    out
}

/// Encodes a message's elements as one CBOR array.
pub(super) fn encode_elements(elements: &[Elem<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_head(&mut out, ARRAY, elements.len() as u64);
    for e in elements {
        match *e {
            Elem::UInt(u) => write_head(&mut out, UINT, u),
            Elem::Str(s) => write_text(&mut out, s),
            Elem::Dict(d) => write_dict(&mut out, d),
            Elem::List(l) => write_list(&mut out, l),
        }
    }
    out
}

/// Writes a major type with its argument in the shortest form.
fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if let Ok(v) = u8::try_from(arg) {
        out.extend_from_slice(&[m | 24, v]);
    } else if let Ok(v) = u16::try_from(arg) {
        out.push(m | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(arg) {
        out.push(m | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        // A negative integer n is carried as -1 - n, which is !n in two's complement.
        Value::Int(i) if *i < 0 => write_head(out, NEGINT, !*i as u64),
        Value::Int(i) => write_head(out, UINT, *i as u64),
        Value::UInt(u) => write_head(out, UINT, *u),
        Value::Float(f) => {
            out.push(0xfb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => write_text(out, s),
        Value::Bytes(b) => {
            write_head(out, BYTES, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::List(l) => write_list(out, l),
        Value::Dict(d) => write_dict(out, d),
    }
}

fn write_text(out: &mut Vec<u8>, s: &str) {
    write_head(out, TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn write_list(out: &mut Vec<u8>, list: &[Value]) {
    write_head(out, ARRAY, list.len() as u64);
    for v in list {
        write_value(out, v);
    }
}

fn write_dict(out: &mut Vec<u8>, dict: &Dict) {
    write_head(out, MAP, dict.len() as u64);
    for (k, v) in dict {
        write_text(out, k);
        write_value(out, v);
    }
}

/// Decodes exactly one CBOR data item filling all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, ProtocolError> {
    let mut r = Reader { rest: bytes };
    let value = r.value(0)?;
    if !r.rest.is_empty() {
        return Err(decode_error(NAME, format!("{} trailing bytes after the data item", r.rest.len())));
    }
    Ok(value)
}

/// A cursor over the unread part of a frame.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], ProtocolError> {
        match usize::try_from(n) {
            Ok(n) if n <= self.rest.len() => {
                let (head, tail) = self.rest.split_at(n);
                self.rest = tail;
                Ok(head)
            }
            _ => Err(decode_error(NAME, format!("truncated: {n} bytes needed, {} left", self.rest.len()))),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>()?[0])
    }

    /// Consumes a break byte if one is next (the end of an indefinite-length item).
    fn at_break(&mut self) -> bool {
        match self.rest.split_first() {
            Some((&BREAK, tail)) => {
                self.rest = tail;
                true
            }
            _ => false,
        }
    }

    /// Reads the argument that follows an initial byte with additional information `info`.
    fn arg(&mut self, info: u8) -> Result<u64, ProtocolError> {
        Ok(match info {
            0..=23 => info.into(),
            24 => self.u8()?.into(),
            25 => u16::from_be_bytes(self.array()?).into(),
            26 => u32::from_be_bytes(self.array()?).into(),
            27 => u64::from_be_bytes(self.array()?),
            INDEFINITE => return Err(decode_error(NAME, "indefinite length not allowed here")),
            _ => return Err(decode_error(NAME, format!("reserved additional information {info}"))),
        })
    }

    /// Tags and containers are handled here and everything else in [`Reader::scalar`], so the
    /// frame that recursion repeats stays small (it matters in unoptimized builds).
    fn value(&mut self, depth: usize) -> Result<Value, ProtocolError> {
        // Tags are stripped in a loop, not by recursion, so a chain of tags cannot grow the stack.
        let (major, info) = loop {
            let initial = self.u8()?;
            let (major, info) = (initial >> 5, initial & 0x1f);
            if major != TAG {
                break (major, info);
            }
            self.arg(info)?;
        };
        match major {
            ARRAY => self.list(info, depth),
            MAP => self.dict(info, depth),
            _ => self.scalar(major, info),
        }
    }

    #[inline(never)]
    fn scalar(&mut self, major: u8, info: u8) -> Result<Value, ProtocolError> {
        Ok(match major {
            UINT => Value::from(self.arg(info)?),
            NEGINT => {
                let n = self.arg(info)?;
                match i64::try_from(n) {
                    Ok(n) => Value::Int(-1 - n),
                    Err(_) => return Err(decode_error(NAME, "negative integer below -2^63")),
                }
            }
            BYTES => Value::Bytes(self.string(BYTES, info)?),
            TEXT => Value::Str(self.text(info)?),
            SIMPLE => self.simple(info)?,
            // A major type has three bits; TAG, ARRAY and MAP never reach here.
            _ => return Err(decode_error(NAME, format!("unexpected major type {major}"))),
        })
    }

    /// A byte or text string's bytes, joining the chunks of an indefinite-length one.
    fn string(&mut self, major: u8, info: u8) -> Result<Vec<u8>, ProtocolError> {
        if info != INDEFINITE {
            let n = self.arg(info)?;
            return Ok(self.take(n)?.to_vec());
        }
        let mut joined = Vec::new();
        while !self.at_break() {
            let initial = self.u8()?;
            if initial >> 5 != major || initial & 0x1f == INDEFINITE {
                return Err(decode_error(NAME, "indefinite-length string chunk of the wrong type"));
            }
            let n = self.arg(initial & 0x1f)?;
            let chunk = self.take(n)?;
            // RFC 8949 §3.2.3: every chunk of a text string is valid UTF-8 on its own.
            if major == TEXT {
                utf8(chunk)?;
            }
            joined.extend_from_slice(chunk);
        }
        Ok(joined)
    }

    fn text(&mut self, info: u8) -> Result<String, ProtocolError> {
        let bytes = self.string(TEXT, info)?;
        String::from_utf8(bytes).map_err(|e| decode_error(NAME, format!("text string is not UTF-8: {}", e.utf8_error())))
    }

    /// Checks depth, and for a definite length that `n` items of at least `min_size` bytes each
    /// fit in what is left. Returns the definite length, if any.
    fn open(&mut self, info: u8, min_size: u64, depth: usize) -> Result<Option<u64>, ProtocolError> {
        if depth >= MAX_DEPTH {
            return Err(decode_error(NAME, format!("nesting deeper than {MAX_DEPTH}")));
        }
        if info == INDEFINITE {
            return Ok(None);
        }
        let n = self.arg(info)?;
        if n > self.rest.len() as u64 / min_size {
            return Err(decode_error(NAME, format!("claims {n} items but only {} bytes are left", self.rest.len())));
        }
        Ok(Some(n))
    }

    fn list(&mut self, info: u8, depth: usize) -> Result<Value, ProtocolError> {
        let mut list = Vec::new();
        match self.open(info, 1, depth)? {
            Some(n) => {
                list.reserve(n.min(MAX_PREALLOC as u64) as usize);
                for _ in 0..n {
                    list.push(self.value(depth + 1)?);
                }
            }
            None => {
                while !self.at_break() {
                    list.push(self.value(depth + 1)?);
                }
            }
        }
        Ok(Value::List(list))
    }

    fn dict(&mut self, info: u8, depth: usize) -> Result<Value, ProtocolError> {
        let mut dict = Dict::new();
        match self.open(info, 2, depth)? {
            Some(n) => {
                dict.reserve(n.min(MAX_PREALLOC as u64) as usize);
                for _ in 0..n {
                    self.entry(&mut dict, depth)?;
                }
            }
            None => {
                while !self.at_break() {
                    self.entry(&mut dict, depth)?;
                }
            }
        }
        Ok(Value::Dict(dict))
    }

    fn entry(&mut self, dict: &mut Dict, depth: usize) -> Result<(), ProtocolError> {
        let key = match self.value(depth + 1)? {
            Value::Str(k) => k,
            other => return Err(bad_key(&other)),
        };
        let value = self.value(depth + 1)?;
        dict.insert(key, value);
        Ok(())
    }

    /// Major type 7: simple values and floats.
    fn simple(&mut self, info: u8) -> Result<Value, ProtocolError> {
        Ok(match info {
            20 => Value::Bool(false),
            21 => Value::Bool(true),
            22 | 23 => Value::Null,
            25 => Value::Float(f16_to_f64(u16::from_be_bytes(self.array()?))),
            26 => Value::Float(f32::from_be_bytes(self.array()?).into()),
            27 => Value::Float(f64::from_be_bytes(self.array()?)),
            INDEFINITE => return Err(decode_error(NAME, "break outside an indefinite-length item")),
            _ => return Err(decode_error(NAME, format!("unsupported simple value (additional information {info})"))),
        })
    }
}

#[cold]
#[inline(never)]
fn bad_key(key: &Value) -> ProtocolError {
    decode_error(NAME, format!("map keys must be text, not {}", key.type_name()))
}

fn utf8(bytes: &[u8]) -> Result<&str, ProtocolError> {
    std::str::from_utf8(bytes).map_err(|e| decode_error(NAME, format!("text string is not UTF-8: {e}")))
}

/// IEEE 754 half precision to double (RFC 8949 Appendix D).
fn f16_to_f64(half: u16) -> f64 {
    let exp = (half >> 10) & 0x1f;
    let mant = f64::from(half & 0x3ff);
    let magnitude = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (mant + 1024.0) * 2f64.powi(i32::from(exp) - 25),
    };
    if half & 0x8000 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests;
