//! Several instances behind HAProxy (README "Scaling out"): the sticky
//! routing of examples/haproxy/haproxy.cfg in front of two independent
//! in-process servers (actix, and warp or axum; separate session
//! registries, exactly like two machines). Each test runs once with each
//! second backend.
//!
//! * The whole conformance suite passes through the proxy.
//! * Many xhr-polling, xhr-streaming, eventsource and htmlfile sessions with
//!   different `<server>` segments each stay on one instance: every xhr_send finds its session,
//!   no message is lost or repeated, every session is opened exactly once,
//!   and both instances hold sessions.
//!
//! HAProxy (/usr/sbin/haproxy) is required: without it the tests fail, they
//! never skip; sockjs-tests/scaling/setup.sh installs it.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use sockjs_core::Endpoint;
use sockjs_tests::conformance::{run, whole_run, CheckOutcome};
use sockjs_tests::http1::{fetch, Connection, Request};
use support::{loopback_listener, messages_of, take_frames, ProcessGuard};

const HAPROXY: &str = "/usr/sbin/haproxy";

/// Starts the second backend (warp or axum) on a loopback port; the value
/// stops it when dropped.
type StartBackend = fn(Vec<Endpoint>) -> (SocketAddr, Box<dyn std::any::Any>);

const WARP: (&str, StartBackend) = ("warp", |endpoints| {
    let server = sockjs_examples::serve_warp(loopback_listener(), endpoints, 2).unwrap();
    (server.addr(), Box::new(server))
});
const AXUM: (&str, StartBackend) = ("axum", |endpoints| {
    let server = sockjs_examples::serve_axum(loopback_listener(), endpoints, 2).unwrap();
    (server.addr(), Box::new(server))
});

/// Two reference servers and HAProxy in front of them; everything stops
/// when dropped (HAProxy first).
struct Cluster {
    haproxy: ProcessGuard,
    proxy_addr: SocketAddr,
    /// The `/echo` endpoint of each instance, for its metrics.
    echo: [Endpoint; 2],
    /// The names of the two instances' frameworks.
    names: [&'static str; 2],
    _actix: sockjs_examples::ActixServer,
    _second: Box<dyn std::any::Any>,
}

impl Cluster {
    fn start((second_name, start_second): (&'static str, StartBackend)) -> Cluster {
        let endpoints_a = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
        let endpoints_b = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
        let echo = [endpoints_a[0].clone(), endpoints_b[0].clone()];
        assert!(echo.iter().all(|e| e.matches("/echo/info")), "reference_endpoints()[0] is /echo");
        let actix = sockjs_examples::serve_actix(loopback_listener(), endpoints_a, 2).unwrap();
        let (second_addr, second) = start_second(endpoints_b);
        let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/haproxy/haproxy.cfg");
        // HAProxy cannot be handed a socket and refuses port 0: pick a free
        // port and retry (bounded) if someone takes it in between.
        let mut last_error = String::new();
        for _ in 0..3 {
            let proxy_addr: SocketAddr = format!("127.0.0.1:{}", support::free_port()).parse().unwrap();
            let env = [
                ("SOCKJS_HAPROXY_BIND", proxy_addr.to_string()),
                ("SOCKJS_BACKEND_A", actix.addr().to_string()),
                ("SOCKJS_BACKEND_B", second_addr.to_string()),
            ];
            let mut haproxy = ProcessGuard::spawn("haproxy", HAPROXY, &["-f", config.to_str().unwrap(), "-db"], &env);
            match haproxy.wait_listening(proxy_addr) {
                Ok(()) => {
                    let names = ["actix", second_name];
                    return Cluster { haproxy, proxy_addr, echo, names, _actix: actix, _second: second };
                }
                Err(e) => last_error = e,
            }
        }
        panic!("haproxy did not start: {last_error}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.haproxy.kill();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The checks allowed to fail through HAProxy, each for a reason that no
/// proxy configuration can change. Every other check must pass.
///
/// * Multi-instance by nature. `server id is ignored` sends to a session
///   under another `<server>` segment, which a single server ignores but
///   sticky routing sends (by design) to whichever instance that segment
///   hashes to. The reference `/broadcast` keeps its members per instance,
///   and the suite's two broadcast sessions get different `<server>`
///   segments (a run-dependent counter), so they may land on different
///   instances (sockjs-redis solves that; see redis_broadcast.rs). Both
///   pass or fail depending on where the segments hash.
/// * HAProxy (2.4 and later) answers 400 itself to a websocket upgrade with
///   no `Sec-WebSocket-Key`, that is to every Hixie-76 handshake (clients of
///   that 2010 draft fall back to the streaming transports), and to the
///   official suite's `POST .../websocket` with `Upgrade` and `Connection`
///   but no key, which a single server answers 405.
/// * Chunk boundaries: chunked coding is hop-by-hop (RFC 9112 §7), so a
///   proxy decodes and re-encodes it, and frames that reach it together
///   (the streaming prelude and the open frame, written back to back) leave
///   in one chunk. These checks demand one frame per chunk; browsers and
///   sockjs-client split frames on newlines (and htmlfile/eventsource on
///   their own delimiters) and are unaffected. The frame-level behaviour of
///   xhr-streaming, eventsource and htmlfile through the proxy is checked
///   by `sessions_stay_on_one_instance_through_haproxy`.
const PROXY_EXCEPTIONS: &[&str] = &[
    // Multi-instance by nature.
    "§3 server id is ignored",
    "§1 broadcast reaches every open session, sender included",
    // Hixie-76 refused by HAProxy.
    "§7.10 hixie-76 101 headers arrive before key3, then the 16-byte answer",
    "§7.10 hixie-76 frames: o, then echo",
    "§7.10 hixie-76 on /close: o, c[3000,\"Go away!\"], then the connection ends",
    "§3 405 shape on POST <base>/0/0/websocket",
    // Chunk boundaries re-made by the proxy.
    "§7.6 xhr_streaming headers, prelude chunk and o chunk",
    "§7.6 xhr_streaming one chunk per frame",
    "§7.6 xhr_streaming response_limit (31 × 134 bytes, prelude not counted)",
    "§7.6 xhr_streaming reconnect after response_limit continues the session",
    "§7.7 eventsource headers, \\r\\n prelude and open frame",
    "§7.7 eventsource message frame",
    "§7.7 eventsource keeps the JSON escapes of NUL, LF, CR",
    "§7.7 eventsource writes % as %25",
    "§7.7 eventsource response_limit",
    "§7.8 htmlfile head chunk (template, > 1024 bytes) and headers",
    "§7.8 [node] htmlfile head chunk is 1035 bytes for callback",
    "§7.8 htmlfile frames are script chunks",
    "§7.8 htmlfile callback is URL-decoded",
    "§7.8 [node] htmlfile accepts callback=",
    "§7.8 htmlfile response_limit",
    "§6 second xhr_streaming gets prelude, c[2010], end",
    "§6 second eventsource gets c[2010] and ends",
    "§6 xhr_streaming on /close: prelude, o, close frame, end",
    "§6 later xhr_streaming on a closed session: prelude, close frame, end (not 2010)",
    "§6 abort of xhr_streaming, immediate new request gets o or c[1002]",
    "§6 heartbeat h\\n on xhr_streaming",
    "§6 heartbeat on eventsource",
    "§6 heartbeat on htmlfile",
    "§9 HTTP/1.1 xhr_streaming on /close: chunks, then terminating chunk",
    "§1 ticker sends tick! every second, the first one second after open",
];

#[test]
fn conformance_suite_passes_through_haproxy_actix_warp() {
    conformance_suite_passes_through_haproxy(WARP);
}

#[test]
fn conformance_suite_passes_through_haproxy_actix_axum() {
    conformance_suite_passes_through_haproxy(AXUM);
}

fn conformance_suite_passes_through_haproxy(second: (&'static str, StartBackend)) {
    let cluster = Cluster::start(second);
    let base = format!("http://{}", cluster.proxy_addr);
    let outcomes: Vec<CheckOutcome> = runtime().block_on(run(&base, None));
    for outcome in &outcomes {
        println!("[haproxy, {}] {outcome}", cluster.names[1]);
    }
    if let Err(why) = whole_run(&outcomes) {
        panic!("haproxy, {}: {why}", cluster.names[1]);
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed && !PROXY_EXCEPTIONS.contains(&o.name.as_str()))
        .map(ToString::to_string)
        .collect();
    let excused = outcomes.iter().filter(|o| !o.passed).count() - failed.len();
    let passed = outcomes.iter().filter(|o| o.passed).count();
    println!(
        "[haproxy] {passed} of {} checks passed, {excused} failed as documented in PROXY_EXCEPTIONS",
        outcomes.len()
    );
    for name in PROXY_EXCEPTIONS {
        assert!(outcomes.iter().any(|o| o.name == *name), "PROXY_EXCEPTIONS names a check that does not exist: {name}");
    }
    let log = cluster.haproxy.log();
    assert!(
        failed.is_empty(),
        "{} checks failed through haproxy:\n{}\nhaproxy log:\n{log}",
        failed.len(),
        failed.join("\n")
    );
}

const SESSIONS: usize = 40;
const MESSAGES: usize = 5;

/// One xhr-polling session: open, then send and poll `MESSAGES` times.
async fn polling_session(proxy: &str, server: &str, session: &str) -> Result<(), String> {
    let base = format!("/echo/{server}/{session}");
    let open = fetch(proxy, &Request::post(&format!("{base}/xhr"))).await.map_err(|e| e.to_string())?;
    if open.body != b"o\n" {
        return Err(format!("open answered {} {:?}", open.status, open.text()));
    }
    for k in 0..MESSAGES {
        let message = format!("{session}-{k}");
        let body = serde_json::to_string(&[&message]).unwrap();
        let sent =
            fetch(proxy, &Request::post(&format!("{base}/xhr_send")).body(body)).await.map_err(|e| e.to_string())?;
        if sent.status != 204 {
            return Err(format!(
                "xhr_send {k} answered {} {:?} (session not on this instance)",
                sent.status,
                sent.text()
            ));
        }
        let poll = fetch(proxy, &Request::post(&format!("{base}/xhr"))).await.map_err(|e| e.to_string())?;
        let mut text = poll.text();
        let frames = take_frames(&mut text);
        let got: Vec<String> = frames.iter().flat_map(|f| messages_of(f)).collect();
        if got != [message.clone()] {
            return Err(format!("poll {k} answered {} {frames:?}, expected [{message:?}]", poll.status));
        }
    }
    Ok(())
}

/// The streaming transports the stickiness test uses.
#[derive(Clone, Copy, Debug)]
enum Stream {
    XhrStreaming,
    EventSource,
    HtmlFile,
}

impl Stream {
    fn request(self, base: &str) -> Request {
        match self {
            Stream::XhrStreaming => Request::post(&format!("{base}/xhr_streaming")),
            Stream::EventSource => Request::get(&format!("{base}/eventsource")),
            Stream::HtmlFile => Request::get(&format!("{base}/htmlfile?c=callback")),
        }
    }

    /// Takes the complete SockJS frames out of `buffer`, parsing the
    /// transport's own framing (never relying on chunk boundaries, which
    /// the proxy re-makes).
    fn take_frames(self, buffer: &mut String) -> Vec<String> {
        match self {
            // The prelude is a line of h's: not a frame anyone looks for.
            Stream::XhrStreaming => take_frames(buffer),
            Stream::EventSource => {
                let mut frames = Vec::new();
                while let Some(end) = buffer.find("\r\n\r\n") {
                    let event: String = buffer.drain(..end + 4).collect();
                    if let Some(data) = event.trim_start_matches("\r\n").strip_prefix("data: ") {
                        frames.push(data.trim_end().replace("%25", "%"));
                    }
                }
                frames
            }
            Stream::HtmlFile => {
                const OPEN: &str = "<script>\np(";
                const CLOSE: &str = ");\n</script>\r\n";
                let mut frames = Vec::new();
                while let Some(start) = buffer.find(OPEN) {
                    let Some(len) = buffer[start..].find(CLOSE) else { break };
                    let literal = buffer[start + OPEN.len()..start + len].to_owned();
                    buffer.drain(..start + len + CLOSE.len());
                    frames.push(serde_json::from_str::<String>(&literal).unwrap_or(literal));
                }
                frames
            }
        }
    }
}

/// One streaming session: a receiving stream, and `MESSAGES` sends whose
/// echoes must arrive on it, each once and in order.
async fn streaming_session(proxy: &str, server: &str, session: &str, kind: Stream) -> Result<(), String> {
    let e = |e: sockjs_tests::http1::Error| e.to_string();
    let base = format!("/echo/{server}/{session}");
    let mut stream = Connection::connect(proxy).await.map_err(e)?;
    stream.send(&kind.request(&base)).await.map_err(e)?;
    let head = stream.read_head().await.map_err(e)?;
    if head.status != 200 {
        return Err(format!("{kind:?} answered {}", head.status));
    }
    let mut buffer = String::new();
    let mut frames = Vec::new();
    // The prelude, then "o". Bounded: a few chunks at most.
    for _ in 0..8 {
        if frames.iter().any(|f| f == "o") {
            break;
        }
        let chunk = stream.read_chunk().await.map_err(e)?.ok_or("stream ended before the open frame")?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        frames.extend(kind.take_frames(&mut buffer));
    }
    if !frames.iter().any(|f| f == "o") {
        return Err(format!("no open frame on the stream: {frames:?}"));
    }
    for k in 0..MESSAGES {
        let message = format!("{session}-{k}");
        let body = serde_json::to_string(&[&message]).unwrap();
        let sent = fetch(proxy, &Request::post(&format!("{base}/xhr_send")).body(body)).await.map_err(e)?;
        if sent.status != 204 {
            return Err(format!(
                "xhr_send {k} answered {} {:?} (session not on this instance)",
                sent.status,
                sent.text()
            ));
        }
        let mut got = Vec::new();
        for _ in 0..8 {
            if !got.is_empty() {
                break;
            }
            let chunk = stream.read_chunk().await.map_err(e)?.ok_or("stream ended early")?;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            got.extend(kind.take_frames(&mut buffer).iter().flat_map(|f| messages_of(f)));
        }
        if got != [message.clone()] {
            return Err(format!("stream got {got:?} after send {k}, expected [{message:?}]"));
        }
    }
    Ok(())
}

#[test]
fn sessions_stay_on_one_instance_through_haproxy_actix_warp() {
    sessions_stay_on_one_instance_through_haproxy(WARP);
}

#[test]
fn sessions_stay_on_one_instance_through_haproxy_actix_axum() {
    sessions_stay_on_one_instance_through_haproxy(AXUM);
}

fn sessions_stay_on_one_instance_through_haproxy(second: (&'static str, StartBackend)) {
    let cluster = Cluster::start(second);
    let proxy = cluster.proxy_addr.to_string();
    let errors: Vec<String> = runtime().block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..SESSIONS {
            let proxy = proxy.clone();
            tasks.spawn(async move {
                // sockjs-client draws the server segment at random: 000-999.
                let server = format!("{:03}", (i * 37) % 1000);
                let session = format!("s{i}");
                let kind = ["xhr-polling", "xhr-streaming", "eventsource", "htmlfile"][i % 4];
                let result = match i % 4 {
                    0 => polling_session(&proxy, &server, &session).await,
                    1 => streaming_session(&proxy, &server, &session, Stream::XhrStreaming).await,
                    2 => streaming_session(&proxy, &server, &session, Stream::EventSource).await,
                    _ => streaming_session(&proxy, &server, &session, Stream::HtmlFile).await,
                };
                result.map_err(|e| format!("session {i} (server {server}, {kind}): {e}"))
            });
        }
        let mut errors = Vec::new();
        let limit = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(limit);
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(Ok(Err(e))) => errors.push(e),
                    Some(Err(e)) => errors.push(format!("task failed: {e}")),
                    Some(Ok(Ok(()))) => {}
                    None => break,
                },
                () = &mut limit => {
                    errors.push(format!("{} sessions still running after 30 s", tasks.len()));
                    break;
                }
            }
        }
        errors
    });
    let metrics = [cluster.echo[0].metrics(), cluster.echo[1].metrics()];
    for (name, m) in cluster.names.iter().zip(&metrics) {
        println!(
            "[{name}] sessions opened {}, live {}, messages received {}, sent {}, rejected requests {}",
            m.sessions_opened,
            m.live_sessions(),
            m.messages_received,
            m.messages_sent,
            m.requests_rejected
        );
    }
    assert!(errors.is_empty(), "{} of {SESSIONS} sessions failed:\n{}", errors.len(), errors.join("\n"));
    let opened = metrics[0].sessions_opened + metrics[1].sessions_opened;
    assert_eq!(opened, SESSIONS as u64, "every session must be opened exactly once, on one instance");
    let received = metrics[0].messages_received + metrics[1].messages_received;
    assert_eq!(received, (SESSIONS * MESSAGES) as u64, "every message must reach its session's instance once");
    assert!(
        metrics.iter().all(|m| m.sessions_opened > 0),
        "both instances must hold sessions: {} on {}, {} on {}",
        metrics[0].sessions_opened,
        cluster.names[0],
        metrics[1].sessions_opened,
        cluster.names[1]
    );
    assert_eq!(metrics[0].requests_rejected + metrics[1].requests_rejected, 0, "no request may be rejected");
}
