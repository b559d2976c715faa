//! The built-in configuration and environment overrides.

use gateway::config::{
    AnonymousAuth, AuthConfig, ConfigSource, LogSettings, Settings, ShutdownSettings, TransportConfig,
    WebSocketSettings, BUILTIN_TOML,
};
use serde_json::json;
use wamp::router::RealmConfig;
use wamp::uri::UriRules;

fn as_json(settings: &Settings) -> serde_json::Value {
    serde_json::to_value(settings).expect("settings serialize")
}

#[test]
fn the_builtin_configuration_is_the_documented_one() {
    let builtin = Settings::builtin();
    let TransportConfig::WebSocket(ws) = &builtin.transports[0] else { panic!("transport 0 is a websocket") };
    assert_eq!(builtin.transports.len(), 1);
    assert_eq!(ws.listen, "127.0.0.1:8080");
    assert_eq!(ws.path, "/ws");
    assert_eq!(ws.serializers, ["json", "msgpack", "cbor"]);
    assert_eq!(ws.max_message_size, 16 * 1024 * 1024);
    assert_eq!(ws.auth.as_ref().and_then(|a| a.anonymous.as_ref()).map(|a| a.role.as_str()), Some("anonymous"));
    assert_eq!(builtin.realms.len(), 1);
    assert_eq!(builtin.realms[0].name, "realm1");
    assert!(builtin.validate().expect("valid").is_empty(), "the built-in configuration has no warnings");

    // Every value the file writes out is the code's default: deleting a line changes nothing.
    let defaults = Settings {
        transports: vec![TransportConfig::WebSocket(WebSocketSettings {
            auth: Some(AuthConfig {
                anonymous: Some(AnonymousAuth { role: "anonymous".into() }),
                ..AuthConfig::default()
            }),
            ..WebSocketSettings::default()
        })],
        realms: vec![RealmConfig::default_realm()],
        uri_check: UriRules::Loose,
        log: LogSettings::default(),
        shutdown: ShutdownSettings::default(),
        telemetry: gateway::config::TelemetrySettings::default(),
        bridges: Vec::new(),
    };
    assert_eq!(as_json(&builtin), as_json(&defaults));

    // And a file with only the keys that have no default means the same.
    let minimal = Settings::from_toml_str(
        r#"
        [[transports]]
        type = "websocket"
        [transports.auth.anonymous]
        [[realms]]
        name = "realm1"
        [[realms.roles]]
        name = "anonymous"
        permissions = [{ uri = "", match = "prefix", call = true, register = true, publish = true, subscribe = true, disclose_caller = true, disclose_publisher = true }]
        "#,
    )
    .expect("parses");
    assert_eq!(as_json(&minimal), as_json(&builtin));
}

#[test]
fn the_builtin_file_documents_every_key() {
    let documented = [
        "uri_check",
        "type",
        "listen",
        "path",
        "serializers",
        "max_message_size",
        "outbound_queue",
        "ping_interval_ms",
        "pong_timeout_ms",
        "close_grace_ms",
        "[transports.auth.anonymous]",
        "role",
        "[transports.auth.ticket.principals.",
        "ticket =",
        "[transports.auth.wampcra.users.",
        "secret =",
        "salt =",
        "iterations =",
        "keylen =",
        "[transports.auth.cryptosign.principals.",
        "authorized_keys =",
        "[transports.auth.dynamic]",
        "authenticator =",
        "${ENV_VAR}",
        "tls = { cert",
        "client_ca",
        "[transports.auth.tls]",
        "type = \"rawsocket\"",
        "unix",
        "max_connections",
        "[[realms]]",
        "name",
        "[[realms.roles]]",
        "permissions",
        "[log]",
        "level",
        "format",
        "[shutdown]",
        "drain_timeout_ms",
    ];
    for key in documented {
        assert!(BUILTIN_TOML.contains(key), "config/gateway.toml does not mention {key}");
    }
}

#[test]
fn environment_variables_override_file_keys() {
    let vars = [
        ("GATEWAY__TRANSPORTS__0__LISTEN", "127.0.0.1:9999"),
        ("GATEWAY__TRANSPORTS__0__SERIALIZERS", r#"["cbor"]"#),
        ("GATEWAY__TRANSPORTS__0__PING_INTERVAL_MS", "0"),
        ("GATEWAY__REALMS__0__NAME", "com.example"),
        ("GATEWAY__LOG__LEVEL", "debug"),
        ("GATEWAY__URI_CHECK", "strict"),
        ("UNRELATED", "x"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let settings = Settings::load_with_env(&ConfigSource::BuiltIn, vars).expect("loads");
    let TransportConfig::WebSocket(ws) = &settings.transports[0] else { panic!("transport 0 is a websocket") };
    assert_eq!(ws.listen, "127.0.0.1:9999");
    assert_eq!(ws.serializers, ["cbor"]);
    assert_eq!(ws.ping_interval_ms, 0);
    assert_eq!(ws.path, "/ws", "keys not overridden keep the file's value");
    assert_eq!(settings.realms[0].name, "com.example");
    assert_eq!(settings.log.level, "debug");
    assert_eq!(as_json(&settings)["uri_check"], json!("strict"));
}

#[test]
fn an_unknown_key_in_the_environment_is_an_error_naming_it() {
    let vars = [("GATEWAY__TRANSPORTS__0__LISTN".to_string(), "x".to_string())];
    let err = Settings::load_with_env(&ConfigSource::BuiltIn, vars).expect_err("unknown key");
    assert!(err.to_string().contains("listn") && err.to_string().contains("transports[0]"), "{err}");
}
