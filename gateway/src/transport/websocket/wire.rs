//! One WebSocket connection as a [`Wire`]: actix-ws frames in, WAMP messages as text (JSON) or
//! binary frames out, close frames with the RFC 6455 codes.

use actix_ws::{CloseCode, MessageStream};
use bytes::Bytes;
use tokio::time::timeout;
use tracing::warn;
use wamp::Serializer;

use super::frames::{close_reason, Assembler, FrameError, Inbound};
use super::socket::SocketHandle;
use crate::transport::connection::{Broken, CloseKind, Received, Timing, Wire, WriteError};

/// The actix-ws halves of one connection, and the reassembly of fragmented messages.
pub struct WsWire {
    ws: actix_ws::Session,
    inbound: MessageStream,
    frames: Assembler,
    /// Whether the serializer's messages travel in binary frames (text frames otherwise).
    binary: bool,
    limit: usize,
    /// The connection's socket, to end TCP after the close handshake (see [`SocketHandle`]).
    socket: Option<SocketHandle>,
}

impl WsWire {
    /// `limit` is the largest inbound message; the codec refuses single frames over it before
    /// buffering them, and the assembler applies it to fragmented messages.
    pub fn new(
        ws: actix_ws::Session,
        inbound: MessageStream,
        serializer: Serializer,
        limit: usize,
        socket: Option<SocketHandle>,
    ) -> WsWire {
        WsWire {
            ws,
            inbound: inbound.max_frame_size(limit),
            frames: Assembler::new(limit),
            binary: serializer.is_binary(),
            limit,
            socket,
        }
    }

    fn failed(err: FrameError) -> Received {
        if let FrameError::Gone(_) = err {
            return Received::Gone(err.describe());
        }
        let kind = match err.close_code() {
            CloseCode::Size => CloseKind::Size,
            CloseCode::Invalid => CloseKind::Invalid,
            _ => CloseKind::Protocol,
        };
        // The peer may still be sending the rest of what was refused; don't wait on it.
        Received::Broken(Broken { kind, description: err.describe(), linger: kind != CloseKind::Size })
    }
}

fn close_code(kind: CloseKind) -> CloseCode {
    match kind {
        CloseKind::Normal => CloseCode::Normal,
        CloseKind::Away => CloseCode::Away,
        CloseKind::Policy => CloseCode::Policy,
        CloseKind::Size => CloseCode::Size,
        CloseKind::Invalid => CloseCode::Invalid,
        CloseKind::Protocol => CloseCode::Protocol,
        CloseKind::Unsupported => CloseCode::Unsupported,
    }
}

fn closed(_: actix_ws::Closed) -> WriteError {
    WriteError::Gone
}

impl Wire for WsWire {
    async fn recv(&mut self) -> Received {
        let frame = match self.inbound.recv().await {
            None => return Received::Gone("peer went away without a close frame".into()),
            Some(Err(e)) => return WsWire::failed(FrameError::from_codec(e, self.limit)),
            Some(Ok(frame)) => frame,
        };
        match self.frames.push(frame) {
            Err(e) => WsWire::failed(e),
            Ok(None | Some(Inbound::Pong)) => Received::Alive,
            Ok(Some(Inbound::Ping(payload))) => Received::Ping(payload),
            Ok(Some(Inbound::Close(reason))) => {
                tracing::debug!(?reason, "close frame received");
                Received::Closed
            }
            Ok(Some(Inbound::Data { binary, bytes })) if binary == self.binary => Received::Message(bytes),
            Ok(Some(Inbound::Data { binary, .. })) => {
                let (got, want) = if binary { ("binary", "text") } else { ("text", "binary") };
                Received::Broken(Broken {
                    kind: CloseKind::Unsupported,
                    description: format!("{got} frame received; this serializer travels in {want} frames"),
                    linger: true,
                })
            }
        }
    }

    async fn send(&mut self, message: Bytes) -> Result<(), WriteError> {
        if self.binary {
            return self.ws.binary(message).await.map_err(closed);
        }
        match bytestring::ByteString::try_from(message) {
            Ok(text) => self.ws.text(text).await.map_err(closed),
            Err(_) => {
                warn!("the JSON encoder produced invalid UTF-8; message dropped");
                Ok(())
            }
        }
    }

    async fn ping(&mut self) -> Result<(), WriteError> {
        self.ws.ping(b"").await.map_err(closed)
    }

    async fn pong(&mut self, payload: Bytes) -> Result<(), WriteError> {
        self.ws.pong(&payload).await.map_err(closed)
    }

    async fn close(&mut self, close: Option<(CloseKind, String)>, timing: &Timing, linger: bool) {
        let Some((kind, description)) = close else {
            return;
        };
        let reason = close_reason(close_code(kind), &description);
        let sent = timeout(timing.pong_timeout, self.ws.clone().close(Some(reason))).await.is_ok();
        if sent && linger {
            let _ = timeout(timing.close_grace, async {
                while let Some(Ok(frame)) = self.inbound.recv().await {
                    if matches!(frame, actix_ws::Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        if let Some(socket) = self.socket {
            // The close frame is queued for actix's dispatcher, which runs on this thread: let it
            // write the frame out before the FIN goes after it.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            socket.shutdown_write();
        }
    }
}
