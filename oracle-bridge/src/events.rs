//! The Advanced Queuing consumer as the core's [`EventQueue`]: the core's pump publishes what
//! [`fetch`](EventQueue::fetch) returns and then calls [`ack`](EventQueue::ack), which commits the
//! dequeue. So an event leaves the queue only after the router acknowledged it (at least once);
//! a lost connection rolls the dequeue back and the messages come again.
//!
//! The AQ calls sit behind [`AqSource`] (implemented for real by [`crate::aq::AqThread`], which
//! owns the non-`Send` `aq::Queue` on one thread), so this state machine is tested step by step
//! with a fake queue.
//!
//! - **Position**: the generation of the open dequeue transaction. `ack(g)` commits it if it is
//!   still the open one; an older generation (its transaction was lost with a connection) is a
//!   no-op, and its messages are redelivered.
//! - **Waiting**: AQ has no separate "wait for a message" call, so [`wait`](EventQueue::wait)
//!   dequeues with a wait (whole seconds) and keeps what came for the next `fetch`.
//! - **Purge**: AQ removes messages once every subscriber has them; `purge` only deletes overflow
//!   envelopes older than the retention, and never while a dequeue is uncommitted (its commit
//!   would acknowledge unpublished events).
//! - A message that cannot be decoded (or whose overflow row is gone) is logged and skipped: it is
//!   removed with the batch, so one bad message never blocks the queue.

use std::collections::VecDeque;
use std::time::Duration;

use bridge::{EventQueue, QueuedEvent};

use crate::envelope::{decode, decode_text, Envelope, Payload};
use crate::error::OraBridgeError;

/// One dequeued message.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMessage {
    pub msgid: Vec<u8>,
    pub payload: Vec<u8>,
}

/// The AQ operations the consumer needs, on one session and one transaction at a time.
pub trait AqSource: Send + 'static {
    /// Dequeues up to `max` messages (REMOVE mode, on-commit visibility), waiting up to `wait`
    /// (zero: do not wait) for the first. Connects first if needed.
    fn dequeue(&mut self, max: u32, wait: Duration) -> Result<Vec<RawMessage>, OraBridgeError>;
    /// Reads and deletes an overflow envelope in the open transaction; `None` if it is gone.
    fn take_overflow(&mut self, id: i64) -> Result<Option<String>, OraBridgeError>;
    /// Commits the open transaction.
    fn commit(&mut self) -> Result<(), OraBridgeError>;
    /// Deletes overflow envelopes older than `age` (committed); how many.
    fn purge_overflow(&mut self, age: Duration) -> Result<u64, OraBridgeError>;
}

/// The consumer.
pub struct AqEvents<S: AqSource> {
    source: S,
    /// Dequeued by `wait`, not yet returned by `fetch`.
    buffered: VecDeque<QueuedEvent<u64>>,
    /// The current transaction's generation.
    generation: u64,
    /// Whether the current transaction dequeued anything.
    open: bool,
    /// Messages per dequeue in `wait` (the last `fetch` limit).
    batch: u32,
}

impl<S: AqSource> AqEvents<S> {
    pub fn new(source: S, batch: usize) -> Self {
        AqEvents { source, buffered: VecDeque::new(), generation: 1, open: false, batch: batch.clamp(1, u32::MAX as usize) as u32 }
    }

    /// Any failure loses the session and so the transaction: forget what it dequeued.
    fn lost<T>(&mut self, e: OraBridgeError) -> Result<T, OraBridgeError> {
        if self.open || !self.buffered.is_empty() {
            tracing::warn!(cause = %e, "event dequeue rolled back; its messages will be delivered again");
        }
        self.buffered.clear();
        self.open = false;
        self.generation += 1;
        Err(e)
    }

    fn dequeue(&mut self, max: u32, wait: Duration) -> Result<Vec<QueuedEvent<u64>>, OraBridgeError> {
        let messages = match self.source.dequeue(max, wait) {
            Ok(m) => m,
            Err(e) => return self.lost(e),
        };
        if !messages.is_empty() {
            self.open = true;
        }
        let mut events = Vec::with_capacity(messages.len());
        for m in messages {
            match self.envelope(&m) {
                Ok(Some(e)) => events.push(QueuedEvent {
                    id: e.id,
                    position: self.generation,
                    topic: e.topic,
                    args: e.args,
                    kwargs: e.kwargs,
                    options: e.options,
                    created: None,
                }),
                Ok(None) => {}
                Err(e) => return self.lost(e),
            }
        }
        if events.is_empty() && self.open && self.buffered.is_empty() {
            // Only malformed messages: remove them now rather than with a later batch.
            if let Err(e) = self.source.commit() {
                return self.lost(e);
            }
            self.open = false;
            self.generation += 1;
        }
        Ok(events)
    }

    /// The message's envelope; `None` (logged) if it is malformed.
    fn envelope(&mut self, m: &RawMessage) -> Result<Option<Envelope>, OraBridgeError> {
        let msgid = hex(&m.msgid);
        let payload = match decode(&m.payload) {
            Ok(Payload::Overflow(id)) => match self.source.take_overflow(id)? {
                Some(text) => decode_text(&text),
                None => Err(format!("overflow envelope {id} is gone (purged?)")),
            },
            other => other,
        };
        match payload {
            Ok(Payload::Event(e)) => Ok(Some(e)),
            Ok(Payload::Overflow(_)) => {
                tracing::error!(msgid = %msgid, "malformed event skipped: an overflow envelope refers to another");
                Ok(None)
            }
            Err(reason) => {
                tracing::error!(msgid = %msgid, reason = %reason, "malformed event skipped");
                Ok(None)
            }
        }
    }

    /// The wrapped source (tests).
    pub fn source(&self) -> &S {
        &self.source
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

impl<S: AqSource> EventQueue for AqEvents<S> {
    type Position = u64;
    type Error = OraBridgeError;

    /// Whatever `wait` dequeued, else up to `limit` messages without waiting.
    fn fetch(&mut self, limit: usize) -> Result<Vec<QueuedEvent<u64>>, OraBridgeError> {
        self.batch = limit.clamp(1, u32::MAX as usize) as u32;
        if !self.buffered.is_empty() {
            // All of them: the commit that acknowledges this batch covers every buffered message.
            return Ok(self.buffered.drain(..).collect());
        }
        self.dequeue(self.batch, Duration::ZERO)
    }

    fn ack(&mut self, upto: &u64) -> Result<(), OraBridgeError> {
        if !self.open || *upto != self.generation || !self.buffered.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.source.commit() {
            return self.lost(e);
        }
        self.open = false;
        self.generation += 1;
        Ok(())
    }

    fn purge(&mut self, retention: Duration) -> Result<u64, OraBridgeError> {
        if self.open {
            return Ok(0);
        }
        self.source.purge_overflow(retention).or_else(|e| self.lost(e))
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, OraBridgeError> {
        if !self.buffered.is_empty() {
            return Ok(true);
        }
        // AQ waits in whole seconds.
        let wait = Duration::from_secs(timeout.as_secs_f64().ceil().max(1.0) as u64);
        let events = self.dequeue(self.batch, wait)?;
        let came = !events.is_empty();
        self.buffered.extend(events);
        Ok(came)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{encode, encode_overflow};
    use std::collections::HashMap;
    use wamp::{dict, Dict};

    /// A queue in memory with AQ's transactional dequeue: dequeued messages come back on rollback
    /// (a lost session), leave on commit.
    #[derive(Default)]
    struct FakeAq {
        queued: VecDeque<RawMessage>,
        in_flight: Vec<RawMessage>,
        overflow: HashMap<i64, String>,
        overflow_taken: Vec<(i64, String)>,
        fail_next: Option<&'static str>,
        commits: usize,
        waits: Vec<Duration>,
        purged: usize,
    }

    impl FakeAq {
        fn push(&mut self, id: i64, topic: &str) {
            let e = Envelope { id, topic: topic.into(), args: vec![id.into()], kwargs: Dict::new(), options: Dict::new() };
            self.queued.push_back(RawMessage { msgid: vec![id as u8], payload: encode(&e).unwrap() });
        }

        fn fail(&mut self, op: &'static str) -> Result<(), OraBridgeError> {
            if self.fail_next == Some(op) {
                self.fail_next = None;
                // The session is gone: the server rolls back.
                for m in self.in_flight.drain(..).rev() {
                    self.queued.push_front(m);
                }
                for (id, text) in self.overflow_taken.drain(..) {
                    self.overflow.insert(id, text);
                }
                return Err(OraBridgeError::EventThread);
            }
            Ok(())
        }
    }

    impl AqSource for FakeAq {
        fn dequeue(&mut self, max: u32, wait: Duration) -> Result<Vec<RawMessage>, OraBridgeError> {
            self.fail("dequeue")?;
            if !wait.is_zero() {
                self.waits.push(wait);
            }
            let n = (max as usize).min(self.queued.len());
            let taken: Vec<RawMessage> = self.queued.drain(..n).collect();
            self.in_flight.extend(taken.iter().cloned());
            Ok(taken)
        }
        fn take_overflow(&mut self, id: i64) -> Result<Option<String>, OraBridgeError> {
            self.fail("take_overflow")?;
            Ok(self.overflow.remove(&id).inspect(|t| self.overflow_taken.push((id, t.clone()))))
        }
        fn commit(&mut self) -> Result<(), OraBridgeError> {
            self.fail("commit")?;
            self.in_flight.clear();
            self.overflow_taken.clear();
            self.commits += 1;
            Ok(())
        }
        fn purge_overflow(&mut self, _: Duration) -> Result<u64, OraBridgeError> {
            self.fail("purge")?;
            self.purged += 1;
            Ok(0)
        }
    }

    fn ids(events: &[QueuedEvent<u64>]) -> Vec<i64> {
        events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn fetch_publish_ack_commits_each_batch() {
        let mut fake = FakeAq::default();
        (1..=5).for_each(|i| fake.push(i, "t"));
        let mut q = AqEvents::new(fake, 100);
        let batch = q.fetch(3).unwrap();
        assert_eq!(ids(&batch), vec![1, 2, 3]);
        assert_eq!((batch[0].topic.as_str(), batch[0].args.clone()), ("t", vec![1.into()]));
        assert_eq!(q.purge(Duration::from_secs(1)).unwrap(), 0);
        assert_eq!(q.source().purged, 0, "no purge (and so no commit) while a dequeue is open");
        q.ack(&batch[2].position).unwrap();
        assert_eq!((q.source().commits, q.source().in_flight.len()), (1, 0));
        let rest = q.fetch(3).unwrap();
        assert_eq!(ids(&rest), vec![4, 5]);
        assert!(rest[0].position > batch[0].position);
        q.ack(&rest[1].position).unwrap();
        assert!(q.fetch(3).unwrap().is_empty());
        q.ack(&rest[1].position).unwrap();
        assert_eq!(q.source().commits, 2, "acknowledging twice commits once");
        q.purge(Duration::from_secs(1)).unwrap();
        assert_eq!(q.source().purged, 1);
    }

    #[test]
    fn a_lost_commit_redelivers_and_a_stale_ack_is_a_no_op() {
        let mut fake = FakeAq::default();
        (1..=2).for_each(|i| fake.push(i, "t"));
        let mut q = AqEvents::new(fake, 10);
        let batch = q.fetch(10).unwrap();
        q.source.fail_next = Some("commit");
        assert!(q.ack(&batch[1].position).is_err());
        // The pump retries the ack of that position first: nothing to commit any more.
        q.ack(&batch[1].position).unwrap();
        assert_eq!(q.source().commits, 0);
        let again = q.fetch(10).unwrap();
        assert_eq!(ids(&again), vec![1, 2], "at least once: the batch comes again");
        q.ack(&again[1].position).unwrap();
        assert_eq!(q.source().commits, 1);
    }

    #[test]
    fn wait_keeps_what_it_dequeued_for_the_next_fetch() {
        let mut q = AqEvents::new(FakeAq::default(), 10);
        assert!(q.fetch(10).unwrap().is_empty());
        assert!(!q.wait(Duration::from_millis(250)).unwrap());
        assert_eq!(q.source().waits, vec![Duration::from_secs(1)], "AQ waits whole seconds");
        q.source.push(7, "t");
        assert!(q.wait(Duration::from_millis(250)).unwrap());
        assert!(q.wait(Duration::from_millis(250)).unwrap(), "still buffered: no second dequeue");
        assert_eq!(q.source().waits.len(), 2);
        q.ack(&1).unwrap();
        assert_eq!(q.source().commits, 0, "buffered events are not acknowledged before they are fetched");
        let batch = q.fetch(10).unwrap();
        assert_eq!(ids(&batch), vec![7]);
        q.ack(&batch[0].position).unwrap();
        assert_eq!(q.source().commits, 1);
    }

    #[test]
    fn overflow_envelopes_are_taken_in_the_dequeue_transaction() {
        let mut fake = FakeAq::default();
        let big = Envelope { id: 11, topic: "big".into(), args: vec!["x".repeat(40_000).into()], kwargs: dict! {"k" => 1}, options: Dict::new() };
        fake.overflow.insert(11, String::from_utf8(encode(&big).unwrap()).unwrap());
        fake.queued.push_back(RawMessage { msgid: vec![1], payload: encode_overflow(11) });
        fake.queued.push_back(RawMessage { msgid: vec![2], payload: encode_overflow(12) });
        fake.push(13, "small");
        let mut q = AqEvents::new(fake, 10);
        q.source.fail_next = Some("take_overflow");
        assert!(q.fetch(10).is_err());
        assert_eq!(q.source().queued.len(), 3, "rolled back");
        let batch = q.fetch(10).unwrap();
        // The dangling reference (12) is skipped, not fatal.
        assert_eq!(ids(&batch), vec![11, 13]);
        assert_eq!(batch[0].args, big.args);
        q.ack(&batch[1].position).unwrap();
        assert!(q.source().overflow.is_empty() && q.source().queued.is_empty());
    }

    #[test]
    fn malformed_messages_are_skipped_and_removed() {
        let mut fake = FakeAq::default();
        fake.queued.push_back(RawMessage { msgid: vec![9], payload: b"not json".to_vec() });
        fake.push(2, "t");
        let mut q = AqEvents::new(fake, 10);
        let batch = q.fetch(10).unwrap();
        assert_eq!(ids(&batch), vec![2]);
        q.ack(&batch[0].position).unwrap();
        assert!(q.source().queued.is_empty() && q.source().in_flight.is_empty());
        // A batch of nothing but bad messages is removed at once.
        q.source.queued.push_back(RawMessage { msgid: vec![8], payload: b"{}".to_vec() });
        assert!(q.fetch(10).unwrap().is_empty());
        assert_eq!((q.source().commits, q.source().in_flight.len()), (2, 0));
    }

    #[test]
    fn a_failed_dequeue_forgets_buffered_events() {
        let mut fake = FakeAq::default();
        fake.push(1, "t");
        let mut q = AqEvents::new(fake, 10);
        assert!(q.wait(Duration::from_secs(1)).unwrap());
        q.source.fail_next = Some("purge");
        // Purge is skipped while the dequeue is open, so it cannot fail here.
        q.purge(Duration::from_secs(1)).unwrap();
        let batch = q.fetch(10).unwrap();
        q.source.fail_next = Some("commit");
        assert!(q.ack(&batch[0].position).is_err());
        q.source.fail_next = Some("purge");
        assert!(q.purge(Duration::from_secs(1)).is_err(), "nothing is open now: purge runs (and fails)");
        assert_eq!(ids(&q.fetch(10).unwrap()), vec![1]);
    }
}
