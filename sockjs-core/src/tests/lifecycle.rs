//! §6: a session's lifecycle: heartbeats, disconnect delays, contention, close and expiry.
//! Driven through the endpoint like an adapter would, with the simulated
//! clock; each test names the PROTOCOL.md section it pins.

use super::*;

/// §6: a second receiver gets 2010 and ends (after the contention grace
/// period); the first is unaffected.
#[test]
fn s6_second_receiver_gets_2010() {
    let mut h = Harness::echo();
    h.poll_body("/echo/0/s/xhr");
    let (_, mut first) = h.post("/echo/0/s/xhr", "").stream();
    assert_eq!(h.read(&mut first), (vec![], false));
    let (_, mut second) = h.post("/echo/0/s/xhr", "").stream();
    assert_eq!(h.read(&mut second), (vec![], false), "waits for the grace period");
    // A third request while one already waits is answered at once.
    assert_eq!(h.poll_body("/echo/0/s/xhr"), "c[2010,\"Another connection still open\"]\n");
    h.advance(h.endpoint.options().contention_grace);
    assert_eq!(h.read(&mut second), (vec!["c[2010,\"Another connection still open\"]\n".to_string()], true));
    let (_, mut streaming) = h.post("/echo/0/s/xhr_streaming", "").stream();
    let (chunks, ended) = h.read(&mut streaming);
    assert_eq!((chunks.len(), chunks[0].len(), ended), (1, 2049, false), "the prelude goes out at once");
    h.advance(h.endpoint.options().contention_grace);
    let (chunks, ended) = h.read(&mut streaming);
    assert_eq!((chunks, ended), (vec!["c[2010,\"Another connection still open\"]\n".to_string()], true));
    h.post("/echo/0/s/xhr_send", r#"["still"]"#);
    assert_eq!(h.read(&mut first), (vec!["a[\"still\"]\n".to_string()], true));
}

/// §6 "Abort": a request that arrives before the server noticed that the
/// previous one was dropped waits; once the drop is seen it gets 1002.
#[test]
fn s6_contender_sees_the_abort() {
    let mut h = Harness::echo();
    h.poll_body("/echo/0/s/xhr");
    let (_, first) = h.post("/echo/0/s/xhr", "").stream();
    let (_, mut second) = h.post("/echo/0/s/xhr", "").stream();
    assert_eq!(h.read(&mut second), (vec![], false));
    drop(first);
    assert_eq!(h.read(&mut second), (vec!["c[1002,\"Connection interrupted\"]\n".to_string()], true));
    assert_eq!(h.poll_body("/echo/0/s/xhr"), "o\n", "the id starts a new session");
}

/// §6: a contender takes the place of a receiver that finishes normally.
#[test]
fn s6_contender_takes_over_after_a_normal_end() {
    let mut h = Harness::echo();
    h.poll_body("/echo/0/s/xhr");
    let (_, mut first) = h.post("/echo/0/s/xhr", "").stream();
    let (_, mut second) = h.post("/echo/0/s/xhr", "").stream();
    h.post("/echo/0/s/xhr_send", r#"["one"]"#);
    assert_eq!(h.read(&mut first), (vec!["a[\"one\"]\n".to_string()], true));
    assert_eq!(h.read(&mut second), (vec![], false), "now the attached receiver");
    h.advance(h.endpoint.options().contention_grace);
    assert_eq!(h.read(&mut second), (vec![], false), "no 2010 once attached");
    h.post("/echo/0/s/xhr_send", r#"["two"]"#);
    assert_eq!(h.read(&mut second), (vec!["a[\"two\"]\n".to_string()], true));
    // A contender that goes away leaves the session as it was.
    let (_, _third) = h.post("/echo/0/s/xhr", "").stream();
    let (_, fourth) = h.post("/echo/0/s/xhr", "").stream();
    drop(fourth);
    h.post("/echo/0/s/xhr_send", r#"["three"]"#);
    assert_eq!(h.endpoint.session_count(), 1);
}

/// §6: `/close` sends `c[3000,"Go away!"]` to the current receiver and to
/// every later one until the session expires; then the id is new again.
#[test]
fn s6_close_frame_repeats_until_expiry() {
    let mut h = Harness::new(App::Close, Options::new("/close"));
    let (_, mut rx) = h.post("/close/0/s/xhr_streaming", "").stream();
    let (chunks, ended) = h.read(&mut rx);
    assert_eq!(&chunks[1..], ["o\n", "c[3000,\"Go away!\"]\n"]);
    assert!(ended);
    for _ in 0..2 {
        assert_eq!(h.poll_body("/close/0/s/xhr"), "c[3000,\"Go away!\"]\n");
        let (_, mut rx) = h.post("/close/0/s/xhr_streaming", "").stream();
        let (chunks, ended) = h.read(&mut rx);
        assert_eq!((chunks[0].len(), chunks[1].as_str(), ended), (2049, "c[3000,\"Go away!\"]\n", true));
    }
    assert_eq!(
        h.get("/close/0/s/jsonp?c=x").stream().1.poll_chunk(&mut noop_cx(), h.now),
        Poll::Ready(Some("/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n".into()))
    );
    h.advance(Duration::from_millis(4999));
    assert_eq!(h.endpoint.session_count(), 1, "each receiver restarted the timer");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.endpoint.session_count(), 0);
    assert_eq!(h.poll_body("/close/0/s/xhr"), "o\n");
}

/// §6 "Abort": a dropped receiver closes the session at once; the next
/// request opens a new one.
#[test]
fn s6_abort_closes_session_immediately() {
    for path in ["/echo/0/s/xhr", "/echo/0/s/xhr_streaming"] {
        let mut h = Harness::new(App::Capture, Options::new("/echo"));
        h.poll_body("/echo/0/s/xhr");
        let (_, mut rx) = h.post(path, "").stream();
        h.read(&mut rx);
        drop(rx);
        let session = h.session(0);
        assert_eq!(session.close_reason(), Some(CloseReason::Interrupted));
        assert!(!session.is_open());
        let (_, mut rx) = h.post(path, "").stream();
        let (chunks, _) = h.read(&mut rx);
        assert_eq!(chunks.last().unwrap(), "o\n", "{path}: a new session");
        assert_eq!(h.sessions.lock().unwrap().len(), 2);
    }
}

/// §6: messages sent while no receiver is attached go out as one frame.
#[test]
fn s6_buffered_messages_flush_as_one_frame() {
    let mut h = Harness::new(App::Capture, Options::new("/b"));
    h.poll_body("/b/0/s/xhr");
    let session = h.session(0);
    for _ in 0..8 {
        session.send("a").unwrap();
    }
    assert_eq!(h.poll_body("/b/0/s/xhr"), format!("a[{}]\n", ["\"a\""; 8].join(",")));
}

/// §6: a receiver gets `h` after heartbeat_delay; polling ends with it,
/// streaming continues.
#[test]
fn s6_heartbeat() {
    let mut h = Harness::echo();
    h.poll_body("/echo/0/p/xhr");
    let (_, mut poll) = h.post("/echo/0/p/xhr", "").stream();
    let (_, mut stream) = h.post("/echo/0/s/xhr_streaming", "").stream();
    h.read(&mut stream);
    h.advance(Duration::from_millis(24_999));
    assert_eq!(h.read(&mut poll), (vec![], false));
    assert_eq!(h.read(&mut stream), (vec![], false));
    h.advance(Duration::from_millis(1));
    assert_eq!(h.read(&mut poll), (vec!["h\n".to_string()], true));
    assert_eq!(h.read(&mut stream), (vec!["h\n".to_string()], false));
    h.advance(Duration::from_secs(25));
    assert_eq!(h.read(&mut stream), (vec!["h\n".to_string()], false));
    let mut ws = h.websocket("/echo/0/w/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    h.advance(Duration::from_secs(25));
    assert_eq!(h.ws_read(&mut ws), vec![text("h")]);
}

/// §6: no expiry while a receiver is attached, however long it waits.
#[test]
fn s6_no_expiry_while_attached() {
    let mut h = Harness::new(App::Capture, Options::new("/e"));
    h.poll_body("/e/0/s/xhr");
    let session = h.session(0);
    let (_, mut rx) = h.post("/e/0/s/xhr", "").stream();
    assert_eq!(h.read(&mut rx), (vec![], false));
    h.advance(Duration::from_secs(20));
    assert!(session.is_open());
    assert_eq!(h.endpoint.session_count(), 1);
}

/// §6: expiry with no receiver, and the end reason.
#[test]
fn s6_expiry_without_receiver() {
    let mut h = Harness::new(App::Capture, Options::new("/e"));
    h.poll_body("/e/0/s/xhr");
    let session = h.session(0);
    h.advance(Duration::from_millis(4999));
    assert!(session.is_open());
    h.advance(Duration::from_millis(1));
    assert!(!session.is_open());
    assert_eq!(session.close_reason(), Some(CloseReason::TimedOut));
    assert_eq!(session.send("late"), Err(SendError::Closed));
    assert_eq!(h.endpoint.session_count(), 0);
}

/// §11: messages queued at close go out first; sends after close are
/// dropped; xhr_send to a closed session answers 204, 404 after expiry.
#[test]
fn s11_close_ordering() {
    let mut h = Harness::new(App::Capture, Options::new("/q"));
    h.poll_body("/q/0/s/xhr");
    let session = h.session(0);
    session.send("a").unwrap();
    session.close(3000, "Go away!");
    assert_eq!(session.send("b"), Err(SendError::Closed));
    assert_eq!(h.poll_body("/q/0/s/xhr"), "a[\"a\"]\n");
    assert_eq!(h.poll_body("/q/0/s/xhr"), "c[3000,\"Go away!\"]\n");
    assert_eq!(h.post("/q/0/s/xhr_send", r#"["dropped"]"#).status(), 204);
    assert_eq!(h.request(Method::POST, "/q/0/s/jsonp_send", &[], r#"["dropped"]"#).full().body(), "ok");
    h.advance(Duration::from_secs(5));
    assert_eq!(h.post("/q/0/s/xhr_send", r#"["x"]"#).status(), 404);

    let mut h = Harness::new(App::Capture, Options::new("/q"));
    let (_, mut rx) = h.post("/q/0/t/xhr_streaming", "").stream();
    h.read(&mut rx);
    let session = h.session(0);
    session.send("a").unwrap();
    session.close(3001, "bye");
    let (chunks, ended) = h.read(&mut rx);
    assert_eq!((chunks, ended), (vec!["a[\"a\"]\n".to_string(), "c[3001,\"bye\"]\n".to_string()], true));
}

/// §11: the application's `recv` ends when the session does, after the
/// messages that arrived before.
#[test]
fn s11_application_sees_the_end() {
    let mut h = Harness::new(App::Capture, Options::new("/a"));
    let (_, rx) = h.post("/a/0/s/xhr_streaming", "").stream();
    h.post("/a/0/s/xhr_send", r#"["m1","m2"]"#);
    let mut session = h.session(0);
    drop(rx);
    let mut cx = noop_cx();
    let mut next = || std::pin::pin!(session.recv()).poll(&mut cx);
    assert_eq!(next(), Poll::Ready(Some("m1".into())));
    assert_eq!(next(), Poll::Ready(Some("m2".into())));
    assert_eq!(next(), Poll::Ready(None));
}

/// Dropping every handle closes the session with 1000.
#[test]
fn dropping_handles_closes_the_session() {
    let mut h = Harness::new(App::Capture, Options::new("/d"));
    h.poll_body("/d/0/s/xhr");
    h.sessions.lock().unwrap().clear();
    assert_eq!(h.poll_body("/d/0/s/xhr"), "c[1000,\"Normal closure\"]\n");
}

/// `handle_timeout` is harmless when called early or twice, and
/// `poll_timeout` names the next deadline.
#[test]
fn handle_timeout_early_or_twice() {
    let mut h = Harness::new(App::Capture, Options::new("/t"));
    h.poll_body("/t/0/s/xhr");
    let (_, mut rx) = h.post("/t/0/s/xhr", "").stream();
    let start = h.now;
    // The first poll's disconnect deadline went when the second attached:
    // the next one is the heartbeat.
    assert_eq!(h.endpoint.poll_timeout(), Some(start + Duration::from_secs(25)));
    for _ in 0..3 {
        h.endpoint.handle_timeout(start + Duration::from_secs(5));
        h.endpoint.handle_timeout(start + Duration::from_secs(10));
    }
    assert!(h.session(0).is_open());
    assert_eq!(h.endpoint.poll_timeout(), Some(start + Duration::from_secs(25)));
    assert_eq!(h.read(&mut rx), (vec![], false), "nothing is due early");
    h.now = start + Duration::from_secs(25);
    h.endpoint.handle_timeout(h.now);
    h.endpoint.handle_timeout(h.now);
    assert_eq!(h.read(&mut rx), (vec!["h\n".to_string()], true), "one heartbeat, however often called");
    assert!(h.session(0).is_open());
    assert_eq!(h.endpoint.poll_timeout(), Some(h.now + Duration::from_secs(5)), "the disconnect deadline");
}

/// The timer queue holds at most one entry per live session, however
/// often receivers attach and detach, and none once sessions are gone.
#[test]
fn timers_are_bounded_by_sessions() {
    let mut h = Harness::echo();
    for i in 0..5 {
        assert_eq!(h.poll_body(&format!("/echo/0/s{i}/xhr")), "o\n");
    }
    for round in 0..200 {
        for i in 0..5 {
            h.post(&format!("/echo/0/s{i}/xhr_send"), r#"["x"]"#);
            assert_eq!(h.poll_body(&format!("/echo/0/s{i}/xhr")), "a[\"x\"]\n");
        }
        h.advance(Duration::from_millis(10));
        let m = h.endpoint.metrics();
        assert!(m.pending_timers <= m.live_sessions(), "round {round}: {m:?}");
    }
    assert_eq!(h.endpoint.session_count(), 5);
    h.advance(Duration::from_secs(60));
    assert_eq!(h.endpoint.session_count(), 0);
    assert_eq!(h.endpoint.metrics().pending_timers, 0);
    assert!(h.endpoint.poll_timeout().is_none());
}
