//! `Endpoint::handle` on arbitrary requests, driven the way an adapter
//! drives it, with a simulated clock and a noop waker.
//!
//! One input is a short script against a fresh endpoint: requests (method,
//! raw path and query, a few headers, a body) whose `Dispatch` is carried
//! out (send bodies are finished, streams polled, websockets accepted and
//! fed the body), interleaved with clock steps, websocket messages and
//! dropped connections. Nothing may panic, and once every connection is
//! gone and the clock has moved past every delay, no session may be left.

#![no_main]

use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use http::{Method, Request};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sockjs_core::{
    AppTask, Deflate, Dispatch, Endpoint, Jsessionid, Options, Origins, ReceiverBody, RequestContext, Session,
    Transport, WebSocket,
};

const PREFIX: &str = "/echo";
const MAX_OPS: usize = 24;
/// The endpoint's delays (sockjs-node's defaults), set in `options`.
const HEARTBEAT_DELAY: Duration = Duration::from_secs(25);
const DISCONNECT_DELAY: Duration = Duration::from_secs(5);
const MAX_HEADERS: usize = 8;
/// Polls of a stream or websocket per step: enough to drain what an echo
/// produces, bounded so that a stream that never ends cannot hang a run.
const POLLS: usize = 8;

#[derive(Arbitrary, Debug)]
struct Input {
    options: u16,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Request(Req),
    /// Moves the clock forward by this many 10 ms steps and runs the timers.
    Advance(u16),
    /// Polls every open stream and websocket.
    PollAll,
    /// The client of the n-th open stream goes away.
    DropStream(u8),
    /// The n-th open websocket receives something.
    Ws(u8, WsOp),
    CloseAll(u16, String),
}

/// What a websocket client does next: the bytes it writes (a frame it
/// builds, a compressed message, or raw bytes), its connection ending, or
/// the connection dropped.
#[derive(Arbitrary, Debug)]
enum WsOp {
    /// One RFC 6455 frame: any opcode, FIN bit and RSV bits, masked as a
    /// client must unless `unmasked`.
    Frame { opcode: u8, fin: bool, rsv: u8, unmasked: bool, payload: Vec<u8> },
    /// A text message compressed as permessage-deflate does (RFC 7692
    /// §7.2.1: raw DEFLATE, the final empty block's 4 bytes removed), in
    /// one masked frame with RSV1 set, repeated `repeat` times before
    /// compressing (a small frame that inflates large).
    Deflated { text: String, repeat: u16 },
    /// Bytes as they are (a partial frame, a Hixie-76 frame...).
    Raw(Vec<u8>),
    /// The connection ends without a close frame.
    Eof,
    /// The connection is dropped.
    Drop,
}

#[derive(Arbitrary, Debug)]
struct Req {
    method: u8,
    target: Target,
    query: Query,
    /// Websocket handshake headers added before `headers`.
    handshake: Handshake,
    headers: Vec<(Name, Value)>,
    body: Body,
    /// Keep the stream or websocket open for later steps.
    keep: bool,
}

#[derive(Arbitrary, Debug)]
enum Handshake {
    None,
    Rfc6455,
    /// RFC 6455, offering permessage-deflate.
    Rfc6455Deflate,
    Hixie76,
}

#[derive(Arbitrary, Debug)]
enum Target {
    /// A raw path, used as it is (it may not even be under the prefix).
    Raw(String),
    /// `<prefix>/<server>/<session>/<kind>[/]`.
    Session { server: Id, session: Id, kind: u8, slash: bool },
    /// One of the fixed URLs under the prefix.
    Fixed(u8),
}

#[derive(Arbitrary, Debug)]
enum Id {
    /// One of a few ids, so that requests meet the same session.
    Known(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Query {
    None,
    Known(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Known(u8),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Body {
    Raw(Vec<u8>),
    /// A JSON array of these strings.
    Messages(Vec<String>),
    /// `d=<the JSON array, percent-encoded>`, as jsonp_send forms carry it.
    Form(Vec<String>),
}

const METHODS: [Method; 7] =
    [Method::GET, Method::POST, Method::OPTIONS, Method::PUT, Method::DELETE, Method::HEAD, Method::PATCH];

const KINDS: [&str; 9] =
    ["xhr", "xhr_send", "xhr_streaming", "eventsource", "htmlfile", "jsonp", "jsonp_send", "websocket", "other"];

const FIXED: [&str; 10] = [
    "",
    "/",
    "/info",
    "/info/",
    "/websocket",
    "/websocket/",
    "/iframe.html",
    "/iframe-0.1.2.html",
    "/IFRAME.HTML",
    "/a/b/c/d",
];

const IDS: [&str; 4] = ["a", "b", "ÿ", "a%20b"];

const QUERIES: [&str; 6] = ["c=cb", "callback=x", "c=%63b&t=1", "c=", "c=a(b", "t=1"];

const NAMES: [&str; 17] = [
    "content-type",
    "origin",
    "upgrade",
    "connection",
    "sec-websocket-version",
    "sec-websocket-key",
    "sec-websocket-key1",
    "sec-websocket-key2",
    "host",
    "cookie",
    "if-none-match",
    "access-control-request-headers",
    "access-control-request-method",
    "user-agent",
    "x-forwarded-for",
    "authorization",
    "sec-websocket-extensions",
];

const VALUES: [&str; 23] = [
    "websocket",
    "WebSocket",
    "Upgrade",
    "keep-alive, Upgrade",
    "13",
    "8",
    "x3JJHMbDL1EzLkh9GBhXDw==",
    "4 @1  46546xW%0l 1 5",
    "12998 5 Y3 1  .P00",
    "application/x-www-form-urlencoded",
    "text/plain; charset=UTF-8",
    "application/json",
    "application/octet-stream",
    "JSESSIONID=abc; other=1",
    "JSESSIONID=",
    "http://example.com",
    "null",
    "127.0.0.1:8081",
    "a, b, c",
    "",
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=8, permessage-deflate",
];

fn pick<T: Copy>(list: &[T], i: u8) -> T {
    list[usize::from(i) % list.len()]
}

fn options(bits: u16) -> Options {
    let mut o = Options::new(PREFIX).heartbeat_delay(HEARTBEAT_DELAY).disconnect_delay(DISCONNECT_DELAY);
    if bits & 1 != 0 {
        o = o.cors(false);
    }
    if bits & 2 != 0 {
        o = o.jsessionid(Jsessionid::On);
    }
    if bits & 4 != 0 {
        o = o.websocket(false);
    }
    if bits & 8 != 0 {
        o = o.raw_websocket(false);
    }
    if bits & 16 != 0 {
        o = o.response_limit(64);
    }
    if bits & 32 != 0 {
        o = o.max_payload(16);
    }
    if bits & 64 != 0 {
        o = o.max_sessions(2);
    }
    if bits & 128 != 0 {
        o = o.max_queue(64);
    }
    if bits & 256 != 0 {
        o = o.disable(Transport::JsonpPolling).disable(Transport::XhrStreaming);
    }
    if bits & 512 != 0 {
        o = o.disable(Transport::XhrPolling).disable(Transport::EventSource).disable(Transport::HtmlFile);
    }
    if bits & 1024 != 0 {
        o = o.heartbeat_delay(Duration::from_millis(50)).disconnect_delay(Duration::from_millis(30));
    }
    if bits & 2048 != 0 {
        o = o.origins(Origins::List(vec!["http://example.com".into()]));
    }
    if bits & 4096 != 0 {
        o = o.websocket_deflate(Deflate::new());
    }
    o
}

/// Echoes every message; a few messages make it close the session or send
/// JSON instead, to reach the server-side close paths.
async fn app(mut session: Session) {
    while let Some(message) = session.recv().await {
        if message == "close" {
            session.close(3000, "Go away!");
        } else if let Some(rest) = message.strip_prefix("close ") {
            let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            session.close(code.parse().unwrap_or(1000), reason);
        } else if message == "json" {
            let _ = session.send_json(&[1, 2, 3]);
        } else {
            let _ = session.send(&message);
        }
    }
}

fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Driver {
    endpoint: Endpoint,
    now: Instant,
    tasks: Vec<AppTask>,
    streams: Vec<ReceiverBody>,
    sockets: Vec<WebSocket>,
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

impl Driver {
    fn cx(&self) -> RequestContext {
        RequestContext { now: self.now, wall_clock: SystemTime::UNIX_EPOCH, entropy: 42, remote_addr: None }
    }

    fn run_tasks(&mut self) {
        let mut cx = noop_cx();
        for _ in 0..2 {
            self.tasks.retain_mut(|task| task.as_mut().poll(&mut cx).is_pending());
        }
    }

    /// Polls a stream a few times; whether it ended.
    fn poll_stream(rx: &mut ReceiverBody, now: Instant) -> bool {
        for _ in 0..POLLS {
            match rx.poll_chunk(&mut noop_cx(), now) {
                Poll::Ready(Some(_)) => {}
                Poll::Ready(None) => return true,
                Poll::Pending => return false,
            }
        }
        false
    }

    /// Polls a websocket's output a few times; whether it is closed.
    /// Drives a websocket a few times the way the driver's pump does:
    /// decode what was read, then take what is to be written; whether the
    /// connection is to be closed. A driver that is done writing must also
    /// have stopped taking input.
    fn poll_socket(ws: &mut WebSocket, now: Instant) -> bool {
        for _ in 0..POLLS {
            let _ = ws.poll_ready(&mut noop_cx());
            match ws.poll_transmit(&mut noop_cx(), now) {
                Poll::Ready(Some(bytes)) => assert!(!bytes.is_empty(), "an empty write"),
                Poll::Ready(None) => {
                    assert!(ws.input_done(), "poll_transmit ended while input is still taken");
                    return true;
                }
                Poll::Pending => return false,
            }
        }
        false
    }

    fn poll_all(&mut self) {
        self.run_tasks();
        let now = self.now;
        self.streams.retain_mut(|rx| !Driver::poll_stream(rx, now));
        self.sockets.retain_mut(|ws| !Driver::poll_socket(ws, now));
        self.run_tasks();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.endpoint.handle_timeout(self.now);
        self.run_tasks();
    }

    fn request(&mut self, req: Req) {
        let method = METHODS.get(usize::from(req.method)).cloned().unwrap_or_else(|| {
            Method::from_bytes(format!("X{}", req.method).as_bytes()).expect("a valid extension method")
        });
        let mut uri = match &req.target {
            Target::Raw(path) => path.clone(),
            Target::Session { server, session, kind, slash } => {
                let id = |id: &Id| match id {
                    Id::Known(i) => pick(&IDS, *i).to_string(),
                    Id::Raw(s) => s.clone(),
                };
                let slash = if *slash { "/" } else { "" };
                format!("{PREFIX}/{}/{}/{}{slash}", id(server), id(session), pick(&KINDS, *kind))
            }
            Target::Fixed(i) => format!("{PREFIX}{}", pick(&FIXED, *i)),
        };
        match &req.query {
            Query::None => {}
            Query::Known(i) => {
                uri.push('?');
                uri.push_str(pick(&QUERIES, *i));
            }
            Query::Raw(q) => {
                uri.push('?');
                uri.push_str(q);
            }
        }
        let mut builder = Request::builder().method(method).uri(uri);
        let handshake: &[(&str, &str)] = match req.handshake {
            Handshake::None => &[],
            Handshake::Rfc6455 => &[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "x3JJHMbDL1EzLkh9GBhXDw=="),
            ],
            Handshake::Rfc6455Deflate => &[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "x3JJHMbDL1EzLkh9GBhXDw=="),
                ("sec-websocket-extensions", "permessage-deflate; client_max_window_bits"),
            ],
            Handshake::Hixie76 => &[
                ("upgrade", "WebSocket"),
                ("connection", "Upgrade"),
                ("host", "127.0.0.1:8081"),
                ("origin", "http://127.0.0.1:8081"),
                ("sec-websocket-key1", "4 @1  46546xW%0l 1 5"),
                ("sec-websocket-key2", "12998 5 Y3 1  .P00"),
            ],
        };
        for (name, value) in handshake {
            builder = builder.header(*name, *value);
        }
        for (name, value) in req.headers.iter().take(MAX_HEADERS) {
            let name = match name {
                Name::Known(i) => pick(&NAMES, *i).as_bytes(),
                Name::Raw(s) => s.as_bytes(),
            };
            let value = match value {
                Value::Known(i) => pick(&VALUES, *i).as_bytes(),
                Value::Raw(v) => v.as_slice(),
            };
            builder = builder.header(name, value);
        }
        // Requests that `http` itself rejects never reach an adapter.
        let Ok(request) = builder.body(()) else { return };
        let (parts, ()) = request.into_parts();

        let body: Vec<u8> = match req.body {
            Body::Raw(bytes) => bytes,
            Body::Messages(messages) => serde_json::to_vec(&messages).expect("strings serialise"),
            Body::Form(messages) => {
                let json = serde_json::to_vec(&messages).expect("strings serialise");
                format!("d={}", percent_encode(&json)).into_bytes()
            }
        };

        match self.endpoint.handle(&parts, self.cx()) {
            Dispatch::Response(response) => {
                let _ = response.status();
            }
            Dispatch::ReadBody(pending) => {
                let limit = pending.limit();
                let mut delivery = pending.finish(&body, self.now);
                let response = delivery.take_ready();
                if body.len() > limit {
                    assert_eq!(response.map(|r| r.status()), Some(http::StatusCode::PAYLOAD_TOO_LARGE));
                }
                self.run_tasks();
            }
            Dispatch::Stream { response, task } => {
                if let Some(task) = task {
                    self.tasks.push(task);
                }
                self.run_tasks();
                let mut rx = response.into_body();
                let ended = Driver::poll_stream(&mut rx, self.now);
                if req.keep && !ended {
                    self.streams.push(rx);
                }
                self.run_tasks();
            }
            Dispatch::WebSocket(upgrade) => {
                let _ = upgrade.hixie76().map(|hixie| hixie.response());
                let _ = (upgrade.max_message_size(), upgrade.transport(), upgrade.response());
                let (mut ws, task) = upgrade.accept(self.now);
                self.tasks.extend(task);
                self.run_tasks();
                // The body is what the client wrote after its handshake:
                // RFC 6455 frames, or Hixie-76's 8 key bytes and frames.
                ws.handle_input(&body);
                self.run_tasks();
                let closed = Driver::poll_socket(&mut ws, self.now);
                if req.keep && !closed {
                    self.sockets.push(ws);
                }
                self.run_tasks();
            }
        }
    }

    fn websocket_op(&mut self, index: u8, op: WsOp) {
        if self.sockets.is_empty() {
            return;
        }
        let i = usize::from(index) % self.sockets.len();
        let ws = &mut self.sockets[i];
        match op {
            WsOp::Frame { opcode, fin, rsv, unmasked, payload } => {
                ws.handle_input(&client_frame(opcode, fin, rsv, !unmasked, &payload));
            }
            WsOp::Deflated { text, repeat } => {
                let message = text.repeat(usize::from(repeat % 4096).max(1));
                ws.handle_input(&client_frame(0x1, true, 0b100, true, &deflate_message(message.as_bytes())));
            }
            WsOp::Raw(bytes) => ws.handle_input(&bytes),
            WsOp::Eof => ws.handle_eof(),
            WsOp::Drop => {
                self.sockets.swap_remove(i);
            }
        }
        self.run_tasks();
        let now = self.now;
        self.sockets.retain_mut(|ws| !Driver::poll_socket(ws, now));
        self.run_tasks();
    }
}

/// An RFC 6455 frame as a client writes it (§5.2), with `rsv`'s low three
/// bits as RSV1-3 and a fixed masking key when `masked`.
fn client_frame(opcode: u8, fin: bool, rsv: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![(u8::from(fin) << 7) | ((rsv & 0b111) << 4) | (opcode & 0x0f)];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => frame.push(mask_bit | n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = [0x37, 0xfa, 0x21, 0x3d];
    if masked {
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

/// `message` compressed as permessage-deflate sends it (RFC 7692 §7.2.1).
fn deflate_message(message: &[u8]) -> Vec<u8> {
    let mut compress = flate2::Compress::new(flate2::Compression::fast(), false);
    let mut out = Vec::with_capacity(message.len() / 2 + 64);
    loop {
        let consumed = compress.total_in() as usize;
        out.reserve(256);
        let status = compress.compress_vec(&message[consumed..], &mut out, flate2::FlushCompress::Sync);
        if status.is_err() || (compress.total_in() as usize == message.len() && out.capacity() > out.len()) {
            break;
        }
    }
    if out.ends_with(&[0x00, 0x00, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

fuzz_target!(|input: Input| {
    let options = options(input.options);
    let quiet_after = DISCONNECT_DELAY + HEARTBEAT_DELAY + Duration::from_secs(60);
    let mut d = Driver {
        endpoint: Endpoint::new(options, app),
        now: Instant::now(),
        tasks: Vec::new(),
        streams: Vec::new(),
        sockets: Vec::new(),
    };
    for op in input.ops.into_iter().take(MAX_OPS) {
        match op {
            Op::Request(req) => d.request(req),
            Op::Advance(steps) => d.advance(Duration::from_millis(10) * u32::from(steps)),
            Op::PollAll => d.poll_all(),
            Op::DropStream(i) => {
                if !d.streams.is_empty() {
                    let i = usize::from(i) % d.streams.len();
                    d.streams.swap_remove(i);
                }
                d.run_tasks();
            }
            Op::Ws(i, op) => d.websocket_op(i, op),
            Op::CloseAll(code, reason) => {
                d.endpoint.close_all(code, &reason);
                d.poll_all();
            }
        }
    }
    d.poll_all();
    // A later instant: whatever is due runs.
    d.advance(Duration::from_secs(30));
    d.poll_all();

    // Every client goes away; past every delay, nothing is left.
    d.streams.clear();
    d.sockets.clear();
    d.run_tasks();
    d.advance(quiet_after);
    d.advance(quiet_after);
    assert_eq!(d.endpoint.session_count(), 0, "sessions left after every client went away");
    assert!(d.tasks.is_empty(), "{} application tasks still running after every session ended", d.tasks.len());
});
