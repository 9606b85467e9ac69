//! §3 URL layout and routing: what is found, what is not, and the 405 shape.

use crate::http1::Request;

use super::client::{all_ok, open_xhr, poll_expect, send_ok, xhr};
use super::{
    body_eq, bytes_eq, content_type, context, method_not_allowed, not_found, session_id, status, Check, CheckResult,
    Target, NOT_FOUND_BODY, TEXT_PLAIN,
};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§3 404 for non-SockJS paths under the base (GET and POST)", non_sockjs_paths),
        Check::new("§3 404 (not 405) for invalid session paths + /xhr (GET and POST)", invalid_session_paths),
        Check::new("§3 [node] 404 body and Content-Type", not_found_body),
        Check::new("§3 server and session ids accept any [^/.]+ segment", any_segment_ids),
        Check::new("§3 server id is ignored", server_id_ignored),
        Check::new("§3 405 shape on POST <base>/0/0/websocket", post_websocket_405),
        Check::new("§3 [node] 405 Allow lists the allowed methods", allow_lists),
        Check::new("§3 [node] trailing slash accepted on every route", trailing_slash),
        Check::new("§3 iframe names are lower case and end in .html", iframe_bad_names),
        Check::new("§11 /iframeXhtml is not an iframe page", iframe_x_html),
    ]
}

async fn expect_404(t: &Target, method: &str, path: &str) -> Result<(), String> {
    let r = t.fetch(Request::new(method, path)).await.map_err(|f| f.0)?;
    not_found(&r).map_err(|f| format!("{method} {path}: {}", f.0))
}

async fn non_sockjs_paths(t: Target) -> CheckResult {
    let mut problems = Vec::new();
    for suffix in ["/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/"] {
        for method in ["GET", "POST"] {
            if let Err(e) = expect_404(&t, method, &format!("/echo{suffix}")).await {
                problems.push(e);
            }
        }
    }
    all_ok(problems)
}

async fn invalid_session_paths(t: Target) -> CheckResult {
    let mut problems = Vec::new();
    for middle in ["//", "/a./a", "/a/a.", "/./.", "/", "///"] {
        for method in ["GET", "POST"] {
            if let Err(e) = expect_404(&t, method, &format!("/echo{middle}/xhr")).await {
                problems.push(e);
            }
        }
    }
    all_ok(problems)
}

async fn not_found_body(t: Target) -> CheckResult {
    let r = t.get("/echo/a/a").await?;
    status(&r, 404)?;
    content_type(&r, TEXT_PLAIN)?;
    body_eq(&r, NOT_FOUND_BODY.as_bytes())
}

async fn any_segment_ids(t: Target) -> CheckResult {
    let id = session_id();
    let paths = [
        format!("/echo/_/{id}a"),
        format!("/echo/1/{id}b"),
        format!("/echo/a/{id}c"),
        format!("/echo/abcdefgh_i-j%20/{id}d"),
        format!("/echo/000/{id}_i-j%20"),
        format!("/echo/000/_{id}"),
    ];
    let mut problems = Vec::new();
    for p in &paths {
        if let Err(e) = open_xhr(&t, p).await {
            problems.push(format!("{p}/xhr: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn server_id_ignored(t: Target) -> CheckResult {
    let id = session_id();
    context("open via /000/", open_xhr(&t, &format!("/echo/000/{id}")).await)?;
    context("send via /999/", send_ok(&t, &format!("/echo/999/{id}"), "[\"x\"]").await)?;
    context("poll via /abc/", poll_expect(&t, &format!("/echo/abc/{id}"), "a[\"x\"]\n").await)
}

async fn post_websocket_405(t: Target) -> CheckResult {
    let plain = t.fetch(Request::post("/echo/0/0/websocket")).await?;
    context("without upgrade headers", method_not_allowed(&plain))?;
    let upgrade = t
        .fetch(
            Request::post("/echo/0/0/websocket")
                .header("Upgrade", "websocket")
                .header("Connection", "Upgrade")
                .header("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw==")
                .header("Sec-WebSocket-Version", "13"),
        )
        .await?;
    context("with upgrade headers", method_not_allowed(&upgrade))?;
    // The official suite's exact request: Upgrade and Connection only.
    let bare = t
        .fetch(Request::post("/echo/0/0/websocket").header("Upgrade", "WebSocket").header("Connection", "Upgrade"))
        .await?;
    context("with Upgrade: WebSocket and Connection: Upgrade only", method_not_allowed(&bare))?;
    Ok(())
}

async fn allow_lists(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let cases: Vec<(&str, String, &str)> = vec![
        ("POST", "/echo".into(), "GET"),
        ("POST", "/echo/iframe.html".into(), "GET"),
        ("POST", "/echo/info".into(), "OPTIONS, GET"),
        ("DELETE", "/echo/info".into(), "OPTIONS, GET"),
        ("GET", format!("{s}/xhr"), "POST, OPTIONS"),
        ("PUT", format!("{s}/xhr"), "POST, OPTIONS"),
        ("GET", format!("{s}/xhr_send"), "POST, OPTIONS"),
        ("GET", format!("{s}/xhr_streaming"), "POST, OPTIONS"),
        ("POST", format!("{s}/eventsource"), "GET"),
        ("POST", format!("{s}/htmlfile"), "GET"),
        ("POST", format!("{s}/jsonp"), "GET"),
        ("GET", format!("{s}/jsonp_send"), "POST"),
        ("POST", "/echo/websocket".into(), "GET"),
        ("POST", "/disabled_websocket_echo/0/0/websocket".into(), "GET"),
    ];
    let mut problems = Vec::new();
    for (method, path, allow) in cases {
        let r = t.fetch(Request::new(method, &path)).await?;
        match method_not_allowed(&r) {
            Ok(got) if got == allow => {}
            Ok(got) => problems.push(format!("{method} {path}: Allow {got:?}, expected {allow:?}")),
            Err(e) => problems.push(format!("{method} {path}: {}", e.0)),
        }
    }
    all_ok(problems)
}

async fn trailing_slash(t: Target) -> CheckResult {
    let info = t.get("/echo/info/").await?;
    context("GET /info/", status(&info, 200))?;
    let iframe = t.get("/echo/iframe.html/").await?;
    context("GET /iframe.html/", status(&iframe, 200))?;
    let s = t.session("/echo");
    let r = t.fetch(Request::post(&format!("{s}/xhr/"))).await?;
    context("POST xhr/", status(&r, 200))?;
    context("POST xhr/", bytes_eq("body", &r.body, b"o\n"))?;
    let r =
        t.fetch(Request::post(&format!("{s}/xhr_send/")).header("Content-Type", "text/plain").body("[\"x\"]")).await?;
    context("POST xhr_send/", status(&r, 204))?;
    let r = xhr(&t, &s).await?;
    context("poll after xhr_send/", bytes_eq("body", &r.body, b"a[\"x\"]\n"))
}

async fn iframe_bad_names(t: Target) -> CheckResult {
    let mut problems = Vec::new();
    for name in ["/IFRAME.HTML", "/iframe.HTML", "/IFRAME", "/iframe", "/iframe.htm", "/iframe.xml", "/iframe-/.html"] {
        if let Err(e) = expect_404(&t, "GET", &format!("/echo{name}")).await {
            problems.push(e);
        }
    }
    all_ok(problems)
}

async fn iframe_x_html(t: Target) -> CheckResult {
    expect_404(&t, "GET", "/echo/iframeXhtml").await.map_err(Into::into)
}
