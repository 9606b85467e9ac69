//! `fanout`: one broadcast to N eventsource or xhr-streaming receivers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::bench::measure::{insert_cpu_per, round3, CpuMark};
use crate::bench::ws::{sockjs_ws_path, ws_open, Ws};
use crate::bench::xhr::{stream_open, Http};
use crate::bench::{open_all, session_id, Config, FanoutTransport};
use crate::http1::Connection;

/// Reads a receiver's stream until it ends and reports each round's
/// marker once, when it first arrives (rounds arrive in order, so an
/// older marker still in the window is not reported again).
pub(crate) async fn report_rounds(mut conn: Connection, mut report: impl FnMut(u64, Instant)) {
    conn.read_timeout = Duration::from_secs(3600);
    let mut window: Vec<u8> = Vec::new();
    let mut last = None;
    while let Ok(Some(chunk)) = conn.read_chunk().await {
        let now = Instant::now();
        window.extend_from_slice(&chunk);
        for round in markers(&window) {
            if last.is_none_or(|l| round > l) {
                last = Some(round);
                report(round, now);
            }
        }
        let keep = window.len().saturating_sub(32);
        window.drain(..keep);
    }
}

pub(crate) async fn fanout(config: &Arc<Config>) -> Map<String, Value> {
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
    for (_, conn) in opened {
        let arrivals = arrivals_tx.clone();
        readers.spawn(report_rounds(conn, move |round, at| {
            let _ = arrivals.send((round, at));
        }));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_across_frames() {
        assert_eq!(markers(b"data: a[\"fanmark-12-\"]\r\n\r\nfanmark-13-"), vec![12, 13]);
        assert!(markers(b"fanmark-1").is_empty());
    }
}
