//! SockJS for warp.
//!
//! [`sockjs`] turns an endpoint (every SockJS URL under a prefix) into a
//! warp [`Filter`] that you combine with your own routes and serve with
//! [`serve`]. All protocol decisions are made by [`sockjs_core`]; this
//! crate translates requests and responses, streams bodies, takes over
//! websocket upgrades from hyper (RFC 6455, framed by the engine, and
//! the Hixie-76 handshake), and drives the endpoint's timers.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use sockjs_warp::{sockjs, Options, Session};
//! use warp::Filter;
//!
//! #[tokio::main]
//! async fn main() {
//!     let echo = sockjs(Options::new("/echo"), |mut session: Session| async move {
//!         while let Some(message) = session.recv().await {
//!             if session.send(message).is_err() {
//!                 break;
//!             }
//!         }
//!     });
//!     // Paths outside /echo are rejected, so the filter combines with others.
//!     let hello = warp::path("hello").map(|| "Hello!");
//!     let listener = tokio::net::TcpListener::bind(("127.0.0.1", 8080)).await.unwrap();
//!     // Like warp::serve, plus TCP_NODELAY and a bound on stalled and idle
//!     // connections: a request head must be complete within 10 s.
//!     sockjs_warp::serve(echo.or(hello), listener, Duration::from_secs(10)).await;
//! }
//! ```
//!
//! [`serve`] is `warp::serve(filter).incoming(listener).run()` with that
//! bound and `TCP_NODELAY` on every connection. `warp::serve` gives hyper
//! no timer, so hyper's request-head timeout never fires there and a
//! client holds a connection for as long as it likes by sending half a
//! request head; if you use it anyway, serve on [`listener`] for
//! `TCP_NODELAY`.
//!
//! Where the docs are: the design in `docs/DESIGN.md` and the protocol,
//! byte for byte, in `docs/PROTOCOL.md` of the sockjs-rs repository; what
//! every adapter hands over (requests, replies, websockets) in the
//! [`sockjs_driver`] crate's docs; the options and sessions in
//! [`sockjs_core`]'s.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, Bytes};
use futures_core::Stream;
use futures_util::StreamExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sockjs_core::Endpoint;
use sockjs_driver::Reply;
use warp::filters::path::FullPath;
use warp::http::HeaderMap;
use warp::reply::Response;
use warp::{Filter, Rejection};

mod server;

pub use server::{listener, serve, serve_with};
pub use sockjs_core::{self as core, CloseReason, Handler, Message, Options, Session, Transport};

use server::Peer;

/// A filter serving an endpoint under the prefix of `options`, running
/// `handler` for each new session. Requests outside the prefix are
/// rejected with "not found", so the filter combines with others through
/// `.or(...)`.
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
        .and(
            warp::addr::remote()
                .and(warp::ext::optional::<Peer>())
                .map(|warp: Option<_>, ours: Option<Peer>| warp.or(ours.map(|Peer(addr)| addr))),
        )
        .and(warp::ext::optional::<OnUpgrade>())
        .and(warp::body::stream())
        .and_then(move |path: FullPath, method, query: String, headers, remote, upgrade, body| {
            let server = server.clone();
            let request = Request { path, method, query, headers, remote, upgrade };
            async move { Ok::<_, Rejection>(server.serve(request, body).await) }
        })
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
        let uri = match request.query.as_str() {
            "" => request.path.as_str().to_string(),
            query => format!("{}?{query}", request.path.as_str()),
        };
        let Ok(head) = http::Request::builder().method(request.method).uri(uri).body(()) else {
            return into_reply(self.endpoint.bad_request(&request.headers));
        };
        let (mut head, ()) = head.into_parts();
        head.headers = request.headers;
        let request_in = sockjs_driver::Request { head, body, remote_addr: request.remote, extended_connect: false };
        match sockjs_driver::serve(&self.endpoint, request_in).await {
            Reply::Full(response) => into_reply(response),
            Reply::Stream(response) => {
                let (head, receiver) = response.into_parts();
                let chunks = receiver.into_stream(Instant::now).map(Ok::<_, Infallible>);
                let mut response = warp::reply::Reply::into_response(warp::reply::stream(chunks));
                *response.status_mut() = head.status;
                *response.headers_mut() = head.headers;
                response
            }
            // The 101 goes out, then hyper hands the connection over.
            Reply::Upgrade(head, upgrade) => {
                into_reply(upgrade.hand_over(head, request.upgrade.map(|u| async move { u.await.map(TokioIo::new) })))
            }
        }
    }
}

fn into_reply(response: http::Response<Bytes>) -> Response {
    warp::reply::Reply::into_response(response)
}
