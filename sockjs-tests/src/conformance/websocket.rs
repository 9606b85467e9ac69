//! §7.10 SockJS websockets (RFC 6455) and §7.11 raw websockets.

use std::time::Duration;

use crate::http1::Request;

use super::client::{
    describe, ws_connect, ws_connect_with, ws_expect_end, ws_expect_text, ws_next, ws_next_raw, ws_send, WsEvent,
    WS_TIMEOUT,
};
use super::{
    body_contains, bytes_eq, fail, header_eq, header_is, no_cookie, no_header, not_found, status, Check, CheckResult,
    Failure, Kind, Target, GO_AWAY,
};

/// How soon the TCP connection must end after a close handshake.
const CLOSE_PROMPTLY: Duration = Duration::from_secs(1);

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§7.10 websocket 101 handshake headers and first frame o", handshake),
        Check::new("§4.6 websocket 101 sets no cookie", handshake_no_cookie),
        Check::new("§7.10 websocket o, then echo as a[...] text frames", echo),
        Check::new("§7.10 [node] websocket bare JSON value is one message", bare_value),
        Check::new("§7.10 websocket empty frame and [] are ignored", ignored_frames),
        Check::new("§7.10 websocket broken JSON closes without a c frame", broken_json),
        Check::new("§7.10 [node] websocket broken JSON close 3000 \"Broken framing.\"", broken_json_code),
        Check::new("§7.10 websocket on /close: o, c[3000,\"Go away!\"], close", close_service),
        Check::new("§11 [node] websocket application close is 1000 \"Normal closure\"", close_service_code),
        Check::new("§7.10 GET websocket without upgrade headers: 400", no_upgrade),
        Check::new("§7.10 websocket Upgrade with Connection: close: 400", connection_close),
        Check::new("§7.10 [node] websocket URLs answer 404 on disabled_websocket_echo", disabled),
        Check::new("§6 two websockets on one session id are independent sessions", independent),
        Check::new("§6 websocket heartbeat is an h text frame", heartbeat).kind(Kind::Slow),
        Check::new("§7.11 raw websocket round trip (no framing, U+FFFF)", raw_round_trip),
        Check::new("§7.11 raw websocket on /close: close frame with reason Go away!", raw_close),
        Check::new("§7.11 [node] raw websocket close code 3000", raw_close_code),
        Check::new("§7.11 [node] raw websocket rejects versions other than 8 and 13: 400", raw_bad_version),
    ]
}

fn upgrade_request(path: &str) -> Request {
    Request::get(path)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw==")
        .header("Sec-WebSocket-Version", "13")
}

async fn handshake_on(t: &Target, service: &str) -> Result<crate::http1::Response, Failure> {
    let s = t.session(service);
    let mut conn =
        t.open(upgrade_request(&format!("{s}/websocket")).header("Sec-WebSocket-Origin", "http://example.com")).await?;
    let head = conn.read_head().await?;
    let r = super::client::head_only(&head);
    status(&r, 101)?;
    header_eq(&r, "sec-websocket-accept", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=")?;
    // The whole values, as the official suite compares them: a
    // `Connection: close, upgrade` fails.
    header_is(&r, "connection", "upgrade")?;
    header_is(&r, "upgrade", "websocket")?;
    no_header(&r, "content-length")?;
    no_header(&r, "transfer-encoding")?;
    let first = conn.read_exact(3, "the o frame").await?;
    bytes_eq("first frame (unmasked text frame o)", &first, &[0x81, 0x01, b'o'])?;
    Ok(r)
}

async fn handshake(t: Target) -> CheckResult {
    handshake_on(&t, "/echo").await.map(|_| ())
}

async fn handshake_no_cookie(t: Target) -> CheckResult {
    let r = handshake_on(&t, "/cookie_needed_echo").await?;
    no_cookie(&r)
}

async fn open(t: &Target, service: &str) -> Result<super::client::Ws, Failure> {
    let s = t.session(service);
    let mut ws = ws_connect(t, &format!("{s}/websocket")).await?;
    ws_expect_text(&mut ws, "o").await?;
    Ok(ws)
}

async fn echo(t: Target) -> CheckResult {
    let mut ws = open(&t, "/echo").await?;
    ws_send(&mut ws, "[\"a\"]").await?;
    ws_expect_text(&mut ws, "a[\"a\"]").await?;
    ws_send(&mut ws, "[\"b\"]").await?;
    ws_expect_text(&mut ws, "a[\"b\"]").await
}

async fn bare_value(t: Target) -> CheckResult {
    let mut ws = open(&t, "/echo").await?;
    ws_send(&mut ws, "\"a\"").await?;
    ws_expect_text(&mut ws, "a[\"a\"]").await
}

async fn ignored_frames(t: Target) -> CheckResult {
    let mut ws = open(&t, "/echo").await?;
    ws_send(&mut ws, "").await?;
    ws_send(&mut ws, "[]").await?;
    ws_send(&mut ws, "[\"a\"]").await?;
    ws_expect_text(&mut ws, "a[\"a\"]").await
}

/// Sends broken JSON and returns the close frame (if any) that follows.
async fn send_broken(t: &Target) -> Result<Option<(u16, String)>, Failure> {
    let mut ws = open(t, "/echo").await?;
    ws_send(&mut ws, "[\"a").await?;
    let frame = match ws_next(&mut ws, WS_TIMEOUT).await? {
        WsEvent::Close(frame) => frame,
        WsEvent::End => None,
        other => fail!("expected the websocket to close, got {}", describe(&other)),
    };
    ws_expect_end(&mut ws, CLOSE_PROMPTLY).await?;
    Ok(frame)
}

async fn broken_json(t: Target) -> CheckResult {
    send_broken(&t).await.map(|_| ())
}

async fn broken_json_code(t: Target) -> CheckResult {
    match send_broken(&t).await? {
        Some((3000, reason)) if reason == "Broken framing." => Ok(()),
        other => fail!("expected close 3000 \"Broken framing.\", got {other:?}"),
    }
}

async fn close_on_close_service(t: &Target) -> Result<Option<(u16, String)>, Failure> {
    let mut ws = open(t, "/close").await?;
    ws_expect_text(&mut ws, GO_AWAY).await?;
    let frame = match ws_next(&mut ws, WS_TIMEOUT).await? {
        WsEvent::Close(frame) => frame,
        WsEvent::End => None,
        other => fail!("after the close frame, expected the websocket to close, got {}", describe(&other)),
    };
    ws_expect_end(&mut ws, CLOSE_PROMPTLY).await?;
    Ok(frame)
}

async fn close_service(t: Target) -> CheckResult {
    close_on_close_service(&t).await.map(|_| ())
}

async fn close_service_code(t: Target) -> CheckResult {
    match close_on_close_service(&t).await? {
        Some((1000, reason)) if reason == "Normal closure" => Ok(()),
        other => fail!("expected close 1000 \"Normal closure\", got {other:?}"),
    }
}

async fn no_upgrade(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = t.get(&format!("{s}/websocket")).await?;
    status(&r, 400)
}

async fn connection_close(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = t
        .fetch(Request::get(&format!("{s}/websocket")).header("Upgrade", "WebSocket").header("Connection", "close"))
        .await?;
    status(&r, 400)
}

async fn disabled(t: Target) -> CheckResult {
    let s = t.session("/disabled_websocket_echo");
    for path in [format!("{s}/websocket"), "/disabled_websocket_echo/websocket".to_owned()] {
        let r = t.fetch(upgrade_request(&path)).await?;
        super::context(&format!("GET {path} (upgrade)"), not_found(&r))?;
        let r = t.get(&path).await?;
        super::context(&format!("GET {path} (plain)"), not_found(&r))?;
    }
    Ok(())
}

async fn independent(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let path = format!("{s}/websocket");
    let mut a = ws_connect(&t, &path).await?;
    ws_expect_text(&mut a, "o").await?;
    let mut b = ws_connect(&t, &path).await?;
    super::context("second websocket on the same id", ws_expect_text(&mut b, "o").await)?;
    ws_send(&mut a, "[\"from a\"]").await?;
    ws_send(&mut b, "[\"from b\"]").await?;
    ws_expect_text(&mut a, "a[\"from a\"]").await?;
    ws_expect_text(&mut b, "a[\"from b\"]").await?;
    drop(a);
    drop(b);
    let mut c = ws_connect(&t, &path).await?;
    super::context("reusing the id after close", ws_expect_text(&mut c, "o").await)
}

async fn heartbeat(t: Target) -> CheckResult {
    let mut ws = open(&t, "/echo").await?;
    match ws_next_raw(&mut ws, Duration::from_millis(27_500)).await? {
        WsEvent::Text(h) if h == "h" => Ok(()),
        WsEvent::Ping => fail!("the server sent a WebSocket ping instead of an h text frame"),
        other => fail!("expected an h text frame within 25 s, got {}", describe(&other)),
    }
}

async fn raw_round_trip(t: Target) -> CheckResult {
    let mut ws = ws_connect(&t, "/echo/websocket").await?;
    let message = "Hello world!\u{ffff}";
    ws_send(&mut ws, message).await?;
    ws_expect_text(&mut ws, message).await
}

async fn raw_close_frame(t: &Target) -> Result<(u16, String), Failure> {
    let mut ws = ws_connect_with(t, "/close/websocket", &[]).await?;
    match ws_next(&mut ws, WS_TIMEOUT).await? {
        WsEvent::Close(Some(frame)) => {
            ws_expect_end(&mut ws, CLOSE_PROMPTLY).await?;
            Ok(frame)
        }
        other => fail!("expected a close frame, got {}", describe(&other)),
    }
}

async fn raw_close(t: Target) -> CheckResult {
    let (_, reason) = raw_close_frame(&t).await?;
    if reason != "Go away!" {
        fail!("close reason: expected \"Go away!\", got {reason:?}");
    }
    Ok(())
}

async fn raw_close_code(t: Target) -> CheckResult {
    let (code, _) = raw_close_frame(&t).await?;
    if code != 3000 {
        fail!("close code: expected 3000, got {code}");
    }
    Ok(())
}

async fn raw_bad_version(t: Target) -> CheckResult {
    let mut req = upgrade_request("/echo/websocket");
    req.headers.retain(|(n, _)| n != "Sec-WebSocket-Version");
    let r = t.fetch(req.header("Sec-WebSocket-Version", "7")).await?;
    status(&r, 400)?;
    body_contains(&r, "Only supported WebSocket protocol is RFC 6455.")
}
