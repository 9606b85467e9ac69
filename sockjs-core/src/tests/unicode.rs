//! §8: unicode and the escape set, through every transport.
//! Driven through the endpoint like an adapter would, with the simulated
//! clock; each test names the PROTOCOL.md section it pins.

use super::*;

/// §8: the 44 escaped characters, echoed through xhr.
#[test]
fn s8_escape_set_round_trip() {
    let mut h = Harness::echo();
    let set: String = (0x200Cu32..=0x200F)
        .chain(0x2028..=0x202F)
        .chain(0x2060..=0x206F)
        .chain(0xFFF0..=0xFFFF)
        .filter_map(char::from_u32)
        .collect();
    h.poll_body("/echo/0/u/xhr");
    h.post("/echo/0/u/xhr_send", &serde_json::to_string(&[&set]).unwrap());
    let reply = h.poll_body("/echo/0/u/xhr");
    let expected: String = set.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    assert_eq!(reply, format!("a[\"{expected}\"]\n"));
}

mod properties {
    use super::*;
    use crate::transport::Framing;
    use proptest::prelude::*;

    fn escape_set(c: char) -> bool {
        matches!(c as u32, 0x200C..=0x200F | 0x2028..=0x202F | 0x2060..=0x206F | 0xFFF0..=0xFFFF)
    }

    /// Undoes a transport's wrapping, giving back the SockJS frame.
    fn unwrap_frame(framing: &Framing, wire: &str) -> String {
        match framing {
            Framing::Xhr => wire.strip_suffix('\n').unwrap().to_string(),
            Framing::WebSocket => wire.to_string(),
            Framing::EventSource => {
                let inner = wire.strip_prefix("data: ").unwrap().strip_suffix("\r\n\r\n").unwrap();
                inner.replace("%0D", "\r").replace("%0A", "\n").replace("%00", "\0").replace("%25", "%")
            }
            Framing::HtmlFile => {
                let inner = wire.strip_prefix("<script>\np(").unwrap().strip_suffix(");\n</script>\r\n").unwrap();
                serde_json::from_str(inner).unwrap()
            }
            Framing::Jsonp(cb) => {
                let inner = wire.strip_prefix(&format!("/**/{cb}(")).unwrap().strip_suffix(");\r\n").unwrap();
                serde_json::from_str(inner).unwrap()
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// §5 and §8: any string, framed for any transport, decodes back
        /// to itself and carries no raw character of the escape set.
        #[test]
        fn every_transport_round_trips(message in any::<String>()) {
            for framing in [Framing::Xhr, Framing::WebSocket, Framing::EventSource, Framing::HtmlFile, Framing::Jsonp("cb".into())] {
                let wire = framing.wrap(&Frame::message(&message));
                let wire = std::str::from_utf8(&wire).unwrap();
                prop_assert!(!wire.chars().any(escape_set), "{:?} leaks a raw escape-set char", framing);
                prop_assert!(!wire.chars().any(|c| (c as u32) < 0x20 && !matches!(c, '\n' | '\r')));
                let frame = unwrap_frame(&framing, wire);
                let body = frame.strip_prefix('a').unwrap();
                let back: Vec<String> = serde_json::from_str(body).unwrap();
                prop_assert_eq!(&back, &vec![message.clone()]);
            }
        }

        /// No request path, method or query can panic the endpoint.
        #[test]
        fn no_request_panics(path in "(/[a-z_.%0-9]{0,12}){0,5}", query in "[a-z=&%0-9.(*]{0,20}", method in 0..4usize, body in any::<Vec<u8>>()) {
            let mut h = Harness::echo();
            let method = [Method::GET, Method::POST, Method::OPTIONS, Method::PUT][method].clone();
            let Ok(request) = Request::builder().method(method).uri(format!("/echo{path}?{query}")).body(()) else { return Ok(()) };
            match h.dispatch(request) {
                Dispatch::ReadBody(pending) => { drop(pending.finish(&body, h.now)); }
                Dispatch::Stream { response, .. } => { let mut rx = Polled::new(response.into_body()); h.read(&mut rx); }
                _ => {}
            }
        }

        /// No payload can panic the decoders.
        #[test]
        fn no_payload_panics(body in any::<Vec<u8>>(), text in any::<String>()) {
            let _ = decode_messages(&body);
            let _ = decode_websocket_text(&text);
            let _ = crate::payload::callback(Some(&text));
            let _ = crate::payload::form_field(&body, "d");
        }
    }
}
