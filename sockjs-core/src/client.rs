//! The client end of an RFC 6455 websocket, sans-IO: the opening handshake
//! and the framing, with permessage-deflate (RFC 7692) when the server
//! agrees. The same codec as the server's, with the roles swapped: the
//! client masks every frame it sends and fails the connection on a
//! masked server frame (RFC 6455 §5.1).
//!
//! 1. Make a [`Handshake`] with 16 random bytes (the key's nonce) and,
//!    to offer compression, a [`ClientDeflate`]; add its
//!    [`request_headers`](Handshake::request_headers) to the `GET` request.
//! 2. Give the response's status and headers to
//!    [`Handshake::finish`]: a valid 101 answer gives a [`ClientCodec`].
//! 3. Feed what the connection reads to [`ClientCodec::receive`] and take
//!    each [`Event`] from [`ClientCodec::next_event`]; write what
//!    [`ClientCodec::text`], [`ClientCodec::pong`] and
//!    [`ClientCodec::close`] return.
//!
//! The engine has no random source: every frame takes its masking key from
//! the caller, who must give a fresh, unpredictable one each time
//! (RFC 6455 §5.3; on tokio, `sockjs_driver::entropy` will do).
//!
//! ```
//! use sockjs_core::client::{ClientDeflate, Event, Handshake};
//! use sockjs_core::Deflate;
//!
//! let handshake = Handshake::new([7; 16], Some(ClientDeflate::new(Deflate::new())));
//! let mut request = http::HeaderMap::new();
//! handshake.request_headers(&mut request);
//! assert_eq!(request["sec-websocket-key"], "BwcHBwcHBwcHBwcHBwcHBw==");
//!
//! // The server's answer (computed by the server from the key).
//! let mut response = http::HeaderMap::new();
//! response.insert("upgrade", "websocket".parse().unwrap());
//! response.insert("connection", "Upgrade".parse().unwrap());
//! response.insert("sec-websocket-accept", "CdXSYUsvsaMthlEXWDNURGWA/1o=".parse().unwrap());
//! let mut codec = handshake.finish(http::StatusCode::SWITCHING_PROTOCOLS, &response, 1 << 20).unwrap();
//! assert_eq!(codec.extension(), None, "the server did not answer the offer");
//!
//! let frame = codec.text("hi", [1, 2, 3, 4]);
//! assert_eq!(&frame[..], [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
//! codec.receive(&[0x81, 0x02, b'o', b'k']);
//! assert_eq!(codec.next_event(), Some(Event::Text("ok".into())));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

use crate::deflate::{self, Deflate, Deflater, Pool};
use crate::rfc6455::{self, opcode, Decoder, Inbound, Role};
use crate::upgrade::{accept_key, base64, connection_upgrades};

/// permessage-deflate for client connections: the settings, read from the
/// client's side, and the deflate contexts lent to its connections one
/// message at a time. Clone it to share the contexts between connections.
///
/// [`Deflate`]'s settings mean, for a client: `level`, `min_size` and
/// `max_window_bits` are what the client compresses with (the window also
/// offered as `client_max_window_bits`; a server may lower it);
/// `client_no_context_takeover` offers, and keeps to, a fresh compressor
/// per message; `server_no_context_takeover` asks the server for the same,
/// so that the client holds no inflater between messages, and refuses a
/// server that does not agree. The defaults (both) hold no context while
/// the connection is idle.
#[derive(Debug, Clone)]
pub struct ClientDeflate {
    config: Deflate,
    pool: Arc<Pool>,
}

impl ClientDeflate {
    /// Compression offered with `config`.
    ///
    /// # Panics
    ///
    /// When `config`'s level is over 9 or its window outside 9 to 15.
    pub fn new(config: Deflate) -> ClientDeflate {
        if let Some(problem) = config.problem() {
            panic!("ClientDeflate: {problem}");
        }
        ClientDeflate { config, pool: Arc::new(Pool::new(&config)) }
    }
}

/// Why the server's answer to the handshake cannot open a websocket
/// (RFC 6455 §4.1: the client fails the connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError(Cow<'static, str>);

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandshakeError {}

/// A client's opening handshake (RFC 6455 §4.1): the request's headers, then the
/// check of the server's answer.
#[derive(Debug, Clone)]
pub struct Handshake {
    key: String,
    deflate: Option<ClientDeflate>,
}

impl Handshake {
    /// A handshake whose `Sec-WebSocket-Key` is `nonce` (16 random bytes,
    /// fresh for each connection), offering permessage-deflate when
    /// `deflate` is given.
    pub fn new(nonce: [u8; 16], deflate: Option<ClientDeflate>) -> Handshake {
        Handshake { key: base64(&nonce), deflate }
    }

    /// Sets the upgrade's headers in a request's `headers`: `Upgrade`,
    /// `Connection`, `Sec-WebSocket-Version`, `Sec-WebSocket-Key` and, with
    /// compression, the `Sec-WebSocket-Extensions` offer.
    pub fn request_headers(&self, headers: &mut HeaderMap) {
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        headers.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_str(&self.key).expect("base64"));
        if let Some(deflate) = &self.deflate {
            let offer = deflate::offer(&deflate.config);
            headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_str(&offer).expect("ASCII"));
        }
    }

    /// Checks the server's answer: a 101 that upgrades to websocket, the
    /// `Sec-WebSocket-Accept` of this key, no subprotocol (none was asked
    /// for), and no extension but a valid answer to the offer. The codec
    /// refuses messages over `max_message` bytes (after inflation) with
    /// 1009.
    pub fn finish(
        self,
        status: StatusCode,
        headers: &HeaderMap,
        max_message: usize,
    ) -> Result<ClientCodec, HandshakeError> {
        let fail = |reason: &'static str| Err(HandshakeError(Cow::Borrowed(reason)));
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(HandshakeError(format!("the server answered {status}, not 101").into()));
        }
        if !headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket")) {
            return fail("the answer does not upgrade to websocket");
        }
        if !connection_upgrades(headers) {
            return fail("the answer's Connection header has no upgrade");
        }
        if headers.get(header::SEC_WEBSOCKET_ACCEPT).map(HeaderValue::as_bytes)
            != Some(accept_key(self.key.as_bytes()).as_bytes())
        {
            return fail("a wrong Sec-WebSocket-Accept");
        }
        if headers.contains_key(header::SEC_WEBSOCKET_PROTOCOL) {
            return fail("a subprotocol that was not asked for");
        }
        let answers = headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS).iter().map(HeaderValue::as_bytes);
        let (inflater, deflater, extension) = match &self.deflate {
            None if headers.contains_key(header::SEC_WEBSOCKET_EXTENSIONS) => {
                return fail("an extension that was not offered")
            }
            None => (None, None, None),
            Some(ClientDeflate { config, pool }) => match deflate::check_answer(answers, config) {
                Err(reason) => return fail(reason),
                Ok(None) => (None, None, None),
                Ok(Some(answer)) => {
                    let (deflater, inflater) = deflate::for_client(answer, config, pool);
                    (Some(Box::new(inflater)), Some(deflater), Some(answer.describe()))
                }
            },
        };
        Ok(ClientCodec { decoder: Decoder::with_role(Role::Client, max_message, inflater), deflater, extension })
    }
}

/// What the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole text message, valid UTF-8 (inflated if it was compressed).
    Text(String),
    /// A whole binary message.
    Binary(Bytes),
    /// A ping: answer it with [`ClientCodec::pong`] of its payload.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The server's close frame, with its code if it had one and its
    /// reason. Answer it with a close frame, then close the connection.
    Close {
        /// The close code (valid by RFC 6455 §7.4), if the frame had one.
        code: Option<u16>,
        /// The close reason (empty without a code).
        reason: String,
    },
    /// The server broke the protocol: send [`ClientCodec::close`] with this
    /// code and reason (RFC 6455 §7.4.1), then close the connection.
    Fail {
        /// 1002 (protocol), 1007 (UTF-8) or 1009 (too big).
        code: u16,
        /// The reason to send.
        reason: &'static str,
    },
}

/// An open client websocket's framing. See the module docs.
#[derive(Debug)]
pub struct ClientCodec {
    decoder: Decoder,
    deflater: Option<Deflater>,
    /// The agreed permessage-deflate parameters.
    extension: Option<String>,
}

impl ClientCodec {
    /// The permessage-deflate parameters agreed with the server, as a
    /// `Sec-WebSocket-Extensions` value, or `None` without compression.
    pub fn extension(&self) -> Option<&str> {
        self.extension.as_deref()
    }

    /// Takes bytes read from the connection.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.decoder.extend(bytes);
    }

    /// The next thing the server sent, once its bytes are all there;
    /// nothing after a [`Event::Close`] or [`Event::Fail`].
    pub fn next_event(&mut self) -> Option<Event> {
        Some(match self.decoder.next()? {
            Inbound::Text(text) => Event::Text(text),
            Inbound::Binary(data) => Event::Binary(data),
            Inbound::Ping(data) => Event::Ping(data),
            Inbound::Pong => Event::Pong,
            Inbound::Close(code, reason) => Event::Close { code, reason },
            Inbound::Fail(failure) => Event::Fail { code: failure.code, reason: failure.reason },
        })
    }

    /// A text message's frame, masked with `mask`; compressed when
    /// permessage-deflate was agreed and the message is worth it.
    pub fn text(&mut self, text: &str, mask: [u8; 4]) -> Bytes {
        match self.deflater.as_mut().and_then(|d| d.compress(text.as_bytes())) {
            Some(payload) => rfc6455::encode_masked(opcode::TEXT, &payload, true, mask),
            None => rfc6455::encode_masked(opcode::TEXT, text.as_bytes(), false, mask),
        }
    }

    /// The pong that answers a ping's `payload` (at most 125 bytes: a
    /// ping's), masked with `mask`.
    pub fn pong(&self, payload: &[u8], mask: [u8; 4]) -> Bytes {
        let payload = &payload[..payload.len().min(rfc6455::MAX_CONTROL_PAYLOAD)];
        rfc6455::encode_masked(opcode::PONG, payload, false, mask)
    }

    /// A close frame with `code` and `reason` (cut to 123 bytes at a
    /// character), masked with `mask`.
    pub fn close(&self, code: u16, reason: &str, mask: [u8; 4]) -> Bytes {
        rfc6455::encode_close_masked(code, reason, mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::{for_connection, negotiate};

    const KEY: [u8; 16] = *b"the sample nonce";

    /// A server's 101 answer to `handshake`, with `extensions` if given.
    fn answer(handshake: &Handshake, extensions: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        let accept = accept_key(handshake.key.as_bytes());
        h.insert(header::SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&accept).unwrap());
        if let Some(e) = extensions {
            h.insert(header::SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_str(e).unwrap());
        }
        h
    }

    fn open(deflate: Option<Deflate>, extensions: Option<&str>) -> Result<ClientCodec, HandshakeError> {
        let handshake = Handshake::new(KEY, deflate.map(ClientDeflate::new));
        let headers = answer(&handshake, extensions);
        handshake.finish(StatusCode::SWITCHING_PROTOCOLS, &headers, 1000)
    }

    /// RFC 6455 §4.1: the key is the nonce in base64, the answer must carry its
    /// accept value, upgrade, and be a 101.
    #[test]
    fn handshake_checks() {
        let handshake = Handshake::new(KEY, None);
        let mut request = HeaderMap::new();
        handshake.request_headers(&mut request);
        assert_eq!(request[header::SEC_WEBSOCKET_KEY], "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(request[header::SEC_WEBSOCKET_VERSION], "13");
        assert!(!request.contains_key(header::SEC_WEBSOCKET_EXTENSIONS));
        // RFC 6455 §1.3's example key and accept value.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let good = answer(&handshake, None);
        assert!(handshake.clone().finish(StatusCode::SWITCHING_PROTOCOLS, &good, 10).is_ok());
        assert!(handshake.clone().finish(StatusCode::OK, &good, 10).is_err());
        for broken in [header::UPGRADE, header::CONNECTION, header::SEC_WEBSOCKET_ACCEPT] {
            let mut h = good.clone();
            h.insert(broken.clone(), HeaderValue::from_static("x"));
            assert!(handshake.clone().finish(StatusCode::SWITCHING_PROTOCOLS, &h, 10).is_err(), "{broken}");
        }
        let mut h = good.clone();
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("chat"));
        assert!(handshake.clone().finish(StatusCode::SWITCHING_PROTOCOLS, &h, 10).is_err());
        // RFC 6455 §9.1: an extension that was not offered.
        let e = open(None, Some("permessage-deflate")).unwrap_err();
        assert_eq!(e.to_string(), "an extension that was not offered");
    }

    /// RFC 6455 §5.1: a client fails the connection on a masked server frame
    /// (1002), and masks every frame it sends, with the key given.
    #[test]
    fn masking_by_role() {
        let mut codec = open(None, None).unwrap();
        // RFC 6455 §5.7's masked "Hello": a client's frame, not a server's.
        codec.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        assert_eq!(codec.next_event(), Some(Event::Fail { code: 1002, reason: "Protocol error" }));
        assert_eq!(codec.next_event(), None, "nothing after a failure");
        // The same text sent by the client is that very frame.
        let mut codec = open(None, None).unwrap();
        let hello = codec.text("Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(&hello[..], [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        // A server's decoder reads every client frame back.
        let mut server = Decoder::new(100_000, None);
        let long = "x".repeat(70_000);
        for frame in
            [codec.text(&long, [9, 8, 7, 6]), codec.pong(b"p", [1, 1, 1, 1]), codec.close(1000, "bye", [2, 3, 4, 5])]
        {
            assert_eq!(frame[1] & 0x80, 0x80, "the mask bit");
            server.extend(&frame);
        }
        assert_eq!(server.next(), Some(Inbound::Text(long)));
        assert_eq!(server.next(), Some(Inbound::Pong));
        assert_eq!(server.next(), Some(Inbound::Close(Some(1000), "bye".into())));
        // The server's unmasked frames are read, the close with its reason.
        codec.receive(&rfc6455::encode(opcode::TEXT, b"ok", false));
        codec.receive(&rfc6455::encode(opcode::PING, b"hb", false));
        codec.receive(&rfc6455::encode_close(3000, "Go away!"));
        assert_eq!(codec.next_event(), Some(Event::Text("ok".into())));
        assert_eq!(codec.next_event(), Some(Event::Ping(Bytes::from_static(b"hb"))));
        assert_eq!(codec.next_event(), Some(Event::Close { code: Some(3000), reason: "Go away!".into() }));
    }

    /// RFC 7692 §7.1: the offer, and which answers the client accepts.
    #[test]
    fn negotiation_accept_and_refuse() {
        let handshake = Handshake::new(KEY, Some(ClientDeflate::new(Deflate::new())));
        let mut request = HeaderMap::new();
        handshake.request_headers(&mut request);
        assert_eq!(
            request[header::SEC_WEBSOCKET_EXTENSIONS],
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"
        );
        let small = deflate::offer(&Deflate::new().max_window_bits(10).server_no_context_takeover(false));
        assert_eq!(small, "permessage-deflate; client_no_context_takeover; client_max_window_bits=10");
        // Our server's answer to that offer (§7.1.1.1: it must repeat
        // server_no_context_takeover), and no answer at all.
        let plain = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        assert_eq!(open(Some(Deflate::new()), Some(plain)).unwrap().extension(), Some(plain));
        assert_eq!(open(Some(Deflate::new()), None).unwrap().extension(), None);
        let windows =
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12";
        assert_eq!(
            open(Some(Deflate::new()), Some(windows)).unwrap().extension(),
            Some(
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"
            )
        );
        // Refused: what was not offered, or is not a valid answer.
        for bad in [
            "permessage-deflate; client_no_context_takeover",
            "x-webkit-deflate-frame",
            "permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=8",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; foo",
        ] {
            assert!(open(Some(Deflate::new()), Some(bad)).is_err(), "{bad}");
        }
        // Not having asked for server_no_context_takeover, its absence is fine.
        let takeover = Deflate::new().server_no_context_takeover(false);
        assert!(open(Some(takeover), Some("permessage-deflate")).is_ok());
    }

    /// RFC 7692 §6, §7.2: compressed messages both ways between this codec and
    /// the server's, negotiated by the server's own negotiation.
    #[test]
    fn compressed_round_trip_with_the_server_codec() {
        let server_config = Deflate::new();
        let handshake = Handshake::new(KEY, Some(ClientDeflate::new(Deflate::new().min_size(16))));
        let mut request = HeaderMap::new();
        handshake.request_headers(&mut request);
        let offers = request.get_all(header::SEC_WEBSOCKET_EXTENSIONS).iter().map(HeaderValue::as_bytes);
        let agreed = negotiate(offers, &server_config).expect("the server accepts the client's offer");
        let headers = answer(&handshake, Some(&agreed.response()));
        let mut client = handshake.finish(StatusCode::SWITCHING_PROTOCOLS, &headers, 1 << 20).unwrap();
        assert!(client.extension().is_some());
        let pool = Arc::new(Pool::new(&server_config));
        let (mut server_deflater, server_inflater) = for_connection(agreed, &server_config, &pool);
        let mut server = Decoder::new(1 << 20, Some(Box::new(server_inflater)));
        let text = "a message that says the same thing, again and again; ".repeat(20);
        for _ in 0..2 {
            let frame = client.text(&text, [5, 6, 7, 8]);
            assert_eq!(frame[0], 0xC1, "FIN, RSV1 (compressed), text");
            assert!(frame.len() < text.len() / 4, "{} bytes", frame.len());
            server.extend(&frame);
            assert_eq!(server.next(), Some(Inbound::Text(text.clone())));
            let reply = server_deflater.compress(text.as_bytes()).expect("compressed");
            client.receive(&rfc6455::encode(opcode::TEXT, &reply, true));
            assert_eq!(client.next_event(), Some(Event::Text(text.clone())));
        }
        // Below the minimum size: plain.
        assert_eq!(client.text("short", [0; 4])[0], 0x81);
    }

    /// The inflation bound holds on the client too: a small compressed
    /// frame that inflates past the limit fails with 1009.
    #[test]
    fn inflation_bound_on_the_client() {
        let plain = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        let handshake = Handshake::new(KEY, Some(ClientDeflate::new(Deflate::new())));
        let headers = answer(&handshake, Some(plain));
        let limit = 64 * 1024;
        let mut client = handshake.finish(StatusCode::SWITCHING_PROTOCOLS, &headers, limit).unwrap();
        let server_config = Deflate::new().level(9);
        let agreed = negotiate(std::iter::once(&b"permessage-deflate"[..]), &server_config).unwrap();
        let pool = Arc::new(Pool::new(&server_config));
        let (mut deflater, _) = for_connection(agreed, &server_config, &pool);
        let bomb = deflater.compress(&vec![b'a'; 8 << 20]).expect("compressed");
        assert!(bomb.len() < limit, "{} bytes on the wire", bomb.len());
        client.receive(&rfc6455::encode(opcode::TEXT, &bomb, true));
        assert_eq!(client.next_event(), Some(Event::Fail { code: 1009, reason: "Message too big" }));
        // Compressed frames need the extension: RSV1 without it is 1002.
        let mut plain_codec = open(None, None).unwrap();
        plain_codec.receive(&rfc6455::encode(opcode::TEXT, &bomb, true));
        assert_eq!(plain_codec.next_event(), Some(Event::Fail { code: 1002, reason: "Protocol error" }));
    }
}
