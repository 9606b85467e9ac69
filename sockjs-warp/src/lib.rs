//! SockJS for warp.
//!
//! [`sockjs`] turns an endpoint (every SockJS URL under a prefix) into a
//! warp [`Filter`] that you combine with your own routes and serve with
//! `warp::serve`. All protocol decisions are made by [`sockjs_core`]; this
//! crate translates requests and responses, streams bodies, takes over
//! websocket upgrades from hyper (RFC 6455 through tokio-tungstenite, and
//! the Hixie-76 handshake), and drives the endpoint's timers.
//!
//! ```no_run
//! use sockjs_warp::{sockjs, Options, Session};
//! use warp::Filter;
//!
//! #[tokio::main]
//! async fn main() {
//!     let echo = sockjs(Options::new("/echo"), |mut session: Session| async move {
//!         while let Some(message) = session.recv().await {
//!             let _ = session.send(message);
//!         }
//!     });
//!     let hello = warp::path("hello").map(|| "Hello!");
//!     // A listener with TCP_NODELAY, so that small frames go out at once.
//!     let listener = sockjs_warp::listener(([127, 0, 0, 1], 8080).into()).await.unwrap();
//!     warp::serve(echo.or(hello)).incoming(listener).run().await;
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use sockjs_core::{driver, Closed, Dispatch, Endpoint, WebSocketUpgrade, WsIncoming, WsOutgoing, WsSink};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio_tungstenite::tungstenite::protocol::{frame::CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;
use warp::filters::path::FullPath;
use warp::http::HeaderMap;
use warp::reply::Response;
use warp::{Filter, Rejection};

pub use sockjs_core::{self as core, CloseReason, Handler, Message, Options, Session, Transport};

/// A filter serving an endpoint under `options.prefix`, running `handler`
/// for each new session. Requests outside the prefix are rejected with
/// "not found", so the filter combines with others through `.or(...)`.
pub fn sockjs(
    options: Options,
    handler: impl Handler,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    filter(Endpoint::new(options, handler))
}

/// A filter serving an existing [`Endpoint`] (share one endpoint between
/// filters, or keep it to inspect its sessions).
pub fn filter(
    endpoint: Endpoint,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let server = Server { endpoint };
    let prefix = server.clone();
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::path::full()
        .and_then(move |path: FullPath| {
            let under_prefix = prefix.endpoint.matches(path.as_str());
            async move {
                if under_prefix {
                    Ok(path)
                } else {
                    Err(warp::reject::not_found())
                }
            }
        })
        .and(warp::method())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::ext::optional::<OnUpgrade>())
        .and(warp::body::stream())
        .and_then(move |path: FullPath, method, query: String, headers, remote, upgrade, body| {
            let server = server.clone();
            let request = Request { path, method, query, headers, remote, upgrade };
            async move { Ok::<_, Rejection>(server.serve(request, body).await) }
        })
}

/// Binds a listener for `warp::serve(...).incoming(...)` with
/// `TCP_NODELAY` set, which the connections it accepts inherit (on Linux
/// and the BSDs). Without it, a poll answered in two small writes (head,
/// then the frame) waits for the client's delayed ACK, about 40 ms.
pub async fn listener(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

#[derive(Clone)]
struct Server {
    endpoint: Endpoint,
}

struct Request {
    path: FullPath,
    method: http::Method,
    query: String,
    headers: HeaderMap,
    remote: Option<SocketAddr>,
    upgrade: Option<OnUpgrade>,
}

impl Server {
    async fn serve<B, D>(&self, request: Request, body: B) -> Response
    where
        B: Stream<Item = Result<D, warp::Error>>,
        D: Buf,
    {
        driver::start_timers(&self.endpoint, |at| tokio::time::sleep_until(at.into()), |task| drop(tokio::spawn(task)));
        let uri = match request.query.as_str() {
            "" => request.path.as_str().to_string(),
            query => format!("{}?{query}", request.path.as_str()),
        };
        let Ok(head) = http::Request::builder().method(request.method).uri(uri).body(()) else {
            return status(http::StatusCode::BAD_REQUEST);
        };
        let (mut parts, ()) = head.into_parts();
        parts.headers = request.headers;
        let cx = driver::request_context(request.remote);
        match self.endpoint.handle(&parts, cx) {
            Dispatch::Response(response) => into_reply(response),
            Dispatch::ReadBody(pending) => into_reply(driver::send_body(pending, body).await),
            Dispatch::Stream { response, task } => {
                if let Some(task) = task {
                    tokio::spawn(task);
                }
                let (head, receiver) = response.into_parts();
                let chunks = receiver.into_stream(Instant::now).map(Ok::<_, Infallible>);
                let mut response = warp::reply::Reply::into_response(warp::reply::stream(chunks));
                *response.status_mut() = head.status;
                *response.headers_mut() = head.headers;
                response
            }
            Dispatch::WebSocket(upgrade) => match request.upgrade {
                Some(on_upgrade) => websocket(upgrade, on_upgrade),
                None => status(http::StatusCode::BAD_REQUEST),
            },
        }
    }
}

fn status(status: http::StatusCode) -> Response {
    let mut response = Response::default();
    *response.status_mut() = status;
    response
}

fn into_reply(response: http::Response<Bytes>) -> Response {
    warp::reply::Reply::into_response(response)
}

/// Answers the handshake with 101 and takes the connection over from
/// hyper once it has sent that head.
fn websocket(upgrade: WebSocketUpgrade, on_upgrade: OnUpgrade) -> Response {
    if let Some(hixie) = upgrade.hixie76().cloned() {
        let head = hixie.response();
        tokio::spawn(async move {
            let Ok(io) = on_upgrade.await else { return };
            let (ws, task) = upgrade.accept(Instant::now());
            if let Some(task) = task {
                tokio::spawn(task);
            }
            let (reader, writer) = tokio::io::split(TokioIo::new(io));
            hixie.run(ws, ReadStream { reader, buf: BytesMut::new() }, &mut WriteSink(writer), Instant::now).await;
        });
        return into_reply(head.map(|()| Bytes::new()));
    }
    let Some(head) = upgrade.response() else { return status(http::StatusCode::BAD_REQUEST) };
    let limit = upgrade.max_message_size();
    tokio::spawn(async move {
        let Ok(io) = on_upgrade.await else { return };
        // A small read buffer: tungstenite's default (128 KiB, zeroed on the
        // first read) would dominate an idle session's memory.
        let config =
            WebSocketConfig::default().read_buffer_size(4096).max_message_size(Some(limit)).max_frame_size(Some(limit));
        let socket = WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, Some(config)).await;
        let (sink, stream) = socket.split();
        let (ws, task) = upgrade.accept(Instant::now());
        if let Some(task) = task {
            tokio::spawn(task);
        }
        ws.run(stream, incoming, &mut Sink(sink), Instant::now).await;
    });
    into_reply(head.map(|()| Bytes::new()))
}

type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// The sending half of a tungstenite connection.
struct Sink(futures_util::stream::SplitSink<Socket, WsMessage>);

impl WsSink<WsOutgoing> for Sink {
    async fn send(&mut self, output: WsOutgoing) -> Result<(), Closed> {
        let message = match output {
            WsOutgoing::Text(text) => WsMessage::Text(text.try_into().map_err(|_| Closed)?),
            WsOutgoing::Pong(data) => WsMessage::Pong(data),
            WsOutgoing::Close { code, reason } => {
                WsMessage::Close(Some(CloseFrame { code: code.into(), reason: reason.into_owned().into() }))
            }
        };
        self.0.send(message).await.map_err(|_| Closed)
    }
}

fn incoming(message: Result<WsMessage, tungstenite::Error>) -> WsIncoming<tungstenite::Utf8Bytes> {
    match message {
        Ok(WsMessage::Text(text)) => WsIncoming::Text(text),
        Ok(WsMessage::Binary(data)) => WsIncoming::Binary(data),
        // tungstenite answers pings itself.
        Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_)) => WsIncoming::Pong,
        Ok(WsMessage::Close(_)) => WsIncoming::Close,
        Err(tungstenite::Error::Capacity(_)) => WsIncoming::TooLarge,
        Err(_) => WsIncoming::Error,
    }
}

/// Raw bytes read from an upgraded connection.
struct ReadStream {
    reader: ReadHalf<TokioIo<Upgraded>>,
    buf: BytesMut,
}

impl Stream for ReadStream {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        this.buf.resize(8192, 0);
        let mut read = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.reader).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                let n = read.filled().len();
                Poll::Ready(Some(this.buf.split_to(n).freeze()))
            }
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Raw bytes written to an upgraded connection, flushed each time.
struct WriteSink(WriteHalf<TokioIo<Upgraded>>);

impl WsSink<Bytes> for WriteSink {
    async fn send(&mut self, bytes: Bytes) -> Result<(), Closed> {
        self.0.write_all(&bytes).await.map_err(|_| Closed)?;
        self.0.flush().await.map_err(|_| Closed)
    }
}
