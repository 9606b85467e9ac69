//! Request bodies in and whole responses out: what every server does the
//! same way around the engine's `Dispatch`.

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use http::Response;
use sockjs_core::{PendingBody, ReceiverBody};

/// Reads a send request's body from `body`, at most
/// [`PendingBody::limit`] bytes (413 beyond), delivers its messages and
/// returns the response, after waiting for room in the session's inbox if
/// it was full. A body that fails to arrive is answered 400
/// ([`PendingBody::broken`]: the engine's headers, counted).
pub async fn send_body<S, B, E>(pending: PendingBody, body: S) -> Response<Bytes>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let limit = pending.limit();
    let mut collected = BytesMut::new();
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let Ok(mut chunk) = chunk else { return pending.broken() };
        if collected.len() + chunk.remaining() > limit {
            return pending.too_large();
        }
        while chunk.has_remaining() {
            let piece = chunk.chunk();
            collected.extend_from_slice(piece);
            let n = piece.len();
            chunk.advance(n);
        }
    }
    pending.finish(&collected, Instant::now()).await
}

/// Waits for the frame of a single-frame response
/// ([`ReceiverBody::is_single_frame`]: xhr-polling, jsonp-polling) and
/// returns the response whole, so that its head and frame go out in one
/// write. Streamed, a long poll's head is written as soon as the response
/// exists and its frame when it comes: two writes where one does
/// (BENCHMARKS.md, "Where the time goes"). Dropping the future while it
/// waits is the client going away, as dropping the body would be.
pub async fn whole_response(response: Response<ReceiverBody>) -> Response<Bytes> {
    let (head, mut body) = response.into_parts();
    let mut chunks = Vec::with_capacity(1);
    while let Some(chunk) = std::future::poll_fn(|cx| body.poll_chunk(cx, Instant::now())).await {
        chunks.push(chunk);
    }
    let whole = match chunks.len() {
        1 => chunks.pop().unwrap_or_default(),
        _ => chunks.concat().into(),
    };
    Response::from_parts(head, whole)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::time::SystemTime;

    use super::*;

    /// PROTOCOL.md §7.4: an xhr poll is one frame; sent whole, its head
    /// and frame are one response body, and a waiting poll is answered
    /// once the frame is there (the future pends meanwhile). Streaming
    /// transports are not single-frame.
    #[test]
    fn a_poll_is_sent_whole_once_its_frame_is_there() {
        use std::task::{Context, Poll, Waker};

        use sockjs_core::{Dispatch, Endpoint, Options, RequestContext, Session};

        let (tx, rx) = std::sync::mpsc::channel::<Session>();
        let tx = std::sync::Mutex::new(tx);
        let endpoint = Endpoint::new(Options::new("/echo"), move |session: Session| {
            let _ = tx.lock().map(|tx| tx.send(session));
            std::future::pending::<()>()
        });
        let dispatch = |path: &str| {
            let request = http::Request::post(path).body(()).unwrap_or_default().into_parts().0;
            let cx =
                RequestContext { now: Instant::now(), wall_clock: SystemTime::now(), entropy: 1, remote_addr: None };
            match endpoint.handle(&request, cx) {
                Dispatch::Stream { response, task } => (response, task),
                _ => panic!("{path}: not a stream"),
            }
        };
        let mut cx = Context::from_waker(Waker::noop());

        let (opening, mut task) = dispatch("/echo/000/s/xhr");
        assert!(opening.body().is_single_frame());
        let _ = task.as_mut().map(|t| t.as_mut().poll(&mut cx));
        let session = rx.try_recv().expect("the application got its session");
        let mut whole = std::pin::pin!(whole_response(opening));
        let Poll::Ready(response) = whole.as_mut().poll(&mut cx) else { panic!("the open frame is ready") };
        assert_eq!(response.body(), &Bytes::from_static(b"o\n"));

        let (waiting, _) = dispatch("/echo/000/s/xhr");
        let mut whole = std::pin::pin!(whole_response(waiting));
        assert!(whole.as_mut().poll(&mut cx).is_pending(), "a long poll waits for its frame");
        session.send("hi").expect("open");
        let Poll::Ready(response) = whole.as_mut().poll(&mut cx) else { panic!("the frame came") };
        assert_eq!(response.body(), &Bytes::from_static(b"a[\"hi\"]\n"));

        let (streaming, _) = dispatch("/echo/000/s/xhr_streaming");
        assert!(!streaming.body().is_single_frame());
    }

    /// A send body that fails on the way is answered with the engine's
    /// 400: the URL's CORS and no-cache headers, counted as rejected.
    #[test]
    fn a_broken_body_gets_the_engines_400() {
        use std::task::{Context, Poll, Waker};

        use sockjs_core::{Dispatch, Endpoint, Options, RequestContext};

        let endpoint = Endpoint::new(Options::new("/echo"), |_| std::future::pending::<()>());
        let request = http::Request::post("/echo/000/s/xhr_send")
            .header("origin", "https://app.example")
            .body(())
            .unwrap_or_default()
            .into_parts()
            .0;
        let cx = RequestContext { now: Instant::now(), wall_clock: SystemTime::now(), entropy: 1, remote_addr: None };
        let Dispatch::ReadBody(pending) = endpoint.handle(&request, cx) else { panic!("a send reads its body") };
        let before = endpoint.metrics().requests_rejected;
        let mut send = std::pin::pin!(send_body(pending, Broken(true)));
        let Poll::Ready(response) = send.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
            panic!("a broken body is answered at once")
        };
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example");
        assert!(response.headers()["cache-control"].to_str().is_ok_and(|v| v.contains("no-cache")));
        assert_eq!(endpoint.metrics().requests_rejected, before + 1);
    }

    /// A body whose first chunk is an error.
    struct Broken(bool);

    impl futures_core::Stream for Broken {
        type Item = Result<Bytes, ()>;
        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Bytes, ()>>> {
            let first = std::mem::replace(&mut self.get_mut().0, false);
            std::task::Poll::Ready(first.then_some(Err(())))
        }
    }
}
