//! The payload decoders on arbitrary bytes: they never panic, what
//! `decode_messages` accepts survives a round trip through
//! `Frame::messages`, and the websocket decoder agrees with it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_core::internals::{decode_messages, decode_websocket_text, Frame, PayloadError};

fuzz_target!(|data: &[u8]| {
    let decoded = decode_messages(data);

    // The websocket decoder never panics, whatever the text (invalid UTF-8
    // becomes U+FFFD, as a lossy adapter would pass it on).
    let lossy = String::from_utf8_lossy(data);
    let ws = decode_websocket_text(&lossy);

    // On valid UTF-8 both decoders parse the same JSON: an array gives the
    // same messages, broken JSON is broken for both.
    if let Ok(text) = std::str::from_utf8(data) {
        match &decoded {
            Ok(messages) => assert_eq!(ws.as_ref(), Ok(messages), "{text:?}"),
            Err(PayloadError::BrokenJson) => assert_eq!(ws, Err(PayloadError::BrokenJson), "{text:?}"),
            Err(PayloadError::Expected) if text.is_empty() => assert_eq!(ws, Ok(Vec::new())),
            // A JSON value that is not an array: one websocket message.
            Err(PayloadError::Expected) => assert_eq!(ws.as_ref().map(Vec::len), Ok(1), "{text:?}"),
            Err(e) => panic!("decode_messages returned {e:?}"),
        }
    }

    let Ok(messages) = decoded else { return };
    let frame = Frame::messages(messages.iter().map(String::as_str));
    let bytes = frame.as_bytes();
    assert_eq!(bytes.first(), Some(&b'a'), "{bytes:?}");
    let body = &bytes[1..];
    assert_eq!(decode_messages(body).as_ref(), Ok(&messages), "frame {bytes:?}");
    // A frame is ASCII-safe JSON text that the websocket decoder reads too.
    let body_text = std::str::from_utf8(body).expect("frames are UTF-8");
    assert_eq!(decode_websocket_text(body_text).as_ref(), Ok(&messages), "frame {bytes:?}");

    // One message per frame gives the same messages back, one by one.
    for message in &messages {
        let single = Frame::message(message);
        assert_eq!(single.as_bytes().first(), Some(&b'a'));
        assert_eq!(decode_messages(&single.as_bytes()[1..]), Ok(vec![message.clone()]), "{single:?}");
    }
});
