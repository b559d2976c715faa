//! A rawsocket listener: the accept loop, and per connection the TLS handshake (if any), the
//! RawSocket handshake, then the shared per-connection loop.
//!
//! The application controls a [`Server`] through its [`Control`], the way it pauses and stops
//! actix servers: *pause* stops accepting (and removes a Unix socket file), *stop* cuts the
//! connections still open after the drain. Each connection is a task in the server's `JoinSet`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tracing::{debug, field, info, info_span, warn, Instrument};
use wamp::router::TransportInfo;

use super::handshake::{self, Answer, Refusal};
use super::wire::RawWire;
use super::Endpoint;
use crate::lifecycle::ConnectionGuard;
use crate::transport::connection::Connection;
use crate::transport::tls;

/// A bound listener, not yet accepting. A Unix socket's file goes when the listener does.
#[derive(Debug)]
pub struct Bound(BoundInner);

#[derive(Debug)]
enum BoundInner {
    Tcp(std::net::TcpListener),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener, SocketFile),
}

/// Binds a TCP listener; also returns the bound address (the real port for port 0).
pub fn bind_tcp(listen: &str) -> io::Result<(Bound, SocketAddr)> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    Ok((Bound(BoundInner::Tcp(listener)), address))
}

/// Binds a Unix socket at `path`. A socket file left by a process that is gone is replaced; one
/// that a live process still listens on is an error, as is any other kind of file.
#[cfg(unix)]
pub fn bind_unix(path: &Path) -> io::Result<Bound> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::net::{UnixListener, UnixStream};

    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, "another process is listening on this socket"));
            }
            std::fs::remove_file(path)?;
        }
    }
    let listener = UnixListener::bind(path)?;
    let file = SocketFile(path.to_owned());
    listener.set_nonblocking(true)?;
    Ok(Bound(BoundInner::Unix(listener, file)))
}

#[cfg(not(unix))]
pub fn bind_unix(_path: &Path) -> io::Result<Bound> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "Unix sockets exist only on Unix"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    Paused,
    Stopped,
}

/// Pauses and stops one [`Server`].
#[derive(Debug, Clone)]
pub struct Control(Arc<watch::Sender<Phase>>);

impl Control {
    /// Stop accepting; open connections go on.
    pub fn pause(&self) {
        self.0.send_if_modified(|phase| {
            let serving = *phase == Phase::Serving;
            if serving {
                *phase = Phase::Paused;
            }
            serving
        });
    }

    /// Cut every connection still open; the server's future then completes.
    pub fn stop(&self) {
        self.0.send_replace(Phase::Stopped);
    }
}

/// One rawsocket transport's listener and its connections.
pub struct Server {
    bound: Bound,
    endpoint: Arc<Endpoint>,
    phase: watch::Receiver<Phase>,
}

impl Server {
    pub fn new(bound: Bound, endpoint: Endpoint) -> (Server, Control) {
        let (tx, rx) = watch::channel(Phase::Serving);
        (Server { bound, endpoint: Arc::new(endpoint), phase: rx }, Control(Arc::new(tx)))
    }

    /// Accepts until paused, then lets the connections run until stopped. Needs a tokio runtime.
    pub async fn run(self) -> io::Result<()> {
        let Server { bound, endpoint, mut phase } = self;
        let listener = Listener::from_bound(bound)?;
        let mut tasks = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => spawn(&mut tasks, accepted, &endpoint),
                    Err(e) => {
                        // Out of file descriptors and the like: transient, but don't spin on it.
                        warn!(cause = %e, "accepting a rawsocket connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = until(&mut phase, |p| p != Phase::Serving) => break,
            }
        }
        drop(listener);
        loop {
            tokio::select! {
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = until(&mut phase, |p| p == Phase::Stopped) => break,
            }
        }
        tasks.shutdown().await;
        Ok(())
    }
}

/// Resolves once the phase satisfies `reached` (at once if it already does).
async fn until(phase: &mut watch::Receiver<Phase>, reached: impl Fn(Phase) -> bool) {
    // The sender lives in the server's `Control`; if all of those are gone, nobody can stop the
    // server any more and it runs until the process ends.
    if phase.wait_for(|p| reached(*p)).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The tokio side of a [`Bound`]; a Unix socket's file goes when this does.
enum Listener {
    Tcp(tokio::net::TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener, SocketFile),
}

/// Removes a Unix socket file when dropped.
#[cfg(unix)]
#[derive(Debug)]
struct SocketFile(PathBuf);

#[cfg(unix)]
impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            debug!(cause = %e, path = %self.0.display(), "could not remove the socket file");
        }
    }
}

enum Accepted {
    Tcp(tokio::net::TcpStream, SocketAddr),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream, String),
}

impl Listener {
    fn from_bound(bound: Bound) -> io::Result<Listener> {
        Ok(match bound.0 {
            BoundInner::Tcp(l) => Listener::Tcp(tokio::net::TcpListener::from_std(l)?),
            #[cfg(unix)]
            BoundInner::Unix(l, file) => Listener::Unix(tokio::net::UnixListener::from_std(l)?, file),
        })
    }

    async fn accept(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, addr)| Accepted::Tcp(s, addr)),
            #[cfg(unix)]
            Listener::Unix(l, file) => {
                l.accept().await.map(|(s, _)| Accepted::Unix(s, format!("unix:{}", file.0.display())))
            }
        }
    }
}

/// Whether a new connection fits under `max_connections`.
enum Slot {
    Unlimited,
    /// Held for the connection's lifetime.
    Taken {
        _permit: OwnedSemaphorePermit,
    },
    Full,
}

fn spawn(tasks: &mut JoinSet<()>, accepted: Accepted, endpoint: &Arc<Endpoint>) {
    let slot = match &endpoint.slots {
        None => Slot::Unlimited,
        Some(slots) => slots.clone().try_acquire_owned().map_or(Slot::Full, |p| Slot::Taken { _permit: p }),
    };
    let endpoint = endpoint.clone();
    let span = |peer: &str| {
        info_span!(
            "session",
            transport = "rawsocket",
            %peer,
            serializer = field::Empty,
            session_id = field::Empty,
            realm = field::Empty,
        )
    };
    match accepted {
        Accepted::Tcp(stream, address) => {
            // WAMP messages are small and latency matters more than packet count.
            let _ = stream.set_nodelay(true);
            let peer = address.to_string();
            let span = span(&peer);
            tasks.spawn(connection(stream, peer, endpoint, slot).instrument(span));
        }
        #[cfg(unix)]
        Accepted::Unix(stream, peer) => {
            let span = span(&peer);
            tasks.spawn(connection(stream, peer, endpoint, slot).instrument(span));
        }
    }
}

/// One accepted connection: TLS if configured, then RawSocket.
async fn connection<S>(stream: S, peer: String, endpoint: Arc<Endpoint>, slot: Slot)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let guard = endpoint.lifecycle.connection();
    let Some(acceptor) = &endpoint.tls else {
        let open = Open { peer, client_cert_cn: None, guard, _slot: slot };
        return rawsocket(stream, open, &endpoint).await;
    };
    match timeout(endpoint.options.timing.pong_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            let client_cert_cn = tls::client_cert_cn(stream.get_ref().1);
            let open = Open { peer, client_cert_cn, guard, _slot: slot };
            rawsocket(stream, open, &endpoint).await;
        }
        Ok(Err(e)) => info!(cause = %e, "TLS handshake failed"),
        Err(_) => info!("no TLS handshake in time; closing"),
    }
}

/// What a connection brings to its RawSocket handshake.
struct Open {
    peer: String,
    client_cert_cn: Option<String>,
    guard: ConnectionGuard,
    /// Its place under `max_connections`, held until the connection ends.
    _slot: Slot,
}

/// The RawSocket handshake, then the session.
async fn rawsocket<S>(mut stream: S, open: Open, endpoint: &Endpoint)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let options = &endpoint.options;
    let patience = options.timing.pong_timeout;
    let mut request = [0u8; 4];
    match timeout(patience, stream.read_exact(&mut request)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            debug!(cause = %e, "connection ended before the RawSocket handshake");
            return;
        }
        Err(_) => {
            info!("no RawSocket handshake in time; closing");
            return;
        }
    }
    let answer = match handshake::answer(request, &options.serializers, options.exponent) {
        Answer::Accept { .. } if matches!(open._slot, Slot::Full) => Answer::Refuse(Refusal::MaxConnections),
        answer => answer,
    };
    let (serializer, peer_limit, reply) = match answer {
        Answer::Accept { serializer, peer_limit, reply } => (serializer, peer_limit, reply),
        Answer::NotRawSocket => {
            info!(first_octet = request[0], "not a RawSocket handshake; closing");
            return;
        }
        Answer::Refuse(refusal) => {
            info!(refusal = refusal.describe(), "RawSocket handshake refused");
            let reply = refusal.reply();
            let _ = timeout(patience, async {
                stream.write_all(&reply).await?;
                stream.shutdown().await
            })
            .await;
            return;
        }
    };
    match timeout(patience, stream.write_all(&reply)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            debug!(cause = %e, "connection ended during the RawSocket handshake");
            return;
        }
        Err(_) => {
            info!("peer does not read the RawSocket handshake; closing");
            return;
        }
    }
    tracing::Span::current().record("serializer", serializer.name());
    let transport = TransportInfo {
        kind: "rawsocket",
        peer: open.peer,
        serializer: Some(serializer),
        outbound_queue: options.outbound_queue,
        client_cert_cn: open.client_cert_cn,
    };
    let (session, outbox) = endpoint.router.open_session(transport, endpoint.authenticator.clone());
    let connection = Connection {
        wire: RawWire::new(stream, options.max_message_size, peer_limit),
        session,
        outbox,
        serializer,
        timing: options.timing.clone(),
        lifecycle: endpoint.lifecycle.clone(),
        telemetry: endpoint.telemetry.connection("rawsocket"),
        guard: open.guard,
    };
    connection.run().await;
}
