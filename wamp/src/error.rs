//! Protocol-level errors: malformed bytes, bad message shapes, invalid URIs.

use thiserror::Error;

/// Why an incoming frame could not become a [`crate::Message`]. Every variant ends only the session
/// that sent the frame (ABORT `wamp.error.protocol_violation` with this text as the message).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ProtocolError {
    #[error("cannot decode {serializer} frame: {reason}")]
    Decode { serializer: &'static str, reason: String },
    #[error("a WAMP message must be a non-empty list")]
    NotAList,
    #[error("unknown message type {0}")]
    UnknownType(u64),
    #[error("{message} is missing its {element}")]
    MissingElement { message: &'static str, element: &'static str },
    #[error("{message} {element} must be {expected}, not {got}")]
    BadElement { message: &'static str, element: &'static str, expected: &'static str, got: &'static str },
    #[error("{message} has elements beyond the spec's")]
    TrailingElements { message: &'static str },
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
}
