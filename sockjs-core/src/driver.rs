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

/// Glue for drivers that run websockets with tungstenite (through
/// tokio-tungstenite or otherwise), behind the `tungstenite` feature. With
/// tokio, `tokio::run_websocket` (feature `tokio`) uses it for the whole
/// connection; a driver on another runtime does the same steps:
///
/// ```text
/// let config = driver::tungstenite::config(upgrade.max_message_size());
/// let socket = /* a tungstenite WebSocketStream over the upgraded io, with config */;
/// let (sink, stream) = socket.split();
/// let (mut ws, task) = upgrade.accept(now);
/// ws.run_app(task);
/// let unfinished = ws.run(stream, driver::tungstenite::incoming, &mut driver::tungstenite::Sink(sink), clock).await;
/// ```
#[cfg(feature = "tungstenite")]
pub mod tungstenite {
    use std::future::poll_fn;
    use std::pin::Pin;

    use tungstenite::protocol::frame::{CloseFrame, Utf8Bytes};
    use tungstenite::protocol::WebSocketConfig;
    use tungstenite::{Error, Message};

    use crate::{Closed, WsIncoming, WsOutgoing, WsSink};

    /// What tungstenite read, as [`crate::WebSocket::handle`] takes it.
    pub fn incoming(message: Result<Message, Error>) -> WsIncoming<Utf8Bytes> {
        match message {
            Ok(Message::Text(text)) => WsIncoming::Text(text),
            Ok(Message::Binary(data)) => WsIncoming::Binary(data),
            // tungstenite answers pings itself.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => WsIncoming::Pong,
            Ok(Message::Close(_)) => WsIncoming::Close,
            Err(Error::Capacity(_)) => WsIncoming::TooLarge,
            Err(_) => WsIncoming::Error,
        }
    }

    /// What the engine outputs, as a tungstenite message.
    pub fn outgoing(output: WsOutgoing) -> Result<Message, Closed> {
        Ok(match output {
            // The engine's frames are UTF-8 text.
            WsOutgoing::Text(text) => Message::Text(Utf8Bytes::try_from(text).map_err(|_| Closed)?),
            WsOutgoing::Pong(data) => Message::Pong(data),
            WsOutgoing::Close { code, reason } => {
                Message::Close(Some(CloseFrame { code: code.into(), reason: Utf8Bytes::from(reason.into_owned()) }))
            }
        })
    }

    /// The connection settings for a session: reads of at most 4 KiB at a
    /// time (tungstenite's default 128 KiB buffer would dominate an idle
    /// session's memory) and messages and frames of at most
    /// `max_message_size` ([`crate::WebSocketUpgrade::max_message_size`]).
    pub fn config(max_message_size: usize) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(4096)
            .max_message_size(Some(max_message_size))
            .max_frame_size(Some(max_message_size))
    }

    /// A [`WsSink`] over the sending half of a tungstenite connection
    /// (any `futures` sink of messages, such as a split
    /// `tokio_tungstenite::WebSocketStream`).
    #[derive(Debug)]
    pub struct Sink<S>(pub S);

    impl<S> WsSink<WsOutgoing> for Sink<S>
    where
        S: futures_sink::Sink<Message> + Unpin + Send,
    {
        async fn send(&mut self, output: WsOutgoing) -> Result<(), Closed> {
            let message = outgoing(output)?;
            let sink = &mut self.0;
            poll_fn(|cx| Pin::new(&mut *sink).poll_ready(cx)).await.map_err(|_| Closed)?;
            Pin::new(&mut *sink).start_send(message).map_err(|_| Closed)?;
            poll_fn(|cx| Pin::new(&mut *sink).poll_flush(cx)).await.map_err(|_| Closed)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn mapping() {
            assert_eq!(incoming(Ok(Message::text("a"))), WsIncoming::Text(Utf8Bytes::from("a")));
            assert_eq!(incoming(Ok(Message::Close(None))), WsIncoming::Close);
            let close = outgoing(WsOutgoing::Close { code: 3000, reason: "Go away!".into() }).unwrap();
            assert_eq!(close, Message::Close(Some(CloseFrame { code: 3000.into(), reason: "Go away!".into() })));
            assert_eq!(config(100).max_message_size, Some(100));
        }
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
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::WebSocketStream;

    use crate::{Closed, WebSocketUpgrade, WsSink};

    /// How long a closed websocket connection keeps reading what the
    /// client still sends before it is dropped.
    pub const LINGER: Duration = Duration::from_secs(2);
    /// How many bytes it reads at most meanwhile.
    pub const LINGER_BYTES: u64 = 64 * 1024;

    /// Runs the session of `upgrade` over `io`, the connection hyper (or
    /// another server) handed over after sending
    /// [`WebSocketUpgrade::response`]: RFC 6455 through tokio-tungstenite
    /// with [`super::tungstenite::config`], or Hixie-76. The session opens
    /// when this is called; the returned future runs it, with the
    /// application inside the connection's task
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
        let hixie = upgrade.hixie76().cloned();
        let config = super::tungstenite::config(upgrade.max_message_size());
        let (mut ws, task) = upgrade.accept(Instant::now());
        ws.run_app(task);
        // One allocation of exactly the protocol's own future: an `async`
        // block choosing between the two would hold the driver and the
        // connection twice (its captures, and the chosen future's).
        let run: Pin<Box<dyn Future<Output = ()> + Send>> = match hixie {
            Some(hixie) => Box::pin(run_hixie76(hixie, ws, io)),
            None => Box::pin(run_rfc6455(config, ws, io)),
        };
        run
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

    async fn run_hixie76<IO>(hixie: crate::Hixie76, ws: crate::WebSocket, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (reader, writer) = tokio::io::split(io);
        let mut incoming = ByteStream { reader, buf: BytesMut::new() };
        let mut sink = ByteSink(writer);
        spawn(hixie.run(ws, &mut incoming, &mut sink, Instant::now).await);
        linger(incoming.reader.unsplit(sink.0)).await;
    }

    async fn run_rfc6455<IO>(
        config: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
        ws: crate::WebSocket,
        io: IO,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        let (mut socket, sink) = split(socket);
        let mut sink = super::tungstenite::Sink(sink);
        spawn(ws.run(&mut socket, super::tungstenite::incoming, &mut sink, Instant::now).await);
        drop(sink);
        if let Some(socket) = socket.into_inner() {
            linger(socket.into_inner()).await;
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

    /// One websocket stream used as both halves without a lock: the run
    /// loop reads and writes from one task, one at a time.
    struct Shared<S>(std::sync::Arc<std::sync::Mutex<Option<S>>>);

    fn split<S>(socket: S) -> (Shared<S>, Shared<S>) {
        let cell = std::sync::Arc::new(std::sync::Mutex::new(Some(socket)));
        (Shared(cell.clone()), Shared(cell))
    }

    impl<S> Shared<S> {
        fn into_inner(self) -> Option<S> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
        }

        fn with<R>(&self, f: impl FnOnce(Pin<&mut S>) -> R, gone: R) -> R
        where
            S: Unpin,
        {
            match self.0.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                Some(s) => f(Pin::new(s)),
                None => gone,
            }
        }
    }

    impl<S: Stream + Unpin> Stream for Shared<S> {
        type Item = S::Item;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
            self.with(|s| s.poll_next(cx), Poll::Ready(None))
        }
    }

    impl<M, S: futures_sink::Sink<M> + Unpin> futures_sink::Sink<M> for Shared<S> {
        type Error = S::Error;

        fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.with(|s| s.poll_ready(cx), Poll::Pending)
        }

        fn start_send(self: Pin<&mut Self>, item: M) -> Result<(), S::Error> {
            self.with(|s| s.start_send(item), Ok(()))
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.with(|s| s.poll_flush(cx), Poll::Ready(Ok(())))
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.with(|s| s.poll_close(cx), Poll::Ready(Ok(())))
        }
    }

    /// Raw bytes read from a connection, at most 8 KiB at a time.
    struct ByteStream<R> {
        reader: ReadHalf<R>,
        buf: BytesMut,
    }

    impl<R: AsyncRead> Stream for ByteStream<R> {
        type Item = Bytes;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
            let this = self.get_mut();
            this.buf.resize(8192, 0);
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

    impl<W: AsyncWrite + Send> WsSink<Bytes> for ByteSink<W> {
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
