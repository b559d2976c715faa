//! # Oracle bridge
//!
//! Subprograms of exposed PL/SQL packages become WAMP procedures (`<prefix>.<subprogram>`), and
//! events published inside the database with `WAMP.PUBLISH(...)` (Advanced Queuing, on-commit
//! visibility) reach WAMP subscribers when the transaction commits. The DB-generic parts
//! (sessions, argument resolution, results, executor, event pump) live in the `bridge` crate;
//! this crate implements its adapter traits and keeps every Oracle-free decision in pure,
//! unit-tested functions.
//!
//! ## Layout
//! - [`config`]: the `[[bridges]] type = "oracle"` settings (a contract with the gateway's config).
//! - [`catalog`]: `ALL_PROCEDURES`/`ALL_ARGUMENTS` rows → the catalog model (pure);
//!   [`dictionary`]: reading them, and watching `LAST_DDL_TIME`.
//! - [`plsql`]: the anonymous block and bind plan of a call (pure); [`values`]: WAMP ↔ Oracle
//!   values (pure); [`call`]: running it on the session pool, cancel, commit/rollback.
//! - [`error`]: ORA errors → WAMP errors (pure) and the adapter's own errors.
//! - [`envelope`]: the event envelope (pure); [`events`]: the AQ consumer as the core's event
//!   queue; [`aq`]: the dedicated thread owning the `aq::Queue`.
//! - [`install`]: the `plsql/` scripts and a runner for them.

pub mod aq;
pub mod call;
pub mod catalog;
pub mod config;
pub mod dictionary;
pub mod envelope;
pub mod error;
pub mod events;
pub mod install;
pub mod plsql;
pub mod values;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bridge::{BridgeHandle, BridgeSpec, CallOptions, Exposure, Monitoring, PumpOptions, StartError};
use thiserror::Error;
use wamp::router::Router;

pub use config::{ExposeConfig, OracleBridgeConfig};

/// Why the bridge did not start (database trouble is not one: it reconnects).
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot start the event thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// [`start_monitored`] without monitoring.
pub async fn start(config: &OracleBridgeConfig, router: &Arc<Router>) -> Result<BridgeHandle, Error> {
    start_monitored(config, router, Monitoring::default()).await
}

/// Validates `config` and starts the bridge on `router`, reporting metrics, readiness and database call spans
/// through `monitoring`.
pub async fn start_monitored(config: &OracleBridgeConfig, router: &Arc<Router>, monitoring: Monitoring) -> Result<BridgeHandle, Error> {
    config.validate()?;
    let login = dictionary::Login { connect: config.connect.clone(), user: config.user.clone(), password: config.password() };
    let exposures: Vec<Exposure> = config.expose.iter().map(|e| Exposure { schema: e.reference(), prefix: e.prefix.clone() }).collect();
    let prefixes: HashMap<String, String> = exposures.iter().rev().map(|e| (e.schema.clone(), e.prefix.clone())).collect();
    // AQ agent names are stored upper-cased (plsql/subscriber.sql does the same).
    let consumer = config.consumer.to_uppercase();
    let aq = aq::AqThread::start(aq::AqSettings {
        connect: login.connect.clone(),
        user: login.user.clone(),
        password: login.password.clone(),
        queue: config.queue.clone(),
        consumer: consumer.clone(),
    })?;
    let spec = BridgeSpec {
        name: format!("oracle:{}", config.consumer),
        realm: config.realm.clone(),
        authid: format!("bridge:oracle:{}", config.consumer),
        authrole: config.authrole.clone(),
        exposures,
        database: Arc::new(call::OraDatabase::new(login.clone(), config.pool_size, config.call_timeout(), prefixes)),
        catalog: dictionary::OraCatalog::new(login, config.expose.clone(), config.ddl_check()),
        catalog_poll: config.catalog_poll(),
        events: events::AqEvents::new(aq, config.batch_size),
        pump: PumpOptions {
            poll_interval: config.poll_interval(),
            batch_size: config.batch_size,
            retention: config.retention(),
            purge_every: Duration::from_secs(60),
        },
        calls: CallOptions { threads: config.pool_size as usize, queue: config.queue_size, stream_batch: config.stream_batch_rows },
        monitoring,
    };
    Ok(bridge::start(router, spec).await?)
}
