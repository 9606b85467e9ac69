//! `bare-echo`: a plain websocket echo server with tokio-tungstenite (4 KiB
//! reads, like our servers), the
//! ceiling the SockJS servers are compared against (BENCHMARKS.md).
//!
//! ```text
//! bare-echo [--listen 127.0.0.1:0] [--workers 2]
//! ```
//!
//! Accepts a websocket on any path (the benchmarks use `/echo/websocket`)
//! and sends every text or binary message back; prints
//! `bare-echo listening on ADDR` once it accepts connections.

use std::process::ExitCode;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:0".to_string();
    let mut workers = 2usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--workers", Some(v)) if v.parse::<usize>().is_ok_and(|n| n > 0) => workers = v.parse().unwrap_or(2),
            _ => {
                eprintln!("usage: bare-echo [--listen ADDR] [--workers N]");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match listener.local_addr() {
            Ok(addr) => println!("bare-echo listening on {addr}"),
            Err(e) => {
                eprintln!("no local address: {e}");
                return ExitCode::FAILURE;
            }
        }
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(echo(stream));
                }
                Err(e) => {
                    // Out of descriptors and the like: back off briefly.
                    eprintln!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    })
}

/// Echoes one connection. Messages already received are echoed in one
/// write (feed each, flush once), as a server under load should.
async fn echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    // The same reads as our servers' (4 KiB at a time): tungstenite's
    // default 128 KiB read buffer is zeroed before every read, which costs
    // more than the echo itself (42 % of this server's CPU in memset in a
    // ping-pong profile) and would make the floor look higher than it is.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else { return };
    let mut next = ws.next().await;
    while let Some(Ok(message)) = next {
        match message {
            Message::Close(_) => break,
            Message::Text(_) | Message::Binary(_) => {
                let fed = ws.feed(message).await;
                if fed.is_err() {
                    break;
                }
            }
            _ => {}
        }
        // More already here? Echo it before flushing.
        next = match ws.next().now_or_never() {
            Some(more) => more,
            None => {
                if ws.flush().await.is_err() {
                    break;
                }
                ws.next().await
            }
        };
    }
}
