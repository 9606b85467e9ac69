//! §7.8 htmlfile: callback rules, the padded head, script-wrapped frames.

use crate::http1::{Connection, Request};

use super::client::{chunk, expect_chunk, expect_end, head_only, send_ok, stream, streaming_head};
use super::{
    body_contains, bytes_eq, content_type, fail, no_cache, status, Check, CheckResult, Failure, Target, TEXT_HTML,
};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§7.8 htmlfile missing callback: 500", missing_callback),
        Check::new("§7.8 htmlfile invalid callbacks: 500", invalid_callbacks),
        Check::new("§7.8 htmlfile head chunk (template, > 1024 bytes) and headers", head_chunk),
        Check::new("§7.8 [node] htmlfile head chunk is 1035 bytes for callback", head_length),
        Check::new("§7.8 htmlfile frames are script chunks", frames),
        Check::new("§7.8 htmlfile callback is URL-decoded", decoded_callback),
        Check::new("§7.8 [node] htmlfile accepts callback=", callback_name),
        Check::new("§7.8 htmlfile response_limit", response_limit),
    ]
}

const HEAD: &str = r#"<!doctype html>
<html><head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
</head><body><h2>Don't panic!</h2>
  <script>
    document.domain = document.domain;
    var c = parent.CALLBACK;
    c.start();
    function p(d) {c.message(d);};
    window.onload = function() {c.stop();};
  </script>"#;

async fn missing_callback(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = t.get(&format!("{s}/htmlfile")).await?;
    status(&r, 500)?;
    body_contains(&r, "\"callback\" parameter required")
}

async fn invalid_callbacks(t: Target) -> CheckResult {
    let mut problems = Vec::new();
    for cb in ["%20", "*", "abc(", "abc%28"] {
        let s = t.session("/echo");
        let r = t.get(&format!("{s}/htmlfile?c={cb}")).await?;
        if let Err(e) = status(&r, 500).and_then(|_| body_contains(&r, "invalid \"callback\" parameter")) {
            problems.push(format!("c={cb}: {}", e.0));
        }
    }
    super::client::all_ok(problems)
}

/// Opens `?<query>` and returns the first chunk, after checking the head.
async fn open(t: &Target, query: &str) -> Result<(String, Connection, Vec<u8>), Failure> {
    let s = t.session("/echo");
    let (head, mut conn) = stream(t, Request::get(&format!("{s}/htmlfile?{query}"))).await?;
    streaming_head(&head)?;
    let r = head_only(&head);
    content_type(&r, TEXT_HTML)?;
    no_cache(&r)?;
    let first = chunk(&mut conn, "the htmlfile head chunk").await?;
    Ok((s, conn, first))
}

fn check_head(first: &[u8], callback: &str) -> CheckResult {
    let text = String::from_utf8_lossy(first);
    let expected = HEAD.replace("CALLBACK", callback);
    if text.trim() != expected {
        fail!(
            "first chunk (trimmed) differs from the head template: expected {}, got {}",
            super::show(expected.as_bytes()),
            super::show(text.trim().as_bytes())
        );
    }
    if first.len() <= 1024 {
        fail!("the head chunk is {} bytes, must be > 1024", first.len());
    }
    Ok(())
}

async fn head_chunk(t: Target) -> CheckResult {
    let (_, _, first) = open(&t, "c=callback").await?;
    check_head(&first, "callback")
}

async fn head_length(t: Target) -> CheckResult {
    let (_, _, first) = open(&t, "c=callback").await?;
    if first.len() != 1035 || !first.ends_with(b" \r\n\r\n") {
        fail!("expected 1035 bytes ending in spaces and \\r\\n\\r\\n, got {} bytes", first.len());
    }
    Ok(())
}

async fn frames(t: Target) -> CheckResult {
    let (s, mut conn, _) = open(&t, "c=callback").await?;
    expect_chunk(&mut conn, b"<script>\np(\"o\");\n</script>\r\n", "the open frame").await?;
    send_ok(&t, &s, "[\"x\"]").await?;
    expect_chunk(&mut conn, b"<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n", "the message frame").await
}

async fn decoded_callback(t: Target) -> CheckResult {
    let (_, _, first) = open(&t, "c=%63allback").await?;
    check_head(&first, "callback")
}

async fn callback_name(t: Target) -> CheckResult {
    let (_, mut conn, first) = open(&t, "callback=cb1").await?;
    check_head(&first, "cb1")?;
    let o = chunk(&mut conn, "the open frame").await?;
    bytes_eq("open frame", &o, b"<script>\np(\"o\");\n</script>\r\n")
}

async fn response_limit(t: Target) -> CheckResult {
    let (s, mut conn, _) = open(&t, "c=callback").await?;
    expect_chunk(&mut conn, b"<script>\np(\"o\");\n</script>\r\n", "the open frame").await?;
    let big = "x".repeat(4096);
    send_ok(&t, &s, &format!("[\"{big}\"]")).await?;
    expect_chunk(
        &mut conn,
        format!("<script>\np(\"a[\\\"{big}\\\"]\");\n</script>\r\n").as_bytes(),
        "the 4096-x frame",
    )
    .await?;
    expect_end(&mut conn, "after a frame that reaches response_limit").await
}
