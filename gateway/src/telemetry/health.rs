//! Readiness: a registry where components (listeners now, database bridges later) report
//! whether they can serve, read by `GET /readyz`.
//!
//! A component registers once and keeps its [`ReadyHandle`]; it starts not ready. Dropping the
//! handle marks the component stopped (not ready): a bridge that crashed must not look healthy.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The registry; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    components: Arc<Mutex<BTreeMap<String, ComponentState>>>,
}

/// One component's state as `/readyz` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentState {
    pub ready: bool,
    /// Why, in a few words ("listening on 127.0.0.1:8080", "connection refused").
    pub detail: String,
}

/// The whole picture: ready when every component is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    pub ready: bool,
    pub components: BTreeMap<String, ComponentState>,
}

/// A component's way to report its state.
#[derive(Debug)]
pub struct ReadyHandle {
    name: String,
    registry: Readiness,
}

impl Readiness {
    /// Registers `name` (e.g. `listener:0`, `bridge:postgres`), not ready yet. Registering a
    /// name again replaces its state.
    pub fn register(&self, name: impl Into<String>) -> ReadyHandle {
        let name = name.into();
        let state = ComponentState { ready: false, detail: "starting".into() };
        self.lock().insert(name.clone(), state);
        ReadyHandle { name, registry: self.clone() }
    }

    /// Every component's state right now.
    pub fn report(&self) -> ReadinessReport {
        let components = self.lock().clone();
        ReadinessReport { ready: components.values().all(|c| c.ready), components }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ComponentState>> {
        // Held only to copy or set one entry, never across an await or a callback.
        self.components.lock().expect("readiness lock is never held across a panic")
    }
}

impl ReadyHandle {
    /// Ready or not, keeping the detail.
    pub fn set_ready(&self, ready: bool) {
        if let Some(c) = self.registry.lock().get_mut(&self.name) {
            c.ready = ready;
        }
    }

    /// Ready or not, and why.
    pub fn set(&self, ready: bool, detail: impl Into<String>) {
        let state = ComponentState { ready, detail: detail.into() };
        self.registry.lock().insert(self.name.clone(), state);
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ReadyHandle {
    fn drop(&mut self) {
        self.set(false, "stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_component_is() {
        let readiness = Readiness::default();
        assert!(readiness.report().ready, "nothing registered: nothing is missing");
        let listener = readiness.register("listener:0");
        let bridge = readiness.register("bridge:postgres");
        assert!(!readiness.report().ready);
        listener.set(true, "listening");
        bridge.set_ready(true);
        let report = readiness.report();
        assert!(report.ready);
        assert_eq!(report.components["bridge:postgres"].detail, "starting");
        bridge.set(false, "connection refused");
        assert_eq!(readiness.report().components["bridge:postgres"].detail, "connection refused");
        assert!(!readiness.report().ready);
        bridge.set_ready(true);
        drop(listener);
        let report = readiness.report();
        assert!(!report.ready);
        assert_eq!(report.components["listener:0"], ComponentState { ready: false, detail: "stopped".into() });
    }
}
