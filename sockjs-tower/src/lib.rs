//! SockJS for axum, hyper and every tower-based server, over HTTP/1.1 and
//! HTTP/2.
//!
//! [`SockJsService`] is a [`tower_service::Service`] (and a
//! [`hyper::service::Service`]) serving one endpoint: every SockJS URL
//! under a prefix, for any request body type. [`SockJsLayer`] wraps
//! another service: it serves the endpoint's URLs and passes every other
//! request on. All protocol decisions are made by [`sockjs_core`]; this
//! crate translates requests and responses, streams bodies, takes
//! websocket upgrades over from hyper (RFC 6455, framed by the engine,
//! Hixie-76, raw websockets; on HTTP/2 through extended CONNECT, RFC 8441)
//! and drives the endpoint's timers. It does not depend on axum.
//!
//! # axum
//!
//! ```no_run
//! use std::net::SocketAddr;
//!
//! use axum::extract::connect_info::ConnectInfo;
//! use axum::routing::get;
//! use axum::serve::ListenerExt;
//! use axum::Router;
//! use sockjs_tower::{Options, Session, SockJsService};
//!
//! #[tokio::main]
//! async fn main() {
//!     let echo = SockJsService::new(Options::new("/echo"), |mut session: Session| async move {
//!         while let Some(message) = session.recv().await {
//!             if session.send(message).is_err() {
//!                 break;
//!             }
//!         }
//!     })
//!     // Session::remote_addr() from axum's ConnectInfo.
//!     .remote_addr(|extensions| extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0));
//!     // /echo/... goes to SockJS, everything else to the router.
//!     let app = Router::new().route("/hello", get(|| async { "Hello!" })).layer(echo.layer());
//!     let listener = tokio::net::TcpListener::bind(("127.0.0.1", 8080)).await.unwrap();
//!     // TCP_NODELAY: small frames go out without waiting for ACKs.
//!     let listener = listener.tap_io(|tcp| {
//!         let _ = tcp.set_nodelay(true);
//!     });
//!     axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
//! }
//! ```
//!
//! **Which form.** The layer (above) sees every request with its whole
//! path, and serves exactly the URLs under the prefix: use it.
//! `Router::nest_service("/echo", echo)` works too: axum hands the
//! service the path without `/echo`, and the service puts its prefix back
//! in front of any path that is not under it. But axum's stripping also
//! turns `/echo//x` into `/x`, so that path, which no SockJS client sends,
//! is served as `/echo/x` instead of 404. `route_service` needs three
//! routes (`/echo`, `/echo/` and `/echo/{*rest}`).
//!
//! **Other tower layers.** SockJS answers its own CORS: keep a CORS layer
//! off its URLs. Its streaming responses (xhr-streaming, eventsource,
//! htmlfile) must reach the client frame by frame: no compression or
//! buffering layer may wrap them, so add such layers to the router before
//! `.layer(echo.layer())` (they then wrap only the router's routes), not
//! after it.
//!
//! # hyper
//!
//! ```no_run
//! use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
//! use hyper_util::server::conn::auto;
//! use sockjs_tower::{Options, Session, SockJsService};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let echo = SockJsService::new(Options::new("/echo"), |mut session: Session| async move {
//!         while let Some(message) = session.recv().await {
//!             let _ = session.send(message);
//!         }
//!     });
//!     let mut builder = auto::Builder::new(TokioExecutor::new());
//!     // Websockets over HTTP/2 (RFC 8441), and a bound on stalled heads.
//!     builder.http2().enable_connect_protocol();
//!     builder.http1().timer(TokioTimer::new()).header_read_timeout(std::time::Duration::from_secs(10));
//!     let listener = tokio::net::TcpListener::bind(("127.0.0.1", 8080)).await?;
//!     loop {
//!         let (stream, peer) = listener.accept().await?;
//!         stream.set_nodelay(true)?;
//!         let (builder, service) = (builder.clone(), echo.clone().with_peer(peer));
//!         tokio::spawn(async move {
//!             let _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await;
//!         });
//!     }
//! }
//! ```
//!
//! The service takes any path outside its prefix as relative to it (the
//! `nest_service` case): `/info` is served as `/echo/info`. To serve other
//! paths next to it, wrap your own service with [`SockJsLayer`].
//!
//! hyper-util's auto builder reads a connection's first bytes to tell
//! HTTP/1.1 from HTTP/2 with no timeout, and hyper's `header_read_timeout`
//! only starts after it; HTTP/2 connections have no idle timeout in hyper.
//! Bound the time to a connection's first request yourself (the reference
//! `test-server --framework axum` does), and idle HTTP/2 connections at
//! the proxy in front.
//!
//! Where the docs are: the design in `docs/DESIGN.md` and the protocol,
//! byte for byte, in `docs/PROTOCOL.md` of the sockjs-rs repository; what
//! every adapter hands over (requests, replies, websockets) in the
//! [`sockjs_driver`] crate's docs; the options and sessions in
//! [`sockjs_core`]'s.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use http_body_util::BodyExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sockjs_core::Endpoint;
use sockjs_driver::Reply;

mod body;
mod layer;

pub use body::Body;
pub use layer::{EitherBody, SockJsLayer, SockJsMiddleware};
pub use sockjs_core::{self as core, CloseReason, Handler, Message, Options, Session, Transport};

/// Where a request's client address comes from, for
/// [`SockJsService::remote_addr`].
pub type RemoteAddrFn = fn(&http::Extensions) -> Option<SocketAddr>;

/// Serves one SockJS endpoint. Cheap to clone: clones share the endpoint
/// and its sessions.
#[derive(Clone, Debug)]
pub struct SockJsService {
    endpoint: Endpoint,
    peer: Option<SocketAddr>,
    remote_addr: RemoteAddrFn,
}

impl SockJsService {
    /// A service for a new endpoint under the prefix of `options`, running
    /// `handler` for each new session.
    pub fn new(options: Options, handler: impl Handler) -> SockJsService {
        SockJsService::from_endpoint(Endpoint::new(options, handler))
    }

    /// A service for an existing endpoint (share one endpoint between
    /// servers, or keep it to inspect its sessions).
    pub fn from_endpoint(endpoint: Endpoint) -> SockJsService {
        SockJsService { endpoint, peer: None, remote_addr: |extensions| extensions.get::<SocketAddr>().copied() }
    }

    /// The endpoint served.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// This service for the requests of one connection from `peer`: the
    /// client address when the server has no other way to pass it.
    pub fn with_peer(mut self, peer: SocketAddr) -> SockJsService {
        self.peer = Some(peer);
        self
    }

    /// How to find the client address in a request's extensions (by
    /// default, a `SocketAddr` extension). With axum:
    /// `|e| e.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)`.
    pub fn remote_addr(mut self, find: RemoteAddrFn) -> SockJsService {
        self.remote_addr = find;
        self
    }

    /// A layer that serves this endpoint's URLs and passes other requests
    /// to the service it wraps.
    pub fn layer(self) -> SockJsLayer {
        SockJsLayer { sockjs: self }
    }

    /// Carries out what the core decides for one request.
    async fn serve<B>(self, request: Request<B>) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
    {
        let remote_addr = self.peer.or_else(|| (self.remote_addr)(request.extensions()));
        let (mut head, body) = request.into_parts();
        // RFC 8441: hyper's `:protocol` pseudo-header.
        let extended_connect = head.method == Method::CONNECT
            && head.extensions.get::<hyper::ext::Protocol>().is_some_and(|p| p.as_str() == "websocket");
        if !self.endpoint.matches(head.uri.path()) {
            // Under axum's nest_service: the path came without the prefix.
            let relative = head.uri.path_and_query().map_or("/", |p| p.as_str());
            match format!("{}{relative}", self.endpoint.prefix()).parse() {
                Ok(uri) => head.uri = uri,
                Err(_) => return self.endpoint.bad_request(&head.headers).map(Body::full),
            }
        }
        let on_upgrade = head.extensions.remove::<OnUpgrade>();
        let request = sockjs_driver::Request { head, body: body.into_data_stream(), remote_addr, extended_connect };
        match sockjs_driver::serve(&self.endpoint, request).await {
            Reply::Full(response) => response.map(Body::full),
            Reply::Stream(response) => response.map(Body::stream),
            // The head goes out, then hyper hands the connection (or, on
            // HTTP/2, the stream) over.
            Reply::Upgrade(head, upgrade) => {
                upgrade.hand_over(head, on_upgrade.map(|u| async move { u.await.map(TokioIo::new) })).map(Body::full)
            }
        }
    }
}

/// The future of a [`SockJsService`] call (and of a [`SockJsMiddleware`]
/// call that SockJS serves).
pub type ResponseFuture<B = Body, E = Infallible> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

impl<B> tower_service::Service<Request<B>> for SockJsService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let serve = self.clone().serve(request);
        Box::pin(async move { Ok(serve.await) })
    }
}

impl<B> hyper::service::Service<Request<B>> for SockJsService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<B>) -> Self::Future {
        let serve = self.clone().serve(request);
        Box::pin(async move { Ok(serve.await) })
    }
}
