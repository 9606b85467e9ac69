//! §7.10 and §7.11: SockJS-framed and raw websockets.
//! Driven through the endpoint like an adapter would, with the simulated
//! clock; each test names the PROTOCOL.md section it pins.

use super::*;

/// §7.10: `o`, echo, empty frames and `[]` ignored, bare values accepted.
#[test]
fn s7_10_websocket_echo() {
    let mut h = Harness::echo();
    let mut ws = h.websocket("/echo/0/0/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    ws.handle(WsIncoming::Text(""));
    ws.handle(WsIncoming::Text("[]"));
    ws.handle(WsIncoming::Text(r#"["a"]"#));
    assert_eq!(h.ws_read(&mut ws), vec![text(r#"a["a"]"#)]);
    ws.handle(WsIncoming::Text(r#""b""#));
    assert_eq!(h.ws_read(&mut ws), vec![text(r#"a["b"]"#)]);
    // Two websockets on one URL are two sessions.
    let mut other = h.websocket("/echo/0/0/websocket");
    assert_eq!(h.ws_read(&mut other), vec![text("o")]);
}

/// §7.10: broken JSON closes at once, with no `c` frame.
#[test]
fn s7_10_websocket_broken_json() {
    let mut h = Harness::echo();
    let mut ws = h.websocket("/echo/0/0/websocket");
    h.ws_read(&mut ws);
    ws.handle(WsIncoming::Text(r#"["a"#));
    assert_eq!(h.ws_read(&mut ws), vec![WsOutgoing::Close { code: 3000, reason: "Broken framing.".into() }]);
}

/// §7.10: `/close`: `o`, `c[3000,"Go away!"]`, then a close frame.
#[test]
fn s7_10_websocket_close() {
    let mut h = Harness::new(App::Close, Options::new("/close"));
    let mut ws = h.websocket("/close/0/0/websocket");
    assert_eq!(
        h.ws_read(&mut ws),
        vec![
            text("o"),
            text(r#"c[3000,"Go away!"]"#),
            WsOutgoing::Close { code: 1000, reason: "Normal closure".into() }
        ]
    );
}

/// §7.11: raw websockets: no framing, raw text, close reason `Go away!`.
#[test]
fn s7_11_raw_websocket() {
    let mut h = Harness::echo();
    let mut ws = h.websocket("/echo/websocket");
    assert_eq!(h.ws_read(&mut ws), vec![]);
    ws.handle(WsIncoming::Text("Hello world!\u{ffff}"));
    assert_eq!(h.ws_read(&mut ws), vec![text("Hello world!\u{ffff}")]);
    h.advance(Duration::from_secs(30));
    assert_eq!(h.ws_read(&mut ws), vec![], "no heartbeats on raw websockets");
    let mut c = Harness::new(App::Close, Options::new("/close"));
    let mut ws = c.websocket("/close/websocket");
    assert_eq!(c.ws_read(&mut ws), vec![WsOutgoing::Close { code: 3000, reason: "Go away!".into() }]);
}

/// §11: a websocket session ends at once when the client closes.
#[test]
fn s11_websocket_client_close() {
    let mut h = Harness::new(App::Capture, Options::new("/w"));
    let mut ws = h.websocket("/w/0/0/websocket");
    ws.handle(WsIncoming::<&str>::Close);
    assert_eq!(h.session(0).close_reason(), Some(CloseReason::Client));
    let mut ws2 = h.websocket("/w/0/0/websocket");
    drop(ws2.poll_output(&mut noop_cx(), h.now));
    drop(ws2);
    assert_eq!(h.session(1).close_reason(), Some(CloseReason::Interrupted));
}

/// Frames that are ready together leave in one write: a raw websocket's
/// three queued messages are three frames in one `poll_transmit`, and a
/// long queue is cut into writes of about `WRITE_JOIN_BYTES` that carry
/// every frame once, in order.
#[test]
fn ready_frames_share_one_write() {
    let mut h = Harness::new(App::Capture, Options::new("/j").max_queue(1 << 20));
    let mut ws = h.websocket("/j/websocket");
    for m in ["a", "bc", "def"] {
        h.session(0).send(m).unwrap();
    }
    h.run_tasks();
    let now = h.now;
    let Poll::Ready(Some(write)) = ws.poll(|ws, cx| ws.poll_transmit(cx, now)) else { panic!("nothing to write") };
    assert_eq!(&write[..], b"\x81\x01a\x81\x02bc\x81\x03def");
    assert!(ws.poll(|ws, cx| ws.poll_transmit(cx, now)).is_pending(), "all three went in one write");

    let message = "x".repeat(1000);
    for _ in 0..40 {
        h.session(0).send(&message).unwrap();
    }
    h.run_tasks();
    let frame = [&[0x81, 126, 0x03, 0xe8][..], message.as_bytes()].concat();
    let mut writes = Vec::new();
    while let Poll::Ready(Some(write)) = ws.poll(|ws, cx| ws.poll_transmit(cx, now)) {
        writes.push(write);
    }
    assert_eq!(writes.concat(), frame.repeat(40), "every frame once, in order");
    assert_eq!(writes.len(), 3, "40 frames of 1,004 bytes in writes of 17 (16 KiB and one frame)");
    assert!(writes.iter().all(|w| w.len() <= WRITE_JOIN_BYTES + frame.len()));
}
