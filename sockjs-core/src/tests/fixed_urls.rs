//! §7.1 to §7.3: the greeting, `/info` and the iframe page.
//! Driven through the endpoint like an adapter would, with the simulated
//! clock; each test names the PROTOCOL.md section it pins.

use super::*;

/// §7.1: the greeting.
#[test]
fn s7_1_greeting() {
    let mut h = Harness::echo();
    for path in ["/echo", "/echo/"] {
        let r = h.get(path).full();
        assert_eq!(r.status(), 200);
        assert_eq!(body(&r), "Welcome to SockJS!\n");
    }
}

/// §7.2: `/info` with caller-supplied entropy.
#[test]
fn s7_2_info() {
    let mut h = Harness::echo();
    let r = h.get("/echo/info").full();
    assert_eq!(body(&r), r#"{"websocket":true,"origins":["*:*"],"cookie_needed":false,"entropy":7}"#);
    let mut d = Harness::new(App::Echo, Options::new("/d").websocket(false));
    let v: serde_json::Value = serde_json::from_slice(d.get("/d/info").full().body()).unwrap();
    assert_eq!(v["websocket"], false);
    let mut n = Harness::new(App::Echo, Options::new("/n").cors(false));
    assert_eq!(body(&n.get("/n/info").full()), r#"{"websocket":true,"cookie_needed":false,"entropy":7}"#);
}

/// §7.3: the iframe page, its variants, ETag and 304.
#[test]
fn s7_3_iframe() {
    let mut h = Harness::new(App::Echo, Options::new("/echo").sockjs_url("/static/sockjs.js"));
    let r = h.get("/echo/iframe.html").full();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=UTF-8");
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000");
    assert!(r.headers().get("expires").is_some() && r.headers().get("last-modified").is_none());
    let page = body(&r).trim();
    assert!(page.starts_with("<!DOCTYPE html>\n<html>\n<head>\n  <meta http-equiv=\"X-UA-Compatible\""));
    assert!(page.contains("\n  <script src=\"/static/sockjs.js\"></script>\n  <script>\n    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n</head>"));
    assert!(page.ends_with("</body>\n</html>"));
    let etag = r.headers()["etag"].clone();
    for variant in ["/echo/iframe-a.html", "/echo/iframe-0.1.2.html?t=1", "/echo/iframe.html/"] {
        let v = h.get(variant).full();
        assert_eq!(v.body(), r.body(), "{variant}");
        assert_eq!(v.headers()["etag"], etag, "{variant}");
    }
    let r304 = h.request(Method::GET, "/echo/iframe.html", &[("if-none-match", etag.to_str().unwrap())], "").full();
    assert_eq!(r304.status(), 304);
    assert!(r304.body().is_empty());
    assert!(r304.headers().get("content-type").is_none() && r304.headers().get("etag").is_none());
}
