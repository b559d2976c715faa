//! Ending the TCP connection once the WebSocket close handshake is done.
//!
//! RFC 6455 §7.1.1: after the closing handshake the *server* closes the TCP connection first; a
//! client waits for it (autobahn-python up to a second) before giving up. actix-http instead
//! keeps reading the upgraded connection until the client hangs up, so every clean close took
//! as long as the client's timeout. The connection's socket stays owned by actix; what is kept
//! here is its descriptor and the kernel's cookie for the socket, so a shutdown can never reach
//! another connection that reused the descriptor number.

use std::any::Any;

use actix_web::dev::Extensions;

/// The socket under one accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketHandle {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::RawFd,
    #[cfg(target_os = "linux")]
    cookie: u64,
}

type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;

impl SocketHandle {
    /// actix's on-connect hook: remembers the socket of a plain or TLS connection.
    pub fn remember(connection: &dyn Any, data: &mut Extensions) {
        let tcp = match connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
            Some(tcp) => tcp,
            None => match connection.downcast_ref::<Tls>() {
                Some(tls) => tls.get_ref().0,
                None => return,
            },
        };
        if let Some(handle) = SocketHandle::of(tcp) {
            data.insert(handle);
        }
    }

    #[cfg(target_os = "linux")]
    fn of(tcp: &actix_web::rt::net::TcpStream) -> Option<SocketHandle> {
        use std::os::fd::AsRawFd;
        let fd = tcp.as_raw_fd();
        cookie(fd).map(|cookie| SocketHandle { fd, cookie })
    }

    #[cfg(not(target_os = "linux"))]
    fn of(_: &actix_web::rt::net::TcpStream) -> Option<SocketHandle> {
        None
    }

    /// Sends FIN after what actix has already written, if the descriptor still holds this
    /// connection's socket. Must run on the connection's worker thread (where actix would close
    /// the descriptor), so nothing can close and reuse it between the check and the shutdown.
    pub fn shutdown_write(&self) {
        #[cfg(target_os = "linux")]
        if cookie(self.fd) == Some(self.cookie) {
            // SAFETY: plain syscall on a descriptor number; shutdown() never closes it, and the
            // cookie check above proved it still names this connection's socket.
            let rc = unsafe { libc::shutdown(self.fd, libc::SHUT_WR) };
            if rc != 0 {
                tracing::debug!(error = %std::io::Error::last_os_error(), "shutdown after the close handshake failed");
            }
        }
    }
}

/// The kernel's unique id of the socket behind `fd` (`SO_COOKIE`), `None` if `fd` is no socket.
#[cfg(target_os = "linux")]
fn cookie(fd: std::os::fd::RawFd) -> Option<u64> {
    let mut value: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_COOKIE, (&mut value as *mut u64).cast(), &mut len)
    };
    (rc == 0 && len as usize == std::mem::size_of::<u64>()).then_some(value)
}
