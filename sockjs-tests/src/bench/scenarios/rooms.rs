//! `room-fanout` and `room-cross-node`: receivers spread over the rooms of
//! the reference service's `/rooms`, one send per room per round.
//!
//! Receiver `i` (eventsource or xhr-streaming, as in `fanout`) is in room
//! `i % rooms`: it sends the room's name with `xhr_send` and waits for
//! `joined` before the rounds start. Each room has one sender, a SockJS
//! websocket session of the same room on the first server, which its own
//! sends leave out. A round sends `fanmark-<round>-` once into every room,
//! one room after another, and waits until every receiver has it (at most
//! [`ROUND_WAIT`]). With two servers (`room-cross-node`) receiver `i` is on
//! server `(i / rooms) % 2`, so every room of two or more receivers spans
//! both, and what the senders send reaches the second server through the
//! broker.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::fanout::report_rounds;
use crate::bench::measure::{insert_cpu_per, round3, CpuMark, CpuUsed};
use crate::bench::ws::{sockjs_ws_path, ws_messages, ws_open, Ws};
use crate::bench::xhr::{send_to, stream_open, Http};
use crate::bench::{open_all, session_id, Config, FanoutTransport};
use crate::http1::Connection;

/// How long one round may take until every receiver has its message.
const ROUND_WAIT: Duration = Duration::from_secs(30);

/// `room-cross-node`: the pause between the last join and the first
/// round, in which the second server subscribes to its rooms on the
/// broker (delivery across nodes is at most once: a send before that is
/// lost there).
const SUBSCRIBE_SETTLE: Duration = Duration::from_secs(1);

/// The most send-to-receipt samples kept (memory bound).
const MAX_LATENCIES: usize = 4_000_000;

/// The most idle keep-alive connections kept per server for the
/// receivers' `xhr_send` of their room's name.
const JOIN_POOL: usize = 256;

/// How much of a stream is read for `joined` before giving up.
const JOIN_READ_LIMIT: usize = 64 * 1024;

/// The name of room `r`.
fn room_name(r: usize) -> String {
    format!("room-{r}")
}

/// Reads a streaming response until `joined` arrived.
async fn await_joined(conn: &mut Connection) -> Result<(), String> {
    let mut seen = Vec::new();
    loop {
        match conn.read_chunk().await.map_err(|e| e.to_string())? {
            Some(chunk) => seen.extend_from_slice(&chunk),
            None => return Err("the response ended before `joined`".into()),
        }
        if seen.windows(6).any(|w| w == b"joined") {
            return Ok(());
        }
        if seen.len() > JOIN_READ_LIMIT {
            return Err("no `joined`".into());
        }
    }
}

/// Opens the sender of room `r` (session `index`) on the first server and
/// joins it to the room.
async fn open_sender(config: &Config, index: usize, r: usize) -> Result<Ws, String> {
    let path = sockjs_ws_path(&config.rooms_prefix, index);
    let mut ws = ws_open(config, index, &path, true, false).await?;
    let join = serde_json::to_string(&[room_name(r)]).unwrap_or_default();
    ws.send(WsMessage::text(join)).await.map_err(|e| format!("send: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) => {
                if ws_messages(t.as_str(), true)?.iter().any(|m| m == "joined") {
                    return Ok(ws);
                }
            }
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            other => return Err(format!("sender: expected `joined`, got {other:?}")),
        }
    }
}

/// The value at quantile `p` of sorted microseconds, in milliseconds.
fn quantile_ms(sorted_us: &[u32], p: f64) -> Value {
    if sorted_us.is_empty() {
        return Value::Null;
    }
    let i = ((sorted_us.len() - 1) as f64 * p).round() as usize;
    json!(round3(f64::from(sorted_us[i]) / 1000.0))
}

/// `<prefix>p50_ms` and `<prefix>p99_ms` of `samples`.
fn insert_quantiles(out: &mut Map<String, Value>, prefix: &str, mut samples: Vec<u32>) {
    samples.sort_unstable();
    out.insert(format!("{prefix}p50_ms"), quantile_ms(&samples, 0.50));
    out.insert(format!("{prefix}p99_ms"), quantile_ms(&samples, 0.99));
}

/// The scenario; `cross_node`: receivers on `config.addr` and
/// `config.addr2`, server CPU of both pids.
pub(crate) async fn room_fanout(config: &Arc<Config>, cross_node: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let transport = match config.fanout_transport {
        FanoutTransport::EventSource => "eventsource",
        FanoutTransport::XhrStreaming => "xhr_streaming",
    };
    out.insert("transport".into(), json!(transport));
    let mut nodes = vec![config.addr.clone()];
    if cross_node {
        match &config.addr2 {
            Some(addr2) => nodes.push(addr2.clone()),
            None => {
                out.insert("errors".into(), json!(1));
                out.insert("first_error".into(), json!("room-cross-node needs the second server (--addr2)"));
                return out;
            }
        }
    }
    out.insert("nodes".into(), json!(nodes.len()));
    let receivers = config.sessions;
    let rooms = config.rooms.clamp(1, receivers.max(1));
    let node_of = move |i: usize| if cross_node { (i / rooms) % 2 } else { 0 };

    // Receivers: open the stream, send the room's name, wait for `joined`.
    let pools: Arc<Vec<Mutex<Vec<Http>>>> = Arc::new(nodes.iter().map(|_| Mutex::new(Vec::new())).collect());
    let (opened, failed, first) = open_all(receivers, config.connect_concurrency, |i| {
        let config = config.clone();
        let pools = pools.clone();
        let node = node_of(i);
        let addr = nodes[node].clone();
        async move {
            let base = format!("{}/{:03}/{}", config.rooms_prefix, i % 1000, session_id(i));
            let mut http = Http::new(&addr);
            stream_open(&mut http, &base, transport, false).await?;
            let mut conn = http.conn.take().ok_or("no connection")?;
            let pooled = pools[node].lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut sender = pooled.unwrap_or_else(|| Http::new(&addr));
            let sent = send_to(&mut sender, &base, &room_name(i % rooms)).await;
            if sent.is_ok() {
                let mut pool = pools[node].lock().unwrap_or_else(|p| p.into_inner());
                if pool.len() < JOIN_POOL {
                    pool.push(sender);
                }
            }
            sent?;
            await_joined(&mut conn).await?;
            Ok((node, conn))
        }
    })
    .await;
    // The join connections are closed before anything is measured.
    drop(pools);
    let mut errors = failed;
    let mut first_error = first;
    // At most one arrival per receiver per round (a reader reports each
    // round once), taken every round: `sessions` x `rounds` at the very most.
    let (arrivals_tx, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<(usize, u64, Instant)>();
    let mut node_of_receiver: Vec<Option<usize>> = vec![None; receivers];
    let mut readers = JoinSet::new();
    for (i, (node, conn)) in opened {
        node_of_receiver[i] = Some(node);
        let arrivals = arrivals_tx.clone();
        readers.spawn(report_rounds(conn, move |round, at| {
            let _ = arrivals.send((i, round, at));
        }));
    }
    drop(arrivals_tx);

    // One sender per room, on the first server.
    let (senders, sender_failed, sender_first) = open_all(rooms, config.connect_concurrency, |r| {
        let config = config.clone();
        async move { open_sender(&config, receivers + 1 + r, r).await }
    })
    .await;
    errors += sender_failed;
    if first_error.is_none() {
        first_error = sender_first;
    }
    let mut sinks: Vec<Option<SplitSink<Ws, WsMessage>>> = (0..rooms).map(|_| None).collect();
    let mut drains = JoinSet::new();
    for (r, ws) in senders {
        let (sink, mut stream): (SplitSink<Ws, WsMessage>, SplitStream<Ws>) = ws.split();
        sinks[r] = Some(sink);
        drains.spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    }
    out.insert("rooms".into(), json!(rooms));
    out.insert("room_size".into(), json!(receivers.div_ceil(rooms)));
    out.insert("receivers".into(), json!(node_of_receiver.iter().flatten().count()));
    out.insert("senders".into(), json!(sinks.iter().flatten().count()));
    if cross_node {
        let remote = node_of_receiver.iter().filter(|n| **n == Some(1)).count();
        out.insert("receivers_on_second".into(), json!(remote));
        tokio::time::sleep(SUBSCRIBE_SETTLE).await;
    }

    let pids: Vec<Option<u32>> =
        if cross_node { vec![config.server_pid, config.server_pid2] } else { vec![config.server_pid] };
    let before: Vec<CpuMark> = pids.iter().map(|p| CpuMark::take(*p)).collect();
    let (mut delivered, mut missing) = (0u64, 0u64);
    let mut all_ms = Vec::new();
    let mut latencies: Vec<u32> = Vec::new();
    let mut remote_latencies: Vec<u32> = Vec::new();
    let mut local_latencies: Vec<u32> = Vec::new();
    for round in 0..config.rounds as u64 {
        let text = WsMessage::text(serde_json::to_string(&[format!("fanmark-{round}-")]).unwrap_or_default());
        let start = Instant::now();
        let mut sent_at: Vec<Option<Instant>> = vec![None; rooms];
        for (r, slot) in sinks.iter_mut().enumerate() {
            let Some(sink) = slot else { continue };
            let at = Instant::now();
            match sink.send(text.clone()).await {
                Ok(()) => sent_at[r] = Some(at),
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(format!("room send: {e}"));
                    *slot = None;
                }
            }
        }
        let expected =
            (0..receivers).filter(|&i| node_of_receiver[i].is_some() && sent_at[i % rooms].is_some()).count();
        let deadline = start + ROUND_WAIT;
        let (mut got, mut last) = (0usize, None::<Instant>);
        while got < expected {
            match tokio::time::timeout_at(deadline.into(), arrivals.recv()).await {
                Ok(Some((i, r, at))) if r == round => {
                    let Some(sent) = sent_at[i % rooms] else { continue };
                    got += 1;
                    let us = at.saturating_duration_since(sent).as_micros().min(u128::from(u32::MAX)) as u32;
                    if latencies.len() < MAX_LATENCIES {
                        latencies.push(us);
                        if node_of_receiver[i] == Some(1) {
                            remote_latencies.push(us);
                        } else if cross_node {
                            local_latencies.push(us);
                        }
                    }
                    last = Some(last.map_or(at, |l| l.max(at)));
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        delivered += got as u64;
        missing += (expected - got) as u64;
        if let Some(last) = last {
            all_ms.push(last.saturating_duration_since(start).as_secs_f64() * 1e3);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after: Vec<CpuMark> = pids.iter().map(|p| CpuMark::take(*p)).collect();
    for sink in sinks.iter_mut().flatten() {
        let _ = timeout(Duration::from_millis(500), sink.close()).await;
    }
    drains.abort_all();
    while drains.join_next().await.is_some() {}
    readers.abort_all();
    while readers.join_next().await.is_some() {}

    all_ms.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v.get(v.len() / 2).map(|x| round3(*x));
    out.insert("rounds".into(), json!(config.rounds));
    out.insert("delivered".into(), json!(delivered));
    out.insert("missing".into(), json!(missing));
    out.insert("errors".into(), json!(errors));
    out.insert("all_delivered_ms".into(), json!(median(&all_ms)));
    out.insert("all_delivered_ms_max".into(), json!(all_ms.last().map(|x| round3(*x))));
    insert_quantiles(&mut out, "", latencies);
    if cross_node {
        out.insert("remote_deliveries".into(), json!(remote_latencies.len()));
        insert_quantiles(&mut out, "remote_", remote_latencies);
        insert_quantiles(&mut out, "local_", local_latencies);
    }
    // Server CPU: the sum over every server, only when each was measured.
    let used = before.iter().zip(&after).map(|(b, a)| b.until(*a)).try_fold(None::<CpuUsed>, |sum, used| {
        let used = used?;
        Some(Some(match sum {
            None => used,
            Some(s) => {
                CpuUsed { total_us: s.total_us + used.total_us, sys_us: s.sys_us + used.sys_us, pct: s.pct + used.pct }
            }
        }))
    });
    if let Some(Some(used)) = used {
        out.insert("server_cpu_pct".into(), json!(round3(used.pct)));
        insert_cpu_per(&mut out, "delivery", used, delivered);
    }
    if let Some(e) = first_error {
        out.insert("first_error".into(), json!(e));
    }
    out
}
