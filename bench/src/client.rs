//! A minimal WAMP client over `tokio-tungstenite`, speaking through the `wamp` crate's codecs.
//!
//! Only what a load generator needs: connect with a serializer's subprotocol, join a realm
//! anonymously, register/subscribe during setup, and then raw access to frames so the hot loops
//! can batch writes (`feed` many, `flush` once) instead of paying a syscall per message.
//! It works against any WAMP router: nothing here assumes our gateway.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as Frame, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wamp::{Dict, Message, ProtocolError, RequestId, Serializer, SessionId, Value};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any setup step (connect, join, register, subscribe) may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("websocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
    #[error("undecodable message: {0}")]
    Decode(#[from] ProtocolError),
    #[error("the router closed the connection")]
    Closed,
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error("unexpected {got} while waiting for {expected}")]
    Unexpected { expected: &'static str, got: String },
    #[error("{0}")]
    Refused(String),
}

/// One connection to a router (or to the echo server, which never sees a HELLO).
pub struct Client {
    pub ws: Ws,
    pub serializer: Serializer,
    next_request: u64,
}

impl Client {
    /// Opens the WebSocket offering only `serializer`'s subprotocol, with Nagle off.
    pub async fn connect(url: &str, serializer: Serializer) -> Result<Client, ClientError> {
        let mut request = url.into_client_request()?;
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(serializer.subprotocol()));
        let config = WebSocketConfig::default().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20));
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        let (ws, _) =
            tokio::time::timeout(SETUP_TIMEOUT, connect).await.map_err(|_| ClientError::Timeout("connect"))??;
        Ok(Client { ws, serializer, next_request: 0 })
    }

    /// Connects and joins `realm` anonymously with all four client roles.
    pub async fn join(url: &str, realm: &str, serializer: Serializer) -> Result<(Client, SessionId), ClientError> {
        let mut client = Client::connect(url, serializer).await?;
        let role = |features: Dict| Value::Dict(wamp::dict! { "features" => features });
        let roles = wamp::dict! {
            "caller" => role(Dict::new()),
            "callee" => role(Dict::new()),
            "publisher" => role(Dict::new()),
            "subscriber" => role(Dict::new()),
        };
        let details = wamp::dict! {
            "roles" => roles,
            "authmethods" => vec![Value::from("anonymous")],
        };
        client.send(&Message::Hello { realm: realm.to_owned(), details }).await?;
        match client.recv_timeout("WELCOME").await? {
            Message::Welcome { session, .. } => Ok((client, session)),
            Message::Abort { reason, details } => {
                let why = details.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
                Err(ClientError::Refused(format!("join refused: {reason} {why}")))
            }
            other => Err(unexpected("WELCOME", &other)),
        }
    }

    /// A fresh request id (session scope, sequential).
    pub fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    /// The frame carrying `msg` in this connection's serializer.
    pub fn frame(&self, msg: &Message) -> Frame {
        frame_of(self.serializer, self.serializer.encode(msg))
    }

    /// Sends one message and flushes.
    pub async fn send(&mut self, msg: &Message) -> Result<(), ClientError> {
        let frame = self.frame(msg);
        self.ws.send(frame).await?;
        Ok(())
    }

    /// The next WAMP message, skipping control frames.
    pub async fn recv(&mut self) -> Result<Message, ClientError> {
        loop {
            let frame = self.ws.next().await.ok_or(ClientError::Closed)??;
            if let Some(bytes) = payload_of(&frame) {
                return Ok(self.serializer.decode(bytes)?);
            }
            if let Frame::Close(_) = frame {
                return Err(ClientError::Closed);
            }
        }
    }

    async fn recv_timeout(&mut self, what: &'static str) -> Result<Message, ClientError> {
        tokio::time::timeout(SETUP_TIMEOUT, self.recv()).await.map_err(|_| ClientError::Timeout(what))?
    }

    /// Registers `procedure` and waits for REGISTERED.
    pub async fn register(&mut self, procedure: &str) -> Result<(), ClientError> {
        let request = self.request_id();
        self.send(&Message::Register { request, options: Dict::new(), procedure: procedure.to_owned() }).await?;
        match self.recv_timeout("REGISTERED").await? {
            Message::Registered { .. } => Ok(()),
            Message::Error { error, .. } => Err(ClientError::Refused(format!("register {procedure}: {error}"))),
            other => Err(unexpected("REGISTERED", &other)),
        }
    }

    /// Subscribes to `topic` and waits for SUBSCRIBED.
    pub async fn subscribe(&mut self, topic: &str) -> Result<(), ClientError> {
        let request = self.request_id();
        self.send(&Message::Subscribe { request, options: Dict::new(), topic: topic.to_owned() }).await?;
        match self.recv_timeout("SUBSCRIBED").await? {
            Message::Subscribed { .. } => Ok(()),
            Message::Error { error, .. } => Err(ClientError::Refused(format!("subscribe {topic}: {error}"))),
            other => Err(unexpected("SUBSCRIBED", &other)),
        }
    }

    /// Leaves politely (GOODBYE, then the close handshake), giving up after a short while.
    pub async fn leave(mut self) {
        let goodbye = Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() };
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            self.send(&goodbye).await?;
            while let Ok(msg) = self.recv().await {
                if let Message::Goodbye { .. } = msg {
                    break;
                }
            }
            self.ws.close(None).await?;
            Ok::<(), ClientError>(())
        })
        .await;
    }
}

/// `bytes` as the frame type `serializer` travels in (text for JSON, binary otherwise).
pub fn frame_of(serializer: Serializer, bytes: Vec<u8>) -> Frame {
    if serializer.is_binary() {
        Frame::Binary(bytes.into())
    } else {
        // The JSON encoder writes UTF-8 only; a failure here would be a codec bug.
        Frame::Text(Utf8Bytes::try_from(bytes).expect("the JSON encoder produces UTF-8"))
    }
}

/// The bytes of a data frame, `None` for control frames.
pub fn payload_of(frame: &Frame) -> Option<&[u8]> {
    match frame {
        Frame::Text(t) => Some(t.as_bytes()),
        Frame::Binary(b) => Some(b),
        _ => None,
    }
}

fn unexpected(expected: &'static str, got: &Message) -> ClientError {
    let got = match got {
        Message::Abort { reason, .. } | Message::Goodbye { reason, .. } => format!("{} {reason}", got.name()),
        Message::Error { error, .. } => format!("ERROR {error}"),
        other => other.name().to_owned(),
    };
    ClientError::Unexpected { expected, got }
}
