//! `wamp-bench`: the WAMP load generator. Each subcommand runs one bounded scenario and prints its
//! result as one JSON line (also appended to `--out`). Only the command line is parsed here.

use clap::{Parser, Subcommand};

use bench::scenario::fanout::{self, FanoutArgs};
use bench::scenario::idle::{self, IdleArgs};
use bench::scenario::rpc::{self, CallArgs, DbArgs, RpcArgs};

#[derive(Debug, Parser)]
#[command(name = "wamp-bench", version, about = "WAMP load generator for any router URL")]
struct Cli {
    /// Worker threads of the generator's runtime.
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Routed calls: N caller sessions x C calls in flight (or --rate), callees of our own.
    Rpc(RpcArgs),
    /// The transport baseline: the same calls against a WebSocket echo server.
    Echo(CallArgs),
    /// One publisher, M subscribers: events delivered per second and delivery latency.
    Fanout(FanoutArgs),
    /// K idle sessions: the router's RSS growth per session (needs --router-pid).
    Idle(IdleArgs),
    /// Calls of a bridged database function (--procedure, --args, --kwargs).
    Db(DbArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    bench::procfs::raise_fd_limit();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(cli.threads.max(1)).enable_all().build()?;
    runtime.block_on(async {
        let (result, common) = match cli.command {
            Command::Rpc(a) => (rpc::rpc(a.clone()).await?, a.call.common),
            Command::Echo(a) => (rpc::echo(a.clone()).await?, a.common),
            Command::Fanout(a) => (fanout::fanout(a.clone()).await?, a.common),
            Command::Idle(a) => (idle::idle(a.clone()).await?, a.common),
            Command::Db(a) => (rpc::db(a.clone()).await?, a.call.common),
        };
        eprintln!(
            "{} {} [{}]: {:.0} ops/s, p50 {:.0} us, p99 {:.0} us, errors {}, lost {}{}",
            result.label,
            result.scenario,
            result.serializer,
            result.throughput,
            result.latency_us.p50,
            result.latency_us.p99,
            result.errors,
            result.lost,
            result.router.as_ref().map(|r| format!(", router {:.2} us/op", r.cpu_us_per_op)).unwrap_or_default(),
        );
        result.emit(&common)
    })
}
