//! The application: router plus every transport, bound, run, and drained on shutdown.
//!
//! [`Application::build`] validates the settings and binds every listener (so port 0 is resolved
//! and reported by [`Application::endpoints`] before anything runs); [`Application::run_until_stopped`]
//! serves until the [`ShutdownHandle`] fires or a server fails. Tests do exactly what `main` does,
//! on port 0, in-process.
//!
//! Database bridges (`[[bridges]]`) start in [`Application::run_until_stopped`], after the router
//! and before serving: each attaches to its realm as ordinary in-process sessions and connects to
//! its database in the background (database trouble does not stop the gateway; the bridge
//! reconnects and reports its state through [`Application::bridge_states`]).
//!
//! Shutdown order: stop accepting → `router.shutdown()` and the connections' shutdown signal
//! (joined sessions get GOODBYE `wamp.close.system_shutdown`) → wait for connections to end, at
//! most `[shutdown] drain_timeout_ms`, while the bridges stop (running statements are canceled)
//! → stop the servers, cutting whatever is left.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use bridge::{BridgeHandle, BridgeState};
use futures_util::future::join_all;
use thiserror::Error;
use tracing::{info, warn};
use wamp::router::{Authenticator, Router};

use crate::auth;
use crate::config::{AuthConfig, BridgeConfig, ConfigError, RawSocketAddress, Settings, TransportConfig};
use crate::lifecycle::{Lifecycle, ShutdownHandle};
use crate::transport::tls::{TlsError, TlsServer};
use crate::telemetry::{ReadyHandle, Telemetry, TelemetryError};
use crate::transport::{rawsocket, tls_auth, websocket};

/// Why the application could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `key` is `listen`, or `unix` for a Unix socket path.
    #[error("transports[{index}].{key}: cannot bind {listen}: {source}")]
    Bind { index: usize, key: &'static str, listen: String, source: std::io::Error },
    #[error("transports[{index}].tls: {source}")]
    Tls { index: usize, source: TlsError },
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    #[error("transport server failed: {0}")]
    Server(#[source] std::io::Error),
    #[error("bridges[{index}] ({kind}): {source}")]
    Bridge { index: usize, kind: &'static str, source: BridgeStartError },
}

/// Why one bridge did not start, by kind.
#[derive(Debug, Error)]
pub enum BridgeStartError {
    #[error(transparent)]
    Postgres(#[from] postgres_bridge::Error),
    #[error(transparent)]
    Oracle(#[from] oracle_bridge::Error),
}

/// Where a listener is bound.
#[derive(Debug, Clone, PartialEq)]
pub enum Address {
    /// The bound TCP address (the real port when `listen` asked for port 0).
    Tcp(SocketAddr),
    /// A Unix socket's path.
    Unix(PathBuf),
}

/// A bound listener, as the outside world reaches it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `websocket` or `rawsocket`.
    pub kind: &'static str,
    pub address: Address,
    /// `ws://HOST:PORT/PATH`, `wss://…`, `tcp://HOST:PORT`, `tcps://HOST:PORT` or `unix:PATH`.
    pub url: String,
}

impl Endpoint {
    /// The TCP address, unless this is a Unix socket.
    pub fn tcp_address(&self) -> Option<SocketAddr> {
        match &self.address {
            Address::Tcp(address) => Some(*address),
            Address::Unix(_) => None,
        }
    }
}

impl std::fmt::Display for Endpoint {
    /// The startup line: `listening on ws://HOST:PORT/PATH (websocket)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "listening on {} ({})", self.url, self.kind)
    }
}

/// A transport's server, run by [`Application::run_until_stopped`] until it is stopped.
type ServerTask = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// How the application pauses and stops one transport's server.
enum Stopper {
    Actix(ServerHandle),
    RawSocket(rawsocket::Control),
}

impl Stopper {
    /// Stop accepting connections.
    async fn pause(&self) {
        match self {
            Stopper::Actix(handle) => handle.pause().await,
            Stopper::RawSocket(control) => control.pause(),
        }
    }

    /// Cut whatever connections are left.
    async fn stop(&self) {
        match self {
            Stopper::Actix(handle) => handle.stop(false).await,
            Stopper::RawSocket(control) => control.stop(),
        }
    }
}

/// The gateway, built and bound, not yet running.
pub struct Application {
    router: Arc<Router>,
    servers: Vec<(ServerTask, Stopper)>,
    endpoints: Vec<Endpoint>,
    lifecycle: Lifecycle,
    drain_timeout: Duration,
    telemetry: Telemetry,
    /// One readiness component per listener (`listener:INDEX`), ready while it serves.
    listeners: Vec<ReadyHandle>,
    bridges: Vec<BridgeConfig>,
    bridge_states: Arc<std::sync::Mutex<Vec<tokio::sync::watch::Receiver<BridgeState>>>>,
}

impl Application {
    /// Validates `settings`, creates the router and binds every transport's listener.
    pub fn build(settings: Settings) -> Result<Application, StartupError> {
        for warning in settings.validate()? {
            warn!(key = %warning.key, "{}", warning.reason);
        }
        let telemetry = Telemetry::start(&settings.telemetry)?;
        let router = Router::with_observer(settings.router_config(), telemetry.observer());
        let lifecycle = Lifecycle::default();
        let mut servers = Vec::new();
        let mut endpoints = Vec::new();
        for (index, transport) in settings.transports.iter().enumerate() {
            let key = match transport {
                TransportConfig::RawSocket(rs) if matches!(rs.address(), RawSocketAddress::Unix(_)) => "unix",
                _ => "listen",
            };
            let bind_error = |source| StartupError::Bind { index, key, listen: transport.listen().to_owned(), source };
            let tls = transport
                .tls()
                .map(TlsServer::from_settings)
                .transpose()
                .map_err(|source| StartupError::Tls { index, source })?;
            let authenticator = authenticator(transport.auth());
            match transport {
                TransportConfig::WebSocket(ws) => {
                    let listener = TcpListener::bind(&ws.listen).map_err(bind_error)?;
                    let address = listener.local_addr().map_err(bind_error)?;
                    let endpoint = websocket::Endpoint {
                        options: websocket::Options::from_settings(ws),
                        router: router.clone(),
                        authenticator,
                        lifecycle: lifecycle.clone(),
                        telemetry: telemetry.clone(),
                    };
                    let server = websocket::server(listener, endpoint, tls.as_ref()).map_err(bind_error)?;
                    let stopper = Stopper::Actix(server.handle());
                    servers.push((Box::pin(server) as ServerTask, stopper));
                    let scheme = if tls.is_some() { "wss" } else { "ws" };
                    let url = format!("{scheme}://{address}{}", ws.path);
                    endpoints.push(Endpoint { kind: "websocket", address: Address::Tcp(address), url });
                }
                TransportConfig::RawSocket(rs) => {
                    let (bound, address, url) = match rs.address() {
                        RawSocketAddress::Tcp(listen) => {
                            let (bound, address) = rawsocket::bind_tcp(listen).map_err(bind_error)?;
                            let scheme = if tls.is_some() { "tcps" } else { "tcp" };
                            (bound, Address::Tcp(address), format!("{scheme}://{address}"))
                        }
                        RawSocketAddress::Unix(path) => {
                            let bound = rawsocket::bind_unix(path).map_err(bind_error)?;
                            (bound, Address::Unix(path.to_owned()), format!("unix:{}", path.display()))
                        }
                    };
                    let endpoint = rawsocket::Endpoint::new(
                        rawsocket::Options::from_settings(rs),
                        router.clone(),
                        authenticator,
                        lifecycle.clone(),
                        tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config().clone())),
                        telemetry.clone(),
                    );
                    let (server, control) = rawsocket::Server::new(bound, endpoint);
                    servers.push((Box::pin(server.run()) as ServerTask, Stopper::RawSocket(control)));
                    endpoints.push(Endpoint { kind: "rawsocket", address, url });
                }
            }
        }
        let listeners = (0..endpoints.len()).map(|i| telemetry.readiness().register(format!("listener:{i}"))).collect();
        Ok(Application {
            router,
            servers,
            endpoints,
            lifecycle,
            drain_timeout: settings.shutdown.drain_timeout(),
            telemetry,
            listeners,
            bridges: settings.bridges.clone(),
            bridge_states: Arc::default(),
        })
    }

    /// Every bound listener, in the order of `[[transports]]`.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The bound TCP addresses, in the order of `[[transports]]`; a transport on a Unix socket
    /// has none and is left out (see [`Application::endpoints`]).
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.endpoints.iter().filter_map(Endpoint::tcp_address).collect()
    }

    /// The bound TCP ports, in the order of `[[transports]]` (Unix sockets left out).
    pub fn ports(&self) -> Vec<u16> {
        self.addresses().iter().map(SocketAddr::port).collect()
    }

    /// The router, e.g. to watch `session_count()`.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// Telemetry: readiness registry (for components such as bridges), metrics, flushing.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// Each started bridge's state (connected / reconnecting ...), in the order of `[[bridges]]`:
    /// what a readiness endpoint reports. Empty until [`Application::run_until_stopped`] started them.
    pub fn bridge_states(&self) -> BridgeStates {
        BridgeStates(self.bridge_states.clone())
    }

    /// A handle that starts the shutdown (signal handlers, tests).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.lifecycle.handle()
    }

    /// Serves until shut down, then drains. `Ok` after a clean shutdown.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let Application {
            router,
            servers,
            lifecycle,
            drain_timeout,
            bridges,
            bridge_states,
            telemetry,
            listeners,
            endpoints,
        } = self;
        for (ready, endpoint) in listeners.iter().zip(&endpoints) {
            ready.set(true, format!("listening on {}", endpoint.url));
        }
        let (servers, handles): (Vec<ServerTask>, Vec<Stopper>) = servers.into_iter().unzip();
        let configs = bridges;
        let bridges = match start_bridges(&router, &configs, &telemetry).await {
            Ok(b) => b,
            Err(e) => {
                for h in &handles {
                    h.stop().await;
                }
                return Err(e);
            }
        };
        // Each bridge reports its readiness itself (`bridge:KIND:NAME`, see `start_bridges`).
        *bridge_states.lock().unwrap_or_else(|p| p.into_inner()) = bridges.iter().map(|b| b.watch()).collect();
        // The servers must keep being polled while they are paused and stopped, so they run in
        // one future that the drain below runs beside.
        let servers = join_all(servers);
        tokio::pin!(servers);
        tokio::select! {
            results = &mut servers => {
                // A server ended on its own: that is a failure (nothing else stops them).
                lifecycle.handle().trigger();
                router.shutdown();
                stop_bridges(bridges).await;
                return first_error(results);
            }
            _ = lifecycle.shutdown_triggered() => {}
        }
        let drain = async {
            info!("shutting down: no new connections");
            for ready in &listeners {
                ready.set(false, "shutting down");
            }
            for h in &handles {
                h.pause().await;
            }
            router.shutdown();
            let (drained, ()) = tokio::join!(lifecycle.drained(drain_timeout), stop_bridges(bridges));
            if drained {
                info!("every connection closed");
            } else {
                warn!(remaining = lifecycle.connection_count(), "drain timeout: cutting the remaining connections");
            }
            for h in &handles {
                h.stop().await;
            }
        };
        let (results, ()) = tokio::join!(servers, drain);
        // Exports what is left; the exporters may block on the network.
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
        info!("stopped");
        first_error(results)
    }
}

/// Readiness of the started bridges, shareable with a future health endpoint.
#[derive(Clone)]
pub struct BridgeStates(Arc<std::sync::Mutex<Vec<tokio::sync::watch::Receiver<BridgeState>>>>);

impl BridgeStates {
    /// Each bridge's state right now, in the order of `[[bridges]]`.
    pub fn current(&self) -> Vec<BridgeState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|rx| *rx.borrow()).collect()
    }
}

/// Starts every bridge on `router`, each reporting through `telemetry.bridge_monitoring(KIND, NAME)`
/// (NAME: its consumer name, `#INDEX` appended when another bridge of its kind has the same
/// one): metrics, database call spans, and its `/readyz` component `bridge:KIND:NAME`, ready only
/// while the bridge is connected. The first that cannot start stops the ones already running.
async fn start_bridges(router: &Arc<Router>, configs: &[BridgeConfig], telemetry: &Telemetry) -> Result<Vec<BridgeHandle>, StartupError> {
    let mut started = Vec::with_capacity(configs.len());
    let mut names: Vec<(&'static str, String)> = Vec::with_capacity(configs.len());
    for (index, config) in configs.iter().enumerate() {
        let consumer = match config {
            BridgeConfig::Postgres(pg) => pg.consumer.clone(),
            BridgeConfig::Oracle(ora) => ora.consumer.clone(),
        };
        let name = if names.iter().any(|(k, n)| *k == config.kind() && *n == consumer) { format!("{consumer}#{index}") } else { consumer };
        names.push((config.kind(), name.clone()));
        let monitoring = telemetry.bridge_monitoring(config.kind(), &name);
        let result = match config {
            BridgeConfig::Postgres(pg) => postgres_bridge::start_monitored(pg, router, monitoring).await.map_err(BridgeStartError::from),
            BridgeConfig::Oracle(ora) => oracle_bridge::start_monitored(ora, router, monitoring).await.map_err(BridgeStartError::from),
        };
        match result {
            Ok(handle) => {
                info!(index, kind = config.kind(), realm = config.realm(), "bridge started");
                started.push(handle);
            }
            Err(source) => {
                stop_bridges(started).await;
                return Err(StartupError::Bridge { index, kind: config.kind(), source });
            }
        }
    }
    Ok(started)
}

async fn stop_bridges(bridges: Vec<BridgeHandle>) {
    join_all(bridges.into_iter().map(BridgeHandle::stop)).await;
}

fn first_error(results: Vec<std::io::Result<()>>) -> Result<(), StartupError> {
    results.into_iter().collect::<Result<Vec<()>, _>>().map(|_| ()).map_err(StartupError::Server)
}

/// A transport's authenticator: its `auth` methods, with TLS client certificates in front when
/// `auth.tls` is set.
fn authenticator(auth: Option<&AuthConfig>) -> Arc<dyn Authenticator> {
    tls_auth::with_tls(auth, auth::authenticator(auth))
}
