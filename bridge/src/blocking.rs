//! Blocking adapter work from async tasks, keeping the caller's tracing span.
//!
//! The catalog watcher and the event pump own one adapter object each (with its dedicated
//! connection) behind a mutex, and hand it to the runtime's blocking pool for every operation, as
//! zero2prod's `spawn_blocking_with_tracing` does. Procedure calls do not come through here: they
//! run on the bridge's own [`Executor`](crate::executor::Executor) threads.

use std::sync::{Arc, Mutex};

use tracing::Span;

/// Runs `f` on the blocking pool in the current span; `Err` if it panicked.
pub async fn spawn_blocking_with_tracing<T, F>(f: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f)).await.map_err(|e| format!("blocking task failed: {e}"))
}

/// Runs `f` with the object behind `shared` locked, on the blocking pool.
pub async fn with_locked<S, T, F>(shared: &Arc<Mutex<S>>, f: F) -> Result<T, String>
where
    S: Send + 'static,
    F: FnOnce(&mut S) -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = shared.clone();
    spawn_blocking_with_tracing(move || {
        // A panic inside an adapter call leaves its connection to be re-established; keep going.
        let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    })
    .await
}

/// Drops `value` on the blocking pool: synchronous drivers close their connections in `Drop`,
/// which must not happen on an async worker thread.
pub async fn drop_blocking<T: Send + 'static>(value: T) {
    let _ = tokio::task::spawn_blocking(move || drop(value)).await;
}
