//! The router: realms and the sessions joined to them.
//!
//! ## Ownership
//! Each [`Realm`](realm::Realm) owns its routing state (sessions, broker, dealer) behind one
//! mutex. A session's inbound message takes that lock briefly, updates the tables and queues the
//! resulting messages into the target sessions' bounded [mailboxes](outbox::Mailbox) without
//! waiting; no `.await` ever happens under the lock, so no session can stall another.
//!
//! Transports create a [`Session`] per connection with [`Router::open_session`], feed it decoded
//! messages and write out what its [`Outbox`] yields. Database bridges use the same API
//! in-process (see [`link`]).

pub mod auth;
pub mod caller;
pub mod config;
pub mod link;
pub mod observe;
pub mod outbox;
pub mod session;

mod broker;
mod dealer;
mod matching;
mod meta;
mod realm;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use caller::InternalCaller;

pub use auth::{AuthStep, Authenticator, HelloContext, Identity};
pub use config::{Permission, RealmConfig, RoleConfig, RouterConfig};
pub use outbox::{CloseReason, OutEvent, Outbox, Outgoing};
pub use realm::RealmStats;
pub use session::{Flow, Session, TransportInfo};

use crate::uri::UriRules;
use realm::Realm;

/// A WAMP router: a set of realms.
pub struct Router {
    realms: RwLock<HashMap<String, Arc<Realm>>>,
    uri_rules: UriRules,
    /// One internal caller per realm, started on first use.
    callers: Mutex<HashMap<String, InternalCaller>>,
}

impl Router {
    /// A router serving the realms in `config`, unobserved.
    pub fn new(config: RouterConfig) -> Arc<Router> {
        Router::with_observer(config, Arc::new(observe::Unobserved))
    }

    /// A router serving the realms in `config`, reporting to `observer` (telemetry).
    pub fn with_observer(config: RouterConfig, observer: Arc<dyn observe::Observer>) -> Arc<Router> {
        let realms = config
            .realms
            .iter()
            .map(|r| (r.name.clone(), Arc::new(Realm::new(r.clone(), config.uri_check, observer.clone()))))
            .collect();
        Arc::new(Router { realms: RwLock::new(realms), uri_rules: config.uri_check, callers: Mutex::default() })
    }

    /// A new session for one connection. The transport feeds inbound messages to the [`Session`]
    /// and writes what the [`Outbox`] yields; `authenticator` decides who may join.
    pub fn open_session(
        self: &Arc<Self>,
        transport: TransportInfo,
        authenticator: Arc<dyn Authenticator>,
    ) -> (Session, Outbox) {
        Session::new(self.clone(), transport, authenticator)
    }

    /// Asks every session in every realm to leave with GOODBYE `wamp.close.system_shutdown`.
    pub fn shutdown(&self) {
        for realm in self.realms() {
            realm.close_all(CloseReason::Shutdown);
        }
    }

    /// Sessions currently joined, across all realms.
    pub fn session_count(&self) -> usize {
        self.realms().iter().map(|r| r.session_count()).sum()
    }

    /// What a realm holds right now, if it exists.
    pub fn stats(&self, realm: &str) -> Option<RealmStats> {
        self.realm(realm).map(|r| r.stats())
    }

    /// A handle for calling procedures in `realm` from router code (dynamic authentication and
    /// authorization). Starts the realm's internal session on first use; needs a tokio runtime.
    pub fn internal_caller(self: &Arc<Self>, realm: &str) -> InternalCaller {
        let mut callers = self.callers.lock().expect("caller table lock is never held across a panic");
        callers.entry(realm.to_owned()).or_insert_with(|| InternalCaller::start(self, realm)).clone()
    }

    pub(crate) fn realm(&self, name: &str) -> Option<Arc<Realm>> {
        self.realms.read().expect("realm table lock is never held across a panic").get(name).cloned()
    }

    fn realms(&self) -> Vec<Arc<Realm>> {
        self.realms.read().expect("realm table lock is never held across a panic").values().cloned().collect()
    }

    pub(crate) fn uri_rules(&self) -> UriRules {
        self.uri_rules
    }
}
