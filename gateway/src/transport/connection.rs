//! The per-connection loop every transport shares: one `select!` over inbound frames, the
//! session's outbox, the keepalive timers and the shutdown signal.
//!
//! A transport supplies a [`Wire`] — how to read a whole message, write one, ping, answer a
//! ping and close on its kind of connection — and this module does everything WAMP: feeding the
//! router [`Session`], router-initiated closes (GOODBYE, then a grace period for the peer's),
//! keepalive deadlines, and protocol violations (ABORT, then close).
//!
//! The loop ends with an [`Ending`] (the last WAMP message to write, if any, and how to close),
//! which [`Connection::finish`] carries out. Dropping the connection drops the router
//! [`Session`], which leaves its realm: every way out cleans up the same way.

use std::future::{pending, Future};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{sleep_until, timeout, Instant, Interval};
use tracing::{debug, info, trace, warn};
use wamp::router::{CloseReason, Flow, OutEvent, Outbox, Session};
use wamp::{Message, ProtocolError, Serializer};

use crate::lifecycle::{ConnectionGuard, Lifecycle};
use crate::telemetry::ConnectionTelemetry;

/// Why a connection closes, in terms each wire maps to its own (WebSocket close codes; RawSocket
/// has none and only logs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// The session ended normally.
    Normal,
    /// The router goes away (shutdown) or the peer stopped answering.
    Away,
    /// A policy ended the connection (slow consumer).
    Policy,
    /// A message exceeded a size limit.
    Size,
    /// A message's bytes were invalid for its frame type (text that is not UTF-8).
    Invalid,
    /// The framing rules were broken.
    Protocol,
    /// A frame of a type this connection does not accept.
    Unsupported,
}

impl CloseKind {
    /// A word for logs.
    pub fn name(self) -> &'static str {
        match self {
            CloseKind::Normal => "normal",
            CloseKind::Away => "away",
            CloseKind::Policy => "policy",
            CloseKind::Size => "size",
            CloseKind::Invalid => "invalid",
            CloseKind::Protocol => "protocol",
            CloseKind::Unsupported => "unsupported",
        }
    }
}

/// What a wire read.
#[derive(Debug, PartialEq)]
pub enum Received {
    /// One whole WAMP message's bytes.
    Message(Bytes),
    /// A keepalive ping, to be answered with this payload.
    Ping(Bytes),
    /// A pong, or any other frame that carries nothing for the session but shows the peer is alive.
    Alive,
    /// The peer closed the connection in an orderly way (a close frame to answer).
    Closed,
    /// The connection ended or broke: nothing more can be said to the peer.
    Gone(String),
    /// The peer broke the framing rules: ABORT `wamp.error.protocol_violation`, then close.
    Broken(Broken),
}

/// A framing error on inbound data.
#[derive(Debug, PartialEq)]
pub struct Broken {
    pub kind: CloseKind,
    pub description: String,
    /// Whether to wait for the peer to close its side; not when it may still be sending the rest
    /// of what was refused.
    pub linger: bool,
}

/// Why a write did not happen.
#[derive(Debug, PartialEq)]
pub enum WriteError {
    /// The connection is gone.
    Gone,
    /// The message is larger than the peer accepts (RawSocket's announced maximum).
    TooLarge { size: usize, limit: usize },
}

/// One kind of connection, as the shared loop drives it.
///
/// The futures are not declared `Send`: actix's WebSocket types are not, and its connections run
/// on actix's single-threaded workers. A `Send` wire makes a `Send` connection.
pub trait Wire {
    /// The next inbound event. Must be cancel-safe: it is one branch of the `select!` loop.
    fn recv(&mut self) -> impl Future<Output = Received>;
    /// Writes one encoded WAMP message.
    fn send(&mut self, message: Bytes) -> impl Future<Output = Result<(), WriteError>>;
    /// Sends a keepalive ping.
    fn ping(&mut self) -> impl Future<Output = Result<(), WriteError>>;
    /// Answers a ping.
    fn pong(&mut self, payload: Bytes) -> impl Future<Output = Result<(), WriteError>>;
    /// Closes the connection: `close` is `None` when the peer is already gone. Each write is
    /// bounded by `timing.pong_timeout`; with `linger`, waits (briefly) for the peer to close its side.
    fn close(&mut self, close: Option<(CloseKind, String)>, timing: &Timing, linger: bool) -> impl Future<Output = ()>;
}

/// The timers of one transport's connections.
#[derive(Debug, Clone)]
pub struct Timing {
    /// `None` when keepalive pings are off.
    pub ping_interval: Option<Duration>,
    /// How long a peer has to answer a ping, and how long one write may block.
    pub pong_timeout: Duration,
    /// How long to wait for the peer's GOODBYE after the router's.
    pub close_grace: Duration,
    /// How long a connection may stay without a joined session; `None`: no limit.
    pub join_timeout: Option<Duration>,
}

impl Timing {
    pub fn from_millis(ping_interval_ms: u64, pong_timeout_ms: u64, close_grace_ms: u64, join_timeout_ms: u64) -> Timing {
        Timing {
            ping_interval: (ping_interval_ms > 0).then(|| Duration::from_millis(ping_interval_ms)),
            pong_timeout: Duration::from_millis(pong_timeout_ms),
            close_grace: Duration::from_millis(close_grace_ms),
            join_timeout: (join_timeout_ms > 0).then(|| Duration::from_millis(join_timeout_ms)),
        }
    }

    /// How long to wait for the peer's side of a close.
    fn linger(&self) -> Duration {
        self.close_grace.min(Duration::from_secs(2))
    }
}

/// Everything one connection owns.
pub struct Connection<W> {
    pub wire: W,
    pub session: Session,
    pub outbox: Outbox,
    pub serializer: Serializer,
    pub timing: Timing,
    pub lifecycle: Lifecycle,
    /// Message counts, slow-consumer drops and the session span.
    pub telemetry: ConnectionTelemetry,
    pub guard: ConnectionGuard,
}

/// How the connection ends.
struct Ending {
    /// A last WAMP message (ABORT, GOODBYE) to write before closing (boxed: endings travel in `Err`).
    last: Option<Box<Message>>,
    /// How to close; `None` when the peer is already gone.
    close: Option<(CloseKind, String)>,
    /// Whether to wait (briefly) for the peer to close its side after we closed ours.
    linger: bool,
}

impl Ending {
    fn close(last: Option<Message>, kind: CloseKind, description: impl Into<String>) -> Ending {
        Ending { last: last.map(Box::new), close: Some((kind, description.into())), linger: true }
    }

    fn gone() -> Ending {
        Ending { last: None, close: None, linger: false }
    }
}

/// A router-initiated close in progress: our GOODBYE is out, the peer's is awaited until `deadline`.
struct Closing {
    reason: CloseReason,
    deadline: Instant,
}

fn close_kind(reason: &CloseReason) -> CloseKind {
    match reason {
        CloseReason::Shutdown => CloseKind::Away,
        CloseReason::Killed { .. } => CloseKind::Normal,
        CloseReason::SlowConsumer => CloseKind::Policy,
    }
}

impl<W: Wire> Connection<W> {
    /// Serves the connection to its end. Never panics on peer input.
    ///
    /// The future is what an idle connection's task holds, so it is kept small: a plain `async fn`
    /// would keep two copies of `self` (the argument and its binding), and the closing sequence,
    /// which runs once, is boxed instead of sitting beside `serve`'s state.
    #[allow(clippy::manual_async_fn)] // deliberate: see above
    pub fn run(mut self) -> impl std::future::Future<Output = ()> {
        async move {
            info!("connection opened");
            let ending = self.serve().await;
            Box::pin(self.finish(ending)).await;
        }
    }

    async fn serve(&mut self) -> Ending {
        let mut keepalive =
            self.timing.ping_interval.map(|every| tokio::time::interval_at(Instant::now() + every, every));
        let mut pong_deadline: Option<Instant> = None;
        // A connection that never joins (no HELLO, an abandoned authentication) is let go.
        let mut join_deadline = self.timing.join_timeout.map(|t| Instant::now() + t);
        let mut closing: Option<Closing> = None;
        let lifecycle = self.lifecycle.clone();
        let shutdown = lifecycle.shutdown_triggered();
        tokio::pin!(shutdown);
        let mut shutdown_seen = false;

        loop {
            tokio::select! {
                received = self.wire.recv() => {
                    // Anything at all shows the peer is alive.
                    pong_deadline = None;
                    let flow = match self.on_received(received).await {
                        Ok(flow) => flow,
                        Err(ending) => return ending,
                    };
                    if join_deadline.is_some() && self.session.id().is_some() {
                        join_deadline = None;
                    }
                    if let Flow::Close(last) = flow {
                        return match (&closing, last) {
                            // The peer's GOODBYE answered ours.
                            (Some(c), None) => Ending::close(None, close_kind(&c.reason), c.reason.describe()),
                            (_, last) => {
                                let description = describe(last.as_ref());
                                Ending::close(last, CloseKind::Normal, description)
                            }
                        };
                    }
                }
                event = self.outbox.next(), if closing.is_none() => match event {
                    OutEvent::Send(out) => {
                        self.telemetry.sent(out.message(), self.session.realm(), Some(self.serializer));
                        if let Err(ending) = self.write(out.encoded(self.serializer)).await {
                            return ending;
                        }
                    }
                    OutEvent::Close(CloseReason::SlowConsumer) => {
                        let reason = CloseReason::SlowConsumer;
                        self.telemetry.slow_consumer();
                        warn!("closing a slow consumer");
                        return Ending::close(None, close_kind(&reason), reason.describe());
                    }
                    OutEvent::Close(reason) => match Box::pin(self.begin_close(reason)).await {
                        Ok(c) => closing = Some(c),
                        Err(ending) => return ending,
                    },
                },
                _ = tick(&mut keepalive), if closing.is_none() => {
                    if pong_deadline.is_none() {
                        let limit = self.timing.pong_timeout;
                        if let Err(ending) = bounded(limit, self.wire.ping()).await {
                            return ending;
                        }
                        pong_deadline = Some(Instant::now() + limit);
                    }
                }
                _ = at(join_deadline), if closing.is_none() => {
                    info!("no WAMP session joined in time");
                    return Ending::close(None, CloseKind::Policy, "no WAMP session joined in time");
                }
                _ = at(pong_deadline) => {
                    info!("peer did not answer a ping in time");
                    return Ending::close(None, CloseKind::Away, "keepalive timeout");
                }
                _ = &mut shutdown, if !shutdown_seen && closing.is_none() => {
                    shutdown_seen = true;
                    if self.session.id().is_none() {
                        // Not joined: there is no WAMP session to say goodbye to.
                        return Ending::close(None, CloseKind::Away, CloseReason::Shutdown.describe());
                    }
                    // Joined: the same as the router's own shutdown order (whichever comes first).
                    match Box::pin(self.begin_close(CloseReason::Shutdown)).await {
                        Ok(c) => closing = Some(c),
                        Err(ending) => return ending,
                    }
                }
                _ = at(closing.as_ref().map(|c| c.deadline)) => {
                    let reason = &closing.as_ref().expect("the deadline comes from it").reason;
                    debug!("no GOODBYE from the peer within the grace period");
                    return Ending::close(None, close_kind(reason), reason.describe());
                }
            }
        }
    }

    /// One inbound event: `Ok(flow)` from the session, or `Err` when the connection must end.
    async fn on_received(&mut self, received: Received) -> Result<Flow, Ending> {
        match received {
            Received::Message(bytes) => Ok(self.on_message(&bytes).await),
            Received::Ping(payload) => {
                bounded(self.timing.pong_timeout, self.wire.pong(payload)).await?;
                Ok(Flow::Continue)
            }
            Received::Alive => Ok(Flow::Continue),
            Received::Closed => {
                debug!("peer closed the connection");
                Err(Ending { last: None, close: Some((CloseKind::Normal, String::new())), linger: false })
            }
            Received::Gone(reason) => {
                debug!(%reason, "peer went away");
                Err(Ending::gone())
            }
            Received::Broken(broken) => {
                info!(cause = %broken.description, "inbound framing error");
                let err =
                    ProtocolError::Decode { serializer: self.serializer.name(), reason: broken.description.clone() };
                let last = match self.session.protocol_error(&err) {
                    Flow::Close(last) => last,
                    Flow::Continue => None,
                };
                let mut ending = Ending::close(last, broken.kind, broken.description);
                ending.linger = broken.linger;
                Err(ending)
            }
        }
    }

    async fn on_message(&mut self, bytes: &[u8]) -> Flow {
        match self.serializer.decode(bytes) {
            Ok(msg) => {
                trace!(message = msg.name(), "received");
                self.telemetry.received(&msg);
                let joined_before = self.session.id().is_some();
                let flow = self.session.handle(msg).await;
                if !joined_before {
                    if let (Some(id), Some(realm)) = (self.session.id(), self.session.realm()) {
                        tracing::Span::current().record("session_id", id.0).record("realm", realm);
                        info!("session joined");
                    }
                }
                flow
            }
            Err(e) => {
                info!(cause = %e, "undecodable message");
                self.session.protocol_error(&e)
            }
        }
    }

    /// Router-side close: writes GOODBYE and tells the session, which then waits for the peer's.
    async fn begin_close(&mut self, reason: CloseReason) -> Result<Closing, Ending> {
        info!(reason = reason.describe(), "closing the session");
        if let Some(goodbye) = reason.goodbye() {
            self.telemetry.sent(&goodbye, self.session.realm(), Some(self.serializer));
            self.write(Bytes::from(self.serializer.encode(&goodbye))).await?;
        }
        self.session.goodbye_sent();
        Ok(Closing { reason, deadline: Instant::now() + self.timing.close_grace })
    }

    async fn write(&mut self, bytes: Bytes) -> Result<(), Ending> {
        bounded(self.timing.pong_timeout, self.wire.send(bytes)).await
    }

    /// Writes the last message, then closes the wire.
    async fn finish(mut self, ending: Ending) {
        if let Some(last) = &ending.last {
            self.telemetry.sent(last, self.session.realm(), Some(self.serializer));
            let _ = self.write(Bytes::from(self.serializer.encode(last))).await;
        }
        match &ending.close {
            Some((kind, description)) => {
                info!(close = kind.name(), reason = %description, "connection closed")
            }
            None => info!("connection ended"),
        }
        let linger = ending.linger;
        let timing = Timing { close_grace: self.timing.linger(), ..self.timing.clone() };
        self.wire.close(ending.close, &timing, linger).await;
    }
}

/// Runs one write, bounded by `limit`: a peer that does not read for that long is dropped.
async fn bounded(limit: Duration, op: impl Future<Output = Result<(), WriteError>>) -> Result<(), Ending> {
    // Almost every write completes at once (there is room in the outgoing buffer); only one that
    // has to wait gets the timer, which costs a clock read and a timer-wheel entry per message.
    let mut op = std::pin::pin!(op);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(op.as_mut().poll(cx))).await;
    let outcome = match first {
        std::task::Poll::Ready(done) => Ok(done),
        std::task::Poll::Pending => timeout(limit, op).await,
    };
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(WriteError::Gone)) => Err(Ending::gone()),
        Ok(Err(WriteError::TooLarge { size, limit })) => {
            // The spec leaves this to the router; the peer cannot receive what the session owes
            // it, so the session cannot go on correctly.
            warn!(size, limit, "a message is larger than the peer accepts; closing the connection");
            Err(Ending::close(
                None,
                CloseKind::Size,
                format!("a {size}-byte message exceeds the peer's limit of {limit}"),
            ))
        }
        Err(_) => {
            info!(timeout_ms = limit.as_millis() as u64, "peer does not read; dropping the connection");
            Err(Ending::gone())
        }
    }
}

/// The close description for a session that ended with `last`.
fn describe(last: Option<&Message>) -> String {
    match last {
        Some(Message::Abort { reason, .. }) => format!("aborted: {reason}"),
        Some(Message::Goodbye { reason, .. }) => reason.clone(),
        _ => "session closed".into(),
    }
}

/// The next keepalive tick, or never when keepalive is off.
async fn tick(keepalive: &mut Option<Interval>) {
    match keepalive {
        Some(interval) => {
            interval.tick().await;
        }
        None => pending().await,
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn at(deadline: Option<Instant>) {
    match deadline {
        Some(d) => sleep_until(d).await,
        None => pending().await,
    }
}
