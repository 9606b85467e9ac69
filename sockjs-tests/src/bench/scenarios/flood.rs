//! The floods (`flood-xhr-send`, `flood-ws`, `flood-raw-ws`) and
//! `poll-flat-out`: what a client can make the server hold.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::echo::xhr_echo;
use crate::bench::measure::{round3, RssWatch};
use crate::bench::ws::{sockjs_ws_path, ws_open, Ws};
use crate::bench::xhr::{stream_open, Http};
use crate::bench::{count, payload, session_id, Config};
use crate::http1::Request;

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

/// One client POSTs `config.size`-byte `xhr_send` bodies (one JSON array
/// holding one string) to one session of the push-only service, one after
/// another, for `config.duration`; an `xhr_streaming` receiver stays open
/// so that the session does not expire, and counts the ticks it gets.
pub(crate) async fn flood_xhr_send(config: &Arc<Config>) -> Map<String, Value> {
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
pub(crate) async fn flood_ws(config: &Arc<Config>, sockjs: bool) -> Map<String, Value> {
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
pub(crate) async fn poll_flat_out(config: &Arc<Config>) -> Map<String, Value> {
    let mut watch = RssWatch::start(config.server_pid);
    let mut out = xhr_echo(config, false).await;
    watch.end();
    let rate = out.get("msgs_per_s").and_then(Value::as_f64).unwrap_or(0.0);
    out.insert("polls_per_s".into(), json!(rate));
    out.insert("requests_per_s".into(), json!(rate * 2.0));
    watch.finish(config.pause, &mut out).await;
    out
}
