//! The real [`AqSource`]: one dedicated thread owning its own session and the `aq::Queue`.
//!
//! `oracle::aq::Queue` is not `Send`, while the core runs each queue operation on whichever
//! blocking thread is free; so the queue lives on a thread of its own and [`AqThread`] (which is
//! `Send`) sends it one command at a time and waits for the answer. The thread connects lazily
//! and drops its session after any error, so the next command reconnects (the pump backs off
//! between attempts). It dequeues with `dequeue_many` and a finite wait: `dequeue()` returns an
//! unusable message when its wait times out.

use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use oracle::aq::{DeqMode, DeqNavigation, Queue, Visibility};
use oracle::sql_type::OracleType;
use oracle::{Connection, Connector};
use secrecy::{ExposeSecret, SecretString};

use crate::error::OraBridgeError;
use crate::events::{AqSource, RawMessage};

/// How the event thread connects and what it consumes.
#[derive(Clone)]
pub struct AqSettings {
    pub connect: String,
    pub user: String,
    pub password: SecretString,
    /// `[OWNER.]WAMP_EVENTS`.
    pub queue: String,
    pub consumer: String,
}

/// `WAMP_CONSUMER`, qualified like the queue.
pub fn consumer_package(queue: &str) -> String {
    match queue.split_once('.') {
        Some((owner, _)) => format!("\"{}\".WAMP_CONSUMER", owner.to_uppercase()),
        None => "WAMP_CONSUMER".to_owned(),
    }
}

type Reply<T> = Sender<Result<T, OraBridgeError>>;

enum Command {
    Dequeue { max: u32, wait: Duration, reply: Reply<Vec<RawMessage>> },
    TakeOverflow { id: i64, reply: Reply<Option<String>> },
    Commit { reply: Reply<()> },
    Purge { age: Duration, reply: Reply<u64> },
}

/// A handle to the event thread.
pub struct AqThread {
    tx: Option<SyncSender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl AqThread {
    /// Starts the thread (it connects on the first command).
    pub fn start(settings: AqSettings) -> std::io::Result<AqThread> {
        let (tx, rx) = sync_channel(1);
        let thread = std::thread::Builder::new().name("oracle-aq".into()).spawn(move || serve(settings, rx))?;
        Ok(AqThread { tx: Some(tx), thread: Some(thread) })
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, OraBridgeError> {
        let (reply, answer) = channel();
        let tx = self.tx.as_ref().ok_or(OraBridgeError::EventThread)?;
        tx.send(make(reply)).map_err(|_| OraBridgeError::EventThread)?;
        answer.recv().map_err(|_| OraBridgeError::EventThread)?
    }
}

impl Drop for AqThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread after its current command.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl AqSource for AqThread {
    fn dequeue(&mut self, max: u32, wait: Duration) -> Result<Vec<RawMessage>, OraBridgeError> {
        self.ask(|reply| Command::Dequeue { max, wait, reply })
    }
    fn take_overflow(&mut self, id: i64) -> Result<Option<String>, OraBridgeError> {
        self.ask(|reply| Command::TakeOverflow { id, reply })
    }
    fn commit(&mut self) -> Result<(), OraBridgeError> {
        self.ask(|reply| Command::Commit { reply })
    }
    fn purge_overflow(&mut self, age: Duration) -> Result<u64, OraBridgeError> {
        self.ask(|reply| Command::Purge { age, reply })
    }
}

/// The thread's session and queue.
struct Session {
    // Declared first so it is dropped before the connection it uses.
    queue: Queue<[u8]>,
    conn: Connection,
    wait: Option<Duration>,
}

fn open(s: &AqSettings) -> Result<Session, OraBridgeError> {
    let conn = Connector::new(&s.user, s.password.expose_secret(), &s.connect).connect()?;
    conn.set_module("wamp-gateway")?;
    conn.set_action(&format!("events:{}", s.consumer))?;
    let mut queue = Queue::<[u8]>::new(&conn, &s.queue, &())?;
    let options = queue.deq_options()?;
    options.set_consumer_name(&s.consumer)?;
    options.set_mode(&DeqMode::Remove)?;
    // Part of our transaction: removed only when the pump commits after publishing.
    options.set_visibility(&Visibility::OnCommit)?;
    // From the head every time, so messages committed meanwhile are never passed over.
    options.set_navigation(&DeqNavigation::FirstMessage)?;
    tracing::info!(queue = %s.queue, consumer = %s.consumer, "event consumer connected");
    Ok(Session { queue, conn, wait: None })
}

fn serve(settings: AqSettings, rx: Receiver<Command>) {
    let mut session: Option<Session> = None;
    let package = consumer_package(&settings.queue);
    while let Ok(command) = rx.recv() {
        macro_rules! run {
            ($reply:expr, $body:expr) => {{
                let result = (|| {
                    if session.is_none() {
                        session = Some(open(&settings)?);
                    }
                    let s = session.as_mut().expect("opened above");
                    #[allow(clippy::redundant_closure_call)]
                    $body(s)
                })();
                if result.is_err() {
                    // Dropping the session rolls back whatever it dequeued.
                    session = None;
                }
                let _ = $reply.send(result);
            }};
        }
        match command {
            Command::Dequeue { max, wait, reply } => run!(reply, |s: &mut Session| -> Result<_, OraBridgeError> {
                if s.wait != Some(wait) {
                    s.queue.deq_options()?.set_wait(&wait)?;
                    s.wait = Some(wait);
                }
                let props = s.queue.dequeue_many(max)?;
                props.iter().map(|p| Ok(RawMessage { msgid: p.message_id()?, payload: p.payload()? })).collect()
            }),
            Command::TakeOverflow { id, reply } => run!(reply, |s: &mut Session| -> Result<_, OraBridgeError> {
                let mut stmt = s.conn.statement(&format!("begin :env := {package}.TAKE_OVERFLOW(:id); end;")).build()?;
                stmt.execute_named(&[("env", &OracleType::CLOB), ("id", &id)])?;
                Ok(stmt.bind_value::<_, Option<String>>("env")?)
            }),
            Command::Commit { reply } => run!(reply, |s: &mut Session| -> Result<_, OraBridgeError> { Ok(s.conn.commit()?) }),
            Command::Purge { age, reply } => run!(reply, |s: &mut Session| -> Result<_, OraBridgeError> {
                let mut stmt = s.conn.statement(&format!("begin :n := {package}.PURGE_OVERFLOW(:secs); end;")).build()?;
                stmt.execute_named(&[("n", &OracleType::Number(0, -127)), ("secs", &(age.as_secs() as i64))])?;
                let n: i64 = stmt.bind_value("n")?;
                s.conn.commit()?;
                Ok(n.max(0) as u64)
            }),
        }
    }
    if let Some(s) = session {
        // Whatever is uncommitted is redelivered.
        let _ = s.conn.rollback();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consumer_package_is_qualified_like_the_queue() {
        assert_eq!(consumer_package("hr.WAMP_EVENTS"), "\"HR\".WAMP_CONSUMER");
        assert_eq!(consumer_package("WAMP_EVENTS"), "WAMP_CONSUMER");
    }

    #[test]
    fn without_a_client_library_commands_fail_and_the_thread_survives() {
        let settings = AqSettings {
            connect: "//127.0.0.1:1/NOPE".into(),
            user: "u".into(),
            password: SecretString::from("p".to_string()),
            queue: "WAMP_EVENTS".into(),
            consumer: "gateway".into(),
        };
        let mut t = AqThread::start(settings).unwrap();
        // DPI-1047 here (no Instant Client), a connection error where there is one.
        assert!(matches!(t.dequeue(1, Duration::ZERO), Err(OraBridgeError::Db(_))));
        assert!(matches!(t.commit(), Err(OraBridgeError::Db(_))));
        drop(t);
    }
}
