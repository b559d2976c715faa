//! The RawSocket opening handshake: pure functions over the 4 octets each side sends, no I/O.
//!
//! The client sends `0x7F, LLLL SSSS, 0, 0`: the largest message it accepts is `2^(9 + LLLL)`
//! octets and `SSSS` names its serializer (1 JSON, 2 MessagePack, 3 CBOR). The router answers
//! with the same shape (its own `LLLL`, the serializer echoed) or with an error
//! `0x7F, EEEE 0000, 0, 0`. A first octet other than `0x7F` is not RawSocket at all: the router
//! fails the connection without answering.
//!
//! Error 2 ("maximum message length unacceptable") is never sent: every `LLLL` a client can
//! announce (512 octets to 16 MiB) is served, and a message the client cannot take ends its
//! session when it comes up (see the connection's write).

use wamp::Serializer;

/// The first octet of every handshake.
pub const MAGIC: u8 = 0x7F;

/// The largest length exponent: `2^(9 + 15)` = 16 MiB.
pub const MAX_EXPONENT: u8 = 15;

/// Why the router refuses a handshake (the `EEEE` of the error reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 1: the serializer is not served here (or is 0, illegal).
    SerializerUnsupported = 1,
    /// 3: the reserved octets are not zero.
    ReservedBits = 3,
    /// 4: the transport's `max_connections` is reached.
    MaxConnections = 4,
}

impl Refusal {
    /// The 4-octet error reply.
    pub fn reply(self) -> [u8; 4] {
        [MAGIC, (self as u8) << 4, 0, 0]
    }

    pub fn describe(self) -> &'static str {
        match self {
            Refusal::SerializerUnsupported => "serializer unsupported",
            Refusal::ReservedBits => "use of reserved bits",
            Refusal::MaxConnections => "maximum connection count reached",
        }
    }
}

/// The router's answer to a client's 4 octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Go on with `serializer`; the client accepts messages up to `peer_limit` octets.
    Accept { serializer: Serializer, peer_limit: usize, reply: [u8; 4] },
    /// Send the refusal's reply, then close.
    Refuse(Refusal),
    /// Not a RawSocket client (wrong magic octet): close without a word.
    NotRawSocket,
}

/// Answers `request`; `our_exponent` announces the largest message the router accepts.
pub fn answer(request: [u8; 4], supported: &[Serializer], our_exponent: u8) -> Answer {
    let [magic, second, reserved @ ..] = request;
    if magic != MAGIC {
        return Answer::NotRawSocket;
    }
    if reserved != [0, 0] {
        return Answer::Refuse(Refusal::ReservedBits);
    }
    let Some(serializer) = Serializer::from_rawsocket_id(second & 0x0F).filter(|s| supported.contains(s)) else {
        return Answer::Refuse(Refusal::SerializerUnsupported);
    };
    let reply = [MAGIC, (our_exponent.min(MAX_EXPONENT) << 4) | serializer.rawsocket_id(), 0, 0];
    Answer::Accept { serializer, peer_limit: max_length(second >> 4), reply }
}

/// The message length an exponent announces: `2^(9 + exponent)`.
pub fn max_length(exponent: u8) -> usize {
    1 << (9 + usize::from(exponent.min(MAX_EXPONENT)))
}

/// The exponent to announce for a receive limit: the largest whose length does not exceed it, so
/// that a client keeping to the announcement never exceeds `max_message_size` (validated to be
/// at least 512 octets).
pub fn exponent_for(max_message_size: usize) -> u8 {
    (0..=MAX_EXPONENT).rev().find(|&e| max_length(e) <= max_message_size).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Serializer; 3] = Serializer::ALL;

    #[test]
    fn accepts_each_serializer_and_echoes_it_with_our_length() {
        for (id, serializer) in [(1, Serializer::Json), (2, Serializer::MsgPack), (3, Serializer::Cbor)] {
            let answer = answer([MAGIC, 0xF0 | id, 0, 0], &ALL, 10);
            let reply = [MAGIC, 0xA0 | id, 0, 0];
            assert_eq!(answer, Answer::Accept { serializer, peer_limit: 1 << 24, reply });
        }
    }

    #[test]
    fn the_peer_limit_follows_its_exponent() {
        let Answer::Accept { peer_limit, .. } = answer([MAGIC, 0x01, 0, 0], &ALL, 15) else { panic!("accepted") };
        assert_eq!(peer_limit, 512);
        let Answer::Accept { peer_limit, .. } = answer([MAGIC, 0x71, 0, 0], &ALL, 15) else { panic!("accepted") };
        assert_eq!(peer_limit, 65536);
    }

    #[test]
    fn refusals() {
        assert_eq!(answer([0x7E, 0xF1, 0, 0], &ALL, 15), Answer::NotRawSocket);
        assert_eq!(answer([b'G', b'E', b'T', b' '], &ALL, 15), Answer::NotRawSocket);
        assert_eq!(answer([MAGIC, 0xF1, 0, 1], &ALL, 15), Answer::Refuse(Refusal::ReservedBits));
        for unsupported in [0x00, 0xF4, 0xFF] {
            let refusal = answer([MAGIC, unsupported, 0, 0], &ALL, 15);
            assert_eq!(refusal, Answer::Refuse(Refusal::SerializerUnsupported));
        }
        let json_only = answer([MAGIC, 0xF2, 0, 0], &[Serializer::Json], 15);
        assert_eq!(json_only, Answer::Refuse(Refusal::SerializerUnsupported));
    }

    #[test]
    fn error_replies_have_the_code_in_the_upper_nibble() {
        assert_eq!(Refusal::SerializerUnsupported.reply(), [0x7F, 0x10, 0, 0]);
        assert_eq!(Refusal::ReservedBits.reply(), [0x7F, 0x30, 0, 0]);
        assert_eq!(Refusal::MaxConnections.reply(), [0x7F, 0x40, 0, 0]);
    }

    #[test]
    fn the_announced_exponent_never_exceeds_the_limit() {
        assert_eq!(exponent_for(16 * 1024 * 1024), 15);
        assert_eq!(exponent_for(16 * 1024 * 1024 - 1), 14);
        assert_eq!(exponent_for(1024), 1);
        assert_eq!(exponent_for(1500), 1);
        assert_eq!(exponent_for(512), 0);
    }
}
