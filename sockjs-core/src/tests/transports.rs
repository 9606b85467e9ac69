//! §7.4 to §7.9: the HTTP transports, their framing, limits and errors.
//! Driven through the endpoint like an adapter would, with the simulated
//! clock; each test names the PROTOCOL.md section it pins.

use super::*;

/// §7.4 and §7.5: xhr-polling with xhr_send.
#[test]
fn s7_4_xhr_polling() {
    let mut h = Harness::echo();
    assert_eq!(h.poll_body("/echo/000/s/xhr"), "o\n");
    let r = h.post("/echo/000/s/xhr_send", r#"["x"]"#).full();
    assert_eq!(r.status(), 204);
    assert!(r.body().is_empty());
    assert_eq!(r.headers()["content-type"], "text/plain; charset=UTF-8");
    assert_eq!(h.poll_body("/echo/000/s/xhr"), "a[\"x\"]\n");
    // A poll with nothing queued stays open until something arrives.
    let (_, mut rx) = h.post("/echo/000/s/xhr", "").stream();
    assert_eq!(h.read(&mut rx), (vec![], false));
    h.post("/echo/000/s/xhr_send", r#"["y"]"#);
    assert_eq!(h.read(&mut rx), (vec!["a[\"y\"]\n".to_string()], true));
}

/// §7.5 and §11: xhr_send errors, checked before the session.
#[test]
fn s7_5_xhr_send_errors() {
    let mut h = Harness::echo();
    let cases = [
        ("", 500, "Payload expected."),
        ("[\"x", 500, "Broken JSON encoding."),
        ("{}", 500, "Payload expected."),
        ("\"a\"", 500, "Payload expected."),
        ("[\"x\"]", 404, "404 Error: Page not found\n"),
    ];
    for (payload, status, message) in cases {
        let r = h.post("/echo/000/bad_session/xhr_send", payload).full();
        assert_eq!(r.status(), status, "{payload:?}");
        assert_eq!(body(&r), message, "{payload:?}");
        assert_eq!(r.headers()["cache-control"], NO_CACHE, "error responses keep the URL's headers");
    }
    h.poll_body("/echo/0/s/xhr");
    for content_type in [
        "text/plain",
        "T",
        "application/json",
        "application/xml",
        "",
        "application/json; charset=utf-8",
        "text/xml; charset=utf-8",
        "text/xml",
    ] {
        let r = h.request(Method::POST, "/echo/0/s/xhr_send", &[("content-type", content_type)], "[\"a\"]").full();
        assert_eq!(r.status(), 204, "{content_type:?}");
    }
    let r = h
        .request(
            Method::POST,
            "/echo/0/s/xhr_send",
            &[("content-type", "application/x-www-form-urlencoded")],
            "[\"a\"]",
        )
        .full();
    assert_eq!((r.status().as_u16(), body(&r)), (500, "Payload expected."));
    assert_eq!(h.post("/echo/0/s/xhr_send", "[]").status(), 204);
    let big = format!("[\"{}\"]", "x".repeat(300 * 1024));
    let r = h.post("/echo/0/s/xhr_send", &big).full();
    assert_eq!(r.status(), 413);
}

/// §7.6: prelude, `o`, one chunk per frame, and the response_limit
/// arithmetic: 31 frames of 134 bytes with limit 4096 end after the 31st.
#[test]
fn s7_6_xhr_streaming_response_limit() {
    let mut h = Harness::echo();
    let (head, mut rx) = h.post("/echo/000/s/xhr_streaming", "").stream();
    assert_eq!(head.status(), 200);
    let (chunks, ended) = h.read(&mut rx);
    assert!(!ended);
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0], format!("{}\n", "h".repeat(2048)));
    assert_eq!(chunks[1], "o\n");
    let message = "x".repeat(128);
    let payload = format!("[\"{message}\"]");
    for i in 1..=31 {
        h.post("/echo/000/s/xhr_send", &payload);
        let (chunks, ended) = h.read(&mut rx);
        assert_eq!(chunks, vec![format!("a[\"{message}\"]\n")], "frame {i}");
        assert_eq!(chunks[0].len(), 134);
        assert_eq!(ended, i == 31, "after frame {i}: 2 + {i}*134 = {}", 2 + i * 134);
    }
    // The client reconnects on the same session.
    let (_, mut rx) = h.post("/echo/000/s/xhr_streaming", "").stream();
    let (chunks, ended) = h.read(&mut rx);
    assert_eq!((chunks.len(), ended), (1, false), "just the prelude: no new `o`");
}

/// §7.7: eventsource prelude and frames, `%` escaped, limit.
#[test]
fn s7_7_eventsource() {
    let mut h = Harness::echo();
    let (_, mut rx) = h.get("/echo/000/s/eventsource").stream();
    assert_eq!(h.read(&mut rx), (vec!["\r\n".to_string(), "data: o\r\n\r\n".to_string()], false));
    h.post("/echo/000/s/xhr_send", r#"["  \u0000\n\r ", "100%"]"#);
    let (chunks, _) = h.read(&mut rx);
    assert_eq!(chunks, vec!["data: a[\"  \\u0000\\n\\r \",\"100%25\"]\r\n\r\n".to_string()]);
    h.post("/echo/000/s/xhr_send", &format!("[\"{}\"]", "x".repeat(4096)));
    let (chunks, ended) = h.read(&mut rx);
    assert_eq!(chunks, vec![format!("data: a[\"{}\"]\r\n\r\n", "x".repeat(4096))]);
    assert!(ended);
}

/// §7.8: htmlfile head over 1024 bytes, script chunks, callback errors.
#[test]
fn s7_8_htmlfile() {
    let mut h = Harness::echo();
    let (_, mut rx) = h.get("/echo/000/s/htmlfile?c=%63allback").stream();
    let (chunks, _) = h.read(&mut rx);
    assert_eq!(chunks[0].len(), 1035);
    assert!(chunks[0].contains("var c = parent.callback;"));
    assert_eq!(chunks[1], "<script>\np(\"o\");\n</script>\r\n");
    h.post("/echo/000/s/xhr_send", r#"["x"]"#);
    assert_eq!(h.read(&mut rx).0, vec!["<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n".to_string()]);
    let r = h.get("/echo/000/t/htmlfile").full();
    assert_eq!((r.status().as_u16(), body(&r)), (500, "\"callback\" parameter required"));
    for bad in ["%20", "*", "abc(", "abc%28"] {
        let r = h.get(&format!("/echo/000/t/htmlfile?c={bad}")).full();
        assert_eq!((r.status().as_u16(), body(&r)), (500, "invalid \"callback\" parameter"), "{bad}");
        assert_eq!(r.headers()["cache-control"], NO_CACHE);
    }
}

/// §7.9: jsonp polling and jsonp_send.
#[test]
fn s7_9_jsonp() {
    let mut h = Harness::echo();
    let (head, mut rx) = h.get("/echo/000/s/jsonp?c=callback").stream();
    assert_eq!(head.headers()["x-content-type-options"], "nosniff");
    assert_eq!(h.read(&mut rx), (vec!["/**/callback(\"o\");\r\n".to_string()], true));
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let r = h.request(Method::POST, "/echo/000/s/jsonp_send", &form, "d=%5B%22x%22%5D").full();
    assert_eq!((r.status().as_u16(), body(&r)), (200, "ok"));
    let r = h.request(Method::POST, "/echo/000/s/jsonp_send", &[("content-type", "text/plain")], r#"["%61bc"]"#).full();
    assert_eq!((r.status().as_u16(), body(&r)), (200, "ok"));
    let (_, mut rx) = h.get("/echo/000/s/jsonp?c=x").stream();
    assert_eq!(h.read(&mut rx).0, vec!["/**/x(\"a[\\\"x\\\",\\\"%61bc\\\"]\");\r\n".to_string()]);
    for (payload, message) in [
        ("d=%5B%22x", "Broken JSON encoding."),
        ("", "Payload expected."),
        ("d=", "Payload expected."),
        ("p=p", "Payload expected."),
    ] {
        let r = h.request(Method::POST, "/echo/000/s/jsonp_send", &form, payload).full();
        assert_eq!((r.status().as_u16(), body(&r)), (500, message), "{payload:?}");
    }
    assert_eq!(body(&h.request(Method::POST, "/echo/000/s/jsonp_send", &form, "d=%5B%5D").full()), "ok");
    assert_eq!(h.request(Method::POST, "/echo/000/zz/jsonp_send", &form, "d=%5B%5D").status(), 404);
    let long = format!("/echo/000/s/jsonp?c={}", "a".repeat(33));
    assert_eq!(h.get(&long).status(), 500);
}
