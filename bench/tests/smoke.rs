//! CI smoke of the load generator against the real gateway (in-process, port 0): every scenario
//! runs briefly and must complete work with no errors and nothing lost. A correctness check only:
//! no figure here is compared with a speed goal (those live in `scripts/bench`'s report).

use std::time::Duration;

use bench::scenario::fanout::{self, FanoutArgs};
use bench::scenario::idle::{self, IdleArgs};
use bench::scenario::rpc::{self, CallArgs, RpcArgs};
use bench::scenario::{Common, ScenarioResult};
use gateway::config::Settings;
use gateway::Application;
use wamp::Serializer;

const CONFIG: &str = r#"
[[transports]]
type = "websocket"
listen = "127.0.0.1:0"
[transports.auth.anonymous]
role = "anonymous"

[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
permissions = [{ uri = "", match = "prefix", call = true, register = true, publish = true, subscribe = true }]
"#;

/// The whole smoke may not take longer than this (setup included), so CI never hangs on it.
const BOUND: Duration = Duration::from_secs(60);

fn common(url: &str, serializer: Serializer, seconds: f64) -> Common {
    Common {
        url: url.to_owned(),
        realm: "realm1".into(),
        serializer,
        duration: seconds,
        warmup: 0.2,
        // The router runs in this process: exercises the /proc readings too.
        router_pid: Some(std::process::id()),
        label: "smoke".into(),
        out: None,
        connect_concurrency: 16,
    }
}

fn calls(url: &str, serializer: Serializer, seconds: f64, rate: f64) -> CallArgs {
    CallArgs {
        common: common(url, serializer, seconds),
        sessions: 4,
        inflight: 4,
        payload: 32,
        rate,
        max_inflight: 256,
    }
}

fn assert_clean(r: &ScenarioResult) {
    assert!(r.operations > 0, "{} {} completed nothing: {r:?}", r.scenario, r.serializer);
    assert_eq!(r.errors, 0, "{} {} had errors: {r:?}", r.scenario, r.serializer);
    assert_eq!(r.lost, 0, "{} {} lost work: {r:?}", r.scenario, r.serializer);
    assert_eq!(r.latency_us.count, r.operations, "every completed operation has a latency");
    assert!(r.router.is_some(), "router usage read from /proc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_drives_the_gateway_without_errors() {
    let settings = Settings::from_toml_str(CONFIG).expect("smoke configuration parses");
    let app = Application::build(settings).expect("the gateway starts");
    let url = app.endpoints()[0].url.clone();
    let shutdown = app.shutdown_handle();
    let server = tokio::spawn(app.run_until_stopped());

    tokio::time::timeout(BOUND, async {
        let closed =
            rpc::rpc(RpcArgs { call: calls(&url, Serializer::Json, 2.0, 0.0), callees: 2 }).await.expect("rpc runs");
        assert_clean(&closed);
        assert_eq!(closed.mode, "closed");

        let open = rpc::rpc(RpcArgs { call: calls(&url, Serializer::MsgPack, 1.0, 2000.0), callees: 0 })
            .await
            .expect("open-loop rpc runs");
        assert_clean(&open);
        assert_eq!(open.mode, "open");

        let fan = fanout::fanout(FanoutArgs {
            common: common(&url, Serializer::Cbor, 2.0),
            subscribers: 50,
            window: 8,
            rate: 0.0,
            payload: 16,
        })
        .await
        .expect("fanout runs");
        assert_clean(&fan);

        let idle = idle::idle(IdleArgs { common: common(&url, Serializer::Json, 0.2), sessions: 20, no_join: false })
            .await
            .expect("idle runs");
        assert!(idle.rss_per_session_bytes.is_some());
    })
    .await
    .expect("the smoke finishes in time");

    shutdown.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
