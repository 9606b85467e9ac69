//! §7.7 EventSource: exact content type, prelude, `data:` frames, `%25`.

use crate::http1::Request;

use super::client::{expect_chunk, expect_end, head_only, send_ok, stream, streaming_head};
use super::{header_eq, no_cache, Check, CheckResult, Target};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§7.7 eventsource headers, \\r\\n prelude and open frame", head_and_open),
        Check::new("§7.7 eventsource message frame", message),
        Check::new("§7.7 eventsource keeps the JSON escapes of NUL, LF, CR", escapes_kept),
        Check::new("§7.7 eventsource writes % as %25", percent),
        Check::new("§7.7 eventsource response_limit", response_limit),
    ]
}

/// Opens an eventsource stream on a new `/echo` session, through `o`.
async fn open(t: &Target) -> Result<(String, crate::http1::Connection), super::Failure> {
    let s = t.session("/echo");
    let (head, mut conn) = stream(t, Request::get(&format!("{s}/eventsource"))).await?;
    streaming_head(&head)?;
    expect_chunk(&mut conn, b"\r\n", "the \\r\\n prelude chunk").await?;
    expect_chunk(&mut conn, b"data: o\r\n\r\n", "data: o").await?;
    Ok((s, conn))
}

async fn head_and_open(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let (head, mut conn) = stream(&t, Request::get(&format!("{s}/eventsource"))).await?;
    streaming_head(&head)?;
    let r = head_only(&head);
    header_eq(&r, "content-type", "text/event-stream")?;
    no_cache(&r)?;
    expect_chunk(&mut conn, b"\r\n", "the \\r\\n prelude chunk").await?;
    expect_chunk(&mut conn, b"data: o\r\n\r\n", "data: o").await
}

async fn message(t: Target) -> CheckResult {
    let (s, mut conn) = open(&t).await?;
    send_ok(&t, &s, "[\"x\"]").await?;
    expect_chunk(&mut conn, b"data: a[\"x\"]\r\n\r\n", "the message frame").await
}

async fn escapes_kept(t: Target) -> CheckResult {
    let (s, mut conn) = open(&t).await?;
    send_ok(&t, &s, r#"["  \u0000\n\r "]"#).await?;
    expect_chunk(&mut conn, b"data: a[\"  \\u0000\\n\\r \"]\r\n\r\n", "the frame with escaped NUL, LF, CR").await
}

async fn percent(t: Target) -> CheckResult {
    let (s, mut conn) = open(&t).await?;
    send_ok(&t, &s, "[\"100%\"]").await?;
    expect_chunk(&mut conn, b"data: a[\"100%25\"]\r\n\r\n", "the frame of 100%").await?;
    send_ok(&t, &s, "[\"%61bc\"]").await?;
    expect_chunk(&mut conn, b"data: a[\"%2561bc\"]\r\n\r\n", "the frame of %61bc").await
}

async fn response_limit(t: Target) -> CheckResult {
    let (s, mut conn) = open(&t).await?;
    let big = "x".repeat(4096);
    send_ok(&t, &s, &format!("[\"{big}\"]")).await?;
    expect_chunk(&mut conn, format!("data: a[\"{big}\"]\r\n\r\n").as_bytes(), "the 4096-x frame").await?;
    expect_end(&mut conn, "after a frame that reaches response_limit").await
}
