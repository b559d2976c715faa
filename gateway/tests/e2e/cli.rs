//! The `gateway` binary itself: `check`, serving a file, the stdout contract, SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_gateway");

/// Writes `content` to a fresh file under the system temp dir.
fn temp_config(content: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("gateway-e2e-{}-{}.toml", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, content).expect("temp file written");
    path
}

fn gateway(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_accepts_a_good_file() {
    let path = temp_config(&format!("{}{REALM}", transport("")));
    let out = gateway(&["check", "--config", path.to_str().expect("utf-8 path")], &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "configuration OK");
}

#[test]
fn check_accepts_the_builtin_configuration() {
    let out = gateway(&["check"], &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "configuration OK");
}

#[test]
fn check_rejects_a_bad_value_naming_the_key_and_why() {
    let path = temp_config(&format!("{}{REALM}", transport("serializers = [\"json\", \"xml\"]")));
    let out = gateway(&["check", "--config", path.to_str().expect("utf-8 path")], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("transports[0].serializers: unknown serializer \"xml\""), "{err}");
}

#[test]
fn check_rejects_an_unknown_key_naming_it() {
    let path = temp_config(&format!("{}{REALM}[log]\nlevel = \"info\"\ncolour = true\n", transport("")));
    let out = gateway(&["check", "--config", path.to_str().expect("utf-8 path")], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("colour") && err.contains("log"), "{err}");
}

#[test]
fn check_rejects_a_missing_file() {
    let out = gateway(&["check", "--config", "/nonexistent/gateway.toml"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent/gateway.toml"), "{}", text(&out.stderr));
}

#[test]
fn check_sees_environment_overrides() {
    let out = gateway(&["check"], &[("GATEWAY__TRANSPORTS__0__SERIALIZERS", "[\"xml\"]")]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("transports[0].serializers: unknown serializer \"xml\""),
        "{}",
        text(&out.stderr)
    );
}

/// Starts the binary, waits for its `listening on` line; the child and the URL it printed.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG").stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("a line on stdout");
    let line = line.trim_end();
    let rest = line.strip_prefix("listening on ws://127.0.0.1:").unwrap_or_else(|| panic!("unexpected line {line:?}"));
    let (port, tail) = rest.split_once('/').unwrap_or_else(|| panic!("unexpected line {line:?}"));
    assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "real port in {line:?}");
    assert_eq!(tail, "ws (websocket)", "in {line:?}");
    (child, format!("ws://127.0.0.1:{port}/ws"))
}

fn terminate_and_wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the gateway did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn serves_a_file_prints_its_address_and_exits_cleanly_on_sigterm() {
    let path = temp_config(&format!("{}{REALM}", transport("")));
    let (mut child, url) = serve(&["--config", path.to_str().expect("utf-8 path")], &[]);
    let mut ws = connect_json(&url).await;
    join(&mut ws, "realm1").await;
    let status = terminate_and_wait(&mut child);
    assert!(status.success(), "exit status {status}");
    // The session was told why.
    assert_eq!(recv_json(&mut ws).await[2], "wamp.close.system_shutdown");
}

#[tokio::test]
async fn serves_the_builtin_configuration_without_arguments() {
    let (mut child, url) = serve(&[], &[("GATEWAY__TRANSPORTS__0__LISTEN", "127.0.0.1:0")]);
    let mut ws = connect_json(&url).await;
    join(&mut ws, "realm1").await;
    assert!(terminate_and_wait(&mut child).success());
}

#[test]
fn refuses_to_serve_an_invalid_file() {
    let path = temp_config(&format!("{}{REALM}", transport("path = \"ws\"")));
    let out = gateway(&["--config", path.to_str().expect("utf-8 path")], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("transports[0].path"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing is announced: {}", text(&out.stdout));
}
