//! End-to-end tests of the engine, driven like an adapter would drive it,
//! with a simulated clock. Each test names the PROTOCOL.md section it pins.
//! (§9, HTTP/1.0 and 1.1 framing, belongs to the adapters and is checked by
//! the conformance suite in sockjs-tests.)

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
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

// ---- §3 routing -------------------------------------------------------

/// §3: unknown paths are 404 with the standard body, whatever the method.
#[test]
fn s3_not_found_shape() {
    let mut h = Harness::echo();
    for method in [Method::GET, Method::POST] {
        for path in ["/echo/a", "/echo//", "/echo/a/a/", "/echo//xhr", "/echo/a./a/xhr", "/echo/iframe.HTML"] {
            let r = h.request(method.clone(), path, &[], "").full();
            assert_eq!(r.status(), 404, "{method} {path}");
            assert_eq!(body(&r), "404 Error: Page not found\n");
            assert_eq!(r.headers()["content-type"], "text/plain; charset=UTF-8");
        }
    }
}

/// §3: a valid path with the wrong method is 405 with `Allow`, no
/// `Content-Type` and an empty body.
#[test]
fn s3_method_not_allowed_shape() {
    let mut h = Harness::echo();
    let cases = [
        (Method::POST, "/echo/0/0/websocket", "GET"),
        (Method::POST, "/echo/info", "OPTIONS, GET"),
        (Method::GET, "/echo/0/0/xhr", "POST, OPTIONS"),
        (Method::GET, "/echo/0/0/xhr_send", "POST, OPTIONS"),
        (Method::PUT, "/echo", "GET"),
        (Method::GET, "/echo/0/0/jsonp_send", "POST"),
    ];
    for (method, path, allow) in cases {
        let r = h.request(method.clone(), path, &[("upgrade", "websocket")], "").full();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], allow);
        assert!(r.headers().get("content-type").is_none());
        assert!(r.body().is_empty());
    }
}

/// §3 and §10: disabled transports answer 404; a disabled websocket still
/// answers POST with 405.
#[test]
fn s3_disabled_transports() {
    let mut h = Harness::new(App::Echo, Options::new("/d").websocket(false).disable(Transport::JsonpPolling));
    assert_eq!(h.get("/d/0/0/websocket").status(), 404);
    assert_eq!(h.get("/d/websocket").status(), 404);
    assert_eq!(h.post("/d/0/0/websocket", "").status(), 405);
    assert_eq!(h.get("/d/0/0/jsonp?c=x").status(), 404);
    assert_eq!(h.post("/d/0/0/jsonp_send", "d=[]").status(), 404);
    assert_eq!(h.post("/d/0/0/xhr", "").status(), 200);
}

/// §3: the server id is ignored; the session id alone names the session.
#[test]
fn s3_server_id_is_ignored() {
    let mut h = Harness::echo();
    assert_eq!(h.poll_body("/echo/000/s/xhr"), "o\n");
    assert_eq!(h.post("/echo/999/s/xhr_send", r#"["x"]"#).status(), 204);
    assert_eq!(h.poll_body("/echo/abc/s/xhr"), "a[\"x\"]\n");
}

// ---- §4 headers -------------------------------------------------------

const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";

/// §4.1 and §4.2: content types and no-cache on every session URL.
#[test]
fn s4_content_types_and_no_cache() {
    let mut h = Harness::echo();
    let greeting = h.get("/echo");
    assert_eq!(greeting.headers()["content-type"], "text/plain; charset=UTF-8");
    let cases = [
        (Method::GET, "/echo/info", "application/json; charset=UTF-8"),
        (Method::POST, "/echo/0/a/xhr", "application/javascript; charset=UTF-8"),
        (Method::POST, "/echo/0/b/xhr_streaming", "application/javascript; charset=UTF-8"),
        (Method::GET, "/echo/0/c/eventsource", "text/event-stream"),
        (Method::GET, "/echo/0/d/htmlfile?c=x", "text/html; charset=UTF-8"),
        (Method::GET, "/echo/0/e/jsonp?c=x", "application/javascript; charset=UTF-8"),
        (Method::POST, "/echo/0/a/xhr_send", "text/plain; charset=UTF-8"),
        (Method::POST, "/echo/0/e/jsonp_send", "text/plain; charset=UTF-8"),
    ];
    for (method, path, content_type) in cases {
        let r = h.request(method, path, &[("content-type", "text/plain")], "[]");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(r.headers()["content-type"], content_type, "{path}");
        assert_eq!(r.headers()["cache-control"], NO_CACHE, "{path}");
        assert!(r.headers().get("expires").is_none() && r.headers().get("last-modified").is_none(), "{path}");
    }
}

/// §4.3 and §4.5: preflights are 204 with long caching and Max-Age.
#[test]
fn s4_options_preflight() {
    let mut h = Harness::echo();
    for (path, methods) in [
        ("/echo/info", "OPTIONS, GET"),
        ("/echo/0/0/xhr", "OPTIONS, POST"),
        ("/echo/0/0/xhr_send", "OPTIONS, POST"),
        ("/echo/0/0/xhr_streaming", "OPTIONS, POST"),
    ] {
        let r = h
            .request(Method::OPTIONS, path, &[("origin", "null"), ("access-control-request-method", "POST")], "")
            .full();
        assert_eq!(r.status(), 204, "{path}");
        assert!(r.body().is_empty());
        assert_eq!(r.headers()["access-control-allow-methods"], methods);
        assert_eq!(r.headers()["access-control-max-age"], "31536000");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000");
        assert_eq!(r.headers()["expires"], "Fri, 01 Jan 1971 00:00:00 GMT");
        assert_eq!(r.headers()["access-control-allow-origin"], "null");
        assert_eq!(r.headers()["access-control-allow-credentials"], "true");
        assert!(r.headers().get("access-control-allow-headers").is_none());
    }
    let r = h.request(Method::OPTIONS, "/echo/0/0/xhr", &[("access-control-request-headers", "a, b, c")], "").full();
    assert_eq!(r.headers()["access-control-allow-headers"], "a, b, c");
}

/// §4.4: CORS on info, xhr and xhr_send; eventsource maps `null` to `*`;
/// htmlfile and jsonp carry none.
#[test]
fn s4_cors() {
    let mut h = Harness::echo();
    let origin = [("origin", "https://example.com")];
    for (method, path) in [
        (Method::GET, "/echo/info"),
        (Method::POST, "/echo/0/x/xhr"),
        (Method::POST, "/echo/0/x/xhr_send"),
        (Method::POST, "/echo/0/y/xhr_streaming"),
    ] {
        let r = h.request(method, path, &origin, "[]");
        assert_eq!(r.headers()["access-control-allow-origin"], "https://example.com", "{path}");
        assert_eq!(r.headers()["access-control-allow-credentials"], "true", "{path}");
    }
    let r = h.request(Method::GET, "/echo/info", &[], "");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers().get("access-control-allow-credentials").is_none());
    let r = h.request(Method::GET, "/echo/0/es/eventsource", &[("origin", "null")], "");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    for path in ["/echo/0/hf/htmlfile?c=x", "/echo/0/jp/jsonp?c=x"] {
        let r = h.request(Method::GET, path, &origin, "");
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{path}");
    }
}

/// §4.6: the JSESSIONID cookie on every session URL and OPTIONS, never on
/// the greeting, `GET /info`, the iframe or websockets.
#[test]
fn s4_jsessionid() {
    let mut h = Harness::new(App::Echo, Options::new("/c").jsessionid(Jsessionid::On));
    assert!(h.get("/c").headers().get("set-cookie").is_none());
    assert!(h.get("/c/info").headers().get("set-cookie").is_none());
    assert!(h.get("/c/iframe.html").headers().get("set-cookie").is_none());
    let info = h.get("/c/info").full();
    assert!(body(&info).contains(r#""cookie_needed":true"#));
    assert_eq!(h.request(Method::OPTIONS, "/c/info", &[], "").headers()["set-cookie"], "JSESSIONID=dummy; path=/");
    for (method, path) in [
        (Method::POST, "/c/0/a/xhr"),
        (Method::POST, "/c/0/a/xhr_send"),
        (Method::POST, "/c/0/b/xhr_streaming"),
        (Method::GET, "/c/0/c/eventsource"),
        (Method::GET, "/c/0/d/htmlfile?c=x"),
        (Method::GET, "/c/0/e/jsonp?c=x"),
        (Method::POST, "/c/0/e/jsonp_send"),
        (Method::OPTIONS, "/c/0/f/xhr"),
    ] {
        let r = h.request(method, path, &[("cookie", "JSESSIONID=abc")], "[]");
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 1, "{path}");
        assert_eq!(r.headers()["set-cookie"], "JSESSIONID=abc; path=/", "{path}");
    }
    let mut plain = Harness::echo();
    assert!(plain.post("/echo/0/a/xhr", "").headers().get("set-cookie").is_none());
}

// ---- §7.1–§7.3 --------------------------------------------------------

/// §7.1: the greeting.
#[test]
fn s7_1_greeting() {
    let mut h = Harness::echo();
    for path in ["/echo", "/echo/"] {
        let r = h.get(path).full();
        assert_eq!(r.status(), 200);
        assert_eq!(body(&r), "Welcome to SockJS!\n");
    }
}

/// §7.2: `/info` with caller-supplied entropy.
#[test]
fn s7_2_info() {
    let mut h = Harness::echo();
    let r = h.get("/echo/info").full();
    assert_eq!(body(&r), r#"{"websocket":true,"origins":["*:*"],"cookie_needed":false,"entropy":7}"#);
    let mut d = Harness::new(App::Echo, Options::new("/d").websocket(false));
    let v: serde_json::Value = serde_json::from_slice(d.get("/d/info").full().body()).unwrap();
    assert_eq!(v["websocket"], false);
    let mut n = Harness::new(App::Echo, Options::new("/n").cors(false));
    assert_eq!(body(&n.get("/n/info").full()), r#"{"websocket":true,"cookie_needed":false,"entropy":7}"#);
}

/// §7.3: the iframe page, its variants, ETag and 304.
#[test]
fn s7_3_iframe() {
    let mut h = Harness::new(App::Echo, Options::new("/echo").sockjs_url("/static/sockjs.js"));
    let r = h.get("/echo/iframe.html").full();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=UTF-8");
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000");
    assert!(r.headers().get("expires").is_some() && r.headers().get("last-modified").is_none());
    let page = body(&r).trim();
    assert!(page.starts_with("<!DOCTYPE html>\n<html>\n<head>\n  <meta http-equiv=\"X-UA-Compatible\""));
    assert!(page.contains("\n  <script src=\"/static/sockjs.js\"></script>\n  <script>\n    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n</head>"));
    assert!(page.ends_with("</body>\n</html>"));
    let etag = r.headers()["etag"].clone();
    for variant in ["/echo/iframe-a.html", "/echo/iframe-0.1.2.html?t=1", "/echo/iframe.html/"] {
        let v = h.get(variant).full();
        assert_eq!(v.body(), r.body(), "{variant}");
        assert_eq!(v.headers()["etag"], etag, "{variant}");
    }
    let r304 = h.request(Method::GET, "/echo/iframe.html", &[("if-none-match", etag.to_str().unwrap())], "").full();
    assert_eq!(r304.status(), 304);
    assert!(r304.body().is_empty());
    assert!(r304.headers().get("content-type").is_none() && r304.headers().get("etag").is_none());
}

// ---- §7.4–§7.9 transports --------------------------------------------

/// §7.4 and §7.5: xhr-polling with xhr_send.
#[test]
fn s7_4_xhr_polling() {
    let mut h = Harness::echo();
    assert_eq!(h.poll_body("/echo/000/s/xhr"), "o\n");
    let r = h.post("/echo/000/s/xhr_send", r#"["x"]"#).full();
    assert_eq!(r.status(), 204);
    assert!(r.body().is_empty());
    assert_eq!(r.headers()["content-type"], "text/plain; charset=UTF-8");
    assert_eq!(h.poll_body("/echo/000/s/xhr"), "a[\"x\"]\n");
    // A poll with nothing queued stays open until something arrives.
    let (_, mut rx) = h.post("/echo/000/s/xhr", "").stream();
    assert_eq!(h.read(&mut rx), (vec![], false));
    h.post("/echo/000/s/xhr_send", r#"["y"]"#);
    assert_eq!(h.read(&mut rx), (vec!["a[\"y\"]\n".to_string()], true));
}

/// §7.5 and §11: xhr_send errors, checked before the session.
#[test]
fn s7_5_xhr_send_errors() {
    let mut h = Harness::echo();
    let cases = [
        ("", 500, "Payload expected."),
        ("[\"x", 500, "Broken JSON encoding."),
        ("{}", 500, "Payload expected."),
        ("\"a\"", 500, "Payload expected."),
        ("[\"x\"]", 404, "404 Error: Page not found\n"),
    ];
    for (payload, status, message) in cases {
        let r = h.post("/echo/000/bad_session/xhr_send", payload).full();
        assert_eq!(r.status(), status, "{payload:?}");
        assert_eq!(body(&r), message, "{payload:?}");
        assert_eq!(r.headers()["cache-control"], NO_CACHE, "error responses keep the URL's headers");
    }
    h.poll_body("/echo/0/s/xhr");
    for content_type in [
        "text/plain",
        "T",
        "application/json",
        "application/xml",
        "",
        "application/json; charset=utf-8",
        "text/xml; charset=utf-8",
        "text/xml",
    ] {
        let r = h.request(Method::POST, "/echo/0/s/xhr_send", &[("content-type", content_type)], "[\"a\"]").full();
        assert_eq!(r.status(), 204, "{content_type:?}");
    }
    let r = h
        .request(
            Method::POST,
            "/echo/0/s/xhr_send",
            &[("content-type", "application/x-www-form-urlencoded")],
            "[\"a\"]",
        )
        .full();
    assert_eq!((r.status().as_u16(), body(&r)), (500, "Payload expected."));
    assert_eq!(h.post("/echo/0/s/xhr_send", "[]").status(), 204);
    let big = format!("[\"{}\"]", "x".repeat(300 * 1024));
    let r = h.post("/echo/0/s/xhr_send", &big).full();
    assert_eq!(r.status(), 413);
}

/// §7.6: prelude, `o`, one chunk per frame, and the response_limit
/// arithmetic: 31 frames of 134 bytes with limit 4096 end after the 31st.
#[test]
fn s7_6_xhr_streaming_response_limit() {
    let mut h = Harness::echo();
    let (head, mut rx) = h.post("/echo/000/s/xhr_streaming", "").stream();
    assert_eq!(head.status(), 200);
    let (chunks, ended) = h.read(&mut rx);
    assert!(!ended);
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0], format!("{}\n", "h".repeat(2048)));
    assert_eq!(chunks[1], "o\n");
    let message = "x".repeat(128);
    let payload = format!("[\"{message}\"]");
    for i in 1..=31 {
        h.post("/echo/000/s/xhr_send", &payload);
        let (chunks, ended) = h.read(&mut rx);
        assert_eq!(chunks, vec![format!("a[\"{message}\"]\n")], "frame {i}");
        assert_eq!(chunks[0].len(), 134);
        assert_eq!(ended, i == 31, "after frame {i}: 2 + {i}*134 = {}", 2 + i * 134);
    }
    // The client reconnects on the same session.
    let (_, mut rx) = h.post("/echo/000/s/xhr_streaming", "").stream();
    let (chunks, ended) = h.read(&mut rx);
    assert_eq!((chunks.len(), ended), (1, false), "just the prelude: no new `o`");
}

/// §7.7: eventsource prelude and frames, `%` escaped, limit.
#[test]
fn s7_7_eventsource() {
    let mut h = Harness::echo();
    let (_, mut rx) = h.get("/echo/000/s/eventsource").stream();
    assert_eq!(h.read(&mut rx), (vec!["\r\n".to_string(), "data: o\r\n\r\n".to_string()], false));
    h.post("/echo/000/s/xhr_send", r#"["  \u0000\n\r ", "100%"]"#);
    let (chunks, _) = h.read(&mut rx);
    assert_eq!(chunks, vec!["data: a[\"  \\u0000\\n\\r \",\"100%25\"]\r\n\r\n".to_string()]);
    h.post("/echo/000/s/xhr_send", &format!("[\"{}\"]", "x".repeat(4096)));
    let (chunks, ended) = h.read(&mut rx);
    assert_eq!(chunks, vec![format!("data: a[\"{}\"]\r\n\r\n", "x".repeat(4096))]);
    assert!(ended);
}

/// §7.8: htmlfile head over 1024 bytes, script chunks, callback errors.
#[test]
fn s7_8_htmlfile() {
    let mut h = Harness::echo();
    let (_, mut rx) = h.get("/echo/000/s/htmlfile?c=%63allback").stream();
    let (chunks, _) = h.read(&mut rx);
    assert_eq!(chunks[0].len(), 1035);
    assert!(chunks[0].contains("var c = parent.callback;"));
    assert_eq!(chunks[1], "<script>\np(\"o\");\n</script>\r\n");
    h.post("/echo/000/s/xhr_send", r#"["x"]"#);
    assert_eq!(h.read(&mut rx).0, vec!["<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n".to_string()]);
    let r = h.get("/echo/000/t/htmlfile").full();
    assert_eq!((r.status().as_u16(), body(&r)), (500, "\"callback\" parameter required"));
    for bad in ["%20", "*", "abc(", "abc%28"] {
        let r = h.get(&format!("/echo/000/t/htmlfile?c={bad}")).full();
        assert_eq!((r.status().as_u16(), body(&r)), (500, "invalid \"callback\" parameter"), "{bad}");
        assert_eq!(r.headers()["cache-control"], NO_CACHE);
    }
}

/// §7.9: jsonp polling and jsonp_send.
#[test]
fn s7_9_jsonp() {
    let mut h = Harness::echo();
    let (head, mut rx) = h.get("/echo/000/s/jsonp?c=callback").stream();
    assert_eq!(head.headers()["x-content-type-options"], "nosniff");
    assert_eq!(h.read(&mut rx), (vec!["/**/callback(\"o\");\r\n".to_string()], true));
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let r = h.request(Method::POST, "/echo/000/s/jsonp_send", &form, "d=%5B%22x%22%5D").full();
    assert_eq!((r.status().as_u16(), body(&r)), (200, "ok"));
    let r = h.request(Method::POST, "/echo/000/s/jsonp_send", &[("content-type", "text/plain")], r#"["%61bc"]"#).full();
    assert_eq!((r.status().as_u16(), body(&r)), (200, "ok"));
    let (_, mut rx) = h.get("/echo/000/s/jsonp?c=x").stream();
    assert_eq!(h.read(&mut rx).0, vec!["/**/x(\"a[\\\"x\\\",\\\"%61bc\\\"]\");\r\n".to_string()]);
    for (payload, message) in [
        ("d=%5B%22x", "Broken JSON encoding."),
        ("", "Payload expected."),
        ("d=", "Payload expected."),
        ("p=p", "Payload expected."),
    ] {
        let r = h.request(Method::POST, "/echo/000/s/jsonp_send", &form, payload).full();
        assert_eq!((r.status().as_u16(), body(&r)), (500, message), "{payload:?}");
    }
    assert_eq!(body(&h.request(Method::POST, "/echo/000/s/jsonp_send", &form, "d=%5B%5D").full()), "ok");
    assert_eq!(h.request(Method::POST, "/echo/000/zz/jsonp_send", &form, "d=%5B%5D").status(), 404);
    let long = format!("/echo/000/s/jsonp?c={}", "a".repeat(33));
    assert_eq!(h.get(&long).status(), 500);
}

// ---- §6 lifecycle ----------------------------------------------------

/// §6: a second receiver gets 2010 and ends (after the contention grace
/// period); the first is unaffected.
#[test]
fn s6_second_receiver_gets_2010() {
    let mut h = Harness::echo();
    h.poll_body("/echo/0/s/xhr");
    let (_, mut first) = h.post("/echo/0/s/xhr", "").stream();
    assert_eq!(h.read(&mut first), (vec![], false));
    let (_, mut second) = h.post("/echo/0/s/xhr", "").stream();
    assert_eq!(h.read(&mut second), (vec![], false), "waits for the grace period");
    // A third request while one already waits is answered at once.
    assert_eq!(h.poll_body("/echo/0/s/xhr"), "c[2010,\"Another connection still open\"]\n");
    h.advance(h.endpoint.options().contention_grace);
    assert_eq!(h.read(&mut second), (vec!["c[2010,\"Another connection still open\"]\n".to_string()], true));
    let (_, mut streaming) = h.post("/echo/0/s/xhr_streaming", "").stream();
    let (chunks, ended) = h.read(&mut streaming);
    assert_eq!((chunks.len(), chunks[0].len(), ended), (1, 2049, false), "the prelude goes out at once");
    h.advance(h.endpoint.options().contention_grace);
    let (chunks, ended) = h.read(&mut streaming);
    assert_eq!((chunks, ended), (vec!["c[2010,\"Another connection still open\"]\n".to_string()], true));
    h.post("/echo/0/s/xhr_send", r#"["still"]"#);
    assert_eq!(h.read(&mut first), (vec!["a[\"still\"]\n".to_string()], true));
}

/// §6 "Abort": a request that arrives before the server noticed that the
/// previous one was dropped waits; once the drop is seen it gets 1002.
#[test]
fn s6_contender_sees_the_abort() {
    let mut h = Harness::echo();
    h.poll_body("/echo/0/s/xhr");
    let (_, first) = h.post("/echo/0/s/xhr", "").stream();
    let (_, mut second) = h.post("/echo/0/s/xhr", "").stream();
    assert_eq!(h.read(&mut second), (vec![], false));
    drop(first);
    assert_eq!(h.read(&mut second), (vec!["c[1002,\"Connection interrupted\"]\n".to_string()], true));
    assert_eq!(h.poll_body("/echo/0/s/xhr"), "o\n", "the id starts a new session");
}

/// §6: a contender takes the place of a receiver that finishes normally.
#[test]
fn s6_contender_takes_over_after_a_normal_end() {
    let mut h = Harness::echo();
    h.poll_body("/echo/0/s/xhr");
    let (_, mut first) = h.post("/echo/0/s/xhr", "").stream();
    let (_, mut second) = h.post("/echo/0/s/xhr", "").stream();
    h.post("/echo/0/s/xhr_send", r#"["one"]"#);
    assert_eq!(h.read(&mut first), (vec!["a[\"one\"]\n".to_string()], true));
    assert_eq!(h.read(&mut second), (vec![], false), "now the attached receiver");
    h.advance(h.endpoint.options().contention_grace);
    assert_eq!(h.read(&mut second), (vec![], false), "no 2010 once attached");
    h.post("/echo/0/s/xhr_send", r#"["two"]"#);
    assert_eq!(h.read(&mut second), (vec!["a[\"two\"]\n".to_string()], true));
    // A contender that goes away leaves the session as it was.
    let (_, _third) = h.post("/echo/0/s/xhr", "").stream();
    let (_, fourth) = h.post("/echo/0/s/xhr", "").stream();
    drop(fourth);
    h.post("/echo/0/s/xhr_send", r#"["three"]"#);
    assert_eq!(h.endpoint.session_count(), 1);
}

/// §6: `/close` sends `c[3000,"Go away!"]` to the current receiver and to
/// every later one until the session expires; then the id is new again.
#[test]
fn s6_close_frame_repeats_until_expiry() {
    let mut h = Harness::new(App::Close, Options::new("/close"));
    let (_, mut rx) = h.post("/close/0/s/xhr_streaming", "").stream();
    let (chunks, ended) = h.read(&mut rx);
    assert_eq!(&chunks[1..], ["o\n", "c[3000,\"Go away!\"]\n"]);
    assert!(ended);
    for _ in 0..2 {
        assert_eq!(h.poll_body("/close/0/s/xhr"), "c[3000,\"Go away!\"]\n");
        let (_, mut rx) = h.post("/close/0/s/xhr_streaming", "").stream();
        let (chunks, ended) = h.read(&mut rx);
        assert_eq!((chunks[0].len(), chunks[1].as_str(), ended), (2049, "c[3000,\"Go away!\"]\n", true));
    }
    assert_eq!(
        h.get("/close/0/s/jsonp?c=x").stream().1.poll_chunk(&mut noop_cx(), h.now),
        Poll::Ready(Some("/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n".into()))
    );
    h.advance(Duration::from_millis(4999));
    assert_eq!(h.endpoint.session_count(), 1, "each receiver restarted the timer");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.endpoint.session_count(), 0);
    assert_eq!(h.poll_body("/close/0/s/xhr"), "o\n");
}

/// §6 "Abort": a dropped receiver closes the session at once; the next
/// request opens a new one.
#[test]
fn s6_abort_closes_session_immediately() {
    for path in ["/echo/0/s/xhr", "/echo/0/s/xhr_streaming"] {
        let mut h = Harness::new(App::Capture, Options::new("/echo"));
        h.poll_body("/echo/0/s/xhr");
        let (_, mut rx) = h.post(path, "").stream();
        h.read(&mut rx);
        drop(rx);
        let session = h.session(0);
        assert_eq!(session.close_reason(), Some(CloseReason::Interrupted));
        assert!(!session.is_open());
        let (_, mut rx) = h.post(path, "").stream();
        let (chunks, _) = h.read(&mut rx);
        assert_eq!(chunks.last().unwrap(), "o\n", "{path}: a new session");
        assert_eq!(h.sessions.lock().unwrap().len(), 2);
    }
}

/// §6: messages sent while no receiver is attached go out as one frame.
#[test]
fn s6_buffered_messages_flush_as_one_frame() {
    let mut h = Harness::new(App::Capture, Options::new("/b"));
    h.poll_body("/b/0/s/xhr");
    let session = h.session(0);
    for _ in 0..8 {
        session.send("a").unwrap();
    }
    assert_eq!(h.poll_body("/b/0/s/xhr"), format!("a[{}]\n", ["\"a\""; 8].join(",")));
}

/// §6: a receiver gets `h` after heartbeat_delay; polling ends with it,
/// streaming continues.
#[test]
fn s6_heartbeat() {
    let mut h = Harness::echo();
    h.poll_body("/echo/0/p/xhr");
    let (_, mut poll) = h.post("/echo/0/p/xhr", "").stream();
    let (_, mut stream) = h.post("/echo/0/s/xhr_streaming", "").stream();
    h.read(&mut stream);
    h.advance(Duration::from_millis(24_999));
    assert_eq!(h.read(&mut poll), (vec![], false));
    assert_eq!(h.read(&mut stream), (vec![], false));
    h.advance(Duration::from_millis(1));
    assert_eq!(h.read(&mut poll), (vec!["h\n".to_string()], true));
    assert_eq!(h.read(&mut stream), (vec!["h\n".to_string()], false));
    h.advance(Duration::from_secs(25));
    assert_eq!(h.read(&mut stream), (vec!["h\n".to_string()], false));
    let mut ws = h.websocket("/echo/0/w/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    h.advance(Duration::from_secs(25));
    assert_eq!(h.ws_read(&mut ws), vec![text("h")]);
}

/// §6: no expiry while a receiver is attached, however long it waits.
#[test]
fn s6_no_expiry_while_attached() {
    let mut h = Harness::new(App::Capture, Options::new("/e"));
    h.poll_body("/e/0/s/xhr");
    let session = h.session(0);
    let (_, mut rx) = h.post("/e/0/s/xhr", "").stream();
    assert_eq!(h.read(&mut rx), (vec![], false));
    h.advance(Duration::from_secs(20));
    assert!(session.is_open());
    assert_eq!(h.endpoint.session_count(), 1);
}

/// §6: expiry with no receiver, and the end reason.
#[test]
fn s6_expiry_without_receiver() {
    let mut h = Harness::new(App::Capture, Options::new("/e"));
    h.poll_body("/e/0/s/xhr");
    let session = h.session(0);
    h.advance(Duration::from_millis(4999));
    assert!(session.is_open());
    h.advance(Duration::from_millis(1));
    assert!(!session.is_open());
    assert_eq!(session.close_reason(), Some(CloseReason::TimedOut));
    assert_eq!(session.send("late"), Err(SendError::Closed));
    assert_eq!(h.endpoint.session_count(), 0);
}

/// §11: messages queued at close go out first; sends after close are
/// dropped; xhr_send to a closed session answers 204, 404 after expiry.
#[test]
fn s11_close_ordering() {
    let mut h = Harness::new(App::Capture, Options::new("/q"));
    h.poll_body("/q/0/s/xhr");
    let session = h.session(0);
    session.send("a").unwrap();
    session.close(3000, "Go away!");
    assert_eq!(session.send("b"), Err(SendError::Closed));
    assert_eq!(h.poll_body("/q/0/s/xhr"), "a[\"a\"]\n");
    assert_eq!(h.poll_body("/q/0/s/xhr"), "c[3000,\"Go away!\"]\n");
    assert_eq!(h.post("/q/0/s/xhr_send", r#"["dropped"]"#).status(), 204);
    assert_eq!(h.request(Method::POST, "/q/0/s/jsonp_send", &[], r#"["dropped"]"#).full().body(), "ok");
    h.advance(Duration::from_secs(5));
    assert_eq!(h.post("/q/0/s/xhr_send", r#"["x"]"#).status(), 404);

    let mut h = Harness::new(App::Capture, Options::new("/q"));
    let (_, mut rx) = h.post("/q/0/t/xhr_streaming", "").stream();
    h.read(&mut rx);
    let session = h.session(0);
    session.send("a").unwrap();
    session.close(3001, "bye");
    let (chunks, ended) = h.read(&mut rx);
    assert_eq!((chunks, ended), (vec!["a[\"a\"]\n".to_string(), "c[3001,\"bye\"]\n".to_string()], true));
}

/// §11: the application's `recv` ends when the session does, after the
/// messages that arrived before.
#[test]
fn s11_application_sees_the_end() {
    let mut h = Harness::new(App::Capture, Options::new("/a"));
    let (_, rx) = h.post("/a/0/s/xhr_streaming", "").stream();
    h.post("/a/0/s/xhr_send", r#"["m1","m2"]"#);
    let mut session = h.session(0);
    drop(rx);
    let mut cx = noop_cx();
    let mut next = || std::pin::pin!(session.recv()).poll(&mut cx);
    assert_eq!(next(), Poll::Ready(Some("m1".into())));
    assert_eq!(next(), Poll::Ready(Some("m2".into())));
    assert_eq!(next(), Poll::Ready(None));
}

/// Dropping every handle closes the session with 1000.
#[test]
fn dropping_handles_closes_the_session() {
    let mut h = Harness::new(App::Capture, Options::new("/d"));
    h.poll_body("/d/0/s/xhr");
    h.sessions.lock().unwrap().clear();
    assert_eq!(h.poll_body("/d/0/s/xhr"), "c[1000,\"Normal closure\"]\n");
}

/// `handle_timeout` is harmless when called early or twice, and
/// `poll_timeout` names the next deadline.
#[test]
fn handle_timeout_early_or_twice() {
    let mut h = Harness::new(App::Capture, Options::new("/t"));
    h.poll_body("/t/0/s/xhr");
    let (_, mut rx) = h.post("/t/0/s/xhr", "").stream();
    let start = h.now;
    // The first poll's disconnect deadline went when the second attached:
    // the next one is the heartbeat.
    assert_eq!(h.endpoint.poll_timeout(), Some(start + Duration::from_secs(25)));
    for _ in 0..3 {
        h.endpoint.handle_timeout(start + Duration::from_secs(5));
        h.endpoint.handle_timeout(start + Duration::from_secs(10));
    }
    assert!(h.session(0).is_open());
    assert_eq!(h.endpoint.poll_timeout(), Some(start + Duration::from_secs(25)));
    assert_eq!(h.read(&mut rx), (vec![], false), "nothing is due early");
    h.now = start + Duration::from_secs(25);
    h.endpoint.handle_timeout(h.now);
    h.endpoint.handle_timeout(h.now);
    assert_eq!(h.read(&mut rx), (vec!["h\n".to_string()], true), "one heartbeat, however often called");
    assert!(h.session(0).is_open());
    assert_eq!(h.endpoint.poll_timeout(), Some(h.now + Duration::from_secs(5)), "the disconnect deadline");
}

/// The timer queue holds at most one entry per live session, however
/// often receivers attach and detach, and none once sessions are gone.
#[test]
fn timers_are_bounded_by_sessions() {
    let mut h = Harness::echo();
    for i in 0..5 {
        assert_eq!(h.poll_body(&format!("/echo/0/s{i}/xhr")), "o\n");
    }
    for round in 0..200 {
        for i in 0..5 {
            h.post(&format!("/echo/0/s{i}/xhr_send"), r#"["x"]"#);
            assert_eq!(h.poll_body(&format!("/echo/0/s{i}/xhr")), "a[\"x\"]\n");
        }
        h.advance(Duration::from_millis(10));
        let m = h.endpoint.metrics();
        assert!(m.pending_timers <= m.live_sessions(), "round {round}: {m:?}");
    }
    assert_eq!(h.endpoint.session_count(), 5);
    h.advance(Duration::from_secs(60));
    assert_eq!(h.endpoint.session_count(), 0);
    assert_eq!(h.endpoint.metrics().pending_timers, 0);
    assert!(h.endpoint.poll_timeout().is_none());
}

// ---- §7.10–§7.11 websockets ------------------------------------------

/// §7.10: `o`, echo, empty frames and `[]` ignored, bare values accepted.
#[test]
fn s7_10_websocket_echo() {
    let mut h = Harness::echo();
    let mut ws = h.websocket("/echo/0/0/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    ws.handle(WsIncoming::Text(""));
    ws.handle(WsIncoming::Text("[]"));
    ws.handle(WsIncoming::Text(r#"["a"]"#));
    assert_eq!(h.ws_read(&mut ws), vec![text(r#"a["a"]"#)]);
    ws.handle(WsIncoming::Text(r#""b""#));
    assert_eq!(h.ws_read(&mut ws), vec![text(r#"a["b"]"#)]);
    // Two websockets on one URL are two sessions.
    let mut other = h.websocket("/echo/0/0/websocket");
    assert_eq!(h.ws_read(&mut other), vec![text("o")]);
}

/// §7.10: broken JSON closes at once, with no `c` frame.
#[test]
fn s7_10_websocket_broken_json() {
    let mut h = Harness::echo();
    let mut ws = h.websocket("/echo/0/0/websocket");
    h.ws_read(&mut ws);
    ws.handle(WsIncoming::Text(r#"["a"#));
    assert_eq!(h.ws_read(&mut ws), vec![WsOutgoing::Close { code: 3000, reason: "Broken framing.".into() }]);
}

/// §7.10: `/close`: `o`, `c[3000,"Go away!"]`, then a close frame.
#[test]
fn s7_10_websocket_close() {
    let mut h = Harness::new(App::Close, Options::new("/close"));
    let mut ws = h.websocket("/close/0/0/websocket");
    assert_eq!(
        h.ws_read(&mut ws),
        vec![
            text("o"),
            text(r#"c[3000,"Go away!"]"#),
            WsOutgoing::Close { code: 1000, reason: "Normal closure".into() }
        ]
    );
}

/// §7.11: raw websockets: no framing, raw text, close reason `Go away!`.
#[test]
fn s7_11_raw_websocket() {
    let mut h = Harness::echo();
    let mut ws = h.websocket("/echo/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![]);
    ws.handle(WsIncoming::Text("Hello world!\u{ffff}"));
    assert_eq!(h.ws_read(&mut ws), vec![text("Hello world!\u{ffff}")]);
    h.advance(Duration::from_secs(30));
    assert_eq!(h.ws_read(&mut ws), vec![], "no heartbeats on raw websockets");
    let mut c = Harness::new(App::Close, Options::new("/close"));
    let mut ws = c.websocket("/close/websocket");
    assert_eq!(c.ws_read(&mut ws), vec![WsOutgoing::Close { code: 3000, reason: "Go away!".into() }]);
}

/// §11: a websocket session ends at once when the client closes.
#[test]
fn s11_websocket_client_close() {
    let mut h = Harness::new(App::Capture, Options::new("/w"));
    let mut ws = h.websocket("/w/0/0/websocket");
    ws.handle(WsIncoming::<&str>::Close);
    assert_eq!(h.session(0).close_reason(), Some(CloseReason::Client));
    let mut ws2 = h.websocket("/w/0/0/websocket");
    drop(ws2.poll_output(&mut noop_cx(), h.now));
    drop(ws2);
    assert_eq!(h.session(1).close_reason(), Some(CloseReason::Interrupted));
}

// ---- §8 unicode --------------------------------------------------------

/// §8: the 44 escaped characters, echoed through xhr.
#[test]
fn s8_escape_set_round_trip() {
    let mut h = Harness::echo();
    let set: String = (0x200Cu32..=0x200F)
        .chain(0x2028..=0x202F)
        .chain(0x2060..=0x206F)
        .chain(0xFFF0..=0xFFFF)
        .filter_map(char::from_u32)
        .collect();
    h.poll_body("/echo/0/u/xhr");
    h.post("/echo/0/u/xhr_send", &serde_json::to_string(&[&set]).unwrap());
    let reply = h.poll_body("/echo/0/u/xhr");
    let expected: String = set.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    assert_eq!(reply, format!("a[\"{expected}\"]\n"));
}

mod properties {
    use super::*;
    use crate::transport::Framing;
    use proptest::prelude::*;

    fn escape_set(c: char) -> bool {
        matches!(c as u32, 0x200C..=0x200F | 0x2028..=0x202F | 0x2060..=0x206F | 0xFFF0..=0xFFFF)
    }

    /// Undoes a transport's wrapping, giving back the SockJS frame.
    fn unwrap_frame(framing: &Framing, wire: &str) -> String {
        match framing {
            Framing::Xhr => wire.strip_suffix('\n').unwrap().to_string(),
            Framing::WebSocket => wire.to_string(),
            Framing::EventSource => {
                let inner = wire.strip_prefix("data: ").unwrap().strip_suffix("\r\n\r\n").unwrap();
                inner.replace("%0D", "\r").replace("%0A", "\n").replace("%00", "\0").replace("%25", "%")
            }
            Framing::HtmlFile => {
                let inner = wire.strip_prefix("<script>\np(").unwrap().strip_suffix(");\n</script>\r\n").unwrap();
                serde_json::from_str(inner).unwrap()
            }
            Framing::Jsonp(cb) => {
                let inner = wire.strip_prefix(&format!("/**/{cb}(")).unwrap().strip_suffix(");\r\n").unwrap();
                serde_json::from_str(inner).unwrap()
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// §5 and §8: any string, framed for any transport, decodes back
        /// to itself and carries no raw character of the escape set.
        #[test]
        fn every_transport_round_trips(message in any::<String>()) {
            for framing in [Framing::Xhr, Framing::WebSocket, Framing::EventSource, Framing::HtmlFile, Framing::Jsonp("cb".into())] {
                let wire = framing.wrap(&Frame::message(&message));
                let wire = std::str::from_utf8(&wire).unwrap();
                prop_assert!(!wire.chars().any(escape_set), "{:?} leaks a raw escape-set char", framing);
                prop_assert!(!wire.chars().any(|c| (c as u32) < 0x20 && !matches!(c, '\n' | '\r')));
                let frame = unwrap_frame(&framing, wire);
                let body = frame.strip_prefix('a').unwrap();
                let back: Vec<String> = serde_json::from_str(body).unwrap();
                prop_assert_eq!(&back, &vec![message.clone()]);
            }
        }

        /// No request path, method or query can panic the endpoint.
        #[test]
        fn no_request_panics(path in "(/[a-z_.%0-9]{0,12}){0,5}", query in "[a-z=&%0-9.(*]{0,20}", method in 0..4usize, body in any::<Vec<u8>>()) {
            let mut h = Harness::echo();
            let method = [Method::GET, Method::POST, Method::OPTIONS, Method::PUT][method].clone();
            let Ok(request) = Request::builder().method(method).uri(format!("/echo{path}?{query}")).body(()) else { return Ok(()) };
            match h.dispatch(request) {
                Dispatch::ReadBody(pending) => { drop(pending.finish(&body, h.now)); }
                Dispatch::Stream { response, .. } => { let mut rx = Polled::new(response.into_body()); h.read(&mut rx); }
                _ => {}
            }
        }

        /// No payload can panic the decoders.
        #[test]
        fn no_payload_panics(body in any::<Vec<u8>>(), text in any::<String>()) {
            let _ = decode_messages(&body);
            let _ = decode_websocket_text(&text);
            let _ = crate::payload::callback(Some(&text));
            let _ = crate::payload::form_field(&body, "d");
        }
    }
}

// ---- limits and metrics ------------------------------------------------

/// A client that never polls cannot grow the outgoing queue without bound:
/// the send that would overflow it closes the session.
#[test]
fn outgoing_queue_is_bounded() {
    let mut h = Harness::new(App::Capture, Options::new("/q").max_queue(1000));
    h.poll_body("/q/0/s/xhr");
    let session = h.session(0);
    let message = "x".repeat(100);
    let mut sent = 0;
    while session.send(&message).is_ok() {
        sent += 1;
        assert!(sent < 100, "the queue never filled");
    }
    assert_eq!(sent, 9, "nine frames of 106 bytes fit in 1000");
    assert_eq!(session.send("more"), Err(SendError::Closed));
    assert_eq!(session.close_reason(), Some(CloseReason::QueueFull));
    assert_eq!(h.poll_body("/q/0/s/xhr"), "c[1009,\"Outgoing queue full\"]\n");
}

/// A queue drained by a receiver does not count against the bound.
#[test]
fn drained_queue_frees_room() {
    let mut h = Harness::new(App::Capture, Options::new("/q").max_queue(1000));
    let (_, mut rx) = h.post("/q/0/s/xhr_streaming", "").stream();
    h.read(&mut rx);
    let session = h.session(0);
    for _ in 0..100 {
        session.send("x".repeat(100)).unwrap();
        assert_eq!(h.read(&mut rx).0.len(), 1);
    }
}

/// New sessions beyond `max_sessions` get 503; existing ones are unaffected.
#[test]
fn max_sessions_answers_503() {
    let mut h = Harness::new(App::Echo, Options::new("/m").max_sessions(2));
    h.poll_body("/m/0/a/xhr");
    let mut ws = h.websocket("/m/0/b/websocket");
    let r = h.post("/m/0/c/xhr", "");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["cache-control"], NO_CACHE);
    let ws_request = Request::get("/m/0/d/websocket")
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "x")
        .body(())
        .unwrap();
    assert!(matches!(h.dispatch(ws_request), Dispatch::Response(r) if r.status() == 503));
    assert_eq!(h.post("/m/0/a/xhr_send", r#"["still"]"#).status(), 204);
    assert_eq!(h.poll_body("/m/0/a/xhr"), "a[\"still\"]\n");
    ws.handle(WsIncoming::<&str>::Close);
    h.ws_read(&mut ws);
    assert_eq!(h.poll_body("/m/0/c/xhr"), "o\n", "room again once a session ended");
}

/// The counters follow sessions, messages and rejections.
#[test]
fn metrics_count() {
    let mut h = Harness::echo();
    h.poll_body("/echo/0/s/xhr");
    h.post("/echo/0/s/xhr_send", r#"["ab","c"]"#);
    h.run_tasks();
    let mut ws = h.websocket("/echo/0/w/websocket");
    h.get("/echo/nope");
    h.post("/echo/0/s/xhr_send", "[");
    let m = h.endpoint.metrics();
    assert_eq!((m.live(Transport::XhrPolling), m.live(Transport::WebSocket), m.live_sessions()), (1, 1, 2));
    assert_eq!((m.sessions_opened, m.sessions_closed), (2, 0));
    assert_eq!((m.messages_received, m.bytes_received), (2, 3));
    assert_eq!(m.messages_sent, 2);
    assert_eq!(m.requests_rejected, 2);
    assert_eq!(m.bytes_sent, 3, "o\\n for xhr and o for the websocket so far");
    ws.handle(WsIncoming::<&str>::Close);
    h.ws_read(&mut ws);
    h.advance(Duration::from_secs(5));
    let m = h.endpoint.metrics();
    assert_eq!((m.live_sessions(), m.sessions_closed), (0, 2));
}

// ---- security options and shutdown ----------------------------------------

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

/// Restricted origins: others are refused on session URLs and websockets,
/// CORS echoes only allowed ones, `null` only when listed.
#[test]
fn allowed_origins() {
    let origins = Origins::List(vec!["https://good.example".into()]);
    let mut h = Harness::new(App::Echo, Options::new("/o").origins(origins));
    let good = [("origin", "https://good.example")];
    let r = h.request(Method::POST, "/o/0/a/xhr", &good, "");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://good.example");
    for bad in ["https://evil.example", "null"] {
        let r = h.request(Method::POST, "/o/0/b/xhr", &[("origin", bad)], "").full();
        assert_eq!(r.status(), 403, "{bad}");
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{bad}");
        let info = h.request(Method::GET, "/o/info", &[("origin", bad)], "").full();
        assert!(info.headers().get("access-control-allow-origin").is_none(), "{bad}");
        assert!(
            matches!(h.dispatch(ws_request("/o/0/c/websocket", Some(bad))), Dispatch::Response(r) if r.status() == 403)
        );
        assert!(
            matches!(h.dispatch(ws_request("/o/websocket", Some(bad))), Dispatch::Response(r) if r.status() == 403)
        );
    }
    assert_eq!(h.post("/o/0/d/xhr", "").status(), 200, "no Origin: not a browser, allowed");
    assert!(matches!(h.dispatch(ws_request("/o/0/e/websocket", Some("https://good.example"))), Dispatch::WebSocket(_)));
    let with_null = Options::new("/n").origins(Origins::List(vec!["null".into()]));
    let mut n = Harness::new(App::Echo, with_null);
    assert_eq!(n.request(Method::POST, "/n/0/a/xhr", &[("origin", "null")], "").status(), 200);
    let predicate = Options::new("/p").origins(Origins::Predicate(Arc::new(|o: &str| o.ends_with(".good.example"))));
    let mut p = Harness::new(App::Echo, predicate);
    assert_eq!(p.request(Method::POST, "/p/0/a/xhr", &[("origin", "https://a.good.example")], "").status(), 200);
    assert_eq!(p.request(Method::POST, "/p/0/b/xhr", &[("origin", "https://good.example.evil")], "").status(), 403);
}

#[derive(Clone, Debug, PartialEq)]
struct User(&'static str);

/// The authorize hook sees the opening request (cookies included), runs
/// once per session, and hands its data to the application.
#[test]
fn authorize_hook() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let options = Options::new("/a").authorize(move |request| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match request.headers.get("cookie").and_then(|c| c.to_str().ok()) {
            Some("token=ok") => {
                let mut data = http::Extensions::new();
                data.insert(User("alice"));
                Ok(data)
            }
            _ => Err(StatusCode::UNAUTHORIZED),
        }
    });
    let mut h = Harness::new(App::Capture, options);
    let r = h.request(Method::POST, "/a/0/s/xhr", &[], "").full();
    assert_eq!((r.status().as_u16(), body(&r)), (401, "Unauthorized\n"));
    assert_eq!(r.headers()["cache-control"], NO_CACHE);
    assert!(matches!(h.dispatch(ws_request("/a/0/w/websocket", None)), Dispatch::Response(r) if r.status() == 401));
    assert_eq!(h.endpoint.session_count(), 0);
    let (_, mut rx) = h.request(Method::POST, "/a/0/s/xhr", &[("cookie", "token=ok")], "").stream();
    assert_eq!(h.read(&mut rx), (vec!["o\n".to_string()], true));
    assert_eq!(h.session(0).extensions().get::<User>(), Some(&User("alice")));
    assert!(h.session(0).headers().get("cookie").is_none(), "the application never sees cookies");
    let before = calls.load(std::sync::atomic::Ordering::SeqCst);
    h.request(Method::POST, "/a/0/s/xhr", &[], "");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), before, "not called for an existing session");
}

/// A refusal's reason reaches the client as the body, on HTTP transports
/// and on the websocket upgrade.
#[test]
fn authorize_refuses_with_a_reason() {
    let options = Options::new("/r").authorize(|request| match request.uri.query() {
        Some("banned") => Err(Refusal::new(StatusCode::FORBIDDEN, "Your account is suspended.")),
        _ => Ok(http::Extensions::new()),
    });
    let mut h = Harness::new(App::Capture, options);
    let r = h.request(Method::POST, "/r/0/s/xhr?banned", &[], "").full();
    assert_eq!((r.status().as_u16(), body(&r)), (403, "Your account is suspended.\n"));
    assert_eq!(r.headers()["content-type"], "text/plain; charset=UTF-8");
    let Dispatch::Response(r) = h.dispatch(ws_request("/r/0/w/websocket?banned", None)) else { panic!("not refused") };
    assert_eq!((r.status().as_u16(), body(&r)), (403, "Your account is suspended.\n"));
    assert_eq!(h.endpoint.session_count(), 0);
}

/// `session_headers`: a header the application names reaches
/// `Session::headers`; cookies do not unless named.
#[test]
fn session_headers_are_an_option() {
    let options = Options::new("/hd").session_header(http::HeaderName::from_static("x-tenant"));
    let mut h = Harness::new(App::Capture, options);
    let headers = [("x-tenant", "acme"), ("cookie", "sid=1"), ("user-agent", "ua")];
    h.request(Method::POST, "/hd/0/s/xhr", &headers, "");
    let session = h.session(0);
    assert_eq!(session.headers()["x-tenant"], "acme");
    assert_eq!(session.headers()["user-agent"], "ua", "the defaults stay");
    assert!(session.headers().get("cookie").is_none());
    let cookies = Options::new("/hc").session_headers([http::header::COOKIE]);
    let mut h = Harness::new(App::Capture, cookies);
    h.request(Method::POST, "/hc/0/s/xhr", &headers, "");
    assert_eq!(h.session(0).headers().len(), 1, "exactly the list");
    assert_eq!(h.session(0).headers()["cookie"], "sid=1");
}

/// Shutdown closes every session, websockets included, with 1001.
#[test]
fn shutdown_closes_everything() {
    let mut h = Harness::new(App::Capture, Options::new("/s"));
    let (_, mut stream) = h.post("/s/0/a/xhr_streaming", "").stream();
    h.read(&mut stream);
    let mut ws = h.websocket("/s/0/b/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    let mut raw = h.websocket("/s/websocket");
    h.endpoint.shutdown();
    assert_eq!(h.read(&mut stream), (vec!["c[1001,\"Server shutting down\"]\n".to_string()], true));
    assert_eq!(
        h.ws_read(&mut ws),
        vec![text(r#"c[1001,"Server shutting down"]"#), WsOutgoing::Close { code: 1001, reason: "Going away".into() }]
    );
    assert_eq!(h.ws_read(&mut raw), vec![WsOutgoing::Close { code: 1001, reason: "Going away".into() }]);
    for i in 0..3 {
        assert_eq!(h.session(i).close_reason(), Some(CloseReason::Shutdown));
    }
}

mod observability {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Collects every event as "message k=v ..." lines.
    #[derive(Default)]
    struct Collect {
        lines: Mutex<Vec<String>>,
        spans: Mutex<Vec<String>>,
        next: AtomicU64,
    }

    struct Line(String);

    impl Visit for Line {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0.insert_str(0, &format!("{value:?}"));
            } else {
                self.0.push_str(&format!(" {}={:?}", field.name(), value));
            }
        }
    }

    impl Subscriber for &'static Collect {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut line = Line(String::new());
            span.record(&mut line);
            self.spans.lock().unwrap().push(format!("{}{}", span.metadata().name(), line.0));
            Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut line = Line(String::new());
            event.record(&mut line);
            self.lines.lock().unwrap().push(line.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// Session open and end, server closes and rejected requests are
    /// traced; the application task runs inside a session span.
    ///
    /// The collector is the process-wide default: a dispatcher scoped to
    /// this thread can miss callsites that tests on other threads hit first.
    /// Other tests' events are collected too, so only this test's ids count.
    #[test]
    fn sessions_and_rejections_are_traced() {
        let collect: &'static Collect = Box::leak(Box::default());
        tracing::subscriber::set_global_default(collect).expect("the only global subscriber");
        let mut h = Harness::new(App::Close, Options::new("/traced"));
        h.poll_body("/traced/0/traced-id/xhr");
        h.get("/traced/missing");
        h.advance(Duration::from_secs(5));
        let lines = collect.lines.lock().unwrap().join("\n");
        assert!(lines.contains("session opened session=traced-id transport=xhr-polling"), "{lines}");
        assert!(
            lines.contains("session closed by the server session=traced-id code=3000 reason=\"Go away!\""),
            "{lines}"
        );
        assert!(lines.contains("session ended session=traced-id transport=xhr-polling reason=Server"), "{lines}");
        assert!(lines.contains("request rejected status=404 method=GET path=\"/traced/missing\""), "{lines}");
        let spans = collect.spans.lock().unwrap().join("\n");
        assert!(spans.contains("sockjs_session id=\"traced-id\" transport=xhr-polling"), "{spans}");
    }
}

/// A receiver that takes no frame for a whole heartbeat delay while one is
/// waiting is stalled: its session ends, and other sessions go on.
#[test]
fn stalled_receiver_ends_its_session() {
    let mut h = Harness::new(App::Capture, Options::new("/st"));
    let (_, mut slow) = h.post("/st/0/slow/xhr_streaming", "").stream();
    let (_, mut fast) = h.post("/st/0/fast/xhr_streaming", "").stream();
    h.read(&mut slow);
    h.read(&mut fast);
    let mut ws = h.websocket("/st/0/w/websocket");
    h.ws_read(&mut ws);
    h.advance(Duration::from_secs(25));
    // `fast` and the websocket take their heartbeats; `slow` does not read.
    assert_eq!(h.read(&mut fast), (vec!["h\n".to_string()], false));
    assert_eq!(h.ws_read(&mut ws), vec![text("h")]);
    h.advance(Duration::from_secs(25));
    assert_eq!(h.read(&mut fast), (vec!["h\n".to_string()], false));
    assert_eq!(h.ws_read(&mut ws), vec![text("h")]);
    let slow_session = h.session(0);
    assert_eq!(slow_session.id(), "slow");
    assert_eq!(slow_session.close_reason(), Some(CloseReason::Stalled));
    assert!(h.session(1).is_open() && h.session(2).is_open());
    assert_eq!(h.read(&mut slow), (vec![], true), "its response ends");
    assert_eq!(h.endpoint.session_count(), 2, "fast and the websocket");
}

/// §6: how a response ends depends on the request's transport, not on the
/// one that opened the session.
#[test]
fn the_requests_transport_decides_how_its_response_ends() {
    // Opened by a poll, then read by a stream: the stream keeps going.
    let mut h = Harness::new(App::Capture, Options::new("/mix"));
    h.poll_body("/mix/0/p/xhr");
    let session = h.session(0);
    let (_, mut stream) = h.post("/mix/0/p/xhr_streaming", "").stream();
    session.send("one").unwrap();
    let (chunks, ended) = h.read(&mut stream);
    assert_eq!((chunks.last().unwrap().as_str(), ended), ("a[\"one\"]\n", false));
    session.send("two").unwrap();
    assert_eq!(h.read(&mut stream), (vec!["a[\"two\"]\n".to_string()], false), "still streaming");
    drop(stream);

    // Opened by a stream, then polled: the poll ends after one frame.
    let mut h = Harness::new(App::Capture, Options::new("/mix"));
    let (_, mut stream) = h.post("/mix/0/s/xhr_streaming", "").stream();
    h.read(&mut stream);
    h.session(0).send("x").unwrap();
    h.read(&mut stream);
    drop(stream);
    let mut h2 = Harness::new(App::Capture, Options::new("/mix"));
    let (_, mut opened) = h2.post("/mix/0/t/xhr_streaming", "").stream();
    let (chunks, _) = h2.read(&mut opened);
    assert_eq!(chunks.last().unwrap(), "o\n");
    // Finish the stream by size so that the session has no receiver.
    let session = h2.session(0);
    session.send("y".repeat(200 * 1024)).unwrap();
    assert!(h2.read(&mut opened).1, "the stream ends past response_limit");
    session.send("a").unwrap();
    session.send("b").unwrap();
    assert_eq!(h2.poll_body("/mix/0/t/xhr"), "a[\"a\",\"b\"]\n", "one frame, then the poll ends");
}

/// Timer entries still waiting after their session is gone hold a few
/// bytes, not the session: its memory is released when it ends (found by
/// the 100 000-session soak, where pending heartbeat entries kept 54 MB).
#[test]
fn pending_timers_do_not_hold_ended_sessions() {
    let mut h = Harness::new(App::Capture, Options::new("/m"));
    h.poll_body("/m/0/s/xhr");
    let weak = Arc::downgrade(h.session(0).cell());
    assert_eq!(h.endpoint.metrics().pending_timers, 1);
    h.sessions.lock().unwrap().clear();
    h.advance(Duration::from_secs(5));
    assert_eq!(h.endpoint.session_count(), 0);
    assert_eq!(weak.strong_count(), 0, "the session is gone");
    assert_eq!(h.endpoint.metrics().pending_timers, 0, "and so is its timer entry");
}

// ---- the inbound bound ---------------------------------------------------

/// A send request held for room in the inbox.
fn send(h: &mut Harness, path: &str, body: &str) -> Polled<Delivery> {
    let request = Request::post(path).body(()).unwrap();
    let Dispatch::ReadBody(pending) = h.dispatch(request) else { panic!("not a send URL") };
    Polled::new(pending.finish(body.as_bytes(), h.now))
}

fn status(delivery: &mut Polled<Delivery>) -> Option<StatusCode> {
    match delivery.poll(|d, cx| Pin::new(d).poll(cx)) {
        Poll::Ready(r) => Some(r.status()),
        Poll::Pending => None,
    }
}

use futures_core::Stream;
use std::pin::Pin;

/// An application that never receives holds at most `max_inbox`: a send
/// that does not fit waits (one per session; a second gets 503 at once),
/// and gives up with 503 after `send_timeout`. Nothing accepted is lost.
#[test]
fn inbox_is_bounded_for_an_application_that_never_receives() {
    let options = Options::new("/p").max_payload(200).max_inbox(4 * (100 + 32)).send_timeout(Duration::from_secs(10));
    let mut h = Harness::new(App::Capture, options);
    let (_, mut rx) = h.post("/p/0/s/xhr_streaming", "").stream();
    h.read(&mut rx);
    let hundred = format!("[\"{}\"]", "x".repeat(100));
    for _ in 0..4 {
        assert_eq!(h.post("/p/0/s/xhr_send", &hundred).full().status(), 204);
    }
    assert_eq!(h.endpoint.metrics().inbox_bytes, 4 * 132, "full");
    let mut waiting = send(&mut h, "/p/0/s/xhr_send", &hundred);
    assert_eq!(status(&mut waiting), None, "the fifth waits for room");
    let mut second = send(&mut h, "/p/0/s/xhr_send", &hundred);
    assert_eq!(status(&mut second), Some(StatusCode::SERVICE_UNAVAILABLE), "one waiting send per session");
    h.advance(Duration::from_secs(9));
    assert_eq!(status(&mut waiting), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(status(&mut waiting), Some(StatusCode::SERVICE_UNAVAILABLE), "gave up after send_timeout");
    let m = h.endpoint.metrics();
    assert_eq!((m.inbox_bytes, m.messages_received), (4 * 132, 4));
    assert!(m.inbound_waits >= 1);
}

/// A slow reader gets every message once and in order: each waiting send
/// is let in as soon as the application makes room.
#[test]
fn slow_reader_receives_everything_in_order() {
    let mut h = Harness::new(App::Capture, Options::new("/p").max_payload(16).max_inbox(2 * (1 + 32)));
    h.poll_body("/p/0/s/xhr");
    let mut session = h.session(0);
    let mut received = Vec::new();
    let mut recv = Polled::new(());
    for i in 0..20 {
        let mut delivery = send(&mut h, "/p/0/s/xhr_send", &format!("[\"{}\"]", i % 10));
        while status(&mut delivery).is_none() {
            match recv.poll(|_, cx| Pin::new(&mut session).poll_next(cx)) {
                Poll::Ready(Some(m)) => received.push(m),
                other => panic!("a waiting send means a full inbox: {other:?}"),
            }
        }
    }
    while let Poll::Ready(Some(m)) = recv.poll(|_, cx| Pin::new(&mut session).poll_next(cx)) {
        received.push(m);
    }
    let expected: Vec<String> = (0..20).map(|i| (i % 10).to_string()).collect();
    assert_eq!(received, expected);
    assert_eq!(h.endpoint.metrics().inbox_bytes, 0);
}

/// A send whose messages alone cost more than the whole inbox may hold is
/// refused at once; dropping a waiting send withdraws its messages.
#[test]
fn oversized_and_withdrawn_sends() {
    let mut h = Harness::new(App::Capture, Options::new("/p").max_payload(16).max_inbox(64));
    h.poll_body("/p/0/s/xhr");
    assert_eq!(h.post("/p/0/s/xhr_send", r#"["a","b","c"]"#).full().status(), 413);
    assert_eq!(h.post("/p/0/s/xhr_send", r#"["a"]"#).full().status(), 204);
    let mut waiting = send(&mut h, "/p/0/s/xhr_send", r#"["b"]"#);
    assert_eq!(status(&mut waiting), None);
    drop(waiting);
    let mut session = h.session(0);
    let mut cx = noop_cx();
    assert_eq!(Pin::new(&mut session).poll_next(&mut cx), Poll::Ready(Some("a".to_string())));
    assert_eq!(Pin::new(&mut session).poll_next(&mut cx), Poll::Pending, "the withdrawn message never arrives");
    assert_eq!(h.post("/p/0/s/xhr_send", r#"["c"]"#).full().status(), 204, "the session takes sends again");
}

/// A websocket whose inbox is full is not read (`poll_ready` pends) while
/// its outgoing frames keep flowing; it is read again once there is room.
#[test]
fn websocket_backpressure() {
    let mut h = Harness::new(App::Capture, Options::new("/p").max_payload(16).max_inbox(2 * (1 + 32)));
    let mut ws = h.websocket("/p/0/w/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    // The input side of the driver's task, polled like the output side.
    let mut input = Polled::new(());
    let mut ready = |ws: &mut Ws| input.poll(|_, cx| ws.inner.poll_ready(cx)).is_ready();
    for m in ["[\"1\"]", "[\"2\"]"] {
        assert!(ready(&mut ws));
        ws.handle(msg(m));
    }
    assert!(ready(&mut ws));
    ws.handle(msg("[\"3\"]"));
    assert!(!ready(&mut ws), "full: stop reading");
    assert!(ws.holds_input());
    h.session(0).send("out").unwrap();
    assert_eq!(h.ws_read(&mut ws), vec![text("a[\"out\"]")], "frames still go out");
    let mut session = h.session(0);
    assert_eq!(Pin::new(&mut session).poll_next(&mut noop_cx()), Poll::Ready(Some("1".to_string())));
    assert!(ready(&mut ws), "woken and ready once the application took one");
    assert_eq!(h.endpoint.metrics().inbox_bytes, 2 * 33);
}

mod timer_properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Poll(u8),
        Send(u8),
        Abort,
        Stream(u8),
        Advance(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4u8).prop_map(Op::Poll),
            (0..4u8).prop_map(Op::Send),
            Just(Op::Abort),
            (0..4u8).prop_map(Op::Stream),
            (0..30_000u16).prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// After any sequence of polls, sends, aborts and timeouts, the
        /// timer queue holds at most one entry per live session.
        #[test]
        fn pending_timers_stay_within_one_per_session(ops in proptest::collection::vec(op(), 1..60)) {
            let mut h = Harness::echo();
            let mut streams: Vec<Rx> = Vec::new();
            for op in ops {
                match op {
                    Op::Poll(i) => {
                        let (_, mut rx) = h.post(&format!("/echo/0/s{i}/xhr"), "").stream();
                        h.read(&mut rx);
                        streams.push(rx);
                    }
                    Op::Send(i) => drop(h.post(&format!("/echo/0/s{i}/xhr_send"), r#"["m"]"#)),
                    Op::Abort => drop(streams.pop()),
                    Op::Stream(i) => {
                        let (_, mut rx) = h.post(&format!("/echo/0/s{i}/xhr_streaming"), "").stream();
                        h.read(&mut rx);
                        streams.push(rx);
                    }
                    Op::Advance(ms) => h.advance(Duration::from_millis(u64::from(ms))),
                }
                for rx in &mut streams {
                    let now = h.now;
                    while let Poll::Ready(Some(_)) = rx.poll(|rx, cx| rx.poll_chunk(cx, now)) {}
                }
                let m = h.endpoint.metrics();
                prop_assert!(m.pending_timers <= m.live_sessions(), "{:?}", m);
            }
        }
    }
}

/// §6 heartbeat: a websocket write that blocks because the client stopped
/// reading is given up once the session ends as stalled, two heartbeat
/// delays later (`poll_blocked` is ready), so the connection is not held
/// forever.
#[test]
fn a_blocked_websocket_write_is_abandoned_when_the_session_stalls() {
    let mut h = Harness::new(App::Capture, Options::new("/b"));
    let mut ws = h.websocket("/b/0/w/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    let session = h.session(0);
    session.send("x").unwrap();
    let now = h.now;
    assert!(matches!(ws.poll(|ws, cx| ws.poll_transmit(cx, now)), Poll::Ready(Some(_))), "the write starts");
    assert!(ws.poll(|ws, cx| ws.poll_blocked(cx)).is_pending());
    h.advance(Duration::from_secs(25));
    assert!(ws.poll(|ws, cx| ws.poll_blocked(cx)).is_pending(), "one heartbeat owed: not stalled yet");
    h.advance(Duration::from_secs(25));
    assert_eq!(ws.poll(|ws, cx| ws.poll_blocked(cx)), Poll::Ready(()), "woken and given up");
    assert_eq!(session.close_reason(), Some(CloseReason::Stalled));
}

/// The application can run inside the websocket driver: a message in is
/// echoed out within the driver's own polls, with no task of its own; an
/// application still busy when the connection ends is handed back.
#[test]
fn the_application_runs_inside_the_websocket_driver() {
    let mut h = Harness::echo();
    let Dispatch::WebSocket(upgrade) = h.dispatch(ws_request("/echo/0/w/websocket", None)) else { panic!() };
    let (mut ws, task) = upgrade.accept(h.now);
    ws.run_app(task);
    let mut ws = Polled::new(ws);
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    ws.handle(msg(r#"["a","b"]"#));
    assert_eq!(h.ws_read(&mut ws), vec![text(r#"a["a","b"]"#)], "echoed by the application inside the driver");
    assert!(h.tasks.is_empty(), "no task was spawned");
    assert!(ws.inner.into_app().is_some(), "the echo loop still runs: handed back");

    let busy = |mut session: Session| async move {
        while session.recv().await.is_some() {}
        std::future::pending::<()>().await;
    };
    let endpoint = Endpoint::new(Options::new("/busy"), busy);
    let (parts, ()) = ws_request("/busy/0/w/websocket", None).into_parts();
    let Dispatch::WebSocket(upgrade) = endpoint.handle(&parts, h.cx()) else { panic!() };
    let (mut ws, task) = upgrade.accept(h.now);
    ws.run_app(task);
    let mut ws = Polled::new(ws);
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    ws.handle(WsIncoming::<&str>::Close);
    assert_eq!(h.ws_read(&mut ws), vec![WsOutgoing::Close { code: 1000, reason: "Normal closure".into() }]);
    assert!(ws.inner.into_app().is_some(), "still busy after the session ended: spawn it to finish");
}

/// §5, §7: a broadcast `Message` reaches each transport wrapped as that
/// transport wraps frames, alone or joined with other queued messages,
/// and raw websockets get its bare text; the outgoing queue's accounting
/// comes back to zero.
#[test]
fn broadcast_messages_on_every_transport() {
    let mut h = Harness::new(App::Capture, Options::new("/b").max_queue(64));
    let message = Message::new("hi\n%");
    let (_, mut es) = h.get("/b/0/e/eventsource").stream();
    let (_, mut xs) = h.post("/b/0/x/xhr_streaming", "").stream();
    h.read(&mut es);
    h.read(&mut xs);
    let mut raw = h.websocket("/b/websocket");
    for i in 0..3 {
        h.session(i).send_message(&message).unwrap();
    }
    assert_eq!(h.read(&mut es).0, vec!["data: a[\"hi\\n%25\"]\r\n\r\n".to_string()]);
    assert_eq!(h.read(&mut xs).0, vec!["a[\"hi\\n%\"]\n".to_string()]);
    assert_eq!(h.ws_read(&mut raw), vec![text("hi\n%")]);
    // Joined with a message of the session's own.
    h.session(1).send("own").unwrap();
    h.session(1).send_message(&message).unwrap();
    assert_eq!(h.read(&mut xs).0, vec!["a[\"own\",\"hi\\n%\"]\n".to_string()]);
    // The queue's bound counts a broadcast message as the bytes this
    // session sends (5 for the raw text), and drains back to zero: 64
    // bytes hold twelve of them, and twelve again after they went out.
    for round in 0..2 {
        for _ in 0..12 {
            h.session(2).send_message(&message).unwrap();
        }
        assert_eq!(h.ws_read(&mut raw).len(), 12, "round {round}");
    }
}

mod multiplex;
mod rooms;

/// PROTOCOL.md §5: the open, message and close frames, the escape set applied.
#[test]
fn frame_encodings() {
    use crate::frame::Frame;
    assert_eq!(Frame::open().as_bytes(), &b"o"[..]);
    assert_eq!(Frame::message("hi").as_bytes(), &br#"a["hi"]"#[..]);
    assert_eq!(Frame::close(3000, "Go away!").as_bytes(), &br#"c[3000,"Go away!"]"#[..]);
    // The SockJS escape set is applied (PROTOCOL.md §8).
    assert_eq!(Frame::message("\u{2028}").as_bytes(), &br#"a["\u2028"]"#[..]);
}

/// PROTOCOL.md §7.5: a send body is one JSON array; anything else is refused.
#[test]
fn send_bodies_decode() {
    use crate::payload::{decode_messages, PayloadError};
    assert_eq!(decode_messages(br#"["a","\u00ff"]"#), Ok(vec!["a".to_string(), "\u{ff}".to_string()]));
    assert_eq!(decode_messages(b"[]"), Ok(vec![]));
    assert_eq!(decode_messages(b""), Err(PayloadError::Expected));
    assert_eq!(decode_messages(br#"["x"#), Err(PayloadError::BrokenJson));
    assert_eq!(decode_messages(b"{}"), Err(PayloadError::Expected));
}

/// PROTOCOL.md §7.10: a websocket text is an array, a bare value, or nothing.
#[test]
fn websocket_texts_decode() {
    use crate::payload::{decode_websocket_text, PayloadError};
    assert_eq!(decode_websocket_text(r#"["a","b"]"#), Ok(vec!["a".to_string(), "b".to_string()]));
    assert_eq!(decode_websocket_text(r#""a""#), Ok(vec!["a".to_string()]));
    assert_eq!(decode_websocket_text(""), Ok(vec![]));
    assert_eq!(decode_websocket_text(r#"["a"#), Err(PayloadError::BrokenJson));
}

/// PROTOCOL.md §3: paths route to their kind; a server id with a dot is no route.
#[test]
fn paths_route() {
    use crate::route::{route, Route, SessionUrl};
    assert_eq!(route("/echo", "/echo/info"), Some(Route::Info));
    assert_eq!(
        route("/echo", "/echo/000/abc/xhr"),
        Some(Route::Session { server_id: "000", session_id: "abc", kind: SessionUrl::Xhr })
    );
    assert_eq!(route("/echo", "/echo/a./a/xhr"), None);
}
