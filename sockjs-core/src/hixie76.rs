//! The Hixie-76 (draft-76) websocket handshake and framing (PROTOCOL.md
//! §7.10), spoken by old browsers and some proxies' health checks.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{request, Response, StatusCode};
use md5::{Digest, Md5};

/// The Hixie-76 (draft-76) handshake and its framing (PROTOCOL.md §7.10).
///
/// The adapter writes [`Hixie76::response`] as soon as the request
/// arrives, without waiting for the 8-byte key that follows the request
/// headers; then it reads those 8 bytes, writes the 16 bytes of
/// [`Hixie76::answer`] in one write, and exchanges frames made with
/// [`Hixie76::encode`] and read with the engine's draft-76 decoder
/// (`WebSocket::handle_input` runs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hixie76 {
    number1: u32,
    number2: u32,
    origin: HeaderValue,
    location: String,
}

impl Hixie76 {
    pub(crate) fn from_request(request: &request::Parts, secure: bool) -> Option<Hixie76> {
        let h = &request.headers;
        let key = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).and_then(key_number);
        let (Some(number1), Some(number2)) = (key("sec-websocket-key1"), key("sec-websocket-key2")) else {
            return None;
        };
        let host = h.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
        let path = request.uri.path_and_query().map_or("/", |p| p.as_str());
        Some(Hixie76 {
            number1,
            number2,
            origin: h.get(header::ORIGIN).map(crate::headers::owned).unwrap_or(HeaderValue::from_static("null")),
            location: format!("{}://{host}{path}", if secure { "wss" } else { "ws" }),
        })
    }

    /// The 101 response head to send before reading the key.
    pub fn response(&self) -> Response<()> {
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert("sec-websocket-origin", self.origin.clone());
        if let Ok(location) = HeaderValue::from_str(&self.location) {
            h.insert("sec-websocket-location", location);
        }
        response
    }

    /// The 16-byte challenge answer for the 8 key bytes the client sends
    /// after its headers.
    pub fn answer(&self, key3: &[u8; 8]) -> [u8; 16] {
        let mut md5 = Md5::new();
        md5.update(self.number1.to_be_bytes());
        md5.update(self.number2.to_be_bytes());
        md5.update(key3);
        md5.finalize().into()
    }

    /// Frames one text message: `0x00`, the UTF-8 text, `0xFF`.
    pub fn encode(text: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(text.len() + 2);
        out.put_u8(0x00);
        out.put_slice(text);
        out.put_u8(0xFF);
        out.freeze()
    }

    /// The closing handshake frame `0xFF 0x00`.
    pub fn close_frame() -> Bytes {
        Bytes::from_static(&[0xFF, 0x00])
    }
}

/// The digits of a draft-76 key as a number, divided by its spaces.
fn key_number(key: &str) -> Option<u32> {
    let digits: String = key.chars().filter(char::is_ascii_digit).collect();
    let spaces = key.chars().filter(|&c| c == ' ').count() as u64;
    let number: u64 = digits.parse().ok()?;
    if spaces == 0 || number % spaces != 0 {
        return None;
    }
    u32::try_from(number / spaces).ok()
}

/// Reads Hixie-76 frames from a byte stream, in time linear in the bytes
/// it is given, however they are split.
#[derive(Debug, Default)]
pub struct Hixie76Decoder {
    buffer: BytesMut,
    /// How many bytes of a text frame's start were already searched for
    /// its end marker.
    scanned: usize,
}

/// One Hixie-76 frame read by [`Hixie76Decoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hixie76Frame {
    /// A text message.
    Text(String),
    /// The closing handshake.
    Close,
    /// Bytes that are not a valid frame: close the connection.
    Invalid,
}

impl Hixie76Decoder {
    /// A decoder with an empty buffer.
    pub fn new() -> Hixie76Decoder {
        Hixie76Decoder::default()
    }

    /// Appends received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// The 8 key bytes that follow the request head, once they are all
    /// there.
    pub(crate) fn take_key(&mut self) -> Option<[u8; 8]> {
        if self.buffer.len() < 8 {
            return None;
        }
        let key = self.buffer.split_to(8);
        Some(key[..].try_into().expect("eight bytes"))
    }

    /// The next complete frame, if the buffer holds one. Frames longer
    /// than `max_len` are [`Hixie76Frame::Invalid`].
    pub fn next_frame(&mut self, max_len: usize) -> Option<Hixie76Frame> {
        let first = *self.buffer.first()?;
        match first {
            0x00 => {
                let from = self.scanned.max(1);
                match self.buffer[from..].iter().position(|&b| b == 0xFF) {
                    Some(offset) => {
                        let end = from + offset;
                        self.scanned = 0;
                        let frame = self.buffer.split_to(end + 1);
                        Some(match std::str::from_utf8(&frame[1..end]) {
                            Ok(text) if end <= max_len.saturating_add(1) => Hixie76Frame::Text(text.to_string()),
                            _ => Hixie76Frame::Invalid,
                        })
                    }
                    None if self.buffer.len() > max_len.saturating_add(1) => Some(Hixie76Frame::Invalid),
                    None => {
                        self.scanned = self.buffer.len();
                        None
                    }
                }
            }
            0xFF => {
                let second = *self.buffer.get(1)?;
                Some(if second == 0x00 { Hixie76Frame::Close } else { Hixie76Frame::Invalid })
            }
            _ => Some(Hixie76Frame::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upgrade::tests::parts;
    use crate::upgrade::{check_upgrade, Handshake};
    use crate::Transport;

    /// §7.10: the draft-76 challenge from the protocol's example.
    #[test]
    fn hixie76_answer() {
        let req = parts(&[
            ("upgrade", "WebSocket"),
            ("connection", "Upgrade"),
            ("host", "127.0.0.1:8081"),
            ("origin", "http://127.0.0.1:8081"),
            ("sec-websocket-key1", "4 @1  46546xW%0l 1 5"),
            ("sec-websocket-key2", "12998 5 Y3 1  .P00"),
        ]);
        let Ok(Handshake::Hixie76(h)) = check_upgrade(&req, Transport::WebSocket, false) else {
            panic!("not hixie-76")
        };
        assert_eq!(
            h.answer(b"aaaaaaaa"),
            [0xca, 0x34, 0x00, 0xd8, 0xa5, 0x08, 0x47, 0x97, 0x2c, 0xd5, 0x71, 0x5a, 0xba, 0xbf, 0x43, 0x7b]
        );
        let head = h.response();
        assert_eq!(head.status(), 101);
        assert_eq!(head.headers()["sec-websocket-location"], "ws://127.0.0.1:8081/echo/0/0/websocket");
        assert_eq!(head.headers()["sec-websocket-origin"], "http://127.0.0.1:8081");
        assert!(head.headers().get("content-length").is_none());
    }

    /// §7.10 over TLS: the location names `wss://` when the connection is
    /// secure, as the endpoint decides it (the `Tls` mark, an `https`
    /// URI, or `X-Forwarded-Proto` from a trusted proxy only).
    #[test]
    fn hixie76_location_is_wss_over_tls() {
        let handshake = [
            ("upgrade", "WebSocket"),
            ("connection", "Upgrade"),
            ("host", "example.com"),
            ("sec-websocket-key1", "4 @1  46546xW%0l 1 5"),
            ("sec-websocket-key2", "12998 5 Y3 1  .P00"),
        ];
        let location = |req: &http::request::Parts, proxies: usize| {
            let secure = crate::headers::secure(req, proxies);
            let Ok(Handshake::Hixie76(h)) = check_upgrade(req, Transport::WebSocket, secure) else {
                panic!("not hixie-76")
            };
            h.response().headers()["sec-websocket-location"].to_str().unwrap().to_owned()
        };
        let plain = parts(&handshake);
        assert_eq!(location(&plain, 0), "ws://example.com/echo/0/0/websocket");
        let mut marked = parts(&handshake);
        marked.extensions.insert(crate::Tls);
        assert_eq!(location(&marked, 0), "wss://example.com/echo/0/0/websocket");
        let forwarded: Vec<_> = handshake.iter().copied().chain([("x-forwarded-proto", "https")]).collect();
        // Only a trusted proxy is believed.
        assert_eq!(location(&parts(&forwarded), 0), "ws://example.com/echo/0/0/websocket");
        assert_eq!(location(&parts(&forwarded), 1), "wss://example.com/echo/0/0/websocket");
        let http: Vec<_> = handshake.iter().copied().chain([("x-forwarded-proto", "http")]).collect();
        assert_eq!(location(&parts(&http), 1), "ws://example.com/echo/0/0/websocket");
    }

    #[test]
    fn hixie76_frames() {
        let mut d = Hixie76Decoder::new();
        d.extend(b"\x00[\"a\"]\xff\x00b");
        assert_eq!(d.next_frame(100), Some(Hixie76Frame::Text("[\"a\"]".into())));
        assert_eq!(d.next_frame(100), None, "partial frame");
        d.extend(b"\xff\xff");
        assert_eq!(d.next_frame(100), Some(Hixie76Frame::Text("b".into())));
        assert_eq!(d.next_frame(100), None);
        d.extend(b"\x00");
        assert_eq!(d.next_frame(100), Some(Hixie76Frame::Close));
        let mut d = Hixie76Decoder::new();
        d.extend(b"\x00xxxxx");
        assert_eq!(d.next_frame(3), Some(Hixie76Frame::Invalid), "too long");
        let mut d = Hixie76Decoder::new();
        d.extend(b"\x80");
        assert_eq!(d.next_frame(3), Some(Hixie76Frame::Invalid));
        assert_eq!(&Hixie76::encode(b"o")[..], b"\x00o\xff");
    }

    /// Found by the hixie76 fuzz target: a limit of usize::MAX overflowed.
    #[test]
    fn hixie76_unbounded_limit() {
        let mut d = Hixie76Decoder::new();
        d.extend(b"\x00abc");
        assert_eq!(d.next_frame(usize::MAX), None);
        d.extend(b"\xff");
        assert_eq!(d.next_frame(usize::MAX), Some(Hixie76Frame::Text("abc".into())));
    }

    /// A large frame arriving one byte at a time is scanned once: the
    /// decoder resumes where it stopped.
    #[test]
    fn hixie76_resumes_its_scan() {
        let mut d = Hixie76Decoder::new();
        d.extend(b"\x00");
        for _ in 0..10_000 {
            d.extend(b"a");
            assert_eq!(d.next_frame(100_000), None);
            assert_eq!(d.scanned, d.buffer.len());
        }
        d.extend(b"\xff");
        assert_eq!(d.next_frame(100_000), Some(Hixie76Frame::Text("a".repeat(10_000))));
        assert_eq!(d.scanned, 0);
    }
}
