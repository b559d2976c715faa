//! Idle sessions: the router's memory per joined session that does nothing.
//!
//! Reads the router's RSS, joins K sessions, lets the router settle, reads the RSS again and
//! divides the growth by K. Run it on a freshly started router: memory freed by earlier load stays
//! in the allocator and would hide the growth. The sessions then stay idle for `--duration`
//! seconds, so the router's CPU per idle session (keepalives, timers) is measured too.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use super::{connect_all, secs, Common, ScenarioResult};
use crate::client::Client;
use crate::procfs::{self, RouterUsage};

#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub common: Common,
    /// Idle sessions to open.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Open WebSocket connections only, without joining (for the echo server: the transport's
    /// own share of a session's memory).
    #[arg(long)]
    pub no_join: bool,
}

/// How long the router gets to finish its work after the last join, before RSS is read.
const SETTLE: Duration = Duration::from_secs(2);

pub async fn idle(args: IdleArgs) -> anyhow::Result<ScenarioResult> {
    let common = &args.common;
    let Some(pid) = common.router_pid else { bail!("idle needs --router-pid to read the router's memory") };
    let before = procfs::sample(pid).context("reading the router's /proc")?;
    let started = std::time::Instant::now();
    let join = !args.no_join;
    let clients = connect_all(args.sessions, common.connect_concurrency, |_| async move {
        if join {
            Client::join(&common.url, &common.realm, common.serializer).await.map(|(c, _)| c)
        } else {
            Client::connect(&common.url, common.serializer).await
        }
    })
    .await
    .context("opening idle sessions")?;
    let join_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let joined = procfs::sample(pid)?;
    let self_before = procfs::self_cpu_us();
    tokio::time::sleep(secs(common.duration)).await;
    let after = procfs::sample(pid)?;
    let self_after = procfs::self_cpu_us();
    let k = args.sessions as u64;
    let growth = joined.rss_kb.saturating_sub(before.rss_kb) as f64 * 1024.0;
    let mut router = RouterUsage::between(pid, &joined, &after, k);
    router.peak_rss_kb = after.hwm_kb;
    let seconds = after.at.duration_since(joined.at).as_secs_f64();
    drop(clients);
    Ok(ScenarioResult {
        scenario: "idle".into(),
        label: common.label.clone(),
        serializer: common.serializer.name().into(),
        mode: if join { "idle" } else { "idle (connected, not joined)" }.into(),
        sessions: k,
        duration_s: seconds,
        operations: k,
        throughput: k as f64 / join_seconds,
        router: Some(router),
        generator_cpu_us_per_op: (self_after - self_before) as f64 / k.max(1) as f64,
        generator_cores: (self_after - self_before) as f64 / 1e6 / seconds,
        rss_per_session_bytes: Some(growth / k.max(1) as f64),
        note: Some(format!(
            "router RSS {} KiB before, {} KiB with {k} sessions; joins took {join_seconds:.1} s; \
             cpu_us_per_op is router CPU per idle session over the idle period",
            before.rss_kb, joined.rss_kb
        )),
        ..ScenarioResult::default()
    })
}
