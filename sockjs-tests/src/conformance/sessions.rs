//! §6 session lifecycle and §11 details of sessions over HTTP: one receiver
//! at a time, buffering, close, abort, expiry, heartbeats.

use std::time::Duration;

use crate::http1::{Connection, Request};

use super::client::{
    chunk, expect_chunk, expect_end, open_xhr, open_xhr_streaming, poll_expect, prelude, send_ok, stream,
    streaming_head, xhr, xhr_send,
};
use super::{bytes_eq, context, fail, show, status, Check, CheckResult, Failure, Kind, Target, C1002, C2010, GO_AWAY};

/// §6: heartbeat_delay of the reference services (the default).
const HEARTBEAT: Duration = Duration::from_secs(25);
/// Slack on top of a server timer.
const SLACK: Duration = Duration::from_millis(2500);
/// §6: disconnect_delay of the reference services (the default).
const DISCONNECT_DELAY: Duration = Duration::from_secs(5);

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§6 second xhr poll gets c[2010] and the first is unaffected", xhr_2010),
        Check::new("§6 second xhr_streaming gets prelude, c[2010], end", streaming_2010),
        Check::new("§6 second eventsource gets c[2010] and ends", eventsource_2010),
        Check::new("§6 xhr long-poll waits for messages", long_poll),
        Check::new("§6 messages between polls are buffered into one a[...]", buffered),
        Check::new("§6 close frame repeated on every later xhr poll", close_repeated_xhr),
        Check::new("§6 xhr_streaming on /close: prelude, o, close frame, end", close_streaming),
        Check::new(
            "§6 later xhr_streaming on a closed session: prelude, close frame, end (not 2010)",
            close_streaming_again,
        ),
        Check::new("§6 abort of xhr_streaming, immediate new request gets o or c[1002]", abort_streaming),
        Check::new("§6 abort of an xhr poll, immediate new poll gets o or c[1002]", abort_poll),
        Check::new("§6 session expires disconnect_delay after the last receiver", expiry).kind(Kind::Slow),
        Check::new("§11 sends to a closed session: 204/ok, then 404 after expiry", closed_session_sends)
            .kind(Kind::Slow),
        Check::new("§6 heartbeat h\\n on xhr_streaming", heartbeat_streaming).kind(Kind::Slow),
        Check::new("§6 heartbeat h\\n ends an idle xhr poll", heartbeat_poll).kind(Kind::Slow),
        Check::new("§6 heartbeat on eventsource", |t| heartbeat_stream(t, "eventsource", b"data: h\r\n\r\n"))
            .kind(Kind::Slow),
        Check::new("§6 heartbeat on htmlfile", |t| {
            heartbeat_stream(t, "htmlfile?c=cb", b"<script>\np(\"h\");\n</script>\r\n")
        })
        .kind(Kind::Slow),
        Check::new("§6 heartbeat ends an idle jsonp poll", heartbeat_jsonp).kind(Kind::Slow),
    ]
}

/// Starts a poll on its own connection without reading the answer.
async fn start_poll(t: &Target, s: &str) -> Result<Connection, Failure> {
    t.open(Request::post(&format!("{s}/xhr"))).await
}

/// The poll must still be pending after `wait`: no body bytes yet. The
/// response head may already have arrived (sockjs-node holds it back until
/// the first frame, other servers send it at once; clients accept both).
async fn still_pending(conn: &mut Connection, wait: Duration, what: &str) -> CheckResult {
    conn.gather(wait).await?;
    let buffered = conn.buffered();
    let head_end = buffered.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match head_end {
        _ if conn.saw_eof() => fail!("{what}: the connection closed"),
        None => Ok(()),
        Some(end) if end == buffered.len() => Ok(()),
        Some(_) => fail!("{what}: expected no frame yet, got {}", show(buffered)),
    }
}

async fn xhr_2010(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let mut first = start_poll(&t, &s).await?;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let second = xhr(&t, &s).await?;
    context("second poll", status(&second, 200))?;
    context("second poll", bytes_eq("body", &second.body, format!("{C2010}\n").as_bytes()))?;
    still_pending(&mut first, Duration::from_millis(200), "first poll after the 2010").await?;
    send_ok(&t, &s, "[\"x\"]").await?;
    let r = first.read_response("POST").await?;
    context("first poll", bytes_eq("body", &r.body, b"a[\"x\"]\n"))
}

async fn streaming_2010(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let mut first = open_xhr_streaming(&t, &s, b"o\n").await?;
    let mut second = open_xhr_streaming(&t, &s, format!("{C2010}\n").as_bytes()).await?;
    expect_end(&mut second, "of the second request after c[2010]").await?;
    send_ok(&t, &s, "[\"x\"]").await?;
    expect_chunk(&mut first, b"a[\"x\"]\n", "the first stream's next frame").await
}

async fn eventsource_2010(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let (_, mut first) = stream(&t, Request::get(&format!("{s}/eventsource"))).await?;
    expect_chunk(&mut first, b"\r\n", "prelude").await?;
    expect_chunk(&mut first, b"data: o\r\n\r\n", "open frame").await?;
    let (head, mut second) = stream(&t, Request::get(&format!("{s}/eventsource"))).await?;
    streaming_head(&head)?;
    expect_chunk(&mut second, b"\r\n", "second prelude").await?;
    expect_chunk(&mut second, format!("data: {C2010}\r\n\r\n").as_bytes(), "the 2010 frame").await?;
    expect_end(&mut second, "of the second request after c[2010]").await
}

async fn long_poll(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let mut pending = start_poll(&t, &s).await?;
    still_pending(&mut pending, Duration::from_millis(500), "a poll with nothing queued").await?;
    send_ok(&t, &s, "[\"late\"]").await?;
    let r = pending.read_response("POST").await?;
    status(&r, 200)?;
    bytes_eq("body", &r.body, b"a[\"late\"]\n")
}

async fn buffered(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    for _ in 0..8 {
        send_ok(&t, &s, "[\"a\"]").await?;
    }
    // The echoes come from the application, which may run concurrently
    // with the transport; give it a moment to queue them all.
    tokio::time::sleep(Duration::from_millis(200)).await;
    poll_expect(&t, &s, &format!("a[{}]\n", ["\"a\""; 8].join(","))).await?;
    send_ok(&t, &s, "[\"abc\"]").await?;
    send_ok(&t, &s, "[\"%61bc\"]").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    poll_expect(&t, &s, "a[\"abc\",\"%61bc\"]\n").await
}

async fn close_repeated_xhr(t: Target) -> CheckResult {
    let s = t.session("/close");
    open_xhr(&t, &s).await?;
    for i in 2..=4 {
        context(&format!("poll {i}"), poll_expect(&t, &s, &format!("{GO_AWAY}\n")).await)?;
    }
    Ok(())
}

async fn close_streaming(t: Target) -> CheckResult {
    let s = t.session("/close");
    let mut conn = open_xhr_streaming(&t, &s, b"o\n").await?;
    expect_chunk(&mut conn, format!("{GO_AWAY}\n").as_bytes(), "the close frame").await?;
    expect_end(&mut conn, "after the close frame").await
}

async fn close_streaming_again(t: Target) -> CheckResult {
    let s = t.session("/close");
    let mut conn = open_xhr_streaming(&t, &s, b"o\n").await?;
    expect_chunk(&mut conn, format!("{GO_AWAY}\n").as_bytes(), "the close frame").await?;
    expect_end(&mut conn, "after the close frame").await?;
    for i in 2..=3 {
        let mut again = open_xhr_streaming(&t, &s, format!("{GO_AWAY}\n").as_bytes())
            .await
            .map_err(|e| Failure(format!("request {i}: {}", e.0)))?;
        expect_end(&mut again, &format!("of request {i} after the close frame")).await?;
    }
    Ok(())
}

fn open_or_1002(what: &str, got: &[u8], suffix: &str) -> CheckResult {
    let o = format!("o{suffix}");
    let c = format!("{C1002}{suffix}");
    if got == o.as_bytes() || got == c.as_bytes() {
        Ok(())
    } else {
        fail!("{what}: expected {} or {}, got {}", show(o.as_bytes()), show(c.as_bytes()), show(got))
    }
}

async fn abort_streaming(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let conn = open_xhr_streaming(&t, &s, b"o\n").await?;
    drop(conn);
    let (head, mut again) = stream(&t, Request::post(&format!("{s}/xhr_streaming"))).await?;
    streaming_head(&head)?;
    expect_chunk(&mut again, &prelude(), "the prelude").await?;
    let first = chunk(&mut again, "the first frame after the abort").await?;
    open_or_1002("first frame after the abort", &first, "\n")
}

async fn abort_poll(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let mut pending = start_poll(&t, &s).await?;
    still_pending(&mut pending, Duration::from_millis(200), "the poll to abort").await?;
    drop(pending);
    let r = xhr(&t, &s).await?;
    status(&r, 200)?;
    open_or_1002("poll after the abort", &r.body, "\n")
}

async fn expiry(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    context("1 s after the last receiver, the session lives", send_ok(&t, &s, "[\"x\"]").await)?;
    poll_expect(&t, &s, "a[\"x\"]\n").await?;
    tokio::time::sleep(DISCONNECT_DELAY + Duration::from_millis(1500)).await;
    context("6.5 s after the last receiver, the id starts a new session", open_xhr(&t, &s).await)
}

async fn closed_session_sends(t: Target) -> CheckResult {
    let s = t.session("/close");
    open_xhr(&t, &s).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = xhr_send(&t, &s, "[\"x\"]").await?;
    context("xhr_send to a closed session", status(&r, 204))?;
    let r = t
        .fetch(
            Request::post(&format!("{s}/jsonp_send"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("d=%5B%22x%22%5D"),
        )
        .await?;
    context("jsonp_send to a closed session", status(&r, 200))?;
    context("jsonp_send to a closed session", bytes_eq("body", &r.body, b"ok"))?;
    tokio::time::sleep(DISCONNECT_DELAY + Duration::from_millis(1500)).await;
    let r = xhr_send(&t, &s, "[\"x\"]").await?;
    context("xhr_send after expiry", status(&r, 404))?;
    let r = t
        .fetch(
            Request::post(&format!("{s}/jsonp_send"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("d=%5B%22x%22%5D"),
        )
        .await?;
    context("jsonp_send after expiry", status(&r, 404))
}

async fn heartbeat_streaming(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let mut conn = open_xhr_streaming(&t, &s, b"o\n").await?;
    conn.read_timeout = HEARTBEAT + SLACK;
    expect_chunk(&mut conn, b"h\n", "a heartbeat within heartbeat_delay").await
}

async fn heartbeat_poll(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let mut conn = start_poll(&t, &s).await?;
    conn.read_timeout = HEARTBEAT + SLACK;
    let r = conn.read_response("POST").await?;
    status(&r, 200)?;
    bytes_eq("the idle poll's answer", &r.body, b"h\n")
}

async fn heartbeat_stream(t: Target, what: &'static str, frame: &'static [u8]) -> CheckResult {
    let s = t.session("/echo");
    let (head, mut conn) = stream(&t, Request::get(&format!("{s}/{what}"))).await?;
    streaming_head(&head)?;
    chunk(&mut conn, "the prelude").await?;
    chunk(&mut conn, "the open frame").await?;
    conn.read_timeout = HEARTBEAT + SLACK;
    expect_chunk(&mut conn, frame, "a heartbeat within heartbeat_delay").await
}

async fn heartbeat_jsonp(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = t.get(&format!("{s}/jsonp?c=cb")).await?;
    bytes_eq("open poll", &r.body, b"/**/cb(\"o\");\r\n")?;
    let mut conn = t.open(Request::get(&format!("{s}/jsonp?c=cb"))).await?;
    conn.read_timeout = HEARTBEAT + SLACK;
    let r = conn.read_response("GET").await?;
    status(&r, 200)?;
    bytes_eq("the idle poll's answer", &r.body, b"/**/cb(\"h\");\r\n")
}
