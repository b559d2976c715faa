//! URI validation (loose and strict rules) and pattern matching, per the WAMP spec.
//!
//! A URI is a sequence of *components* separated by `.`. Which components are allowed depends on
//! the rules in force and on how the URI is used:
//!
//! | rules    | a non-empty component may contain                        |
//! |----------|----------------------------------------------------------|
//! | `loose`  | anything but `.`, `#` and (Unicode) whitespace           |
//! | `strict` | only `0-9`, `a-z` and `_`                                |
//!
//! | policy     | empty components                                   | whole URI `""` |
//! |------------|----------------------------------------------------|----------------|
//! | `exact`    | none                                               | invalid        |
//! | `wildcard` | any (each matches exactly one component)           | invalid        |
//! | `prefix`   | only the last, so `com.myapp.` is valid            | valid          |
//!
//! These are the spec's regular expressions (and Crossbar's checks) for the three cases: "disallowing
//! empty components", "allowing empty components", and "disallowing empty URI components in all
//! but the last component". One deliberate deviation: the spec's wildcard expression also accepts
//! the empty string, a pattern with a single empty component; we reject it, so an empty URI is only
//! ever a prefix pattern — the one that matches everything, as in a permission on `""` with prefix
//! match.
//!
//! Prefix matching is plain string prefix, not per component: the spec's own example has the
//! prefix `com.myapp.topic.emergency` match `com.myapp.topic.emergency-low`. A subscriber that
//! wants whole components only ends its prefix with `.`.
//!
//! [`is_valid`] does not check the reserved first component `wamp` (see [`is_reserved`]): the
//! router itself uses such URIs, so whether a peer may is an authorization decision.

/// How a URI in a REGISTER/SUBSCRIBE is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchPolicy {
    #[default]
    Exact,
    Prefix,
    Wildcard,
}

impl MatchPolicy {
    /// The name used in `Options.match` and in configuration.
    pub fn name(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }

    /// Parses an `Options.match` value; `None` for anything the spec does not define.
    pub fn from_name(s: &str) -> Option<MatchPolicy> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }

    /// Whether a URI matches `pattern` under this policy.
    pub fn matches(self, pattern: &str, uri: &str) -> bool {
        match self {
            MatchPolicy::Exact => pattern == uri,
            MatchPolicy::Prefix => prefix_matches(pattern, uri),
            MatchPolicy::Wildcard => wildcard_matches(pattern, uri),
        }
    }
}

/// Which URI rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UriRules {
    #[default]
    Loose,
    Strict,
}

/// Whether `uri` is valid under `rules` for use with `policy`: empty components only for wildcard
/// patterns, an empty last component (a URI that is empty or ends with `.`) only for prefix
/// patterns. See the [module documentation](self) for the full rules.
pub fn is_valid(uri: &str, rules: UriRules, policy: MatchPolicy) -> bool {
    if uri.is_empty() {
        return policy == MatchPolicy::Prefix;
    }
    if policy == MatchPolicy::Exact && rules == UriRules::Loose && uri.is_ascii() {
        // Every CALL and PUBLISH comes here: one pass over the bytes instead of splitting.
        return exact_loose_ascii(uri.as_bytes());
    }
    let mut components = uri.split('.').peekable();
    while let Some(component) = components.next() {
        let ok = if component.is_empty() {
            match policy {
                MatchPolicy::Exact => false,
                MatchPolicy::Wildcard => true,
                MatchPolicy::Prefix => components.peek().is_none(),
            }
        } else {
            component_is_valid(component, rules)
        };
        if !ok {
            return false;
        }
    }
    true
}

/// [`is_valid`] for an ASCII URI, exact match, loose rules: no empty component, no `#`, no whitespace.
fn exact_loose_ascii(uri: &[u8]) -> bool {
    let mut previous = b'.';
    for &b in uri {
        if (b == b'.' && previous == b'.') || b == b'#' || matches!(b, b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r' | b' ') {
            return false;
        }
        previous = b;
    }
    previous != b'.'
}

fn component_is_valid(component: &str, rules: UriRules) -> bool {
    match rules {
        UriRules::Loose => !component.chars().any(|c| c == '#' || c.is_whitespace()),
        UriRules::Strict => component.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_')),
    }
}

/// Whether `uri` starts with the reserved component `wamp` (spec: application URIs MUST NOT).
pub fn is_reserved(uri: &str) -> bool {
    uri == "wamp" || uri.starts_with("wamp.")
}

/// Whether `uri` matches a wildcard `pattern`: both have the same number of components and each
/// pattern component is empty (matching any one component) or equal to the URI's.
pub fn wildcard_matches(pattern: &str, uri: &str) -> bool {
    let mut pattern = pattern.split('.');
    let mut uri = uri.split('.');
    loop {
        match (pattern.next(), uri.next()) {
            (None, None) => return true,
            (Some(p), Some(u)) if p.is_empty() || p == u => {}
            _ => return false,
        }
    }
}

/// Whether `uri` matches a prefix pattern: a plain string prefix, so `""` matches every URI and
/// `com.a` matches `com.a`, `com.a.b` and `com.ab` alike (the spec's and Crossbar's behaviour).
pub fn prefix_matches(prefix: &str, uri: &str) -> bool {
    uri.starts_with(prefix)
}

#[cfg(test)]
mod tests {

    /// The ASCII fast path agrees with the component-by-component rules.
    #[test]
    fn the_exact_loose_fast_path_agrees_with_the_general_rules() {
        let general = |uri: &str| {
            uri.split('.').all(|c| !c.is_empty() && !c.chars().any(|ch| ch == '#' || ch.is_whitespace()))
        };
        let cases = [
            "a", "a.b", "com.example.add", ".a", "a.", "a..b", ".", "..", "a#b", "a b", "a\tb", "a\u{b}b", "a\u{c}b",
            "a\rb", "a\nb", "a\u{1f}b", "A-B_c:9", "a.b.", "x.y.z.w", "#", " ", "a.\u{b}",
        ];
        for uri in cases {
            assert_eq!(is_valid(uri, UriRules::Loose, MatchPolicy::Exact), general(uri), "{uri:?}");
        }
        // Non-ASCII takes the general path (U+00A0 is whitespace, U+00E9 is not).
        assert!(!is_valid("a\u{a0}b", UriRules::Loose, MatchPolicy::Exact));
        assert!(is_valid("caf\u{e9}.menu", UriRules::Loose, MatchPolicy::Exact));
    }

    use super::*;
    use MatchPolicy::{Exact, Prefix, Wildcard};
    use UriRules::{Loose, Strict};

    /// (uri, loose exact, loose prefix, loose wildcard, strict exact, strict prefix, strict wildcard)
    const VALIDITY: &[(&str, [bool; 6])] = &[
        ("com.myapp.topic1", [true, true, true, true, true, true]),
        ("a", [true, true, true, true, true, true]),
        ("wamp.error.not_authorized", [true, true, true, true, true, true]),
        ("com.my_app.v2", [true, true, true, true, true, true]),
        ("Com.MyApp.Topic", [true, true, true, false, false, false]),
        ("com.my-app.über", [true, true, true, false, false, false]),
        ("com.app.$x:y/z", [true, true, true, false, false, false]),
        ("", [false, true, false, false, true, false]),
        ("com.myapp.", [false, true, true, false, true, true]),
        (".", [false, false, true, false, false, true]),
        ("..", [false, false, true, false, false, true]),
        (".com.myapp", [false, false, true, false, false, true]),
        ("com..myapp", [false, false, true, false, false, true]),
        ("com..myapp.", [false, false, true, false, false, true]),
        ("com.my app", [false, false, false, false, false, false]),
        ("com.app\t", [false, false, false, false, false, false]),
        ("com.app\u{a0}x", [false, false, false, false, false, false]),
        ("com.#app", [false, false, false, false, false, false]),
        ("com.app#", [false, false, false, false, false, false]),
        ("com..my app", [false, false, false, false, false, false]),
        (" ", [false, false, false, false, false, false]),
    ];

    #[test]
    fn validity_table() {
        let combos = [(Loose, Exact), (Loose, Prefix), (Loose, Wildcard), (Strict, Exact), (Strict, Prefix), (Strict, Wildcard)];
        for (uri, expected) in VALIDITY {
            for ((rules, policy), want) in combos.iter().zip(expected) {
                assert_eq!(is_valid(uri, *rules, *policy), *want, "{uri:?} {rules:?} {policy:?}");
            }
        }
    }

    #[test]
    fn wildcard_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("com.myapp..userevent", "com.myapp.foo.userevent", true),
            ("com.myapp..userevent", "com.myapp.a12.userevent", true),
            ("com.myapp..userevent", "com.myapp.foo.userevent.bar", false),
            ("com.myapp..userevent", "com.myapp.foo.user", false),
            ("com.myapp..userevent", "com.myapp2.foo.userevent", false),
            ("com.myapp..userevent", "com.myapp.userevent", false),
            ("..", "a.b.c", true),
            ("..", "a.b", false),
            (".b.", "a.b.c", true),
            (".b.", "a.x.c", false),
            ("a.b.c", "a.b.c", true),
            ("a.b.c", "a.b.cd", false),
            ("a.b.", "a.b.c", true),
            ("a.b.", "a.b", false),
        ];
        for (pattern, uri, want) in cases {
            assert_eq!(wildcard_matches(pattern, uri), *want, "{pattern:?} ~ {uri:?}");
            assert_eq!(Wildcard.matches(pattern, uri), *want);
        }
    }

    #[test]
    fn prefix_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("com.myapp.topic.emergency", "com.myapp.topic.emergency.11", true),
            ("com.myapp.topic.emergency", "com.myapp.topic.emergency-low", true),
            ("com.myapp.topic.emergency", "com.myapp.topic.emergency.category.severe", true),
            ("com.myapp.topic.emergency", "com.myapp.topic.emergency", true),
            ("com.myapp.topic.emergency", "com.myapp.topic.emerge", false),
            ("com.myapp.", "com.myapp.x", true),
            ("com.myapp.", "com.myapp", false),
            ("", "anything.at.all", true),
            ("b", "a.b", false),
        ];
        for (prefix, uri, want) in cases {
            assert_eq!(prefix_matches(prefix, uri), *want, "{prefix:?} ~ {uri:?}");
            assert_eq!(Prefix.matches(prefix, uri), *want);
        }
        assert!(Exact.matches("a.b", "a.b") && !Exact.matches("a.b", "a.b.c"));
    }

    #[test]
    fn reserved_uris() {
        assert!(is_reserved("wamp.error.not_authorized"));
        assert!(is_reserved("wamp"));
        assert!(!is_reserved("wampx.topic"));
        assert!(!is_reserved("com.wamp"));
    }

    #[test]
    fn policy_names_round_trip() {
        for p in [Exact, Prefix, Wildcard] {
            assert_eq!(MatchPolicy::from_name(p.name()), Some(p));
        }
        assert_eq!(MatchPolicy::from_name("regex"), None);
        assert_eq!(MatchPolicy::default(), Exact);
        assert_eq!(UriRules::default(), Loose);
    }
}
