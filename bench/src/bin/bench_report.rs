//! `bench-report`: turns a run's JSON lines into the committed report, and pgbench's
//! per-transaction logs into a result line. Only the command line is parsed here.
//!
//! - `bench-report render --results RUN.jsonl --meta META.json --dir bench/results --name DATE`
//!   writes `DATE.json`, `DATE.md` and `DATE.png`.
//! - `bench-report pgbench --logs PREFIX --tps TPS --clients N --duration S` prints (and appends to
//!   `--out`) one result line with pgbench's throughput and latency percentiles.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;

use bench::report::{self, Meta, Report};
use bench::scenario::ScenarioResult;
use bench::stats::Latency;

#[derive(Debug, Parser)]
#[command(name = "bench-report", about = "Benchmark report: JSON + Markdown + PNG")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes DIR/NAME.json, DIR/NAME.md and DIR/NAME.png.
    Render {
        #[arg(long)]
        results: PathBuf,
        #[arg(long)]
        meta: PathBuf,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// A result line from pgbench's per-transaction logs (`pgbench -l --log-prefix PREFIX`).
    Pgbench {
        /// The log prefix given to pgbench; every file starting with it is read.
        #[arg(long)]
        logs: PathBuf,
        /// The `tps = …` pgbench printed.
        #[arg(long)]
        tps: f64,
        /// The `latency average = … ms` pgbench printed.
        #[arg(long)]
        latency_avg_ms: f64,
        #[arg(long)]
        clients: u64,
        #[arg(long)]
        duration: f64,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Render { results, meta, dir, name } => render(&results, &meta, &dir, &name),
        Command::Pgbench { logs, tps, latency_avg_ms, clients, duration, out } => {
            pgbench(&logs, tps, latency_avg_ms * 1000.0, clients, duration, out)
        }
    }
}

fn render(results: &Path, meta: &Path, dir: &Path, name: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(results).with_context(|| format!("reading {}", results.display()))?;
    let results: Vec<ScenarioResult> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("parsing the results")?;
    let meta: Meta = serde_json::from_str(&std::fs::read_to_string(meta)?).context("parsing the metadata")?;
    let report = Report { targets: report::targets(&results), meta, results };
    std::fs::create_dir_all(dir)?;
    let png = format!("{name}.png");
    let chart = bench::chart::draw(&report.results, &dir.join(&png))?.then_some(png.as_str());
    std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(&report)? + "\n")?;
    std::fs::write(dir.join(format!("{name}.md")), report::markdown(&report, chart))?;
    println!("wrote {}/{name}.{{json,md{}}}", dir.display(), if chart.is_some() { ",png" } else { "" });
    Ok(())
}

fn pgbench(
    prefix: &Path,
    tps: f64,
    avg_us: f64,
    clients: u64,
    duration: f64,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let dir = prefix.parent().context("--logs needs a directory")?;
    let stem = prefix.file_name().context("--logs needs a file prefix")?.to_string_lossy().into_owned();
    let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000_000, 3)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&stem)) {
            continue;
        }
        // client_id transaction_no time_us script_no time_epoch time_us_part
        for line in std::fs::read_to_string(&path)?.lines() {
            if let Some(us) = line.split_whitespace().nth(2).and_then(|v| v.parse::<u64>().ok()) {
                h.saturating_record((us * 1000).max(1));
            }
        }
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    let result = ScenarioResult {
        scenario: "db".into(),
        label: "pgbench".into(),
        serializer: "-".into(),
        mode: "closed".into(),
        sessions: clients,
        inflight: 1,
        duration_s: duration,
        operations: h.len(),
        throughput: tps,
        // pgbench stamps a transaction's end with a lazily refreshed clock, so most fast
        // transactions log a time of 0 and its logged median is meaningless; its average is
        // exact (clients / tps) and stands in for the median.
        latency_us: Latency {
            count: h.len(),
            mean: avg_us,
            p50: avg_us,
            p90: us(h.value_at_quantile(0.9)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        },
        note: Some(format!(
            "pgbench -n -M prepared, SELECT of the same function over the same number of connections; \
             p50 is pgbench's average latency ({:.3} ms): its per-transaction log times come from a lazily \
             refreshed clock (mostly 0), so only p90 and above are read from the log",
            avg_us / 1000.0
        )),
        ..ScenarioResult::default()
    };
    let line = serde_json::to_string(&result)?;
    println!("{line}");
    if let Some(out) = out {
        use std::io::Write;
        writeln!(std::fs::OpenOptions::new().create(true).append(true).open(out)?, "{line}")?;
    }
    Ok(())
}
