//! §7.10 the hixie-76 (draft-76) handshake, by hand: tungstenite has none.
//!
//! The HAProxy constraint: the 101 headers must arrive *before* the client
//! sends the 8-byte key3; then one read must start with the 16-byte answer.

use std::time::Duration;

use crate::http1::{Activity, Connection, Request};

use super::client::head_only;
use super::{
    bytes_eq, fail, header_eq, header_is, no_header, show, status, Check, CheckResult, Failure, Target, GO_AWAY,
};

/// How soon the TCP connection must end after the close frame.
const CLOSE_PROMPTLY: Duration = Duration::from_secs(1);

/// MD5 challenge answer for the keys below and key3 `aaaaaaaa`.
const ANSWER: [u8; 16] =
    [0xca, 0x34, 0x00, 0xd8, 0xa5, 0x08, 0x47, 0x97, 0x2c, 0xd5, 0x71, 0x5a, 0xba, 0xbf, 0x43, 0x7b];

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§7.10 hixie-76 101 headers arrive before key3, then the 16-byte answer", handshake),
        Check::new("§7.10 hixie-76 frames: o, then echo", frames),
        Check::new("§7.10 hixie-76 on /close: o, c[3000,\"Go away!\"], then the connection ends", close),
    ]
}

/// Does the handshake and returns the connection with any bytes that
/// followed the answer in its buffer.
async fn shake(t: &Target, service: &str) -> Result<Connection, Failure> {
    let s = t.session(service);
    let path = t.path(&format!("{s}/websocket"));
    let origin = format!("http://{}", t.addr);
    let request = Request::get(&path)
        .header("Connection", "Upgrade")
        .header("Upgrade", "WebSocket")
        .header("Origin", &origin)
        .header("Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5")
        .header("Sec-WebSocket-Key2", "12998 5 Y3 1  .P00");
    let mut conn = Connection::connect(&t.addr).await?;
    conn.read_timeout = Duration::from_secs(3);
    conn.send(&request).await?;
    let head =
        conn.read_head().await.map_err(|e| Failure(format!("the 101 headers must arrive before key3 is sent: {e}")))?;
    let r = head_only(&head);
    status(&r, 101)?;
    // The whole values, as the official suite compares them (HAProxy
    // relays them): `Connection: close, upgrade` fails.
    header_is(&r, "connection", "upgrade")?;
    header_is(&r, "upgrade", "websocket")?;
    header_eq(&r, "sec-websocket-location", &format!("ws://{}{}", t.addr, path))?;
    header_eq(&r, "sec-websocket-origin", &origin)?;
    no_header(&r, "content-length")?;
    no_header(&r, "transfer-encoding")?;
    if !conn.buffered().is_empty() {
        fail!("bytes arrived before key3 was sent: {}", show(conn.buffered()));
    }
    conn.send_raw(b"aaaaaaaa").await?;
    if conn.wait_activity(Duration::from_secs(3)).await? != Activity::Data {
        fail!("no challenge answer after key3");
    }
    let first = conn.buffered().to_vec();
    if first.len() < 16 {
        fail!("the first read after key3 has {} bytes; all 16 answer bytes must be written at once", first.len());
    }
    bytes_eq("challenge answer", &first[..16], &ANSWER)?;
    conn.read_exact(16, "challenge answer").await?;
    Ok(conn)
}

async fn handshake(t: Target) -> CheckResult {
    shake(&t, "/echo").await.map(|_| ())
}

async fn frames(t: Target) -> CheckResult {
    let mut conn = shake(&t, "/echo").await?;
    let o = conn.read_exact(3, "the o frame").await?;
    bytes_eq("first hixie frame", &o, b"\x00o\xff")?;
    conn.send_raw(b"\x00[\"a\"]\xff").await?;
    let echo = conn.read_exact(8, "the echo frame").await?;
    bytes_eq("echo frame", &echo, b"\x00a[\"a\"]\xff")
}

/// The sockjs-protocol 0.3.3 suite's hixie-76 `test_close`: after the `c`
/// frame, a blocked read must see the end (§2, §7.10); a closing
/// handshake frame `0xFF 0x00` may come first.
async fn close(t: Target) -> CheckResult {
    let mut conn = shake(&t, "/close").await?;
    let o = conn.read_exact(3, "the o frame").await?;
    bytes_eq("first hixie frame", &o, b"\x00o\xff")?;
    let expected = [&[0x00][..], GO_AWAY.as_bytes(), &[0xff]].concat();
    let c = conn.read_exact(expected.len(), "the close frame").await?;
    bytes_eq("close frame", &c, &expected)?;
    conn.gather(CLOSE_PROMPTLY).await?;
    if !conn.saw_eof() {
        fail!("the connection was still open {CLOSE_PROMPTLY:?} after the close frame");
    }
    match conn.buffered() {
        [] | [0xff, 0x00] => Ok(()),
        other => fail!("after the close frame, expected at most 0xFF 0x00, got {}", show(other)),
    }
}
