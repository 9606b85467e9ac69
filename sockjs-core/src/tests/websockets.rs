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
