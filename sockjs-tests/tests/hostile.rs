//! Hostile clients against both adapters, over real sockets: malformed and
//! oversized input, injection attempts, websocket abuse, clients that
//! vanish mid-request, and a churn of thousands of sessions. Nothing may
//! panic a worker, every bad request gets a clear answer, and no session
//! may be left behind.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sockjs_core::{Endpoint, Options, Session};
use sockjs_tests::http1::{fetch, Connection, Request};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

type Server = Box<dyn std::any::Any>;
type Start = fn(TcpListener, Vec<Endpoint>) -> std::io::Result<Server>;

const DISCONNECT_DELAY: Duration = Duration::from_millis(300);

async fn echo(mut session: Session) {
    while let Some(message) = session.recv().await {
        if session.send(message).is_err() {
            break;
        }
    }
}

async fn close(session: Session) {
    session.close(3000, "Go away!");
}

fn endpoints() -> (Endpoint, Endpoint) {
    let options = |prefix: &str| Options::new(prefix).disconnect_delay(DISCONNECT_DELAY);
    (Endpoint::new(options("/h"), echo), Endpoint::new(options("/hc"), close))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

struct Checks {
    addr: String,
    failures: Vec<String>,
}

impl Checks {
    fn expect(&mut self, what: &str, ok: bool, detail: impl std::fmt::Display) {
        if !ok {
            self.failures.push(format!("{what}: {detail}"));
        }
    }

    async fn fetch(&mut self, request: Request) -> Option<sockjs_tests::http1::Response> {
        match fetch(&self.addr, &request).await {
            Ok(r) => Some(r),
            Err(e) => {
                self.failures.push(format!("{} {}: {e}", request.method, request.target));
                None
            }
        }
    }

    /// The server still answers normally.
    async fn still_alive(&mut self, after: &str) {
        let r = self.fetch(Request::get("/h")).await;
        self.expect(after, r.as_ref().is_some_and(|r| r.status == 200), "the server stopped answering");
    }

    fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

async fn bad_http_input(c: &mut Checks) {
    // Oversized path and query: a clear 4xx, never a crash.
    let long = "a".repeat(20_000);
    if let Some(r) = c.fetch(Request::get(&format!("/h/{long}"))).await {
        c.expect("oversized path", (400..500).contains(&r.status), format!("status {}", r.status));
    }
    c.still_alive("after an oversized path").await;
    if let Some(r) = c.fetch(Request::get(&format!("/h/0/q/jsonp?c=x&{long}"))).await {
        c.expect("oversized query", r.status == 200 || (400..500).contains(&r.status), r.status);
    }
    // A huge Origin and Access-Control-Request-Headers.
    let huge = format!("http://{}", "o".repeat(6000));
    let request =
        Request::new("OPTIONS", "/h/0/o/xhr").header("Origin", &huge).header("Access-Control-Request-Headers", &huge);
    if let Some(r) = c.fetch(request).await {
        let ok = r.status == 204 && r.headers.get("access-control-allow-origin") == Some(huge.as_str());
        c.expect("huge Origin is echoed intact", ok || r.status == 431, format!("status {}", r.status));
    }
    // Callbacks: injection and XSS attempts are refused, never reflected.
    for callback in ["%0d%0aSet-Cookie:%20evil=1", "alert(1)//", "%3C/script%3E", "a%22b", &"c".repeat(33)] {
        for url in ["jsonp", "htmlfile"] {
            let Some(r) = c.fetch(Request::get(&format!("/h/0/cb/{url}?c={callback}"))).await else { continue };
            let text = r.text();
            c.expect(&format!("{url} callback {callback}"), r.status == 500, format!("status {}", r.status));
            c.expect(&format!("{url} callback {callback} body"), text == "invalid \"callback\" parameter", &text);
            c.expect(
                &format!("{url} callback {callback} cookie"),
                !r.headers.contains("set-cookie"),
                "a cookie was set",
            );
        }
    }
    // Bodies.
    let poll = c.fetch(Request::post("/h/0/b/xhr")).await;
    c.expect("open a session for bodies", poll.is_some_and(|r| r.body == b"o\n"), "no open frame");
    let cases: [(&str, Vec<u8>, u16, &str); 5] = [
        ("deep nesting", "[".repeat(100_000).into_bytes(), 500, "Broken JSON encoding."),
        ("invalid UTF-8", b"[\"\xff\xfe\"]".to_vec(), 500, "Broken JSON encoding."),
        ("not an array", b"{\"a\":1}".to_vec(), 500, "Payload expected."),
        ("lone surrogate", br#"["\ud800"]"#.to_vec(), 500, "Broken JSON encoding."),
        ("over the payload limit", format!("[\"{}\"]", "x".repeat(300 * 1024)).into_bytes(), 413, "Payload too large."),
    ];
    for (what, body, status, message) in cases {
        if let Some(r) = c.fetch(Request::post("/h/0/b/xhr_send").body(body)).await {
            c.expect(what, r.status == status && r.text() == message, format!("{} {:?}", r.status, r.text()));
        }
    }
    // A large array of tiny messages is fine while it fits the inbox
    // (each message counts 32 bytes beyond its text against max_inbox)...
    let many = format!("[{}\"\"]", "\"\",".repeat(20_000));
    if let Some(r) = c.fetch(Request::post("/h/0/b/xhr_send").body(many)).await {
        c.expect("20001 tiny messages", r.status == 204, r.status);
    }
    // ...and one that would cost more than the whole inbox (1.9 MB of
    // queue entries from a 180 KB body) is refused, not queued.
    let too_many = format!("[{}\"\"]", "\"\",".repeat(60_000));
    if let Some(r) = c.fetch(Request::post("/h/0/b/xhr_send").body(too_many)).await {
        c.expect("60001 tiny messages", r.status == 413, r.status);
    }
    c.still_alive("after hostile bodies").await;
}

async fn vanishing_clients(c: &mut Checks) {
    // Half a request head, then gone.
    if let Ok(mut conn) = Connection::connect(&c.addr).await {
        let _ = conn.send_raw(b"POST /h/0/v1/xhr HTTP/1.1\r\nHost: x\r\nContent-Le").await;
    }
    // A send body cut short: nothing may be delivered.
    let open = c.fetch(Request::post("/h/0/v2/xhr")).await;
    c.expect("open v2", open.is_some_and(|r| r.body == b"o\n"), "no open frame");
    if let Ok(conn) = Connection::connect(&c.addr).await {
        let (mut stream, _) = conn.into_parts();
        let head = "POST /h/0/v2/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[\"partial";
        let _ = stream.write_all(head.as_bytes()).await;
        drop(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Ok(mut conn) = Connection::connect(&c.addr).await {
        if conn.send(&Request::post("/h/0/v2/xhr_send").body("[\"whole\"]")).await.is_ok() {
            let _ = conn.read_response("POST").await;
        }
    }
    let r = c.fetch(Request::post("/h/0/v2/xhr")).await;
    c.expect(
        "a cut-short body delivers nothing",
        r.as_ref().is_some_and(|r| r.body == b"a[\"whole\"]\n"),
        r.map(|r| r.text()).unwrap_or_default(),
    );
    // A streaming receiver dropped mid-response.
    if let Ok(mut conn) = Connection::connect(&c.addr).await {
        let _ = conn.send(&Request::post("/h/0/v3/xhr_streaming")).await;
        let _ = conn.read_head().await;
    }
    c.still_alive("after vanishing clients").await;
}

async fn websocket_abuse(c: &mut Checks) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(c.ws_url("/h/0/w1/websocket")).await else {
        c.failures.push("websocket connect".into());
        return;
    };
    let open = next_message(&mut ws).await;
    c.expect("ws open", open == Some(Message::text("o")), format!("{open:?}"));
    // A ping flood is answered and does not starve the session.
    for _ in 0..500 {
        if ws.feed(Message::Ping(b"p".to_vec().into())).await.is_err() {
            break;
        }
    }
    let _ = ws.flush().await;
    // A fragmented text message arrives whole.
    let first = Frame::message(b"[\"frag".to_vec(), OpCode::Data(Data::Text), false);
    let rest = Frame::message(b"mented\"]".to_vec(), OpCode::Data(Data::Continue), true);
    let _ = ws.send(Message::Frame(first)).await;
    let _ = ws.send(Message::Frame(rest)).await;
    // The echo may come in one frame or two.
    let mut messages: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while messages.is_empty() && Instant::now() < deadline {
        match next_message(&mut ws).await {
            Some(Message::Text(t)) => {
                let batch = t.strip_prefix('a').and_then(|a| serde_json::from_str::<Vec<String>>(a).ok());
                messages.extend(batch.unwrap_or_else(|| vec![format!("unexpected frame {t}")]));
            }
            Some(_) => {}
            None => break,
        }
    }
    c.expect("fragments", messages == ["fragmented"], format!("{messages:?}"));
    // Invalid UTF-8 in a text message closes with 1007 (RFC 6455 §8.1).
    let invalid = Frame::message(b"[\"\xff\xfe\"]".to_vec(), OpCode::Data(Data::Text), true);
    let _ = ws.send(Message::Frame(invalid)).await;
    let closed = close_code(&mut ws).await;
    c.expect("invalid UTF-8 closes with 1007", closed == Some(1007), format!("{closed:?}"));
    // The endpoint carries text: a binary message closes with 1003 (RFC 6455 §7.4.1).
    if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(c.ws_url("/h/0/wb/websocket")).await {
        let _ = next_message(&mut ws).await;
        let _ = ws.send(Message::Binary(b"[\"bin\"]".to_vec().into())).await;
        let closed = close_code(&mut ws).await;
        c.expect("a binary message closes with 1003", closed == Some(1003), format!("{closed:?}"));
    }

    // A message over the payload limit closes with 1009.
    if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(c.ws_url("/h/0/w2/websocket")).await {
        let _ = next_message(&mut ws).await;
        let _ = ws.send(Message::text(format!("[\"{}\"]", "x".repeat(300 * 1024)))).await;
        let closed = close_code(&mut ws).await;
        c.expect("oversized message closes with 1009", closed == Some(1009), format!("{closed:?}"));
    }
    c.still_alive("after websocket abuse").await;
}

/// The next message, if one comes within 3 s.
async fn next_message<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Option<Message>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(Duration::from_secs(3), ws.next()).await.ok().flatten().and_then(Result::ok)
}

/// Reads until the close frame; its code.
async fn close_code<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Option<u16>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let deadline = Instant::now() + Duration::from_secs(3);
    while let Ok(Some(message)) =
        tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), ws.next()).await
    {
        match message {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

/// Waits (bounded) until every session of the endpoints has ended.
async fn all_sessions_end(c: &mut Checks, endpoints: &[Endpoint]) {
    let deadline = Instant::now() + DISCONNECT_DELAY * 10 + Duration::from_secs(5);
    loop {
        let live: u64 = endpoints.iter().map(|e| e.metrics().live_sessions()).sum();
        let registered: usize = endpoints.iter().map(Endpoint::session_count).sum();
        if live == 0 && registered == 0 {
            break;
        }
        if Instant::now() > deadline {
            c.failures.push(format!("sessions left behind: {live} live, {registered} registered"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for e in endpoints {
        let m = e.metrics();
        c.expect("every opened session closed", m.sessions_opened == m.sessions_closed, format!("{m:?}"));
    }
}

/// `Endpoint::shutdown` reaches clients: a stream and a websocket get the
/// 1001 close frame, and the websocket a 1001 close.
async fn shutdown_reaches_clients(c: &mut Checks, endpoint: &Endpoint) {
    let Ok(mut stream) = Connection::connect(&c.addr).await else { return };
    let _ = stream.send(&Request::post("/h/0/sd1/xhr_streaming")).await;
    let _ = stream.read_head().await;
    let _ = stream.read_chunk().await; // prelude
    let _ = stream.read_chunk().await; // o
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(c.ws_url("/h/0/sd2/websocket")).await else { return };
    let _ = next_message(&mut ws).await;
    endpoint.shutdown();
    let chunk = stream.read_chunk().await.ok().flatten();
    let expected = b"c[1001,\"Server shutting down\"]\n".to_vec();
    c.expect("shutdown frame on xhr_streaming", chunk.as_ref() == Some(&expected), format!("{chunk:?}"));
    let frame = next_message(&mut ws).await;
    c.expect(
        "shutdown frame on websocket",
        frame == Some(Message::text("c[1001,\"Server shutting down\"]")),
        format!("{frame:?}"),
    );
    let code = close_code(&mut ws).await;
    c.expect("websocket closes with 1001", code == Some(1001), format!("{code:?}"));
}

fn run(name: &str, start: Start) {
    let (echo, close) = endpoints();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = start(listener, vec![echo.clone(), close.clone()]).unwrap();
    let mut c = Checks { addr, failures: Vec::new() };
    runtime().block_on(async {
        bad_http_input(&mut c).await;
        vanishing_clients(&mut c).await;
        websocket_abuse(&mut c).await;
        let errors = sockjs_tests::churn::churn(&c.addr, "/h", "/hc", 2000, 64).await;
        c.failures.extend(errors.into_iter().map(|e| format!("churn: {e}")));
        c.still_alive("after the churn").await;
        all_sessions_end(&mut c, &[echo.clone(), close.clone()]).await;
        shutdown_reaches_clients(&mut c, &echo).await;
    });
    drop(server);
    let m = echo.metrics();
    println!(
        "{name}: {} sessions opened and closed on /h, {} on /hc",
        m.sessions_closed,
        close.metrics().sessions_closed
    );
    assert!(m.sessions_opened >= 1000, "{name}: the churn did not run: {m:?}");
    assert!(c.failures.is_empty(), "{name}: {} failures:\n{}", c.failures.len(), c.failures.join("\n"));
}

#[test]
fn actix_withstands_hostile_clients() {
    run("actix", |listener, endpoints| Ok(Box::new(sockjs_examples::serve_actix(listener, endpoints, 2)?)));
}

#[test]
fn warp_withstands_hostile_clients() {
    run("warp", |listener, endpoints| Ok(Box::new(sockjs_examples::serve_warp(listener, endpoints, 2)?)));
}

#[test]
fn axum_withstands_hostile_clients() {
    run("axum", |listener, endpoints| Ok(Box::new(sockjs_examples::serve_axum(listener, endpoints, 2)?)));
}

/// The request-head bound the stalled-connection tests give the servers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Well above [`REQUEST_TIMEOUT`], and below the 5 s that actix-web uses
/// when it is not told: a close within it comes from the configured bound.
const CLOSED_WITHIN: Duration = Duration::from_secs(4);

type StartWith = fn(TcpListener, Vec<Endpoint>, sockjs_examples::ServeOptions) -> std::io::Result<Server>;

/// How the server ended a connection that sent nothing more.
#[derive(Debug, PartialEq)]
enum End {
    /// A FIN (read returned 0), possibly after a response such as 408.
    Eof,
    /// A reset.
    Reset,
    /// Still open after [`CLOSED_WITHIN`].
    Open,
}

/// Reads (discarding any bytes, a 408 say) until the server ends the
/// connection, for at most `limit`.
async fn end_of(stream: &mut tokio::net::TcpStream, limit: Duration) -> End {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    // Bounded by the deadline; every pass consumes bytes or ends.
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return End::Open,
            Ok(Ok(0)) => return End::Eof,
            Ok(Ok(_)) => continue,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => return End::Reset,
            Ok(Err(_)) => return End::Reset,
        }
    }
}

/// One way to stall: a whole request first (or not), then half a request
/// head (or nothing).
type Stall = (&'static str, Option<&'static str>, &'static [u8]);

const HALF_HEAD: &[u8] = b"POST /h/0/s/xhr HTTP/1.1\r\nHost: x\r\nContent-Le";
const HALF_A_REQUEST_HEAD: Stall = ("half a request head", None, HALF_HEAD);
const NOTHING: Stall = ("nothing at all", None, b"");
const IDLE: Stall = ("idle after a keep-alive response", Some("/h"), b"");
const HALF_A_SECOND_HEAD: Stall = ("half a second request head", Some("/h"), HALF_HEAD);

/// Opens a connection, sends `first` (a whole request, whose response it
/// reads, or nothing), then `then` (half a request head, or nothing), and
/// says how the server ended it.
async fn stall(addr: &str, first: Option<&str>, then: &[u8]) -> Result<End, String> {
    let mut conn = Connection::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    if let Some(path) = first {
        conn.send(&Request::get(path)).await.map_err(|e| format!("first request: {e}"))?;
        let r = conn.read_response("GET").await.map_err(|e| format!("first response: {e}"))?;
        if r.status != 200 {
            return Err(format!("first response: status {}", r.status));
        }
    }
    if !then.is_empty() {
        conn.send_raw(then).await.map_err(|e| format!("half a head: {e}"))?;
    }
    let (mut stream, _) = conn.into_parts();
    Ok(end_of(&mut stream, CLOSED_WITHIN).await)
}

/// Design rule "everything a peer can fill has a bound" (DESIGN.md §1.4), for
/// connections: a request head not complete within the server's bound is
/// closed, and so is a keep-alive connection idle beyond it (PROTOCOL.md
/// §2, §9 keep-alive). A long poll and a websocket that outlive the bound
/// are not cut (§7.4, §7.10).
fn stalled_connections_are_closed(name: &str, start: StartWith, cases: &[Stall]) {
    let (echo, close) = endpoints();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let options =
        sockjs_examples::ServeOptions { request_timeout: REQUEST_TIMEOUT, ..sockjs_examples::ServeOptions::new(2) };
    let server = start(listener, vec![echo.clone(), close.clone()], options).unwrap();
    let mut c = Checks { addr: addr.clone(), failures: Vec::new() };
    runtime().block_on(async {
        // A long poll and a websocket that outlive the bound keep working.
        let open = c.fetch(Request::post("/h/0/lp/xhr")).await;
        c.expect("open a session for a long poll", open.is_some_and(|r| r.body == b"o\n"), "no open frame");
        let poll = tokio::spawn({
            let addr = addr.clone();
            async move {
                let mut conn = Connection::connect(&addr).await?;
                conn.read_timeout = CLOSED_WITHIN * 2;
                conn.send(&Request::post("/h/0/lp/xhr")).await?;
                conn.read_response("POST").await
            }
        });
        let ws = tokio_tungstenite::connect_async(c.ws_url("/h/0/lw/websocket")).await;
        let mut ws = ws.map(|(ws, _)| ws).map_err(|e| c.failures.push(format!("websocket connect: {e}"))).ok();
        if let Some(ws) = ws.as_mut() {
            let o = next_message(ws).await;
            c.expect("ws open", o == Some(Message::text("o")), format!("{o:?}"));
        }
        // Several of each at once; each ends by itself within CLOSED_WITHIN.
        let mut tasks = Vec::new();
        for &(what, first, then) in cases {
            for _ in 0..8 {
                let addr = addr.clone();
                tasks.push((what, tokio::spawn(async move { stall(&addr, first, then).await })));
            }
        }
        for (what, task) in tasks {
            match task.await {
                Ok(Ok(End::Eof | End::Reset)) => {}
                Ok(Ok(End::Open)) => c.failures.push(format!("{what}: still open after {CLOSED_WITHIN:?}")),
                Ok(Err(e)) => c.failures.push(format!("{what}: {e}")),
                Err(e) => c.failures.push(format!("{what}: {e}")),
            }
        }
        // The stalled connections opened after the poll and the websocket,
        // and the server closed them, so both have outlived the bound.
        let sent = c.fetch(Request::post("/h/0/lp/xhr_send").body("[\"late\"]")).await;
        c.expect("send to the long poll", sent.is_some_and(|r| r.status == 204), "not 204");
        let polled = tokio::time::timeout(CLOSED_WITHIN, poll).await;
        let body = match polled {
            Ok(Ok(Ok(r))) => r.text(),
            other => format!("{other:?}"),
        };
        c.expect("a long poll outlives the request timeout", body == "a[\"late\"]\n", &body);
        if let Some(ws) = ws.as_mut() {
            let _ = ws.send(Message::text("[\"still\"]")).await;
            let echo = next_message(ws).await;
            c.expect(
                "a websocket outlives the request timeout",
                echo == Some(Message::text("a[\"still\"]")),
                format!("{echo:?}"),
            );
        }
        c.still_alive("after stalled connections").await;
    });
    drop(server);
    assert!(c.failures.is_empty(), "{name}: {} failures:\n{}", c.failures.len(), c.failures.join("\n"));
}

fn start_actix(
    listener: TcpListener,
    endpoints: Vec<Endpoint>,
    options: sockjs_examples::ServeOptions,
) -> std::io::Result<Server> {
    Ok(Box::new(sockjs_examples::serve_actix_with(listener, endpoints, options)?))
}

#[test]
fn actix_closes_stalled_and_idle_connections() {
    stalled_connections_are_closed("actix", start_actix, &[HALF_A_REQUEST_HEAD, NOTHING, IDLE]);
}

#[test]
fn warp_closes_stalled_and_idle_connections() {
    stalled_connections_are_closed(
        "warp",
        |listener, endpoints, options| Ok(Box::new(sockjs_examples::serve_warp_with(listener, endpoints, options)?)),
        &[HALF_A_REQUEST_HEAD, NOTHING, IDLE, HALF_A_SECOND_HEAD],
    );
}

#[test]
fn axum_closes_stalled_and_idle_connections() {
    stalled_connections_are_closed(
        "axum",
        |listener, endpoints, options| Ok(Box::new(sockjs_examples::serve_axum_with(listener, endpoints, options)?)),
        &[HALF_A_REQUEST_HEAD, NOTHING, IDLE, HALF_A_SECOND_HEAD],
    );
}

/// How a websocket connection ended, seen from a raw socket.
#[derive(Debug, PartialEq)]
enum WsEnd {
    /// The server's close frame, then a clean end of stream (FIN).
    Clean { close_code: u16 },
    /// Something else; what.
    Unclean(String),
}

/// A masked client frame (mask 0, which leaves the payload as is).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126, "short frames only");
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// Connects a websocket to `path` over a raw socket, sends `message` (if
/// any) once the server's first frame arrived, answers the server's close
/// frame with one of its own, as clients do, and reads on to the end of
/// the stream: `Ok(0)` is a FIN, an error a reset. Bounded by 5 s.
async fn ws_close_seen_raw(addr: &str, path: &str, message: Option<&[u8]>) -> WsEnd {
    use tokio::io::AsyncReadExt;
    let run = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("handshake: {e}"))?;
        let mut buf = Vec::new();
        let mut head_done = false;
        let mut sent = message.is_none();
        let mut chunk = [0u8; 4096];
        // Each pass reads more bytes or ends; the whole run is bounded.
        loop {
            if !head_done {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    if !buf.starts_with(b"HTTP/1.1 101") {
                        return Err(format!("not a 101: {}", String::from_utf8_lossy(&buf)));
                    }
                    buf.drain(..end + 4);
                    head_done = true;
                    continue;
                }
            } else if buf.len() >= 2 {
                let (opcode, len) = (buf[0] & 0x0f, usize::from(buf[1] & 0x7f));
                if len >= 126 || buf[1] & 0x80 != 0 {
                    return Err(format!("unexpected frame header {:?}", &buf[..2]));
                }
                if buf.len() >= 2 + len {
                    let payload: Vec<u8> = buf.drain(..2 + len).skip(2).collect();
                    if opcode == 0x8 {
                        let code = if payload.len() >= 2 { u16::from_be_bytes([payload[0], payload[1]]) } else { 1005 };
                        let reply = client_frame(0x8, &payload[..payload.len().min(2)]);
                        // The server may have half-closed already; a write
                        // still succeeds unless it reset the connection.
                        stream.write_all(&reply).await.map_err(|e| format!("close reply: {e}"))?;
                        return end_after_close(&mut stream, code).await;
                    }
                    if !sent {
                        stream
                            .write_all(&client_frame(0x1, message.unwrap_or_default()))
                            .await
                            .map_err(|e| format!("send: {e}"))?;
                        sent = true;
                    }
                    continue;
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) => return Err(format!("end of stream before the close frame (head read: {head_done})")),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("{:?} before the close frame", e.kind())),
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), run).await {
        Ok(Ok(end)) => end,
        Ok(Err(e)) => WsEnd::Unclean(e),
        Err(_) => WsEnd::Unclean("no end within 5 s".into()),
    }
}

/// After the close frame: nothing but a FIN, and reading again after it
/// still says end of stream (a reset that follows a FIN turns the next
/// read into an error).
async fn end_after_close(stream: &mut tokio::net::TcpStream, close_code: u16) -> Result<WsEnd, String> {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 256];
    for read in ["first", "second"] {
        match stream.read(&mut chunk).await {
            Ok(0) => {}
            Ok(n) => return Err(format!("{n} bytes after the close frame")),
            Err(e) => return Ok(WsEnd::Unclean(format!("{:?} on the {read} read after the close frame", e.kind()))),
        }
    }
    Ok(WsEnd::Clean { close_code })
}

/// PROTOCOL.md §2 and §7.10: after broken JSON the server closes the
/// websocket (close frame, then TCP), and §7.11: a raw websocket whose
/// application closes at once gets its close frame and the end of TCP.
/// Either way the client sees a clean end of stream, even after it
/// answered the close frame: a FIN, never a reset. 50 rounds each.
fn websocket_closes_end_cleanly(name: &str, start: Start) {
    let (echo, close) = endpoints();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = start(listener, vec![echo, close]).unwrap();
    let mut failures = Vec::new();
    runtime().block_on(async {
        // 50 rounds, 10 at a time (a server may take its time to end a
        // connection cleanly; each round is bounded by 5 s).
        for batch in 0..5 {
            let rounds: Vec<_> = (batch * 10..batch * 10 + 10)
                .map(|round| {
                    let addr = addr.clone();
                    tokio::spawn(async move {
                        let path = format!("/h/0/bj{round}/websocket");
                        let broken = ws_close_seen_raw(&addr, &path, Some(b"[\"a")).await;
                        let raw = ws_close_seen_raw(&addr, "/hc/websocket", None).await;
                        (round, broken, raw)
                    })
                })
                .collect();
            for task in rounds {
                let Ok((round, broken, raw)) = task.await else {
                    failures.push("a round panicked".to_string());
                    continue;
                };
                if broken != (WsEnd::Clean { close_code: 3000 }) {
                    failures.push(format!("broken JSON, round {round}: {broken:?}"));
                }
                if raw != (WsEnd::Clean { close_code: 3000 }) {
                    failures.push(format!("raw websocket closed at once, round {round}: {raw:?}"));
                }
            }
        }
    });
    drop(server);
    assert!(failures.is_empty(), "{name}: {} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn actix_websocket_closes_end_cleanly() {
    websocket_closes_end_cleanly("actix", |listener, endpoints| {
        Ok(Box::new(sockjs_examples::serve_actix(listener, endpoints, 2)?))
    });
}

#[test]
fn warp_websocket_closes_end_cleanly() {
    websocket_closes_end_cleanly("warp", |listener, endpoints| {
        Ok(Box::new(sockjs_examples::serve_warp(listener, endpoints, 2)?))
    });
}

#[test]
fn axum_websocket_closes_end_cleanly() {
    websocket_closes_end_cleanly("axum", |listener, endpoints| {
        Ok(Box::new(sockjs_examples::serve_axum(listener, endpoints, 2)?))
    });
}
