//! Validation of loaded settings: what serde cannot check, reported per key.
//!
//! Every problem names its key the way a reader finds it in the file (`transports[0].serializers`)
//! and says why. All problems are collected, so one `gateway check` run lists them all.

use std::collections::HashSet;
use std::fmt;
use std::net::ToSocketAddrs;

use wamp::uri::{self, MatchPolicy};
use wamp::Serializer;

use super::{BridgeConfig, RawSocketAddress, RawSocketSettings, Settings, TransportConfig, WebSocketSettings};

/// One problem with the settings: the offending key and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

#[derive(Default)]
pub(super) struct Report {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Report {
    pub(super) fn error(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(Problem { key: key.into(), reason: reason.into() });
    }

    pub(super) fn warn(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.warnings.push(Problem { key: key.into(), reason: reason.into() });
    }
}

pub(super) fn check(settings: &Settings) -> Report {
    let mut report = Report::default();
    transports(settings, &mut report);
    realms(settings, &mut report);
    bridges(settings, &mut report);
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&settings.log.level) {
        report.error("log.level", format!("not a valid log filter ({e})"));
    }
    for (key, reason) in settings.telemetry.problems() {
        report.error(key, reason);
    }
    report
}

fn transports(settings: &Settings, report: &mut Report) {
    if settings.transports.is_empty() {
        report.error("transports", "at least one transport is required");
    }
    let mut listens = HashSet::new();
    for (i, transport) in settings.transports.iter().enumerate() {
        let key = format!("transports[{i}]");
        // Port 0 means "any free port": several transports may ask for it on the same host.
        let any_port = transport.listen().ends_with(":0");
        if !any_port && !listens.insert(transport.listen()) {
            report
                .error(format!("{key}.listen"), format!("\"{}\" is used by an earlier transport", transport.listen()));
        }
        match transport {
            TransportConfig::WebSocket(ws) => websocket(&key, ws, report),
            TransportConfig::RawSocket(rs) => rawsocket(&key, rs, report),
        }
        tls(&key, transport, report);
        super::auth::check(&key, transport.auth(), settings, report);
    }
}

fn websocket(key: &str, ws: &WebSocketSettings, report: &mut Report) {
    tcp_address(key, &ws.listen, report);
    let path_ok = ws.path.starts_with('/') && !ws.path.contains(|c: char| c.is_whitespace() || c == '?' || c == '#');
    if !path_ok {
        report.error(
            format!("{key}.path"),
            format!("\"{}\" must start with '/' and contain no whitespace, '?' or '#'", ws.path),
        );
    }
    let limits = Limits {
        serializers: &ws.serializers,
        outbound_queue: ws.outbound_queue,
        ping_interval_ms: ws.ping_interval_ms,
        pong_timeout_ms: ws.pong_timeout_ms,
    };
    session_limits(key, &limits, report);
    if ws.max_message_size == 0 {
        report.error(format!("{key}.max_message_size"), "must be at least 1 byte");
    }
}

/// The smallest and largest message limits a RawSocket handshake can announce (2^9 and 2^24).
const RAWSOCKET_MIN_MESSAGE: usize = 1 << 9;
const RAWSOCKET_MAX_MESSAGE: usize = 1 << 24;

fn rawsocket(key: &str, rs: &RawSocketSettings, report: &mut Report) {
    match (&rs.listen, &rs.unix) {
        (Some(_), Some(_)) => report.error(format!("{key}.unix"), "give either `listen` or `unix`, not both"),
        (_, Some(path)) if path.as_os_str().is_empty() => report.error(format!("{key}.unix"), "must not be empty"),
        (_, Some(_)) if rs.tls.is_some() => report.error(
            format!("{key}.tls"),
            "TLS is not served on Unix sockets (the socket file's permissions decide who connects)",
        ),
        _ => {}
    }
    if let RawSocketAddress::Tcp(listen) = rs.address() {
        tcp_address(key, listen, report);
    }
    let limits = Limits {
        serializers: &rs.serializers,
        outbound_queue: rs.outbound_queue,
        ping_interval_ms: rs.ping_interval_ms,
        pong_timeout_ms: rs.pong_timeout_ms,
    };
    session_limits(key, &limits, report);
    if !(RAWSOCKET_MIN_MESSAGE..=RAWSOCKET_MAX_MESSAGE).contains(&rs.max_message_size) {
        report.error(
            format!("{key}.max_message_size"),
            format!("must be between {RAWSOCKET_MIN_MESSAGE} and {RAWSOCKET_MAX_MESSAGE} bytes (what the RawSocket handshake can announce)"),
        );
    }
}

fn tcp_address(key: &str, listen: &str, report: &mut Report) {
    let resolves = listen.to_socket_addrs().map(|mut addrs| addrs.next().is_some()).unwrap_or(false);
    if !resolves {
        report.error(format!("{key}.listen"), format!("\"{listen}\" is not a HOST:PORT address"));
    }
}

/// The per-session keys both transport kinds share.
struct Limits<'a> {
    serializers: &'a [String],
    outbound_queue: usize,
    ping_interval_ms: u64,
    pong_timeout_ms: u64,
}

fn session_limits(key: &str, limits: &Limits<'_>, report: &mut Report) {
    if limits.serializers.is_empty() {
        report.error(format!("{key}.serializers"), "at least one serializer is required");
    }
    let mut seen = HashSet::new();
    for name in limits.serializers {
        if Serializer::from_name(name).is_none() {
            let known: Vec<_> = Serializer::ALL.iter().map(|s| s.name()).collect();
            report.error(
                format!("{key}.serializers"),
                format!("unknown serializer \"{name}\" (supported: {})", known.join(", ")),
            );
        } else if !seen.insert(name) {
            report.error(format!("{key}.serializers"), format!("\"{name}\" is listed twice"));
        }
    }
    if limits.outbound_queue == 0 {
        report.error(format!("{key}.outbound_queue"), "must be at least 1 message");
    }
    if limits.ping_interval_ms > 0 && limits.pong_timeout_ms == 0 {
        report.error(format!("{key}.pong_timeout_ms"), "must be above 0 when ping_interval_ms is");
    }
    if limits.pong_timeout_ms == 0 {
        report.error(format!("{key}.pong_timeout_ms"), "must be above 0 (it also bounds how long a write may block)");
    }
}

/// The `tls` files must be readable now (not at the first connection), and `auth.tls` needs the
/// client certificates that only `tls.client_ca` asks for. (Its role is checked with the other
/// methods' in `auth::check`.)
fn tls(key: &str, transport: &TransportConfig, report: &mut Report) {
    if let Some(tls) = transport.tls() {
        let files = [("cert", Some(&tls.cert)), ("key", Some(&tls.key)), ("client_ca", tls.client_ca.as_ref())];
        for (name, path) in files {
            if let Some(path) = path.filter(|p| !p.is_file()) {
                report.error(format!("{key}.tls.{name}"), format!("{} is not a readable file", path.display()));
            }
        }
    }
    if transport.auth().and_then(|a| a.tls.as_ref()).is_none() {
        return;
    }
    if transport.tls().is_none_or(|t| t.client_ca.is_none()) {
        report.error(
            format!("{key}.auth.tls"),
            "needs `tls = { cert, key, client_ca }` on this transport: only a verified client certificate has a CN to authenticate",
        );
    }
}

fn realms(settings: &Settings, report: &mut Report) {
    if settings.realms.is_empty() {
        report.error("realms", "at least one realm is required");
    }
    let rules = settings.uri_check;
    let mut names = HashSet::new();
    for (i, realm) in settings.realms.iter().enumerate() {
        let key = format!("realms[{i}]");
        if !uri::is_valid(&realm.name, rules, MatchPolicy::Exact) {
            report.error(format!("{key}.name"), format!("\"{}\" is not a valid URI", realm.name));
        }
        if !names.insert(realm.name.as_str()) {
            report.error(format!("{key}.name"), format!("realm \"{}\" is defined twice", realm.name));
        }
        let mut roles = HashSet::new();
        for (j, role) in realm.roles.iter().enumerate() {
            let key = format!("{key}.roles[{j}]");
            if role.name.is_empty() {
                report.error(format!("{key}.name"), "must not be empty");
            }
            if !roles.insert(role.name.as_str()) {
                report.error(format!("{key}.name"), format!("role \"{}\" is defined twice in this realm", role.name));
            }
            for (k, p) in role.permissions.iter().enumerate() {
                // The empty prefix ("everything") is legal whatever the URI rules say.
                let everything = p.uri.is_empty() && p.match_ == MatchPolicy::Prefix;
                if !everything && !uri::is_valid(&p.uri, rules, p.match_) {
                    report.error(
                        format!("{key}.permissions[{k}].uri"),
                        format!("\"{}\" is not a valid URI for match = \"{}\"", p.uri, p.match_.name()),
                    );
                }
            }
        }
    }
}

fn bridges(settings: &Settings, report: &mut Report) {
    for (i, bridge) in settings.bridges.iter().enumerate() {
        let key = format!("bridges[{i}]");
        let Some(realm) = settings.realms.iter().find(|r| r.name == bridge.realm()) else {
            report.error(format!("{key}.realm"), format!("realm \"{}\" is not defined in [[realms]]", bridge.realm()));
            continue;
        };
        if !realm.roles.iter().any(|r| r.name == bridge.authrole()) {
            report.error(
                format!("{key}.authrole"),
                format!(
                    "role \"{}\" is not defined in realm \"{}\" (the bridge joins with it)",
                    bridge.authrole(),
                    realm.name
                ),
            );
        }
        match bridge {
            BridgeConfig::Postgres(pg) => {
                if let Err(e) = pg.validate() {
                    report.error(key.clone(), e.to_string());
                }
                if pg.expose.is_empty() {
                    report.warn(format!("{key}.expose"), "no schema exposed: the bridge only delivers events");
                }
            }
            BridgeConfig::Oracle(ora) => {
                if let Err(e) = ora.validate() {
                    report.error(key.clone(), e.to_string());
                }
                if ora.expose.is_empty() {
                    report.warn(format!("{key}.expose"), "no package exposed: the bridge only delivers events");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toml: &str) -> Vec<String> {
        let settings = Settings::from_toml_str(toml).expect("parses");
        check(&settings).errors.iter().map(|p| p.to_string()).collect()
    }

    const REALM: &str = "[[realms]]\nname = \"realm1\"\n";

    #[test]
    fn transport_problems_name_their_key() {
        let toml = format!(
            "[[transports]]\ntype = \"websocket\"\nlisten = \"nowhere\"\npath = \"ws\"\nserializers = [\"json\", \"xml\", \"json\"]\nmax_message_size = 0\n{REALM}"
        );
        let found = problems(&toml);
        assert!(
            found.contains(&"transports[0].listen: \"nowhere\" is not a HOST:PORT address".to_string()),
            "{found:?}"
        );
        assert!(found.iter().any(|p| p.starts_with("transports[0].path: ")), "{found:?}");
        assert!(found.iter().any(|p| p.starts_with("transports[0].serializers: unknown serializer \"xml\"")));
        assert!(found.iter().any(|p| p.starts_with("transports[0].serializers: \"json\" is listed twice")));
        assert!(found.iter().any(|p| p.starts_with("transports[0].max_message_size: ")));
    }

    #[test]
    fn realm_problems_name_their_key() {
        let toml = "[[transports]]\ntype = \"websocket\"\n[[realms]]\nname = \"\"\n[[realms]]\nname = \"a\"\n[[realms]]\nname = \"a\"\n";
        let found = problems(toml);
        assert!(found.iter().any(|p| p.starts_with("realms[0].name: ")), "{found:?}");
        assert!(found.contains(&"realms[2].name: realm \"a\" is defined twice".to_string()), "{found:?}");
    }

    #[test]
    fn bridge_problems_name_their_key() {
        let toml = format!(
            "[[transports]]\ntype = \"websocket\"\n{REALM}[[bridges]]\ntype = \"postgres\"\nrealm = \"nope\"\ndsn = \"host=x\"\n\
             [[bridges]]\ntype = \"postgres\"\nrealm = \"realm1\"\ndsn = \"host=x\"\npool_size = 0\n"
        );
        let found = problems(&toml);
        assert!(
            found.contains(&"bridges[0].realm: realm \"nope\" is not defined in [[realms]]".to_string()),
            "{found:?}"
        );
        assert!(
            found.iter().any(|p| p.starts_with("bridges[1].authrole: role \"bridge\" is not defined")),
            "{found:?}"
        );
        assert!(found.contains(&"bridges[1]: bridges.pool_size must be at least 1".to_string()), "{found:?}");
    }

    #[test]
    fn a_listen_address_is_used_once_except_port_0() {
        let two = |listen: &str| {
            format!("[[transports]]\ntype = \"websocket\"\nlisten = \"{listen}\"\n[[transports]]\ntype = \"websocket\"\nlisten = \"{listen}\"\n{REALM}")
        };
        assert_eq!(problems(&two("127.0.0.1:0")), Vec::<String>::new());
        assert_eq!(
            problems(&two("127.0.0.1:8080")),
            ["transports[1].listen: \"127.0.0.1:8080\" is used by an earlier transport"]
        );
    }

    #[test]
    fn nothing_to_serve_is_an_error() {
        let found = problems("");
        assert!(found.contains(&"transports: at least one transport is required".to_string()));
        assert!(found.contains(&"realms: at least one realm is required".to_string()));
    }

    #[test]
    fn rawsocket_problems_name_their_key() {
        let toml = format!(
            "[[transports]]\ntype = \"rawsocket\"\nlisten = \"127.0.0.1:0\"\nunix = \"/tmp/x.sock\"\nmax_message_size = 100\nserializers = [\"xml\"]\n{REALM}"
        );
        let found = problems(&toml);
        assert!(
            found.contains(&"transports[0].unix: give either `listen` or `unix`, not both".to_string()),
            "{found:?}"
        );
        assert!(found.iter().any(|p| p.starts_with("transports[0].max_message_size: must be between 512")));
        assert!(found.iter().any(|p| p.starts_with("transports[0].serializers: unknown serializer \"xml\"")));
        let over = format!("[[transports]]\ntype = \"rawsocket\"\nmax_message_size = 16777217\n{REALM}");
        assert!(problems(&over).iter().any(|p| p.starts_with("transports[0].max_message_size: ")));
        let fine =
            format!("[[transports]]\ntype = \"rawsocket\"\nunix = \"/tmp/x.sock\"\nmax_message_size = 512\n{REALM}");
        assert_eq!(problems(&fine), Vec::<String>::new());
    }

    #[test]
    fn tls_problems_name_their_key() {
        let toml = format!(
            "[[transports]]\ntype = \"websocket\"\ntls = {{ cert = \"/nonexistent/cert.pem\", key = \"/nonexistent/key.pem\" }}\n[transports.auth.tls]\nrole = \"device\"\n{REALM}"
        );
        let found = problems(&toml);
        assert!(found.contains(&"transports[0].tls.cert: /nonexistent/cert.pem is not a readable file".to_string()));
        assert!(found.iter().any(|p| p.starts_with("transports[0].tls.key: ")), "{found:?}");
        assert!(found.iter().any(|p| p.starts_with("transports[0].auth.tls: needs `tls = { cert, key, client_ca }`")));
        let unix = format!(
            "[[transports]]\ntype = \"rawsocket\"\nunix = \"/tmp/x.sock\"\ntls = {{ cert = \"c\", key = \"k\" }}\n{REALM}"
        );
        assert!(problems(&unix).iter().any(|p| p.starts_with("transports[0].tls: TLS is not served on Unix sockets")));
    }

    #[test]
    fn relative_paths_are_relative_to_the_configuration_file() {
        let toml = "[[transports]]\ntype = \"rawsocket\"\nunix = \"run/x.sock\"\ntls = { cert = \"c.pem\", key = \"/abs/k.pem\", client_ca = \"ca.pem\" }\n";
        let mut settings = Settings::from_toml_str(toml).expect("parses");
        settings.transports[0].resolve_paths(std::path::Path::new("/etc/gateway"));
        let TransportConfig::RawSocket(rs) = &settings.transports[0] else { panic!("a rawsocket transport") };
        let tls = rs.tls.as_ref().expect("tls");
        assert_eq!(rs.unix.as_deref(), Some(std::path::Path::new("/etc/gateway/run/x.sock")));
        assert_eq!(tls.cert, std::path::Path::new("/etc/gateway/c.pem"));
        assert_eq!(tls.key, std::path::Path::new("/abs/k.pem"));
        assert_eq!(tls.client_ca.as_deref(), Some(std::path::Path::new("/etc/gateway/ca.pem")));
    }

    #[test]
    fn missing_auth_and_unknown_role_warn() {
        let toml = format!("[[transports]]\ntype = \"websocket\"\n{REALM}[[transports]]\ntype = \"websocket\"\nlisten = \"127.0.0.1:1\"\n[transports.auth.anonymous]\nrole = \"guest\"\n");
        let settings = Settings::from_toml_str(&toml).expect("parses");
        let report = check(&settings);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let warnings: Vec<_> = report.warnings.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(warnings, ["transports[0].auth", "transports[1].auth.anonymous.role"]);
    }
}
