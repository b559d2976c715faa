//! WebSocket subprotocol negotiation (`Sec-WebSocket-Protocol`): pure functions, no I/O.
//!
//! The client lists the subprotocols it accepts, most preferred first; the first one this
//! transport serves wins. Offering none of them is refused before the upgrade, with a body that
//! says what would have worked.

use wamp::Serializer;

/// Every subprotocol offered, in order, from the values of all `Sec-WebSocket-Protocol` headers.
pub fn offered<'a>(header_values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    header_values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The serializer for the first offered subprotocol that `supported` contains.
pub fn choose(offered: &[String], supported: &[Serializer]) -> Option<Serializer> {
    offered.iter().filter_map(|p| Serializer::from_subprotocol(p)).find(|s| supported.contains(s))
}

/// The body of the HTTP 400 answering a handshake that offered nothing usable.
pub fn refusal(offered: &[String], supported: &[Serializer]) -> String {
    let names: Vec<_> = supported.iter().map(|s| s.subprotocol()).collect();
    let what = if offered.is_empty() {
        "no WebSocket subprotocol was offered (Sec-WebSocket-Protocol)".to_owned()
    } else {
        format!("none of the offered WebSocket subprotocols ({}) is supported", offered.join(", "))
    };
    format!("{what}; this WAMP endpoint supports: {}\n", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Serializer; 3] = Serializer::ALL;

    #[test]
    fn client_preference_wins() {
        let offer = offered(["wamp.2.cbor, wamp.2.json", "wamp.2.msgpack"]);
        assert_eq!(offer, ["wamp.2.cbor", "wamp.2.json", "wamp.2.msgpack"]);
        assert_eq!(choose(&offer, &ALL), Some(Serializer::Cbor));
        assert_eq!(choose(&offer, &[Serializer::Json, Serializer::MsgPack]), Some(Serializer::Json));
    }

    #[test]
    fn unknown_or_unsupported_offers_are_skipped() {
        let offer = offered(["mqtt, wamp.2.xml,wamp.2.msgpack"]);
        assert_eq!(choose(&offer, &ALL), Some(Serializer::MsgPack));
        assert_eq!(choose(&offer, &[Serializer::Json]), None);
        assert_eq!(choose(&[], &ALL), None);
    }

    #[test]
    fn refusal_names_what_is_supported() {
        let body = refusal(&offered(["mqtt"]), &[Serializer::Json, Serializer::Cbor]);
        assert!(body.contains("(mqtt)"), "{body}");
        assert!(body.contains("supports: wamp.2.json, wamp.2.cbor"), "{body}");
        assert!(refusal(&[], &ALL).contains("no WebSocket subprotocol was offered"));
    }
}
