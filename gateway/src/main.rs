//! The `gateway` command: parse the command line, load settings, then serve or check.
//!
//! - `gateway` — serve the built-in configuration (`config/gateway.toml`).
//! - `gateway --config FILE` — serve FILE.
//! - `gateway check [--config FILE]` — validate and exit: 0 and "configuration OK", or non-zero
//!   with every problem named by key.
//!
//! Logs go to stderr. Stdout carries one line per bound transport, `listening on ws://HOST:PORT/PATH
//! (websocket)` (or `wss://…`, `tcp://HOST:PORT (rawsocket)`, `tcps://…`, `unix:PATH`), printed
//! once every listener is bound (tests read the real port from it).

use std::io::Write;

/// jemalloc rather than the C library's allocator: a routed call allocates and frees dozens of
/// small objects across two threads, and jemalloc's thread caches take about 8 % of the gateway's
/// CPU per call off (bench/README.md). The echo baseline uses the same allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gateway::config::{ConfigSource, Settings};
use gateway::lifecycle::ShutdownHandle;
use gateway::{telemetry, Application};
use tracing::{error, info};

#[derive(Debug, Parser)]
#[command(name = "gateway", version, about = "WAMP application router")]
struct Cli {
    /// Configuration file (TOML). Without it, the built-in configuration is used.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the configuration and exit.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let source = match &cli.config {
        Some(path) => ConfigSource::File(path.clone()),
        None => ConfigSource::BuiltIn,
    };
    match cli.command {
        Some(Command::Check) => check(&source),
        None => match serve(&source) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                error!(cause = format!("{err:#}"), "gateway failed");
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn check(source: &ConfigSource) -> ExitCode {
    let result = Settings::load(source).and_then(|s| s.validate());
    match result {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            println!("configuration OK");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(source: &ConfigSource) -> anyhow::Result<()> {
    let settings = Settings::load(source)?;
    telemetry::init(&settings.log);
    match source {
        ConfigSource::BuiltIn => info!("no --config given: serving the built-in default configuration"),
        ConfigSource::File(path) => info!(file = %path.display(), "serving configuration file"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let app = Application::build(settings)?;
        let signals = on_signal(app.shutdown_handle())?;
        let mut stdout = std::io::stdout().lock();
        for endpoint in app.endpoints() {
            writeln!(stdout, "{endpoint}").context("writing to stdout")?;
        }
        stdout.flush().context("writing to stdout")?;
        drop(stdout);
        tokio::spawn(signals);
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// Installs the SIGINT/SIGTERM handlers now (so a signal arriving right after the listening line
/// is already ours) and returns the task that triggers the shutdown when one arrives.
#[cfg(unix)]
fn on_signal(shutdown: ShutdownHandle) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => info!("SIGINT received"),
            _ = terminate.recv() => info!("SIGTERM received"),
        }
        shutdown.trigger();
    })
}

#[cfg(not(unix))]
fn on_signal(shutdown: ShutdownHandle) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            info!("Ctrl-C received");
            shutdown.trigger();
        }
    })
}
