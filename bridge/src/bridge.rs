//! Starting and stopping a bridge: two in-process sessions and three tasks.
//!
//! A bridge joins its realm twice over [`Link`]s, as an ordinary callee (`bridge:<name>`) and as
//! an ordinary publisher (`bridge:<name>:events`), so the router applies permissions, timeouts,
//! cancel, progressive results and the meta API to it like to any peer. Its tasks are the catalog
//! watcher, the callee session and the event pump; [`BridgeHandle::stop`] ends them all.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wamp::router::auth::{Identity, Trusted};
use wamp::router::link::Link;
use wamp::router::Router;
use wamp::{dict, Dict, Message};

use crate::adapter::{CatalogSource, Database, EventQueue};
use crate::callee::{CallOptions, Callee};
use crate::catalog::{Catalog, Exposure};
use crate::monitoring::Monitoring;
use crate::pump::{EventPump, PumpOptions};
use crate::status::{BridgeState, Status};
use crate::{catalog_watch, pump};

/// Messages the router may queue for the callee session before the bridge reads them.
const CALLEE_QUEUE: usize = 4096;
/// The pump reads each PUBLISHED right after its PUBLISH.
const PUMP_QUEUE: usize = 256;

/// Everything a bridge is made of: the adapter's three parts and the generic settings.
pub struct BridgeSpec<D, C, Q> {
    /// Short name for logs, thread names and the sessions' peer description (`bridge:<name>`).
    pub name: String,
    pub realm: String,
    /// The identity both sessions join with; its role needs `register` on the exposed prefixes
    /// and `publish` on the event topics.
    pub authid: String,
    pub authrole: String,
    pub exposures: Vec<Exposure>,
    pub database: Arc<D>,
    pub catalog: C,
    /// How often the catalog is re-read when no change hint arrives.
    pub catalog_poll: Duration,
    pub events: Q,
    pub pump: PumpOptions,
    pub calls: CallOptions,
    /// Where it reports metrics, readiness and database call spans.
    pub monitoring: Monitoring,
}

/// Why a bridge did not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("the bridge session could not join realm '{realm}': {reason}")]
    Join { realm: String, reason: String },
    #[error("cannot start the bridge's worker threads: {0}")]
    Threads(#[from] std::io::Error),
}

/// A running bridge.
pub struct BridgeHandle {
    status: Arc<Status>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl BridgeHandle {
    /// The bridge's connection state right now.
    pub fn state(&self) -> BridgeState {
        self.status.get()
    }

    /// The state as a watch channel, for a readiness endpoint.
    pub fn watch(&self) -> watch::Receiver<BridgeState> {
        self.status.subscribe()
    }

    /// Waits until the bridge is connected, up to `timeout`; whether it is.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut rx = self.watch();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s == BridgeState::Connected)).await.is_ok_and(|r| r.is_ok())
    }

    /// Stops every task: the sessions say GOODBYE, running statements are canceled.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        self.status.stopped();
    }
}

/// Joins the sessions and starts the tasks. Database trouble does not fail the start: the tasks
/// reconnect with backoff and the state says so.
pub async fn start<D, C, Q>(router: &Arc<Router>, spec: BridgeSpec<D, C, Q>) -> Result<BridgeHandle, StartError>
where
    D: Database,
    C: CatalogSource,
    Q: EventQueue,
{
    let identity = Identity {
        authid: spec.authid.clone(),
        authrole: spec.authrole.clone(),
        authmethod: "trusted".into(),
        authprovider: "bridge".into(),
        authextra: Dict::new(),
        realm: None,
    };
    let features = dict! { "call_canceling" => true, "progressive_call_results" => true, "caller_identification" => true };
    let callee_roles = dict! { "callee" => dict! { "features" => features } };
    let publisher_roles = dict! { "publisher" => dict! { "features" => dict! {
        "publisher_exclusion" => true, "subscriber_blackwhite_listing" => true } } };
    let name = spec.name.clone();
    let callee_link = join(router, &format!("bridge:{name}"), &spec.realm, &identity, CALLEE_QUEUE, callee_roles).await?;
    let pump_link = join(router, &format!("bridge:{name}:events"), &spec.realm, &identity, PUMP_QUEUE, publisher_roles).await?;

    let monitor = spec.monitoring.monitor.clone();
    let tracer = spec.monitoring.tracer.clone();
    let status = Arc::new(Status::with_monitor(name.clone(), &[catalog_watch::COMPONENT, pump::COMPONENT], monitor.clone()));
    let shutdown = CancellationToken::new();
    let (catalog_tx, catalog_rx) = watch::channel(Arc::new(Catalog::default()));
    let callee = Callee::new(name.clone(), callee_link, spec.database, &spec.calls, spec.monitoring)?;
    let pump = EventPump::new(spec.events, pump_link, spec.pump).with_monitor(monitor).with_tracer(tracer);
    let span = tracing::info_span!("bridge", bridge = %name, realm = %spec.realm);
    let tasks = vec![
        tokio::spawn(tracing::Instrument::instrument(
            catalog_watch::watch_catalog(spec.catalog, spec.exposures, spec.catalog_poll, catalog_tx, status.clone(), shutdown.clone()),
            span.clone(),
        )),
        tokio::spawn(tracing::Instrument::instrument(callee.run(catalog_rx, shutdown.clone()), span.clone())),
        tokio::spawn(tracing::Instrument::instrument(pump.run(status.clone(), shutdown.clone()), span)),
    ];
    Ok(BridgeHandle { status, shutdown, tasks })
}

/// HELLO → WELCOME over a new link.
async fn join(router: &Arc<Router>, peer: &str, realm: &str, identity: &Identity, queue: usize, roles: Dict) -> Result<Link, StartError> {
    let fail = |reason: String| StartError::Join { realm: realm.to_owned(), reason };
    let mut link = router.connect_local(peer, queue, Arc::new(Trusted(identity.clone())));
    let details = dict! { "roles" => roles, "authid" => identity.authid.clone() };
    link.send(Message::Hello { realm: realm.into(), details }).await;
    match link.recv().await {
        Some(Message::Welcome { .. }) => Ok(link),
        Some(Message::Abort { reason, details }) => {
            let message = details.get("message").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
            Err(fail(format!("{reason}: {message}")))
        }
        other => Err(fail(format!("unexpected answer to HELLO: {other:?}"))),
    }
}
