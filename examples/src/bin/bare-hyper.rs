//! sockjs-core in a bare hyper 1 server, with no web framework: the whole
//! driver fits in this file, which shows the core stands alone.
//!
//! It serves an echo endpoint at `/echo` on every transport, websockets
//! (RFC 6455 and Hixie-76) through `sockjs_core::driver::tokio`.
//!
//! ```text
//! cargo run -p sockjs-examples --bin bare-hyper -- [127.0.0.1:8080]
//! ```

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sockjs_core::{driver, Dispatch, Endpoint, Options};

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Carries out what the core decided for one request.
async fn serve(endpoint: Endpoint, mut request: Request<Incoming>, peer: std::net::SocketAddr) -> Response<Body> {
    let on_upgrade = hyper::upgrade::on(&mut request);
    let (head, body) = request.into_parts();
    match endpoint.handle(&head, driver::request_context(Some(peer))) {
        Dispatch::Response(response) => response.map(|b| Full::new(b).boxed()),
        Dispatch::ReadBody(pending) => {
            let chunks = BodyStream::new(body).filter_map(|frame| async move {
                match frame {
                    Ok(frame) => frame.into_data().ok().map(Ok),
                    Err(e) => Some(Err(e)),
                }
            });
            driver::send_body(pending, chunks).await.map(|b| Full::new(b).boxed())
        }
        Dispatch::Stream { response, task } => {
            if let Some(task) = task {
                tokio::spawn(task);
            }
            // One chunk per frame; hyper flushes when the stream waits.
            response.map(|receiver| {
                let frames = receiver.into_stream(Instant::now).map(|chunk| Ok(Frame::data(chunk)));
                BodyExt::boxed(StreamBody::new(frames))
            })
        }
        Dispatch::WebSocket(upgrade) => {
            let head = upgrade.response();
            tokio::spawn(async move {
                if let Ok(io) = on_upgrade.await {
                    driver::tokio::run_websocket(upgrade, TokioIo::new(io)).await;
                }
            });
            head.map(|()| Full::new(Bytes::new()).boxed())
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let endpoint = Endpoint::new(Options::new("/echo"), sockjs_examples::echo);
    driver::start_timers(&endpoint, |at| tokio::time::sleep_until(at.into()), |task| drop(tokio::spawn(task)));
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
