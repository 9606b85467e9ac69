//! SockJS for actix-web.
//!
//! [`SockJs`] serves one SockJS endpoint (every URL under a prefix) in an
//! actix-web `App`. All protocol decisions are made by [`sockjs_core`],
//! websocket framing included; this crate translates requests and
//! responses, streams bodies, carries a websocket's bytes between the
//! upgraded connection and the engine, and drives the endpoint's timers.
//!
//! Create the endpoint once, outside the `HttpServer::new` closure, so
//! that every worker thread shares its sessions (a polling client's
//! requests may land on different workers), and turn off
//! `h1_allow_half_closed`: with it on (actix's default), actix keeps a
//! streaming response alive after the client closed its socket until the
//! next write fails, so a client that drops a polling or streaming request
//! and reconnects at once would find its session still taken (PROTOCOL.md
//! §6 "Abort"). Also set [`on_connect`], which turns on `TCP_NODELAY`, and
//! bound how long a connection may stall: `client_request_timeout` (the
//! first request head must be complete within it) and `keep_alive` (an
//! idle connection waits this long for its next request). Both are 5 s in
//! actix-web today; set them, so that a change of default does not let
//! stalled or idle connections pile up:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use actix_web::{App, HttpServer};
//! use sockjs_actix::{Options, Session, SockJs};
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     // Create the endpoint once: every worker thread shares its sessions.
//!     let echo = SockJs::new(Options::new("/echo"), |mut session: Session| async move {
//!         while let Some(message) = session.recv().await {
//!             if session.send(message).is_err() {
//!                 break;
//!             }
//!         }
//!     });
//!     HttpServer::new(move || App::new().service(echo.clone()))
//!         // Notice at once when a client drops a streaming request.
//!         .h1_allow_half_closed(false)
//!         // TCP_NODELAY: small frames go out without waiting for ACKs.
//!         .on_connect(sockjs_actix::on_connect)
//!         // A websocket's close frame is followed by the server's FIN at
//!         // once (RFC 6455 §7.1.1), not by a wait for the client to go.
//!         .client_disconnect_timeout(Duration::ZERO)
//!         // Close connections that stall in a request head or sit idle.
//!         .client_request_timeout(Duration::from_secs(10))
//!         .keep_alive(Duration::from_secs(10))
//!         .bind(("127.0.0.1", 8080))?
//!         .run()
//!         .await
//! }
//! ```
//!
//! Where the docs are: the design in `docs/DESIGN.md` and the protocol,
//! byte for byte, in `docs/PROTOCOL.md` of the sockjs-rs repository; what
//! every adapter hands over (requests, replies, websockets) in the
//! [`sockjs_driver`] crate's docs; the options and sessions in
//! [`sockjs_core`]'s.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::ConnectionType;
use actix_web::http::StatusCode;
use actix_web::{rt, web, HttpRequest, HttpResponse, HttpResponseBuilder};
use bytes::Bytes;
use futures_core::Stream;
use sockjs_core::Endpoint;
use sockjs_driver::{Reply, Request};

pub use sockjs_core::{self as core, CloseReason, Handler, Message, Options, Session, Transport};

/// One SockJS endpoint, mountable in an actix-web `App` with
/// `App::service`. Cheap to clone; clones share the endpoint's sessions.
#[derive(Clone, Debug)]
pub struct SockJs {
    endpoint: Endpoint,
}

impl SockJs {
    /// An endpoint under the prefix of `options`, running `handler` for
    /// each new session.
    pub fn new(options: Options, handler: impl Handler) -> SockJs {
        SockJs::from_endpoint(Endpoint::new(options, handler))
    }

    /// Serves an existing [`Endpoint`].
    pub fn from_endpoint(endpoint: Endpoint) -> SockJs {
        SockJs { endpoint }
    }

    /// The endpoint (for its session count, `close_all`, ...).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Handles one request under the prefix.
    pub async fn serve(&self, req: HttpRequest, mut payload: web::Payload) -> HttpResponse {
        let Some(head) = request_parts(&req) else {
            // The engine's 400; its CORS headers need only the origin.
            let mut headers = http::HeaderMap::new();
            if let Some(origin) = req.headers().get("origin").and_then(|v| v.as_bytes().try_into().ok()) {
                headers.insert(http::header::ORIGIN, origin);
            }
            return full(self.endpoint.bad_request(&headers));
        };
        // The body is lent: a websocket reads on from it after the reply.
        let request = Request { head, body: &mut payload, remote_addr: req.peer_addr(), extended_connect: false };
        match sockjs_driver::serve(&self.endpoint, request).await {
            Reply::Full(response) => full(response),
            Reply::Stream(response) => {
                let (head, receiver) = response.into_parts();
                let mut response = response_builder(head.status, &head.headers).body(ChunkedBody(receiver));
                if req.version() < actix_web::http::Version::HTTP_11 {
                    // HTTP/1.0 has no chunked encoding: the body ends when
                    // the connection closes (PROTOCOL.md §9).
                    response.head_mut().no_chunking(true);
                    response.head_mut().set_connection_type(ConnectionType::Close);
                }
                response
            }
            Reply::Upgrade(head, upgrade) => {
                // actix keeps the connection: the payload carries the
                // client's bytes, the response body the server's.
                let (run, body) = upgrade.into_byte_stream(PayloadBytes(payload));
                rt::spawn(run);
                let mut response = response_builder(head.status(), head.headers()).body(UpgradeBody(body));
                // Without this, actix sees an unread request payload and
                // answers `Connection: close, upgrade`; HAProxy wants
                // exactly `Upgrade`.
                response.head_mut().set_connection_type(ConnectionType::Upgrade);
                response
            }
        }
    }
}

/// Sets `TCP_NODELAY` on each connection; pass it to
/// `HttpServer::on_connect`. Without it, a poll answered in two small
/// writes (head, then the frame) waits for the client's delayed ACK, about
/// 40 ms, and streamed frames can be held back the same way.
pub fn on_connect(connection: &dyn std::any::Any, _data: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        let _ = tcp.set_nodelay(true);
    }
}

impl HttpServiceFactory for SockJs {
    fn register(self, config: &mut AppService) {
        let prefix = self.endpoint.prefix().to_string();
        let scope = web::scope(&prefix).default_service(web::to(move |req: HttpRequest, payload: web::Payload| {
            let sockjs = self.clone();
            async move { sockjs.serve(req, payload).await }
        }));
        scope.register(config);
    }
}

/// The request head in `http` 1.x types (actix-web 4 uses `http` 0.2).
fn request_parts(req: &HttpRequest) -> Option<http::request::Parts> {
    let version = match req.version() {
        actix_web::http::Version::HTTP_09 => http::Version::HTTP_09,
        actix_web::http::Version::HTTP_10 => http::Version::HTTP_10,
        actix_web::http::Version::HTTP_2 => http::Version::HTTP_2,
        _ => http::Version::HTTP_11,
    };
    let mut builder =
        http::Request::builder().method(req.method().as_str()).uri(req.uri().to_string()).version(version);
    for (name, value) in req.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    // A TLS listener (`bind_rustls` and the like) marks its requests.
    if req.app_config().secure() {
        builder = builder.extension(sockjs_core::Tls);
    }
    builder.body(()).ok().map(|r| r.into_parts().0)
}

fn full(response: http::Response<Bytes>) -> HttpResponse {
    let (head, body) = response.into_parts();
    response_builder(head.status, &head.headers).body(body)
}

fn response_builder(status: http::StatusCode, headers: &http::HeaderMap) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::OK));
    for (name, value) in headers {
        builder.append_header((name.as_str(), value.as_bytes()));
    }
    builder
}

/// A receiver as an actix body: each chunk becomes one HTTP chunk, and
/// actix flushes as soon as the receiver has nothing more ready. Dropping
/// it (when the client disconnects) tells the core at once.
struct ChunkedBody(sockjs_core::ReceiverBody);

impl MessageBody for ChunkedBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        self.get_mut().0.poll_chunk(cx, Instant::now()).map(|chunk| chunk.map(Ok))
    }
}

/// A websocket's bytes as the 101 response's body, each written as it
/// comes.
struct UpgradeBody(sockjs_driver::ResponseBytes);

impl MessageBody for UpgradeBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        Pin::new(&mut self.get_mut().0).poll_next(cx).map(|bytes| bytes.map(Ok))
    }
}

/// Raw upgrade bytes from the request payload.
struct PayloadBytes(web::Payload);

impl Stream for PayloadBytes {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        Pin::new(&mut self.get_mut().0).poll_next(cx).map(|chunk| chunk.and_then(Result::ok))
    }
}
