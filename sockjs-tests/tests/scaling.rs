//! Several instances behind a proxy (README "Scaling out"): the sticky
//! routing of examples/haproxy/haproxy.cfg, and of
//! examples/nginx/sockjs.conf.template, in front of two independent
//! in-process servers (actix, and warp or axum; separate session
//! registries, exactly like two machines), once with each second backend
//! and each proxy.
//!
//! * The whole conformance suite passes through the proxy.
//! * Many xhr-polling, xhr-streaming, eventsource and htmlfile sessions with
//!   different `<server>` segments each stay on one instance: every xhr_send finds its session,
//!   no message is lost or repeated, every session is opened exactly once,
//!   and both instances hold sessions.
//!
//! HAProxy (/usr/sbin/haproxy) and nginx (/usr/sbin/nginx) are required:
//! without them the tests fail, they never skip;
//! sockjs-tests/scaling/setup.sh installs them.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sockjs_core::Endpoint;
use sockjs_tests::conformance::{run, whole_run, CheckOutcome, CHECK_COUNT};
use sockjs_tests::http1::{fetch, Connection, Request};
use support::{loopback_listener, messages_of, take_frames, ProcessGuard};

const NGINX: &str = "/usr/sbin/nginx";

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

/// The proxy in front of the two instances, each run with the example
/// configuration the README points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proxy {
    /// examples/haproxy/haproxy.cfg, which reads its addresses from the
    /// environment.
    HaProxy,
    /// examples/nginx/sockjs.conf.template, filled in and wrapped in a
    /// minimal nginx.conf in a directory of its own.
    Nginx,
}

impl Proxy {
    fn name(self) -> &'static str {
        match self {
            Proxy::HaProxy => "haproxy",
            Proxy::Nginx => "nginx",
        }
    }

    /// Starts the proxy on `listen` in front of `backends`. The directory
    /// (nginx only) holds its configuration, pid and temporary files; it is
    /// removed when dropped, after the process is killed.
    fn spawn(self, listen: SocketAddr, backends: [SocketAddr; 2]) -> (ProcessGuard, Option<ScratchDir>) {
        let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
        match self {
            Proxy::HaProxy => (support::haproxy(listen, backends), None),
            Proxy::Nginx => {
                let template = std::fs::read_to_string(examples.join("nginx/sockjs.conf.template"))
                    .expect("read examples/nginx/sockjs.conf.template");
                let dir = ScratchDir::new("nginx");
                std::fs::write(dir.path().join("sockjs.conf"), fill_nginx_template(&template, listen, backends))
                    .unwrap();
                std::fs::write(dir.path().join("nginx.conf"), NGINX_MAIN).unwrap();
                let prefix = format!("{}/", dir.path().display());
                let args = ["-p", &prefix, "-c", "nginx.conf", "-e", "stderr", "-g", "daemon off;"];
                (ProcessGuard::spawn("nginx", NGINX, &args, &[]), Some(dir))
            }
        }
    }
}

/// Fills in the template's placeholders as envsubst would (README, and the
/// template's own header), and checks that none is left.
fn fill_nginx_template(template: &str, listen: SocketAddr, backends: [SocketAddr; 2]) -> String {
    let filled = template
        .replace("${SOCKJS_NGINX_LISTEN}", &listen.to_string())
        .replace("${SOCKJS_BACKEND_A}", &backends[0].to_string())
        .replace("${SOCKJS_BACKEND_B}", &backends[1].to_string());
    assert!(!filled.contains("${"), "the nginx template has a placeholder the test does not fill in");
    filled
}

/// The main nginx.conf around the template, for a test: everything nginx
/// writes goes to its `-p` directory (or stderr, which the guard logs), and
/// nginx runs as one process (`master_process off`), so that killing it
/// leaves no worker behind. In that mode nginx never switches user, so no
/// `user` line is needed, as root or not. The `http`
/// settings are those of Debian's /etc/nginx/nginx.conf that bear on
/// proxying, with its commented-out `gzip_types` switched on as many
/// deployments do (every SockJS streaming type is then compressible), so
/// the template is tested as it runs there, included from `http`, and must
/// turn compression off itself.
const NGINX_MAIN: &str = "\
master_process off;
pid nginx.pid;
error_log stderr notice;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    sendfile on;
    tcp_nopush on;
    gzip on;
    gzip_types text/plain text/css application/json application/javascript text/xml application/xml text/javascript text/event-stream;
    include sockjs.conf;
}
";

/// A directory of its own under the system's temporary directory, removed
/// with everything in it when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> ScratchDir {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sockjs-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the proxy's directory");
        ScratchDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Two reference servers and a proxy in front of them; everything stops
/// when dropped (the proxy first, then its directory, then the servers).
struct Cluster {
    proxy: Proxy,
    process: ProcessGuard,
    _dir: Option<ScratchDir>,
    proxy_addr: SocketAddr,
    /// The `/echo` endpoint of each instance, for its metrics.
    echo: [Endpoint; 2],
    /// The names of the two instances' frameworks.
    names: [&'static str; 2],
    _actix: sockjs_examples::ActixServer,
    _second: Box<dyn std::any::Any>,
}

impl Cluster {
    fn start(proxy: Proxy, (second_name, start_second): (&'static str, StartBackend)) -> Cluster {
        let endpoints_a = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
        let endpoints_b = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
        let echo = [endpoints_a[0].clone(), endpoints_b[0].clone()];
        assert!(echo.iter().all(|e| e.matches("/echo/info")), "reference_endpoints()[0] is /echo");
        let actix = sockjs_examples::serve_actix(loopback_listener(), endpoints_a, 2).unwrap();
        let (second_addr, second) = start_second(endpoints_b);
        // Neither proxy can be handed a socket, and HAProxy refuses port 0.
        let (process, dir, proxy_addr) =
            support::on_free_port(proxy.name(), |addr| proxy.spawn(addr, [actix.addr(), second_addr]));
        Cluster {
            proxy,
            process,
            _dir: dir,
            proxy_addr,
            echo,
            names: ["actix", second_name],
            _actix: actix,
            _second: second,
        }
    }

    /// "nginx, warp" and the like, for messages.
    fn label(&self) -> String {
        format!("{}, {}", self.proxy.name(), self.names[1])
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.process.kill();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The checks allowed to fail through either proxy, each for a reason that
/// no proxy configuration can change. Every other check must pass.
///
/// * Multi-instance by nature. `server id is ignored` sends to a session
///   under another `<server>` segment, which a single server ignores but
///   sticky routing sends (by design) to whichever instance that segment
///   hashes to. The reference `/broadcast` keeps its members per instance,
///   and the suite's two broadcast sessions get different `<server>`
///   segments (a run-dependent counter), so they may land on different
///   instances (rooms with sockjs-redis's broker solve that; see rooms_redis.rs). Both
///   pass or fail depending on where the segments hash.
/// * Chunk boundaries: chunked coding is hop-by-hop (RFC 9112 §7), so a
///   proxy decodes and re-encodes it, and frames that reach it together
///   (the streaming prelude and the open frame, written back to back) leave
///   in one chunk. These checks demand one frame per chunk; browsers and
///   sockjs-client split frames on newlines (and htmlfile/eventsource on
///   their own delimiters) and are unaffected. The frame-level behaviour of
///   xhr-streaming, eventsource and htmlfile through the proxy is checked
///   by `sessions_stay_on_one_instance`.
const PROXY_EXCEPTIONS: &[&str] = &[
    // Multi-instance by nature.
    "§3 server id is ignored",
    "§1 broadcast reaches every open session, sender included",
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

/// The checks allowed to fail through HAProxy only, on top of
/// [`PROXY_EXCEPTIONS`]: HAProxy (2.4 and later) answers 400 itself to a
/// websocket upgrade with no `Sec-WebSocket-Key`, that is to every Hixie-76
/// handshake (clients of that 2010 draft fall back to the streaming
/// transports), and to the official suite's `POST .../websocket` with
/// `Upgrade` and `Connection` but no key, which a single server answers
/// 405. nginx passes all four through.
const HAPROXY_EXCEPTIONS: &[&str] = &[
    "§7.10 hixie-76 101 headers arrive before key3, then the 16-byte answer",
    "§7.10 hixie-76 frames: o, then echo",
    "§7.10 hixie-76 on /close: o, c[3000,\"Go away!\"], then the connection ends",
    "§3 405 shape on POST <base>/0/0/websocket",
];

/// The checks allowed to fail through nginx only, on top of
/// [`PROXY_EXCEPTIONS`].
const NGINX_EXCEPTIONS: &[&str] = &[];

impl Proxy {
    /// Every check allowed to fail through this proxy.
    fn exceptions(self) -> impl Iterator<Item = &'static str> {
        let own = match self {
            Proxy::HaProxy => HAPROXY_EXCEPTIONS,
            Proxy::Nginx => NGINX_EXCEPTIONS,
        };
        PROXY_EXCEPTIONS.iter().chain(own).copied()
    }
}

#[test]
fn conformance_suite_passes_through_haproxy() {
    conformance_suite_passes_through(Proxy::HaProxy);
}

#[test]
fn conformance_suite_passes_through_nginx() {
    conformance_suite_passes_through(Proxy::Nginx);
}

/// Runs the whole suite through `proxy` in front of actix and warp, and in
/// front of actix and axum, both at once: a run mostly waits on the
/// servers' timers (heartbeats, disconnect delays), so two runs side by
/// side take as long as one (about 25 s), which matters on a machine whose
/// test harness runs only two tests at a time.
fn conformance_suite_passes_through(proxy: Proxy) {
    let clusters = [Cluster::start(proxy, WARP), Cluster::start(proxy, AXUM)];
    let bases = clusters.each_ref().map(|c| format!("http://{}", c.proxy_addr));
    let started = std::time::Instant::now();
    let (first, second) = runtime().block_on(async {
        tokio::join!(async { (run(&bases[0], None).await, started.elapsed()) }, async {
            (run(&bases[1], None).await, started.elapsed())
        })
    });
    let failures: Vec<String> = clusters
        .iter()
        .zip([first, second])
        .filter_map(|(c, (outcomes, took))| judge(c, &outcomes, took).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Prints one run's table and its summary; `Err` says what is wrong with
/// it: not the whole suite, a check failing that no exception covers, or
/// an exception naming no check.
fn judge(cluster: &Cluster, outcomes: &[CheckOutcome], took: Duration) -> Result<(), String> {
    let label = cluster.label();
    for outcome in outcomes {
        println!("[{label}] {outcome}");
    }
    whole_run(outcomes).map_err(|why| format!("{label}: {why}"))?;
    if outcomes.len() != CHECK_COUNT {
        return Err(format!("{label}: {} outcomes, the suite has {CHECK_COUNT} checks", outcomes.len()));
    }
    let exceptions: Vec<&str> = cluster.proxy.exceptions().collect();
    if let Some(name) = exceptions.iter().find(|name| !outcomes.iter().any(|o| o.name == **name)) {
        return Err(format!("{label}: the exceptions name a check that does not exist: {name}"));
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed && !exceptions.contains(&o.name.as_str()))
        .map(ToString::to_string)
        .collect();
    let excused = outcomes.iter().filter(|o| !o.passed).count() - failed.len();
    let passed = outcomes.iter().filter(|o| o.passed).count();
    println!(
        "[{label}] {passed} of {} checks passed, {excused} failed as documented in the exceptions, in {:.1} s",
        outcomes.len(),
        took.as_secs_f64()
    );
    if !failed.is_empty() {
        return Err(format!(
            "{} checks failed through {label}:\n{}\n{} log:\n{}",
            failed.len(),
            failed.join("\n"),
            cluster.proxy.name(),
            cluster.process.log()
        ));
    }
    Ok(())
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
        let request = match self {
            Stream::XhrStreaming => Request::post(&format!("{base}/xhr_streaming")),
            Stream::EventSource => Request::get(&format!("{base}/eventsource")),
            Stream::HtmlFile => Request::get(&format!("{base}/htmlfile?c=callback")),
        };
        // As browsers ask. Neither proxy configuration compresses SockJS
        // responses (`gzip off` in nginx's, no `compression` in HAProxy's),
        // and a proxy that compresses and also buffers holds the stream
        // back altogether (nginx with `gzip on` and buffering on sends not
        // even the headers).
        request.header("Accept-Encoding", "gzip, deflate")
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
    if let Some(coding) = head.headers.get("content-encoding") {
        return Err(format!("{kind:?} came compressed ({coding}): the proxy must not compress SockJS responses"));
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
    sessions_stay_on_one_instance(Proxy::HaProxy, WARP);
}

#[test]
fn sessions_stay_on_one_instance_through_haproxy_actix_axum() {
    sessions_stay_on_one_instance(Proxy::HaProxy, AXUM);
}

#[test]
fn sessions_stay_on_one_instance_through_nginx_actix_warp() {
    sessions_stay_on_one_instance(Proxy::Nginx, WARP);
}

#[test]
fn sessions_stay_on_one_instance_through_nginx_actix_axum() {
    sessions_stay_on_one_instance(Proxy::Nginx, AXUM);
}

fn sessions_stay_on_one_instance(proxy: Proxy, second: (&'static str, StartBackend)) {
    let cluster = Cluster::start(proxy, second);
    let label = cluster.label();
    let address = cluster.proxy_addr.to_string();
    let errors: Vec<String> = runtime().block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..SESSIONS {
            let proxy = address.clone();
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
            "[{label}] {name}: sessions opened {}, live {}, messages received {}, sent {}, rejected requests {}",
            m.sessions_opened,
            m.live_sessions(),
            m.messages_received,
            m.messages_sent,
            m.requests_rejected
        );
    }
    assert!(
        errors.is_empty(),
        "{label}: {} of {SESSIONS} sessions failed:\n{}\n{} log:\n{}",
        errors.len(),
        errors.join("\n"),
        proxy.name(),
        cluster.process.log()
    );
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
