//! Serving a filter: a listener with `TCP_NODELAY`, and the accept loop
//! with its bound on stalled request heads and idle connections, which
//! passes each connection's peer address to the filter ([`Peer`]).

use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use warp::Filter;

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

/// Serves `filter` on `listener` over HTTP/1.1 until the future is
/// dropped. A connection that has not sent a complete request head within
/// `request_timeout` of opening, or of the end of its previous response,
/// is closed: that bounds stalled request heads and idle keep-alive
/// connections alike (PROTOCOL.md §2; a long poll is not affected, its
/// head arrived). Websockets, once upgraded, are not affected either.
/// Each connection gets `TCP_NODELAY`.
///
/// Filters see the client's address through the SockJS filter
/// (`Session::remote_addr`); `warp::addr::remote()` is `None` here.
pub async fn serve<F>(filter: F, listener: tokio::net::TcpListener, request_timeout: Duration)
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    serve_with(filter, listener, request_timeout, |tcp| std::future::ready(Some(tcp))).await;
}

/// [`serve`], with `accept` run on each connection first (a TLS handshake,
/// say): the filter is served over the connection it returns, and a
/// connection it returns `None` for, or does not finish within
/// `request_timeout`, is dropped. The client's address is the TCP peer's.
pub async fn serve_with<F, A, Fut, IO>(
    filter: F,
    listener: tokio::net::TcpListener,
    request_timeout: Duration,
    accept: A,
) where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
    A: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = Option<IO>> + Send + 'static,
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper::service::Service as _;
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of file descriptors, say: give others time to close.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let warp_service = hyper_util::service::TowerToHyperService::new(warp::service(filter.clone()));
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(Peer(peer));
            warp_service.call(request)
        });
        let accepted = accept(stream);
        tokio::spawn(async move {
            // Ready at once for a plain connection: its timer never starts.
            let Ok(Some(io)) = tokio::time::timeout(request_timeout, accepted).await else { return };
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(request_timeout)
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades()
                .await;
        });
    }
}

/// The client's address, as [`serve`] passes it to the filter.
#[derive(Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);
