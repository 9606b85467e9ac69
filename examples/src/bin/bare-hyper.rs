//! sockjs-core in a bare hyper 1 server, with no web framework: the whole
//! driver fits in this file, which shows the core stands alone.
//!
//! It serves an echo endpoint at `/echo` on every transport except the
//! Hixie-76 websocket handshake (see sockjs-warp for that).
//!
//! ```text
//! cargo run -p sockjs-examples --bin bare-hyper -- [127.0.0.1:8080]
//! ```

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sockjs_core::{driver, Closed, Dispatch, Endpoint, Incoming as WsIncoming, Options, Outgoing, Sink};
use tokio_tungstenite::tungstenite::protocol::{frame::CloseFrame, Role};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Carries out what the core decided for one request.
async fn serve(endpoint: Endpoint, mut request: Request<Incoming>, peer: std::net::SocketAddr) -> Response<Body> {
    let on_upgrade = hyper::upgrade::on(&mut request);
    let (head, body) = request.into_parts();
    match endpoint.handle(&head, driver::request_context(Some(peer))) {
        Dispatch::Response(response) => response.map(|b| Full::new(b).boxed()),
        Dispatch::ReadBody(pending) => match Limited::new(body, pending.limit()).collect().await {
            Ok(collected) => pending.finish(&collected.to_bytes()).map(|b| Full::new(b).boxed()),
            Err(_) => pending.too_large().map(|b| Full::new(b).boxed()),
        },
        Dispatch::Stream { response, task } => {
            if let Some(task) = task.and_then(driver::start) {
                tokio::spawn(task);
            }
            // One chunk per frame; hyper flushes when the stream waits.
            response.map(|receiver| {
                let frames = receiver.into_stream(Instant::now).map(|chunk| Ok(Frame::data(chunk)));
                BodyExt::boxed(StreamBody::new(frames))
            })
        }
        Dispatch::WebSocket(upgrade) if upgrade.hixie76().is_none() => {
            let key = head.headers.get("sec-websocket-key").map(|k| k.as_bytes()).unwrap_or_default();
            let accept = tungstenite::handshake::derive_accept_key(key);
            tokio::spawn(async move {
                let Ok(io) = on_upgrade.await else { return };
                let socket = WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, None).await;
                let (sink, stream) = socket.split();
                let (ws, task) = upgrade.accept(Instant::now());
                if let Some(task) = driver::start(task) {
                    tokio::spawn(task);
                }
                ws.run(stream, incoming, &mut WsSink(sink), Instant::now).await;
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("upgrade", "websocket")
                .header("connection", "Upgrade")
                .header("sec-websocket-accept", accept)
                .body(Full::new(Bytes::new()).boxed())
                .unwrap_or_default()
        }
        _ => Response::builder()
            .status(StatusCode::NOT_IMPLEMENTED)
            .body(Full::new(Bytes::from_static(b"Not supported by this example\n")).boxed())
            .unwrap_or_default(),
    }
}

struct WsSink(futures_util::stream::SplitSink<WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>, Message>);

impl Sink<Outgoing> for WsSink {
    async fn send(&mut self, output: Outgoing) -> Result<(), Closed> {
        use futures_util::SinkExt;
        let message = match output {
            Outgoing::Text(text) => Message::Text(text.try_into().map_err(|_| Closed)?),
            Outgoing::Close { code, reason } => {
                Message::Close(Some(CloseFrame { code: code.into(), reason: reason.into() }))
            }
            _ => return Ok(()),
        };
        self.0.send(message).await.map_err(|_| Closed)
    }
}

fn incoming(message: Result<Message, tungstenite::Error>) -> WsIncoming<tungstenite::Utf8Bytes> {
    match message {
        Ok(Message::Text(text)) => WsIncoming::Text(text),
        Ok(Message::Binary(data)) => WsIncoming::Binary(data),
        Ok(Message::Close(_)) => WsIncoming::Close,
        Ok(_) => WsIncoming::Pong,
        Err(tungstenite::Error::Capacity(_)) => WsIncoming::TooLarge,
        Err(_) => WsIncoming::Error,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let endpoint = Endpoint::new(Options::new("/echo"), sockjs_examples::echo);
    tokio::spawn(endpoint.run_timers(Instant::now, |at| tokio::time::sleep_until(at.into())));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare-hyper listening on http://{addr}/echo");
    loop {
        let (stream, peer) = listener.accept().await?;
        // Small frames go out at once, without waiting for delayed ACKs.
        stream.set_nodelay(true)?;
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let endpoint = endpoint.clone();
                async move { Ok::<_, Infallible>(serve(endpoint, request, peer).await) }
            });
            // half_close(false): a client that closes its socket is noticed
            // at once (PROTOCOL.md §6 "Abort"). The timer makes hyper close
            // a connection that stalls in a request head or idles between
            // requests longer than the timeout.
            let connection = http1::Builder::new()
                .half_close(false)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(sockjs_examples::REQUEST_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let _ = connection.await;
        });
    }
}
