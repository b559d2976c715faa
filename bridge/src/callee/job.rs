//! One call on a worker thread: run it through the adapter, and turn its rows into replies.
//!
//! When the caller takes progressive results, each batch from the cursor becomes a progressive
//! YIELD, except the last, which rides on the final YIELD: the sink holds one batch back until it
//! knows whether another follows. Replies travel over a bounded channel, so a worker that reads
//! faster than the router delivers waits instead of piling rows up in memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use wamp::monitor::DbOutcome;

use tokio::sync::mpsc;
use wamp::{Payload, RequestId, Value};

use crate::adapter::{AsyncCall, CallContext, Database, RowSink, Stopped};
use crate::args::BoundCall;
use crate::cancel::CancelSlot;
use crate::catalog::Returns;
use crate::error::CallError;
use crate::monitoring::{db_span, end_db_span, DbCall, Monitoring};
use crate::results::{shape, Rows};

/// What a worker tells the bridge session.
#[derive(Debug)]
pub(crate) enum Reply {
    Progress(RequestId, Value),
    Final(RequestId, Payload),
    Failed(RequestId, CallError),
}

/// Collects or streams one call's rows.
struct ReplySink {
    request: RequestId,
    tx: mpsc::Sender<Reply>,
    returns: Returns,
    streaming: bool,
    held: Option<Rows>,
    done: bool,
}

impl RowSink for ReplySink {
    fn push(&mut self, rows: Rows) -> Result<(), Stopped> {
        if !self.streaming {
            match &mut self.held {
                Some(all) => all.rows.extend(rows.rows),
                None => self.held = Some(rows),
            }
            return Ok(());
        }
        if rows.is_empty() {
            return Ok(());
        }
        if let Some(previous) = self.held.replace(rows) {
            let batch = previous.into_list(&self.returns);
            self.tx.blocking_send(Reply::Progress(self.request, batch)).map_err(|_| Stopped)?;
        }
        Ok(())
    }
}

impl ReplySink {
    fn finish(mut self, outcome: Result<(), CallError>) {
        self.done = true;
        let rows = self.held.take().unwrap_or_default();
        let reply = match outcome {
            Ok(()) if self.streaming && self.returns.is_set() => Reply::Final(self.request, Payload::args(vec![rows.into_list(&self.returns)])),
            Ok(()) => Reply::Final(self.request, shape(&self.returns, rows)),
            Err(e) => Reply::Failed(self.request, e),
        };
        // The session may be gone (shutdown); then nobody waits for this reply.
        let _ = self.tx.blocking_send(reply);
    }
}

impl Drop for ReplySink {
    fn drop(&mut self) {
        if !self.done {
            let e = CallError::Internal("the call's worker stopped without an answer (panic)".into());
            let _ = self.tx.blocking_send(Reply::Failed(self.request, e));
        }
    }
}

/// What the workers report through, shared by them all.
pub(crate) struct Reporting {
    pub monitoring: Monitoring,
    /// Workers running a call, each holding one pooled connection.
    pub busy: AtomicU64,
    pub threads: u64,
}

impl Reporting {
    pub fn new(monitoring: Monitoring, threads: usize) -> Self {
        Reporting { monitoring, busy: AtomicU64::new(0), threads: threads as u64 }
    }

    fn pool(&self, delta: i64) {
        let busy = if delta > 0 { self.busy.fetch_add(1, Ordering::Relaxed) + 1 } else { self.busy.fetch_sub(1, Ordering::Relaxed) - 1 };
        self.monitoring.monitor.pool_state(busy, self.threads.saturating_sub(busy));
    }
}

/// One submitted call.
pub(crate) struct Job {
    pub request: RequestId,
    pub uri: String,
    pub call: BoundCall,
    pub ctx: CallContext,
    pub cancel: Arc<CancelSlot>,
    /// When it was queued for a worker (the pool wait).
    pub queued: Instant,
}

/// One database call being reported: its span, when it started, the pool gauge raised.
struct Reported {
    span: Option<opentelemetry::global::BoxedSpan>,
    started: Instant,
}

impl Reporting {
    /// A call leaves the queue and starts in the database (`names`: `db.system`, `db.operation`).
    fn begin(&self, names: (&'static str, &'static str), call: &BoundCall, uri: &str, ctx: &CallContext) -> Reported {
        let span = self.monitoring.tracer.as_ref().map(|tracer| {
            let procedure = format!("{}.{}", call.procedure.schema, call.procedure.name);
            let named = DbCall { system: names.0, operation: names.1, procedure: &procedure, uri };
            db_span(tracer, &named, ctx.trace.as_ref())
        });
        self.pool(1);
        Reported { span, started: Instant::now() }
    }

    /// The call ended in the database with `error`, or without one.
    fn end(&self, reported: Reported, uri: &str, error: Option<&CallError>) {
        let elapsed = reported.started.elapsed();
        self.pool(-1);
        self.monitoring.monitor.db_call(uri, elapsed, if error.is_none() { DbOutcome::Ok } else { DbOutcome::Error });
        if let Some(span) = reported.span {
            end_db_span(span, error.map(|e| e.to_wamp(0).uri).as_deref());
        }
    }
}

/// Runs one call to the end on the current (worker) thread.
pub(crate) fn run<D: Database>(db: &D, job: Job, tx: mpsc::Sender<Reply>, reporting: &Reporting) {
    let Job { request, uri, call, ctx, cancel, queued } = job;
    reporting.monitoring.monitor.pool_wait(queued.elapsed());
    let streaming = ctx.stream_batch.is_some();
    let returns = call.procedure.returns.clone();
    let mut sink = ReplySink { request, tx, returns, streaming, held: None, done: false };
    if cancel.is_canceled() {
        return sink.finish(Err(CallError::Canceled));
    }
    let reported = reporting.begin((db.system(), db.operation(&call)), &call, &uri, &ctx);
    let outcome = db.execute(&call, &ctx, &cancel, &mut sink);
    reporting.end(reported, &uri, outcome.as_ref().err());
    sink.finish(outcome);
}

/// Runs one call's future (see [`Database::execute_async`]) on the async runtime, reported as
/// [`run`] reports a worker's call.
pub(crate) async fn run_async(names: (&'static str, &'static str), job: Job, future: AsyncCall, tx: mpsc::Sender<Reply>, reporting: &Reporting) {
    let Job { request, uri, call, ctx, cancel, queued } = job;
    reporting.monitoring.monitor.pool_wait(queued.elapsed());
    let reply = if cancel.is_canceled() {
        Reply::Failed(request, CallError::Canceled)
    } else {
        let reported = reporting.begin(names, &call, &uri, &ctx);
        let outcome = future.await;
        reporting.end(reported, &uri, outcome.as_ref().err());
        match outcome {
            Ok(rows) => Reply::Final(request, shape(&call.procedure.returns, rows)),
            Err(e) => Reply::Failed(request, e),
        }
    };
    // The session may be gone (shutdown); then nobody waits for this reply.
    let _ = tx.send(reply).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Procedure, Volatility};
    use wamp::dict;

    /// Pushes `batches` batches of two rows each.
    struct Fake {
        batches: usize,
        fail: bool,
    }

    impl Database for Fake {
        fn execute(&self, _: &BoundCall, _: &CallContext, _: &CancelSlot, sink: &mut dyn RowSink) -> Result<(), CallError> {
            let columns: Arc<[String]> = vec!["n".to_string()].into();
            for b in 0..self.batches {
                let rows = Rows { columns: columns.clone(), rows: vec![vec![Value::from(2 * b)], vec![Value::from(2 * b + 1)]] };
                sink.push(rows).map_err(|_| CallError::Canceled)?;
            }
            if self.fail {
                return Err(CallError::Internal("boom".into()));
            }
            Ok(())
        }
    }

    fn call(returns: Returns) -> BoundCall {
        let procedure = Arc::new(Procedure { id: 1, schema: "s".into(), name: "f".into(), params: vec![], returns, volatility: Volatility::Stable });
        BoundCall { procedure, args: vec![] }
    }

    fn drain(db: Fake, returns: Returns, stream: Option<usize>) -> Vec<Reply> {
        let (tx, mut rx) = mpsc::channel(16);
        let ctx = CallContext { caller: Default::default(), stream_batch: stream, trace: None };
        let job = Job { request: RequestId(1), uri: "s.f".into(), call: call(returns), ctx, cancel: Arc::new(CancelSlot::new()), queued: Instant::now() };
        let reporting = Reporting::new(Monitoring::default(), 1);
        std::thread::spawn(move || run(&db, job, tx, &reporting)).join().unwrap();
        let mut out = Vec::new();
        while let Ok(r) = rx.try_recv() {
            out.push(r);
        }
        out
    }

    #[test]
    fn streamed_sets_hold_the_last_batch_for_the_final_result() {
        let replies = drain(Fake { batches: 3, fail: false }, Returns::Rows, Some(2));
        assert_eq!(replies.len(), 3);
        assert!(matches!(&replies[0], Reply::Progress(_, Value::List(l)) if l.len() == 2 && l[0] == Value::Dict(dict! {"n" => 0})));
        assert!(matches!(&replies[1], Reply::Progress(..)));
        let Reply::Final(_, p) = &replies[2] else { panic!("{replies:?}") };
        assert_eq!(p.args.as_ref().unwrap()[0], Value::List(vec![Value::Dict(dict! {"n" => 4}), Value::Dict(dict! {"n" => 5})]));
    }

    #[test]
    fn an_empty_stream_ends_with_an_empty_list() {
        let replies = drain(Fake { batches: 0, fail: false }, Returns::Values, Some(2));
        assert!(matches!(&replies[..], [Reply::Final(_, p)] if p.args == Some(vec![Value::List(vec![])])));
    }

    #[test]
    fn unstreamed_sets_come_whole() {
        let replies = drain(Fake { batches: 2, fail: false }, Returns::Values, None);
        let [Reply::Final(_, p)] = &replies[..] else { panic!("{replies:?}") };
        assert_eq!(p.args, Some(vec![Value::List((0..4).map(Value::from).collect())]));
    }

    #[test]
    fn errors_become_failed_replies() {
        let replies = drain(Fake { batches: 1, fail: true }, Returns::Rows, Some(2));
        assert!(matches!(&replies[..], [Reply::Failed(_, CallError::Internal(_))]));
    }
}
