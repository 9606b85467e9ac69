//! sockjs-client (the Rust client of this workspace) against three servers:
//! sockjs-node 0.3.24 (sockjs-tests/node/server.js, a child process) and
//! our actix and warp servers (in-process, the reference endpoints of
//! PROTOCOL.md §1), on each of the four transports, named explicitly:
//!
//! | scenario | what must happen |
//! |---|---|
//! | `escapes` | `/echo` returns ASCII, controls, `"`, `\`, `%` and `%61bc`, the §8 escape set (U+200C-U+200F, U+2028-U+202F, U+2060-U+206F, U+FFF0-U+FFFF), Latin-1 and astral characters (emoji, U+1D11E) unchanged, each its own message |
//! | `large` | a 10 000-character message (over `/echo`'s response_limit of 4096, §7.6/§7.7) and 40 more sent back to back all come back once, in order; streaming transports needed more than one response; the 41 messages left in fewer than 21 sends (one `xhr_send` in flight, the rest batched) |
//! | `close` | `/close` ends the connection with `3000 "Go away!"` (§6), cleanly |
//! | `heartbeat` | `h` frames (§6) are counted and taken silently, the session stays usable (sockjs-node sends websocket pings instead: none counted, the session still answers after two heartbeat periods) |
//! | `cookie` | `/cookie_needed_echo` (§4.6) echoes |
//! | `ended` | the server ends sessions of every transport at once: our servers' `Endpoint::shutdown()` (`1001 "Server shutting down"`), sockjs-node killed (`1006`, not clean, with the error) |
//!
//! And with no transport named, the client picks websocket on `/echo` and
//! xhr-streaming on `/disabled_websocket_echo` (`websocket: false` in
//! `/info`, §7.2), as sockjs-client would.
//!
//! A second test runs the client's websocket-multiplex side
//! (`sockjs_client::multiplex`) on every transport against `/multiplex` of
//! sockjs-node with websocket-multiplex 0.1.0's `MultiplexServer` and of
//! our actix and axum servers (the reference `/multiplex`): two
//! connections, three channels on the first and one on the second; each
//! channel is a room of its name, so a message reaches every subscriber
//! of its channel (the sender too) and no other channel; payloads keep
//! their commas; a name with a space travels escaped; a closed channel's
//! `recv` ends while the connection's other channels go on; and on
//! `/multiplex_carl` a channel the server closes (`uns`) ends its `recv`
//! after the message sent before.
//!
//! sockjs-node needs `npm install` in sockjs-tests/node (./test.sh does
//! it); without it these tests fail, they never skip.

mod support;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sockjs_client::multiplex::{Channel, Multiplexer};
use sockjs_client::{Client, Connection, Transport};
use sockjs_core::{Endpoint, Options};
use support::{loopback_listener, ProcessGuard};

/// Every scenario of one server x transport has this long.
const CELL_DEADLINE: Duration = Duration::from_secs(30);
/// How long a reply may take.
const REPLY: Duration = Duration::from_secs(5);

/// The heartbeat of the `/heartbeat` endpoint added to our servers.
const OUR_HEARTBEAT: Duration = Duration::from_millis(300);
/// sockjs-node's `/presence` heartbeat (node/server.js).
const NODE_HEARTBEAT: Duration = Duration::from_secs(2);

/// Writes past libtest's output capture, so the table shows in every run.
fn show(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A server under test and the way to end its sessions.
struct Server {
    name: &'static str,
    base: String,
    /// Where heartbeats come often: the path, a message and its reply.
    heartbeat: (&'static str, &'static str, &'static str),
    heartbeat_delay: Duration,
    running: Running,
}

enum Running {
    /// One of our servers (stopped when dropped) and its `/ending` endpoint.
    Ours(#[allow(dead_code)] Box<dyn std::any::Any>, Endpoint),
    Node(ProcessGuard),
}

/// The reference endpoints plus `/heartbeat` (echo, frequent heartbeats)
/// and `/ending` (echo, shut down by the `ended` scenario).
fn our_endpoints() -> (Vec<Endpoint>, Endpoint) {
    let mut endpoints = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
    endpoints.push(Endpoint::new(Options::new("/heartbeat").heartbeat_delay(OUR_HEARTBEAT), sockjs_examples::echo));
    let ending = Endpoint::new(Options::new("/ending"), sockjs_examples::echo);
    endpoints.push(ending.clone());
    // The twin of node/server.js's /multiplex_carl.
    let carl = sockjs_core::multiplex::Multiplex::new().channel(
        "carl",
        |channel: sockjs_core::multiplex::Channel| async move {
            let _ = channel.send("bye");
            channel.close();
        },
    );
    endpoints.push(Endpoint::new(Options::new("/multiplex_carl"), carl));
    (endpoints, ending)
}

/// One of our servers with [`our_endpoints`]; `serve` starts it on the
/// listener and returns its address.
fn start_ours<S: 'static>(
    name: &'static str,
    serve: impl FnOnce(std::net::TcpListener, Vec<Endpoint>) -> std::io::Result<S>,
    addr: impl Fn(&S) -> std::net::SocketAddr,
) -> Server {
    let (endpoints, ending) = our_endpoints();
    let server = serve(loopback_listener(), endpoints).unwrap_or_else(|e| panic!("{name} server: {e}"));
    Server {
        name,
        base: format!("http://{}", addr(&server)),
        heartbeat: ("/heartbeat", "ping", "ping"),
        heartbeat_delay: OUR_HEARTBEAT,
        running: Running::Ours(Box::new(server), ending),
    }
}

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// sockjs-node 0.3.24 on an ephemeral port: waits (bounded) for its
/// `listening on ADDR` line.
fn start_node() -> Server {
    let dir = node_dir();
    assert!(
        dir.join("node_modules/sockjs/package.json").is_file(),
        "sockjs-tests/node/node_modules/sockjs is missing: run `npm install --no-package-lock` in sockjs-tests/node \
         (./test.sh does)"
    );
    let script = dir.join("server.js");
    let mut node = ProcessGuard::spawn("sockjs-node", "/usr/bin/node", &[script.to_str().unwrap(), "0"], &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = loop {
        let log = node.log();
        if let Some(addr) = log.lines().find_map(|l| l.strip_prefix("listening on ")) {
            break addr.trim().to_owned();
        }
        assert!(!node.exited(), "sockjs-node exited:\n{log}");
        assert!(Instant::now() < deadline, "sockjs-node did not listen within 10 s:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    };
    Server {
        name: "sockjs-node",
        base: format!("http://{addr}"),
        heartbeat: ("/presence", "join hb", "joined hb"),
        heartbeat_delay: NODE_HEARTBEAT,
        running: Running::Node(node),
    }
}

type Outcome = Result<String, String>;

fn client(base: &str, path: &str, transport: Option<Transport>) -> Client {
    let client = Client::new(&format!("{base}{path}")).expect("a valid URL").open_timeout(REPLY);
    match transport {
        Some(t) => client.transport(t),
        None => client,
    }
}

async fn connect(base: &str, path: &str, transport: Transport) -> Result<Connection, String> {
    let connection = client(base, path, Some(transport)).connect().await.map_err(|e| format!("connect: {e}"))?;
    if connection.transport() != transport {
        return Err(format!("asked for {transport}, got {}", connection.transport()));
    }
    Ok(connection)
}

/// The next message, within `REPLY`.
async fn next(connection: &mut Connection, waiting_for: &str) -> Result<String, String> {
    match tokio::time::timeout(REPLY, connection.recv()).await {
        Ok(Some(message)) => Ok(message),
        Ok(None) => Err(format!("closed ({:?}) while waiting for {waiting_for}", connection.close_reason())),
        Err(_) => Err(format!("nothing within {REPLY:?} while waiting for {waiting_for}")),
    }
}

async fn send(connection: &Connection, message: &str) -> Result<(), String> {
    connection.send(message).await.map_err(|e| format!("send: {e}"))
}

/// The §8 escape set, as one string.
fn escape_set() -> String {
    [0x200c..=0x200f, 0x2028..=0x202f, 0x2060..=0x206f, 0xfff0..=0xffff]
        .into_iter()
        .flatten()
        .filter_map(char::from_u32)
        .collect()
}

async fn escapes(base: &str, transport: Transport) -> Outcome {
    let mut c = connect(base, "/echo", transport).await?;
    let controls: String = (0u32..0x20).filter_map(char::from_u32).collect();
    let latin1: String = (0xa0u32..=0xff).filter_map(char::from_u32).collect();
    let messages =
        ["plain ascii", &controls, "\"quoted\" \\ back", "100% %61bc %", &escape_set(), &latin1, "😀 𝄞 emoji", ""];
    for m in messages {
        send(&c, m).await?;
    }
    for m in messages {
        let got = next(&mut c, &format!("the echo of {m:?}")).await?;
        if got != m {
            return Err(format!("sent {m:?}, got back {got:?}"));
        }
    }
    c.close(1000, "Normal closure").await.map_err(|e| e.to_string())?;
    Ok(format!("{} messages", messages.len()))
}

async fn large(base: &str, transport: Transport) -> Outcome {
    let mut c = connect(base, "/echo", transport).await?;
    let big = "x".repeat(10_000);
    let mut sent = vec![big];
    sent.extend((0..40).map(|i| format!("m{i}")));
    for m in &sent {
        send(&c, m).await?;
    }
    for (i, m) in sent.iter().enumerate() {
        let got = next(&mut c, &format!("echo {i}")).await?;
        if &got != m {
            return Err(format!(
                "echo {i}: expected {} chars {:?}…, got {} chars {:?}…",
                m.len(),
                &m[..2],
                got.len(),
                got.get(..2)
            ));
        }
    }
    // The response that carried the echoes ended at the limit (§7.6):
    // whatever comes next arrives on the next one.
    send(&c, "after").await?;
    if next(&mut c, "the echo of \"after\"").await? != "after" {
        return Err("wrong echo after the large ones".into());
    }
    sent.push("after".into());
    let stats = c.stats();
    if stats.messages_received != sent.len() as u64 {
        return Err(format!("received {} messages, expected {}", stats.messages_received, sent.len()));
    }
    if matches!(transport, Transport::XhrStreaming | Transport::EventSource) && stats.receive_requests < 2 {
        return Err(format!("{} streaming response(s): response_limit never ended one", stats.receive_requests));
    }
    if stats.send_requests * 2 > sent.len() as u64 {
        return Err(format!("{} sends for {} messages: nothing was batched", stats.send_requests, sent.len()));
    }
    c.close(1000, "Normal closure").await.map_err(|e| e.to_string())?;
    Ok(format!("{} receiving, {} sending requests", stats.receive_requests, stats.send_requests))
}

async fn server_close(base: &str, transport: Transport) -> Outcome {
    let mut c = connect(base, "/close", transport).await?;
    if let Ok(Some(m)) = tokio::time::timeout(REPLY, c.recv()).await {
        return Err(format!("unexpected message {m:?}"));
    }
    let close = tokio::time::timeout(REPLY, c.closed()).await.map_err(|_| "not closed".to_string())?;
    if (close.code, close.reason.as_str(), close.was_clean) != (3000, "Go away!", true) {
        return Err(format!("closed with {close} (clean: {}, error: {:?})", close.was_clean, close.error));
    }
    if c.send("late").await.is_ok() {
        return Err("send after close succeeded".into());
    }
    Ok(close.to_string())
}

async fn heartbeat(server: &ServerInfo, transport: Transport) -> Outcome {
    let (path, probe, reply) = server.heartbeat;
    let mut c = connect(&server.base, path, transport).await?;
    let node_websocket = server.name == "sockjs-node" && transport == Transport::WebSocket;
    if node_websocket {
        // PROTOCOL.md §6: sockjs-node pings websockets instead of `h`;
        // the session must survive two periods (tungstenite answers).
        tokio::time::sleep(server.heartbeat_delay * 2 + Duration::from_millis(500)).await;
    } else {
        let deadline = Instant::now() + server.heartbeat_delay * 2 + REPLY;
        while c.stats().heartbeats < 2 {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} heartbeats after {:?}",
                    c.stats().heartbeats,
                    server.heartbeat_delay * 2 + REPLY
                ));
            }
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(50), c.recv()).await {
                return Err(format!("a heartbeat surfaced as the message {m:?}"));
            }
        }
    }
    send(&c, probe).await?;
    let got = next(&mut c, "the probe's reply").await?;
    if got != reply {
        return Err(format!("expected {reply:?}, got {got:?}"));
    }
    let heartbeats = c.stats().heartbeats;
    if node_websocket && heartbeats != 0 {
        return Err(format!("{heartbeats} h frames from sockjs-node on a websocket"));
    }
    c.close(1000, "Normal closure").await.map_err(|e| e.to_string())?;
    Ok(format!("{heartbeats} heartbeats"))
}

async fn cookie(base: &str, transport: Transport) -> Outcome {
    let mut c = connect(base, "/cookie_needed_echo", transport).await?;
    if !c.info().cookie_needed {
        return Err("/info did not say cookie_needed".into());
    }
    send(&c, "with a cookie").await?;
    let got = next(&mut c, "the echo").await?;
    if got != "with a cookie" {
        return Err(format!("got {got:?}"));
    }
    c.close(1000, "Normal closure").await.map_err(|e| e.to_string())?;
    Ok("echoed".into())
}

/// What the scenarios need of a server (cheap to clone into tasks).
#[derive(Clone)]
struct ServerInfo {
    name: &'static str,
    base: String,
    heartbeat: (&'static str, &'static str, &'static str),
    heartbeat_delay: Duration,
}

const SCENARIOS: [&str; 5] = ["escapes", "large", "close", "heartbeat", "cookie"];

async fn run_cell(server: ServerInfo, transport: Transport) -> Vec<Outcome> {
    let base = server.base.as_str();
    let mut outcomes = Vec::new();
    for scenario in SCENARIOS {
        let run = async {
            match scenario {
                "escapes" => escapes(base, transport).await,
                "large" => large(base, transport).await,
                "close" => server_close(base, transport).await,
                "heartbeat" => heartbeat(&server, transport).await,
                _ => cookie(base, transport).await,
            }
        };
        outcomes.push(tokio::time::timeout(CELL_DEADLINE, run).await.unwrap_or_else(|_| Err("timed out".into())));
    }
    outcomes
}

/// With no transport named: websocket where `/info` offers it, else
/// xhr-streaming.
async fn default_order(base: &str) -> Outcome {
    for (path, expected) in [("/echo", Transport::WebSocket), ("/disabled_websocket_echo", Transport::XhrStreaming)] {
        let mut c = client(base, path, None).connect().await.map_err(|e| format!("{path}: {e}"))?;
        if c.transport() != expected {
            return Err(format!("{path}: picked {}, expected {expected}", c.transport()));
        }
        send(&c, "first choice").await?;
        if next(&mut c, "the echo").await? != "first choice" {
            return Err(format!("{path}: wrong echo"));
        }
        c.close(1000, "Normal closure").await.map_err(|e| e.to_string())?;
    }
    Ok("websocket, then xhr-streaming".into())
}

/// Opens one echo session per transport, then has the server end them
/// all; each must report the close the server's way of ending implies.
async fn ended(server: &mut Server) -> Vec<Outcome> {
    let path = if matches!(server.running, Running::Node(_)) { "/echo" } else { "/ending" };
    let mut connections = Vec::new();
    for transport in Transport::ALL {
        let c = async {
            let mut c = connect(&server.base, path, transport).await?;
            send(&c, "before").await?;
            match next(&mut c, "the echo").await? {
                m if m == "before" => Ok(c),
                m => Err(format!("got {m:?}")),
            }
        };
        connections.push(c.await);
    }
    let expected = match &mut server.running {
        Running::Ours(_, ending) => {
            ending.shutdown();
            Some((1001, "Server shutting down"))
        }
        Running::Node(node) => {
            node.kill();
            None
        }
    };
    let mut outcomes = Vec::new();
    for c in connections {
        let outcome = async {
            let mut c = c?;
            let close = tokio::time::timeout(REPLY, c.closed()).await.map_err(|_| "still open".to_string())?;
            if c.recv().await.is_some() {
                return Err("a message after the end".into());
            }
            match expected {
                Some((code, reason))
                    if (close.code, close.reason.as_str(), close.was_clean) == (code, reason, true) =>
                {
                    Ok(close.to_string())
                }
                None if close.code == 1006 && !close.was_clean => Ok(format!("1006 ({})", close.reason)),
                _ => Err(format!("closed with {close} (clean: {})", close.was_clean)),
            }
        };
        outcomes.push(outcome.await);
    }
    outcomes
}

#[test]
fn client_interoperates_with_sockjs_node_actix_warp_and_axum_on_every_transport() {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut servers = [
        start_ours("actix", |l, e| sockjs_examples::serve_actix(l, e, 2), sockjs_examples::ActixServer::addr),
        start_ours("warp", |l, e| sockjs_examples::serve_warp(l, e, 2), sockjs_examples::WarpServer::addr),
        start_ours("axum", |l, e| sockjs_examples::serve_axum(l, e, 2), sockjs_examples::AxumServer::addr),
        start_node(),
    ];
    let infos: Vec<ServerInfo> = servers
        .iter()
        .map(|s| ServerInfo {
            name: s.name,
            base: s.base.clone(),
            heartbeat: s.heartbeat,
            heartbeat_delay: s.heartbeat_delay,
        })
        .collect();

    let mut rows: Vec<(String, Vec<(&str, Outcome)>)> = Vec::new();
    runtime.block_on(async {
        let mut cells = tokio::task::JoinSet::new();
        for (s, info) in infos.iter().enumerate() {
            for (t, transport) in Transport::ALL.into_iter().enumerate() {
                let info = info.clone();
                cells.spawn(async move { (s, t, run_cell(info, transport).await) });
            }
            let base = info.base.clone();
            cells.spawn(async move { (s, 99, vec![default_order(&base).await]) });
        }
        let mut results = Vec::new();
        while let Some(joined) = cells.join_next().await {
            results.push(joined.expect("a cell panicked"));
        }
        results.sort_by_key(|(s, t, _)| (*s, *t));
        for (s, t, outcomes) in results {
            let label = match Transport::ALL.get(t) {
                Some(transport) => format!("{} {transport}", infos[s].name),
                None => format!("{} (no transport named)", infos[s].name),
            };
            let names: &[&str] = if t == 99 { &["default-order"] } else { &SCENARIOS };
            rows.push((label, names.iter().copied().zip(outcomes).collect()));
        }
        // Last: the servers end every session (sockjs-node is killed).
        for server in servers.iter_mut() {
            let outcomes = ended(server).await;
            for (transport, outcome) in Transport::ALL.into_iter().zip(outcomes) {
                let row = rows.iter_mut().find(|(label, _)| *label == format!("{} {transport}", server.name));
                row.expect("a row per transport").1.push(("ended", outcome));
            }
        }
    });

    let mut failures = Vec::new();
    let mut table = String::new();
    for (label, outcomes) in &rows {
        let _ = write!(table, "{label:<36}");
        for (scenario, outcome) in outcomes {
            let _ = write!(table, " {scenario}:{}", if outcome.is_ok() { "ok" } else { "FAIL" });
            match outcome {
                Ok(detail) if std::env::var_os("SOCKJS_CLIENT_VERBOSE").is_some() => {
                    let _ = write!(table, "({detail})");
                }
                Err(e) => failures.push(format!("{label} {scenario}: {e}")),
                Ok(_) => {}
            }
        }
        table.push('\n');
    }
    show(&table);
    show(&format!("client interop: {} rows in {:?}", rows.len(), started.elapsed()));
    assert_eq!(rows.len(), 20, "4 servers x (4 transports + the default order)");
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
    drop(servers);
}

/// The next message on `channel` that is not a `probe ...`, within `REPLY`
/// (`None`: the channel's `recv` ended).
async fn channel_next(channel: &mut Channel, waiting_for: &str) -> Result<Option<String>, String> {
    loop {
        match tokio::time::timeout(REPLY, channel.recv()).await {
            Ok(Some(m)) if m.starts_with("probe ") => continue,
            Ok(other) => return Ok(other),
            Err(_) => {
                return Err(format!("nothing on {} within {REPLY:?} while waiting for {waiting_for}", channel.topic()))
            }
        }
    }
}

async fn expect_on(channel: &mut Channel, want: &str) -> Result<(), String> {
    match channel_next(channel, want).await? {
        Some(got) if got == want => Ok(()),
        other => Err(format!("on {}: expected {want:?}, got {other:?}", channel.topic())),
    }
}

/// Waits until the server has opened `channel` (its own probe comes back
/// to it: the channel is the room of its name).
async fn probed(channel: &mut Channel) -> Result<(), String> {
    let probe = format!("probe {}", channel.topic());
    channel.send(&probe).await.map_err(|e| format!("send: {e}"))?;
    loop {
        match tokio::time::timeout(REPLY, channel.recv()).await {
            Ok(Some(m)) if m == probe => return Ok(()),
            Ok(Some(m)) if m.starts_with("probe ") => continue,
            other => return Err(format!("probe on {}: {other:?}", channel.topic())),
        }
    }
}

async fn multiplex_scenario(base: &str, transport: Transport) -> Outcome {
    let m1 = Multiplexer::new(connect(base, "/multiplex", transport).await?);
    let m2 = Multiplexer::new(connect(base, "/multiplex", transport).await?);
    let open = |m: &Multiplexer, name: &'static str| {
        let m = m.clone();
        async move { m.channel(name).await.map_err(|e| format!("channel {name}: {e}")) }
    };
    let (mut a1, mut b1, mut s1, mut a2) =
        (open(&m1, "a").await?, open(&m1, "b").await?, open(&m1, "a b").await?, open(&m2, "a").await?);
    if s1.topic() != "a%20b" {
        return Err(format!("the name travels escaped: {}", s1.topic()));
    }
    for channel in [&mut a1, &mut b1, &mut s1, &mut a2] {
        probed(channel).await?;
    }
    b1.send("on b, with, commas").await.map_err(|e| format!("send: {e}"))?;
    expect_on(&mut b1, "on b, with, commas").await?;
    a1.send("to all of a").await.map_err(|e| format!("send: {e}"))?;
    expect_on(&mut a1, "to all of a").await?;
    expect_on(&mut a2, "to all of a").await?;
    s1.send("spaced").await.map_err(|e| format!("send: {e}"))?;
    expect_on(&mut s1, "spaced").await?;
    a2.close().await.map_err(|e| format!("close: {e}"))?;
    if let Some(m) = channel_next(&mut a2, "the end of a closed channel").await? {
        return Err(format!("a closed channel received {m:?}"));
    }
    if a2.send("x").await.is_ok() {
        return Err("a closed channel sent".into());
    }
    a1.send("after").await.map_err(|e| format!("send: {e}"))?;
    expect_on(&mut a1, "after").await?;
    b1.send("still").await.map_err(|e| format!("send: {e}"))?;
    expect_on(&mut b1, "still").await?;
    // b never saw a's messages, nor s1's: its next message is its own.
    m1.close(1000, "Normal closure").await.map_err(|e| format!("close: {e}"))?;
    if let Some(m) = channel_next(&mut b1, "the end of the connection").await? {
        return Err(format!("after the connection closed, b received {m:?}"));
    }
    m2.close(1000, "Normal closure").await.map_err(|e| format!("close: {e}"))?;
    // The server closes a channel (`uns`): its `recv` ends after what came
    // before.
    let m3 = Multiplexer::new(connect(base, "/multiplex_carl", transport).await?);
    let mut carl = m3.channel("carl").await.map_err(|e| format!("channel carl: {e}"))?;
    expect_on(&mut carl, "bye").await?;
    if let Some(m) = channel_next(&mut carl, "the server's uns").await? {
        return Err(format!("after the server's uns, carl received {m:?}"));
    }
    if carl.is_open() {
        return Err("carl is still open after the server's uns".into());
    }
    m3.close(1000, "Normal closure").await.map_err(|e| format!("close: {e}"))?;
    Ok(format!("4 channels over {}", m1.transport()))
}

#[test]
fn client_multiplexes_channels_against_sockjs_node_actix_and_axum_on_every_transport() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let servers = [
        start_ours("actix", |l, e| sockjs_examples::serve_actix(l, e, 2), sockjs_examples::ActixServer::addr),
        start_ours("axum", |l, e| sockjs_examples::serve_axum(l, e, 2), sockjs_examples::AxumServer::addr),
        start_node(),
    ];
    let mut failures = Vec::new();
    let mut cells = 0;
    runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        // The servers side by side; on one server, one transport after
        // the other (the channels are rooms that every cell would share).
        for server in &servers {
            let (name, base) = (server.name, server.base.clone());
            set.spawn(async move {
                let mut outcomes = Vec::new();
                for transport in Transport::ALL {
                    let outcome = tokio::time::timeout(CELL_DEADLINE, multiplex_scenario(&base, transport)).await;
                    outcomes.push((
                        transport,
                        outcome.unwrap_or_else(|_| Err(format!("not done within {CELL_DEADLINE:?}"))),
                    ));
                }
                (name, outcomes)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (name, outcomes) = joined.expect("a server's cells panicked");
            for (transport, outcome) in outcomes {
                cells += 1;
                show(&format!("multiplex {name:<12} {transport:<14} {}", if outcome.is_ok() { "ok" } else { "FAIL" }));
                if let Err(e) = outcome {
                    failures.push(format!("{name} {transport}: {e}"));
                }
            }
        }
    });
    assert_eq!(cells, 12, "3 servers x 4 transports");
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
    drop(servers);
}

/// permessage-deflate (RFC 7692) between the client and our actix server with
/// `websocket_deflate` on: the client reports the agreed parameters, and a
/// 4 KiB message (over the 256-byte minimum) crosses the wire compressed
/// both ways, as the client's counts of the bytes read and written on its
/// socket show; with the client's offer turned off, or from a server
/// without compression, the same message crosses whole.
#[test]
fn client_negotiates_permessage_deflate_with_our_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let endpoints = vec![
        Endpoint::new(Options::new("/deflate").websocket_deflate(sockjs_core::Deflate::new()), sockjs_examples::echo),
        Endpoint::new(Options::new("/plain"), sockjs_examples::echo),
    ];
    let server = sockjs_examples::serve_actix(loopback_listener(), endpoints, 2).expect("actix server");
    let base = format!("http://{}", server.addr());
    let message = "a line of text that repeats, as chat and JSON do; ".repeat(82);
    assert!(message.len() > 4000);
    runtime.block_on(async {
        // (path, offer deflate, agreed expected)
        for (path, offer, agreed) in [("/deflate", true, true), ("/deflate", false, false), ("/plain", true, false)] {
            let mut c = client(&base, path, Some(Transport::WebSocket));
            if !offer {
                c = c.websocket_deflate(None);
            }
            let mut connection = c.connect().await.unwrap_or_else(|e| panic!("{path} {offer}: {e}"));
            let expected =
                agreed.then_some("permessage-deflate; server_no_context_takeover; client_no_context_takeover");
            assert_eq!(connection.websocket_extension(), expected, "{path}, offered: {offer}");
            let before = connection.stats();
            send(&connection, &message).await.unwrap();
            assert_eq!(next(&mut connection, "the echo").await.unwrap(), message);
            let after = connection.stats();
            let sent = after.wire_bytes_sent - before.wire_bytes_sent;
            let received = after.wire_bytes_received - before.wire_bytes_received;
            if agreed {
                assert!(sent < message.len() as u64 / 4, "{path}: {sent} bytes written for {}", message.len());
                assert!(received < message.len() as u64 / 4, "{path}: {received} bytes read for {}", message.len());
            } else {
                assert!(sent > message.len() as u64, "{path}, offered: {offer}: {sent} bytes written");
                assert!(received > message.len() as u64, "{path}, offered: {offer}: {received} bytes read");
            }
            // Below the minimum size a message goes plain, even when agreed.
            let before = connection.stats();
            send(&connection, "short").await.unwrap();
            assert_eq!(next(&mut connection, "the short echo").await.unwrap(), "short");
            let sent = connection.stats().wire_bytes_sent - before.wire_bytes_sent;
            assert_eq!(sent, 2 + 4 + "[\"short\"]".len() as u64, "one masked frame, uncompressed");
            connection.close(1000, "done").await.unwrap();
        }
    });
    drop(server);
}
