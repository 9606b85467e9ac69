//! Websocket connections: the pump between a connection's bytes and the
//! engine's [`WebSocket`], the application inside the connection's task,
//! and the end of the connection.

use std::future::{poll_fn, Future};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;
use sockjs_core::{AppTask, WebSocket, WebSocketUpgrade};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// How long a closed websocket connection keeps reading what the client
/// still sends (its close frame, say) before it is dropped.
pub const LINGER: Duration = Duration::from_secs(2);
/// How many bytes it reads at most meanwhile.
pub const LINGER_BYTES: u64 = 64 * 1024;
/// The most bytes one read of a websocket connection takes (a larger
/// buffer would dominate an idle session's memory).
const READ_SIZE: usize = 4096;

/// A websocket request the engine accepted: once its head went out, give
/// it the connection. The session opens then.
#[derive(Debug)]
pub struct Upgrade {
    // Boxed: the request it holds is large, and an idle connection's task
    // must not keep room for it once the session took it.
    upgrade: Box<WebSocketUpgrade>,
}

impl Upgrade {
    pub(crate) fn new(upgrade: WebSocketUpgrade) -> Upgrade {
        Upgrade { upgrade: Box::new(upgrade) }
    }

    /// Spawns the session: once `connection` yields the upgraded
    /// connection (hyper's `OnUpgrade` made a tokio connection, say), the
    /// session runs over it, and the connection ends with a FIN and a
    /// bounded drain ([`linger`]). If `connection` fails, the session never
    /// opens.
    pub fn spawn<F, IO, E>(self, connection: F)
    where
        F: Future<Output = Result<IO, E>> + Send + 'static,
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        drop(tokio::spawn(async move {
            let Ok(io) = connection.await else { return };
            let run = self.run(io);
            run.await;
        }));
    }

    /// What servers that hand upgraded connections over (hyper's
    /// `OnUpgrade`) do with [`Reply::Upgrade`](crate::Reply::Upgrade):
    /// with a `connection` to come, spawns the session on it
    /// ([`Upgrade::spawn`]) and returns `head`, the response to send
    /// first; with none (the server cannot upgrade this request), returns
    /// the engine's 400 instead ([`Upgrade::refuse`]) and no session opens.
    pub fn hand_over<F, IO, E>(self, head: http::Response<()>, connection: Option<F>) -> http::Response<Bytes>
    where
        F: Future<Output = Result<IO, E>> + Send + 'static,
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        match connection {
            Some(connection) => {
                self.spawn(connection);
                head.map(|()| Bytes::new())
            }
            None => self.refuse(),
        }
    }

    /// The answer when the server cannot hand the connection over after
    /// all: 400 with the engine's headers, counted in the endpoint's
    /// metrics. No session opens.
    pub fn refuse(self) -> http::Response<Bytes> {
        self.upgrade.refuse()
    }

    /// Runs the session over `io` until the connection is closed (see
    /// [`Upgrade::spawn`], which spawns this).
    pub fn run<IO>(self, io: IO) -> impl Future<Output = ()> + Send + 'static
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ws = self.accept();
        async move {
            let (reader, writer) = tokio::io::split(io);
            let mut incoming = ReadChunks { reader };
            let mut sink = WriteAll(writer);
            spawn(pump(ws, &mut incoming, &mut sink).await);
            linger(incoming.reader.unsplit(sink.0)).await;
        }
    }

    /// For servers that keep the upgraded connection themselves (actix-web
    /// answers a 101 with a streaming body and reads on as the request's
    /// payload): the session over `incoming`, the bytes after the request
    /// head. Returns the session's future, to spawn as the server spawns
    /// its request tasks (`incoming` need not be `Send`), and the stream of
    /// what to write, the response body. When the stream ends, close the
    /// connection at once: the server's FIN follows its close frame
    /// (RFC 6455 §7.1.1).
    pub fn into_byte_stream<S>(self, incoming: S) -> (impl Future<Output = ()> + 'static, ResponseBytes)
    where
        S: Stream<Item = Bytes> + Unpin + 'static,
    {
        // One write in flight: a client that stops reading blocks the
        // session's next write (and its stall rule ends it), not a queue.
        let (mut sink, bytes) = handoff();
        let ws = self.accept();
        let run = async move {
            let mut incoming = incoming;
            spawn(pump(ws, &mut incoming, &mut sink).await);
        };
        (run, bytes)
    }

    fn accept(self) -> WebSocket {
        let (mut ws, task) = self.upgrade.accept(Instant::now());
        // The application runs in the connection's task while the
        // connection lasts, and is spawned to finish after it.
        ws.run_app(task);
        ws
    }
}

/// The bytes a websocket session writes, for a server that keeps the
/// connection ([`Upgrade::into_byte_stream`]).
#[derive(Debug)]
pub struct ResponseBytes(Arc<Mutex<Slot>>);

impl Stream for ResponseBytes {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut slot = lock(&self.0);
        if let Some(bytes) = slot.bytes.take() {
            let sender = slot.sender.take();
            drop(slot);
            wake(sender);
            return Poll::Ready(Some(bytes));
        }
        if slot.closed {
            return Poll::Ready(None);
        }
        park(&mut slot.receiver, cx);
        Poll::Pending
    }
}

impl Drop for ResponseBytes {
    fn drop(&mut self) {
        let mut slot = lock(&self.0);
        slot.closed = true;
        let (bytes, sender) = (slot.bytes.take(), slot.sender.take());
        drop(slot);
        drop(bytes);
        wake(sender);
    }
}

/// One write handed from the pump to the server's response body
/// ([`handoff`]): the pump waits while it is full, the body while it is
/// empty, and either side's end is `closed` for the other. (tokio's
/// bounded channel allocates a block of 32 slots up front, 1.5 KiB of
/// every idle actix websocket's heap, against about 100 bytes for this:
/// 17.0 to 15.5 KiB of RSS per idle session. The futures channel holds
/// 200 bytes but parks the sender and allocates for every message: an
/// actix echo of 32 B messages went from 3.0-3.3 to 3.8-4.5 µs per
/// message with it, and is within its run-to-run spread with this.)
#[derive(Debug, Default)]
struct Slot {
    bytes: Option<Bytes>,
    closed: bool,
    sender: Option<Waker>,
    receiver: Option<Waker>,
}

/// The two ends of a [`Slot`].
fn handoff() -> (Channel, ResponseBytes) {
    let slot = Arc::new(Mutex::new(Slot::default()));
    (Channel(slot.clone()), ResponseBytes(slot))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps `cx`'s waker in `waiting` (not cloned again when it is the same).
fn park(waiting: &mut Option<Waker>, cx: &Context<'_>) {
    if !waiting.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *waiting = Some(cx.waker().clone());
    }
}

/// Wakes whoever was parked, if anyone (call it with no lock held).
fn wake(parked: Option<Waker>) {
    if let Some(waker) = parked {
        waker.wake();
    }
}

fn spawn(task: Option<AppTask>) {
    if let Some(task) = task {
        drop(tokio::spawn(task));
    }
}

/// Ends a connection the way careful servers do: a FIN at once, then read
/// and discard what the client still sends (its close frame, say) until
/// it closes too, for at most [`LINGER`] and [`LINGER_BYTES`]. Dropping a
/// socket with unread bytes, or before the client's close frame arrives,
/// would answer with a reset, and the client would see that instead of
/// the end of the stream (PROTOCOL.md §2, §7.10).
pub async fn linger<IO: AsyncRead + AsyncWrite + Unpin>(mut io: IO) {
    if io.shutdown().await.is_ok() {
        let mut rest = (&mut io).take(LINGER_BYTES);
        let _ = tokio::time::timeout(LINGER, tokio::io::copy(&mut rest, &mut tokio::io::sink())).await;
    }
}

/// Where the pump writes. An error means the connection is gone.
trait Sink {
    fn send(&mut self, bytes: Bytes) -> impl Future<Output = Result<(), ()>> + Send;
}

/// Raw bytes read from a connection, at most [`READ_SIZE`] at a time,
/// through a buffer on the stack: each read is copied out at its own size,
/// and a waiting connection holds no read buffer. (A 4 KiB buffer kept
/// per connection made an idle websocket session 8.2 KiB of RSS on warp
/// and axum instead of 4.3, and zeroing it for every read made this the
/// pump's costliest function in a ping-pong profile.)
struct ReadChunks<R> {
    reader: tokio::io::ReadHalf<R>,
}

impl<R: AsyncRead> Stream for ReadChunks<R> {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        let mut storage = [MaybeUninit::<u8>::uninit(); READ_SIZE];
        let mut read = ReadBuf::uninit(&mut storage);
        match Pin::new(&mut this.reader).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                Poll::Ready(Some(Bytes::copy_from_slice(read.filled())))
            }
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Raw bytes written to a connection, flushed each time.
struct WriteAll<W>(tokio::io::WriteHalf<W>);

impl<W: AsyncWrite + Send> Sink for WriteAll<W> {
    async fn send(&mut self, bytes: Bytes) -> Result<(), ()> {
        self.0.write_all(&bytes).await.map_err(drop)?;
        self.0.flush().await.map_err(drop)
    }
}

/// Bytes handed to the server's response body, one write at a time
/// ([`Slot`]).
struct Channel(Arc<Mutex<Slot>>);

impl Sink for Channel {
    async fn send(&mut self, bytes: Bytes) -> Result<(), ()> {
        let mut bytes = Some(bytes);
        poll_fn(|cx| {
            let mut slot = lock(&self.0);
            if slot.closed {
                return Poll::Ready(Err(()));
            }
            if slot.bytes.is_some() {
                park(&mut slot.sender, cx);
                return Poll::Pending;
            }
            slot.bytes = bytes.take();
            let receiver = slot.receiver.take();
            drop(slot);
            wake(receiver);
            Poll::Ready(Ok(()))
        })
        .await
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        let mut slot = lock(&self.0);
        slot.closed = true;
        let receiver = slot.receiver.take();
        drop(slot);
        wake(receiver);
    }
}

/// Runs the session over a connection until it ends: feeds what
/// `incoming` yields to the engine, reading only while the session's inbox
/// has room, and writes what it outputs through `sink`. Returns after the
/// close frame was written, or when the connection is gone, with the
/// application task if it is not done: spawn it.
async fn pump<I, S>(mut ws: WebSocket, incoming: &mut I, sink: &mut S) -> Option<AppTask>
where
    I: Stream<Item = Bytes> + Unpin,
    S: Sink,
{
    Coalesced::new(std::pin::pin!(pump_loop(&mut ws, incoming, sink))).await;
    ws.into_app()
}

async fn pump_loop<I, S>(ws: &mut WebSocket, incoming: &mut I, sink: &mut S)
where
    I: Stream<Item = Bytes> + Unpin,
    S: Sink,
{
    loop {
        // What the client sent first: messages that arrived together reach
        // the application together, and its answers leave joined in one
        // frame. The inbox bound keeps this from starving the output; once
        // input is done, only output is left.
        let event = poll_fn(|cx| {
            if !ws.input_done() && ws.poll_ready(cx).is_ready() {
                if let Poll::Ready(item) = Pin::new(&mut *incoming).poll_next(cx) {
                    return Poll::Ready(Event::Input(item));
                }
            }
            ws.poll_transmit(cx, Instant::now()).map(Event::Output)
        })
        .await;
        match event {
            Event::Input(Some(bytes)) => ws.handle_input(&bytes),
            Event::Input(None) => ws.handle_eof(),
            Event::Output(Some(bytes)) => {
                if send_unless_stalled(ws, sink, bytes).await.is_err() {
                    return;
                }
            }
            Event::Output(None) => return,
        }
    }
}

enum Event {
    Output(Option<Bytes>),
    Input(Option<Bytes>),
}

/// Writes `bytes`, unless the session ends as stalled first: a client that
/// stops reading blocks the write, and after two heartbeat delays its
/// session ends and the write is abandoned (`Err`), so that the connection
/// is dropped instead of held.
async fn send_unless_stalled<S: Sink>(ws: &mut WebSocket, sink: &mut S, bytes: Bytes) -> Result<(), ()> {
    let mut send = std::pin::pin!(sink.send(bytes));
    poll_fn(|cx| {
        if let Poll::Ready(result) = send.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        ws.poll_blocked(cx).map(|()| Err(()))
    })
    .await
}

/// A future polled so that the wakes it causes itself while it is being
/// polled (a message in wakes the application running in the same task,
/// the application's send wakes the outgoing side) poll it again at once,
/// in the same turn, instead of scheduling the task once more through the
/// runtime. Wakes from elsewhere (the socket, other sessions, timers) wake
/// the task as usual.
struct Coalesced<F> {
    future: F,
    shared: Arc<CoalescedWake>,
    waker: Waker,
}

/// The waker a [`Coalesced`] future's inner future sees.
#[derive(Default)]
struct CoalescedWake {
    /// The task's own waker.
    outer: Mutex<Option<Waker>>,
    /// Set while the future is being polled.
    polling: AtomicBool,
    /// Set by every wake.
    woken: AtomicBool,
}

impl std::task::Wake for CoalescedWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        if !self.polling.load(SeqCst) {
            if let Some(outer) = lock(&self.outer).as_ref() {
                outer.wake_by_ref();
            }
        }
    }
}

/// How often one poll of a [`Coalesced`] future polls its inner future
/// before it yields to the runtime (fairness toward other tasks).
const COALESCED_POLLS: usize = 16;

impl<F: Future + Unpin> Coalesced<F> {
    fn new(future: F) -> Coalesced<F> {
        let shared = Arc::new(CoalescedWake::default());
        let waker = Waker::from(shared.clone());
        Coalesced { future, shared, waker }
    }
}

impl<F: Future + Unpin> Future for Coalesced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        park(&mut lock(&this.shared.outer), cx);
        this.shared.polling.store(true, SeqCst);
        let mut inner = Context::from_waker(&this.waker);
        for _ in 0..COALESCED_POLLS {
            this.shared.woken.store(false, SeqCst);
            if let Poll::Ready(output) = Pin::new(&mut this.future).poll(&mut inner) {
                this.shared.polling.store(false, SeqCst);
                return Poll::Ready(output);
            }
            if !this.shared.woken.load(SeqCst) {
                break;
            }
        }
        this.shared.polling.store(false, SeqCst);
        // Woken after the last check, or still busy after the last turn.
        if this.shared.woken.load(SeqCst) {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use sockjs_core::{Dispatch, Endpoint, Options, RequestContext, Session};

    use super::*;

    /// Counts wakes of the task's own waker.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// Self-wakes during a poll re-poll at once without waking the task;
    /// a wake from outside a poll wakes it.
    #[test]
    fn coalesced_wakes() {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut turns = 0;
        let stash: Arc<Mutex<Option<Waker>>> = Arc::default();
        let kept = stash.clone();
        let mut future = Coalesced::new(std::future::poll_fn(|cx| {
            turns += 1;
            match turns {
                // Wakes itself three times, as a message in and an answer out do.
                1..=3 => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                4 => {
                    *kept.lock().unwrap() = Some(cx.waker().clone());
                    Poll::Pending
                }
                _ => Poll::Ready(turns),
            }
        }));
        assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Pending);
        assert_eq!(count.0.load(SeqCst), 0, "self-wakes did not wake the task");
        let inner = stash.lock().unwrap().take().unwrap();
        inner.wake();
        assert_eq!(count.0.load(SeqCst), 1, "an outside wake did");
        assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Ready(5));
    }

    /// The handoff holds one write: a second waits until the body took the
    /// first; the body sees the end of the pump after its last write, and
    /// the pump's write fails once the body is gone.
    #[test]
    fn handoff_holds_one_write() {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let (mut tx, mut rx) = handoff();
        let poll_rx = |rx: &mut ResponseBytes, cx: &mut Context<'_>| Pin::new(rx).poll_next(cx);
        assert_eq!(poll_rx(&mut rx, &mut cx), Poll::Pending, "nothing written yet");
        {
            let mut first = std::pin::pin!(tx.send(Bytes::from_static(b"1")));
            assert_eq!(first.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        }
        assert_eq!(count.0.load(SeqCst), 1, "the waiting body was woken");
        {
            let mut second = std::pin::pin!(tx.send(Bytes::from_static(b"2")));
            assert_eq!(second.as_mut().poll(&mut cx), Poll::Pending, "the slot is full");
            assert_eq!(poll_rx(&mut rx, &mut cx), Poll::Ready(Some(Bytes::from_static(b"1"))));
            assert_eq!(count.0.load(SeqCst), 2, "the waiting pump was woken");
            assert_eq!(second.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        }
        drop(tx);
        assert_eq!(poll_rx(&mut rx, &mut cx), Poll::Ready(Some(Bytes::from_static(b"2"))), "the last write first");
        assert_eq!(poll_rx(&mut rx, &mut cx), Poll::Ready(None), "then the end");

        let (mut tx, rx) = handoff();
        drop(rx);
        let mut send = std::pin::pin!(tx.send(Bytes::from_static(b"x")));
        assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Err(())), "no body to write to");
    }

    fn upgrade(endpoint: &Endpoint, headers: &[(&'static str, &'static str)]) -> Upgrade {
        let mut request = http::Request::get("/echo/0/h/websocket");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let head = request.body(()).unwrap().into_parts().0;
        let cx = RequestContext {
            now: Instant::now(),
            wall_clock: std::time::SystemTime::now(),
            entropy: 1,
            remote_addr: None,
        };
        let Dispatch::WebSocket(upgrade) = endpoint.handle(&head, cx) else { panic!("not a websocket") };
        Upgrade::new(upgrade)
    }

    fn echo() -> Endpoint {
        Endpoint::new(Options::new("/echo"), |mut session: Session| async move {
            while let Some(m) = session.recv().await {
                let _ = session.send(m);
            }
        })
    }

    /// PROTOCOL.md §7.10 Hixie-76 end to end over a byte stream: the 16-byte
    /// answer after the client's 8 key bytes (with `o`, ready at the same
    /// time, in the same write), `o` and the echo as draft-76
    /// text frames, and the client's closing handshake answered with the
    /// server's; then the response bytes end.
    #[tokio::test]
    async fn hixie76_over_byte_streams() {
        let endpoint = echo();
        let up = upgrade(
            &endpoint,
            &[
                ("upgrade", "WebSocket"),
                ("connection", "Upgrade"),
                ("host", "127.0.0.1:8081"),
                ("origin", "http://127.0.0.1:8081"),
                ("sec-websocket-key1", "4 @1  46546xW%0l 1 5"),
                ("sec-websocket-key2", "12998 5 Y3 1  .P00"),
            ],
        );
        let (mut tx, rx) = handoff();
        let (run, mut out) = up.into_byte_stream(rx);
        tokio::spawn(run);
        async fn next(out: &mut ResponseBytes) -> Result<Option<Bytes>, tokio::time::error::Elapsed> {
            tokio::time::timeout(Duration::from_secs(5), poll_fn(|cx| Pin::new(&mut *out).poll_next(cx))).await
        }
        tx.send(Bytes::from_static(b"aaaaaaaa")).await.unwrap();
        let answer: &[u8] =
            &[0xca, 0x34, 0x00, 0xd8, 0xa5, 0x08, 0x47, 0x97, 0x2c, 0xd5, 0x71, 0x5a, 0xba, 0xbf, 0x43, 0x7b];
        // The answer and `o` are ready together: one write.
        let first = [answer, b"\x00o\xff"].concat();
        assert_eq!(next(&mut out).await.unwrap().as_deref(), Some(&first[..]));
        tx.send(Bytes::from_static(b"\x00[\"x\"]\xff")).await.unwrap();
        assert_eq!(next(&mut out).await.unwrap().as_deref(), Some(&b"\x00a[\"x\"]\xff"[..]));
        tx.send(Bytes::from_static(b"\xff\x00")).await.unwrap();
        assert_eq!(next(&mut out).await.unwrap().as_deref(), Some(&b"\xff\x00"[..]));
        assert_eq!(next(&mut out).await.unwrap(), None, "the response ends after the closing handshake");
    }

    /// RFC 6455 §5.5.1, §7.1.1 over a real connection: a close from the
    /// client is answered with a close, and the server's FIN follows.
    #[tokio::test]
    async fn a_close_is_answered_then_the_server_closes() {
        let endpoint = echo();
        let up = upgrade(
            &endpoint,
            &[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
        );
        let (server, mut client) = tokio::io::duplex(4096);
        let run = tokio::spawn(up.run(server));
        // A masked close frame with code 1000.
        let mask = [1u8, 2, 3, 4];
        let payload = [0x03u8, 0xe8];
        let mut frame = vec![0x88, 0x80 | 2];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        // `o` first.
        while !seen.ends_with(b"o") {
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0, "the open frame came");
            seen.extend_from_slice(&buf[..n]);
        }
        client.write_all(&frame).await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest))
            .await
            .expect("the server closed")
            .unwrap();
        assert_eq!(rest[0], 0x88, "a close frame: {rest:?}");
        assert_eq!(&rest[2..4], &[0x03, 0xe8]);
        drop(client);
        run.await.unwrap();
    }
}
