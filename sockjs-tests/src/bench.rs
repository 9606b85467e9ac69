//! The load generator behind `sockjs-bench` (see BENCHMARKS.md).
//!
//! Every scenario is bounded in connections and in time, talks to a server
//! on a `host:port`, and yields one JSON object ([`run`]). When the server's
//! PID is given, the server's CPU time (`utime + stime` from
//! `/proc/PID/stat`) and resident memory (`VmRSS` from `/proc/PID/status`)
//! are sampled before and after the measured part, so the figures that
//! matter (server CPU-µs per message, bytes per idle session) do not depend
//! on how fast the load generator itself is.
//!
//! | scenario | what it does |
//! |---|---|
//! | `ws-echo` | N SockJS websocket sessions on `/echo`, W messages of S bytes in flight each |
//! | `raw-ws-echo` | the same on the raw `/echo/websocket` (no SockJS framing) |
//! | `xhr-polling` | N clients: `xhr` poll + `xhr_send`, one round trip at a time |
//! | `xhr-streaming` | N clients: one `xhr_streaming` receiver (reopened at `response_limit`) + `xhr_send` |
//! | `fanout` | N eventsource or xhr-streaming receivers on `/broadcast`; one broadcast, time until all have it |
//! | `idle-ws` / `idle-xhr-streaming` | N idle sessions; server RSS per session |
//! | `timers` | N idle websocket sessions across heartbeats; server CPU % of a core |
//! | `flood-xhr-send` | one client POSTs S-byte `xhr_send` bodies to one `/push` session, one after another |
//! | `flood-ws` / `flood-raw-ws` | one SockJS / raw websocket to `/push` sending S-byte messages as fast as it is let |
//! | `poll-flat-out` | N xhr-polling clients doing round trips on `/echo` as fast as they can |
//!
//! The last four measure what a client can make the server hold: server
//! RSS before the load, at its end (and its peak, sampled every 100 ms), and
//! again after a pause with the clients gone. `/push` is the reference
//! service's push-only application: it never receives, so every message a
//! client sends to it stays in the session's inbox.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::http1::{Connection, Request};

/// How long the scenarios wait for echoes still in flight once the
/// measured time is over.
const DRAIN: Duration = Duration::from_secs(3);

/// How long one connection (TCP + handshake + open frame) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// The most latency samples kept (memory bound).
const MAX_SAMPLES: usize = 4_000_000;

/// A load scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// SockJS websocket echo on `<prefix>/<server>/<session>/websocket`.
    WsEcho,
    /// Raw websocket echo on `<prefix>/websocket`.
    RawWsEcho,
    /// xhr-polling round trips (`xhr` + `xhr_send`).
    XhrPolling,
    /// xhr-streaming echo, reopening the stream at `response_limit`.
    XhrStreaming,
    /// One broadcast to N receivers.
    Fanout,
    /// N idle SockJS websocket sessions: server RSS per session.
    IdleWs,
    /// N idle xhr-streaming sessions: server RSS per session.
    IdleXhrStreaming,
    /// N idle websocket sessions over heartbeats: server CPU.
    Timers,
    /// One client flooding a push-only session through `xhr_send`.
    FloodXhrSend,
    /// One SockJS websocket flooding a push-only session.
    FloodWs,
    /// One raw websocket flooding a push-only application.
    FloodRawWs,
    /// N xhr-polling clients as fast as they can: poll rate and RSS.
    PollFlatOut,
}

impl Scenario {
    /// Every scenario, in the order of the module table.
    pub const ALL: [Scenario; 12] = [
        Scenario::WsEcho,
        Scenario::RawWsEcho,
        Scenario::XhrPolling,
        Scenario::XhrStreaming,
        Scenario::Fanout,
        Scenario::IdleWs,
        Scenario::IdleXhrStreaming,
        Scenario::Timers,
        Scenario::FloodXhrSend,
        Scenario::FloodWs,
        Scenario::FloodRawWs,
        Scenario::PollFlatOut,
    ];

    /// The name used on the command line and in the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::WsEcho => "ws-echo",
            Scenario::RawWsEcho => "raw-ws-echo",
            Scenario::XhrPolling => "xhr-polling",
            Scenario::XhrStreaming => "xhr-streaming",
            Scenario::Fanout => "fanout",
            Scenario::IdleWs => "idle-ws",
            Scenario::IdleXhrStreaming => "idle-xhr-streaming",
            Scenario::Timers => "timers",
            Scenario::FloodXhrSend => "flood-xhr-send",
            Scenario::FloodWs => "flood-ws",
            Scenario::FloodRawWs => "flood-raw-ws",
            Scenario::PollFlatOut => "poll-flat-out",
        }
    }

    /// The scenario called `name`.
    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The receiving transport of the fan-out scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanoutTransport {
    /// `GET .../eventsource`.
    EventSource,
    /// `POST .../xhr_streaming`.
    XhrStreaming,
}

/// What to run and against what.
#[derive(Debug, Clone)]
pub struct Config {
    /// The scenario.
    pub scenario: Scenario,
    /// The server, `host:port`.
    pub addr: String,
    /// The SockJS prefix of the echo service (`/echo`).
    pub prefix: String,
    /// The SockJS prefix of the broadcast service (`/broadcast`).
    pub broadcast_prefix: String,
    /// The SockJS prefix of the push-only service the floods target
    /// (`/push`).
    pub push_prefix: String,
    /// A name for the server under test, copied into the output.
    pub label: String,
    /// A name for the case (row of the table), copied into the output.
    pub case: String,
    /// The server's process id, for CPU and RSS figures.
    pub server_pid: Option<u32>,
    /// Sessions (clients, receivers) to open.
    pub sessions: usize,
    /// Message size in bytes (ASCII).
    pub size: usize,
    /// Messages in flight per websocket session.
    pub inflight: usize,
    /// How long the measured part lasts (echo scenarios; the idle window
    /// of `timers`).
    pub duration: Duration,
    /// Broadcast rounds of the fan-out scenario.
    pub rounds: usize,
    /// Receiving transport of the fan-out scenario.
    pub fanout_transport: FanoutTransport,
    /// The server's heartbeat delay (`timers`: the window measured spans
    /// whole heartbeat periods).
    pub heartbeat: Duration,
    /// Local addresses websocket connections are bound to, in turn (more
    /// than ~28,000 connections to one port need several); empty: any.
    pub source_ips: Vec<Ipv4Addr>,
    /// Connections opened at once.
    pub connect_concurrency: usize,
    /// Floods and `poll-flat-out`: how long after the load (clients gone)
    /// the server's RSS is read again.
    pub pause: Duration,
}

impl Config {
    /// Defaults for `scenario` against `addr`: 10 sessions, 32 bytes, one
    /// message in flight, 5 s.
    pub fn new(scenario: Scenario, addr: &str) -> Config {
        Config {
            scenario,
            addr: addr.to_owned(),
            prefix: "/echo".into(),
            broadcast_prefix: "/broadcast".into(),
            push_prefix: "/push".into(),
            label: "server".into(),
            case: scenario.name().into(),
            server_pid: None,
            sessions: 10,
            size: 32,
            inflight: 1,
            duration: Duration::from_secs(5),
            rounds: 5,
            fanout_transport: FanoutTransport::EventSource,
            heartbeat: Duration::from_secs(25),
            source_ips: Vec::new(),
            connect_concurrency: 64,
            pause: Duration::from_secs(10),
        }
    }
}

/// Runs the scenario and returns its figures as one JSON object. Failures
/// are reported in the object (`errors`, `first_error`), never by panic.
/// Runs in one process take fresh session ids each; run them one after
/// another, not concurrently.
pub async fn run(config: &Config) -> Value {
    RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let config = Arc::new(config.clone());
    let started = Instant::now();
    let body = match config.scenario {
        Scenario::WsEcho => ws_echo(&config, true).await,
        Scenario::RawWsEcho => ws_echo(&config, false).await,
        Scenario::XhrPolling => xhr_echo(&config, false).await,
        Scenario::XhrStreaming => xhr_echo(&config, true).await,
        Scenario::Fanout => fanout(&config).await,
        Scenario::IdleWs => idle(&config, false).await,
        Scenario::IdleXhrStreaming => idle(&config, true).await,
        Scenario::Timers => timers(&config).await,
        Scenario::FloodXhrSend => flood_xhr_send(&config).await,
        Scenario::FloodWs => flood_ws(&config, true).await,
        Scenario::FloodRawWs => flood_ws(&config, false).await,
        Scenario::PollFlatOut => poll_flat_out(&config).await,
    };
    let mut out = Map::new();
    out.insert("scenario".into(), json!(config.scenario.name()));
    out.insert("case".into(), json!(config.case));
    out.insert("label".into(), json!(config.label));
    out.insert("sessions".into(), json!(config.sessions));
    out.extend(body);
    out.insert("wall_s".into(), json!(round3(started.elapsed().as_secs_f64())));
    Value::Object(out)
}

// ---------------------------------------------------------------------------
// Server probes

/// The server's CPU time so far, in microseconds (`utime + stime`).
pub fn server_cpu_us(pid: u32) -> Option<u64> {
    server_times_us(pid).map(|(user, sys)| user + sys)
}

/// The server's user and system (kernel) CPU time so far, in microseconds
/// (`utime`, `stime`).
pub fn server_times_us(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime * 1_000_000 / clock_ticks(), stime * 1_000_000 / clock_ticks()))
}

/// The server's resident set size in KiB (`VmRSS`).
pub fn server_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

#[derive(Clone, Copy)]
struct CpuMark {
    at: Instant,
    /// User and system CPU-µs of the server so far.
    times_us: Option<(u64, u64)>,
}

/// Server CPU used between two marks.
#[derive(Clone, Copy)]
struct CpuUsed {
    /// User + system CPU-µs.
    total_us: u64,
    /// System (kernel) CPU-µs: the syscalls and what the kernel does for
    /// them (on loopback, both ends' TCP work), which any server pays.
    sys_us: u64,
    /// `total_us` as % of one core over the wall time.
    pct: f64,
}

impl CpuMark {
    fn take(pid: Option<u32>) -> CpuMark {
        CpuMark { at: Instant::now(), times_us: pid.and_then(server_times_us) }
    }

    /// Server CPU spent since `self`.
    fn until(self, later: CpuMark) -> Option<CpuUsed> {
        let (user0, sys0) = self.times_us?;
        let (user1, sys1) = later.times_us?;
        let total_us = (user1 + sys1).checked_sub(user0 + sys0)?;
        let sys_us = sys1.saturating_sub(sys0);
        let wall = later.at.duration_since(self.at).as_secs_f64();
        Some(CpuUsed { total_us, sys_us, pct: if wall > 0.0 { total_us as f64 / (wall * 1e4) } else { 0.0 } })
    }
}

/// `server_cpu_us_per_<unit>` and `server_sys_us_per_<unit>` for `count`
/// units of work.
fn insert_cpu_per(out: &mut Map<String, Value>, unit: &str, used: CpuUsed, count: u64) {
    if count > 0 {
        out.insert(format!("server_cpu_us_per_{unit}"), json!(round3(used.total_us as f64 / count as f64)));
        out.insert(format!("server_sys_us_per_{unit}"), json!(round3(used.sys_us as f64 / count as f64)));
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------
// Tallies

#[derive(Default)]
struct Tally {
    messages: u64,
    errors: u64,
    unechoed: u64,
    mismatched: u64,
    reconnects: u64,
    latencies_us: Vec<u32>,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn merge(&mut self, other: Tally) {
        self.messages += other.messages;
        self.errors += other.errors;
        self.unechoed += other.unechoed;
        self.mismatched += other.mismatched;
        self.reconnects += other.reconnects;
        let room = MAX_SAMPLES.saturating_sub(self.latencies_us.len());
        self.latencies_us.extend(other.latencies_us.into_iter().take(room));
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn record(&mut self, sent: Instant) {
        self.messages += 1;
        if self.latencies_us.len() < MAX_SAMPLES {
            self.latencies_us.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }

    fn into_json(mut self, out: &mut Map<String, Value>, elapsed: Duration, cpu: Option<CpuUsed>) {
        self.latencies_us.sort_unstable();
        let pct = |p: f64| -> Value {
            if self.latencies_us.is_empty() {
                return Value::Null;
            }
            let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
            json!(round3(f64::from(self.latencies_us[i]) / 1000.0))
        };
        out.insert("messages".into(), json!(self.messages));
        out.insert("errors".into(), json!(self.errors));
        out.insert("unechoed".into(), json!(self.unechoed));
        out.insert("mismatched".into(), json!(self.mismatched));
        out.insert("reconnects".into(), json!(self.reconnects));
        out.insert("elapsed_s".into(), json!(round3(elapsed.as_secs_f64())));
        let rate = self.messages as f64 / elapsed.as_secs_f64().max(1e-9);
        out.insert("msgs_per_s".into(), json!(rate.round()));
        out.insert("p50_ms".into(), pct(0.50));
        out.insert("p99_ms".into(), pct(0.99));
        if let Some(used) = cpu {
            out.insert("server_cpu_pct".into(), json!(round3(used.pct)));
            insert_cpu_per(out, "msg", used, self.messages);
        }
        if let Some(e) = self.first_error {
            out.insert("first_error".into(), json!(e));
        }
    }
}

/// A message body of `size` ASCII bytes that starts with its sequence
/// number, so echoes can be checked.
fn payload(seq: u64, size: usize) -> String {
    let mut text = format!("{seq:010}-");
    if text.len() < size {
        text.extend(std::iter::repeat_n('x', size - text.len()));
    } else {
        text.truncate(size.max(1));
    }
    text
}

/// The session id of the `i`-th session of the current run: unique per
/// process and per run, so that scenarios run one after another in one
/// process (as in the smoke test) never land on each other's sessions.
fn session_id(i: usize) -> String {
    format!("{:x}r{}b{i}", std::process::id(), RUN.load(std::sync::atomic::Ordering::Relaxed))
}

/// Counts the scenario runs of this process; see [`session_id`].
static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs `open(i)` for `0..n` with at most `concurrency` at once; returns
/// the successes in order of completion and the failures' first message.
async fn open_all<T, F, Fut>(n: usize, concurrency: usize, open: F) -> (Vec<(usize, T)>, u64, Option<String>)
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for i in 0..n {
        let Ok(permit) = limit.clone().acquire_owned().await else { break };
        let fut = open(i);
        set.spawn(async move {
            let result = timeout(OPEN_TIMEOUT, fut).await.unwrap_or_else(|_| Err("open timed out".into()));
            drop(permit);
            (i, result)
        });
    }
    let mut opened = Vec::with_capacity(n);
    let (mut failed, mut first) = (0, None);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, Ok(t))) => opened.push((i, t)),
            Ok((_, Err(e))) => {
                failed += 1;
                first.get_or_insert(e);
            }
            Err(e) => {
                failed += 1;
                first.get_or_insert(e.to_string());
            }
        }
    }
    (opened, failed, first)
}

// ---------------------------------------------------------------------------
// Websockets

type Ws = WebSocketStream<TcpStream>;

async fn tcp_connect(config: &Config, i: usize) -> Result<TcpStream, String> {
    let stream = if config.source_ips.is_empty() {
        TcpStream::connect(&config.addr).await.map_err(|e| format!("connect: {e}"))?
    } else {
        let server: SocketAddr = config.addr.parse().map_err(|e| format!("address {}: {e}", config.addr))?;
        let local = config.source_ips[i % config.source_ips.len()];
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        socket.bind(SocketAddr::new(local.into(), 0)).map_err(|e| format!("bind {local}: {e}"))?;
        socket.connect(server).await.map_err(|e| format!("connect from {local}: {e}"))?
    };
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Opens a websocket on `path`; with `sockjs`, also waits for the `o`
/// frame. `small` keeps client buffers small (idle sessions by thousands).
async fn ws_open(config: &Config, i: usize, path: &str, sockjs: bool, small: bool) -> Result<Ws, String> {
    let stream = tcp_connect(config, i).await?;
    let mut ws_config = WebSocketConfig::default();
    if small {
        ws_config = ws_config.read_buffer_size(4096).write_buffer_size(0);
    }
    let url = format!("ws://{}{}", config.addr, path);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config))
        .await
        .map_err(|e| format!("websocket handshake: {e}"))?;
    if sockjs {
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) if t.as_str() == "o" => {}
            other => return Err(format!("expected the open frame, got {other:?}")),
        }
    }
    Ok(ws)
}

fn sockjs_ws_path(prefix: &str, i: usize) -> String {
    format!("{prefix}/{:03}/{}/websocket", i % 1000, session_id(i))
}

/// Messages in one text frame: a SockJS frame (`a[...]` gives its
/// messages, `o`/`h` none, `c[...]` an error) or a raw message.
fn ws_messages(text: &str, sockjs: bool) -> Result<Vec<String>, String> {
    if !sockjs {
        return Ok(vec![text.to_owned()]);
    }
    match text.as_bytes().first() {
        Some(b'a') => serde_json::from_str(&text[1..]).map_err(|e| format!("bad frame {text:?}: {e}")),
        Some(b'h' | b'o') => Ok(Vec::new()),
        _ => Err(format!("unexpected frame {:?}", text.chars().take(80).collect::<String>())),
    }
}

async fn ws_echo(config: &Arc<Config>, sockjs: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let path_of = {
        let prefix = config.prefix.clone();
        move |i| if sockjs { sockjs_ws_path(&prefix, i) } else { format!("{prefix}/websocket") }
    };
    let (opened, failed, first) = open_all(config.sessions, config.connect_concurrency, |i| {
        let config = config.clone();
        let path = path_of(i);
        async move { ws_open(&config, i, &path, sockjs, false).await }
    })
    .await;
    let mut tally = Tally::default();
    if failed > 0 {
        tally.errors += failed;
        tally.first_error = first;
    }
    out.insert("size".into(), json!(config.size));
    out.insert("inflight".into(), json!(config.inflight));
    let before = CpuMark::take(config.server_pid);
    let stop_at = Instant::now() + config.duration;
    let mut set = JoinSet::new();
    for (i, ws) in opened {
        let config = config.clone();
        set.spawn(async move { ws_echo_session(ws, &config, i, stop_at, sockjs).await });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(t) => tally.merge(t),
            Err(e) => tally.error(e.to_string()),
        }
    }
    let after = CpuMark::take(config.server_pid);
    tally.into_json(&mut out, after.at.duration_since(before.at), before.until(after));
    out
}

async fn ws_echo_session(mut ws: Ws, config: &Config, i: usize, stop_at: Instant, sockjs: bool) -> Tally {
    let mut tally = Tally::default();
    let mut pending: VecDeque<(String, Instant)> = VecDeque::with_capacity(config.inflight);
    let mut seq = (i as u64) << 32;
    loop {
        // Keep W messages in flight until the time is up.
        if Instant::now() < stop_at {
            while pending.len() < config.inflight.max(1) {
                let text = payload(seq, config.size);
                seq += 1;
                let wire = if sockjs { serde_json::to_string(&[&text]).unwrap_or_default() } else { text.clone() };
                if let Err(e) = ws.feed(WsMessage::text(wire)).await {
                    tally.error(format!("send: {e}"));
                    return tally;
                }
                pending.push_back((text, Instant::now()));
            }
            if let Err(e) = ws.flush().await {
                tally.error(format!("send: {e}"));
                return tally;
            }
        } else if pending.is_empty() {
            break;
        }
        let wait = stop_at.saturating_duration_since(Instant::now()) + DRAIN;
        let text = match timeout(wait, ws.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) => t,
            Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
            Ok(other) => {
                tally.error(format!("receive: {other:?}"));
                break;
            }
            Err(_) => break,
        };
        match ws_messages(text.as_str(), sockjs) {
            Ok(messages) => {
                for m in messages {
                    match pending.pop_front() {
                        Some((expected, sent)) => {
                            if m != expected {
                                tally.mismatched += 1;
                            }
                            tally.record(sent);
                        }
                        None => tally.mismatched += 1,
                    }
                }
            }
            Err(e) => {
                tally.error(e);
                break;
            }
        }
    }
    tally.unechoed += pending.len() as u64;
    let _ = timeout(Duration::from_millis(500), ws.close(None)).await;
    tally
}

// ---------------------------------------------------------------------------
// xhr transports

/// An http1 connection that is reopened when the server closes it.
struct Http {
    addr: String,
    conn: Option<Connection>,
    /// The bound on each read of the connections it opens.
    read_timeout: Duration,
}

impl Http {
    fn new(addr: &str) -> Http {
        Http { addr: addr.to_owned(), conn: None, read_timeout: crate::http1::DEFAULT_READ_TIMEOUT }
    }

    async fn conn(&mut self) -> Result<&mut Connection, String> {
        if self.conn.as_ref().is_none_or(Connection::saw_eof) {
            let mut conn = Connection::connect(&self.addr).await.map_err(|e| e.to_string())?;
            conn.read_timeout = self.read_timeout;
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or_else(|| "no connection".to_string())
    }

    async fn send(&mut self, request: &Request) -> Result<(), String> {
        self.conn().await?.send(request).await.map_err(|e| e.to_string())
    }

    async fn response(&mut self, method: &str) -> Result<crate::http1::Response, String> {
        let conn = self.conn.as_mut().ok_or("no request sent")?;
        let response = conn.read_response(method).await.map_err(|e| e.to_string())?;
        if response.headers.has_token("connection", "close") || response.version == "HTTP/1.0" {
            self.conn = None;
        }
        Ok(response)
    }

    async fn roundtrip(&mut self, request: &Request) -> Result<crate::http1::Response, String> {
        self.send(request).await?;
        self.response(&request.method).await
    }
}

/// Messages of the frames in `bytes` (`F\n` each): `Ok(None)` when there
/// are no `a` frames.
fn line_messages(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut messages = Vec::new();
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match line[0] {
            b'a' => messages
                .extend(serde_json::from_slice::<Vec<String>>(&line[1..]).map_err(|e| format!("bad frame: {e}"))?),
            b'h' | b'o' => {}
            _ => return Err(format!("unexpected frame {:?}", String::from_utf8_lossy(line))),
        }
    }
    Ok(messages)
}

struct XhrClient {
    base: String,
    recv: Http,
    send: Http,
}

/// Opens a session with `xhr` (polling) or `xhr_streaming` (streaming,
/// leaving the response open after the `o` frame).
async fn xhr_open(addr: &str, prefix: &str, i: usize, streaming: bool) -> Result<XhrClient, String> {
    let base = format!("{prefix}/{:03}/{}", i % 1000, session_id(i));
    let mut client = XhrClient { base, recv: Http::new(addr), send: Http::new(addr) };
    if streaming {
        stream_open(&mut client.recv, &client.base, "xhr_streaming", false).await?;
    } else {
        let r = client.recv.roundtrip(&Request::post(&format!("{}/xhr", client.base))).await?;
        if r.body != b"o\n" {
            return Err(format!("expected o, got {:?}", r.text()));
        }
    }
    Ok(client)
}

/// Sends a streaming request and reads until its `o` frame (for a new
/// session) or just its head and prelude (`reopen`).
async fn stream_open(http: &mut Http, base: &str, transport: &str, reopen: bool) -> Result<(), String> {
    let request = if transport == "eventsource" {
        Request::get(&format!("{base}/eventsource"))
    } else {
        Request::post(&format!("{base}/{transport}"))
    };
    http.send(&request).await?;
    let conn = http.conn.as_mut().ok_or("no connection")?;
    let head = conn.read_head().await.map_err(|e| e.to_string())?;
    if head.status != 200 {
        return Err(format!("{transport}: status {}", head.status));
    }
    if reopen {
        return Ok(());
    }
    let mut seen = Vec::new();
    while !seen.windows(2).any(|w| w == b"o\n" || w == b"o\r") {
        match conn.read_chunk().await.map_err(|e| e.to_string())? {
            Some(chunk) => seen.extend_from_slice(&chunk),
            None => return Err(format!("{transport}: the response ended before the open frame")),
        }
        if seen.len() > 64 * 1024 {
            return Err(format!("{transport}: no open frame"));
        }
    }
    Ok(())
}

async fn xhr_echo(config: &Arc<Config>, streaming: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let (opened, failed, first) = open_all(config.sessions, config.connect_concurrency, |i| {
        let config = config.clone();
        async move { xhr_open(&config.addr, &config.prefix, i, streaming).await }
    })
    .await;
    let mut tally = Tally::default();
    if failed > 0 {
        tally.errors += failed;
        tally.first_error = first;
    }
    out.insert("size".into(), json!(config.size));
    let before = CpuMark::take(config.server_pid);
    let stop_at = Instant::now() + config.duration;
    let mut set = JoinSet::new();
    for (i, client) in opened {
        let config = config.clone();
        set.spawn(async move {
            if streaming {
                xhr_streaming_session(client, &config, i, stop_at).await
            } else {
                xhr_polling_session(client, &config, i, stop_at).await
            }
        });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(t) => tally.merge(t),
            Err(e) => tally.error(e.to_string()),
        }
    }
    let after = CpuMark::take(config.server_pid);
    tally.into_json(&mut out, after.at.duration_since(before.at), before.until(after));
    out
}

async fn xhr_send(client: &mut XhrClient, text: &str) -> Result<(), String> {
    let body = serde_json::to_string(&[text]).unwrap_or_default();
    let request = Request::post(&format!("{}/xhr_send", client.base)).header("Content-Type", "text/plain").body(body);
    let r = client.send.roundtrip(&request).await?;
    if r.status != 204 {
        return Err(format!("xhr_send: status {}", r.status));
    }
    Ok(())
}

async fn xhr_polling_session(mut client: XhrClient, config: &Config, i: usize, stop_at: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut seq = (i as u64) << 32;
    let poll = Request::post(&format!("{}/xhr", client.base));
    while Instant::now() < stop_at {
        let text = payload(seq, config.size);
        seq += 1;
        let sent = Instant::now();
        // The poll goes out first and waits; the send's echo answers it.
        if let Err(e) = client.recv.send(&poll).await {
            tally.error(format!("xhr: {e}"));
            break;
        }
        if let Err(e) = xhr_send(&mut client, &text).await {
            tally.error(e);
            tally.unechoed += 1;
            break;
        }
        let mut echoed = false;
        for _ in 0..4 {
            let response = match client.recv.response("POST").await {
                Ok(r) => r,
                Err(e) => {
                    tally.error(format!("xhr: {e}"));
                    break;
                }
            };
            match line_messages(&response.body) {
                Ok(messages) if messages.is_empty() => {
                    // A heartbeat ended the poll: poll again.
                    if let Err(e) = client.recv.send(&poll).await {
                        tally.error(format!("xhr: {e}"));
                        break;
                    }
                }
                Ok(messages) => {
                    for m in messages {
                        if m != text {
                            tally.mismatched += 1;
                        }
                    }
                    tally.record(sent);
                    echoed = true;
                    break;
                }
                Err(e) => {
                    tally.error(e);
                    break;
                }
            }
        }
        if !echoed {
            tally.unechoed += 1;
            break;
        }
    }
    tally
}

async fn xhr_streaming_session(mut client: XhrClient, config: &Config, i: usize, stop_at: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut seq = (i as u64) << 32;
    'outer: while Instant::now() < stop_at {
        let text = payload(seq, config.size);
        seq += 1;
        let sent = Instant::now();
        if let Err(e) = xhr_send(&mut client, &text).await {
            tally.error(e);
            break;
        }
        loop {
            let chunk = match client.recv.conn.as_mut() {
                Some(conn) => conn.read_chunk().await,
                None => {
                    tally.error("xhr_streaming: connection lost".into());
                    break 'outer;
                }
            };
            match chunk {
                Ok(Some(chunk)) => match line_messages(&chunk) {
                    Ok(messages) if messages.is_empty() => {}
                    Ok(messages) => {
                        for m in messages {
                            if m != text {
                                tally.mismatched += 1;
                            }
                        }
                        tally.record(sent);
                        break;
                    }
                    Err(e) => {
                        tally.error(e);
                        tally.unechoed += 1;
                        break 'outer;
                    }
                },
                Ok(None) => {
                    // response_limit reached: the client reconnects.
                    tally.reconnects += 1;
                    let reconnect = stream_open(&mut client.recv, &client.base, "xhr_streaming", true).await;
                    if let Err(e) = reconnect {
                        tally.error(e);
                        tally.unechoed += 1;
                        break 'outer;
                    }
                }
                Err(e) => {
                    tally.error(format!("xhr_streaming: {e}"));
                    tally.unechoed += 1;
                    break 'outer;
                }
            }
        }
    }
    tally
}

// ---------------------------------------------------------------------------
// Fan-out

async fn fanout(config: &Arc<Config>) -> Map<String, Value> {
    let mut out = Map::new();
    let transport = match config.fanout_transport {
        FanoutTransport::EventSource => "eventsource",
        FanoutTransport::XhrStreaming => "xhr_streaming",
    };
    out.insert("transport".into(), json!(transport));
    let (arrivals_tx, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let (opened, failed, first) = open_all(config.sessions, config.connect_concurrency, |i| {
        let config = config.clone();
        async move {
            let base = format!("{}/{:03}/{}", config.broadcast_prefix, i % 1000, session_id(i));
            let mut http = Http::new(&config.addr);
            stream_open(&mut http, &base, transport, false).await?;
            http.conn.take().ok_or_else(|| "no connection".to_string())
        }
    })
    .await;
    let receivers = opened.len();
    let mut readers = JoinSet::new();
    for (_, mut conn) in opened {
        let arrivals = arrivals_tx.clone();
        readers.spawn(async move {
            conn.read_timeout = Duration::from_secs(3600);
            let mut window: Vec<u8> = Vec::new();
            let mut last = None;
            while let Ok(Some(chunk)) = conn.read_chunk().await {
                let now = Instant::now();
                window.extend_from_slice(&chunk);
                for round in markers(&window) {
                    if last.is_none_or(|l| round > l) {
                        last = Some(round);
                        let _ = arrivals.send((round, now));
                    }
                }
                let keep = window.len().saturating_sub(32);
                window.drain(..keep);
            }
        });
    }
    drop(arrivals_tx);
    // The sender is a websocket session of the broadcast service itself.
    let sender_path = sockjs_ws_path(&config.broadcast_prefix, config.sessions + 1);
    let mut errors = failed;
    let mut first_error = first;
    let sender = match ws_open(config, config.sessions + 1, &sender_path, true, false).await {
        Ok(ws) => {
            // The sender is a member too: drain what it receives.
            let (sink, mut stream): (SplitSink<Ws, WsMessage>, SplitStream<Ws>) = ws.split();
            let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
            Some((sink, reader))
        }
        Err(e) => {
            errors += 1;
            first_error.get_or_insert(e);
            None
        }
    };
    let mut all_ms = Vec::new();
    let mut p50s = Vec::new();
    let mut delivered = 0u64;
    let mut missing = 0u64;
    let before = CpuMark::take(config.server_pid);
    if let Some((mut sink, reader)) = sender {
        for round in 0..config.rounds as u64 {
            let text = serde_json::to_string(&[format!("fanmark-{round}-")]).unwrap_or_default();
            let sent = Instant::now();
            if let Err(e) = sink.send(WsMessage::text(text)).await {
                errors += 1;
                first_error.get_or_insert(format!("broadcast send: {e}"));
                break;
            }
            let deadline = sent + Duration::from_secs(30);
            let mut times = Vec::with_capacity(receivers);
            while times.len() < receivers {
                match tokio::time::timeout_at(deadline.into(), arrivals.recv()).await {
                    Ok(Some((r, at))) if r == round => times.push(at.duration_since(sent).as_secs_f64() * 1e3),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            delivered += times.len() as u64;
            missing += (receivers - times.len()) as u64;
            times.sort_by(f64::total_cmp);
            if let Some(&last) = times.last() {
                all_ms.push(last);
                p50s.push(times[times.len() / 2]);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = timeout(Duration::from_millis(500), sink.close()).await;
        reader.abort();
    }
    let after = CpuMark::take(config.server_pid);
    readers.abort_all();
    while readers.join_next().await.is_some() {}
    all_ms.sort_by(f64::total_cmp);
    p50s.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v.get(v.len() / 2).map(|x| round3(*x));
    out.insert("receivers".into(), json!(receivers));
    out.insert("rounds".into(), json!(config.rounds));
    out.insert("delivered".into(), json!(delivered));
    out.insert("missing".into(), json!(missing));
    out.insert("errors".into(), json!(errors));
    out.insert("all_delivered_ms".into(), json!(median(&all_ms)));
    out.insert("all_delivered_ms_max".into(), json!(all_ms.last().map(|x| round3(*x))));
    out.insert("p50_delivery_ms".into(), json!(median(&p50s)));
    if let Some(used) = before.until(after) {
        insert_cpu_per(&mut out, "delivery", used, delivered);
    }
    if let Some(e) = first_error {
        out.insert("first_error".into(), json!(e));
    }
    out
}

/// Round numbers of every `fanmark-<n>-` in `window`.
fn markers(window: &[u8]) -> Vec<u64> {
    const MARK: &[u8] = b"fanmark-";
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = window[at..].windows(MARK.len()).position(|w| w == MARK) {
        let start = at + pos + MARK.len();
        let digits = window[start..].iter().take_while(|b| b.is_ascii_digit()).count();
        if window.get(start + digits) == Some(&b'-') {
            if let Some(n) = std::str::from_utf8(&window[start..start + digits]).ok().and_then(|s| s.parse().ok()) {
                found.push(n);
            }
        }
        at = start;
    }
    found
}

// ---------------------------------------------------------------------------
// Idle sessions

/// Opens `config.sessions` idle sessions whose readers count heartbeats in
/// `beats`; returns the readers and the failures.
async fn open_idle(
    config: &Arc<Config>,
    streaming: bool,
    beats: Arc<AtomicU64>,
) -> (JoinSet<()>, usize, u64, Option<String>) {
    let open_count = Arc::new(AtomicUsize::new(0));
    let (opened, failed, first) = open_all(config.sessions, config.connect_concurrency, |i| {
        let config = config.clone();
        let count = open_count.clone();
        async move {
            let opened = if streaming {
                let base = format!("{}/{:03}/{}", config.prefix, i % 1000, session_id(i));
                let mut http = Http::new(&config.addr);
                stream_open(&mut http, &base, "xhr_streaming", false).await?;
                Idle::Http(http.conn.take().ok_or("no connection")?)
            } else {
                let path = sockjs_ws_path(&config.prefix, i);
                Idle::Ws(Box::new(ws_open(&config, i, &path, true, true).await?))
            };
            count.fetch_add(1, Ordering::Relaxed);
            Ok(opened)
        }
    })
    .await;
    let live = opened.len();
    let mut set = JoinSet::new();
    for (_, idle) in opened {
        let beats = beats.clone();
        set.spawn(async move {
            match idle {
                Idle::Ws(mut ws) => {
                    while let Some(Ok(m)) = ws.next().await {
                        match m {
                            WsMessage::Text(t) if t.as_str() == "h" => {
                                beats.fetch_add(1, Ordering::Relaxed);
                            }
                            WsMessage::Ping(_) => {
                                beats.fetch_add(1, Ordering::Relaxed);
                            }
                            WsMessage::Close(_) => break,
                            _ => {}
                        }
                    }
                }
                Idle::Http(mut conn) => {
                    conn.read_timeout = Duration::from_secs(3600);
                    while let Ok(Some(chunk)) = conn.read_chunk().await {
                        if chunk == b"h\n" {
                            beats.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
    }
    (set, live, failed, first)
}

enum Idle {
    Ws(Box<Ws>),
    Http(Connection),
}

async fn idle(config: &Arc<Config>, streaming: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let pid = config.server_pid;
    let rss_before = pid.and_then(server_rss_kib);
    let beats = Arc::new(AtomicU64::new(0));
    let (mut set, live, failed, first) = open_idle(config, streaming, beats).await;
    // Let the server settle (handshake buffers freed, tasks parked).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = pid.and_then(server_rss_kib);
    let cpu_from = CpuMark::take(pid);
    tokio::time::sleep(config.duration.min(Duration::from_secs(5))).await;
    let cpu_to = CpuMark::take(pid);
    set.abort_all();
    while set.join_next().await.is_some() {}
    out.insert("open".into(), json!(live));
    out.insert("errors".into(), json!(failed));
    if let (Some(b), Some(a)) = (rss_before, rss_after) {
        out.insert("rss_before_kib".into(), json!(b));
        out.insert("rss_after_kib".into(), json!(a));
        if live > 0 {
            let per = (a as f64 - b as f64) * 1024.0 / live as f64;
            out.insert("rss_bytes_per_session".into(), json!(per.round()));
        }
    }
    if let Some(CpuUsed { pct, .. }) = cpu_from.until(cpu_to) {
        out.insert("idle_cpu_pct".into(), json!(round3(pct)));
    }
    if let Some(e) = first {
        out.insert("first_error".into(), json!(e));
    }
    out
}

/// Many idle websocket sessions: server CPU in the quiet window before the
/// first heartbeats come due, then over whole heartbeat periods.
async fn timers(config: &Arc<Config>) -> Map<String, Value> {
    let mut out = Map::new();
    let pid = config.server_pid;
    let rss_before = pid.and_then(server_rss_kib);
    let beats = Arc::new(AtomicU64::new(0));
    let first_open = Instant::now();
    let (mut set, live, failed, first) = open_idle(config, false, beats.clone()).await;
    let open_s = first_open.elapsed();
    out.insert("open".into(), json!(live));
    out.insert("errors".into(), json!(failed));
    out.insert("open_s".into(), json!(round3(open_s.as_secs_f64())));
    out.insert("heartbeat_s".into(), json!(round3(config.heartbeat.as_secs_f64())));
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let (Some(b), Some(a)) = (rss_before, pid.and_then(server_rss_kib)) {
        if live > 0 {
            out.insert("rss_bytes_per_session".into(), json!(((a as f64 - b as f64) * 1024.0 / live as f64).round()));
        }
    }
    // Quiet window: every session is open and none has a heartbeat due
    // before `first_open + heartbeat`.
    let quiet_end = first_open + config.heartbeat.saturating_sub(Duration::from_millis(500));
    if quiet_end > Instant::now() + Duration::from_secs(2) {
        let from = CpuMark::take(pid);
        let beats_from = beats.load(Ordering::Relaxed);
        tokio::time::sleep_until(quiet_end.into()).await;
        let to = CpuMark::take(pid);
        if let Some(CpuUsed { pct, .. }) = from.until(to) {
            out.insert("quiet_cpu_pct".into(), json!(round3(pct)));
            out.insert("quiet_s".into(), json!(round3(to.at.duration_since(from.at).as_secs_f64())));
            out.insert("quiet_heartbeats".into(), json!(beats.load(Ordering::Relaxed) - beats_from));
        }
    } else {
        out.insert("quiet_cpu_pct".into(), Value::Null);
    }
    // Whole heartbeat periods (each session gets one heartbeat per period).
    let periods = (config.duration.as_secs_f64() / config.heartbeat.as_secs_f64()).ceil().max(1.0);
    let window = config.heartbeat.mul_f64(periods);
    let from = CpuMark::take(pid);
    let beats_from = beats.load(Ordering::Relaxed);
    tokio::time::sleep(window).await;
    let to = CpuMark::take(pid);
    let heartbeats = beats.load(Ordering::Relaxed) - beats_from;
    out.insert("period_s".into(), json!(round3(window.as_secs_f64())));
    out.insert("period_heartbeats".into(), json!(heartbeats));
    if let Some(used) = from.until(to) {
        out.insert("period_cpu_pct".into(), json!(round3(used.pct)));
        insert_cpu_per(&mut out, "heartbeat", used, heartbeats);
    }
    set.abort_all();
    while set.join_next().await.is_some() {}
    if let Some(e) = first {
        out.insert("first_error".into(), json!(e));
    }
    out
}

// ---------------------------------------------------------------------------
// Floods and poll rate

/// How often the server's RSS is sampled during a flood, for its peak.
const RSS_SAMPLE: Duration = Duration::from_millis(100);

/// How long the last `xhr_send` of a flood may take: the server holds a
/// send for up to its `send_timeout` (10 s by default) before answering 503.
const SEND_WAIT: Duration = Duration::from_secs(15);

/// A flood scenario's error count (0 or 1: it stops at the first) and,
/// if there was one, what it was.
fn report_error(out: &mut Map<String, Value>, error: Option<String>) {
    out.insert("errors".into(), json!(u64::from(error.is_some())));
    if let Some(e) = error {
        out.insert("first_error".into(), json!(e));
    }
}

/// The server's RSS around a load: before it, its peak during it (sampled
/// every [`RSS_SAMPLE`]), at its end, and after a pause.
struct RssWatch {
    pid: Option<u32>,
    before: Option<u64>,
    end: Option<u64>,
    peak: Arc<AtomicU64>,
    sampler: Option<tokio::task::JoinHandle<()>>,
}

impl RssWatch {
    /// Reads the RSS now and samples it until [`RssWatch::end`].
    fn start(pid: Option<u32>) -> RssWatch {
        let before = pid.and_then(server_rss_kib);
        let peak = Arc::new(AtomicU64::new(before.unwrap_or(0)));
        let sampler = pid.map(|pid| {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    if let Some(kib) = server_rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(RSS_SAMPLE).await;
                }
            })
        });
        RssWatch { pid, before, end: None, peak, sampler }
    }

    /// The end of the load: reads the RSS and stops sampling.
    fn end(&mut self) {
        if let Some(sampler) = self.sampler.take() {
            sampler.abort();
        }
        self.end = self.pid.and_then(server_rss_kib);
        if let Some(kib) = self.end {
            self.peak.fetch_max(kib, Ordering::Relaxed);
        }
    }

    /// Waits `pause` (the clients are gone by then), reads the RSS again
    /// and writes every figure into `out`.
    async fn finish(mut self, pause: Duration, out: &mut Map<String, Value>) {
        if self.sampler.is_some() {
            self.end();
        }
        tokio::time::sleep(pause).await;
        let after = self.pid.and_then(server_rss_kib);
        out.insert("pause_s".into(), json!(round3(pause.as_secs_f64())));
        let (Some(before), Some(end), Some(after)) = (self.before, self.end, after) else {
            return;
        };
        let peak = self.peak.load(Ordering::Relaxed);
        out.insert("rss_before_kib".into(), json!(before));
        out.insert("rss_end_kib".into(), json!(end));
        out.insert("rss_peak_kib".into(), json!(peak));
        out.insert("rss_after_pause_kib".into(), json!(after));
        out.insert("rss_growth_kib".into(), json!(end as i64 - before as i64));
        out.insert("rss_peak_growth_kib".into(), json!(peak as i64 - before as i64));
        out.insert("rss_kept_kib".into(), json!(after as i64 - before as i64));
    }
}

/// One client POSTs `config.size`-byte `xhr_send` bodies (one JSON array
/// holding one string) to one session of the push-only service, one after
/// another, for `config.duration`; an `xhr_streaming` receiver stays open
/// so that the session does not expire, and counts the ticks it gets.
async fn flood_xhr_send(config: &Arc<Config>) -> Map<String, Value> {
    let mut out = Map::new();
    // One client, whatever --sessions says.
    out.insert("sessions".into(), json!(1));
    out.insert("size".into(), json!(config.size));
    let base = format!("{}/000/{}", config.push_prefix, session_id(0));
    let mut recv = Http::new(&config.addr);
    if let Err(e) = stream_open(&mut recv, &base, "xhr_streaming", false).await {
        report_error(&mut out, Some(e));
        return out;
    }
    let ticks = Arc::new(AtomicU64::new(0));
    let reader = match recv.conn.take() {
        Some(mut conn) => {
            let ticks = ticks.clone();
            tokio::spawn(async move {
                conn.read_timeout = SEND_WAIT * 4;
                while let Ok(Some(chunk)) = conn.read_chunk().await {
                    ticks.fetch_add(count(&chunk, b"tick!"), Ordering::Relaxed);
                }
            })
        }
        None => tokio::spawn(async {}),
    };
    let text = payload(0, config.size);
    let body = serde_json::to_string(&[&text]).unwrap_or_default();
    let request =
        Request::post(&format!("{base}/xhr_send")).header("Content-Type", "text/plain").body(body.into_bytes());
    let mut watch = RssWatch::start(config.server_pid);
    let started = Instant::now();
    let stop_at = started + config.duration;
    let addr = config.addr.clone();
    let sender = tokio::spawn(async move {
        let mut http = Http::new(&addr);
        http.read_timeout = SEND_WAIT;
        let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
        let mut error = None;
        let mut waits_ms = Vec::new();
        while Instant::now() < stop_at {
            let sent = Instant::now();
            match http.roundtrip(&request).await {
                Ok(r) => {
                    *statuses.entry(r.status).or_default() += 1;
                    waits_ms.push(sent.elapsed().as_secs_f64() * 1e3);
                }
                Err(e) => {
                    error = Some(format!("xhr_send: {e}"));
                    break;
                }
            }
        }
        (statuses, error, waits_ms)
    });
    tokio::time::sleep_until(stop_at.into()).await;
    watch.end();
    // The request in flight at the end is let finish (the server answers
    // it within its send_timeout), so that every request has a status.
    let (statuses, error, waits_ms) = match timeout(SEND_WAIT + Duration::from_secs(2), sender).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => (Default::default(), Some(e.to_string()), Vec::new()),
        Err(_) => (Default::default(), Some("the last xhr_send did not finish".into()), Vec::new()),
    };
    let elapsed = started.elapsed();
    reader.abort();
    let _ = reader.await;
    let requests: u64 = statuses.values().sum();
    let accepted = statuses.get(&204).copied().unwrap_or(0);
    out.insert("requests".into(), json!(requests));
    out.insert("status_204".into(), json!(accepted));
    out.insert("status_503".into(), json!(statuses.get(&503).copied().unwrap_or(0)));
    let others: Map<String, Value> =
        statuses.iter().filter(|(s, _)| **s != 204 && **s != 503).map(|(s, n)| (s.to_string(), json!(n))).collect();
    out.insert("status_other".into(), Value::Object(others));
    out.insert("accepted_bytes".into(), json!(accepted * config.size as u64));
    out.insert("longest_request_ms".into(), json!(waits_ms.iter().copied().fold(0.0, f64::max).round()));
    out.insert("elapsed_s".into(), json!(round3(elapsed.as_secs_f64())));
    out.insert("ticks_received".into(), json!(ticks.load(Ordering::Relaxed)));
    report_error(&mut out, error);
    watch.finish(config.pause, &mut out).await;
    out
}

/// One websocket (SockJS, or raw with `sockjs == false`) to the push-only
/// service sends `config.size`-byte messages as fast as the connection
/// takes them, for `config.duration`. Once the session's inbox is full the
/// server stops reading, the socket buffers fill and a send blocks: that
/// is the expected end, reported as `blocked_after_s`. `sent` counts the
/// sends that completed (handed to the kernel, not necessarily read by the
/// server).
async fn flood_ws(config: &Arc<Config>, sockjs: bool) -> Map<String, Value> {
    let mut out = Map::new();
    // One client, whatever --sessions says.
    out.insert("sessions".into(), json!(1));
    out.insert("size".into(), json!(config.size));
    let path =
        if sockjs { sockjs_ws_path(&config.push_prefix, 0) } else { format!("{}/websocket", config.push_prefix) };
    let ws = match ws_open(config, 0, &path, sockjs, false).await {
        Ok(ws) => ws,
        Err(e) => {
            report_error(&mut out, Some(e));
            return out;
        }
    };
    let (mut sink, mut stream): (SplitSink<Ws, WsMessage>, SplitStream<Ws>) = ws.split();
    let ticks = Arc::new(AtomicU64::new(0));
    let reader = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                if let WsMessage::Text(t) = m {
                    ticks.fetch_add(count(t.as_bytes(), b"tick!"), Ordering::Relaxed);
                }
            }
        })
    };
    let text = payload(0, config.size);
    let message = WsMessage::text(if sockjs { serde_json::to_string(&[&text]).unwrap_or_default() } else { text });
    let mut watch = RssWatch::start(config.server_pid);
    let started = Instant::now();
    let stop_at = started + config.duration;
    let (mut sent, mut last_sent, mut blocked, mut error) = (0u64, Duration::ZERO, false, None);
    while Instant::now() < stop_at {
        match tokio::time::timeout_at(stop_at.into(), sink.send(message.clone())).await {
            Ok(Ok(())) => {
                sent += 1;
                last_sent = started.elapsed();
            }
            Ok(Err(e)) => {
                error = Some(format!("send: {e}"));
                break;
            }
            Err(_) => {
                blocked = true;
                break;
            }
        }
    }
    watch.end();
    // The client leaves without a closing handshake: a blocked socket
    // would not take one.
    reader.abort();
    let _ = reader.await;
    drop(sink);
    out.insert("sent".into(), json!(sent));
    out.insert("sent_bytes".into(), json!(sent * config.size as u64));
    out.insert("blocked".into(), json!(blocked));
    out.insert("blocked_after_s".into(), if blocked { json!(round3(last_sent.as_secs_f64())) } else { Value::Null });
    out.insert("elapsed_s".into(), json!(round3(started.elapsed().as_secs_f64())));
    out.insert("ticks_received".into(), json!(ticks.load(Ordering::Relaxed)));
    report_error(&mut out, error);
    watch.finish(config.pause, &mut out).await;
    out
}

/// `config.sessions` xhr-polling clients doing echo round trips on
/// `config.prefix` as fast as they can (the `xhr-polling` scenario's
/// clients), with the server's RSS before, at the end and after a pause.
/// Every round trip is one poll and one `xhr_send`.
async fn poll_flat_out(config: &Arc<Config>) -> Map<String, Value> {
    let mut watch = RssWatch::start(config.server_pid);
    let mut out = xhr_echo(config, false).await;
    watch.end();
    let rate = out.get("msgs_per_s").and_then(Value::as_f64).unwrap_or(0.0);
    out.insert("polls_per_s".into(), json!(rate));
    out.insert("requests_per_s".into(), json!(rate * 2.0));
    watch.finish(config.pause, &mut out).await;
    out
}

/// Occurrences of `needle` in `haystack`.
fn count(haystack: &[u8], needle: &[u8]) -> u64 {
    haystack.windows(needle.len()).filter(|w| *w == needle).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_the_size_and_the_sequence_number() {
        assert_eq!(payload(7, 16), "0000000007-xxxxx");
        assert_eq!(payload(7, 4096).len(), 4096);
        assert_eq!(payload(7, 4), "0000");
    }

    #[test]
    fn frames_split_into_messages() {
        assert_eq!(line_messages(b"a[\"x\",\"y\"]\n").unwrap(), vec!["x", "y"]);
        assert!(line_messages(b"hhhh\no\n").unwrap().is_empty());
        assert!(line_messages(b"c[3000,\"Go away!\"]\n").is_err());
        assert_eq!(ws_messages("a[\"x\"]", true).unwrap(), vec!["x"]);
        assert_eq!(ws_messages("a[\"x\"]", false).unwrap(), vec!["a[\"x\"]"]);
    }

    #[test]
    fn markers_are_found_across_frames() {
        assert_eq!(markers(b"data: a[\"fanmark-12-\"]\r\n\r\nfanmark-13-"), vec![12, 13]);
        assert!(markers(b"fanmark-1").is_empty());
    }

    #[test]
    fn ticks_are_counted_in_frames() {
        assert_eq!(count(b"a[\"tick!\"]\na[\"tick!\",\"tick!\"]\n", b"tick!"), 3);
        assert_eq!(count(b"h\n", b"tick!"), 0);
    }

    #[test]
    fn proc_stat_of_this_process_parses() {
        let pid = std::process::id();
        assert!(server_cpu_us(pid).is_some());
        assert!(server_rss_kib(pid).unwrap() > 0);
    }
}
