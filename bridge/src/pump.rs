//! The event pump: the transactional outbox to WAMP subscribers, at least once and in order.
//!
//! One step ([`EventPump::try_execute_task`]) takes a batch in commit order, publishes each event
//! to the realm over the pump's own session (PUBLISH with `acknowledge`, the event id in the
//! `_event_id` option, which the router passes to subscribers as an EVENT detail), then stores
//! the consumer's new position. If storing fails (a killed connection), the position is kept in
//! memory and stored first on the next step, before anything is fetched again: so a lost
//! connection loses nothing and duplicates nothing; only a crash between publishing and storing
//! repeats the batch (subscribers can deduplicate on `_event_id`). [`EventPump::run`] loops over
//! steps, waits for a wake-up (or the poll interval) when the queue is empty, and reconnects with
//! backoff.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use thiserror::Error;
use tokio_util::sync::CancellationToken;
use wamp::monitor::{BridgeMonitor, Unmonitored};
use wamp::router::link::Link;
use wamp::router::Flow;
use wamp::{Dict, Message, Payload, RequestId, Value};

use opentelemetry::global::BoxedTracer;

use crate::adapter::{EventQueue, QueuedEvent};
use crate::blocking::{drop_blocking, with_locked};
use crate::status::{Backoff, ComponentState, Status};

/// The status component this task reports as.
pub const COMPONENT: &str = "events";

/// How the pump runs.
#[derive(Debug, Clone)]
pub struct PumpOptions {
    /// How long to wait for a wake-up before looking anyway.
    pub poll_interval: Duration,
    /// Events per step.
    pub batch_size: usize,
    /// Events older than this are deleted even if a consumer has not taken them.
    pub retention: Duration,
    /// How often consumed and expired events are deleted.
    pub purge_every: Duration,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Published and acknowledged this many events.
    Done(usize),
    /// Nothing to publish.
    Empty,
}

/// Why a step failed.
#[derive(Debug, Error)]
pub enum PumpError {
    #[error("event queue: {0}")]
    Queue(String),
    #[error("the router closed the pump's session")]
    LinkClosed,
}

/// The pump: one event queue (with its dedicated connection) and one WAMP session.
pub struct EventPump<Q: EventQueue> {
    queue: Arc<Mutex<Q>>,
    link: Link,
    options: PumpOptions,
    unacked: Option<Q::Position>,
    next_request: u64,
    last_purge: Option<Instant>,
    monitor: Arc<dyn BridgeMonitor>,
    /// Builds one span per pumped event; `None`: telemetry off.
    tracer: Option<Arc<BoxedTracer>>,
}

impl<Q: EventQueue> EventPump<Q> {
    pub fn new(queue: Q, link: Link, options: PumpOptions) -> Self {
        EventPump {
            queue: Arc::new(Mutex::new(queue)),
            link,
            options,
            unacked: None,
            next_request: 0,
            last_purge: None,
            monitor: Arc::new(Unmonitored),
            tracer: None,
        }
    }

    /// Traces each pumped event (a new trace starting in the database; see `monitoring::pump_span`).
    pub fn with_tracer(mut self, tracer: Option<Arc<BoxedTracer>>) -> Self {
        self.tracer = tracer;
        self
    }

    /// Reports each published batch (size, commit → publish lag) to `monitor`.
    pub fn with_monitor(mut self, monitor: Arc<dyn BridgeMonitor>) -> Self {
        self.monitor = monitor;
        self
    }

    /// One step: store a pending position, fetch a batch, publish it, store the new position.
    pub async fn try_execute_task(&mut self) -> Result<Outcome, PumpError> {
        if let Some(position) = self.unacked.clone() {
            queue_op(&self.queue, move |q| q.ack(&position)).await?;
            self.unacked = None;
        }
        if self.last_purge.is_none_or(|t| t.elapsed() >= self.options.purge_every) {
            let retention = self.options.retention;
            let purged = queue_op(&self.queue, move |q| q.purge(retention)).await?;
            self.last_purge = Some(Instant::now());
            if purged > 0 {
                tracing::debug!(purged, "deleted consumed or expired events");
            }
        }
        let limit = self.options.batch_size.max(1);
        let batch = queue_op(&self.queue, move |q| q.fetch(limit)).await?;
        let fetched = Instant::now();
        let Some(last) = batch.last().map(|e| e.position.clone()) else {
            return Ok(Outcome::Empty);
        };
        let n = batch.len();
        let oldest = batch.iter().filter_map(|e| e.created).min();
        for event in batch {
            self.publish(event).await?;
        }
        // Commit → publish of the oldest event; a queue that does not date its events: fetch → publish.
        let lag = match oldest {
            Some(t) => SystemTime::now().duration_since(t).unwrap_or_default(),
            None => fetched.elapsed(),
        };
        self.monitor.pump_batch(n, lag);
        self.unacked = Some(last.clone());
        queue_op(&self.queue, move |q| q.ack(&last)).await?;
        self.unacked = None;
        Ok(Outcome::Done(n))
    }

    async fn publish(&mut self, event: QueuedEvent<Q::Position>) -> Result<(), PumpError> {
        self.next_request += 1;
        let request = RequestId(self.next_request);
        let QueuedEvent { id, topic, args, kwargs, mut options, created, .. } = event;
        options.insert("acknowledge".into(), Value::Bool(true));
        options.insert("_event_id".into(), Value::Int(id));
        let queue_wait = created.and_then(|t| SystemTime::now().duration_since(t).ok());
        let span = self.tracer.as_deref().map(|t| crate::monitoring::pump_span(t, &topic, id, queue_wait));
        if let Some((_, context)) = &span {
            context.write_to(&mut options);
        }
        let result = self.publish_message(request, id, &topic, options, args, kwargs).await;
        if let Some((cx, _)) = span {
            crate::monitoring::end_pump_span(cx, result.is_err());
        }
        result
    }

    async fn publish_message(
        &mut self,
        request: RequestId,
        id: i64,
        topic: &str,
        options: Dict,
        args: wamp::List,
        kwargs: Dict,
    ) -> Result<(), PumpError> {
        let topic = topic.to_owned();
        let payload = Payload { args: Some(args), kwargs: (!kwargs.is_empty()).then_some(kwargs) };
        let msg = Message::Publish { request, options, topic: topic.clone(), payload };
        if matches!(self.link.send(msg).await, Flow::Close(_)) {
            return Err(PumpError::LinkClosed);
        }
        loop {
            match self.link.recv().await {
                Some(Message::Published { request: r, .. }) if r == request => return Ok(()),
                Some(Message::Error { request: r, error, payload, .. }) if r == request => {
                    // A refused event would block the queue forever if retried: log it and move on.
                    tracing::error!(event = id, topic = %topic, error = %error, args = ?payload.args, "the router refused an event; skipped");
                    return Ok(());
                }
                Some(Message::Goodbye { .. }) => {
                    let bye = Message::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() };
                    self.link.send(bye).await;
                    return Err(PumpError::LinkClosed);
                }
                Some(_) => continue,
                None => return Err(PumpError::LinkClosed),
            }
        }
    }

    /// Steps until `shutdown`, waiting for wake-ups when idle and backing off after failures.
    pub async fn run(mut self, status: Arc<Status>, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_secs(10));
        while !shutdown.is_cancelled() {
            let failure = match self.try_execute_task().await {
                Ok(Outcome::Done(_)) => {
                    status.set(COMPONENT, ComponentState::Connected);
                    backoff.reset();
                    continue;
                }
                Ok(Outcome::Empty) => {
                    status.set(COMPONENT, ComponentState::Connected);
                    backoff.reset();
                    match wait_sliced(&self.queue, self.options.poll_interval, &shutdown).await {
                        Ok(()) => continue,
                        Err(e) => e,
                    }
                }
                Err(e) => e,
            };
            if let PumpError::LinkClosed = failure {
                tracing::error!("event pump stopped: its session is closed");
                drop_blocking(self.queue).await;
                return;
            }
            status.set(COMPONENT, ComponentState::Reconnecting);
            let delay = backoff.next_delay();
            tracing::warn!(cause = %failure, retry_in = ?delay, "event pump failed");
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        let bye = Message::Goodbye { details: Dict::new(), reason: "wamp.close.system_shutdown".into() };
        self.link.send(bye).await;
        drop_blocking(self.queue).await;
    }
}

/// Waits for a wake-up, up to `poll`, in short slices: a blocking wait cannot be interrupted, and
/// the runtime waits for running blocking tasks when it shuts down.
async fn wait_sliced<Q: EventQueue>(queue: &Arc<Mutex<Q>>, poll: Duration, shutdown: &CancellationToken) -> Result<(), PumpError> {
    let deadline = tokio::time::Instant::now() + poll;
    loop {
        let slice = deadline.saturating_duration_since(tokio::time::Instant::now()).min(crate::catalog_watch::WAIT_SLICE);
        if slice.is_zero() || shutdown.is_cancelled() {
            return Ok(());
        }
        if queue_op(queue, move |q| q.wait(slice)).await? {
            return Ok(());
        }
    }
}

async fn queue_op<Q, T, F>(queue: &Arc<Mutex<Q>>, f: F) -> Result<T, PumpError>
where
    Q: EventQueue,
    T: Send + 'static,
    F: FnOnce(&mut Q) -> Result<T, Q::Error> + Send + 'static,
{
    match with_locked(queue, move |q| f(q).map_err(|e| e.to_string())).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) | Err(e) => Err(PumpError::Queue(e)),
    }
}
