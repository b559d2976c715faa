//! Fan-out: one publisher, M subscribers on one topic; events delivered per second and the
//! delivery latency of each event.
//!
//! Each PUBLISH carries `[sequence, send_time_ns, padding]`; the send time is nanoseconds since the
//! run's epoch (one clock: publisher and subscribers live in this process), so a subscriber's
//! latency is `now - send_time`. Closed loop: at most `--window` publications are not yet
//! delivered to every subscriber, which keeps the router's per-session queues far from their
//! limit. Open loop (`--rate`): publications at a fixed rate, timed from their intended send time.
//! After the window, the publisher stops and every event published must arrive within
//! [`DRAIN`]; the shortfall is reported as lost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use wamp::{Dict, Message, Payload, Value};

use super::{connect_all, measure, Common, ScenarioResult, DRAIN};
use crate::client::{payload_of, Client};
use crate::stats::{Recorder, Run};

#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: Common,
    /// Subscribing sessions.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Closed loop: publications not yet delivered to every subscriber.
    #[arg(long, default_value_t = 64)]
    pub window: u64,
    /// Open loop: publications per second. 0 = closed loop.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Padding bytes per event.
    #[arg(long, default_value_t = 32)]
    pub payload: usize,
}

/// Counters shared by the publisher and the subscribers.
#[derive(Default)]
struct Flow {
    published: AtomicU64,
    /// Events received by all subscribers together, whole run.
    delivered: AtomicU64,
    /// The publisher waits for room in the window.
    waiting: AtomicBool,
    room: Notify,
}

pub async fn fanout(args: FanoutArgs) -> anyhow::Result<ScenarioResult> {
    let common = &args.common;
    let topic = format!("bench.fanout.{}", std::process::id());
    let (publisher, _) = Client::join(&common.url, &common.realm, common.serializer).await.context("publisher")?;
    let subscribers = connect_all(args.subscribers, common.connect_concurrency, |_| {
        let topic = topic.clone();
        async move {
            let (mut client, _) = Client::join(&common.url, &common.realm, common.serializer).await?;
            client.subscribe(&topic).await?;
            anyhow::Ok(client)
        }
    })
    .await
    .context("setting up subscribers")?;

    let run = common.run();
    let flow = Arc::new(Flow::default());
    let mut tasks = JoinSet::new();
    for client in subscribers {
        tasks.spawn(subscriber(client, Recorder::new(run.clone()), flow.clone()));
    }
    let m = args.subscribers as u64;
    let publisher = tokio::spawn(publish(publisher, args.clone(), topic, run.clone(), flow.clone()));
    let window = measure(&run, common.router_pid).await;
    // The publisher's connection stays open until the drain is over: closing it at once could
    // cut publications the router has read but not yet handled.
    let (published, publisher) = publisher.await.context("publisher task")?;
    // Every event published must reach every subscriber.
    let deadline = Instant::now() + DRAIN;
    while flow.delivered.load(Ordering::Relaxed) < published * m && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tasks.shutdown().await;
    drop(publisher);
    let delivered = flow.delivered.load(Ordering::Relaxed);
    let operations = run.completed.load(Ordering::Relaxed);
    let open = args.rate > 0.0;
    Ok(ScenarioResult {
        scenario: "fanout".into(),
        label: common.label.clone(),
        serializer: common.serializer.name().into(),
        mode: if open { "open" } else { "closed" }.into(),
        sessions: m,
        inflight: if open { 0 } else { args.window },
        payload: args.payload as u64,
        rate: open.then_some(args.rate),
        duration_s: window.seconds,
        operations,
        throughput: operations as f64 / window.seconds,
        errors: run.errors.load(Ordering::Relaxed),
        lost: (published * m).saturating_sub(delivered),
        latency_us: run.latency(),
        router: window.router(operations),
        generator_cpu_us_per_op: window.generator_per_op(operations),
        generator_cores: window.generator_cores(),
        rss_per_session_bytes: None,
        note: Some(format!("{published} publications to {m} subscribers")),
    })
}

/// Publishes until the run halts; returns how many publications went out, and the connection.
async fn publish(mut client: Client, args: FanoutArgs, topic: String, run: Arc<Run>, flow: Arc<Flow>) -> (u64, Client) {
    let m = args.subscribers.max(1) as u64;
    let padding = Value::Str("x".repeat(args.payload));
    let interval = (args.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / args.rate));
    let mut next_due = run.epoch;
    let mut seq = 0u64;
    let mut stamps: Vec<u64> = Vec::new();
    while !run.stopped() {
        stamps.clear();
        match interval {
            Some(every) => {
                tokio::time::sleep_until(next_due.into()).await;
                // Late publications go out at once, each stamped with when it should have gone.
                let now = Instant::now();
                while next_due <= now {
                    stamps.push(next_due.duration_since(run.epoch).as_nanos() as u64);
                    next_due += every;
                }
            }
            None => {
                // Whole publications that may go out without exceeding the window.
                let room = |delivered: u64| (args.window * m).saturating_sub(seq * m - delivered.min(seq * m)) / m;
                if room(flow.delivered.load(Ordering::SeqCst)) == 0 {
                    flow.waiting.store(true, Ordering::SeqCst);
                    // Re-check after announcing, so a delivery in between is not missed.
                    if room(flow.delivered.load(Ordering::SeqCst)) == 0 {
                        let _ = tokio::time::timeout(Duration::from_millis(50), flow.room.notified()).await;
                    }
                    flow.waiting.store(false, Ordering::SeqCst);
                    continue;
                }
                let room = room(flow.delivered.load(Ordering::Relaxed));
                let now = run.now_ns();
                stamps.extend((0..room).map(|_| now));
            }
        }
        for &sent_ns in &stamps {
            seq += 1;
            let request = client.request_id();
            let args = vec![Value::from(seq), Value::from(sent_ns), padding.clone()];
            let msg =
                Message::Publish { request, options: Dict::new(), topic: topic.clone(), payload: Payload::args(args) };
            let frame = client.frame(&msg);
            if client.ws.feed(frame).await.is_err() {
                run.error();
                return (seq - 1, client);
            }
            flow.published.fetch_add(1, Ordering::Relaxed);
        }
        if client.ws.flush().await.is_err() {
            run.error();
            return (seq, client);
        }
    }
    (seq, client)
}

/// One subscriber: reads EVENTs, records `now - send_time`, counts deliveries.
async fn subscriber(mut client: Client, mut rec: Recorder, flow: Arc<Flow>) {
    let run = rec.run().clone();
    loop {
        let mut frame = client.ws.next().await;
        let mut n = 0u64;
        loop {
            let Some(Ok(f)) = frame else {
                flow.delivered.fetch_add(n, Ordering::Relaxed);
                return run.error();
            };
            if let Some(bytes) = payload_of(&f) {
                match client.serializer.decode(bytes) {
                    Ok(Message::Event { payload, .. }) => {
                        let sent = payload.args.as_ref().and_then(|a| a.get(1)).and_then(Value::as_u64).unwrap_or(0);
                        let now_ns = run.now_ns();
                        rec.record(Instant::now(), now_ns.saturating_sub(sent));
                        n += 1;
                    }
                    Ok(Message::Abort { .. } | Message::Goodbye { .. }) | Err(_) => {
                        flow.delivered.fetch_add(n, Ordering::Relaxed);
                        return run.error();
                    }
                    Ok(_) => {}
                }
            }
            match client.ws.next().now_or_never() {
                Some(f) => frame = f,
                None => break,
            }
        }
        flow.delivered.fetch_add(n, Ordering::Relaxed);
        if flow.waiting.load(Ordering::SeqCst) {
            flow.room.notify_one();
        }
    }
}
