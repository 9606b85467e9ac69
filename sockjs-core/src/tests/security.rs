//! Security options (origins, authorization, session headers, proxies) and shutdown.
//! Driven through the endpoint like an adapter would, with the simulated
//! clock; each test names the PROTOCOL.md section it pins.

use super::*;

/// Restricted origins: others are refused on session URLs and websockets,
/// CORS echoes only allowed ones, `null` only when listed.
#[test]
fn allowed_origins() {
    let origins = Origins::List(vec!["https://good.example".into()]);
    let mut h = Harness::new(App::Echo, Options::new("/o").origins(origins));
    let good = [("origin", "https://good.example")];
    let r = h.request(Method::POST, "/o/0/a/xhr", &good, "");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://good.example");
    for bad in ["https://evil.example", "null"] {
        let r = h.request(Method::POST, "/o/0/b/xhr", &[("origin", bad)], "").full();
        assert_eq!(r.status(), 403, "{bad}");
        assert!(r.headers().get("access-control-allow-origin").is_none(), "{bad}");
        let info = h.request(Method::GET, "/o/info", &[("origin", bad)], "").full();
        assert!(info.headers().get("access-control-allow-origin").is_none(), "{bad}");
        assert!(
            matches!(h.dispatch(ws_request("/o/0/c/websocket", Some(bad))), Dispatch::Response(r) if r.status() == 403)
        );
        assert!(
            matches!(h.dispatch(ws_request("/o/websocket", Some(bad))), Dispatch::Response(r) if r.status() == 403)
        );
    }
    assert_eq!(h.post("/o/0/d/xhr", "").status(), 200, "no Origin: not a browser, allowed");
    assert!(matches!(h.dispatch(ws_request("/o/0/e/websocket", Some("https://good.example"))), Dispatch::WebSocket(_)));
    let with_null = Options::new("/n").origins(Origins::List(vec!["null".into()]));
    let mut n = Harness::new(App::Echo, with_null);
    assert_eq!(n.request(Method::POST, "/n/0/a/xhr", &[("origin", "null")], "").status(), 200);
    let predicate = Options::new("/p").origins(Origins::Predicate(Arc::new(|o: &str| o.ends_with(".good.example"))));
    let mut p = Harness::new(App::Echo, predicate);
    assert_eq!(p.request(Method::POST, "/p/0/a/xhr", &[("origin", "https://a.good.example")], "").status(), 200);
    assert_eq!(p.request(Method::POST, "/p/0/b/xhr", &[("origin", "https://good.example.evil")], "").status(), 403);
}

#[derive(Clone, Debug, PartialEq)]
struct User(&'static str);

/// The authorize hook sees the opening request (cookies included), runs
/// once per session, and hands its data to the application.
#[test]
fn authorize_hook() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let options = Options::new("/a").authorize(move |request| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match request.headers.get("cookie").and_then(|c| c.to_str().ok()) {
            Some("token=ok") => {
                let mut data = http::Extensions::new();
                data.insert(User("alice"));
                Ok(data)
            }
            _ => Err(StatusCode::UNAUTHORIZED),
        }
    });
    let mut h = Harness::new(App::Capture, options);
    let r = h.request(Method::POST, "/a/0/s/xhr", &[], "").full();
    assert_eq!((r.status().as_u16(), body(&r)), (401, "Unauthorized\n"));
    assert_eq!(r.headers()["cache-control"], NO_CACHE);
    assert!(matches!(h.dispatch(ws_request("/a/0/w/websocket", None)), Dispatch::Response(r) if r.status() == 401));
    assert_eq!(h.endpoint.session_count(), 0);
    let (_, mut rx) = h.request(Method::POST, "/a/0/s/xhr", &[("cookie", "token=ok")], "").stream();
    assert_eq!(h.read(&mut rx), (vec!["o\n".to_string()], true));
    assert_eq!(h.session(0).extensions().get::<User>(), Some(&User("alice")));
    assert!(h.session(0).headers().get("cookie").is_none(), "the application never sees cookies");
    let before = calls.load(std::sync::atomic::Ordering::SeqCst);
    h.request(Method::POST, "/a/0/s/xhr", &[], "");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), before, "not called for an existing session");
}

/// A refusal's reason reaches the client as the body, on HTTP transports
/// and on the websocket upgrade.
#[test]
fn authorize_refuses_with_a_reason() {
    let options = Options::new("/r").authorize(|request| match request.uri.query() {
        Some("banned") => Err(Refusal::new(StatusCode::FORBIDDEN, "Your account is suspended.")),
        _ => Ok(http::Extensions::new()),
    });
    let mut h = Harness::new(App::Capture, options);
    let r = h.request(Method::POST, "/r/0/s/xhr?banned", &[], "").full();
    assert_eq!((r.status().as_u16(), body(&r)), (403, "Your account is suspended.\n"));
    assert_eq!(r.headers()["content-type"], "text/plain; charset=UTF-8");
    let Dispatch::Response(r) = h.dispatch(ws_request("/r/0/w/websocket?banned", None)) else { panic!("not refused") };
    assert_eq!((r.status().as_u16(), body(&r)), (403, "Your account is suspended.\n"));
    assert_eq!(h.endpoint.session_count(), 0);
}

/// `session_headers`: a header the application names reaches
/// `Session::headers`; cookies do not unless named.
#[test]
fn session_headers_are_an_option() {
    let options = Options::new("/hd").session_header(http::HeaderName::from_static("x-tenant"));
    let mut h = Harness::new(App::Capture, options);
    let headers = [("x-tenant", "acme"), ("cookie", "sid=1"), ("user-agent", "ua")];
    h.request(Method::POST, "/hd/0/s/xhr", &headers, "");
    let session = h.session(0);
    assert_eq!(session.headers()["x-tenant"], "acme");
    assert_eq!(session.headers()["user-agent"], "ua", "the defaults stay");
    assert!(session.headers().get("cookie").is_none());
    let cookies = Options::new("/hc").session_headers([http::header::COOKIE]);
    let mut h = Harness::new(App::Capture, cookies);
    h.request(Method::POST, "/hc/0/s/xhr", &headers, "");
    assert_eq!(h.session(0).headers().len(), 1, "exactly the list");
    assert_eq!(h.session(0).headers()["cookie"], "sid=1");
}

/// Shutdown closes every session, websockets included, with 1001.
#[test]
fn shutdown_closes_everything() {
    let mut h = Harness::new(App::Capture, Options::new("/s"));
    let (_, mut stream) = h.post("/s/0/a/xhr_streaming", "").stream();
    h.read(&mut stream);
    let mut ws = h.websocket("/s/0/b/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    let mut raw = h.websocket("/s/websocket");
    h.endpoint.shutdown();
    assert_eq!(h.read(&mut stream), (vec!["c[1001,\"Server shutting down\"]\n".to_string()], true));
    assert_eq!(
        h.ws_read(&mut ws),
        vec![text(r#"c[1001,"Server shutting down"]"#), WsOutgoing::Close { code: 1001, reason: "Going away".into() }]
    );
    assert_eq!(h.ws_read(&mut raw), vec![WsOutgoing::Close { code: 1001, reason: "Going away".into() }]);
    for i in 0..3 {
        assert_eq!(h.session(i).close_reason(), Some(CloseReason::Shutdown));
    }
}

mod observability {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Collects every event as "message k=v ..." lines.
    #[derive(Default)]
    struct Collect {
        lines: Mutex<Vec<String>>,
        spans: Mutex<Vec<String>>,
        next: AtomicU64,
    }

    struct Line(String);

    impl Visit for Line {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0.insert_str(0, &format!("{value:?}"));
            } else {
                self.0.push_str(&format!(" {}={:?}", field.name(), value));
            }
        }
    }

    impl Subscriber for &'static Collect {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut line = Line(String::new());
            span.record(&mut line);
            self.spans.lock().unwrap().push(format!("{}{}", span.metadata().name(), line.0));
            Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut line = Line(String::new());
            event.record(&mut line);
            self.lines.lock().unwrap().push(line.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// Session open and end, server closes and rejected requests are
    /// traced; the application task runs inside a session span.
    ///
    /// The collector is the process-wide default: a dispatcher scoped to
    /// this thread can miss callsites that tests on other threads hit first.
    /// Other tests' events are collected too, so only this test's ids count.
    #[test]
    fn sessions_and_rejections_are_traced() {
        let collect: &'static Collect = Box::leak(Box::default());
        tracing::subscriber::set_global_default(collect).expect("the only global subscriber");
        let mut h = Harness::new(App::Close, Options::new("/traced"));
        h.poll_body("/traced/0/traced-id/xhr");
        h.get("/traced/missing");
        h.advance(Duration::from_secs(5));
        let lines = collect.lines.lock().unwrap().join("\n");
        assert!(lines.contains("session opened session=traced-id transport=xhr-polling"), "{lines}");
        assert!(
            lines.contains("session closed by the server session=traced-id code=3000 reason=\"Go away!\""),
            "{lines}"
        );
        assert!(lines.contains("session ended session=traced-id transport=xhr-polling reason=Server"), "{lines}");
        assert!(lines.contains("request rejected status=404 method=GET path=\"/traced/missing\""), "{lines}");
        let spans = collect.spans.lock().unwrap().join("\n");
        assert!(spans.contains("sockjs_session id=\"traced-id\" transport=xhr-polling"), "{spans}");
    }
}

/// A receiver that takes no frame for a whole heartbeat delay while one is
/// waiting is stalled: its session ends, and other sessions go on.
#[test]
fn stalled_receiver_ends_its_session() {
    let mut h = Harness::new(App::Capture, Options::new("/st"));
    let (_, mut slow) = h.post("/st/0/slow/xhr_streaming", "").stream();
    let (_, mut fast) = h.post("/st/0/fast/xhr_streaming", "").stream();
    h.read(&mut slow);
    h.read(&mut fast);
    let mut ws = h.websocket("/st/0/w/websocket");
    h.ws_read(&mut ws);
    h.advance(Duration::from_secs(25));
    // `fast` and the websocket take their heartbeats; `slow` does not read.
    assert_eq!(h.read(&mut fast), (vec!["h\n".to_string()], false));
    assert_eq!(h.ws_read(&mut ws), vec![text("h")]);
    h.advance(Duration::from_secs(25));
    assert_eq!(h.read(&mut fast), (vec!["h\n".to_string()], false));
    assert_eq!(h.ws_read(&mut ws), vec![text("h")]);
    let slow_session = h.session(0);
    assert_eq!(slow_session.id(), "slow");
    assert_eq!(slow_session.close_reason(), Some(CloseReason::Stalled));
    assert!(h.session(1).is_open() && h.session(2).is_open());
    assert_eq!(h.read(&mut slow), (vec![], true), "its response ends");
    assert_eq!(h.endpoint.session_count(), 2, "fast and the websocket");
}

/// §6: how a response ends depends on the request's transport, not on the
/// one that opened the session.
#[test]
fn the_requests_transport_decides_how_its_response_ends() {
    // Opened by a poll, then read by a stream: the stream keeps going.
    let mut h = Harness::new(App::Capture, Options::new("/mix"));
    h.poll_body("/mix/0/p/xhr");
    let session = h.session(0);
    let (_, mut stream) = h.post("/mix/0/p/xhr_streaming", "").stream();
    session.send("one").unwrap();
    let (chunks, ended) = h.read(&mut stream);
    assert_eq!((chunks.last().unwrap().as_str(), ended), ("a[\"one\"]\n", false));
    session.send("two").unwrap();
    assert_eq!(h.read(&mut stream), (vec!["a[\"two\"]\n".to_string()], false), "still streaming");
    drop(stream);

    // Opened by a stream, then polled: the poll ends after one frame.
    let mut h = Harness::new(App::Capture, Options::new("/mix"));
    let (_, mut stream) = h.post("/mix/0/s/xhr_streaming", "").stream();
    h.read(&mut stream);
    h.session(0).send("x").unwrap();
    h.read(&mut stream);
    drop(stream);
    let mut h2 = Harness::new(App::Capture, Options::new("/mix"));
    let (_, mut opened) = h2.post("/mix/0/t/xhr_streaming", "").stream();
    let (chunks, _) = h2.read(&mut opened);
    assert_eq!(chunks.last().unwrap(), "o\n");
    // Finish the stream by size so that the session has no receiver.
    let session = h2.session(0);
    session.send("y".repeat(200 * 1024)).unwrap();
    assert!(h2.read(&mut opened).1, "the stream ends past response_limit");
    session.send("a").unwrap();
    session.send("b").unwrap();
    assert_eq!(h2.poll_body("/mix/0/t/xhr"), "a[\"a\",\"b\"]\n", "one frame, then the poll ends");
}

/// Timer entries still waiting after their session is gone hold a few
/// bytes, not the session: its memory is released when it ends (found by
/// the 100 000-session soak, where pending heartbeat entries kept 54 MB).
#[test]
fn pending_timers_do_not_hold_ended_sessions() {
    let mut h = Harness::new(App::Capture, Options::new("/m"));
    h.poll_body("/m/0/s/xhr");
    let weak = Arc::downgrade(h.session(0).cell());
    assert_eq!(h.endpoint.metrics().pending_timers, 1);
    h.sessions.lock().unwrap().clear();
    h.advance(Duration::from_secs(5));
    assert_eq!(h.endpoint.session_count(), 0);
    assert_eq!(weak.strong_count(), 0, "the session is gone");
    assert_eq!(h.endpoint.metrics().pending_timers, 0, "and so is its timer entry");
}
