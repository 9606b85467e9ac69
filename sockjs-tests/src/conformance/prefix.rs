//! §7.1–§7.3: the URLs directly under the base: greeting, `/info`, iframe.

use serde_json::Value;

use crate::http1::{Request, Response};

use super::client::all_ok;
use super::{
    body_eq, content_type, context, cors_star, fail, framed, header, long_cache, no_cache, no_cookie, no_header,
    status, Check, CheckResult, Failure, Target, APP_JSON, TEXT_HTML, TEXT_PLAIN, WELCOME,
};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check::new("§7.1 greeting on <base> and <base>/", greeting),
        Check::new("§7.2 info headers and JSON fields", info),
        Check::new("§7.2 info entropy differs between calls", info_entropy),
        Check::new("§7.2 info websocket:false on disabled_websocket_echo", info_disabled),
        Check::new("§7.2 info cookie_needed:true on cookie_needed_echo", info_cookie_needed),
        Check::new("§7.3 iframe page headers and template", iframe),
        Check::new("§7.3 iframe URL variants serve the same page", iframe_variants),
        Check::new("§7.3 iframe ETag stable, If-None-Match gives 304", iframe_etag),
    ]
}

async fn greeting(t: Target) -> CheckResult {
    for path in ["/echo", "/echo/"] {
        let r = t.get(path).await?;
        let r: CheckResult = (|| {
            status(&r, 200)?;
            framed(&r)?;
            content_type(&r, TEXT_PLAIN)?;
            body_eq(&r, WELCOME.as_bytes())?;
            no_cookie(&r)
        })();
        context(&format!("GET {path}"), r)?;
    }
    Ok(())
}

async fn info_json(t: &Target, service: &str) -> Result<(Response, serde_json::Map<String, Value>), Failure> {
    let r = t.get(&format!("{service}/info")).await?;
    status(&r, 200)?;
    let v: Value = serde_json::from_slice(&r.body)?;
    match v {
        Value::Object(map) => Ok((r, map)),
        other => Err(Failure(format!("info body is not a JSON object: {other}"))),
    }
}

fn entropy(map: &serde_json::Map<String, Value>) -> Result<u64, Failure> {
    match map.get("entropy").and_then(Value::as_u64) {
        Some(e) if e <= u64::from(u32::MAX) => Ok(e),
        other => Err(Failure(format!("entropy must be an integer in 0..2^32-1, got {other:?}"))),
    }
}

async fn info(t: Target) -> CheckResult {
    let (r, map) = info_json(&t, "/echo").await?;
    framed(&r)?;
    content_type(&r, APP_JSON)?;
    no_cache(&r)?;
    cors_star(&r)?;
    no_cookie(&r)?;
    let mut problems = Vec::new();
    if map.get("websocket") != Some(&Value::Bool(true)) {
        problems.push(format!("websocket: expected true, got {:?}", map.get("websocket")));
    }
    if map.get("cookie_needed") != Some(&Value::Bool(false)) {
        problems.push(format!("cookie_needed: expected false, got {:?}", map.get("cookie_needed")));
    }
    if map.get("origins") != Some(&serde_json::json!(["*:*"])) {
        problems.push(format!("origins: expected [\"*:*\"], got {:?}", map.get("origins")));
    }
    if let Err(e) = entropy(&map) {
        problems.push(e.0);
    }
    all_ok(problems)
}

async fn info_entropy(t: Target) -> CheckResult {
    let (_, a) = info_json(&t, "/echo").await?;
    let (_, b) = info_json(&t, "/echo").await?;
    let (a, b) = (entropy(&a)?, entropy(&b)?);
    if a == b {
        fail!("two /info calls returned the same entropy {a}");
    }
    Ok(())
}

async fn info_disabled(t: Target) -> CheckResult {
    let (_, map) = info_json(&t, "/disabled_websocket_echo").await?;
    if map.get("websocket") != Some(&Value::Bool(false)) {
        fail!("websocket: expected false, got {:?}", map.get("websocket"));
    }
    Ok(())
}

async fn info_cookie_needed(t: Target) -> CheckResult {
    let (r, map) = info_json(&t, "/cookie_needed_echo").await?;
    if map.get("cookie_needed") != Some(&Value::Bool(true)) {
        fail!("cookie_needed: expected true, got {:?}", map.get("cookie_needed"));
    }
    context("GET /info must not set a cookie (§4.6)", no_cookie(&r))
}

const IFRAME_TEMPLATE: &str = r#"<!DOCTYPE html>
<html>
<head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
  <script src="SOCKJS_URL"></script>
  <script>
    document.domain = document.domain;
    SockJS.bootstrap_iframe();
  </script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>"#;

fn check_iframe_body(body: &[u8]) -> CheckResult {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let src = text
        .split_once("<script src=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(src, _)| src)
        .ok_or_else(|| Failure("iframe page has no <script src=\"...\">".into()))?;
    if !(src.starts_with('/') || src.starts_with("http")) {
        fail!("sockjs_url {src:?} must begin with / or http");
    }
    let expected = IFRAME_TEMPLATE.replace("SOCKJS_URL", src);
    if text != expected {
        fail!(
            "iframe body (trimmed) differs from the template: expected {}, got {}",
            super::show(expected.as_bytes()),
            super::show(text.as_bytes())
        );
    }
    Ok(())
}

async fn iframe(t: Target) -> CheckResult {
    let r = t.get("/echo/iframe.html").await?;
    status(&r, 200)?;
    framed(&r)?;
    content_type(&r, TEXT_HTML)?;
    long_cache(&r)?;
    header(&r, "etag")?;
    no_header(&r, "last-modified")?;
    no_header(&r, "access-control-max-age")?;
    no_cookie(&r)?;
    check_iframe_body(&r.body)
}

async fn iframe_variants(t: Target) -> CheckResult {
    let reference = t.get("/echo/iframe.html").await?;
    status(&reference, 200)?;
    let mut problems = Vec::new();
    for name in
        ["/iframe.html", "/iframe-a.html", "/iframe-.html", "/iframe-0.1.2.html", "/iframe-0.1.2abc-dirty.2144.html"]
    {
        for query in ["", "?t=1234567890"] {
            let path = format!("/echo{name}{query}");
            let r = t.get(&path).await?;
            if r.status != 200 {
                problems.push(format!("{path}: status {}", r.status));
            } else if r.body != reference.body {
                problems.push(format!("{path}: content differs from /iframe.html"));
            } else if let Err(e) = content_type(&r, TEXT_HTML) {
                problems.push(format!("{path}: {}", e.0));
            }
        }
    }
    all_ok(problems)
}

async fn iframe_etag(t: Target) -> CheckResult {
    let a = t.get("/echo/iframe.html").await?;
    let b = t.get("/echo/iframe-x.html?t=1").await?;
    let etag = header(&a, "etag")?.to_owned();
    let etag_b = header(&b, "etag")?;
    if etag != etag_b {
        fail!("ETag not stable: {etag:?} then {etag_b:?}");
    }
    let r = t.fetch(Request::get("/echo/iframe.html").header("If-None-Match", &etag)).await?;
    status(&r, 304)?;
    no_header(&r, "content-type")?;
    body_eq(&r, b"")?;
    context("§11 [node] the 304 carries no ETag", no_header(&r, "etag"))
}
