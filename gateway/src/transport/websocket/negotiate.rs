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

/// Whether a browser `origin` matches one of `patterns` (lower-cased; `*` matches any run of
/// characters, everything else itself; origins compare case-insensitively).
pub fn origin_allowed(patterns: &[String], origin: &str) -> bool {
    let origin = origin.to_ascii_lowercase();
    patterns.iter().any(|p| glob(p.as_bytes(), origin.as_bytes()))
}

/// `*`-only glob matching, iterative with one backtrack point (linear in practice).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
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

    #[test]
    fn origins_match_patterns_with_stars_case_insensitively() {
        let patterns: Vec<String> = ["https://app.example.com", "https://*.example.org", "http://localhost:*"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(origin_allowed(&patterns, "https://app.example.com"));
        assert!(origin_allowed(&patterns, "HTTPS://App.Example.com"));
        assert!(origin_allowed(&patterns, "https://a.b.example.org"));
        assert!(origin_allowed(&patterns, "http://localhost:5173"));
        assert!(!origin_allowed(&patterns, "https://evil.com"));
        assert!(!origin_allowed(&patterns, "https://app.example.com.evil.com"));
        assert!(!origin_allowed(&patterns, "http://app.example.com"));
        assert!(!origin_allowed(&patterns, "https://example.org"), "*. needs a subdomain");
        assert!(!origin_allowed(&patterns, "null"));
        assert!(origin_allowed(&["*".to_string()], "null"));
        assert!(!origin_allowed(&[], "https://app.example.com"), "an empty list allows no browser");
    }
}
