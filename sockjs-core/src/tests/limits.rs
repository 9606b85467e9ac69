//! Limits and metrics: the bounds of §10's options and what the counters count.
//! Driven through the endpoint like an adapter would, with the simulated
//! clock; each test names the PROTOCOL.md section it pins.

use super::*;

/// A client that never polls cannot grow the outgoing queue without bound:
/// the send that would overflow it closes the session.
#[test]
fn outgoing_queue_is_bounded() {
    let mut h = Harness::new(App::Capture, Options::new("/q").max_queue(1000));
    h.poll_body("/q/0/s/xhr");
    let session = h.session(0);
    let message = "x".repeat(100);
    let mut sent = 0;
    while session.send(&message).is_ok() {
        sent += 1;
        assert!(sent < 100, "the queue never filled");
    }
    assert_eq!(sent, 9, "nine frames of 106 bytes fit in 1000");
    assert_eq!(session.send("more"), Err(SendError::Closed));
    assert_eq!(session.close_reason(), Some(CloseReason::QueueFull));
    assert_eq!(h.poll_body("/q/0/s/xhr"), "c[1009,\"Outgoing queue full\"]\n");
}

/// A queue drained by a receiver does not count against the bound.
#[test]
fn drained_queue_frees_room() {
    let mut h = Harness::new(App::Capture, Options::new("/q").max_queue(1000));
    let (_, mut rx) = h.post("/q/0/s/xhr_streaming", "").stream();
    h.read(&mut rx);
    let session = h.session(0);
    for _ in 0..100 {
        session.send("x".repeat(100)).unwrap();
        assert_eq!(h.read(&mut rx).0.len(), 1);
    }
}

/// New sessions beyond `max_sessions` get 503; existing ones are unaffected.
#[test]
fn max_sessions_answers_503() {
    let mut h = Harness::new(App::Echo, Options::new("/m").max_sessions(2));
    h.poll_body("/m/0/a/xhr");
    let mut ws = h.websocket("/m/0/b/websocket");
    let r = h.post("/m/0/c/xhr", "");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["cache-control"], NO_CACHE);
    let ws_request = Request::get("/m/0/d/websocket")
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "x")
        .body(())
        .unwrap();
    assert!(matches!(h.dispatch(ws_request), Dispatch::Response(r) if r.status() == 503));
    assert_eq!(h.post("/m/0/a/xhr_send", r#"["still"]"#).status(), 204);
    assert_eq!(h.poll_body("/m/0/a/xhr"), "a[\"still\"]\n");
    ws.handle(WsIncoming::<&str>::Close);
    h.ws_read(&mut ws);
    assert_eq!(h.poll_body("/m/0/c/xhr"), "o\n", "room again once a session ended");
}

/// The counters follow sessions, messages and rejections.
#[test]
fn metrics_count() {
    let mut h = Harness::echo();
    h.poll_body("/echo/0/s/xhr");
    h.post("/echo/0/s/xhr_send", r#"["ab","c"]"#);
    h.run_tasks();
    let mut ws = h.websocket("/echo/0/w/websocket");
    h.get("/echo/nope");
    h.post("/echo/0/s/xhr_send", "[");
    let m = h.endpoint.metrics();
    assert_eq!((m.live(Transport::XhrPolling), m.live(Transport::WebSocket), m.live_sessions()), (1, 1, 2));
    assert_eq!((m.sessions_opened, m.sessions_closed), (2, 0));
    assert_eq!((m.messages_received, m.bytes_received), (2, 3));
    assert_eq!(m.messages_sent, 2);
    assert_eq!(m.requests_rejected, 2);
    assert_eq!(m.bytes_sent, 3, "o\\n for xhr and o for the websocket so far");
    ws.handle(WsIncoming::<&str>::Close);
    h.ws_read(&mut ws);
    h.advance(Duration::from_secs(5));
    let m = h.endpoint.metrics();
    assert_eq!((m.live_sessions(), m.sessions_closed), (0, 2));
}

/// Every 400 for a request the engine never got whole (a send body that
/// broke on the way, a request the server could not convert, a websocket
/// the server could not hand over) is built by the engine: the URL's CORS
/// and no-cache headers, and counted with the other rejections.
#[test]
fn bad_requests_carry_the_engines_headers_and_are_counted() {
    const ORIGIN: &str = "https://app.example";
    let mut h = Harness::echo();
    assert_eq!(h.poll_body("/echo/0/s/xhr"), "o\n");
    let rejected = |h: &Harness| h.endpoint.metrics().requests_rejected;
    let before = rejected(&h);

    let send = Request::post("/echo/0/s/xhr_send").header("origin", ORIGIN).body(()).unwrap();
    let Dispatch::ReadBody(pending) = h.dispatch(send) else { panic!("a send reads its body") };
    let broken = pending.broken();
    let mut request = HeaderMap::new();
    request.insert("origin", ORIGIN.parse().unwrap());
    let unconverted = h.endpoint.bad_request(&request);
    for (what, r) in [("broken body", &broken), ("unconverted request", &unconverted)] {
        assert_eq!(r.status(), 400, "{what}");
        assert_eq!(r.headers()["access-control-allow-origin"], ORIGIN, "{what}");
        assert_eq!(r.headers()["access-control-allow-credentials"], "true", "{what}");
        assert_eq!(r.headers()["cache-control"], NO_CACHE, "{what}");
        assert_eq!(r.headers()["content-type"], "text/plain; charset=UTF-8", "{what}");
    }
    assert_eq!(body(&broken), "Broken request body.\n");
    assert_eq!(rejected(&h), before + 2);

    let sessions = h.endpoint.session_count();
    let Dispatch::WebSocket(upgrade) = h.dispatch(ws_request("/echo/0/w/websocket", Some(ORIGIN))) else {
        panic!("a websocket")
    };
    let refused = upgrade.refuse();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.headers()["cache-control"], NO_CACHE);
    assert_eq!(rejected(&h), before + 3);
    assert_eq!(h.endpoint.session_count(), sessions, "no session opened");
}
