//! §7.9 jsonp-polling and jsonp_send, with the §11 callback details.

use crate::http1::{Request, Response};

use super::client::{all_ok, send_ok};
use super::{
    body_contains, body_eq, bytes_eq, content_type, context, cookie, fail, framed, header_eq, no_cache, not_found,
    session_id, status, Check, CheckResult, Failure, Target, APP_JS, TEXT_PLAIN,
};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§7.9 jsonp missing callback: 500", missing_callback),
        Check::new("§7.9 jsonp invalid callbacks: 500", invalid_callbacks),
        Check::new("§7.9 [node] jsonp callback longer than 32: 500", long_callback),
        Check::new("§7.9 jsonp open frame and headers", open_frame),
        Check::new("§7.9 jsonp message frame is JSON-stringified", message_frame),
        Check::new("§7.9 jsonp close frame repeated on every poll", close_frame),
        Check::new("§7.9 jsonp_send form-encoded d", form_send),
        Check::new("§7.9 jsonp_send text/plain body is raw, not URL-decoded", |t| raw_send(t, Some("text/plain"))),
        Check::new("§7.9 [node] jsonp_send without Content-Type is raw", |t| raw_send(t, None)),
        Check::new("§7.9 jsonp_send errors: Broken JSON encoding. / Payload expected.", send_errors),
        Check::new("§7.9 jsonp_send d=[] answers ok and delivers nothing", empty_array),
        Check::new("§7.9 [node] jsonp_send unknown session: 404", unknown_session),
        Check::new("§11 jsonp: c wins over callback", c_wins),
        Check::new("§11 [node] jsonp empty c= gives /**/(\"o\") (or 500)", empty_callback),
        Check::new("§11 jsonp 500 answers carry no-cache and the cookie", error_headers),
    ]
}

async fn poll(t: &Target, s: &str, query: &str) -> Result<Response, Failure> {
    t.get(&format!("{s}/jsonp?{query}")).await
}

async fn poll_expect(t: &Target, s: &str, cb: &str, body: &str) -> CheckResult {
    let r = poll(t, s, &format!("c={cb}")).await?;
    status(&r, 200)?;
    bytes_eq("jsonp body", &r.body, body.as_bytes())
}

async fn send_form(t: &Target, s: &str, body: &str) -> Result<Response, Failure> {
    t.fetch(
        Request::post(&format!("{s}/jsonp_send"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

async fn missing_callback(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = t.get(&format!("{s}/jsonp")).await?;
    status(&r, 500)?;
    body_contains(&r, "\"callback\" parameter required")
}

async fn invalid_callbacks(t: Target) -> CheckResult {
    let mut problems = Vec::new();
    for cb in ["%20", "*", "abc(", "abc%28"] {
        let s = t.session("/echo");
        let r = poll(&t, &s, &format!("c={cb}")).await?;
        if let Err(e) = status(&r, 500).and_then(|_| body_contains(&r, "invalid \"callback\" parameter")) {
            problems.push(format!("c={cb}: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn long_callback(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = poll(&t, &s, &format!("c={}", "a".repeat(33))).await?;
    status(&r, 500)?;
    body_contains(&r, "invalid \"callback\" parameter")?;
    let s = t.session("/echo");
    let ok = poll(&t, &s, &format!("c={}", "a".repeat(32))).await?;
    context("a 32-character callback is fine", status(&ok, 200))
}

async fn open_frame(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = poll(&t, &s, "c=callback").await?;
    status(&r, 200)?;
    framed(&r)?;
    content_type(&r, APP_JS)?;
    no_cache(&r)?;
    context("[node]", header_eq(&r, "x-content-type-options", "nosniff"))?;
    body_eq(&r, b"/**/callback(\"o\");\r\n")
}

async fn message_frame(t: Target) -> CheckResult {
    let s = t.session("/echo");
    poll_expect(&t, &s, "x", "/**/x(\"o\");\r\n").await?;
    let r = send_form(&t, &s, "d=%5B%22b%22%5D").await?;
    status(&r, 200)?;
    poll_expect(&t, &s, "x", "/**/x(\"a[\\\"b\\\"]\");\r\n").await
}

async fn close_frame(t: Target) -> CheckResult {
    let s = t.session("/close");
    poll_expect(&t, &s, "x", "/**/x(\"o\");\r\n").await?;
    let close = "/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n";
    context("second poll", poll_expect(&t, &s, "x", close).await)?;
    context("third poll", poll_expect(&t, &s, "x", close).await)
}

async fn form_send(t: Target) -> CheckResult {
    let s = t.session("/echo");
    poll_expect(&t, &s, "x", "/**/x(\"o\");\r\n").await?;
    let r = send_form(&t, &s, "d=%5B%22x%22%5D").await?;
    status(&r, 200)?;
    body_eq(&r, b"ok")?;
    content_type(&r, TEXT_PLAIN)?;
    no_cache(&r)?;
    context("[node]", header_eq(&r, "content-length", "2"))?;
    poll_expect(&t, &s, "x", "/**/x(\"a[\\\"x\\\"]\");\r\n").await
}

async fn raw_send(t: Target, ct: Option<&'static str>) -> CheckResult {
    let s = t.session("/echo");
    poll_expect(&t, &s, "x", "/**/x(\"o\");\r\n").await?;
    let mut req = Request::post(&format!("{s}/jsonp_send")).body("[\"%61bc\"]");
    if let Some(ct) = ct {
        req = req.header("Content-Type", ct);
    }
    let r = t.fetch(req).await?;
    status(&r, 200)?;
    body_eq(&r, b"ok")?;
    poll_expect(&t, &s, "x", "/**/x(\"a[\\\"%61bc\\\"]\");\r\n").await
}

async fn send_errors(t: Target) -> CheckResult {
    let s = t.session("/echo");
    poll_expect(&t, &s, "x", "/**/x(\"o\");\r\n").await?;
    let mut problems = Vec::new();
    for (body, message) in [
        ("d=%5B%22x", "Broken JSON encoding."),
        ("", "Payload expected."),
        ("d=", "Payload expected."),
        ("p=p", "Payload expected."),
    ] {
        let r = send_form(&t, &s, body).await?;
        if let Err(e) = status(&r, 500).and_then(|_| body_contains(&r, message)) {
            problems.push(format!("{body:?}: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn empty_array(t: Target) -> CheckResult {
    let s = t.session("/echo");
    poll_expect(&t, &s, "x", "/**/x(\"o\");\r\n").await?;
    let r = send_form(&t, &s, "d=%5B%5D").await?;
    status(&r, 200)?;
    body_eq(&r, b"ok")?;
    send_ok(&t, &s, "[\"after\"]").await?;
    poll_expect(&t, &s, "x", "/**/x(\"a[\\\"after\\\"]\");\r\n").await
}

async fn unknown_session(t: Target) -> CheckResult {
    let s = format!("/echo/000/nosession{}", session_id());
    let r = send_form(&t, &s, "d=%5B%22x%22%5D").await?;
    not_found(&r)
}

async fn c_wins(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = poll(&t, &s, "callback=b&c=a").await?;
    status(&r, 200)?;
    body_eq(&r, b"/**/a(\"o\");\r\n")
}

async fn empty_callback(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = poll(&t, &s, "c=").await?;
    match r.status {
        200 => body_eq(&r, b"/**/(\"o\");\r\n"),
        500 => Ok(()),
        other => fail!("expected 200 /**/(\"o\"); or 500, got {other}"),
    }
}

async fn error_headers(t: Target) -> CheckResult {
    let s = t.session("/cookie_needed_echo");
    let r = t.get(&format!("{s}/jsonp")).await?;
    context("jsonp without callback", status(&r, 500))?;
    context("jsonp without callback", no_cache(&r))?;
    context("jsonp without callback", cookie(&r, "dummy"))?;
    let r = send_form(&t, &s, "").await?;
    context("jsonp_send empty", status(&r, 500))?;
    context("jsonp_send empty", no_cache(&r))?;
    context("jsonp_send empty", cookie(&r, "dummy"))
}
