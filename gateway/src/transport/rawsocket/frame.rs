//! RawSocket framing after the handshake: a 4-octet prefix, then the payload.
//!
//! The prefix is `RRRR XTTT` and a 24-bit big-endian length. `TTT` is the frame type (0 a WAMP
//! message, 1 PING, 2 PONG, 3–7 reserved); `X` is a 25th length bit, set only for a payload of
//! exactly 16 MiB; `RRRR` must be zero. A length over the receive limit fails the connection
//! before any of the payload is buffered.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// The largest payload a prefix can describe: 2^24 (with the `X` bit).
pub const MAX_PAYLOAD: usize = 1 << 24;

const PREFIX: usize = 4;
const X_BIT: u8 = 0b0000_1000;

/// One RawSocket frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Message(Bytes),
    Ping(Bytes),
    Pong(Bytes),
}

impl Frame {
    fn kind(&self) -> u8 {
        match self {
            Frame::Message(_) => 0,
            Frame::Ping(_) => 1,
            Frame::Pong(_) => 2,
        }
    }
}

/// Why inbound framing cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("a {size}-byte frame exceeds the maximum message size of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("reserved frame type {0}")]
    ReservedType(u8),
    #[error("reserved bits set in the frame prefix ({0:#04x})")]
    ReservedBits(u8),
    #[error("the 25th length bit is set with a non-zero length")]
    BadLength,
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
}

/// Decodes frames up to `limit` payload octets and encodes any frame up to [`MAX_PAYLOAD`].
#[derive(Debug)]
pub struct FrameCodec {
    limit: usize,
}

impl FrameCodec {
    pub fn new(limit: usize) -> FrameCodec {
        FrameCodec { limit: limit.min(MAX_PAYLOAD) }
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < PREFIX {
            return Ok(None);
        }
        let first = src[0];
        if first & 0xF0 != 0 {
            return Err(FrameError::ReservedBits(first));
        }
        let length = usize::from(src[1]) << 16 | usize::from(src[2]) << 8 | usize::from(src[3]);
        let size = match (first & X_BIT != 0, length) {
            (false, n) => n,
            (true, 0) => MAX_PAYLOAD,
            (true, _) => return Err(FrameError::BadLength),
        };
        let kind = first & 0b0000_0111;
        if kind > 2 {
            return Err(FrameError::ReservedType(kind));
        }
        if size > self.limit {
            return Err(FrameError::TooLarge { size, limit: self.limit });
        }
        if src.len() < PREFIX + size {
            // Room for the rest of this frame (within the limit just checked) and the next prefix.
            src.reserve(PREFIX + size - src.len() + PREFIX);
            return Ok(None);
        }
        src.advance(PREFIX);
        let payload = src.split_to(size).freeze();
        Ok(Some(match kind {
            0 => Frame::Message(payload),
            1 => Frame::Ping(payload),
            _ => Frame::Pong(payload),
        }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = std::io::Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        let kind = frame.kind();
        let (Frame::Message(payload) | Frame::Ping(payload) | Frame::Pong(payload)) = frame;
        let size = payload.len();
        if size > MAX_PAYLOAD {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame larger than 16 MiB"));
        }
        let x = if size == MAX_PAYLOAD { X_BIT } else { 0 };
        dst.reserve(PREFIX + size);
        dst.put_u8(x | kind);
        dst.put_uint(size as u64 & 0xFF_FFFF, 3);
        dst.extend_from_slice(&payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut FrameCodec, bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut buf)? {
            frames.push(frame);
        }
        Ok(frames)
    }

    #[test]
    fn round_trips_each_frame_type() {
        let mut codec = FrameCodec::new(1024);
        let mut wire = BytesMut::new();
        let frames = [
            Frame::Message(Bytes::from_static(b"[1,\"realm1\",{}]")),
            Frame::Ping(Bytes::from_static(b"abc")),
            Frame::Pong(Bytes::new()),
        ];
        for f in frames.clone() {
            codec.encode(f, &mut wire).expect("encodes");
        }
        assert_eq!(&wire[..4], &[0, 0, 0, 15]);
        assert_eq!(decode_all(&mut codec, &wire).expect("decodes"), frames);
    }

    #[test]
    fn waits_for_whole_frames() {
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 5, b'a', b'b'][..]);
        assert!(codec.decode(&mut buf).expect("no error").is_none());
        buf.extend_from_slice(b"cde");
        assert_eq!(codec.decode(&mut buf).expect("no error"), Some(Frame::Message(Bytes::from_static(b"abcde"))));
        assert!(buf.is_empty());
    }

    #[test]
    fn refuses_oversized_frames_from_the_prefix_alone() {
        let mut codec = FrameCodec::new(1024);
        let err = decode_all(&mut codec, &[0, 0, 4, 1]).expect_err("too large");
        assert!(matches!(err, FrameError::TooLarge { size: 1025, limit: 1024 }), "{err}");
    }

    #[test]
    fn refuses_reserved_types_and_bits() {
        let mut codec = FrameCodec::new(1024);
        assert!(matches!(decode_all(&mut codec, &[3, 0, 0, 0]), Err(FrameError::ReservedType(3))));
        assert!(matches!(decode_all(&mut codec, &[0x10, 0, 0, 0]), Err(FrameError::ReservedBits(0x10))));
        assert!(matches!(decode_all(&mut codec, &[0x08, 0, 0, 1]), Err(FrameError::BadLength)));
    }

    #[test]
    fn a_16_mib_payload_uses_the_25th_bit() {
        let mut codec = FrameCodec::new(MAX_PAYLOAD);
        let mut wire = BytesMut::new();
        codec.encode(Frame::Message(Bytes::from(vec![7u8; MAX_PAYLOAD])), &mut wire).expect("encodes");
        assert_eq!(&wire[..4], &[0x08, 0, 0, 0]);
        let frames = decode_all(&mut codec, &wire).expect("decodes");
        assert!(matches!(&frames[..], [Frame::Message(p)] if p.len() == MAX_PAYLOAD));
    }
}
