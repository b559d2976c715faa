//! The way out of the router to one session: a bounded queue plus a close signal.
//!
//! Every message the router sends a session is an [`Outgoing`]: the message plus a lazily filled
//! per-serializer byte cache behind an `Arc`, so a fan-out serializes an EVENT once per serializer
//! and every subscriber's transport writes the same bytes. The queue is bounded: when a session
//! does not drain it, the router closes that session ([`CloseReason::SlowConsumer`]) instead of
//! waiting, so a slow consumer costs only itself.

use std::cell::RefCell;
use std::marker::PhantomData;
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
    ///
    /// Inside a [`Batch`] the message's room in the queue is taken now (so a full queue is found
    /// now) but the message goes in, and the session's task is woken, when the batch ends.
    pub fn send(&self, msg: Outgoing) -> bool {
        if Batch::active() {
            return match self.tx.clone().try_reserve_owned() {
                Ok(permit) => {
                    HELD.with_borrow_mut(|held| held.sends.push((permit, msg)));
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.close(CloseReason::SlowConsumer);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            };
        }
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

/// Holds back the sends made on this thread while it lives, and delivers them, in order, when the
/// outermost batch ends.
///
/// The realm takes one with its lock and drops it after the lock: waking a session's task on
/// another worker thread is a system call, and making it under the lock would make every other
/// thread wait for it. A message's place in its queue is reserved when it is sent, so what the
/// session receives, and in which order, is what it would be without the batch; only the wake-up
/// moves to after the lock.
pub(crate) struct Batch {
    /// Thread-bound: the held sends live in a thread-local.
    _thread: PhantomData<*const ()>,
}

#[derive(Default)]
struct Held {
    depth: usize,
    sends: Vec<(mpsc::OwnedPermit<Outgoing>, Outgoing)>,
}

thread_local! {
    static HELD: RefCell<Held> = RefCell::new(Held::default());
}

impl Batch {
    pub(crate) fn begin() -> Batch {
        HELD.with_borrow_mut(|held| held.depth += 1);
        Batch { _thread: PhantomData }
    }

    fn active() -> bool {
        HELD.with_borrow(|held| held.depth > 0)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let mut sends = HELD.with_borrow_mut(|held| {
            held.depth -= 1;
            if held.depth == 0 {
                std::mem::take(&mut held.sends)
            } else {
                Vec::new()
            }
        });
        if sends.is_empty() {
            return;
        }
        for (permit, msg) in sends.drain(..) {
            permit.send(msg);
        }
        // Keep the buffer's room for the next batch on this thread.
        HELD.with_borrow_mut(|held| {
            if held.sends.is_empty() {
                held.sends = sends;
            }
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RequestId;

    fn published(n: u64) -> Outgoing {
        Outgoing::new(Message::Published { request: RequestId(n), publication: crate::ids::PublicationId(n) })
    }

    fn request_of(event: Option<Outgoing>) -> Option<u64> {
        match event?.message() {
            Message::Published { request, .. } => Some(request.0),
            _ => None,
        }
    }

    #[test]
    fn a_batch_delivers_its_sends_in_order_when_it_ends() {
        let (mailbox, mut outbox) = channel(8);
        {
            let _outer = Batch::begin();
            assert!(mailbox.send(published(1)));
            {
                let _inner = Batch::begin();
                assert!(mailbox.send(published(2)));
            }
            // Only the outermost batch delivers.
            assert!(outbox.try_next().is_none());
            assert!(mailbox.send(published(3)));
            assert!(outbox.try_next().is_none());
        }
        let got: Vec<_> = std::iter::from_fn(|| request_of(outbox.try_next())).collect();
        assert_eq!(got, vec![1, 2, 3]);
        // Outside a batch a send is delivered at once.
        assert!(mailbox.send(published(4)));
        assert_eq!(request_of(outbox.try_next()), Some(4));
    }

    #[test]
    fn a_batch_finds_a_full_queue_when_the_message_is_sent() {
        let (mailbox, mut outbox) = channel(2);
        {
            let _batch = Batch::begin();
            assert!(mailbox.send(published(1)));
            assert!(mailbox.send(published(2)));
            // The room is taken at send time: the third does not fit, and closes the session.
            assert!(!mailbox.send(published(3)));
        }
        assert_eq!(request_of(outbox.try_next()), Some(1));
        assert_eq!(request_of(outbox.try_next()), Some(2));
        assert!(outbox.try_next().is_none());
        assert_eq!(outbox.take_close(), Some(CloseReason::SlowConsumer));
    }

    #[test]
    fn a_batch_skips_a_session_that_is_gone() {
        let (mailbox, outbox) = channel(2);
        drop(outbox);
        let _batch = Batch::begin();
        assert!(!mailbox.send(published(1)));
    }
}
