//! §4 headers: content types and no-cache, preflights, CORS, the JSESSIONID cookie.
//! Driven through the endpoint like an adapter would, with the simulated
//! clock; each test names the PROTOCOL.md section it pins.

use super::*;

/// §4.1 and §4.2: content types and no-cache on every session URL.
#[test]
fn s4_content_types_and_no_cache() {
    let mut h = Harness::echo();
    let greeting = h.get("/echo");
    assert_eq!(greeting.headers()["content-type"], "text/plain; charset=UTF-8");
    let cases = [
        (Method::GET, "/echo/info", "application/json; charset=UTF-8"),
        (Method::POST, "/echo/0/a/xhr", "application/javascript; charset=UTF-8"),
        (Method::POST, "/echo/0/b/xhr_streaming", "application/javascript; charset=UTF-8"),
        (Method::GET, "/echo/0/c/eventsource", "text/event-stream"),
        (Method::GET, "/echo/0/d/htmlfile?c=x", "text/html; charset=UTF-8"),
        (Method::GET, "/echo/0/e/jsonp?c=x", "application/javascript; charset=UTF-8"),
        (Method::POST, "/echo/0/a/xhr_send", "text/plain; charset=UTF-8"),
        (Method::POST, "/echo/0/e/jsonp_send", "text/plain; charset=UTF-8"),
    ];
    for (method, path, content_type) in cases {
        let r = h.request(method, path, &[("content-type", "text/plain")], "[]");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(r.headers()["content-type"], content_type, "{path}");
        assert_eq!(r.headers()["cache-control"], NO_CACHE, "{path}");
        assert!(r.headers().get("expires").is_none() && r.headers().get("last-modified").is_none(), "{path}");
    }
}

/// §4.3 and §4.5: preflights are 204 with long caching and Max-Age.
#[test]
fn s4_options_preflight() {
    let mut h = Harness::echo();
    for (path, methods) in [
        ("/echo/info", "OPTIONS, GET"),
        ("/echo/0/0/xhr", "OPTIONS, POST"),
        ("/echo/0/0/xhr_send", "OPTIONS, POST"),
        ("/echo/0/0/xhr_streaming", "OPTIONS, POST"),
    ] {
        let r = h
            .request(Method::OPTIONS, path, &[("origin", "null"), ("access-control-request-method", "POST")], "")
            .full();
        assert_eq!(r.status(), 204, "{path}");
        assert!(r.body().is_empty());
        assert_eq!(r.headers()["access-control-allow-methods"], methods);
        assert_eq!(r.headers()["access-control-max-age"], "31536000");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000");
        assert_eq!(r.headers()["expires"], "Fri, 01 Jan 1971 00:00:00 GMT");
        assert_eq!(r.headers()["access-control-allow-origin"], "null");
        assert_eq!(r.headers()["access-control-allow-credentials"], "true");
        assert!(r.headers().get("access-control-allow-headers").is_none());
    }
    let r = h.request(Method::OPTIONS, "/echo/0/0/xhr", &[("access-control-request-headers", "a, b, c")], "").full();
    assert_eq!(r.headers()["access-control-allow-headers"], "a, b, c");
}

/// §4.4: CORS on info, xhr and xhr_send; eventsource maps `null` to `*`;
/// htmlfile and jsonp carry none.
#[test]
fn s4_cors() {
    let mut h = Harness::echo();
    let origin = [("origin", "https://example.com")];
    for (method, path) in [
        (Method::GET, "/echo/info"),
        (Method::POST, "/echo/0/x/xhr"),
        (Method::POST, "/echo/0/x/xhr_send"),
        (Method::POST, "/echo/0/y/xhr_streaming"),
    ] {
        let r = h.request(method, path, &origin, "[]");
        assert_eq!(r.headers()["access-control-allow-origin"], "https://example.com", "{path}");
        assert_eq!(r.headers()["access-control-allow-credentials"], "true", "{path}");
    }
    let r = h.request(Method::GET, "/echo/info", &[], "");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers().get("access-control-allow-credentials").is_none());
    let r = h.request(Method::GET, "/echo/0/es/eventsource", &[("origin", "null")], "");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    for path in ["/echo/0/hf/htmlfile?c=x", "/echo/0/jp/jsonp?c=x"] {
        let r = h.request(Method::GET, path, &origin, "");
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{path}");
    }
}

/// §4.6: the JSESSIONID cookie on every session URL and OPTIONS, never on
/// the greeting, `GET /info`, the iframe or websockets.
#[test]
fn s4_jsessionid() {
    let mut h = Harness::new(App::Echo, Options::new("/c").jsessionid(Jsessionid::On));
    assert!(h.get("/c").headers().get("set-cookie").is_none());
    assert!(h.get("/c/info").headers().get("set-cookie").is_none());
    assert!(h.get("/c/iframe.html").headers().get("set-cookie").is_none());
    let info = h.get("/c/info").full();
    assert!(body(&info).contains(r#""cookie_needed":true"#));
    assert_eq!(h.request(Method::OPTIONS, "/c/info", &[], "").headers()["set-cookie"], "JSESSIONID=dummy; path=/");
    for (method, path) in [
        (Method::POST, "/c/0/a/xhr"),
        (Method::POST, "/c/0/a/xhr_send"),
        (Method::POST, "/c/0/b/xhr_streaming"),
        (Method::GET, "/c/0/c/eventsource"),
        (Method::GET, "/c/0/d/htmlfile?c=x"),
        (Method::GET, "/c/0/e/jsonp?c=x"),
        (Method::POST, "/c/0/e/jsonp_send"),
        (Method::OPTIONS, "/c/0/f/xhr"),
    ] {
        let r = h.request(method, path, &[("cookie", "JSESSIONID=abc")], "[]");
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 1, "{path}");
        assert_eq!(r.headers()["set-cookie"], "JSESSIONID=abc; path=/", "{path}");
    }
    let mut plain = Harness::echo();
    assert!(plain.post("/echo/0/a/xhr", "").headers().get("set-cookie").is_none());
}
