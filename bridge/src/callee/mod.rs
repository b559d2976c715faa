//! The bridge's callee session: registers the catalog's procedures and serves their INVOCATIONs.
//!
//! One task owns the [`Link`] and runs one `select!` over: messages from the router, replies from
//! the workers, catalog updates and shutdown. It never blocks: arguments are resolved in place
//! (cheap), the database work goes to the [`Executor`], and an INTERRUPT fires the call's
//! [`CancelSlot`] from a blocking thread. It must keep reading its link, or the router would
//! close it as a slow consumer; that is why a full executor queue refuses a call at once.

mod job;
mod registry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use wamp::message::code;
use wamp::router::link::Link;
use wamp::{Dict, Message, Payload, RegistrationId, RequestId};

use crate::adapter::{AsyncCall, CallContext, Caller, Database};
use crate::args::{resolve, BoundCall};
use crate::cancel::CancelSlot;
use crate::catalog::Catalog;
use crate::error::CallError;
use crate::executor::{Executor, SubmitError};
use crate::monitoring::Monitoring;
use job::{Job, Reply, Reporting};
use wamp::router::observe::TraceContext;
use registry::Registry;

/// How calls run.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Worker threads (one database connection each while busy): the pool size.
    pub threads: usize,
    /// Calls waiting for a worker before new ones are refused with `wamp.error.unavailable`.
    pub queue: usize,
    /// Rows per progressive result when a caller streams a set.
    pub stream_batch: usize,
}

/// The callee session.
pub struct Callee<D: Database> {
    name: String,
    link: Link,
    db: Arc<D>,
    executor: Executor,
    catalog: Arc<Catalog>,
    registry: Registry,
    /// Calls handed to a worker: their cancel slot and URI.
    running: HashMap<RequestId, (Arc<CancelSlot>, String)>,
    replies_tx: mpsc::Sender<Reply>,
    replies_rx: mpsc::Receiver<Reply>,
    stream_batch: usize,
    reporting: Arc<Reporting>,
    /// The pool's share for calls on the async path (as many as worker threads), and how many
    /// such calls may wait beyond it before new ones are refused (the executor's queue).
    async_permits: Arc<Semaphore>,
    async_calls: Arc<AtomicUsize>,
    async_limit: usize,
}

impl<D: Database> Callee<D> {
    /// A callee over an already joined `link`.
    pub fn new(name: impl Into<String>, link: Link, db: Arc<D>, options: &CallOptions, monitoring: Monitoring) -> std::io::Result<Self> {
        let name = name.into();
        let executor = Executor::new(&format!("{name}-call"), options.threads, options.queue)?;
        // Enough room for every worker to have a batch in flight without waiting on the session.
        let (replies_tx, replies_rx) = mpsc::channel(options.threads.max(1) * 4);
        Ok(Callee {
            name,
            link,
            db,
            executor,
            catalog: Arc::new(Catalog::default()),
            registry: Registry::default(),
            running: HashMap::new(),
            replies_tx,
            replies_rx,
            stream_batch: options.stream_batch.max(1),
            reporting: Arc::new(Reporting::new(monitoring, options.threads.max(1))),
            async_permits: Arc::new(Semaphore::new(options.threads.max(1))),
            async_calls: Arc::new(AtomicUsize::new(0)),
            async_limit: options.threads.max(1) + options.queue,
        })
    }

    /// Serves until `shutdown` or until the router ends the session.
    pub async fn run(mut self, mut catalog: watch::Receiver<Arc<Catalog>>, shutdown: CancellationToken) {
        self.catalog = catalog.borrow_and_update().clone();
        self.sync().await;
        let mut catalog_open = true;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    self.link.send(Message::Goodbye { details: Dict::new(), reason: "wamp.close.system_shutdown".into() }).await;
                    break;
                }
                msg = self.link.recv() => match msg {
                    Some(m) => if !self.on_message(m).await { break },
                    None => {
                        tracing::warn!(bridge = %self.name, "the router closed the bridge session");
                        break;
                    }
                },
                Some(reply) = self.replies_rx.recv() => self.on_reply(reply).await,
                changed = catalog.changed(), if catalog_open => match changed {
                    Ok(()) => {
                        self.catalog = catalog.borrow_and_update().clone();
                        self.sync().await;
                    }
                    Err(_) => catalog_open = false,
                },
            }
        }
        for (slot, _) in self.running.values() {
            slot.cancel();
        }
        let (executor, db) = (self.executor, self.db);
        // Joining waits for running statements, which were just canceled; the adapter (its pool)
        // is dropped off the async threads, as synchronous drivers close connections in `Drop`.
        let _ = tokio::task::spawn_blocking(move || {
            executor.shutdown();
            drop(db);
        })
        .await;
    }

    async fn sync(&mut self) {
        for m in self.registry.sync(&self.catalog) {
            self.link.send(m).await;
        }
        let registered = self.registry.registered_count();
        tracing::debug!(bridge = %self.name, procedures = self.catalog.len(), registered, "catalog applied");
    }

    /// Handles one message from the router; false when the session is over.
    async fn on_message(&mut self, msg: Message) -> bool {
        match msg {
            Message::Invocation { request, registration, details, payload } => {
                self.invoke(request, registration, details, payload).await
            }
            Message::Interrupt { request, .. } => {
                if let Some((slot, _)) = self.running.get(&request).cloned() {
                    tracing::debug!(bridge = %self.name, invocation = %request, "interrupt: canceling the statement");
                    tokio::task::spawn_blocking(move || slot.cancel_until_stopped(Duration::from_millis(100), 50));
                }
            }
            Message::Registered { request, registration } => {
                if let Some(m) = self.registry.registered(request, registration, &self.catalog) {
                    self.link.send(m).await;
                }
            }
            Message::Unregistered { request, details } => {
                if request.0 == 0 {
                    if let Some(id) = details.as_ref().and_then(|d| d.get("registration")).and_then(|v| v.as_u64()) {
                        self.registry.revoked(RegistrationId(id));
                    }
                }
            }
            Message::Error { request_type: code::REGISTER, request, error, payload, .. } => {
                if let Some(uri) = self.registry.register_failed(request) {
                    tracing::error!(bridge = %self.name, procedure = %uri, error = %error, args = ?payload.args, "registration refused");
                }
            }
            Message::Error { request_type, error, .. } => {
                tracing::warn!(bridge = %self.name, request_type, error = %error, "error from the router");
            }
            Message::Goodbye { .. } => {
                self.link.send(Message::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() }).await;
                return false;
            }
            Message::Abort { reason, .. } => {
                tracing::warn!(bridge = %self.name, reason = %reason, "session aborted");
                return false;
            }
            other => tracing::debug!(bridge = %self.name, message = other.name(), "ignored"),
        }
        true
    }

    async fn invoke(&mut self, request: RequestId, registration: RegistrationId, details: Dict, payload: Payload) {
        let Some(uri) = self.registry.uri_of(registration).map(String::from) else {
            let e = CallError::Unavailable("the procedure is no longer exposed".into());
            return self.fail(request, "?", e).await;
        };
        let span = tracing::info_span!("call", procedure = %uri, invocation = %request);
        let overloads = self.catalog.overloads(&uri).unwrap_or_default();
        let args = payload.args.unwrap_or_default();
        let kwargs = payload.kwargs.unwrap_or_default();
        let call = match resolve(&uri, overloads, &args, &kwargs) {
            Ok(c) => c,
            Err(e) => return self.fail(request, &uri, e).await,
        };
        let ctx = context(&details, self.stream_batch);
        let slot = Arc::new(CancelSlot::new());
        if let Some(future) = self.db.execute_async(&call, &ctx, &slot) {
            return self.invoke_async(request, uri, call, ctx, slot, future).await;
        }
        let (db, tx, reporting) = (self.db.clone(), self.replies_tx.clone(), self.reporting.clone());
        let job = Job { request, uri: uri.clone(), call, ctx, cancel: slot.clone(), queued: Instant::now() };
        let submitted = span.in_scope(|| self.executor.submit(move || job::run(&*db, job, tx, &reporting)));
        match submitted {
            Ok(()) => {
                self.running.insert(request, (slot, uri));
            }
            Err(e @ SubmitError::Full { .. }) => self.fail(request, &uri, CallError::Unavailable(e.to_string())).await,
            Err(e) => self.fail(request, &uri, CallError::Internal(e.to_string())).await,
        }
    }

    /// A call whose adapter runs it as a future: on a task of its own, holding one of the pool's
    /// permits while it runs.
    async fn invoke_async(
        &mut self,
        request: RequestId,
        uri: String,
        call: BoundCall,
        ctx: CallContext,
        slot: Arc<CancelSlot>,
        future: AsyncCall,
    ) {
        if self.async_calls.fetch_add(1, Ordering::AcqRel) >= self.async_limit {
            self.async_calls.fetch_sub(1, Ordering::AcqRel);
            let threads = self.reporting.threads as usize;
            let full = SubmitError::Full { threads, queue: self.async_limit - threads };
            return self.fail(request, &uri, CallError::Unavailable(full.to_string())).await;
        }
        let names = (self.db.system(), self.db.operation(&call));
        let job = Job { request, uri: uri.clone(), call, ctx, cancel: slot.clone(), queued: Instant::now() };
        let (permits, calls, tx, reporting) =
            (self.async_permits.clone(), self.async_calls.clone(), self.replies_tx.clone(), self.reporting.clone());
        let span = tracing::info_span!("call", procedure = %uri, invocation = %request);
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                // The semaphore is never closed, so acquiring only waits.
                let permit = permits.acquire_owned().await;
                job::run_async(names, job, future, tx, &reporting).await;
                drop(permit);
                calls.fetch_sub(1, Ordering::AcqRel);
            },
            span,
        ));
        self.running.insert(request, (slot, uri));
    }

    async fn on_reply(&mut self, reply: Reply) {
        match reply {
            Reply::Progress(request, batch) => {
                let options = wamp::dict! { "progress" => true };
                self.link.send(Message::Yield { request, options, payload: Payload::args(vec![batch]) }).await;
            }
            Reply::Final(request, payload) => {
                self.running.remove(&request);
                tracing::trace!(bridge = %self.name, invocation = %request, "call done");
                self.link.send(Message::Yield { request, options: Dict::new(), payload }).await;
            }
            Reply::Failed(request, e) => {
                let uri = self.running.remove(&request).map(|(_, uri)| uri).unwrap_or_default();
                self.fail(request, &uri, e).await;
            }
        }
    }

    async fn fail(&mut self, request: RequestId, uri: &str, e: CallError) {
        let incident = wamp::ids::random_id();
        if e.is_internal() {
            tracing::error!(bridge = %self.name, procedure = %uri, incident, cause = %e, "call failed");
        } else {
            tracing::debug!(bridge = %self.name, procedure = %uri, cause = %e, "call failed");
        }
        let w = e.to_wamp(incident);
        let payload = Payload::new(w.args, w.kwargs);
        self.link.send(Message::Error { request_type: code::INVOCATION, request, details: Dict::new(), error: w.uri, payload }).await;
    }
}

/// The call's context from INVOCATION details.
fn context(details: &Dict, stream_batch: usize) -> CallContext {
    let text = |k: &str| details.get(k).and_then(|v| v.as_str()).map(String::from);
    let caller = Caller {
        session: details.get("caller").and_then(|v| v.as_u64()),
        authid: text("caller_authid"),
        authrole: text("caller_authrole"),
    };
    let progressive = details.get("receive_progress").and_then(|v| v.as_bool()).unwrap_or(false);
    let trace = TraceContext::from_options(details);
    CallContext { caller, stream_batch: progressive.then_some(stream_batch), trace: (!trace.is_empty()).then_some(trace) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wamp::dict;

    #[test]
    fn context_reads_disclosure_and_progress() {
        let d = dict! { "caller" => 7u64, "caller_authid" => "joe", "caller_authrole" => "hr", "receive_progress" => true };
        let c = context(&d, 500);
        assert_eq!(c.caller, Caller { session: Some(7), authid: Some("joe".into()), authrole: Some("hr".into()) });
        assert_eq!(c.stream_batch, Some(500));
        assert_eq!(c.trace, None);
        assert_eq!(context(&Dict::new(), 500), CallContext { caller: Caller::default(), stream_batch: None, trace: None });
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let traced = context(&dict! { "traceparent" => tp, "tracestate" => "k=v" }, 500);
        assert_eq!(traced.traceparent(), Some(tp));
        assert_eq!(traced.trace.unwrap().tracestate.as_deref(), Some("k=v"));
    }
}
