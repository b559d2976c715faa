//! Shutdown signalling and connection tracking, shared by the application and every connection.
//!
//! [`Lifecycle`] holds two `watch` channels: a shutdown flag that every connection's `select!`
//! loop listens to, and the number of live connections, which the application waits on (with a
//! deadline) to drain before it stops the listeners.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Shared shutdown state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    shutdown: Arc<watch::Sender<bool>>,
    connections: Arc<watch::Sender<usize>>,
}

/// Triggers the application's shutdown from anywhere (a signal handler, a test).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Starts the shutdown; calling it again does nothing more.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

/// Counts one live connection until dropped.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<watch::Sender<usize>>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle { shutdown: Arc::new(watch::channel(false).0), connections: Arc::new(watch::channel(0).0) }
    }
}

impl Lifecycle {
    pub fn handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Whether shutdown has been triggered.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once shutdown is triggered (at once if it already was).
    pub async fn shutdown_triggered(&self) {
        let mut rx = self.shutdown.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|down| *down).await;
    }

    /// Registers a live connection.
    pub fn connection(&self) -> ConnectionGuard {
        self.connections.send_modify(|n| *n += 1);
        ConnectionGuard(self.connections.clone())
    }

    /// Live connections now.
    pub fn connection_count(&self) -> usize {
        *self.connections.borrow()
    }

    /// Waits until no connection is left, at most `timeout`; true if they all ended.
    pub async fn drained(&self, timeout: Duration) -> bool {
        let mut rx = self.connections.subscribe();
        let all_gone = tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await.is_ok();
        all_gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drains_when_the_last_connection_ends() {
        let life = Lifecycle::default();
        let guard = life.connection();
        assert_eq!(life.connection_count(), 1);
        assert!(!life.drained(Duration::from_millis(20)).await);
        drop(guard);
        assert!(life.drained(Duration::from_millis(20)).await);
    }

    #[tokio::test]
    async fn shutdown_resolves_for_late_listeners() {
        let life = Lifecycle::default();
        life.handle().trigger();
        assert!(life.is_shutting_down());
        tokio::time::timeout(Duration::from_millis(100), life.shutdown_triggered()).await.expect("already triggered");
    }
}
