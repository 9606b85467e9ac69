//! What every driver (an adapter, or a server of your own) needs beyond
//! translating types: the request context, reading a send body up to its
//! limit, and running the endpoint's timers exactly once.
//!
//! This is the only module of the crate that reads the system clock or a
//! random source, and the engine never calls it: it exists so that every
//! driver does these things the same way. It needs no particular runtime.

use std::future::Future;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use http::{Response, StatusCode};

use crate::{Endpoint, PendingBody, ReceiverBody, RequestContext};

/// 32 random bits for `/info`'s `entropy`.
///
/// Each call hashes with fresh randomly-keyed SipHash state, so values
/// differ between calls. Not for cryptographic use (neither is the field).
pub fn entropy() -> u32 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u8(0);
    let h = hasher.finish();
    (h ^ (h >> 32)) as u32
}

/// A [`RequestContext`] for a request arriving now from `remote_addr`.
pub fn request_context(remote_addr: Option<SocketAddr>) -> RequestContext {
    RequestContext { now: Instant::now(), wall_clock: SystemTime::now(), entropy: entropy(), remote_addr }
}

/// Reads a send request's body from `body`, at most
/// [`PendingBody::limit`] bytes (413 beyond), delivers its messages and
/// returns the response, after waiting for room in the session's inbox if
/// it was full. A body that fails to arrive is answered 400.
pub async fn send_body<S, B, E>(pending: PendingBody, body: S) -> Response<Bytes>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let limit = pending.limit();
    let mut collected = BytesMut::new();
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let Ok(mut chunk) = chunk else {
            let mut response = Response::new(Bytes::from_static(b"Broken request body.\n"));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        };
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

/// A boxed timer task, for [`start_timers`]'s `spawn`.
pub type TimerTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Starts the endpoint's timer task ([`Endpoint::run_timers`], reading
/// [`Instant::now`]) unless it is running: call it on every request, it
/// costs one atomic load when the task runs. If the task goes away (its
/// runtime or worker stopped), the next call starts it again. With tokio:
/// `driver::start_timers(&endpoint, |at| tokio::time::sleep_until(at.into()),
/// |task| drop(tokio::spawn(task)))`.
pub fn start_timers<S, F>(endpoint: &Endpoint, sleep_until: S, spawn: impl FnOnce(TimerTask))
where
    S: Fn(Instant) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let running = endpoint.timers_running();
    if running.load(Ordering::Acquire) || running.swap(true, Ordering::AcqRel) {
        return;
    }
    let guard = Running(running.clone());
    let timers = endpoint.run_timers(Instant::now, sleep_until);
    spawn(Box::pin(async move {
        let _guard = guard;
        timers.await;
    }));
}

/// Clears the "timers running" flag when the timer task goes away.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Websocket connections on tokio, behind the `tokio` feature: what a
/// hyper-based driver does once the `101` went out and hyper handed the
/// connection over.
#[cfg(feature = "tokio")]
pub mod tokio {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    use bytes::{Bytes, BytesMut};
    use futures_core::Stream;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};

    use crate::{Closed, WebSocketUpgrade, WsSink};

    /// How long a closed websocket connection keeps reading what the
    /// client still sends before it is dropped.
    pub const LINGER: Duration = Duration::from_secs(2);
    /// How many bytes it reads at most meanwhile.
    pub const LINGER_BYTES: u64 = 64 * 1024;

    /// Runs the session of `upgrade` over `io`, the connection hyper (or
    /// another server) handed over after sending
    /// [`WebSocketUpgrade::response`]: RFC 6455 or Hixie-76, framed by the
    /// engine. The session opens when this is called; the returned future
    /// runs it, with the application inside the connection's task
    /// ([`crate::WebSocket::run_app`]); if the application is not done when
    /// the connection ends, it is spawned with `tokio::spawn` to finish.
    /// The future ends once the connection is closed; see [`linger`] for
    /// how it ends.
    ///
    /// The upgrade request is used up before the future exists, so an idle
    /// connection's task holds only the connection and the session's driver
    /// (the future was 3.4 KB while it also kept the request; see
    /// BENCHMARKS.md, idle memory).
    pub fn run_websocket<IO>(upgrade: WebSocketUpgrade, io: IO) -> impl Future<Output = ()> + Send + 'static
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut ws, task) = upgrade.accept(Instant::now());
        ws.run_app(task);
        async move {
            let (reader, writer) = tokio::io::split(io);
            let mut incoming = ByteStream { reader, buf: BytesMut::new() };
            let mut sink = ByteSink(writer);
            spawn(ws.run(&mut incoming, &mut sink, Instant::now).await);
            linger(incoming.reader.unsplit(sink.0)).await;
        }
    }

    /// Spawns the session of `upgrade` on tokio: once `connection` yields
    /// the upgraded connection (hyper's `OnUpgrade`, made a tokio
    /// connection), [`run_websocket`] runs it; if it fails, the session
    /// never opens. This is all a hyper-based adapter does after answering
    /// with [`WebSocketUpgrade::response`].
    pub fn spawn_websocket<F, IO, E>(upgrade: WebSocketUpgrade, connection: F)
    where
        F: Future<Output = Result<IO, E>> + Send + 'static,
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Boxed, so the task's future does not keep room for the request
        // after the session took it.
        let upgrade = Box::new(upgrade);
        drop(tokio::spawn(async move {
            let Ok(io) = connection.await else { return };
            // The box goes as the session takes the request out of it.
            let run = {
                let upgrade = upgrade;
                run_websocket(*upgrade, io)
            };
            run.await;
        }));
    }

    fn spawn(task: Option<crate::AppTask>) {
        if let Some(task) = task {
            drop(tokio::spawn(task));
        }
    }

    /// Ends a connection the way careful servers do: a FIN at once, then
    /// read and discard what the client still sends (its close frame, say)
    /// until it closes too, for at most [`LINGER`] and [`LINGER_BYTES`].
    /// Dropping a socket with unread bytes, or before the client's close
    /// frame arrives, would answer with a reset, and the client would see
    /// that instead of the end of the stream (PROTOCOL.md §2, §7.10).
    pub async fn linger<IO: AsyncRead + AsyncWrite + Unpin>(mut io: IO) {
        if io.shutdown().await.is_ok() {
            let mut rest = (&mut io).take(LINGER_BYTES);
            let _ = tokio::time::timeout(LINGER, tokio::io::copy(&mut rest, &mut tokio::io::sink())).await;
        }
    }

    /// Raw bytes read from a connection, at most 4 KiB at a time (a
    /// larger buffer would dominate an idle session's memory).
    struct ByteStream<R> {
        reader: ReadHalf<R>,
        buf: BytesMut,
    }

    impl<R: AsyncRead> Stream for ByteStream<R> {
        type Item = Bytes;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
            let this = self.get_mut();
            this.buf.resize(4096, 0);
            let mut read = ReadBuf::new(&mut this.buf);
            match Pin::new(&mut this.reader).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                    let n = read.filled().len();
                    Poll::Ready(Some(this.buf.split_to(n).freeze()))
                }
                Poll::Ready(_) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        }
    }

    /// Raw bytes written to a connection, flushed each time.
    struct ByteSink<W>(WriteHalf<W>);

    impl<W: AsyncWrite + Send> WsSink for ByteSink<W> {
        async fn send(&mut self, bytes: Bytes) -> Result<(), Closed> {
            self.0.write_all(&bytes).await.map_err(|_| Closed)?;
            self.0.flush().await.map_err(|_| Closed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_differs_between_calls() {
        let values: std::collections::HashSet<u32> = (0..100).map(|_| entropy()).collect();
        assert!(values.len() > 95, "{} distinct values of 100", values.len());
    }

    /// PROTOCOL.md §7.4: an xhr poll is one frame; sent whole, its head
    /// and frame are one response body, and a waiting poll is answered
    /// once the frame is there (the future pends meanwhile). Streaming
    /// transports are not single-frame.
    #[test]
    fn a_poll_is_sent_whole_once_its_frame_is_there() {
        use std::task::{Context, Poll, Waker};

        use crate::{Dispatch, Session};

        let (tx, rx) = std::sync::mpsc::channel::<Session>();
        let tx = std::sync::Mutex::new(tx);
        let endpoint = Endpoint::new(crate::Options::new("/echo"), move |session: Session| {
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

    #[test]
    fn timers_start_once_and_again_after_their_task_died() {
        let endpoint = Endpoint::new(crate::Options::new("/t"), |_: crate::Session| async {});
        let mut tasks = Vec::new();
        let sleep = |_: Instant| std::future::pending::<()>();
        start_timers(&endpoint, sleep, |t| tasks.push(t));
        start_timers(&endpoint, sleep, |t| tasks.push(t));
        assert_eq!(tasks.len(), 1, "one timer task per endpoint");
        tasks.clear();
        start_timers(&endpoint, sleep, |t| tasks.push(t));
        assert_eq!(tasks.len(), 1, "started again once the task was dropped");
    }
}
