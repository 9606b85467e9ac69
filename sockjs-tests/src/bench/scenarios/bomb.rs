//! `inflate-bomb`: what compressed messages that inflate past the
//! server's `max_payload` make the server hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use sockjs_core::client::ClientDeflate;
use sockjs_core::Deflate;
use tokio::task::JoinSet;

use crate::bench::measure::RssWatch;
use crate::bench::ws::{codec_open, sockjs_ws_path, wire_bytes, In};
use crate::bench::{open_all, payload, Config};

/// How long a session waits for the server's close after its message.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// `config.sessions` SockJS websockets on `config.prefix` agree on
/// permessage-deflate, then each sends one message of `config.size` bytes
/// (a JSON array of one string) compressed at level 9: about a thousandth
/// of its size on the wire. A server whose `max_payload` is below the size
/// must stop inflating at its limit and close with 1009. Reports the
/// closes by code, the compressed frame's size, and the server's RSS
/// before, at its peak (sampled every 100 ms) and after a pause.
pub(crate) async fn inflate_bomb(config: &Arc<Config>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("size".into(), json!(config.size));
    let deflate = ClientDeflate::new(Deflate::new().level(9).min_size(0));
    let mut watch = RssWatch::start(config.server_pid);
    let (opened, failed, first) = open_all(config.sessions, config.connect_concurrency, |i| {
        let config = config.clone();
        let deflate = deflate.clone();
        async move {
            let path = sockjs_ws_path(&config.prefix, i);
            let ws = codec_open(&config, i, &path, true, Some(deflate)).await?;
            match ws.extension() {
                Some(_) => Ok(ws),
                None => Err("the server did not agree to permessage-deflate (start it with --ws-deflate)".into()),
            }
        }
    })
    .await;
    let text = serde_json::to_string(&[payload(0, config.size)]).unwrap_or_default();
    let wire_before = wire_bytes();
    let mut set = JoinSet::new();
    for (_, mut ws) in opened {
        let text = text.clone();
        set.spawn(async move {
            let frame = ws.feed(&text);
            ws.flush().await?;
            let deadline = Instant::now() + CLOSE_WAIT;
            // Heartbeats may come first; the server's close ends it.
            loop {
                match tokio::time::timeout_at(deadline.into(), ws.next()).await {
                    Ok(Ok(Some(In::Close(code)))) => return Ok((frame, code)),
                    Ok(Ok(Some(In::Text(t)))) if t.starts_with('c') => return Ok((frame, None)),
                    Ok(Ok(Some(_))) => {}
                    Ok(Ok(None)) => return Err("the connection ended without a close frame".to_owned()),
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err(format!("no close within {CLOSE_WAIT:?}")),
                }
            }
        });
    }
    let (mut closed_1009, mut other_closes, mut errors, mut frame_bytes) = (0u64, 0u64, failed, 0usize);
    let mut first_error = first;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok((frame, code))) => {
                frame_bytes = frame;
                if code == Some(1009) {
                    closed_1009 += 1;
                } else {
                    other_closes += 1;
                    first_error.get_or_insert(format!("closed with {code:?}"));
                }
            }
            Ok(Err(e)) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    watch.end();
    let wire_after = wire_bytes();
    out.insert("compressed_frame_bytes".into(), json!(frame_bytes));
    out.insert("inflated_bytes".into(), json!(text.len()));
    out.insert("wire_bytes_written".into(), json!(wire_after.1 - wire_before.1));
    out.insert("closed_1009".into(), json!(closed_1009));
    out.insert("other_closes".into(), json!(other_closes));
    out.insert("errors".into(), json!(errors));
    if let Some(e) = first_error {
        out.insert("first_error".into(), json!(e));
    }
    watch.finish(config.pause, &mut out).await;
    out
}
