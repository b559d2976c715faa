//! The way out of the router to one session: a bounded queue plus a close signal.
//!
//! Every message the router sends a session is an [`Outgoing`]: the message plus a lazily filled
//! per-serializer byte cache behind an `Arc`, so a fan-out serializes an EVENT once per serializer
//! and every subscriber's transport writes the same bytes. The queue is bounded: when a session
//! does not drain it, the router closes that session ([`CloseReason::SlowConsumer`]) instead of
//! waiting, so a slow consumer costs only itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

use crate::codec::Serializer;
use crate::message::Message;

/// A message on its way to a session, shareable between many sessions.
#[derive(Debug, Clone)]
pub struct Outgoing(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    message: Message,
    encoded: [OnceLock<Bytes>; 3],
}

impl Outgoing {
    pub fn new(message: Message) -> Self {
        Outgoing(Arc::new(Shared { message, encoded: Default::default() }))
    }

    pub fn message(&self) -> &Message {
        &self.0.message
    }

    /// The message's bytes in `serializer`, encoded at most once however many sessions share it.
    pub fn encoded(&self, serializer: Serializer) -> Bytes {
        let slot = &self.0.encoded[serializer as usize];
        slot.get_or_init(|| Bytes::from(serializer.encode(&self.0.message))).clone()
    }

    /// The message itself, cloned only if another session still shares it.
    pub fn into_message(self) -> Message {
        match Arc::try_unwrap(self.0) {
            Ok(shared) => shared.message,
            Err(shared) => shared.message.clone(),
        }
    }
}

/// Why the router ends a session from its side.
#[derive(Debug, Clone, PartialEq)]
pub enum CloseReason {
    /// The router is shutting down: GOODBYE `wamp.close.system_shutdown`, wait for the reply.
    Shutdown,
    /// Killed through the meta API: GOODBYE with this reason and message, wait for the reply.
    Killed { reason: String, message: Option<String> },
    /// The session did not drain its outbound queue; close the connection at once.
    SlowConsumer,
}

impl CloseReason {
    /// The GOODBYE to send before closing, if any.
    pub fn goodbye(&self) -> Option<Message> {
        let (reason, message) = match self {
            CloseReason::Shutdown => ("wamp.close.system_shutdown".to_owned(), None),
            CloseReason::Killed { reason, message } => (reason.clone(), message.clone()),
            CloseReason::SlowConsumer => return None,
        };
        let mut details = crate::Dict::new();
        if let Some(m) = message {
            details.insert("message".into(), m.into());
        }
        Some(Message::Goodbye { details, reason })
    }

    /// Text for the transport's close frame.
    pub fn describe(&self) -> String {
        match self {
            CloseReason::Shutdown => "router shutting down".into(),
            CloseReason::Killed { reason, .. } => format!("session killed: {reason}"),
            CloseReason::SlowConsumer => "outbound queue full: the session did not read its messages fast enough".into(),
        }
    }
}

/// The router's handle on a session's way out.
#[derive(Debug, Clone)]
pub struct Mailbox {
    tx: mpsc::Sender<Outgoing>,
    closer: Arc<Closer>,
}

#[derive(Debug, Default)]
struct Closer {
    reason: Mutex<Option<CloseReason>>,
    /// Set once `reason` is: lets the transport check for a close order per message without
    /// taking the lock.
    closing: AtomicBool,
    notify: Notify,
}

/// What a transport reads from: messages to write, or the order to close.
#[derive(Debug)]
pub struct Outbox {
    rx: mpsc::Receiver<Outgoing>,
    closer: Arc<Closer>,
}

/// What the transport should do next.
#[derive(Debug)]
pub enum OutEvent {
    Send(Outgoing),
    Close(CloseReason),
}

/// A bounded queue of `capacity` messages for one session.
pub fn channel(capacity: usize) -> (Mailbox, Outbox) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let closer = Arc::new(Closer::default());
    (Mailbox { tx, closer: closer.clone() }, Outbox { rx, closer })
}

impl Mailbox {
    /// Queues a message without waiting. A full queue closes the session as a slow consumer and
    /// returns false; so does a session already gone.
    pub fn send(&self, msg: Outgoing) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(CloseReason::SlowConsumer);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the session's transport to close; the first reason given wins.
    pub fn close(&self, reason: CloseReason) {
        let mut slot = self.closer.reason.lock().expect("closer lock is never held across a panic");
        if slot.is_none() {
            *slot = Some(reason);
            self.closer.closing.store(true, Ordering::Release);
            self.closer.notify.notify_one();
        }
    }

    /// Whether two mailboxes lead to the same session.
    pub fn same(&self, other: &Mailbox) -> bool {
        Arc::ptr_eq(&self.closer, &other.closer)
    }
}

impl Outbox {
    /// The next message to write, or the order to close. A close order takes precedence over
    /// queued messages (a slow consumer is not drained first).
    pub async fn next(&mut self) -> OutEvent {
        loop {
            if let Some(reason) = self.take_close() {
                return OutEvent::Close(reason);
            }
            // A queued message needs no waiting machinery (the common case under load).
            if let Ok(m) = self.rx.try_recv() {
                return OutEvent::Send(m);
            }
            tokio::select! {
                biased;
                _ = self.closer.notify.notified() => continue,
                msg = self.rx.recv() => match msg {
                    Some(m) => return OutEvent::Send(m),
                    // Every mailbox is gone: the router forgot the session.
                    None => return OutEvent::Close(self.take_close().unwrap_or(CloseReason::Killed {
                        reason: "wamp.close.system_shutdown".into(),
                        message: None,
                    })),
                },
            }
        }
    }

    /// A message already queued, without waiting (for draining after a close order).
    pub fn try_next(&mut self) -> Option<Outgoing> {
        self.rx.try_recv().ok()
    }

    fn take_close(&self) -> Option<CloseReason> {
        if !self.closer.closing.load(Ordering::Acquire) {
            return None;
        }
        self.closer.reason.lock().expect("closer lock is never held across a panic").clone()
    }
}
