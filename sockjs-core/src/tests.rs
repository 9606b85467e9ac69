//! End-to-end tests of the engine, driven like an adapter would drive it,
//! with a simulated clock. Each test names the PROTOCOL.md section it pins.
//! (§9, HTTP/1.0 and 1.1 framing, belongs to the adapters and is checked by
//! the conformance suite in sockjs-tests.)

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderMap, Method, Request, Response, StatusCode};

use crate::frame::Frame;
use crate::payload::{decode_messages, decode_websocket_text};
use crate::websocket::{WsIncoming, WsOutgoing};
use crate::*;

/// A waker that counts how often it was woken.
#[derive(Default)]
struct WakeCounter(AtomicUsize);

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Something polled the way an executor polls it: at once, and after a
/// `Pending` only once its waker was woken. A transition that forgets to
/// wake leaves it stuck, and the test that waits for it fails.
struct Polled<T> {
    inner: T,
    wakes: Arc<WakeCounter>,
    /// The wake count when it last returned `Pending`.
    parked_at: Option<usize>,
}

impl<T> Polled<T> {
    fn new(inner: T) -> Polled<T> {
        Polled { inner, wakes: Arc::default(), parked_at: None }
    }

    fn woken(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }

    /// Polls with `f`, unless it is parked and was not woken since.
    fn poll<R>(&mut self, f: impl FnOnce(&mut T, &mut Context<'_>) -> Poll<R>) -> Poll<R> {
        if self.parked_at.is_some_and(|at| at == self.woken()) {
            return Poll::Pending;
        }
        let before = self.woken();
        let waker = Waker::from(self.wakes.clone());
        let result = f(&mut self.inner, &mut Context::from_waker(&waker));
        self.parked_at = result.is_pending().then_some(before);
        result
    }
}

impl<T> Deref for Polled<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

/// Mutable access feeds it input: it is polled again after that, as a
/// driver polls its output after every input.
impl<T> DerefMut for Polled<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.parked_at = None;
        &mut self.inner
    }
}

type Rx = Polled<ReceiverBody>;
type Ws = Polled<WebSocket>;

/// Application tasks are polled by hand: the handlers below only await
/// `Session::recv`, which needs no runtime.
struct Harness {
    endpoint: Endpoint,
    now: Instant,
    tasks: Vec<Polled<AppTask>>,
    sessions: Arc<Mutex<Vec<Session>>>,
}

#[derive(Clone, Copy)]
enum App {
    /// Echo every message.
    Echo,
    /// Close with 3000 "Go away!" at once.
    Close,
    /// Keep the session in `Harness::sessions`; do nothing else.
    Capture,
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

impl Harness {
    fn new(app: App, options: Options) -> Harness {
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let captured = sessions.clone();
        let handler = move |mut session: Session| {
            let captured = captured.clone();
            async move {
                match app {
                    App::Echo => {
                        while let Some(m) = session.recv().await {
                            let _ = session.send(m);
                        }
                    }
                    App::Close => session.close(3000, "Go away!"),
                    App::Capture => captured.lock().unwrap().push(session),
                }
            }
        };
        Harness { endpoint: Endpoint::new(options, handler), now: Instant::now(), tasks: Vec::new(), sessions }
    }

    /// A harness around any handler (`sessions` stays empty).
    fn with_handler(handler: impl Handler, options: Options) -> Harness {
        let sessions = Arc::new(Mutex::new(Vec::new()));
        Harness { endpoint: Endpoint::new(options, handler), now: Instant::now(), tasks: Vec::new(), sessions }
    }

    fn echo() -> Harness {
        Harness::new(App::Echo, Options::new("/echo").response_limit(4096))
    }

    fn cx(&self) -> RequestContext {
        RequestContext { now: self.now, wall_clock: SystemTime::UNIX_EPOCH, entropy: 7, remote_addr: None }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.endpoint.handle_timeout(self.now);
        self.run_tasks();
    }

    /// Polls the application tasks that were woken until none is.
    fn run_tasks(&mut self) {
        for _ in 0..100 {
            let before: usize = self.tasks.iter().map(|t| t.woken()).sum::<usize>() + self.tasks.len();
            self.tasks.retain_mut(|t| t.poll(|task, cx| task.as_mut().poll(cx)).is_pending());
            let after: usize = self.tasks.iter().map(|t| t.woken()).sum::<usize>() + self.tasks.len();
            if before == after {
                return;
            }
        }
        panic!("application tasks keep waking each other");
    }

    fn spawn(&mut self, task: Option<AppTask>) {
        self.tasks.extend(task.map(Polled::new));
        self.run_tasks();
    }

    fn session(&self, i: usize) -> Session {
        self.sessions.lock().unwrap()[i].clone()
    }

    fn dispatch(&mut self, request: Request<()>) -> Dispatch {
        let (parts, ()) = request.into_parts();
        self.endpoint.handle(&parts, self.cx())
    }

    /// A complete response (or the first chunks of a stream).
    fn request(&mut self, method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        match self.dispatch(b.body(()).unwrap()) {
            Dispatch::Response(r) => Reply::Full(r),
            Dispatch::ReadBody(pending) => {
                let mut delivery = pending.finish(body.as_bytes(), self.now);
                let response = delivery.take_ready().expect("the inbox had room");
                self.run_tasks();
                Reply::Full(response)
            }
            Dispatch::Stream { response, task } => {
                self.spawn(task);
                let (parts, receiver) = response.into_parts();
                Reply::Stream(Response::from_parts(parts, ()), Polled::new(receiver))
            }
            Dispatch::WebSocket(_) => panic!("unexpected websocket"),
        }
    }

    fn get(&mut self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], "")
    }

    fn post(&mut self, path: &str, body: &str) -> Reply {
        self.request(Method::POST, path, &[], body)
    }

    /// Reads ready chunks until the stream blocks or ends.
    fn read(&mut self, rx: &mut Rx) -> (Vec<String>, bool) {
        self.run_tasks();
        let mut chunks = Vec::new();
        let now = self.now;
        loop {
            match rx.poll(|rx, cx| rx.poll_chunk(cx, now)) {
                Poll::Ready(Some(c)) => chunks.push(String::from_utf8(c.to_vec()).unwrap()),
                Poll::Ready(None) => return (chunks, true),
                Poll::Pending => return (chunks, false),
            }
        }
    }

    /// A whole polling response body.
    fn poll_body(&mut self, path: &str) -> String {
        let (_, mut rx) = self.post(path, "").stream();
        let (chunks, ended) = self.read(&mut rx);
        assert!(ended, "a poll with something to send ends: {chunks:?}");
        chunks.concat()
    }

    fn websocket(&mut self, path: &str) -> Ws {
        let request = Request::get(path)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "x3JJHMbDL1EzLkh9GBhXDw==")
            .body(())
            .unwrap();
        let Dispatch::WebSocket(upgrade) = self.dispatch(request) else { panic!("not a websocket") };
        let (ws, task) = upgrade.accept(self.now);
        self.spawn(task);
        Polled::new(ws)
    }

    fn ws_read(&mut self, ws: &mut Ws) -> Vec<WsOutgoing> {
        self.run_tasks();
        let mut out = Vec::new();
        let now = self.now;
        while let Poll::Ready(Some(o)) = ws.poll(|ws, cx| ws.poll_output(cx, now)) {
            out.push(o);
        }
        out
    }
}

/// A text message from the client.
fn msg(s: &str) -> WsIncoming<&str> {
    WsIncoming::Text(s)
}

fn text(s: &str) -> WsOutgoing {
    WsOutgoing::Text(Bytes::copy_from_slice(s.as_bytes()))
}

enum Reply {
    Full(Response<Bytes>),
    Stream(Response<()>, Rx),
}

impl Reply {
    fn full(self) -> Response<Bytes> {
        match self {
            Reply::Full(r) => r,
            Reply::Stream(..) => panic!("expected a complete response"),
        }
    }

    fn stream(self) -> (Response<()>, Rx) {
        match self {
            Reply::Stream(head, rx) => (head, rx),
            Reply::Full(r) => panic!("expected a stream, got {r:?}"),
        }
    }

    fn headers(&self) -> &HeaderMap {
        match self {
            Reply::Full(r) => r.headers(),
            Reply::Stream(r, _) => r.headers(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Reply::Full(r) => r.status(),
            Reply::Stream(r, _) => r.status(),
        }
    }
}

fn body(r: &Response<Bytes>) -> &str {
    std::str::from_utf8(r.body()).unwrap()
}

/// The `Cache-Control` of every session URL (§4.2).
const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";

/// A websocket request head, with this `Origin` if any.
fn ws_request(path: &str, origin: Option<&str>) -> Request<()> {
    let mut b = Request::get(path)
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "x3JJHMbDL1EzLkh9GBhXDw==");
    if let Some(origin) = origin {
        b = b.header("origin", origin);
    }
    b.body(()).unwrap()
}

mod encodings;
mod fixed_urls;
mod headers;
mod inbound;
mod lifecycle;
mod limits;
mod multiplex;
mod rooms;
mod routing;
mod security;
mod transports;
mod unicode;
mod websockets;
