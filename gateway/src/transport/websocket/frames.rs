//! Inbound WebSocket frames → whole messages, with the size limit applied across continuations.
//!
//! Done here rather than with `actix_ws`'s own aggregation so that the limit, the frame kinds and
//! the errors (which decide the close code) are ours and unit-testable.

use actix_ws::{CloseCode, CloseReason, Item, Message as Frame, ProtocolError};
use bytes::{Bytes, BytesMut};

/// What the connection loop acts on.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    /// A whole data message; `binary` tells which frame type carried it.
    Data {
        binary: bool,
        bytes: Bytes,
    },
    Ping(Bytes),
    Pong,
    Close(Option<CloseReason>),
}

/// Why the inbound frames cannot go on.
#[derive(Debug, PartialEq)]
pub enum FrameError {
    /// A message (possibly fragmented) exceeds `max_message_size`.
    TooLarge { limit: usize },
    /// A text message that is not UTF-8.
    BadUtf8,
    /// Broken framing (bad opcode, continuation out of order, unmasked frame).
    Protocol(String),
    /// The connection broke while reading (the peer vanished mid-frame): nothing more to say to it.
    Gone(String),
}

impl FrameError {
    /// The WebSocket close code this error ends the connection with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            FrameError::TooLarge { .. } => CloseCode::Size,
            FrameError::BadUtf8 => CloseCode::Invalid,
            FrameError::Protocol(_) => CloseCode::Protocol,
            FrameError::Gone(_) => CloseCode::Abnormal,
        }
    }

    /// From the codec's error; `limit` is the configured maximum (the codec enforces it per frame).
    pub fn from_codec(err: ProtocolError, limit: usize) -> FrameError {
        match err {
            ProtocolError::Overflow => FrameError::TooLarge { limit },
            ProtocolError::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => FrameError::BadUtf8,
            ProtocolError::Io(e) => FrameError::Gone(e.to_string()),
            other => FrameError::Protocol(other.to_string()),
        }
    }

    /// Text for the ABORT and the close frame.
    pub fn describe(&self) -> String {
        match self {
            FrameError::TooLarge { limit } => format!("message exceeds the maximum size of {limit} bytes"),
            FrameError::BadUtf8 => "text frame is not valid UTF-8".into(),
            FrameError::Protocol(e) => format!("WebSocket protocol error: {e}"),
            FrameError::Gone(e) => format!("connection lost: {e}"),
        }
    }
}

/// Reassembles fragmented messages up to `limit` bytes.
#[derive(Debug)]
pub struct Assembler {
    limit: usize,
    /// A fragmented message in progress: whether binary, and the bytes so far.
    partial: Option<(bool, BytesMut)>,
}

impl Assembler {
    pub fn new(limit: usize) -> Self {
        Assembler { limit, partial: None }
    }

    /// Takes one frame; yields something once a message (or control frame) is complete.
    pub fn push(&mut self, frame: Frame) -> Result<Option<Inbound>, FrameError> {
        let whole = match frame {
            Frame::Text(text) => Inbound::Data { binary: false, bytes: text.into_bytes() },
            Frame::Binary(bytes) => Inbound::Data { binary: true, bytes },
            Frame::Ping(bytes) => Inbound::Ping(bytes),
            Frame::Pong(_) => Inbound::Pong,
            Frame::Close(reason) => Inbound::Close(reason),
            Frame::Nop => return Ok(None),
            Frame::Continuation(item) => return self.continuation(item),
        };
        if let Inbound::Data { bytes, .. } = &whole {
            if self.partial.is_some() {
                return Err(FrameError::Protocol("data frame inside a fragmented message".into()));
            }
            self.check(bytes.len())?;
        }
        Ok(Some(whole))
    }

    fn continuation(&mut self, item: Item) -> Result<Option<Inbound>, FrameError> {
        let (first, binary, chunk, last) = match item {
            Item::FirstText(b) => (true, false, b, false),
            Item::FirstBinary(b) => (true, true, b, false),
            Item::Continue(b) => (false, false, b, false),
            Item::Last(b) => (false, false, b, true),
        };
        if first {
            if self.partial.is_some() {
                return Err(FrameError::Protocol("a new fragmented message started before the last ended".into()));
            }
            self.check(chunk.len())?;
            self.partial = Some((binary, BytesMut::from(&chunk[..])));
            return Ok(None);
        }
        let Some((binary, buf)) = self.partial.as_mut() else {
            return Err(FrameError::Protocol("continuation frame without a first fragment".into()));
        };
        let (binary, size) = (*binary, buf.len() + chunk.len());
        if size > self.limit {
            self.partial = None;
            return Err(FrameError::TooLarge { limit: self.limit });
        }
        buf.extend_from_slice(&chunk);
        if !last {
            return Ok(None);
        }
        let (_, buf) = self.partial.take().expect("checked just above");
        let bytes = buf.freeze();
        if !binary && std::str::from_utf8(&bytes).is_err() {
            return Err(FrameError::BadUtf8);
        }
        Ok(Some(Inbound::Data { binary, bytes }))
    }

    fn check(&self, size: usize) -> Result<(), FrameError> {
        if size > self.limit {
            return Err(FrameError::TooLarge { limit: self.limit });
        }
        Ok(())
    }
}

/// A close frame, its description cut to what a control frame can carry (123 bytes).
pub fn close_reason(code: CloseCode, description: &str) -> CloseReason {
    let mut end = description.len().min(123);
    while !description.is_char_boundary(end) {
        end -= 1;
    }
    CloseReason { code, description: Some(description[..end].to_owned()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn reassembles_fragments() {
        let mut a = Assembler::new(10);
        assert_eq!(a.push(Frame::Continuation(Item::FirstText(b("[1,")))), Ok(None));
        assert_eq!(a.push(Frame::Continuation(Item::Continue(b("2")))), Ok(None));
        let done = a.push(Frame::Continuation(Item::Last(b("]"))));
        assert_eq!(done, Ok(Some(Inbound::Data { binary: false, bytes: b("[1,2]") })));
    }

    #[test]
    fn limit_applies_across_fragments() {
        let mut a = Assembler::new(5);
        assert_eq!(a.push(Frame::Continuation(Item::FirstBinary(b("abc")))), Ok(None));
        assert_eq!(a.push(Frame::Continuation(Item::Last(b("def")))), Err(FrameError::TooLarge { limit: 5 }));
        assert_eq!(a.push(Frame::Binary(b("abcdef"))), Err(FrameError::TooLarge { limit: 5 }));
        assert!(matches!(a.push(Frame::Binary(b("abcde"))), Ok(Some(Inbound::Data { binary: true, .. }))));
    }

    #[test]
    fn out_of_order_fragments_are_protocol_errors() {
        let mut a = Assembler::new(100);
        assert!(matches!(a.push(Frame::Continuation(Item::Last(b("x")))), Err(FrameError::Protocol(_))));
        a.push(Frame::Continuation(Item::FirstText(b("x")))).expect("first");
        assert!(matches!(a.push(Frame::Text("y".into())), Err(FrameError::Protocol(_))));
    }

    #[test]
    fn fragmented_text_must_be_utf8() {
        let mut a = Assembler::new(100);
        a.push(Frame::Continuation(Item::FirstText(Bytes::from_static(&[0xE2, 0x82])))).expect("first");
        assert_eq!(a.push(Frame::Continuation(Item::Last(Bytes::from_static(&[0xFF])))), Err(FrameError::BadUtf8));
    }

    #[test]
    fn close_descriptions_fit_a_control_frame() {
        let long = "é".repeat(100);
        let reason = close_reason(CloseCode::Normal, &long);
        assert!(reason.description.expect("set").len() <= 123);
    }
}
