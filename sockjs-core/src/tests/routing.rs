//! §3 routing: unknown paths, wrong methods, disabled transports, the ignored server id.
//! Driven through the endpoint like an adapter would, with the simulated
//! clock; each test names the PROTOCOL.md section it pins.

use super::*;

/// §3: unknown paths are 404 with the standard body, whatever the method.
#[test]
fn s3_not_found_shape() {
    let mut h = Harness::echo();
    for method in [Method::GET, Method::POST] {
        for path in ["/echo/a", "/echo//", "/echo/a/a/", "/echo//xhr", "/echo/a./a/xhr", "/echo/iframe.HTML"] {
            let r = h.request(method.clone(), path, &[], "").full();
            assert_eq!(r.status(), 404, "{method} {path}");
            assert_eq!(body(&r), "404 Error: Page not found\n");
            assert_eq!(r.headers()["content-type"], "text/plain; charset=UTF-8");
        }
    }
}

/// §3: a valid path with the wrong method is 405 with `Allow`, no
/// `Content-Type` and an empty body.
#[test]
fn s3_method_not_allowed_shape() {
    let mut h = Harness::echo();
    let cases = [
        (Method::POST, "/echo/0/0/websocket", "GET"),
        (Method::POST, "/echo/info", "OPTIONS, GET"),
        (Method::GET, "/echo/0/0/xhr", "POST, OPTIONS"),
        (Method::GET, "/echo/0/0/xhr_send", "POST, OPTIONS"),
        (Method::PUT, "/echo", "GET"),
        (Method::GET, "/echo/0/0/jsonp_send", "POST"),
    ];
    for (method, path, allow) in cases {
        let r = h.request(method.clone(), path, &[("upgrade", "websocket")], "").full();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], allow);
        assert!(r.headers().get("content-type").is_none());
        assert!(r.body().is_empty());
    }
}

/// §3 and §10: disabled transports answer 404; a disabled websocket still
/// answers POST with 405.
#[test]
fn s3_disabled_transports() {
    let mut h = Harness::new(App::Echo, Options::new("/d").websocket(false).disable(Transport::JsonpPolling));
    assert_eq!(h.get("/d/0/0/websocket").status(), 404);
    assert_eq!(h.get("/d/websocket").status(), 404);
    assert_eq!(h.post("/d/0/0/websocket", "").status(), 405);
    assert_eq!(h.get("/d/0/0/jsonp?c=x").status(), 404);
    assert_eq!(h.post("/d/0/0/jsonp_send", "d=[]").status(), 404);
    assert_eq!(h.post("/d/0/0/xhr", "").status(), 200);
}

/// §3: the server id is ignored; the session id alone names the session.
#[test]
fn s3_server_id_is_ignored() {
    let mut h = Harness::echo();
    assert_eq!(h.poll_body("/echo/000/s/xhr"), "o\n");
    assert_eq!(h.post("/echo/999/s/xhr_send", r#"["x"]"#).status(), 204);
    assert_eq!(h.poll_body("/echo/abc/s/xhr"), "a[\"x\"]\n");
}
