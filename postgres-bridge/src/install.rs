//! Installs schema `wamp` (`pgsql/install.sql`) idempotently.
//!
//! Several bridges may start at once against one database; concurrent `create ... if not exists`
//! statements can still collide in the system catalogs, so the script runs in one transaction
//! under a transaction-level advisory lock.

use postgres::Client;

use crate::error::PgBridgeError;

/// The install script, as shipped in `pgsql/install.sql`.
pub const INSTALL_SQL: &str = include_str!("../../pgsql/install.sql");

/// An arbitrary constant naming the install lock.
const INSTALL_LOCK: i64 = 0x7761_6d70_5f69_6e73; // "wamp_ins"

/// Runs the install script (a no-op when everything is already there).
pub fn install(client: &mut Client) -> Result<(), PgBridgeError> {
    let mut tx = client.transaction()?;
    tx.execute("select pg_advisory_xact_lock($1)", &[&INSTALL_LOCK])?;
    // The notices about objects that already exist are expected; keep them out of the log.
    tx.batch_execute("set local client_min_messages = warning")?;
    tx.batch_execute(INSTALL_SQL)?;
    tx.commit()?;
    Ok(())
}
