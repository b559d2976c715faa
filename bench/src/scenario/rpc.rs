//! Calls: routed RPC (`rpc`), the transport baseline (`echo`) and bridged database calls (`db`).
//!
//! All three share one caller loop: N sessions, each keeping C calls in flight (closed loop) or
//! sending at a fixed rate (open loop). In the open loop a call's latency runs from its
//! *intended* send time, so a stalled router is charged for the calls it delayed
//! (coordinated omission); in-flight calls per session are capped, late sends go out in a burst.
//!
//! - `rpc`: M callee sessions register `bench.rpc.<run>.<j>`; caller i calls procedure i mod M; the
//!   callees answer each INVOCATION with a YIELD carrying the same arguments.
//! - `echo`: no WAMP session at all: the caller's CALL frames go to a WebSocket echo server and come
//!   back unchanged, so the generator does the same work per request (encode a CALL, decode a
//!   message of the same size) and the server the least a WebSocket server can do.
//! - `db`: no callees; callers call a configured procedure (a database function exposed by a bridge).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::Message as Frame;
use wamp::{Dict, List, Message, Payload, RequestId, Value};

use super::{connect_all, measure, Common, ScenarioResult, DRAIN};
use crate::client::{payload_of, Client};
use crate::stats::{Recorder, Run};

#[derive(Debug, Clone, Args)]
pub struct CallArgs {
    #[command(flatten)]
    pub common: Common,
    /// Calling sessions.
    #[arg(long, default_value_t = 8)]
    pub sessions: usize,
    /// Calls in flight per session (closed loop).
    #[arg(long, default_value_t = 16)]
    pub inflight: usize,
    /// Bytes of payload per call (one string argument); ignored by `db`, which sends --args.
    #[arg(long, default_value_t = 32)]
    pub payload: usize,
    /// Open loop: total calls per second across all sessions. 0 = closed loop.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Open loop: most calls in flight per session before sends are held back.
    #[arg(long, default_value_t = 1024)]
    pub max_inflight: usize,
}

#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    #[command(flatten)]
    pub call: CallArgs,
    /// Callee sessions (0: as many as callers).
    #[arg(long, default_value_t = 0)]
    pub callees: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    #[command(flatten)]
    pub call: CallArgs,
    /// The bridged procedure to call.
    #[arg(long, default_value = "com.example.bench.add")]
    pub procedure: String,
    /// Positional arguments, as a JSON list.
    #[arg(long, default_value = "[1, 2]")]
    pub args: String,
    /// Keyword arguments, as a JSON object.
    #[arg(long, default_value = "{}")]
    pub kwargs: String,
}

/// What the callers talk to.
enum Target {
    /// Our own callees, on these procedures.
    Routed(Vec<String>),
    /// A WebSocket echo server.
    Echo,
    /// An existing procedure (a database bridge).
    External(String),
}

pub async fn rpc(args: RpcArgs) -> anyhow::Result<ScenarioResult> {
    let c = &args.call;
    let callees = if args.callees == 0 { c.sessions } else { args.callees };
    let tag = std::process::id();
    let procedures: Vec<String> = (0..callees).map(|j| format!("bench.rpc.{tag}.{j}")).collect();
    let common = &c.common;
    let callee_clients = connect_all(callees, common.connect_concurrency, |j| {
        let procedure = procedures[j].clone();
        async move {
            let (mut client, _) = Client::join(&common.url, &common.realm, common.serializer).await?;
            client.register(&procedure).await?;
            anyhow::Ok(client)
        }
    })
    .await
    .context("setting up callees")?;
    let payload = Payload::args(vec![Value::Str("x".repeat(c.payload))]);
    let result = callers(c, Target::Routed(procedures), payload, "rpc", callee_clients).await?;
    Ok(result)
}

pub async fn echo(args: CallArgs) -> anyhow::Result<ScenarioResult> {
    let payload = Payload::args(vec![Value::Str("x".repeat(args.payload))]);
    callers(&args, Target::Echo, payload, "echo", Vec::new()).await
}

pub async fn db(args: DbArgs) -> anyhow::Result<ScenarioResult> {
    let list: List = json_value(&args.args)
        .and_then(|v| match v {
            Value::List(l) => Ok(l),
            _ => bail!("--args must be a JSON list"),
        })
        .context("--args")?;
    let kwargs: Dict = json_value(&args.kwargs)
        .and_then(|v| match v {
            Value::Dict(d) => Ok(d),
            _ => bail!("--kwargs must be a JSON object"),
        })
        .context("--kwargs")?;
    let payload = Payload { args: Some(list), kwargs: Some(kwargs) };
    let mut result = callers(&args.call, Target::External(args.procedure.clone()), payload, "db", Vec::new()).await?;
    result.payload = 0;
    if result.operations == 0 && result.errors > 0 {
        result.note =
            Some(format!("every call of '{}' failed: is the bridge running and the function exposed?", args.procedure));
    }
    Ok(result)
}

/// Parses JSON into a WAMP value through the wamp crate's own JSON codec.
fn json_value(text: &str) -> anyhow::Result<Value> {
    Ok(wamp::Serializer::Json.decode_value(text.as_bytes())?)
}

async fn callers(
    c: &CallArgs,
    target: Target,
    payload: Payload,
    scenario: &str,
    callee_clients: Vec<Client>,
) -> anyhow::Result<ScenarioResult> {
    let common = &c.common;
    let echo = matches!(target, Target::Echo);
    let clients = connect_all(c.sessions, common.connect_concurrency, |_| async move {
        if echo {
            Client::connect(&common.url, common.serializer).await
        } else {
            Client::join(&common.url, &common.realm, common.serializer).await.map(|(c, _)| c)
        }
    })
    .await
    .context("setting up callers")?;

    let run = common.run();
    let mut callees = JoinSet::new();
    for client in callee_clients {
        callees.spawn(callee(client, run.clone()));
    }
    let open = c.rate > 0.0;
    let interval = open.then(|| Duration::from_secs_f64(c.sessions as f64 / c.rate));
    let mut tasks = JoinSet::new();
    for (i, client) in clients.into_iter().enumerate() {
        let procedure = match &target {
            Target::Routed(p) => p[i % p.len()].clone(),
            Target::Echo => "bench.echo".to_owned(),
            Target::External(p) => p.clone(),
        };
        let plan = Plan {
            procedure,
            payload: payload.clone(),
            inflight: if open { c.max_inflight } else { c.inflight },
            // Stagger the sessions' schedules across one interval.
            interval: interval.map(|d| (d, d.mul_f64(i as f64 / c.sessions as f64))),
        };
        tasks.spawn(caller(client, plan, Recorder::new(run.clone())));
    }
    let window = measure(&run, common.router_pid).await;
    while tasks.join_next().await.is_some() {}
    callees.shutdown().await;

    let operations = run.completed.load(Ordering::Relaxed);
    Ok(ScenarioResult {
        scenario: scenario.into(),
        label: common.label.clone(),
        serializer: common.serializer.name().into(),
        mode: if open { "open" } else { "closed" }.into(),
        sessions: c.sessions as u64,
        inflight: if open { 0 } else { c.inflight as u64 },
        payload: c.payload as u64,
        rate: open.then_some(c.rate),
        duration_s: window.seconds,
        operations,
        throughput: operations as f64 / window.seconds,
        errors: run.errors.load(Ordering::Relaxed),
        lost: run.lost.load(Ordering::Relaxed),
        latency_us: run.latency(),
        router: window.router(operations),
        generator_cpu_us_per_op: window.generator_per_op(operations),
        generator_cores: window.generator_cores(),
        rss_per_session_bytes: None,
        note: None,
    })
}

/// The resolution of tokio's timer.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// What one calling session does.
struct Plan {
    procedure: String,
    payload: Payload,
    /// Closed loop: calls kept in flight. Open loop: the cap on calls in flight.
    inflight: usize,
    /// Open loop: (interval between this session's calls, offset of its first call).
    interval: Option<(Duration, Duration)>,
}

/// One caller: sends calls, matches replies by request id, records latencies.
async fn caller(mut client: Client, plan: Plan, mut rec: Recorder) {
    let run = rec.run().clone();
    let mut template = Message::Call {
        request: RequestId(1),
        options: Dict::new(),
        procedure: plan.procedure.clone(),
        payload: plan.payload.clone(),
    };
    // Request id → intended send time.
    let mut pending: HashMap<u64, Instant> = HashMap::with_capacity(plan.inflight * 2);
    let halted = run.halted();
    tokio::pin!(halted);
    let mut drain_until: Option<Instant> = None;
    let mut next_due = plan.interval.map(|(_, offset)| run.epoch + offset);

    if plan.interval.is_none() {
        for _ in 0..plan.inflight {
            let id = client.request_id();
            if feed_call(&mut client, &mut template, id).await.is_err() {
                return fail(&run, &pending);
            }
            pending.insert(id.0, Instant::now());
        }
        if client.ws.flush().await.is_err() {
            return fail(&run, &pending);
        }
    }

    loop {
        if drain_until.is_some() && pending.is_empty() {
            break;
        }
        let can_send = next_due.is_some() && drain_until.is_none() && pending.len() < plan.inflight;
        tokio::select! {
            biased;
            frame = client.ws.next() => {
                let mut frame = frame;
                let mut sent = false;
                // Everything already read: handle it all, answer in one flush.
                loop {
                    let Some(Ok(f)) = frame else { return fail(&run, &pending) };
                    match on_reply(&client, &f, &mut pending, &mut rec) {
                        Reply::Done => {
                            if next_due.is_none() && drain_until.is_none() {
                                let id = client.request_id();
                                if feed_call(&mut client, &mut template, id).await.is_err() {
                                    return fail(&run, &pending);
                                }
                                pending.insert(id.0, Instant::now());
                                sent = true;
                            }
                        }
                        Reply::Ignore => {}
                        Reply::Fatal => return fail(&run, &pending),
                    }
                    match client.ws.next().now_or_never() {
                        Some(f) => frame = f,
                        None => break,
                    }
                }
                if sent && client.ws.flush().await.is_err() {
                    return fail(&run, &pending);
                }
            }
            // Wake a tick early: the timer fires up to a tick late.
            _ = sleep_until(next_due.map_or(run.epoch, |d| d.checked_sub(TIMER_TICK).unwrap_or(d)).into()), if can_send => {
                let (every, _) = plan.interval.expect("open loop has an interval");
                let now = Instant::now();
                let mut due = next_due.expect("checked by can_send");
                // Late sends go out at once, each timed from when it should have been sent. The
                // timer wakes us at millisecond granularity, so calls due within the next tick go
                // now too, timed from now: the generator's own timer is not charged to the router.
                while due <= now + TIMER_TICK && pending.len() < plan.inflight {
                    let id = client.request_id();
                    if feed_call(&mut client, &mut template, id).await.is_err() {
                        return fail(&run, &pending);
                    }
                    pending.insert(id.0, due.min(now));
                    due += every;
                }
                next_due = Some(due);
                if client.ws.flush().await.is_err() {
                    return fail(&run, &pending);
                }
            }
            _ = &mut halted, if drain_until.is_none() => {
                drain_until = Some(Instant::now() + DRAIN);
            }
            _ = sleep_until(drain_until.unwrap_or(run.epoch).into()), if drain_until.is_some() => break,
        }
    }
    run.lost.fetch_add(pending.len() as u64, Ordering::Relaxed);
}

enum Reply {
    /// A call completed (recorded, or counted as an error).
    Done,
    /// Not a reply to a call of ours (ping, unrelated message).
    Ignore,
    /// The session ended.
    Fatal,
}

fn on_reply(client: &Client, frame: &Frame, pending: &mut HashMap<u64, Instant>, rec: &mut Recorder) -> Reply {
    let Some(bytes) = payload_of(frame) else {
        return if matches!(frame, Frame::Close(_)) { Reply::Fatal } else { Reply::Ignore };
    };
    let now = Instant::now();
    match client.serializer.decode(bytes) {
        // RESULT from a router, or our own CALL back from the echo server.
        Ok(Message::Result { request, details, .. }) if !is_progress(&details) => complete(request, now, pending, rec),
        Ok(Message::Call { request, .. }) => complete(request, now, pending, rec),
        Ok(Message::Error { request, .. }) => {
            if pending.remove(&request.0).is_some() {
                rec.run().error();
            }
            Reply::Done
        }
        Ok(Message::Abort { .. } | Message::Goodbye { .. }) | Err(_) => Reply::Fatal,
        Ok(_) => Reply::Ignore,
    }
}

fn complete(request: RequestId, now: Instant, pending: &mut HashMap<u64, Instant>, rec: &mut Recorder) -> Reply {
    match pending.remove(&request.0) {
        Some(sent) => {
            rec.record(now, now.saturating_duration_since(sent).as_nanos() as u64);
            Reply::Done
        }
        None => Reply::Ignore,
    }
}

fn is_progress(details: &Dict) -> bool {
    details.get("progress").and_then(Value::as_bool).unwrap_or(false)
}

async fn feed_call(client: &mut Client, template: &mut Message, id: RequestId) -> Result<(), ()> {
    if let Message::Call { request, .. } = template {
        *request = id;
    }
    let frame = client.frame(template);
    client.ws.feed(frame).await.map_err(|_| ())
}

/// The session broke: whatever was pending is lost, and the session counts as an error.
fn fail(run: &Run, pending: &HashMap<u64, Instant>) {
    run.error();
    run.lost.fetch_add(pending.len() as u64, Ordering::Relaxed);
}

/// One callee: answers every INVOCATION with a YIELD of the same arguments, batching writes.
async fn callee(mut client: Client, run: Arc<Run>) {
    let mut frame = client.ws.next().await;
    loop {
        let mut answered = false;
        loop {
            let Some(Ok(f)) = frame else {
                if !run.stopped() {
                    run.error();
                }
                return;
            };
            if let Some(bytes) = payload_of(&f) {
                match client.serializer.decode(bytes) {
                    Ok(Message::Invocation { request, payload, .. }) => {
                        let reply = client.frame(&Message::Yield { request, options: Dict::new(), payload });
                        if client.ws.feed(reply).await.is_err() {
                            return run.error();
                        }
                        answered = true;
                    }
                    Ok(Message::Abort { .. } | Message::Goodbye { .. }) | Err(_) => return run.error(),
                    Ok(_) => {}
                }
            }
            match client.ws.next().now_or_never() {
                Some(f) => frame = f,
                None => break,
            }
        }
        if answered && client.ws.flush().await.is_err() {
            return run.error();
        }
        frame = client.ws.next().await;
    }
}
