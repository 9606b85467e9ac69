//! SockJS in a bare hyper 1 server, with no web framework: sockjs-tower's
//! service served by hyper-util's auto connection builder (HTTP/1.1 and
//! h2c, websockets over HTTP/2 extended CONNECT too).
//!
//! It serves an echo endpoint at `/echo` on every transport, websockets
//! (RFC 6455, Hixie-76 and raw) included.
//!
//! ```text
//! cargo run -p sockjs-examples --bin bare-hyper -- [127.0.0.1:8080]
//! ```

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use sockjs_tower::{Options, SockJsService};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let echo = SockJsService::new(Options::new("/echo"), sockjs_examples::echo);
    // HTTP/1.1 with a bound on stalled request heads and idle connections,
    // and a client that goes away noticed at once; h2c with RFC 8441.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(sockjs_examples::REQUEST_TIMEOUT).half_close(false);
    builder.http2().timer(TokioTimer::new()).enable_connect_protocol();
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare-hyper listening on http://{addr}/echo");
    loop {
        let (stream, peer) = listener.accept().await?;
        // Small frames go out at once, without waiting for delayed ACKs.
        stream.set_nodelay(true)?;
        let (builder, service) = (builder.clone(), echo.clone().with_peer(peer));
        tokio::spawn(async move {
            let _ = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await;
        });
    }
}
