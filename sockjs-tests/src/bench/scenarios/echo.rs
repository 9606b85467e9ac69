//! The echo scenarios: `ws-echo`, `raw-ws-echo`, `xhr-polling` and
//! `xhr-streaming`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::bench::measure::CpuMark;
use crate::bench::tally::Tally;
use crate::bench::ws::{sockjs_ws_path, wire_bytes, ws_messages, EchoWs};
use crate::bench::xhr::{line_messages, stream_open, xhr_open, xhr_send, XhrClient};
use crate::bench::{open_all, payload, Config};
use crate::http1::Request;

/// How long the scenarios wait for echoes still in flight once the
/// measured time is over.
const DRAIN: Duration = Duration::from_secs(3);

pub(crate) async fn ws_echo(config: &Arc<Config>, sockjs: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let path_of = {
        let prefix = config.prefix.clone();
        move |i| if sockjs { sockjs_ws_path(&prefix, i) } else { format!("{prefix}/websocket") }
    };
    let (opened, failed, first) = open_all(config.sessions, config.connect_concurrency, |i| {
        let config = config.clone();
        let path = path_of(i);
        async move { EchoWs::open(&config, i, &path, sockjs).await }
    })
    .await;
    let mut tally = Tally::with_open_failures(failed, first);
    out.insert("size".into(), json!(config.size));
    out.insert("inflight".into(), json!(config.inflight));
    let before = CpuMark::take(config.server_pid);
    let wire_before = wire_bytes();
    let stop_at = Instant::now() + config.duration;
    let mut set = JoinSet::new();
    for (i, ws) in opened {
        let config = config.clone();
        set.spawn(async move { ws_echo_session(ws, &config, i, stop_at, sockjs).await });
    }
    tally.join(set).await;
    let after = CpuMark::take(config.server_pid);
    let wire_after = wire_bytes();
    // What the sockets carried while measured (the closing frames too).
    let (read, written) = (wire_after.0 - wire_before.0, wire_after.1 - wire_before.1);
    let echoed = tally.messages;
    out.insert("wire_bytes_read".into(), json!(read));
    out.insert("wire_bytes_written".into(), json!(written));
    if echoed > 0 {
        out.insert("wire_bytes_per_msg".into(), json!(((read + written) as f64 / echoed as f64).round()));
    }
    tally.into_json(&mut out, after.at.duration_since(before.at), before.until(after));
    out
}

async fn ws_echo_session(mut ws: EchoWs, config: &Config, i: usize, stop_at: Instant, sockjs: bool) -> Tally {
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
                if let Err(e) = ws.feed(wire).await {
                    tally.error(e);
                    return tally;
                }
                pending.push_back((text, Instant::now()));
            }
            if let Err(e) = ws.flush().await {
                tally.error(e);
                return tally;
            }
        } else if pending.is_empty() {
            break;
        }
        let wait = stop_at.saturating_duration_since(Instant::now()) + DRAIN;
        let text = match timeout(wait, ws.next_text()).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                tally.error(e);
                break;
            }
            Err(_) => break,
        };
        match ws_messages(&text, sockjs) {
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
    let _ = timeout(Duration::from_millis(500), ws.close()).await;
    tally
}

pub(crate) async fn xhr_echo(config: &Arc<Config>, streaming: bool) -> Map<String, Value> {
    let mut out = Map::new();
    let (opened, failed, first) = open_all(config.sessions, config.connect_concurrency, |i| {
        let config = config.clone();
        async move { xhr_open(&config.addr, &config.prefix, i, streaming).await }
    })
    .await;
    let mut tally = Tally::with_open_failures(failed, first);
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
    tally.join(set).await;
    let after = CpuMark::take(config.server_pid);
    tally.into_json(&mut out, after.at.duration_since(before.at), before.until(after));
    out
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
