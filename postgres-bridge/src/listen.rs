//! A dedicated connection outside the pool, for LISTEN and the bridge's own queries.
//!
//! It connects lazily, LISTENs on its channels after every (re)connect, and is dropped after any
//! error so the next use reconnects: the caller only has to back off between attempts.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use crate::error::PgBridgeError;

/// One dedicated connection.
pub struct Dedicated {
    config: postgres::Config,
    channels: &'static [&'static str],
    client: Option<Client>,
}

impl Dedicated {
    /// A connection that will LISTEN on `channels`, reported in `pg_stat_activity` as `application_name`.
    pub fn new(mut config: postgres::Config, application_name: &str, channels: &'static [&'static str]) -> Self {
        config.application_name(application_name);
        Dedicated { config, channels, client: None }
    }

    /// Whether the connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.client.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// Runs `f` on the connection (connecting first if needed); drops the connection if `f` fails.
    /// `fresh` is true on the first use after a (re)connect.
    pub fn with<T>(&mut self, f: impl FnOnce(&mut Client, bool) -> Result<T, PgBridgeError>) -> Result<T, PgBridgeError> {
        let fresh = !self.is_connected();
        if fresh {
            let mut client = self.config.connect(NoTls)?;
            for ch in self.channels {
                client.batch_execute(&format!("listen {ch}"))?;
            }
            self.client = Some(client);
        }
        let client = self.client.as_mut().expect("connected above");
        let result = f(client, fresh);
        if result.is_err() {
            self.client = None;
        }
        result
    }

    /// Waits up to `timeout` for a notification on any channel; drains the others that came with it.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, PgBridgeError> {
        self.with(|client, _| {
            let mut notes = client.notifications();
            let first = notes.timeout_iter(timeout).next()?;
            if first.is_some() {
                while notes.iter().next()?.is_some() {}
            }
            Ok(first.is_some())
        })
    }
}
