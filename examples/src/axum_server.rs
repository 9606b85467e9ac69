//! Serving endpoints with axum and sockjs-tower, on a thread and runtime of
//! its own.
//!
//! `axum::serve` offers no request-head timeout, so the server runs its own
//! accept loop with hyper-util's auto builder (HTTP/1.1 and h2c), as an axum
//! user who needs that bound would: `TCP_NODELAY`, hyper's
//! `header_read_timeout`, request heads of at most 8 KiB, HTTP/2 extended CONNECT for websockets, the client's
//! address as axum's `ConnectInfo`, and a bound on the time before the
//! first request (hyper-util's protocol detection has none).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use sockjs_core::Endpoint;
use sockjs_tower::SockJsService;
use tower_service::Service as _;

use crate::tls::ALPN_H2_HTTP1;
use crate::{AxumServer, ServeOptions};

/// Serves `endpoints` with axum on `listener`, using `workers` threads.
pub fn serve_axum(listener: TcpListener, endpoints: Vec<Endpoint>, workers: usize) -> std::io::Result<AxumServer> {
    serve_axum_with(listener, endpoints, ServeOptions::new(workers))
}

/// Like [`serve_axum`], and when `static_dir` is given also serves the files
/// under it at `/static/...` (the browser tests' same-origin page).
pub fn serve_axum_with_static(
    listener: TcpListener,
    endpoints: Vec<Endpoint>,
    workers: usize,
    static_dir: Option<PathBuf>,
) -> std::io::Result<AxumServer> {
    serve_axum_with(listener, endpoints, ServeOptions { static_dir, ..ServeOptions::new(workers) })
}

/// The router: the static files, if any, behind one
/// [`sockjs_tower::SockJsLayer`] per endpoint (each serves the URLs under
/// its prefix, as they arrived, and passes the others on).
pub fn axum_router(endpoints: Vec<Endpoint>, static_dir: Option<PathBuf>) -> Router {
    let router = match static_dir {
        Some(dir) => Router::new().route(
            "/static/{*path}",
            axum::routing::get(move |axum::extract::Path(path): axum::extract::Path<String>| {
                crate::static_response(dir.clone(), path)
            }),
        ),
        None => Router::new(),
    };
    endpoints.into_iter().fold(router, |router, endpoint| {
        let service = SockJsService::from_endpoint(endpoint)
            .remote_addr(|extensions| extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0));
        router.layer(service.layer())
    })
}

/// Serves `endpoints` with axum on `listener` as `options` say.
pub fn serve_axum_with(
    listener: TcpListener,
    endpoints: Vec<Endpoint>,
    options: ServeOptions,
) -> std::io::Result<AxumServer> {
    let ServeOptions { workers, static_dir, request_timeout, tls } = options;
    let router = axum_router(endpoints, static_dir);
    // Over TLS, ALPN offers h2 then http/1.1; the auto builder serves
    // whichever the client speaks.
    let tls =
        tls.map(|config| tokio_rustls::TlsAcceptor::from(Arc::new(crate::tls::with_alpn(&config, &ALPN_H2_HTTP1))));
    AxumServer::spawn(listener, workers, move |listener| async move {
        accept(listener, router, request_timeout, tls).await;
        Ok(())
    })
}

/// hyper-util's auto builder (HTTP/1.1 and h2c) with the bounds above.
pub fn hyper_builder(request_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // max_buf_size(8 KiB): a request head fits in hyper's first 8 KiB read
    // buffer, which then never grows. Without it, the auto builder's
    // protocol detection hands hyper the first 24 bytes alone, and the
    // next read doubles the buffer to 16 KiB for the connection's life.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(request_timeout).max_buf_size(8192);
    builder.http2().timer(TokioTimer::new()).enable_connect_protocol();
    builder
}

pub(crate) async fn accept(
    listener: tokio::net::TcpListener,
    router: Router,
    request_timeout: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let builder = hyper_builder(request_timeout);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of file descriptors, say: give others time to close.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let first_request = std::sync::Arc::new(tokio::sync::Notify::new());
        let seen = first_request.clone();
        let secure = tls.is_some();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            seen.notify_one();
            request.extensions_mut().insert(ConnectInfo(peer));
            // The engine answers Hixie-76 handshakes with a wss:// location
            // on TLS connections (HTTP/2 requests say https themselves).
            if secure {
                request.extensions_mut().insert(sockjs_core::Tls);
            }
            router.clone().call(request)
        });
        let builder = builder.clone();
        // Two tasks of their own: one future with both branches would make
        // every plain connection keep room for a TLS connection's state
        // (2 KiB more per idle connection, measured).
        match tls.clone() {
            None => drop(tokio::spawn(async move {
                serve_connection(&builder, stream, service, &first_request, request_timeout).await;
            })),
            Some(acceptor) => drop(tokio::spawn(async move {
                let Some(stream) = crate::tls::handshake(&acceptor, stream, request_timeout).await else { return };
                serve_connection(&builder, stream, service, &first_request, request_timeout).await;
            })),
        }
    }
}

/// Serves one connection, which must deliver its first request within
/// `request_timeout`.
async fn serve_connection<I, S>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    service: S,
    first_request: &tokio::sync::Notify,
    request_timeout: Duration,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<hyper::Request<hyper::body::Incoming>, Response = axum::response::Response>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);
    // The auto builder reads the first bytes to tell HTTP/1.1 from
    // HTTP/2 with no timeout of its own: a connection must deliver
    // its first request within the timeout (later HTTP/1.1 heads
    // are hyper's header_read_timeout's).
    tokio::select! {
        _ = &mut connection => return,
        () = first_request.notified() => {}
        () = tokio::time::sleep(request_timeout) => return,
    }
    let _ = connection.await;
}
