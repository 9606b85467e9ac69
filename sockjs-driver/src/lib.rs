//! Runs the sans-IO [`sockjs_core`] engine on tokio, for any HTTP server.
//!
//! The engine decides everything about a request and does nothing itself;
//! this crate carries its decisions out, once, for every server. An
//! adapter converts its framework's request into a [`Request`], awaits
//! [`serve`], and converts the [`Reply`] back:
//!
//! * [`Reply::Full`]: a whole response.
//! * [`Reply::Stream`]: a streaming response (xhr-streaming, eventsource,
//!   htmlfile): send the head, then each chunk of the
//!   [`ReceiverBody`] as its own flushed HTTP
//!   chunk, and drop the body as soon as the client goes away.
//! * [`Reply::Upgrade`]: a websocket: send the head, then give the
//!   [`Upgrade`] the connection once the server hands it over
//!   ([`Upgrade::spawn`]), or, where the framework keeps the connection,
//!   its request body's bytes ([`Upgrade::into_byte_stream`]).
//!
//! What happens here and nowhere else: the endpoint's timer task (started
//! on the first request, again if its task died), the request's clock and
//! entropy, reading a send body up to its limit (413 beyond), answering a
//! poll in one write, spawning the application's task, websockets over
//! HTTP/2 (RFC 8441), and each websocket connection's pump with its rules:
//! reading only while the session's inbox has room, the application
//! running inside the connection's task, a write blocked by a client that
//! stopped reading abandoned once the session stalls, and the end of the
//! connection: the server's FIN right after its close frame (RFC 6455
//! §7.1.1), then a bounded drain of what the client still sends.
//!
//! Tasks are spawned with `tokio::spawn`: call [`serve`] inside a tokio
//! runtime (actix-web's workers are tokio runtimes too).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, Bytes};
use futures_core::Stream;
use sockjs_core::{Dispatch, Endpoint, ReceiverBody};

mod body;
mod context;
mod rfc8441;
mod websocket;

pub use body::{send_body, whole_response};
pub use context::{entropy, request_context};
pub use websocket::{linger, ResponseBytes, Upgrade, LINGER, LINGER_BYTES};

/// A request for [`serve`]: what an adapter knows of it.
#[derive(Debug)]
pub struct Request<B> {
    /// The request head.
    pub head: http::request::Parts,
    /// The request body, as a stream of chunks.
    pub body: B,
    /// The client's address, if the server knows it.
    pub remote_addr: Option<SocketAddr>,
    /// An HTTP/2 extended CONNECT (RFC 8441) whose `:protocol` is
    /// `websocket`: the server's way of telling it from other CONNECTs.
    pub extended_connect: bool,
}

impl<B> Request<B> {
    /// A request with this head and body, from an unknown peer.
    pub fn new(head: http::request::Parts, body: B) -> Request<B> {
        Request { head, body, remote_addr: None, extended_connect: false }
    }
}

/// What to answer a request with. Exhaustive: a new case is a compile
/// error in every adapter.
#[derive(Debug)]
pub enum Reply {
    /// This whole response.
    Full(http::Response<Bytes>),
    /// This head, then each chunk of the body flushed as it comes.
    Stream(http::Response<ReceiverBody>),
    /// This head (101, or 200 for RFC 8441), then the websocket.
    Upgrade(http::Response<()>, Upgrade),
}

/// Carries out what the engine decides for one request under the
/// endpoint's prefix (see the crate docs).
pub async fn serve<B, D, E>(endpoint: &Endpoint, request: Request<B>) -> Reply
where
    B: Stream<Item = Result<D, E>>,
    D: Buf,
{
    start_timers(endpoint);
    let Request { mut head, body, remote_addr, extended_connect } = request;
    if extended_connect {
        rfc8441::present_as_upgrade(&mut head);
    }
    match endpoint.handle(&head, request_context(remote_addr)) {
        Dispatch::Response(response) => Reply::Full(response),
        Dispatch::ReadBody(pending) => Reply::Full(send_body(pending, body).await),
        Dispatch::Stream { response, task } => {
            spawn(task);
            if response.body().is_single_frame() {
                Reply::Full(whole_response(response).await)
            } else {
                Reply::Stream(response)
            }
        }
        Dispatch::WebSocket(upgrade) => {
            let mut response = upgrade.response();
            if extended_connect {
                rfc8441::answer(&mut response);
            }
            Reply::Upgrade(response, Upgrade::new(upgrade))
        }
    }
}

/// Starts the endpoint's timer task on tokio unless it runs
/// ([`Endpoint::timer_task`]); [`serve`] calls it on every request.
pub fn start_timers(endpoint: &Endpoint) {
    if let Some(task) = endpoint.timer_task(Instant::now, |at| tokio::time::sleep_until(at.into())) {
        drop(tokio::spawn(task));
    }
}

fn spawn(task: Option<sockjs_core::AppTask>) {
    if let Some(task) = task {
        drop(tokio::spawn(task));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use sockjs_core::{Options, Session};

    fn request(method: &str, path: &str) -> Request<futures_core::stream::BoxStream<'static, Result<Bytes, ()>>> {
        let head = http::Request::builder().method(method).uri(path).body(()).unwrap().into_parts().0;
        Request::new(head, Box::pin(Body(Some(Bytes::from_static(b"[\"x\"]")))))
    }

    struct Body(Option<Bytes>);

    impl Stream for Body {
        type Item = Result<Bytes, ()>;
        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Bytes, ()>>> {
            std::task::Poll::Ready(self.get_mut().0.take().map(Ok))
        }
    }

    /// PROTOCOL.md §7.4, §7.5, §7.6: a poll is answered whole (the
    /// opening `o`), a send is read and answered 204, a streaming request
    /// is a stream, a websocket request an upgrade; the timer task starts
    /// once.
    #[tokio::test]
    async fn every_kind_of_reply() {
        let endpoint = Endpoint::new(Options::new("/echo"), |mut session: Session| async move {
            while let Some(m) = session.recv().await {
                let _ = session.send(m);
            }
        });
        let Reply::Full(open) = serve(&endpoint, request("POST", "/echo/0/s/xhr")).await else { panic!("whole") };
        assert_eq!(open.body(), &Bytes::from_static(b"o\n"));
        let Reply::Full(sent) = serve(&endpoint, request("POST", "/echo/0/s/xhr_send")).await else { panic!() };
        assert_eq!(sent.status(), 204);
        let Reply::Full(echo) = serve(&endpoint, request("POST", "/echo/0/s/xhr")).await else { panic!() };
        assert_eq!(echo.body(), &Bytes::from_static(b"a[\"x\"]\n"));
        let Reply::Stream(_) = serve(&endpoint, request("POST", "/echo/0/t/xhr_streaming")).await else { panic!() };
        let mut ws = request("GET", "/echo/0/w/websocket");
        for (name, value) in [
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ] {
            ws.head.headers.insert(name, http::HeaderValue::from_static(value));
        }
        let Reply::Upgrade(head, _) = serve(&endpoint, ws).await else { panic!("an upgrade") };
        assert_eq!(head.status(), 101);
        assert!(endpoint.timer_task(Instant::now, |_| std::future::pending::<()>()).is_none(), "running");
    }
}
