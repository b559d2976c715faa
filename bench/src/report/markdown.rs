//! The Markdown report: targets, the side-by-side table (gateway, echo limit, Crossbar, ratios),
//! baselines, the chart, every run, the profile.

use std::fmt::Write as _;

use super::{closed, Report};
use crate::scenario::ScenarioResult;

fn num(v: f64) -> String {
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    // Thousands separators on the integer part.
    let (int, frac) = s.split_once('.').map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, int) = int.strip_prefix('-').map_or(("", int), |i| ("-", i));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), num)
}

/// One row of the side-by-side table: a figure for the gateway, the echo limit and Crossbar.
struct Row {
    what: String,
    gateway: Option<f64>,
    echo: Option<f64>,
    crossbar: Option<f64>,
    /// Whether larger is better (for the ratio's sense).
    higher_better: bool,
}

fn comparison(results: &[ScenarioResult]) -> Vec<Row> {
    let mut rows = Vec::new();
    for ser in ["json", "msgpack", "cbor"] {
        let pick = |label: &str, scen: &str| closed(results, scen, label, ser);
        let g = pick("gateway", "rpc");
        let e = pick("echo", "echo");
        let c = pick("crossbar", "rpc");
        if g.is_none() && c.is_none() {
            continue;
        }
        let small = g.or(c).map_or(0, |r| r.payload);
        rows.push(Row {
            what: format!("calls/s, {ser}, {small} B (echo: echoes/s)"),
            gateway: g.map(|r| r.throughput),
            echo: e.map(|r| r.throughput),
            crossbar: c.map(|r| r.throughput),
            higher_better: true,
        });
        if ser == "json" {
            let p = |r: Option<&ScenarioResult>, f: fn(&ScenarioResult) -> f64| r.map(f);
            rows.push(Row {
                what: "  p50 latency, µs (closed loop)".into(),
                gateway: p(g, |r| r.latency_us.p50),
                echo: p(e, |r| r.latency_us.p50),
                crossbar: p(c, |r| r.latency_us.p50),
                higher_better: false,
            });
            rows.push(Row {
                what: "  p99 latency, µs (closed loop)".into(),
                gateway: p(g, |r| r.latency_us.p99),
                echo: p(e, |r| r.latency_us.p99),
                crossbar: p(c, |r| r.latency_us.p99),
                higher_better: false,
            });
            let cpu = |r: Option<&ScenarioResult>| r.and_then(|r| r.router.as_ref()).map(|u| u.cpu_us_per_op);
            rows.push(Row {
                what: "  server CPU µs per call (echo: per echo)".into(),
                gateway: cpu(g),
                echo: cpu(e),
                crossbar: cpu(c),
                higher_better: false,
            });
        }
    }
    let large = |label: &str| {
        results
            .iter()
            .filter(|r| r.scenario == "rpc" && r.label == label && r.mode == "closed" && r.serializer == "json")
            .max_by_key(|r| r.payload)
            .filter(|r| r.payload > 1000)
    };
    if let Some(g) = large("gateway") {
        let e = results.iter().find(|r| r.scenario == "echo" && r.payload == g.payload && r.mode == "closed");
        rows.push(Row {
            what: format!("calls/s, json, {} B", g.payload),
            gateway: Some(g.throughput),
            echo: e.map(|r| r.throughput),
            crossbar: large("crossbar").map(|r| r.throughput),
            higher_better: true,
        });
    }
    let mut subs: Vec<u64> = results.iter().filter(|r| r.scenario == "fanout").map(|r| r.sessions).collect();
    subs.sort_unstable();
    subs.dedup();
    for m in subs {
        let f = |label: &str| {
            results.iter().find(|r| r.scenario == "fanout" && r.label == label && r.sessions == m && r.mode == "closed")
        };
        rows.push(Row {
            what: format!("events delivered/s, {m} subscribers"),
            gateway: f("gateway").map(|r| r.throughput),
            echo: None,
            crossbar: f("crossbar").map(|r| r.throughput),
            higher_better: true,
        });
        let cpu = |label: &str| f(label).and_then(|r| r.router.as_ref()).map(|u| u.cpu_us_per_op);
        rows.push(Row {
            what: "  router CPU µs per delivered event".into(),
            gateway: cpu("gateway"),
            echo: None,
            crossbar: cpu("crossbar"),
            higher_better: false,
        });
    }
    let idle = |label: &str| results.iter().find(|r| r.scenario == "idle" && r.label == label);
    if idle("gateway").is_some() || idle("crossbar").is_some() {
        rows.push(Row {
            what: format!(
                "RSS per idle session, bytes ({} sessions; echo: connections)",
                idle("gateway").or(idle("crossbar")).map_or(0, |r| r.sessions)
            ),
            gateway: idle("gateway").and_then(|r| r.rss_per_session_bytes),
            echo: idle("echo").and_then(|r| r.rss_per_session_bytes),
            crossbar: idle("crossbar").and_then(|r| r.rss_per_session_bytes),
            higher_better: false,
        });
    }
    let db = |label: &str| results.iter().find(|r| r.scenario == "db" && r.label == label);
    if db("gateway").is_some() {
        rows.push(Row {
            what: "bridged SELECT fn() calls/s (echo column: pgbench tps)".into(),
            gateway: db("gateway").map(|r| r.throughput),
            echo: db("pgbench").map(|r| r.throughput),
            crossbar: None,
            higher_better: true,
        });
    }
    rows
}

fn ratio(a: Option<f64>, b: Option<f64>, higher_better: bool) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
            let r = if higher_better { a / b } else { b / a };
            format!("{r:.2}×")
        }
        _ => "–".into(),
    }
}

/// The Markdown report.
pub fn markdown(report: &Report, chart: Option<&str>) -> String {
    let m = &report.meta;
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmark report — {}\n", m.date);
    let _ = writeln!(s, "Command: `{}` (commit `{}`), {:.0} s end to end.\n", m.command, m.commit, m.seconds);
    let _ = writeln!(s, "## Machine\n");
    let mc = &m.machine;
    let _ = writeln!(s, "- {} cores ({}), {} memory, kernel {}", mc.nproc, mc.cpu, mc.memory, mc.kernel);
    let _ = writeln!(s, "- load average before the run: {}", m.load_before);
    let _ = writeln!(s, "- load average after the run: {}", m.load_after);
    let _ = writeln!(
        s,
        "- the load generator runs on the same cores as the system under test; every server figure is\n  \
         the server's own CPU time from /proc (user + system), so it does not depend on the generator\n"
    );
    if !m.versions.is_empty() {
        let _ = writeln!(s, "Systems: {}.\n", m.versions.join(", "));
    }

    let _ = writeln!(s, "## Targets (issue 8)\n");
    let _ = writeln!(s, "| target | goal | measured | met | from | context |");
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
    for t in &report.targets {
        let met = match t.met {
            Some(true) => "**met**",
            Some(false) => "**not met**",
            None => "not measured",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} {} | {} | {} | {} |",
            t.name,
            t.goal,
            opt(t.value),
            t.unit,
            met,
            t.source,
            t.context
        );
    }
    let _ = writeln!(s);
    if report.targets.iter().any(|t| t.met == Some(false)) {
        let _ = writeln!(
            s,
            "What limits the targets that are not met, with profiles and the arithmetic of this machine: \
             [bench/README.md, \"Where the targets stand\"](../README.md#where-the-targets-stand).\n"
        );
    }

    let _ = writeln!(s, "## Gateway, echo limit, Crossbar\n");
    let _ = writeln!(s, "| figure | gateway | echo limit | Crossbar | gateway / echo | gateway / Crossbar |");
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for r in comparison(&report.results) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.what,
            opt(r.gateway),
            opt(r.echo),
            opt(r.crossbar),
            ratio(r.gateway, r.echo, r.higher_better),
            ratio(r.gateway, r.crossbar, r.higher_better),
        );
    }
    let _ = writeln!(
        s,
        "\nA routed call is 4 WebSocket messages (CALL, INVOCATION, YIELD, RESULT), an echo 2, so a router\n\
         with no cost of its own would reach 50 % of the echo limit. Ratios: above 1× is better for the gateway.\n"
    );

    let _ = writeln!(s, "## Baselines\n");
    if m.unavailable.is_empty() {
        let _ = writeln!(s, "Every baseline ran.\n");
    }
    for u in &m.unavailable {
        let _ = writeln!(s, "- **{}** unavailable: {}", u.what, u.reason);
    }
    let _ = writeln!(s);

    if let Some(chart) = chart {
        let _ = writeln!(s, "## Latency against load\n\n![latency percentiles vs load]({chart})\n");
        let _ = writeln!(
            s,
            "Open loop: calls are sent at a fixed rate and each latency runs from the call's intended send\n\
             time, so a stall is charged to every call it delayed (no coordinated omission).\n"
        );
    }

    let _ = writeln!(s, "## Every run\n");
    let _ = writeln!(
        s,
        "| system | scenario | ser. | mode | sessions | in flight | payload B | offered/s | ops/s | p50 µs | p99 µs | p99.9 µs | max µs | errors | lost | server µs/op | server cores | generator cores |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &report.results {
        let l = &r.latency_us;
        let (cpu, cores) = r.router.as_ref().map_or((None, None), |u| (Some(u.cpu_us_per_op), Some(u.cpu_cores)));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.scenario,
            r.serializer,
            r.mode,
            r.sessions,
            r.inflight,
            r.payload,
            opt(r.rate),
            num(r.throughput),
            num(l.p50),
            num(l.p99),
            num(l.p999),
            num(l.max),
            r.errors,
            r.lost,
            opt(cpu),
            opt(cores),
            num(r.generator_cores),
        );
    }
    let notes: Vec<_> = report.results.iter().filter_map(|r| r.note.as_ref().map(|n| (r, n))).collect();
    if !notes.is_empty() {
        let _ = writeln!(s);
        for (r, n) in notes {
            let _ = writeln!(s, "- {} {} ({} sessions): {n}", r.label, r.scenario, r.sessions);
        }
    }
    let _ = writeln!(s);
    if !m.profile.is_empty() {
        let _ = writeln!(
            s,
            "## Profile of the gateway\n\n`{}`\n\n```text\n{}\n```\n",
            m.profile_command,
            m.profile.trim_end()
        );
    }
    s
}
