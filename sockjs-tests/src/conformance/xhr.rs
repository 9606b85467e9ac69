//! §7.4 xhr-polling and §7.5 xhr_send, with the §11 send-endpoint details.

use crate::http1::Request;

use super::client::{all_ok, open_xhr, poll_expect, send_ok, xhr, xhr_send};
use super::{
    body_contains, body_eq, content_type, context, cookie, cors_echo, cors_star, framed, no_cache, not_found,
    session_id, status, Check, CheckResult, Target, APP_JS, TEXT_PLAIN,
};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§7.4 xhr open frame o\\n and headers", open_frame),
        Check::new("§7.4 xhr message frame a[...]\\n", message_frame),
        Check::new("§2 POST xhr without Content-Length answers o\\n", no_content_length),
        Check::new("§7.5 xhr_send 204 shape", send_shape),
        Check::new("§7.5 xhr_send accepts every client content type", content_types),
        Check::new("§7.5 xhr_send empty body: 500 Payload expected.", |t| send_error(t, "", "Payload expected.")),
        Check::new("§7.5 xhr_send broken JSON: 500 Broken JSON encoding.", |t| {
            send_error(t, "[\"x", "Broken JSON encoding.")
        }),
        Check::new("§7.5 [node] xhr_send non-array JSON: 500 Payload expected.", non_array),
        Check::new("§7.5 [node] xhr_send form-urlencoded: 500 Payload expected.", form_rejected),
        Check::new("§7.5 xhr_send [] answers 204 and delivers nothing", empty_array),
        Check::new("§7.5 xhr_send unknown session: 404", unknown_session),
        Check::new("§11 send endpoints check the body before the session", body_before_session),
        Check::new("§11 404 and 500 on session URLs keep no-cache, CORS and cookie", error_headers),
    ]
}

async fn open_frame(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = xhr(&t, &s).await?;
    status(&r, 200)?;
    framed(&r)?;
    content_type(&r, APP_JS)?;
    no_cache(&r)?;
    cors_star(&r)?;
    body_eq(&r, b"o\n")
}

async fn message_frame(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    send_ok(&t, &s, "[\"x\"]").await?;
    poll_expect(&t, &s, "a[\"x\"]\n").await
}

async fn no_content_length(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let r = t.fetch(Request::post(&format!("{s}/xhr")).without_content_length()).await?;
    status(&r, 200)?;
    body_eq(&r, b"o\n")
}

async fn send_shape(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let r = t
        .fetch(
            Request::post(&format!("{s}/xhr_send"))
                .header("Origin", "https://example.com")
                .header("Content-Type", "text/plain")
                .body("[\"x\"]"),
        )
        .await?;
    status(&r, 204)?;
    body_eq(&r, b"")?;
    content_type(&r, TEXT_PLAIN)?;
    cors_echo(&r, "https://example.com")?;
    no_cache(&r)
}

async fn content_types(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let types: [Option<&str>; 9] = [
        Some("text/plain"),
        Some("T"),
        Some("application/json"),
        Some("application/xml"),
        Some(""),
        Some("application/json; charset=utf-8"),
        Some("text/xml; charset=utf-8"),
        Some("text/xml"),
        None,
    ];
    let mut problems = Vec::new();
    let mut expected = Vec::new();
    for (i, ct) in types.iter().enumerate() {
        let mut req = Request::post(&format!("{s}/xhr_send")).body(format!("[\"m{i}\"]"));
        if let Some(ct) = ct {
            req = req.header("Content-Type", ct);
        }
        let r = t.fetch(req).await?;
        if r.status == 204 {
            expected.push(format!("\"m{i}\""));
        } else {
            problems.push(format!("Content-Type {ct:?}: status {} body {}", r.status, super::show(&r.body)));
        }
    }
    all_ok(problems)?;
    // The echoes come from the application, which may run concurrently
    // with the transport: collect them over as many polls as it takes
    // (batching into one frame is checked in §6).
    let expected: Vec<String> = expected.iter().map(|m| m.trim_matches('"').to_string()).collect();
    let mut got: Vec<String> = Vec::new();
    for _ in 0..expected.len() {
        if got.len() >= expected.len() {
            break;
        }
        let r = xhr(&t, &s).await?;
        let body = String::from_utf8_lossy(&r.body);
        let Some(array) = body.strip_prefix('a').and_then(|b| b.strip_suffix('\n')) else {
            super::fail!("xhr poll body: expected an a[...] frame, got {}", super::show(&r.body));
        };
        match serde_json::from_str::<Vec<String>>(array) {
            Ok(messages) => got.extend(messages),
            Err(e) => super::fail!("xhr poll body {}: {e}", super::show(&r.body)),
        }
    }
    if got != expected {
        super::fail!("echoed messages: expected {expected:?}, got {got:?}");
    }
    Ok(())
}

async fn send_error(t: Target, body: &'static str, message: &'static str) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let r = xhr_send(&t, &s, body).await?;
    status(&r, 500)?;
    body_contains(&r, message)
}

async fn non_array(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let mut problems = Vec::new();
    for body in ["{}", "\"a\"", "null"] {
        let r = xhr_send(&t, &s, body).await?;
        if let Err(e) = status(&r, 500).and_then(|_| body_contains(&r, "Payload expected.")) {
            problems.push(format!("{body}: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn form_rejected(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let r = t
        .fetch(
            Request::post(&format!("{s}/xhr_send"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("[\"x\"]"),
        )
        .await?;
    status(&r, 500)?;
    body_contains(&r, "Payload expected.")
}

async fn empty_array(t: Target) -> CheckResult {
    let s = t.session("/echo");
    open_xhr(&t, &s).await?;
    let r = xhr_send(&t, &s, "[]").await?;
    status(&r, 204)?;
    send_ok(&t, &s, "[\"y\"]").await?;
    poll_expect(&t, &s, "a[\"y\"]\n").await
}

async fn unknown_session(t: Target) -> CheckResult {
    let r = xhr_send(&t, &format!("/echo/000/bad_session{}", session_id()), "[\"x\"]").await?;
    not_found(&r)
}

async fn body_before_session(t: Target) -> CheckResult {
    let mut problems = Vec::new();
    for (body, code) in [("", 500), ("[\"x", 500), ("{}", 500), ("[\"x\"]", 404)] {
        let s = format!("/echo/000/nosession{}", session_id());
        let r = xhr_send(&t, &s, body).await?;
        if r.status != code {
            problems.push(format!("xhr_send {body:?}: expected {code}, got {}", r.status));
        }
        let r =
            t.fetch(Request::post(&format!("{s}/jsonp_send")).header("Content-Type", "text/plain").body(body)).await?;
        if r.status != code {
            problems.push(format!("jsonp_send {body:?}: expected {code}, got {}", r.status));
        }
    }
    all_ok(problems)
}

async fn error_headers(t: Target) -> CheckResult {
    let origin = "https://example.com";
    let s = format!("/cookie_needed_echo/000/nosession{}", session_id());
    let send = |body: &'static str| {
        Request::post(&format!("{s}/xhr_send")).header("Origin", origin).header("Content-Type", "text/plain").body(body)
    };
    let r = t.fetch(send("[\"x\"]")).await?;
    context("xhr_send 404", not_found(&r))?;
    context("xhr_send 404", no_cache(&r))?;
    context("xhr_send 404", cors_echo(&r, origin))?;
    context("xhr_send 404", cookie(&r, "dummy"))?;
    let r = t.fetch(send("")).await?;
    context("xhr_send 500", status(&r, 500))?;
    context("xhr_send 500", no_cache(&r))?;
    context("xhr_send 500", cors_echo(&r, origin))?;
    context("xhr_send 500", cookie(&r, "dummy"))
}
