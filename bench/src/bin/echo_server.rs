//! `echo-server`: the transport limit. A WebSocket server on the gateway's own stack (actix-web +
//! actix-ws, one task per connection, one write per message) that sends every data frame back
//! unchanged: the least any WAMP router on this stack must do per message.
//!
//! `echo-server [--listen 127.0.0.1:0]` prints `listening on ws://HOST:PORT/ws` like the gateway.
//! It accepts the first `wamp.2.*` subprotocol offered, so a WAMP client connects unchanged.

use std::io::Write;

/// The gateway's allocator, so the baseline differs from it only in what it does per message.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use std::net::TcpListener;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actix_ws::Message;
use clap::Parser;
use futures_util::StreamExt;

#[derive(Debug, Parser)]
#[command(name = "echo-server", about = "WebSocket echo server (actix-ws), the transport baseline")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
}

async fn upgrade(req: HttpRequest, body: web::Payload) -> HttpResponse {
    let offered = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| p.starts_with("wamp.2."))
        .map(str::to_owned);
    let (mut response, mut session, stream) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(e) => return HttpResponse::from_error(e),
    };
    if let Some(p) = offered.and_then(|p| HeaderValue::from_str(&p).ok()) {
        response.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    let mut stream = stream.max_frame_size(64 << 20);
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let sent = match msg {
                Message::Text(t) => session.text(t).await,
                Message::Binary(b) => session.binary(b).await,
                Message::Ping(p) => session.pong(&p).await,
                Message::Close(reason) => {
                    let _ = session.close(reason).await;
                    return;
                }
                _ => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
    });
    response
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listener = TcpListener::bind(&cli.listen)?;
    let address = listener.local_addr()?;
    // TCP_NODELAY as the gateway sets it.
    let server = HttpServer::new(|| App::new().route("/ws", web::get().to(upgrade)))
        .tcp_nodelay(true)
        .listen(listener)?
        .run();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on ws://{address}/ws (websocket)")?;
    stdout.flush()?;
    drop(stdout);
    server.await?;
    Ok(())
}
