//! The bridge's connection state, for logs and a readiness endpoint.
//!
//! Each long-lived component (catalog watcher, event pump) reports whether its dedicated
//! connection works; the bridge is [`BridgeState::Connected`] when all of them do. Consumers
//! watch a `tokio::sync::watch` channel, so a readiness probe reads the latest state without locks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use wamp::monitor::{BridgeMonitor, Unmonitored};

/// The whole bridge's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeState {
    /// Not yet connected since start.
    Starting,
    /// Every component has a working connection.
    Connected,
    /// A component lost its connection and retries with backoff.
    Reconnecting,
    /// Stopped on shutdown.
    Stopped,
}

/// A component's own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentState {
    Starting,
    Connected,
    Reconnecting,
}

/// Collects component states into one [`BridgeState`].
pub struct Status {
    name: String,
    components: Mutex<BTreeMap<&'static str, ComponentState>>,
    tx: watch::Sender<BridgeState>,
    monitor: Arc<dyn BridgeMonitor>,
}

impl Status {
    pub fn new(name: impl Into<String>, components: &[&'static str]) -> Status {
        Status::with_monitor(name, components, Arc::new(Unmonitored))
    }

    /// A status that also reports each transition of the whole bridge to `monitor`
    /// ([`BridgeMonitor::set_ready`]: ready only while [`BridgeState::Connected`]).
    pub fn with_monitor(name: impl Into<String>, components: &[&'static str], monitor: Arc<dyn BridgeMonitor>) -> Status {
        let map = components.iter().map(|c| (*c, ComponentState::Starting)).collect();
        Status { name: name.into(), components: Mutex::new(map), tx: watch::channel(BridgeState::Starting).0, monitor }
    }

    /// Where the bridge reports metrics and readiness.
    pub fn monitor(&self) -> &Arc<dyn BridgeMonitor> {
        &self.monitor
    }

    /// Records `component`'s state; logs transitions of the whole bridge and reports them to the monitor.
    pub fn set(&self, component: &'static str, state: ComponentState) {
        let mut map = self.components.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(component, state);
        let down: Vec<&str> = map.iter().filter(|(_, s)| **s == ComponentState::Reconnecting).map(|(c, _)| *c).collect();
        let whole = if !down.is_empty() {
            BridgeState::Reconnecting
        } else if map.values().all(|s| *s == ComponentState::Connected) {
            BridgeState::Connected
        } else {
            BridgeState::Starting
        };
        drop(map);
        let changed = self.tx.send_if_modified(|current| {
            if *current == whole || *current == BridgeState::Stopped {
                return false;
            }
            tracing::info!(bridge = %self.name, from = ?*current, to = ?whole, "bridge state");
            *current = whole;
            true
        });
        if changed {
            let detail = match whole {
                BridgeState::Reconnecting => format!("{}: reconnecting ({})", self.name, down.join(", ")),
                other => format!("{}: {}", self.name, format!("{other:?}").to_lowercase()),
            };
            self.monitor.set_ready(whole == BridgeState::Connected, &detail);
        }
    }

    /// One component's state right now.
    pub fn component(&self, component: &'static str) -> Option<ComponentState> {
        self.components.lock().unwrap_or_else(|p| p.into_inner()).get(component).copied()
    }

    /// Waits until `component` is connected, at most `timeout`; whether it is.
    pub async fn wait_component(&self, component: &'static str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.component(component) == Some(ComponentState::Connected) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stopped(&self) {
        self.tx.send_replace(BridgeState::Stopped);
        self.monitor.set_ready(false, &format!("{}: stopped", self.name));
    }

    pub fn get(&self) -> BridgeState {
        *self.tx.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<BridgeState> {
        self.tx.subscribe()
    }
}

/// Exponential backoff between reconnect attempts: 100 ms doubling up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Backoff { next: Duration::from_millis(100), max }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = Duration::from_millis(100);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_state_follows_components() {
        let s = Status::new("t", &["catalog", "events"]);
        assert_eq!(s.get(), BridgeState::Starting);
        s.set("catalog", ComponentState::Connected);
        assert_eq!(s.get(), BridgeState::Starting);
        s.set("events", ComponentState::Connected);
        assert_eq!(s.get(), BridgeState::Connected);
        s.set("events", ComponentState::Reconnecting);
        assert_eq!(s.get(), BridgeState::Reconnecting);
        s.stopped();
        s.set("events", ComponentState::Connected);
        assert_eq!(s.get(), BridgeState::Stopped);
    }

    #[test]
    fn the_monitor_hears_readiness_transitions() {
        #[derive(Default)]
        struct Seen(Mutex<Vec<(bool, String)>>);
        impl BridgeMonitor for Seen {
            fn set_ready(&self, ready: bool, detail: &str) {
                self.0.lock().unwrap().push((ready, detail.to_owned()));
            }
        }
        let seen = Arc::new(Seen::default());
        let s = Status::with_monitor("pg", &["catalog", "events"], seen.clone());
        s.set("catalog", ComponentState::Connected);
        s.set("events", ComponentState::Connected);
        s.set("events", ComponentState::Reconnecting);
        s.set("events", ComponentState::Reconnecting);
        s.stopped();
        let got = seen.0.lock().unwrap().clone();
        assert_eq!(
            got,
            vec![
                (true, "pg: connected".to_owned()),
                (false, "pg: reconnecting (events)".to_owned()),
                (false, "pg: stopped".to_owned()),
            ]
        );
    }

    #[test]
    fn backoff_doubles_to_a_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(500));
        let ds: Vec<u64> = (0..5).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(ds, vec![100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
