//! The report of one run: the results, the targets of issue 8 and whether each is met, in JSON
//! and Markdown.
//!
//! Every figure comes from the run's JSON lines (one [`ScenarioResult`] per scenario) and the
//! run's metadata written by `scripts/bench` (machine, load average, baseline availability,
//! profile excerpt). Nothing here is typed in by hand. This module evaluates the targets;
//! [`markdown`] lays the report out.

mod markdown;

pub use markdown::markdown;

use serde::{Deserialize, Serialize};

use crate::scenario::ScenarioResult;

/// What `scripts/bench` knows about the run besides the scenario results.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Meta {
    pub date: String,
    pub commit: String,
    pub command: String,
    pub machine: Machine,
    /// `uptime` before and after the run.
    pub load_before: String,
    pub load_after: String,
    pub seconds: f64,
    /// Each baseline that could not run, with the reason (crossbar, bridge, pgbench).
    pub unavailable: Vec<Unavailable>,
    /// Versions of the systems compared (e.g. "crossbar 24.1.1").
    pub versions: Vec<String>,
    /// How the profile was taken, and its top lines.
    pub profile_command: String,
    pub profile: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Machine {
    pub nproc: u32,
    pub cpu: String,
    pub memory: String,
    pub kernel: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Unavailable {
    pub what: String,
    pub reason: String,
}

/// One target of issue 8 and how the run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub goal: String,
    /// The measured value, if the run measured it.
    pub value: Option<f64>,
    pub unit: String,
    pub met: Option<bool>,
    /// Where the value comes from, or why it is missing.
    pub source: String,
    /// Figures of the same run that bear on what limits it (server and generator CPU, baselines).
    pub context: String,
}

/// The whole report, as written to `<date>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub meta: Meta,
    pub targets: Vec<Target>,
    pub results: Vec<ScenarioResult>,
}

/// The closed-loop run of `scenario` for `label` and `serializer` with the smallest payload.
pub(crate) fn closed<'a>(
    results: &'a [ScenarioResult],
    scenario: &str,
    label: &str,
    serializer: &str,
) -> Option<&'a ScenarioResult> {
    results
        .iter()
        .filter(|r| r.scenario == scenario && r.label == label && r.serializer == serializer && r.mode == "closed")
        .min_by_key(|r| r.payload)
}

/// The fan-out run of `label` with the most subscribers.
fn widest_fanout<'a>(results: &'a [ScenarioResult], label: &str) -> Option<&'a ScenarioResult> {
    results
        .iter()
        .filter(|r| r.scenario == "fanout" && r.label == label && r.mode == "closed")
        .max_by_key(|r| r.sessions)
}

fn target(name: &str, goal: &str, unit: &str, value: Option<f64>, ok: impl Fn(f64) -> bool, source: String) -> Target {
    Target {
        name: name.into(),
        goal: goal.into(),
        value,
        unit: unit.into(),
        met: value.map(ok),
        source,
        context: String::new(),
    }
}

/// Where the CPU of a run went: the server's and the generator's cores.
fn cores(r: Option<&ScenarioResult>) -> String {
    match r {
        Some(r) => format!(
            "{}: server {} cores, generator {} cores of 2",
            r.label,
            r.router.as_ref().map_or("?".into(), |u| format!("{:.2}", u.cpu_cores)),
            format_args!("{:.2}", r.generator_cores)
        ),
        None => String::new(),
    }
}

fn per_message(r: Option<&ScenarioResult>, messages: f64) -> Option<f64> {
    r.and_then(|r| r.router.as_ref()).map(|u| u.cpu_us_per_op / messages)
}

/// Evaluates the targets of issue 8 on the gateway's results.
pub fn targets(results: &[ScenarioResult]) -> Vec<Target> {
    let rpc = closed(results, "rpc", "gateway", "json");
    let echo = closed(results, "echo", "echo", "json");
    let fan = widest_fanout(results, "gateway");
    let fan_best = results
        .iter()
        .filter(|r| r.scenario == "fanout" && r.label == "gateway")
        .max_by(|a, b| a.throughput.total_cmp(&b.throughput));
    let idle = results.iter().filter(|r| r.scenario == "idle" && r.label == "gateway").max_by_key(|r| r.sessions);
    let db = closed(results, "db", "gateway", "json");
    let pg = results.iter().find(|r| r.scenario == "db" && r.label == "pgbench");
    let describe = |r: Option<&ScenarioResult>| match r {
        Some(r) => describe_run(r),
        None => "not measured in this run".to_owned(),
    };
    let ratio = |a: Option<&ScenarioResult>, b: Option<&ScenarioResult>| match (a, b) {
        (Some(a), Some(b)) if b.throughput > 0.0 => Some(a.throughput / b.throughput * 100.0),
        _ => None,
    };
    let db_source = match (db, pg) {
        (Some(d), Some(p)) => format!("{} vs {}", describe_run(d), describe_run(p)),
        _ => "not measured: no database bridge in this build (see Baselines)".to_owned(),
    };
    let echo_idle = results.iter().find(|r| r.scenario == "idle" && r.label == "echo");
    let mut all = vec![
        target(
            "router CPU per routed call (json, small payload)",
            "≤ 10 µs",
            "µs",
            rpc.and_then(|r| r.router.as_ref()).map(|u| u.cpu_us_per_op),
            |v| v <= 10.0,
            describe(rpc),
        ),
        target(
            "router CPU per delivered event",
            "≤ 1 µs",
            "µs",
            fan.and_then(|r| r.router.as_ref()).map(|u| u.cpu_us_per_op),
            |v| v <= 1.0,
            describe(fan),
        ),
        target(
            "routed calls per second",
            "≥ 50,000/s",
            "calls/s",
            rpc.map(|r| r.throughput),
            |v| v >= 50_000.0,
            describe(rpc),
        ),
        target(
            "event deliveries per second",
            "≥ 300,000/s",
            "events/s",
            fan_best.map(|r| r.throughput),
            |v| v >= 300_000.0,
            describe(fan_best),
        ),
        target(
            "routed-call throughput vs echo limit",
            "≥ 40 %",
            "%",
            ratio(rpc, echo),
            |v| v >= 40.0,
            format!("{} vs {}", describe(rpc), describe(echo)),
        ),
        target(
            "router RSS per idle session",
            "≤ 8 KB (8,192 bytes)",
            "bytes",
            idle.and_then(|r| r.rss_per_session_bytes),
            |v| v <= 8192.0,
            describe(idle),
        ),
        target(
            "bridged SELECT fn() throughput vs pgbench",
            "≥ 90 %",
            "%",
            ratio(db, pg),
            |v| v >= 90.0,
            db_source.clone(),
        ),
        target(
            "bridged call added p50 latency over pgbench",
            "≤ 0.3 ms",
            "ms",
            db.zip(pg).map(|(d, p)| (d.latency_us.p50 - p.latency_us.p50) / 1000.0),
            |v| v <= 0.3,
            db_source,
        ),
    ];
    let msg = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.2} µs"));
    all[0].context = format!(
        "server CPU per WebSocket message: gateway {} (a call is 4), echo server {} (an echo is 2)",
        msg(per_message(rpc, 4.0)),
        msg(per_message(echo, 2.0))
    );
    all[1].context = cores(fan);
    all[2].context = cores(rpc);
    all[3].context = cores(fan_best);
    all[4].context = format!("{}; {}", cores(rpc), cores(echo));
    all[6].context = match db.and_then(|r| r.router.as_ref()) {
        Some(u) => format!("gateway CPU per bridged call {:.0} µs ({:.2} cores)", u.cpu_us_per_op, u.cpu_cores),
        None => String::new(),
    };
    all[7].context = "pgbench: its average latency stands in for p50 (see its note)".into();
    all[5].context = match echo_idle.and_then(|r| r.rss_per_session_bytes) {
        Some(b) => format!("the echo server (same actix-ws stack, no WAMP) holds {b:.0} bytes per idle connection"),
        None => String::new(),
    };
    all
}

fn describe_run(r: &ScenarioResult) -> String {
    let load = match (r.mode.as_str(), r.rate) {
        ("open", Some(rate)) => format!("{rate:.0}/s offered"),
        (m, _) if m.starts_with("idle") => String::new(),
        _ if r.scenario == "fanout" => format!("window {}", r.inflight),
        _ => format!("{} in flight", r.inflight),
    };
    format!("{} {} {} {} sessions {} {}B", r.label, r.scenario, r.serializer, r.sessions, load, r.payload)
}
