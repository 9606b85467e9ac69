//! Idle sessions: `idle-ws` and `idle-xhr-streaming` (server RSS per
//! session) and `timers` (server CPU across heartbeats).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::bench::measure::{insert_cpu_per, round3, server_rss_kib, CpuMark, CpuUsed};
use crate::bench::ws::{codec_open, sockjs_ws_path, ws_open, CodecWs, In, Ws};
use crate::bench::xhr::{stream_open, Http};
use crate::bench::{open_all, session_id, Config};
use crate::http1::Connection;

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
                match &config.deflate {
                    Some(deflate) => {
                        let ws = codec_open(&config, i, &path, true, Some(deflate.clone())).await?;
                        if ws.extension().is_none() {
                            return Err("--deflate: the server did not agree to permessage-deflate".into());
                        }
                        Idle::Codec(Box::new(ws))
                    }
                    None => Idle::Ws(Box::new(ws_open(&config, i, &path, true, true).await?)),
                }
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
                Idle::Codec(mut ws) => {
                    while let Ok(Some(m)) = ws.next().await {
                        match m {
                            In::Text(t) if t == "h" => {
                                beats.fetch_add(1, Ordering::Relaxed);
                            }
                            In::Ping => {
                                beats.fetch_add(1, Ordering::Relaxed);
                            }
                            In::Close(_) => break,
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
    Codec(Box<CodecWs>),
    Http(Connection),
}

pub(crate) async fn idle(config: &Arc<Config>, streaming: bool) -> Map<String, Value> {
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
pub(crate) async fn timers(config: &Arc<Config>) -> Map<String, Value> {
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
