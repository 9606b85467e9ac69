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
//! | `room-fanout` | N eventsource or xhr-streaming receivers on `/rooms`, spread over R rooms; one send per room per round, time until all have it |
//! | `room-cross-node` | the same over two servers on one broker: receivers on both, senders on the first; send-to-receipt latency, CPU of both |
//! | `inflate-bomb` | N websockets with permessage-deflate each send one small compressed message that inflates to S bytes, past the server's `max_payload`: server peak RSS, and whether each was closed with 1009 |
//!
//! With `--deflate` (`Config::deflate`), `ws-echo`, `raw-ws-echo` and
//! `idle-ws` connect with sockjs-core's client codec and offer
//! permessage-deflate (a server that does not agree is an error); every
//! websocket scenario reports the bytes its sockets read and wrote.
//!
//! The last four measure what a client can make the server hold: server
//! RSS before the load, at its end (and its peak, sampled every 100 ms), and
//! again after a pause with the clients gone. `/push` is the reference
//! service's push-only application: it never receives, so every message a
//! client sends to it stays in the session's inbox.
//!
//! The room scenarios use the reference service's `/rooms`: a session's
//! first message names the room it joins (the server answers `joined`),
//! and what it sends later goes to the room's other members.

mod measure;
mod row;
mod scenarios;
pub mod table;
mod tally;
pub mod targets;
mod ws;
mod xhr;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use measure::round3;
pub use measure::{server_cpu_us, server_rss_kib, server_times_us};
use scenarios::bomb::inflate_bomb;
use scenarios::echo::{ws_echo, xhr_echo};
use scenarios::fanout::fanout;
use scenarios::flood::{flood_ws, flood_xhr_send, poll_flat_out};
use scenarios::idle::{idle, timers};
use scenarios::rooms::room_fanout;

/// How long one connection (TCP + handshake + open frame) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

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
    /// N receivers in R rooms of `/rooms`, one send per room per round.
    RoomFanout,
    /// The same across two servers on one broker.
    RoomCrossNode,
    /// Compressed messages that inflate past `max_payload`: peak RSS, 1009.
    InflateBomb,
}

impl Scenario {
    /// Every scenario, in the order of the module table.
    pub const ALL: [Scenario; 15] = [
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
        Scenario::RoomFanout,
        Scenario::RoomCrossNode,
        Scenario::InflateBomb,
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
            Scenario::RoomFanout => "room-fanout",
            Scenario::RoomCrossNode => "room-cross-node",
            Scenario::InflateBomb => "inflate-bomb",
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
    /// The SockJS prefix of the rooms service the room scenarios use
    /// (`/rooms`).
    pub rooms_prefix: String,
    /// Rooms the receivers of the room scenarios are spread over (receiver
    /// `i` is in room `i % rooms`); at most `sessions`.
    pub rooms: usize,
    /// `room-cross-node`: the second server, `host:port`, on the same
    /// broker as the first.
    pub addr2: Option<String>,
    /// `room-cross-node`: the second server's process id; its CPU is added
    /// to the first's.
    pub server_pid2: Option<u32>,
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
    /// Broadcast rounds of the fan-out and room scenarios.
    pub rounds: usize,
    /// Receiving transport of the fan-out and room scenarios.
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
    /// Offer permessage-deflate on the echo and idle websockets, with
    /// these settings (sockjs-core's client codec); `None`: tokio-tungstenite,
    /// no extension offered.
    pub deflate: Option<sockjs_core::client::ClientDeflate>,
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
            rooms_prefix: "/rooms".into(),
            rooms: 1,
            addr2: None,
            server_pid2: None,
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
            deflate: None,
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
        Scenario::RoomFanout => room_fanout(&config, false).await,
        Scenario::RoomCrossNode => room_fanout(&config, true).await,
        Scenario::InflateBomb => inflate_bomb(&config).await,
    };
    let mut out = Map::new();
    out.insert("scenario".into(), json!(config.scenario.name()));
    out.insert("case".into(), json!(config.case));
    out.insert("label".into(), json!(config.label));
    out.insert("sessions".into(), json!(config.sessions));
    out.insert("deflate".into(), json!(config.deflate.is_some()));
    out.extend(body);
    out.insert("wall_s".into(), json!(round3(started.elapsed().as_secs_f64())));
    Value::Object(out)
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
    fn ticks_are_counted_in_frames() {
        assert_eq!(count(b"a[\"tick!\"]\na[\"tick!\",\"tick!\"]\n", b"tick!"), 3);
        assert_eq!(count(b"h\n", b"tick!"), 0);
    }
}
