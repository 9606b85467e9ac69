//! Receiving transports and how each one wraps a frame (PROTOCOL.md §5, §7).

use bytes::{BufMut, Bytes, BytesMut};

use crate::frame::Frame;
use crate::json::{quote_into, Extra};

/// The transport a session receives its frames through.
///
/// Names follow sockjs-client's transport names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// SockJS-framed WebSocket (`.../websocket`).
    WebSocket,
    /// Raw WebSocket without SockJS framing (`<prefix>/websocket`).
    RawWebSocket,
    /// xhr-streaming (`.../xhr_streaming`, sends through `xhr_send`).
    XhrStreaming,
    /// xhr-polling (`.../xhr`, sends through `xhr_send`).
    XhrPolling,
    /// EventSource (`.../eventsource`, sends through `xhr_send`).
    EventSource,
    /// htmlfile in a hidden iframe (`.../htmlfile`, sends through `xhr_send`).
    HtmlFile,
    /// jsonp-polling (`.../jsonp`, sends through `jsonp_send`).
    JsonpPolling,
}

impl Transport {
    /// Every transport, in the order sockjs-client prefers them.
    pub const ALL: [Transport; 7] = [
        Transport::WebSocket,
        Transport::RawWebSocket,
        Transport::XhrStreaming,
        Transport::EventSource,
        Transport::HtmlFile,
        Transport::XhrPolling,
        Transport::JsonpPolling,
    ];

    /// The transport's name as sockjs-client spells it, e.g. `xhr-streaming`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::RawWebSocket => "websocket-raw",
            Transport::XhrStreaming => "xhr-streaming",
            Transport::XhrPolling => "xhr-polling",
            Transport::EventSource => "eventsource",
            Transport::HtmlFile => "htmlfile",
            Transport::JsonpPolling => "jsonp-polling",
        }
    }

    /// Whether a response of this transport ends after one frame.
    pub(crate) fn is_polling(self) -> bool {
        matches!(self, Transport::XhrPolling | Transport::JsonpPolling)
    }

    pub(crate) fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a transport wraps each frame on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `F\n` (xhr-polling and xhr-streaming).
    Xhr,
    /// `data: F\r\n\r\n` with `%` (and raw CR, LF, NUL) percent-encoded.
    EventSource,
    /// `<script>\np("F");\n</script>\r\n`.
    HtmlFile,
    /// `/**/callback("F");\r\n`.
    Jsonp(Box<str>),
    /// One websocket text message carrying exactly `F`.
    WebSocket,
}

impl Framing {
    /// Wraps one frame for the wire.
    pub(crate) fn wrap(&self, frame: &Frame) -> Bytes {
        let f = frame.as_bytes();
        match self {
            Framing::WebSocket => f.clone(),
            Framing::Xhr => {
                let mut out = BytesMut::with_capacity(f.len() + 1);
                out.put_slice(f);
                out.put_u8(b'\n');
                out.freeze()
            }
            Framing::EventSource => {
                let mut out = BytesMut::with_capacity(f.len() + 10);
                out.put_slice(b"data: ");
                let mut copied = 0;
                for (i, &b) in f.iter().enumerate() {
                    let esc: &[u8] = match b {
                        b'%' => b"%25",
                        b'\r' => b"%0D",
                        b'\n' => b"%0A",
                        0 => b"%00",
                        _ => continue,
                    };
                    out.put_slice(&f[copied..i]);
                    out.put_slice(esc);
                    copied = i + 1;
                }
                out.put_slice(&f[copied..]);
                out.put_slice(b"\r\n\r\n");
                out.freeze()
            }
            Framing::HtmlFile => {
                let mut out = Vec::with_capacity(f.len() + 32);
                out.extend_from_slice(b"<script>\np(");
                quote_into(&mut out, frame_str(f), Extra::Html);
                out.extend_from_slice(b");\n</script>\r\n");
                Bytes::from(out)
            }
            Framing::Jsonp(callback) => {
                let mut out = Vec::with_capacity(f.len() + callback.len() + 16);
                out.extend_from_slice(b"/**/");
                out.extend_from_slice(callback.as_bytes());
                out.push(b'(');
                quote_into(&mut out, frame_str(f), Extra::None);
                out.extend_from_slice(b");\r\n");
                Bytes::from(out)
            }
        }
    }
}

fn frame_str(frame: &[u8]) -> &str {
    // Frames are built from `str`s and ASCII punctuation only.
    std::str::from_utf8(frame).expect("frames are UTF-8")
}

/// The xhr-streaming prelude: 2048 `h` and a newline (PROTOCOL.md §7.6).
pub(crate) fn xhr_streaming_prelude() -> Bytes {
    static PRELUDE: [u8; 2049] = {
        let mut p = [b'h'; 2049];
        p[2048] = b'\n';
        p
    };
    Bytes::from_static(&PRELUDE)
}

/// The eventsource prelude (PROTOCOL.md §7.7).
pub(crate) fn eventsource_prelude() -> Bytes {
    Bytes::from_static(b"\r\n")
}

const HTMLFILE_TEMPLATE: &str = include_str!("templates/htmlfile.html");
const CALLBACK_PLACEHOLDER: &str = "{{ callback }}";

/// The first chunk of an htmlfile response: the page head with the
/// callback, padded with spaces past 1024 bytes (PROTOCOL.md §7.8).
pub(crate) fn htmlfile_prelude(callback: &str) -> Bytes {
    // Pad as sockjs-node does: the template, counted with its 14-byte
    // placeholder, is padded to 1037 bytes, then `\r\n\r\n` follows.
    const PADDED: usize = 1037;
    let padding = PADDED.saturating_sub(HTMLFILE_TEMPLATE.len());
    let mut out = Vec::with_capacity(PADDED + callback.len() + 4);
    out.extend_from_slice(HTMLFILE_TEMPLATE.replace(CALLBACK_PLACEHOLDER, callback).as_bytes());
    out.resize(out.len() + padding, b' ');
    out.extend_from_slice(b"\r\n\r\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §5: how each transport wraps a frame.
    #[test]
    fn wrapping_per_transport() {
        let a = Frame::message("x");
        assert_eq!(Framing::Xhr.wrap(&Frame::open()), "o\n");
        assert_eq!(Framing::EventSource.wrap(&Frame::open()), "data: o\r\n\r\n");
        assert_eq!(Framing::HtmlFile.wrap(&Frame::open()), "<script>\np(\"o\");\n</script>\r\n");
        assert_eq!(Framing::HtmlFile.wrap(&a), "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n");
        assert_eq!(Framing::Jsonp("callback".into()).wrap(&Frame::open()), "/**/callback(\"o\");\r\n");
        assert_eq!(Framing::Jsonp("x".into()).wrap(&Frame::message("b")), "/**/x(\"a[\\\"b\\\"]\");\r\n");
        assert_eq!(
            Framing::Jsonp("x".into()).wrap(&Frame::close(3000, "Go away!")),
            "/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n"
        );
        assert_eq!(Framing::WebSocket.wrap(&a), "a[\"x\"]");
    }

    /// §7.7: `%` becomes `%25`; JSON escapes stay literal text.
    #[test]
    fn eventsource_percent_encoding() {
        assert_eq!(Framing::EventSource.wrap(&Frame::message("100%")), "data: a[\"100%25\"]\r\n\r\n");
        assert_eq!(Framing::EventSource.wrap(&Frame::message("%61bc")), "data: a[\"%2561bc\"]\r\n\r\n");
        assert_eq!(Framing::EventSource.wrap(&Frame::message("  \u{0}\n\r ")), "data: a[\"  \\u0000\\n\\r \"]\r\n\r\n");
    }

    /// §7.6: the prelude is 2048 `h` and `\n`.
    #[test]
    fn xhr_streaming_prelude_bytes() {
        let p = xhr_streaming_prelude();
        assert_eq!(p.len(), 2049);
        assert!(p[..2048].iter().all(|&b| b == b'h'));
        assert_eq!(p[2048], b'\n');
    }

    /// §7.8: the htmlfile head, padded past 1024 bytes; 1035 bytes with
    /// the callback `callback`.
    #[test]
    fn htmlfile_head() {
        let head = htmlfile_prelude("callback");
        assert_eq!(head.len(), 1035);
        let text = std::str::from_utf8(&head).unwrap();
        assert!(text.ends_with(" \r\n\r\n"));
        assert!(text.trim().starts_with("<!doctype html>\n<html><head>"));
        assert!(text.contains("    var c = parent.callback;\n"));
        assert!(text.trim().ends_with("window.onload = function() {c.stop();};\n  </script>"));
        assert!(htmlfile_prelude("x").len() > 1024);
    }

    /// §5: a `</script>` inside a message cannot end the htmlfile script.
    #[test]
    fn htmlfile_cannot_be_broken_out_of() {
        let wrapped = Framing::HtmlFile.wrap(&Frame::message("</script><script>alert(1)</script>"));
        let text = std::str::from_utf8(&wrapped).unwrap();
        assert_eq!(text.matches("</script>").count(), 1);
        assert!(text.ends_with("\n</script>\r\n"));
    }
}
