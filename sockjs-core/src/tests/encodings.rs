//! The encoders and decoders as plain functions: frames (§5), send bodies
//! (§7.5), websocket texts (§7.10) and routes (§3).

/// PROTOCOL.md §5: the open, message and close frames, the escape set applied.
#[test]
fn frame_encodings() {
    use crate::frame::Frame;
    assert_eq!(Frame::open().as_bytes(), &b"o"[..]);
    assert_eq!(Frame::message("hi").as_bytes(), &br#"a["hi"]"#[..]);
    assert_eq!(Frame::close(3000, "Go away!").as_bytes(), &br#"c[3000,"Go away!"]"#[..]);
    // The SockJS escape set is applied (PROTOCOL.md §8).
    assert_eq!(Frame::message("\u{2028}").as_bytes(), &br#"a["\u2028"]"#[..]);
}

/// PROTOCOL.md §7.5: a send body is one JSON array; anything else is refused.
#[test]
fn send_bodies_decode() {
    use crate::payload::{decode_messages, PayloadError};
    assert_eq!(decode_messages(br#"["a","\u00ff"]"#), Ok(vec!["a".to_string(), "\u{ff}".to_string()]));
    assert_eq!(decode_messages(b"[]"), Ok(vec![]));
    assert_eq!(decode_messages(b""), Err(PayloadError::Expected));
    assert_eq!(decode_messages(br#"["x"#), Err(PayloadError::BrokenJson));
    assert_eq!(decode_messages(b"{}"), Err(PayloadError::Expected));
}

/// PROTOCOL.md §7.10: a websocket text is an array, a bare value, or nothing.
#[test]
fn websocket_texts_decode() {
    use crate::payload::{decode_websocket_text, PayloadError};
    assert_eq!(decode_websocket_text(r#"["a","b"]"#), Ok(vec!["a".to_string(), "b".to_string()]));
    assert_eq!(decode_websocket_text(r#""a""#), Ok(vec!["a".to_string()]));
    assert_eq!(decode_websocket_text(""), Ok(vec![]));
    assert_eq!(decode_websocket_text(r#"["a"#), Err(PayloadError::BrokenJson));
}

/// PROTOCOL.md §3: paths route to their kind; a server id with a dot is no route.
#[test]
fn paths_route() {
    use crate::route::{route, Route, SessionUrl};
    assert_eq!(route("/echo", "/echo/info"), Some(Route::Info));
    assert_eq!(
        route("/echo", "/echo/000/abc/xhr"),
        Some(Route::Session { server_id: "000", session_id: "abc", kind: SessionUrl::Xhr })
    );
    assert_eq!(route("/echo", "/echo/a./a/xhr"), None);
}
