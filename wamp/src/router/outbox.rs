//! The way out of the router to one session: a bounded queue plus a close signal.
//!
//! Every message the router sends a session is an [`Outgoing`]: the message plus a lazily filled
//! per-serializer byte cache behind an `Arc`, so a fan-out serializes an EVENT once per serializer
//! and every subscriber's transport writes the same bytes. The queue is bounded: when a session
//! does not drain it, the router closes that session ([`CloseReason::SlowConsumer`]) instead of
//! waiting, so a slow consumer costs only itself.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Poll, Waker};

use bytes::Bytes;
use futures_util::task::AtomicWaker;

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

/// Room for queued messages a session keeps once its queue is empty again.
const SHRINK_ABOVE: usize = 256;

/// The router's handle on a session's way out.
#[derive(Debug)]
pub struct Mailbox {
    queue: Arc<Queue>,
}

/// One session's bounded outbound queue, shared by its mailboxes and its outbox.
///
/// A plain mutex-guarded deque and the transport task's waker rather than a channel: the router
/// sends a message under the realm lock (see [`Batch`]), and what it must do there is only the
/// push; the wake-up, which is a system call when the session's task sleeps on another thread,
/// is taken out of the waker and made after the realm lock is released.
#[derive(Debug)]
struct Queue {
    items: Mutex<VecDeque<Outgoing>>,
    capacity: usize,
    /// The transport's task while it waits for a message or a close order.
    waker: AtomicWaker,
    /// Mailboxes alive; at zero the router has forgotten the session.
    mailboxes: AtomicUsize,
    /// The outbox is gone: nothing reads the queue any more.
    abandoned: AtomicBool,
    reason: Mutex<Option<CloseReason>>,
    /// Set once `reason` is: lets the transport check for a close order per message without
    /// taking the lock.
    closing: AtomicBool,
}

impl Queue {
    fn items(&self) -> MutexGuard<'_, VecDeque<Outgoing>> {
        // Nothing panics while holding it; a poisoned deque is still a valid deque.
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a transport reads from: messages to write, or the order to close.
#[derive(Debug)]
pub struct Outbox {
    queue: Arc<Queue>,
}

/// What the transport should do next.
#[derive(Debug)]
pub enum OutEvent {
    Send(Outgoing),
    Close(CloseReason),
}

/// A bounded queue of `capacity` messages for one session.
pub fn channel(capacity: usize) -> (Mailbox, Outbox) {
    let queue = Arc::new(Queue {
        items: Mutex::new(VecDeque::new()),
        capacity: capacity.max(1),
        waker: AtomicWaker::new(),
        mailboxes: AtomicUsize::new(1),
        abandoned: AtomicBool::new(false),
        reason: Mutex::new(None),
        closing: AtomicBool::new(false),
    });
    (Mailbox { queue: queue.clone() }, Outbox { queue })
}

impl Clone for Mailbox {
    fn clone(&self) -> Self {
        self.queue.mailboxes.fetch_add(1, Ordering::Relaxed);
        Mailbox { queue: self.queue.clone() }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        if self.queue.mailboxes.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.queue.waker.wake();
        }
    }
}

impl Mailbox {
    /// Queues a message without waiting. A full queue closes the session as a slow consumer and
    /// returns false; so does a session already gone.
    ///
    /// Inside a [`Batch`] the message is queued now (so a full queue is found now and the order
    /// is the order of sending) but the session's task is woken when the batch ends.
    pub fn send(&self, msg: Outgoing) -> bool {
        let queue = &*self.queue;
        if queue.abandoned.load(Ordering::Acquire) {
            return false;
        }
        {
            let mut items = queue.items();
            if items.len() >= queue.capacity {
                drop(items);
                self.close(CloseReason::SlowConsumer);
                return false;
            }
            items.push_back(msg);
        }
        let held = HELD.with_borrow_mut(|held| {
            if held.depth == 0 {
                return false;
            }
            if let Some(waker) = queue.waker.take() {
                held.wakers.push(waker);
            }
            true
        });
        if !held {
            queue.waker.wake();
        }
        true
    }

    /// Asks the session's transport to close; the first reason given wins.
    pub fn close(&self, reason: CloseReason) {
        let queue = &*self.queue;
        let mut slot = queue.reason.lock().expect("closer lock is never held across a panic");
        if slot.is_none() {
            *slot = Some(reason);
            queue.closing.store(true, Ordering::Release);
            drop(slot);
            queue.waker.wake();
        }
    }

    /// Whether two mailboxes lead to the same session.
    pub fn same(&self, other: &Mailbox) -> bool {
        Arc::ptr_eq(&self.queue, &other.queue)
    }
}

/// Holds back the wake-ups of the sends made on this thread while it lives, and makes them when
/// the outermost batch ends.
///
/// The realm takes one with its lock and drops it after the lock: waking a session's task on
/// another worker thread is a system call, and making it under the lock would make every other
/// thread wait for it. The messages themselves are queued when sent, so what a session receives,
/// and in which order, is what it would be without the batch.
pub(crate) struct Batch {
    /// Thread-bound: the held wake-ups live in a thread-local.
    _thread: PhantomData<*const ()>,
}

#[derive(Default)]
struct Held {
    depth: usize,
    wakers: Vec<Waker>,
}

thread_local! {
    static HELD: RefCell<Held> = RefCell::new(Held::default());
}

impl Batch {
    pub(crate) fn begin() -> Batch {
        HELD.with_borrow_mut(|held| held.depth += 1);
        Batch { _thread: PhantomData }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        let mut wakers = HELD.with_borrow_mut(|held| {
            held.depth -= 1;
            if held.depth == 0 {
                std::mem::take(&mut held.wakers)
            } else {
                Vec::new()
            }
        });
        if wakers.is_empty() {
            return;
        }
        for waker in wakers.drain(..) {
            waker.wake();
        }
        // Keep the buffer's room for the next batch on this thread.
        HELD.with_borrow_mut(|held| {
            if held.wakers.is_empty() {
                held.wakers = wakers;
            }
        });
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.queue.abandoned.store(true, Ordering::Release);
        self.queue.items().clear();
    }
}

impl Outbox {
    /// The next message to write, or the order to close. A close order takes precedence over
    /// queued messages (a slow consumer is not drained first). Cancel-safe.
    pub async fn next(&mut self) -> OutEvent {
        std::future::poll_fn(|cx| {
            if let Some(event) = self.ready() {
                return Poll::Ready(event);
            }
            self.queue.waker.register(cx.waker());
            // Anything sent or ordered between the first look and the registration.
            match self.ready() {
                Some(event) => Poll::Ready(event),
                None => Poll::Pending,
            }
        })
        .await
    }

    fn ready(&self) -> Option<OutEvent> {
        if let Some(reason) = self.take_close() {
            return Some(OutEvent::Close(reason));
        }
        let mut items = self.queue.items();
        if let Some(m) = items.pop_front() {
            // A burst (a fan-out, a large result stream) leaves room for it behind; an idle
            // session should not keep it.
            if items.is_empty() && items.capacity() > SHRINK_ABOVE {
                items.shrink_to(SHRINK_ABOVE / 8);
            }
            return Some(OutEvent::Send(m));
        }
        drop(items);
        if self.queue.mailboxes.load(Ordering::Acquire) == 0 {
            // Every mailbox is gone: the router forgot the session.
            let reason = self.take_close().unwrap_or(CloseReason::Killed {
                reason: "wamp.close.system_shutdown".into(),
                message: None,
            });
            return Some(OutEvent::Close(reason));
        }
        None
    }

    /// A message already queued, without waiting (for draining after a close order).
    pub fn try_next(&mut self) -> Option<Outgoing> {
        self.queue.items().pop_front()
    }

    fn take_close(&self) -> Option<CloseReason> {
        if !self.queue.closing.load(Ordering::Acquire) {
            return None;
        }
        self.queue.reason.lock().expect("closer lock is never held across a panic").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RequestId;
    use std::future::Future as _;

    fn published(n: u64) -> Outgoing {
        Outgoing::new(Message::Published { request: RequestId(n), publication: crate::ids::PublicationId(n) })
    }

    fn request_of(event: Option<Outgoing>) -> Option<u64> {
        match event?.message() {
            Message::Published { request, .. } => Some(request.0),
            _ => None,
        }
    }

    /// Counts the times the transport's task would have been woken.
    struct Wakes(AtomicUsize);

    fn wakes() -> Arc<Wakes> {
        Arc::new(Wakes(AtomicUsize::new(0)))
    }

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Polls `next()` once, as a waiting transport task would.
    fn poll_once(outbox: &mut Outbox, wakes: &Arc<Wakes>) -> Poll<OutEvent> {
        let waker = Waker::from(wakes.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut next = std::pin::pin!(outbox.next());
        next.as_mut().poll(&mut cx)
    }

    fn woken(wakes: &Arc<Wakes>) -> usize {
        wakes.0.load(Ordering::SeqCst)
    }

    #[test]
    fn a_batch_queues_at_once_and_wakes_the_transport_when_it_ends() {
        let (mailbox, mut outbox) = channel(8);
        let wakes = wakes();
        assert!(poll_once(&mut outbox, &wakes).is_pending());
        {
            let _outer = Batch::begin();
            assert!(mailbox.send(published(1)));
            {
                let _inner = Batch::begin();
                assert!(mailbox.send(published(2)));
            }
            // Only the outermost batch wakes.
            assert_eq!(woken(&wakes), 0);
            assert!(mailbox.send(published(3)));
            assert_eq!(woken(&wakes), 0);
        }
        assert_eq!(woken(&wakes), 1, "one wake-up for the three messages, when the batch ends");
        let got: Vec<_> = std::iter::from_fn(|| request_of(outbox.try_next())).collect();
        assert_eq!(got, vec![1, 2, 3]);
        // Outside a batch a send wakes at once.
        assert!(poll_once(&mut outbox, &wakes).is_pending());
        assert!(mailbox.send(published(4)));
        assert_eq!(woken(&wakes), 2);
        assert!(matches!(poll_once(&mut outbox, &wakes), Poll::Ready(OutEvent::Send(m)) if request_of(Some(m.clone())) == Some(4)));
    }

    #[test]
    fn a_close_order_goes_before_queued_messages_and_a_forgotten_session_closes() {
        let wakes = wakes();
        let (mailbox, mut outbox) = channel(8);
        assert!(mailbox.send(published(1)));
        mailbox.close(CloseReason::SlowConsumer);
        assert!(matches!(poll_once(&mut outbox, &wakes), Poll::Ready(OutEvent::Close(CloseReason::SlowConsumer))));
        // What was queued can still be drained.
        assert_eq!(request_of(outbox.try_next()), Some(1));

        let (mailbox, mut outbox) = channel(8);
        let copy = mailbox.clone();
        assert!(poll_once(&mut outbox, &wakes).is_pending());
        drop(mailbox);
        assert!(poll_once(&mut outbox, &wakes).is_pending(), "a mailbox is still alive");
        let before = woken(&wakes);
        drop(copy);
        assert_eq!(woken(&wakes), before + 1, "the last mailbox wakes the transport");
        assert!(matches!(poll_once(&mut outbox, &wakes), Poll::Ready(OutEvent::Close(CloseReason::Killed { .. }))));
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
    fn an_empty_queue_gives_back_the_room_of_a_burst() {
        let wakes = wakes();
        let (mailbox, mut outbox) = channel(4096);
        for n in 1..=1000 {
            assert!(mailbox.send(published(n)));
        }
        assert!(outbox.queue.items().capacity() >= 1000);
        for n in 1..=1000 {
            assert!(matches!(poll_once(&mut outbox, &wakes), Poll::Ready(OutEvent::Send(m)) if request_of(Some(m.clone())) == Some(n)));
        }
        assert!(outbox.queue.items().capacity() <= SHRINK_ABOVE);
    }

    #[test]
    fn a_batch_skips_a_session_that_is_gone() {
        let (mailbox, outbox) = channel(2);
        drop(outbox);
        let _batch = Batch::begin();
        assert!(!mailbox.send(published(1)));
    }
}
