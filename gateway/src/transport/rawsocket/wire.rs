//! One RawSocket connection after its handshake, as a [`Wire`]: frames over any byte stream
//! (TCP, Unix socket, TLS).
//!
//! RawSocket has no close frame: closing is shutting down our side (a TLS close_notify, then
//! FIN) and, when lingering, reading until the peer closes its own, so that a last ABORT or
//! GOODBYE is read rather than lost to a reset.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tokio_util::codec::Framed;

use super::frame::{Frame, FrameCodec, FrameError};
use crate::transport::connection::{Broken, CloseKind, Received, Timing, Wire, WriteError};

/// A framed RawSocket stream.
pub struct RawWire<S> {
    framed: Framed<S, FrameCodec>,
    /// The largest message the peer announced it accepts.
    peer_limit: usize,
    /// Numbers our keepalive PINGs (the payload is arbitrary; a counter helps reading traces).
    pings: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawWire<S> {
    /// `limit`: the largest frame we accept; `peer_limit`: the largest the peer does.
    pub fn new(stream: S, limit: usize, peer_limit: usize) -> RawWire<S> {
        RawWire { framed: Framed::new(stream, FrameCodec::new(limit)), peer_limit, pings: 0 }
    }

    async fn write(&mut self, frame: Frame) -> Result<(), WriteError> {
        self.framed.send(frame).await.map_err(|_| WriteError::Gone)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire for RawWire<S> {
    async fn recv(&mut self) -> Received {
        match self.framed.next().await {
            None => Received::Gone("peer closed the connection".into()),
            Some(Ok(Frame::Message(bytes))) => Received::Message(bytes),
            Some(Ok(Frame::Ping(payload))) => Received::Ping(payload),
            Some(Ok(Frame::Pong(_))) => Received::Alive,
            Some(Err(FrameError::Io(e))) => Received::Gone(e.to_string()),
            Some(Err(e @ FrameError::TooLarge { .. })) => {
                // The peer may still be sending the refused payload: don't wait on it.
                Received::Broken(Broken { kind: CloseKind::Size, description: e.to_string(), linger: false })
            }
            Some(Err(e)) => {
                Received::Broken(Broken { kind: CloseKind::Protocol, description: e.to_string(), linger: true })
            }
        }
    }

    async fn send(&mut self, message: Bytes) -> Result<(), WriteError> {
        if message.len() > self.peer_limit {
            return Err(WriteError::TooLarge { size: message.len(), limit: self.peer_limit });
        }
        self.write(Frame::Message(message)).await
    }

    async fn ping(&mut self) -> Result<(), WriteError> {
        self.pings += 1;
        let payload = Bytes::copy_from_slice(&self.pings.to_be_bytes());
        self.write(Frame::Ping(payload)).await
    }

    async fn pong(&mut self, payload: Bytes) -> Result<(), WriteError> {
        self.write(Frame::Pong(payload)).await
    }

    async fn close(&mut self, close: Option<(CloseKind, String)>, timing: &Timing, linger: bool) {
        if close.is_none() {
            return;
        }
        if timeout(timing.pong_timeout, self.framed.get_mut().shutdown()).await.is_err() || !linger {
            return;
        }
        let _ = timeout(timing.close_grace, async { while let Some(Ok(_)) = self.framed.next().await {} }).await;
    }
}
