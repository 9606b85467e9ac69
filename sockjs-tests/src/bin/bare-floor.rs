//! `bare-floor`: the floor of each HTTP stack for the fan-out and idle
//! scenarios of `sockjs-bench` (BENCHMARKS.md): the same connections our
//! servers hold, with nothing of SockJS, served by plain hyper, actix-web
//! or warp.
//!
//! ```text
//! bare-floor --stack hyper|actix|warp [--listen 127.0.0.1:0] [--workers 2]
//! ```
//!
//! Any prefix is accepted; the last path segment picks what is served:
//!
//! | path ends in | answer |
//! |---|---|
//! | `/xhr_streaming` | 200, a chunked `application/javascript` body that stays open: `o\n`, then every broadcast as `TEXT\n` |
//! | `/eventsource` | 200, a chunked `text/event-stream` body that stays open: `data: o\r\n\r\n`, then `data: TEXT\r\n\r\n` |
//! | `/websocket` | an RFC 6455 upgrade; the server sends one text message `o`, and every text message it receives is broadcast to every open streaming response (the fan-out's trigger) |
//! | anything else | 404 |
//!
//! The `o` lines are what the benchmark's clients wait for before they
//! count a connection as open; nothing else is framed. A broadcast is one
//! shared `Bytes` per response type ([`Hub`]), written by each connection
//! to its own socket: one write per receiver, as our broadcast does.
//!
//! The stacks, set up as our reference server (`test-server`) sets up
//! each framework:
//!
//! * `hyper`: hyper 1 with hyper-util's auto connection builder (HTTP/1.1
//!   and h2c), an 8 KiB read buffer, as the axum server serves (axum is
//!   hyper plus a router); websockets upgraded by hyper and run by
//!   tokio-tungstenite.
//! * `warp`: warp filters (path, `OnUpgrade` extension, `reply::stream`)
//!   served by hyper's HTTP/1.1 connection, as `sockjs_warp::serve` serves
//!   our warp server; websockets as with `hyper`.
//! * `actix`: actix-web 4's `HttpServer`; a websocket is actix-http's
//!   handshake and frame codec over the request payload, the server's bytes
//!   in the response body (how actix runs websockets over its h1
//!   dispatcher).
//!
//! Websockets read 4 KiB at a time (`READ_SIZE`), like our servers and the
//! bare echo. Prints `bare-floor (STACK) listening on ADDR` once it
//! accepts connections.

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Bytes a websocket asks the socket for at a time (our servers' figure).
const READ_SIZE: usize = 4096;

/// The largest websocket message (or actix frame) read; a larger one ends
/// the connection. The fan-out's trigger is a few bytes.
const MAX_MESSAGE: usize = 64 * 1024;

/// Connections held at once (hyper and warp: a permit per connection;
/// actix: per worker, its `max_connections`). Above the benchmarks' 19,000.
const MAX_CONNECTIONS: usize = 50_000;

/// How long a connection may take to deliver a request head, and how long
/// an idle keep-alive connection is kept (as `test-server`'s default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The first chunk of an xhr-streaming response.
const XHR_OPEN: &[u8] = b"o\n";
/// The first chunk of an eventsource response.
const SSE_OPEN: &[u8] = b"data: o\r\n\r\n";
/// The content type of an xhr-streaming response (SockJS's).
const XHR_TYPE: &str = "application/javascript; charset=UTF-8";
/// The content type of an eventsource response.
const SSE_TYPE: &str = "text/event-stream; charset=UTF-8";
/// The server's one websocket message, `o`, as an unmasked text frame.
const WS_OPEN_FRAME: &[u8] = &[0x81, 0x01, b'o'];

/// What a path asks for: its last segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    XhrStreaming,
    EventSource,
    WebSocket,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        match path.rsplit('/').next()? {
            "xhr_streaming" => Some(Route::XhrStreaming),
            "eventsource" => Some(Route::EventSource),
            "websocket" => Some(Route::WebSocket),
            _ => None,
        }
    }

    /// The content type of a streaming route's response.
    fn content_type(self) -> &'static str {
        if self == Route::EventSource {
            SSE_TYPE
        } else {
            XHR_TYPE
        }
    }
}

/// The broadcast: the latest message of each response type, one shared
/// `Bytes` each, which every open response of that type writes once. A
/// `watch` channel holds one value (its only buffer) and wakes every
/// receiver; a response that has not written the previous message when
/// the next comes writes only the latest.
struct Hub {
    xhr: watch::Sender<Bytes>,
    sse: watch::Sender<Bytes>,
}

impl Hub {
    fn new() -> Arc<Hub> {
        Arc::new(Hub { xhr: watch::Sender::new(Bytes::new()), sse: watch::Sender::new(Bytes::new()) })
    }

    /// Sends `text` to every open streaming response.
    fn publish(&self, text: &[u8]) {
        let (xhr, sse) = chunks_of(text);
        self.xhr.send_replace(xhr);
        self.sse.send_replace(sse);
    }

    /// The body of a new streaming response: its first chunk, then every
    /// broadcast from now on. Ends only when the server does.
    fn subscribe(&self, route: Route) -> impl Stream<Item = Bytes> + Send + Sync + 'static {
        let (open, rx) = match route {
            Route::EventSource => (SSE_OPEN, self.sse.subscribe()),
            _ => (XHR_OPEN, self.xhr.subscribe()),
        };
        let next = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.changed().await.ok()?;
            let chunk = rx.borrow_and_update().clone();
            Some((chunk, rx))
        });
        futures_util::stream::once(std::future::ready(Bytes::from_static(open))).chain(next)
    }
}

/// One broadcast's xhr-streaming and eventsource chunks.
fn chunks_of(text: &[u8]) -> (Bytes, Bytes) {
    let mut xhr = Vec::with_capacity(text.len() + 1);
    xhr.extend_from_slice(text);
    xhr.push(b'\n');
    let mut sse = Vec::with_capacity(text.len() + 10);
    sse.extend_from_slice(b"data: ");
    sse.extend_from_slice(text);
    sse.extend_from_slice(b"\r\n\r\n");
    (xhr.into(), sse.into())
}

/// Runs an upgraded websocket: sends `o`, then broadcasts every text
/// message it receives, until the client closes or goes away.
async fn run_websocket<S: AsyncRead + AsyncWrite + Unpin>(io: S, hub: Arc<Hub>) {
    let config = WebSocketConfig::default().read_buffer_size(READ_SIZE).max_message_size(Some(MAX_MESSAGE));
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    if ws.send(Message::text("o")).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(text) => hub.publish(text.as_bytes()),
            Message::Close(_) => break,
            _ => {}
        }
    }
}

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:0".to_string();
    let mut workers = 2usize;
    let mut stack = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--workers", Some(v)) if v.parse::<usize>().is_ok_and(|n| n > 0) => workers = v.parse().unwrap_or(2),
            ("--stack", Some(v)) if ["hyper", "actix", "warp"].contains(&v.as_str()) => stack = Some(v),
            _ => {
                stack = None;
                break;
            }
        }
    }
    let Some(stack) = stack else {
        eprintln!("usage: bare-floor --stack hyper|actix|warp [--listen ADDR] [--workers N]");
        return ExitCode::from(2);
    };
    let listener = match std::net::TcpListener::bind(&listen).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("bare-floor ({stack}) listening on {addr}"),
        Err(e) => {
            eprintln!("no local address: {e}");
            return ExitCode::FAILURE;
        }
    }
    let hub = Hub::new();
    let result = match stack.as_str() {
        "actix" => actix::serve(listener, workers, hub),
        other => tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().and_then(
            |runtime| {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    if other == "warp" {
                        warp_stack::serve(listener, hub).await;
                    } else {
                        hyper_stack::serve(listener, hub).await;
                    }
                    Ok(())
                })
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Accepts connections on `listener` while fewer than [`MAX_CONNECTIONS`]
/// are held, and runs `serve` on each in a task of its own.
async fn accept_loop<F, Fut>(listener: tokio::net::TcpListener, serve: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors and the like: let others close first.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = serve(stream);
        tokio::spawn(async move {
            connection.await;
            drop(permit);
        });
    }
}

/// The 101 answer to a websocket upgrade whose key is `key`.
fn switching_protocols(key: &[u8]) -> http::Response<()> {
    let mut response = http::Response::new(());
    *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(http::header::UPGRADE, http::HeaderValue::from_static("websocket"));
    headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = http::HeaderValue::from_str(&derive_accept_key(key)) {
        headers.insert(http::header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// A bodiless answer with `status`.
fn status_only(status: http::StatusCode) -> http::Response<()> {
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    response
}

mod hyper_stack {
    //! hyper 1, served by hyper-util's auto builder.

    use super::*;
    use http_body_util::combinators::UnsyncBoxBody;
    use http_body_util::{BodyExt, Empty, StreamBody};
    use hyper::body::{Frame, Incoming};
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;

    type Body = UnsyncBoxBody<Bytes, Infallible>;

    pub(super) async fn serve(listener: tokio::net::TcpListener, hub: Arc<Hub>) {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // As the axum reference server: a request head fits in the first
        // 8 KiB read buffer, which never grows.
        builder.http1().timer(TokioTimer::new()).header_read_timeout(REQUEST_TIMEOUT).max_buf_size(8192);
        accept_loop(listener, move |stream| {
            let (builder, hub) = (builder.clone(), hub.clone());
            async move {
                let service = hyper::service::service_fn(move |request| handle(request, hub.clone()));
                let _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await;
            }
        })
        .await;
    }

    async fn handle(mut request: hyper::Request<Incoming>, hub: Arc<Hub>) -> Result<hyper::Response<Body>, Infallible> {
        let empty = || Empty::new().boxed_unsync();
        Ok(match Route::of(request.uri().path()) {
            Some(Route::WebSocket) => {
                let Some(key) = request.headers().get(http::header::SEC_WEBSOCKET_KEY).cloned() else {
                    return Ok(status_only(http::StatusCode::BAD_REQUEST).map(|()| empty()));
                };
                let upgrade = hyper::upgrade::on(&mut request);
                tokio::spawn(async move {
                    if let Ok(upgraded) = upgrade.await {
                        run_websocket(TokioIo::new(upgraded), hub).await;
                    }
                });
                switching_protocols(key.as_bytes()).map(|()| empty())
            }
            Some(route) => {
                let frames = hub.subscribe(route).map(|chunk| Ok(Frame::data(chunk)));
                let mut response = hyper::Response::new(StreamBody::new(frames).boxed_unsync());
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(route.content_type()));
                response
            }
            None => status_only(http::StatusCode::NOT_FOUND).map(|()| empty()),
        })
    }
}

mod warp_stack {
    //! warp filters, served by hyper's HTTP/1.1 connection.

    use super::*;
    use hyper::upgrade::OnUpgrade;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use warp::filters::path::FullPath;
    use warp::Filter;

    pub(super) async fn serve(listener: tokio::net::TcpListener, hub: Arc<Hub>) {
        let routes = warp::path::full()
            .and(warp::header::optional::<String>("sec-websocket-key"))
            .and(warp::ext::optional::<OnUpgrade>())
            .map(move |path: FullPath, key: Option<String>, upgrade: Option<OnUpgrade>| {
                reply(path.as_str(), key, upgrade, hub.clone())
            });
        accept_loop(listener, move |stream| {
            let service = hyper_util::service::TowerToHyperService::new(warp::service(routes.clone()));
            async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(REQUEST_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            }
        })
        .await;
    }

    fn reply(path: &str, key: Option<String>, upgrade: Option<OnUpgrade>, hub: Arc<Hub>) -> warp::reply::Response {
        use warp::Reply;
        match Route::of(path) {
            Some(Route::WebSocket) => {
                let (Some(key), Some(upgrade)) = (key, upgrade) else {
                    return status_only(http::StatusCode::BAD_REQUEST).map(|()| Bytes::new()).into_response();
                };
                tokio::spawn(async move {
                    if let Ok(upgraded) = upgrade.await {
                        run_websocket(TokioIo::new(upgraded), hub).await;
                    }
                });
                switching_protocols(key.as_bytes()).map(|()| Bytes::new()).into_response()
            }
            Some(route) => {
                let body = warp::reply::stream(hub.subscribe(route).map(Ok::<_, Infallible>));
                warp::reply::with_header(body, http::header::CONTENT_TYPE, route.content_type()).into_response()
            }
            None => status_only(http::StatusCode::NOT_FOUND).map(|()| Bytes::new()).into_response(),
        }
    }
}

mod actix {
    //! actix-web 4.

    use super::*;
    use actix_codec::Decoder;
    use actix_http::ws::{Codec, Frame};
    use actix_web::http::header;
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

    pub(super) fn serve(listener: std::net::TcpListener, workers: usize, hub: Arc<Hub>) -> std::io::Result<()> {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                let hub = hub.clone();
                App::new().default_service(web::to(move |request: HttpRequest, payload: web::Payload| {
                    let hub = hub.clone();
                    async move { handle(&request, payload, hub) }
                }))
            })
            .workers(workers)
            .max_connections(MAX_CONNECTIONS)
            .tcp_nodelay(true)
            .client_request_timeout(REQUEST_TIMEOUT)
            .keep_alive(REQUEST_TIMEOUT)
            // As test-server: a streaming response ends when its client
            // closes. With actix's default the connections of one run
            // stayed open until a write failed, and the next run found the
            // descriptors used up.
            .h1_allow_half_closed(false)
            .client_disconnect_timeout(Duration::ZERO)
            .listen(listener)?
            .run()
            .await
        })
    }

    /// What the websocket body reads with: the request payload, the frame
    /// decoder and the bytes not decoded yet.
    type WsState = (web::Payload, Codec, BytesMut);

    fn handle(request: &HttpRequest, payload: web::Payload, hub: Arc<Hub>) -> HttpResponse {
        match Route::of(request.path()) {
            Some(Route::WebSocket) => {
                let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY) else {
                    return HttpResponse::BadRequest().finish();
                };
                let accept = derive_accept_key(key.as_bytes());
                HttpResponse::SwitchingProtocols()
                    .upgrade("websocket")
                    .insert_header((header::SEC_WEBSOCKET_ACCEPT, accept))
                    .streaming(websocket(payload, hub))
            }
            Some(route) => HttpResponse::Ok()
                .content_type(route.content_type())
                .streaming(hub.subscribe(route).map(Ok::<_, Infallible>)),
            None => HttpResponse::NotFound().finish(),
        }
    }

    /// The server's side of an actix websocket as the response body: the
    /// `o` frame, then nothing while it reads the client's frames from the
    /// request payload (each text one broadcast); it ends with the client's
    /// close frame or its going away.
    fn websocket(payload: web::Payload, hub: Arc<Hub>) -> impl Stream<Item = Result<Bytes, Infallible>> {
        let open = futures_util::stream::once(std::future::ready(Ok(Bytes::from_static(WS_OPEN_FRAME))));
        let state = (payload, Codec::new().max_size(MAX_MESSAGE), BytesMut::new());
        let read = futures_util::stream::unfold(state, move |(mut payload, mut codec, mut buffer): WsState| {
            let hub = hub.clone();
            async move {
                loop {
                    match codec.decode(&mut buffer) {
                        Ok(Some(Frame::Text(text))) => hub.publish(&text),
                        // It never yields: the item type is the body's.
                        Ok(Some(Frame::Close(_))) | Err(_) => return None::<(Result<Bytes, Infallible>, WsState)>,
                        Ok(Some(_)) => {}
                        Ok(None) => match payload.next().await {
                            Some(Ok(bytes)) => buffer.extend_from_slice(&bytes),
                            _ => return None,
                        },
                    }
                }
            }
        });
        open.chain(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_segment_picks_the_route() {
        assert_eq!(Route::of("/broadcast/000/abc/eventsource"), Some(Route::EventSource));
        assert_eq!(Route::of("/echo/1/2/xhr_streaming"), Some(Route::XhrStreaming));
        assert_eq!(Route::of("/echo/000/s/websocket"), Some(Route::WebSocket));
        assert_eq!(Route::of("/echo/000/s/xhr_streaming/x"), None);
        assert_eq!(Route::of("/websocket2"), None);
    }

    #[test]
    fn a_broadcast_is_framed_for_each_response_type() {
        let (xhr, sse) = chunks_of(b"a[\"fanmark-3-\"]");
        assert_eq!(&xhr[..], b"a[\"fanmark-3-\"]\n");
        assert_eq!(&sse[..], b"data: a[\"fanmark-3-\"]\r\n\r\n");
    }

    #[test]
    fn subscribers_get_their_open_chunk_then_each_later_broadcast() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let hub = Hub::new();
            hub.publish(b"before");
            let mut sse = Box::pin(hub.subscribe(Route::EventSource));
            let mut xhr = Box::pin(hub.subscribe(Route::XhrStreaming));
            assert_eq!(sse.next().await.unwrap(), SSE_OPEN);
            assert_eq!(xhr.next().await.unwrap(), XHR_OPEN);
            hub.publish(b"x");
            assert_eq!(sse.next().await.unwrap(), &b"data: x\r\n\r\n"[..]);
            assert_eq!(xhr.next().await.unwrap(), &b"x\n"[..]);
        });
    }
}
