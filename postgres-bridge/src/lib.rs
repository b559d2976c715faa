//! # PostgreSQL bridge
//!
//! Functions in exposed schemas become WAMP procedures (`<prefix>.<function>`), and events
//! published inside the database with `wamp.publish(...)` reach WAMP subscribers when the
//! transaction commits. The DB-generic parts (sessions, argument and result mapping, executor,
//! event pump) live in the `bridge` crate; this crate implements its adapter traits.
//!
//! ## Layout
//! - [`config`]: the `[[bridges]] type = "postgres"` settings (a contract with the gateway's config).
//! - [`catalog`]: `pg_proc` → the catalog model; [`listen`]: dedicated LISTEN connections.
//! - [`call`]: one call in one transaction on a pooled connection, streamed from a portal;
//!   [`pool`]: r2d2 over connections that keep their prepared statements.
//! - [`sql`]: SQL text and text parameters; [`decode`]: binary results → WAMP values.
//! - [`events`]: the outbox consumer (commit order, positions, purge); [`install`]: `pgsql/install.sql`.
//! - [`error`]: adapter errors and the classification of PostgreSQL errors.

pub mod async_pool;
pub mod call;
pub mod catalog;
pub mod config;
pub mod decode;
pub mod error;
pub mod events;
pub mod install;
pub mod listen;
pub mod pool;
pub mod sql;

use std::sync::Arc;
use std::time::Duration;

use bridge::{BridgeHandle, BridgeSpec, CallOptions, Exposure, Monitoring, PumpOptions, StartError};
use thiserror::Error;
use wamp::router::Router;

pub use config::{ExposeConfig, PostgresBridgeConfig};

/// Why the bridge did not start (database trouble is not one: it reconnects).
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
}

/// [`start_monitored`] without monitoring.
pub async fn start(config: &PostgresBridgeConfig, router: &Arc<Router>) -> Result<BridgeHandle, Error> {
    start_monitored(config, router, Monitoring::default()).await
}

/// Validates `config`, builds the pool and starts the bridge on `router`, reporting metrics, readiness and database call spans
/// through `monitoring`.
pub async fn start_monitored(config: &PostgresBridgeConfig, router: &Arc<Router>, monitoring: Monitoring) -> Result<BridgeHandle, Error> {
    config.validate()?;
    let pg = config.pg_config()?;
    let label = |part: &str| format!("wamp-bridge:{}:{part}", config.consumer);
    let mut pool_pg = pg.clone();
    pool_pg.application_name(&label("call"));
    let pool = pool::build(pool_pg, config.pool_size);
    let mut async_pg = config.async_config()?;
    async_pg.application_name(label("call"));
    let exposures: Vec<Exposure> =
        config.expose.iter().map(|e| Exposure { schema: e.schema.clone(), prefix: e.prefix.clone() }).collect();
    let schemas = exposures.iter().map(|e| e.schema.clone()).collect();
    let spec = BridgeSpec {
        name: format!("postgres:{}", config.consumer),
        realm: config.realm.clone(),
        authid: format!("bridge:postgres:{}", config.consumer),
        authrole: config.authrole.clone(),
        exposures,
        database: Arc::new(call::PgDatabase::new(pool, async_pool::AsyncPool::new(async_pg), config.set_role)),
        catalog: catalog::PgCatalog::new(pg.clone(), &label("catalog"), schemas),
        catalog_poll: config.catalog_poll(),
        events: events::PgEvents::new(pg, &label("events"), config.consumer.clone()),
        pump: PumpOptions {
            poll_interval: config.poll_interval(),
            batch_size: config.batch_size,
            retention: config.retention(),
            purge_every: Duration::from_secs(10),
        },
        calls: CallOptions { threads: config.pool_size as usize, queue: config.queue_size, stream_batch: config.stream_batch_rows },
        monitoring,
    };
    Ok(bridge::start(router, spec).await?)
}
