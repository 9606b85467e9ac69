//! Session churn: opens sessions on every transport and ends them in
//! every way a session ends, for leak and soak tests.

use futures_util::StreamExt;

use crate::http1::{fetch, Connection, Request};

/// How the `i`-th session of a churn ends.
fn kind(i: usize) -> usize {
    i % 4
}

/// Opens and ends `count` sessions against `addr`, `concurrency` at a
/// time: a quarter each opened by an xhr poll and left to expire (under
/// `echo_prefix`), xhr-streaming receivers aborted after their open frame,
/// websockets closed by the server (under `close_prefix`, a service that
/// closes at once), and websockets closed by the client. Returns the
/// errors seen (empty when every session ran as planned).
pub async fn churn(addr: &str, echo_prefix: &str, close_prefix: &str, count: usize, concurrency: usize) -> Vec<String> {
    let mut errors = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let (addr, echo, close) = (addr.to_string(), echo_prefix.to_string(), close_prefix.to_string());
        tasks.spawn(async move { one(&addr, &echo, &close, i).await.map_err(|e| format!("session {i}: {e}")) });
        while tasks.len() >= concurrency.max(1) {
            if let Some(Ok(Err(e))) = tasks.join_next().await {
                errors.push(e);
            }
        }
    }
    while let Some(result) = tasks.join_next().await {
        if let Ok(Err(e)) = result {
            errors.push(e);
        }
    }
    errors
}

async fn one(addr: &str, echo: &str, close: &str, i: usize) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    match kind(i) {
        0 => {
            let r = fetch(addr, &Request::post(&format!("{echo}/0/c{i}/xhr"))).await.map_err(|x| e(&x))?;
            if r.body != b"o\n" {
                return Err(format!("poll answered {:?}", r.text()));
            }
            Ok(())
        }
        1 => {
            let mut conn = Connection::connect(addr).await.map_err(|x| e(&x))?;
            conn.send(&Request::post(&format!("{echo}/0/c{i}/xhr_streaming"))).await.map_err(|x| e(&x))?;
            conn.read_head().await.map_err(|x| e(&x))?;
            Ok(())
        }
        2 => {
            let url = format!("ws://{addr}{close}/0/c{i}/websocket");
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|x| e(&x))?;
            while let Some(Ok(m)) = ws.next().await {
                if m.is_close() {
                    break;
                }
            }
            Ok(())
        }
        _ => {
            let url = format!("ws://{addr}{echo}/0/c{i}/websocket");
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|x| e(&x))?;
            ws.next().await;
            ws.close(None).await.map_err(|x| e(&x))
        }
    }
}

/// The resident set size of this process in KiB (Linux), if known.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
