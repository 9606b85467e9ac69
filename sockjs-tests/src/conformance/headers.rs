//! §4 cross-cutting header rules: no-cache, long caching, CORS, OPTIONS
//! preflight, JSESSIONID.

use crate::http1::{Request, Response};

use super::client::{all_ok, head_only, open_xhr, stream};
use super::{
    body_eq, context, cookie, cors_echo, cors_star, fail, header, header_eq, long_cache, max_age, no_cache, no_cookie,
    no_header, Check, CheckResult, Failure, Target,
};

pub(super) fn checks() -> Vec<Check> {
    let mut v = vec![
        Check::new("§4.2 no-cache on /info and every session URL", no_cache_everywhere),
        Check::new("§4.4 CORS echoes Origin with credentials", |t| cors_all(t, Some("https://example.com"))),
        Check::new("§4.4 CORS echoes the literal null origin", |t| cors_all(t, Some("null"))),
        Check::new("§4.4 CORS without Origin: * and no credentials", |t| cors_all(t, None)),
        Check::new("§4.4 [node] CORS answers carry Vary: Origin", vary_origin),
        Check::new("§4.4 Access-Control-Request-Headers echoed", request_headers_echoed),
        Check::new("§4.4 empty or absent Access-Control-Request-Headers omitted", request_headers_omitted),
        Check::new("§4.4 [node] eventsource CORS (null origin gives *)", eventsource_cors),
        Check::new("§4.4 [node] htmlfile and jsonp carry no CORS headers", no_cors_on_script_transports),
    ];
    for (what, methods) in [
        ("info", "OPTIONS, GET"),
        ("xhr", "OPTIONS, POST"),
        ("xhr_send", "OPTIONS, POST"),
        ("xhr_streaming", "OPTIONS, POST"),
    ] {
        v.push(Check::new(format!("§4.5 OPTIONS preflight on {what}"), move |t| preflight(t, what, methods, false)));
        v.push(Check::new(format!("§4.5 [node] OPTIONS {what}: 204 and Allow-Methods {methods:?}"), move |t| {
            preflight(t, what, methods, true)
        }));
    }
    v.extend([
        Check::new("§4.5 OPTIONS /info with Origin: null and POST", options_info_null),
        Check::new("§4.6 session URLs set JSESSIONID=dummy; path=/", |t| session_cookies(t, None)),
        Check::new("§4.6 JSESSIONID echoes the request cookie", |t| session_cookies(t, Some("abcdef123"))),
        Check::new("§4.6 greeting, GET /info and iframe never set a cookie", prefix_no_cookie),
        Check::new("§4.6 services without the option send no cookie", echo_no_cookie),
        Check::new("§4.5 [node] OPTIONS /info sets the cookie on cookie_needed_echo", options_info_cookie),
    ]);
    v
}

/// Requests for every session URL of `service` with `extra` headers added;
/// each returns the response (streams: head only).
async fn every_session_url(
    t: &Target,
    service: &str,
    extra: &[(&str, &str)],
    what: &[&str],
) -> Result<Vec<(String, Response)>, Failure> {
    let with = |mut r: Request| {
        for (n, v) in extra {
            r = r.header(n, v);
        }
        r
    };
    let mut out = Vec::new();
    let s = t.session(service);
    let mut opened = false;
    for w in what {
        if matches!(*w, "xhr_send" | "jsonp_send") && !opened {
            open_xhr(t, &s).await?;
            opened = true;
        }
        if *w == "xhr" {
            opened = true;
        }
        let r = match *w {
            "xhr" => t.fetch(with(Request::post(&format!("{s}/xhr")))).await?,
            "xhr_send" => {
                t.fetch(
                    with(Request::post(&format!("{s}/xhr_send"))).header("Content-Type", "text/plain").body("[\"x\"]"),
                )
                .await?
            }
            "jsonp_send" => {
                t.fetch(
                    with(Request::post(&format!("{s}/jsonp_send")))
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body("d=%5B%22y%22%5D"),
                )
                .await?
            }
            "jsonp" => {
                // A fresh session: the one above has a queued message.
                let s2 = t.session(service);
                t.fetch(with(Request::get(&format!("{s2}/jsonp?c=cb")))).await?
            }
            "xhr_streaming" | "eventsource" | "htmlfile" => {
                let s2 = t.session(service);
                let req = if *w == "xhr_streaming" {
                    Request::post(&format!("{s2}/xhr_streaming"))
                } else if *w == "htmlfile" {
                    Request::get(&format!("{s2}/htmlfile?c=cb"))
                } else {
                    Request::get(&format!("{s2}/eventsource"))
                };
                let (head, _conn) = stream(t, with(req)).await?;
                head_only(&head)
            }
            "info" => t.fetch(with(Request::get(&format!("{service}/info")))).await?,
            other => {
                // OPTIONS on a session URL, e.g. "OPTIONS xhr".
                let url = other.trim_start_matches("OPTIONS ");
                let target = if url == "info" { format!("{service}/info") } else { format!("{s}/{url}") };
                t.fetch(with(Request::new("OPTIONS", &target)).header("Access-Control-Request-Method", "POST")).await?
            }
        };
        out.push((w.to_string(), r));
    }
    Ok(out)
}

const SESSION_URLS: [&str; 7] = ["xhr", "xhr_send", "xhr_streaming", "eventsource", "htmlfile", "jsonp", "jsonp_send"];

async fn no_cache_everywhere(t: Target) -> CheckResult {
    let mut what = vec!["info"];
    what.extend(SESSION_URLS);
    let mut problems = Vec::new();
    for (w, r) in every_session_url(&t, "/echo", &[], &what).await? {
        if let Err(e) = no_cache(&r) {
            problems.push(format!("{w}: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn cors_all(t: Target, origin: Option<&'static str>) -> CheckResult {
    let extra: Vec<(&str, &str)> = origin.map(|o| vec![("Origin", o)]).unwrap_or_default();
    let what = ["info", "xhr", "xhr_send", "xhr_streaming"];
    let mut problems = Vec::new();
    for (w, r) in every_session_url(&t, "/echo", &extra, &what).await? {
        let res = match origin {
            Some(o) => cors_echo(&r, o),
            None => cors_star(&r),
        };
        if let Err(e) = res {
            problems.push(format!("{w}: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn vary_origin(t: Target) -> CheckResult {
    let what = ["info", "xhr", "xhr_send", "xhr_streaming"];
    let mut problems = Vec::new();
    let extra = [("Origin", "https://example.com")];
    for (w, r) in every_session_url(&t, "/echo", &extra, &what).await? {
        if let Err(e) = header_eq(&r, "vary", "Origin") {
            problems.push(format!("{w}: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn request_headers_echoed(t: Target) -> CheckResult {
    let what = ["info", "xhr", "xhr_send", "xhr_streaming", "OPTIONS xhr", "OPTIONS xhr_send", "OPTIONS info"];
    let extra = [("Origin", "https://example.com"), ("Access-Control-Request-Headers", "a, b, c")];
    let mut problems = Vec::new();
    for (w, r) in every_session_url(&t, "/echo", &extra, &what).await? {
        if let Err(e) = header_eq(&r, "access-control-allow-headers", "a, b, c") {
            problems.push(format!("{w}: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn request_headers_omitted(t: Target) -> CheckResult {
    let what = ["info", "xhr", "xhr_send", "OPTIONS xhr", "OPTIONS xhr_send", "OPTIONS info"];
    let mut problems = Vec::new();
    for extra in [
        vec![("Origin", "https://example.com"), ("Access-Control-Request-Headers", "")],
        vec![("Origin", "https://example.com")],
    ] {
        let label = if extra.len() == 2 { "empty" } else { "absent" };
        for (w, r) in every_session_url(&t, "/echo", &extra, &what).await? {
            if let Err(e) = no_header(&r, "access-control-allow-headers") {
                problems.push(format!("{w} ({label} request header): {}", e.0));
            }
        }
    }
    all_ok(problems)
}

async fn eventsource_cors(t: Target) -> CheckResult {
    let s = t.session("/echo");
    let (head, _c) =
        stream(&t, Request::get(&format!("{s}/eventsource")).header("Origin", "https://example.com")).await?;
    let r = head_only(&head);
    context("Origin: https://example.com", cors_echo(&r, "https://example.com"))?;
    context("Origin: https://example.com", header_eq(&r, "vary", "Origin"))?;
    let s = t.session("/echo");
    let (head, _c) = stream(&t, Request::get(&format!("{s}/eventsource")).header("Origin", "null")).await?;
    context("Origin: null", cors_star(&head_only(&head)))?;
    let s = t.session("/echo");
    let (head, _c) = stream(&t, Request::get(&format!("{s}/eventsource"))).await?;
    context("no Origin", cors_star(&head_only(&head)))
}

async fn no_cors_on_script_transports(t: Target) -> CheckResult {
    let extra = [("Origin", "https://example.com")];
    let mut problems = Vec::new();
    for (w, r) in every_session_url(&t, "/echo", &extra, &["htmlfile", "jsonp"]).await? {
        for h in ["access-control-allow-origin", "access-control-allow-credentials"] {
            if let Err(e) = no_header(&r, h) {
                problems.push(format!("{w}: {}", e.0));
            }
        }
    }
    all_ok(problems)
}

async fn preflight(t: Target, what: &'static str, methods: &'static str, node: bool) -> CheckResult {
    let s = t.session("/echo");
    let path = if what == "info" { "/echo/info".to_owned() } else { format!("{s}/{what}") };
    let requested = if what == "info" { "GET" } else { "POST" };
    let r = t
        .fetch(
            Request::new("OPTIONS", &path)
                .header("Origin", "https://example.com")
                .header("Access-Control-Request-Method", requested),
        )
        .await?;
    if node {
        super::status(&r, 204)?;
        return header_eq(&r, "access-control-allow-methods", methods);
    }
    if r.status != 204 && r.status != 200 {
        fail!("expected status 204 or 200, got {}", r.status);
    }
    long_cache(&r)?;
    max_age(&r)?;
    let allowed = header(&r, "access-control-allow-methods")?;
    if !allowed.contains(requested) {
        fail!("Access-Control-Allow-Methods {allowed:?} does not contain {requested}");
    }
    body_eq(&r, b"")?;
    cors_echo(&r, "https://example.com")
}

async fn options_info_null(t: Target) -> CheckResult {
    let r = t
        .fetch(
            Request::new("OPTIONS", "/echo/info")
                .header("Origin", "null")
                .header("Access-Control-Request-Method", "POST"),
        )
        .await?;
    if r.status != 204 && r.status != 200 {
        fail!("expected status 204 or 200, got {}", r.status);
    }
    body_eq(&r, b"")?;
    header_eq(&r, "access-control-allow-origin", "null")
}

async fn session_cookies(t: Target, sent: Option<&'static str>) -> CheckResult {
    let cookie_header = sent.map(|v| format!("JSESSIONID={v}"));
    let extra: Vec<(&str, &str)> = cookie_header.as_deref().map(|c| vec![("Cookie", c)]).unwrap_or_default();
    let mut what = SESSION_URLS.to_vec();
    what.extend(["OPTIONS xhr", "OPTIONS xhr_send", "OPTIONS xhr_streaming"]);
    let want = sent.unwrap_or("dummy");
    let mut problems = Vec::new();
    for (w, r) in every_session_url(&t, "/cookie_needed_echo", &extra, &what).await? {
        if let Err(e) = cookie(&r, want) {
            problems.push(format!("{w}: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn prefix_no_cookie(t: Target) -> CheckResult {
    let mut problems = Vec::new();
    for path in ["", "/", "/info", "/iframe.html"] {
        let p = format!("/cookie_needed_echo{path}");
        let r = t.fetch(Request::get(&p).header("Cookie", "JSESSIONID=abc")).await?;
        if let Err(e) = no_cookie(&r) {
            problems.push(format!("GET {p}: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn echo_no_cookie(t: Target) -> CheckResult {
    let mut what = SESSION_URLS.to_vec();
    what.extend(["OPTIONS xhr", "OPTIONS info", "info"]);
    let mut problems = Vec::new();
    for (w, r) in every_session_url(&t, "/echo", &[("Cookie", "JSESSIONID=abc")], &what).await? {
        if let Err(e) = no_cookie(&r) {
            problems.push(format!("{w}: {}", e.0));
        }
    }
    all_ok(problems)
}

async fn options_info_cookie(t: Target) -> CheckResult {
    let r = t
        .fetch(
            Request::new("OPTIONS", "/cookie_needed_echo/info")
                .header("Origin", "https://example.com")
                .header("Access-Control-Request-Method", "GET"),
        )
        .await?;
    cookie(&r, "dummy")
}
