//! Keeps the catalog current: re-reads it on a change hint (an event trigger's NOTIFY in
//! PostgreSQL) and at a fixed interval as a fallback, and publishes each *different* catalog to
//! the callee session, which registers and unregisters accordingly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::adapter::CatalogSource;
use crate::blocking::{drop_blocking, with_locked};
use crate::catalog::{Catalog, Exposure};
use crate::status::{Backoff, ComponentState, Status};

/// The status component this task reports as.
pub const COMPONENT: &str = "catalog";

/// Longest single blocking wait: a blocking task cannot be interrupted, and the runtime waits for
/// running ones when it shuts down, so long polls are cut into slices.
pub const WAIT_SLICE: Duration = Duration::from_millis(250);

/// Waits for a change hint, up to `poll`, in slices of [`WAIT_SLICE`] so shutdown is never held up.
async fn wait_sliced<S: CatalogSource>(source: &Arc<Mutex<S>>, poll: Duration, shutdown: &CancellationToken) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + poll;
    loop {
        let slice = deadline.saturating_duration_since(tokio::time::Instant::now()).min(WAIT_SLICE);
        if slice.is_zero() || shutdown.is_cancelled() {
            return Ok(());
        }
        if with_locked(source, move |s| s.wait_for_change(slice).map_err(|e| e.to_string())).await.and_then(|r| r)? {
            return Ok(());
        }
    }
}

/// Reads the catalog until `shutdown`.
pub async fn watch_catalog<S: CatalogSource>(
    source: S,
    exposures: Vec<Exposure>,
    poll: Duration,
    tx: watch::Sender<Arc<Catalog>>,
    status: Arc<Status>,
    shutdown: CancellationToken,
) {
    // Procedures are registered only once the event consumer exists: an event published by a
    // bridged call must never precede the consumer's starting position. If the event side stays
    // down, procedures come anyway after a while (calls do not depend on it).
    let events_ready = tokio::select! {
        _ = shutdown.cancelled() => return,
        ready = status.wait_component(crate::pump::COMPONENT, Duration::from_secs(10)) => ready,
    };
    if !events_ready {
        tracing::warn!("event consumer not connected after 10 s; registering procedures anyway");
    }
    let source = Arc::new(Mutex::new(source));
    let mut backoff = Backoff::new(Duration::from_secs(10));
    while !shutdown.is_cancelled() {
        let loaded = with_locked(&source, |s| s.load().map_err(|e| e.to_string())).await.and_then(|r| r);
        let failure = match loaded {
            Ok(procedures) => {
                status.monitor().catalog_refreshed(true, procedures.len());
                status.set(COMPONENT, ComponentState::Connected);
                backoff.reset();
                let catalog = Catalog::build(procedures, &exposures);
                tx.send_if_modified(|current| {
                    if **current == catalog {
                        return false;
                    }
                    tracing::info!(procedures = catalog.len(), "catalog changed");
                    *current = Arc::new(catalog);
                    true
                });
                match wait_sliced(&source, poll, &shutdown).await {
                    Ok(()) => continue,
                    Err(e) => e,
                }
            }
            Err(e) => {
                status.monitor().catalog_refreshed(false, 0);
                e
            }
        };
        status.set(COMPONENT, ComponentState::Reconnecting);
        let delay = backoff.next_delay();
        tracing::warn!(cause = %failure, retry_in = ?delay, "catalog connection failed");
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    drop_blocking(source).await;
}
