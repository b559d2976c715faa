//! Serializers: bytes ⇄ [`Value`] ⇄ [`Message`] for JSON, MessagePack and CBOR.
//!
//! Each serializer only knows its byte format; the message shape rules live in
//! [`Message::from_value`]. JSON frames travel as WebSocket *text*, the other two as *binary*.
//!
//! ## Guarantees shared by the three decoders
//! - Decoding never panics and never recurses deeper than [`MAX_DEPTH`] nested lists/dicts, so a
//!   hostile frame cannot overflow the stack.
//! - No allocation is sized by a length the peer claims: a container's claimed element count is
//!   checked against the bytes left in the frame before anything is reserved, and reservations are
//!   capped, so a 5-byte frame claiming 4 billion elements fails at once.
//! - The whole frame must be exactly one value: trailing bytes are an error.
//! - Dict keys must be strings; a repeated key keeps its first position and its last value.
//!
//! ## Encoding
//! Encoders write straight into one `Vec<u8>`. [`Serializer::encode`] walks the message by
//! reference (see `elements`), so encoding a message copies no payload into an intermediate
//! [`Value`]. Integers use their shortest form; floats are always 64-bit (MessagePack `float 64`,
//! CBOR `fb`) so a float survives any serializer unchanged.

mod cbor;
mod elements;
mod json;
mod msgpack;
#[cfg(test)]
mod tests;

use crate::error::ProtocolError;
use crate::message::Message;
use crate::value::Value;

/// The deepest nesting of lists and dicts a decoder accepts, counting the message's own list.
/// WAMP messages nest two levels before the application payload starts; 100 leaves applications
/// plenty while bounding stack use per frame.
pub const MAX_DEPTH: usize = 100;

/// The most elements a decoder reserves room for up front. Larger containers grow as elements
/// actually arrive, so memory follows the bytes received, never the lengths claimed.
const MAX_PREALLOC: usize = 64;

/// One of the three supported WAMP serializers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Serializer {
    Json,
    MsgPack,
    Cbor,
}

impl Serializer {
    pub const ALL: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

    /// The short name used in configuration (`json`, `msgpack`, `cbor`).
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    pub fn from_name(name: &str) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The WebSocket subprotocol, e.g. `wamp.2.json`.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    pub fn from_subprotocol(p: &str) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|s| s.subprotocol() == p)
    }

    /// The RawSocket handshake serializer id (1 JSON, 2 MessagePack, 3 CBOR).
    pub fn rawsocket_id(self) -> u8 {
        match self {
            Serializer::Json => 1,
            Serializer::MsgPack => 2,
            Serializer::Cbor => 3,
        }
    }

    pub fn from_rawsocket_id(id: u8) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|s| s.rawsocket_id() == id)
    }

    /// Whether frames are binary (MessagePack, CBOR) rather than text (JSON).
    pub fn is_binary(self) -> bool {
        !matches!(self, Serializer::Json)
    }

    /// Encodes a generic value.
    ///
    /// JSON cannot carry every value exactly: non-finite floats become `null`, and a string that
    /// starts with `U+0000` is read back as binary by any WAMP peer (the spec's binary convention).
    pub fn encode_value(self, value: &Value) -> Vec<u8> {
        match self {
            Serializer::Json => json::encode(value),
            Serializer::MsgPack => msgpack::encode(value),
            Serializer::Cbor => cbor::encode(value),
        }
    }

    /// Decodes one whole frame into a generic value. Never panics, whatever the bytes.
    pub fn decode_value(self, bytes: &[u8]) -> Result<Value, ProtocolError> {
        match self {
            Serializer::Json => json::decode(bytes),
            Serializer::MsgPack => msgpack::decode(bytes),
            Serializer::Cbor => cbor::decode(bytes),
        }
    }

    /// Encodes a message. Produces the same bytes as `encode_value(&msg.to_value())` without
    /// cloning the message.
    pub fn encode(self, msg: &Message) -> Vec<u8> {
        let elements = elements::of(msg);
        match self {
            Serializer::Json => json::encode_elements(elements.as_slice()),
            Serializer::MsgPack => msgpack::encode_elements(elements.as_slice()),
            Serializer::Cbor => cbor::encode_elements(elements.as_slice()),
        }
    }

    /// Decodes one whole frame into a message. Never panics, whatever the bytes.
    pub fn decode(self, bytes: &[u8]) -> Result<Message, ProtocolError> {
        Message::from_value(self.decode_value(bytes)?)
    }
}

/// A decode error for `serializer` with a human-readable reason.
fn decode_error(serializer: &'static str, reason: impl Into<String>) -> ProtocolError {
    ProtocolError::Decode { serializer, reason: reason.into() }
}
