//! The inbound bound: a full inbox slows the client down, never drops it.
//! Driven through the endpoint like an adapter would, with the simulated
//! clock; each test names the PROTOCOL.md section it pins.

use super::*;

/// A send request held for room in the inbox.
fn send(h: &mut Harness, path: &str, body: &str) -> Polled<Delivery> {
    let request = Request::post(path).body(()).unwrap();
    let Dispatch::ReadBody(pending) = h.dispatch(request) else { panic!("not a send URL") };
    Polled::new(pending.finish(body.as_bytes(), h.now))
}

fn status(delivery: &mut Polled<Delivery>) -> Option<StatusCode> {
    match delivery.poll(|d, cx| Pin::new(d).poll(cx)) {
        Poll::Ready(r) => Some(r.status()),
        Poll::Pending => None,
    }
}

/// An application that never receives holds at most `max_inbox`: a send
/// that does not fit waits (one per session; a second gets 503 at once),
/// and gives up with 503 after `send_timeout`. Nothing accepted is lost.
#[test]
fn inbox_is_bounded_for_an_application_that_never_receives() {
    let options = Options::new("/p").max_payload(200).max_inbox(4 * (100 + 32)).send_timeout(Duration::from_secs(10));
    let mut h = Harness::new(App::Capture, options);
    let (_, mut rx) = h.post("/p/0/s/xhr_streaming", "").stream();
    h.read(&mut rx);
    let hundred = format!("[\"{}\"]", "x".repeat(100));
    for _ in 0..4 {
        assert_eq!(h.post("/p/0/s/xhr_send", &hundred).full().status(), 204);
    }
    assert_eq!(h.endpoint.metrics().inbox_bytes, 4 * 132, "full");
    let mut waiting = send(&mut h, "/p/0/s/xhr_send", &hundred);
    assert_eq!(status(&mut waiting), None, "the fifth waits for room");
    let mut second = send(&mut h, "/p/0/s/xhr_send", &hundred);
    assert_eq!(status(&mut second), Some(StatusCode::SERVICE_UNAVAILABLE), "one waiting send per session");
    h.advance(Duration::from_secs(9));
    assert_eq!(status(&mut waiting), None);
    h.advance(Duration::from_secs(1));
    assert_eq!(status(&mut waiting), Some(StatusCode::SERVICE_UNAVAILABLE), "gave up after send_timeout");
    let m = h.endpoint.metrics();
    assert_eq!((m.inbox_bytes, m.messages_received), (4 * 132, 4));
    assert!(m.inbound_waits >= 1);
}

/// A slow reader gets every message once and in order: each waiting send
/// is let in as soon as the application makes room.
#[test]
fn slow_reader_receives_everything_in_order() {
    let mut h = Harness::new(App::Capture, Options::new("/p").max_payload(16).max_inbox(2 * (1 + 32)));
    h.poll_body("/p/0/s/xhr");
    let mut session = h.session(0);
    let mut received = Vec::new();
    let mut recv = Polled::new(());
    for i in 0..20 {
        let mut delivery = send(&mut h, "/p/0/s/xhr_send", &format!("[\"{}\"]", i % 10));
        while status(&mut delivery).is_none() {
            match recv.poll(|_, cx| Pin::new(&mut session).poll_next(cx)) {
                Poll::Ready(Some(m)) => received.push(m),
                other => panic!("a waiting send means a full inbox: {other:?}"),
            }
        }
    }
    while let Poll::Ready(Some(m)) = recv.poll(|_, cx| Pin::new(&mut session).poll_next(cx)) {
        received.push(m);
    }
    let expected: Vec<String> = (0..20).map(|i| (i % 10).to_string()).collect();
    assert_eq!(received, expected);
    assert_eq!(h.endpoint.metrics().inbox_bytes, 0);
}

/// A send whose messages alone cost more than the whole inbox may hold is
/// refused at once; dropping a waiting send withdraws its messages.
#[test]
fn oversized_and_withdrawn_sends() {
    let mut h = Harness::new(App::Capture, Options::new("/p").max_payload(16).max_inbox(64));
    h.poll_body("/p/0/s/xhr");
    assert_eq!(h.post("/p/0/s/xhr_send", r#"["a","b","c"]"#).full().status(), 413);
    assert_eq!(h.post("/p/0/s/xhr_send", r#"["a"]"#).full().status(), 204);
    let mut waiting = send(&mut h, "/p/0/s/xhr_send", r#"["b"]"#);
    assert_eq!(status(&mut waiting), None);
    drop(waiting);
    let mut session = h.session(0);
    let mut cx = noop_cx();
    assert_eq!(Pin::new(&mut session).poll_next(&mut cx), Poll::Ready(Some("a".to_string())));
    assert_eq!(Pin::new(&mut session).poll_next(&mut cx), Poll::Pending, "the withdrawn message never arrives");
    assert_eq!(h.post("/p/0/s/xhr_send", r#"["c"]"#).full().status(), 204, "the session takes sends again");
}

/// A websocket whose inbox is full is not read (`poll_ready` pends) while
/// its outgoing frames keep flowing; it is read again once there is room.
#[test]
fn websocket_backpressure() {
    let mut h = Harness::new(App::Capture, Options::new("/p").max_payload(16).max_inbox(2 * (1 + 32)));
    let mut ws = h.websocket("/p/0/w/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    // The input side of the driver's task, polled like the output side.
    let mut input = Polled::new(());
    let mut ready = |ws: &mut Ws| input.poll(|_, cx| ws.inner.poll_ready(cx)).is_ready();
    for m in ["[\"1\"]", "[\"2\"]"] {
        assert!(ready(&mut ws));
        ws.handle(msg(m));
    }
    assert!(ready(&mut ws));
    ws.handle(msg("[\"3\"]"));
    assert!(!ready(&mut ws), "full: stop reading");
    assert!(ws.holds_input());
    h.session(0).send("out").unwrap();
    assert_eq!(h.ws_read(&mut ws), vec![text("a[\"out\"]")], "frames still go out");
    let mut session = h.session(0);
    assert_eq!(Pin::new(&mut session).poll_next(&mut noop_cx()), Poll::Ready(Some("1".to_string())));
    assert!(ready(&mut ws), "woken and ready once the application took one");
    assert_eq!(h.endpoint.metrics().inbox_bytes, 2 * 33);
}

mod timer_properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Poll(u8),
        Send(u8),
        Abort,
        Stream(u8),
        Advance(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4u8).prop_map(Op::Poll),
            (0..4u8).prop_map(Op::Send),
            Just(Op::Abort),
            (0..4u8).prop_map(Op::Stream),
            (0..30_000u16).prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// After any sequence of polls, sends, aborts and timeouts, the
        /// timer queue holds at most one entry per live session.
        #[test]
        fn pending_timers_stay_within_one_per_session(ops in proptest::collection::vec(op(), 1..60)) {
            let mut h = Harness::echo();
            let mut streams: Vec<Rx> = Vec::new();
            for op in ops {
                match op {
                    Op::Poll(i) => {
                        let (_, mut rx) = h.post(&format!("/echo/0/s{i}/xhr"), "").stream();
                        h.read(&mut rx);
                        streams.push(rx);
                    }
                    Op::Send(i) => drop(h.post(&format!("/echo/0/s{i}/xhr_send"), r#"["m"]"#)),
                    Op::Abort => drop(streams.pop()),
                    Op::Stream(i) => {
                        let (_, mut rx) = h.post(&format!("/echo/0/s{i}/xhr_streaming"), "").stream();
                        h.read(&mut rx);
                        streams.push(rx);
                    }
                    Op::Advance(ms) => h.advance(Duration::from_millis(u64::from(ms))),
                }
                for rx in &mut streams {
                    let now = h.now;
                    while let Poll::Ready(Some(_)) = rx.poll(|rx, cx| rx.poll_chunk(cx, now)) {}
                }
                let m = h.endpoint.metrics();
                prop_assert!(m.pending_timers <= m.live_sessions(), "{:?}", m);
            }
        }
    }
}

/// §6 heartbeat: a websocket write that blocks because the client stopped
/// reading is given up once the session ends as stalled, two heartbeat
/// delays later (`poll_blocked` is ready), so the connection is not held
/// forever.
#[test]
fn a_blocked_websocket_write_is_abandoned_when_the_session_stalls() {
    let mut h = Harness::new(App::Capture, Options::new("/b"));
    let mut ws = h.websocket("/b/0/w/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    let session = h.session(0);
    session.send("x").unwrap();
    let now = h.now;
    assert!(matches!(ws.poll(|ws, cx| ws.poll_transmit(cx, now)), Poll::Ready(Some(_))), "the write starts");
    assert!(ws.poll(|ws, cx| ws.poll_blocked(cx)).is_pending());
    h.advance(Duration::from_secs(25));
    assert!(ws.poll(|ws, cx| ws.poll_blocked(cx)).is_pending(), "one heartbeat owed: not stalled yet");
    h.advance(Duration::from_secs(25));
    assert_eq!(ws.poll(|ws, cx| ws.poll_blocked(cx)), Poll::Ready(()), "woken and given up");
    assert_eq!(session.close_reason(), Some(CloseReason::Stalled));
}

/// The application can run inside the websocket driver: a message in is
/// echoed out within the driver's own polls, with no task of its own; an
/// application still busy when the connection ends is handed back.
#[test]
fn the_application_runs_inside_the_websocket_driver() {
    let mut h = Harness::echo();
    let Dispatch::WebSocket(upgrade) = h.dispatch(ws_request("/echo/0/w/websocket", None)) else { panic!() };
    let (mut ws, task) = upgrade.accept(h.now);
    ws.run_app(task);
    let mut ws = Polled::new(ws);
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    ws.handle(msg(r#"["a","b"]"#));
    assert_eq!(h.ws_read(&mut ws), vec![text(r#"a["a","b"]"#)], "echoed by the application inside the driver");
    assert!(h.tasks.is_empty(), "no task was spawned");
    assert!(ws.inner.into_app().is_some(), "the echo loop still runs: handed back");

    let busy = |mut session: Session| async move {
        while session.recv().await.is_some() {}
        std::future::pending::<()>().await;
    };
    let endpoint = Endpoint::new(Options::new("/busy"), busy);
    let (parts, ()) = ws_request("/busy/0/w/websocket", None).into_parts();
    let Dispatch::WebSocket(upgrade) = endpoint.handle(&parts, h.cx()) else { panic!() };
    let (mut ws, task) = upgrade.accept(h.now);
    ws.run_app(task);
    let mut ws = Polled::new(ws);
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    ws.handle(WsIncoming::<&str>::Close);
    assert_eq!(h.ws_read(&mut ws), vec![WsOutgoing::Close { code: 1000, reason: "Normal closure".into() }]);
    assert!(ws.inner.into_app().is_some(), "still busy after the session ended: spawn it to finish");
}

/// §5, §7: a broadcast `Message` reaches each transport wrapped as that
/// transport wraps frames, alone or joined with other queued messages,
/// and raw websockets get its bare text; the outgoing queue's accounting
/// comes back to zero.
#[test]
fn broadcast_messages_on_every_transport() {
    let mut h = Harness::new(App::Capture, Options::new("/b").max_queue(64));
    let message = Message::new("hi\n%");
    let (_, mut es) = h.get("/b/0/e/eventsource").stream();
    let (_, mut xs) = h.post("/b/0/x/xhr_streaming", "").stream();
    h.read(&mut es);
    h.read(&mut xs);
    let mut raw = h.websocket("/b/websocket");
    for i in 0..3 {
        h.session(i).send_message(&message).unwrap();
    }
    assert_eq!(h.read(&mut es).0, vec!["data: a[\"hi\\n%25\"]\r\n\r\n".to_string()]);
    assert_eq!(h.read(&mut xs).0, vec!["a[\"hi\\n%\"]\n".to_string()]);
    assert_eq!(h.ws_read(&mut raw), vec![text("hi\n%")]);
    // Joined with a message of the session's own.
    h.session(1).send("own").unwrap();
    h.session(1).send_message(&message).unwrap();
    assert_eq!(h.read(&mut xs).0, vec!["a[\"own\",\"hi\\n%\"]\n".to_string()]);
    // The queue's bound counts a broadcast message as the bytes this
    // session sends (5 for the raw text), and drains back to zero: 64
    // bytes hold twelve of them, and twelve again after they went out.
    for round in 0..2 {
        for _ in 0..12 {
            h.session(2).send_message(&message).unwrap();
        }
        assert_eq!(h.ws_read(&mut raw).len(), 12, "round {round}");
    }
}
