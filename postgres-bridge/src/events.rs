//! The outbox consumer: `wamp.event` read in commit order by one named consumer.
//!
//! ## Commit order
//! A `bigserial` id is taken when a row is inserted, not when its transaction commits, so a
//! consumer that simply read "ids above the last one" would skip an event whose transaction
//! committed after a later id was already read. Each event therefore records the id of its
//! top-level transaction (`xid8`, `pg_current_xact_id()`), and a fetch takes only events whose
//! transaction id is below `pg_snapshot_xmin(pg_current_snapshot())` — older than every
//! transaction still running, so all such transactions have committed or rolled back and no new
//! event can ever appear below that horizon. Events come ordered by (transaction id, event id):
//! one transaction's events together, in publish order, transactions in the order they began
//! writing. For transactions that do not overlap that is exactly commit order; for overlapping
//! ones the later-starting one waits until the earlier one ends, so the order never changes after
//! delivery and nothing is skipped. A transaction left open delays later events until it ends.
//!
//! ## Consumers
//! `wamp.consumer` holds each consumer's position (transaction id, event id). A new consumer starts
//! at the horizon (it receives events of transactions still running or yet to come). A session
//! advisory lock on the dedicated connection keeps two bridges from consuming under the same
//! name at once (the second waits). Purging deletes events every consumer has passed, and events
//! older than the retention whatever the consumers.

use std::time::Duration;

use bridge::convert::from_json;
use bridge::{EventQueue, QueuedEvent};
use postgres::Client;
use wamp::{Dict, List, Value};

use crate::error::PgBridgeError;
use crate::install::install;
use crate::listen::Dedicated;

/// NOTIFY channel `wamp.publish` signals on commit.
pub const CHANNEL: &str = "wamp_event";

/// A consumer's position: (transaction id, event id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub xid: u64,
    pub id: i64,
}

const REGISTER: &str = "
insert into wamp.consumer (name, last_xid, last_id)
values ($1, pg_snapshot_xmin(pg_current_snapshot()), 0)
on conflict (name) do nothing";

const FETCH: &str = "
select e.id, e.xid::text, e.topic, e.args::text, e.kwargs::text, e.options::text,
       extract(epoch from e.created_at)::float8
  from wamp.event e, wamp.consumer c
 where c.name = $1
   and (e.xid, e.id) > (c.last_xid, c.last_id)
   and e.xid < pg_snapshot_xmin(pg_current_snapshot())
 order by e.xid, e.id
 limit $2";

const ACK: &str = "
update wamp.consumer set last_xid = $2::text::xid8, last_id = $3, updated_at = now()
 where name = $1 and (last_xid, last_id) < ($2::text::xid8, $3)";

const PURGE_CONSUMED: &str = "
delete from wamp.event
 where (xid, id) <= (select last_xid, last_id from wamp.consumer order by last_xid, last_id limit 1)";

const PURGE_EXPIRED: &str = "delete from wamp.event where created_at < now() - make_interval(secs => $1)";

/// One consumer's view of the outbox, over a dedicated connection.
pub struct PgEvents {
    conn: Dedicated,
    consumer: String,
}

impl PgEvents {
    pub fn new(config: postgres::Config, application_name: &str, consumer: String) -> Self {
        PgEvents { conn: Dedicated::new(config, application_name, &[CHANNEL]), consumer }
    }

    /// Runs `f` on the connection; after a (re)connect, first installs the schema, registers the
    /// consumer and takes the consumer lock.
    fn with<T>(&mut self, f: impl FnOnce(&mut Client, &str) -> Result<T, PgBridgeError>) -> Result<T, PgBridgeError> {
        let consumer = self.consumer.clone();
        self.conn.with(|client, fresh| {
            if fresh {
                install(client)?;
                client.execute(REGISTER, &[&consumer])?;
                let locked: bool = client
                    .query_one("select pg_try_advisory_lock(hashtextextended('wamp.consumer:' || $1, 0))", &[&consumer])?
                    .get(0);
                if !locked {
                    return Err(PgBridgeError::ConsumerBusy(consumer));
                }
                tracing::info!(consumer = %consumer, "event consumer connected");
            }
            f(client, &consumer)
        })
    }
}

impl EventQueue for PgEvents {
    type Position = Position;
    type Error = PgBridgeError;

    fn fetch(&mut self, limit: usize) -> Result<Vec<QueuedEvent<Position>>, PgBridgeError> {
        self.with(|client, consumer| {
            let rows = client.query(FETCH, &[&consumer, &(limit as i64)])?;
            rows.iter().map(event).collect()
        })
    }

    fn ack(&mut self, upto: &Position) -> Result<(), PgBridgeError> {
        let (xid, id) = (upto.xid.to_string(), upto.id);
        self.with(|client, consumer| {
            client.execute(ACK, &[&consumer, &xid, &id])?;
            Ok(())
        })
    }

    fn purge(&mut self, retention: Duration) -> Result<u64, PgBridgeError> {
        let secs = retention.as_secs_f64();
        self.with(|client, _| Ok(client.execute(PURGE_CONSUMED, &[])? + client.execute(PURGE_EXPIRED, &[&secs])?))
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, PgBridgeError> {
        // Make sure the connection (and so the LISTEN) is up before waiting on it.
        self.with(|_, _| Ok(()))?;
        self.conn.wait(timeout)
    }
}

fn event(row: &postgres::Row) -> Result<QueuedEvent<Position>, PgBridgeError> {
    let id: i64 = row.get(0);
    let bad = |reason: String| PgBridgeError::Event { id, reason };
    let xid: u64 = row.get::<_, String>(1).parse().map_err(|e| bad(format!("xid: {e}")))?;
    let json = |i: usize| -> Result<Value, PgBridgeError> {
        let text: String = row.get(i);
        serde_json::from_str(&text).map(from_json).map_err(|e| bad(e.to_string()))
    };
    let args: List = match json(3)? {
        Value::List(l) => l,
        other => return Err(bad(format!("args is {}, not a list", other.type_name()))),
    };
    let dict = |v: Value, what: &str| -> Result<Dict, PgBridgeError> {
        match v {
            Value::Dict(d) => Ok(d),
            other => Err(bad(format!("{what} is {}, not an object", other.type_name()))),
        }
    };
    Ok(QueuedEvent {
        id,
        position: Position { xid, id },
        topic: row.get(2),
        args,
        kwargs: dict(json(4)?, "kwargs")?,
        options: dict(json(5)?, "options")?,
        created: row
            .get::<_, Option<f64>>(6)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| std::time::UNIX_EPOCH + Duration::from_secs_f64(s)),
    })
}
