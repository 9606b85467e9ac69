//! Websocket upgrade requests (PROTOCOL.md §7.10, §7.11): the checks, the
//! RFC 6455 handshake answer, and opening the session once it is done.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header;
use http::request;

use crate::app::{self, AppTask, Handler};
use crate::deflate::{self, Agreed};
use crate::headers;
use crate::hixie76::{Hixie76, Hixie76Decoder};
use crate::receiver::{Limit, ReceiverBody};
use crate::responses::bad_request;
use crate::rfc6455::Decoder;
use crate::session::{Hub, SessionInfo};
use crate::transport::Framing;
use crate::websocket::{WebSocket, Wire};
use crate::Transport;

/// Which websocket handshake the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Handshake {
    Rfc6455,
    Hixie76(Hixie76),
}

pub(crate) const NOT_A_WEBSOCKET: &str = "Not a valid websocket request";
pub(crate) const ONLY_RFC6455: &str = "Only supported WebSocket protocol is RFC 6455.";

/// Whether a `Connection` header (of a request or of its 101 answer) lists
/// the `upgrade` token, in any case, among comma-separated tokens.
pub(crate) fn connection_upgrades(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.as_bytes().split(|&b| b == b',').any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade")))
}

/// Checks a websocket upgrade request; the error is the 400 body. `secure`:
/// the client's connection is TLS (a Hixie-76 answer names `wss://`).
pub(crate) fn check_upgrade(
    request: &request::Parts,
    transport: Transport,
    secure: bool,
) -> Result<Handshake, &'static str> {
    let h = &request.headers;
    let upgrade_ok = h.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !upgrade_ok || !connection_upgrades(h) {
        return Err(NOT_A_WEBSOCKET);
    }
    match h.get(header::SEC_WEBSOCKET_VERSION) {
        Some(v) if v == "13" || v == "8" => {
            if h.get(header::SEC_WEBSOCKET_KEY).is_some_and(|k| !k.is_empty()) {
                Ok(Handshake::Rfc6455)
            } else {
                Err(NOT_A_WEBSOCKET)
            }
        }
        None if transport == Transport::WebSocket => {
            Hixie76::from_request(request, secure).map(Handshake::Hixie76).ok_or(ONLY_RFC6455)
        }
        _ => Err(ONLY_RFC6455),
    }
}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (RFC 6455
/// §4.2.2), for adapters that answer the handshake themselves.
pub(crate) fn accept_key(key: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(&sha1.finalize())
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A websocket request that passed the checks. The adapter performs the
/// handshake, then calls [`WebSocketUpgrade::accept`].
pub struct WebSocketUpgrade {
    hub: Arc<Hub>,
    handler: Arc<dyn Handler>,
    handshake: Handshake,
    info: SessionInfo,
    key: Option<http::HeaderValue>,
    /// permessage-deflate, when offered and enabled.
    deflate: Option<Agreed>,
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("transport", &self.info.transport)
            .field("handshake", &self.handshake)
            .finish_non_exhaustive()
    }
}

impl WebSocketUpgrade {
    pub(crate) fn new(
        hub: Arc<Hub>,
        handler: Arc<dyn Handler>,
        handshake: Handshake,
        info: SessionInfo,
        request: &request::Parts,
    ) -> WebSocketUpgrade {
        let key = request.headers.get(header::SEC_WEBSOCKET_KEY).cloned();
        let deflate = match (&handshake, &hub.deflate) {
            (Handshake::Rfc6455, Some((config, _))) => {
                let offers = request.headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS).iter().map(|v| v.as_bytes());
                deflate::negotiate(offers, config)
            }
            _ => None,
        };
        WebSocketUpgrade { hub, handler, handshake, info, key, deflate }
    }

    /// [`Transport::WebSocket`] or [`Transport::RawWebSocket`].
    pub fn transport(&self) -> Transport {
        self.info.transport
    }

    /// The Hixie-76 (draft-76) handshake, when the client asked for it
    /// instead of RFC 6455.
    pub fn hixie76(&self) -> Option<&Hixie76> {
        match &self.handshake {
            Handshake::Hixie76(h) => Some(h),
            Handshake::Rfc6455 => None,
        }
    }

    /// The `101 Switching Protocols` response head to send: RFC 6455's
    /// (with `Sec-WebSocket-Accept`), or for a Hixie-76 request
    /// [`Hixie76::response`]. Send it, then [`WebSocketUpgrade::accept`]
    /// once the connection is handed over.
    pub fn response(&self) -> http::Response<()> {
        if let Handshake::Hixie76(hixie) = &self.handshake {
            return hixie.response();
        }
        let key = self.key.as_ref().map_or(&b""[..], |k| k.as_bytes());
        let mut response = http::Response::new(());
        *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(header::UPGRADE, http::HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, http::HeaderValue::from_static("Upgrade"));
        let accept = http::HeaderValue::from_str(&accept_key(key)).expect("base64 is a valid header value");
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        if let Some(agreed) = &self.deflate {
            let value = http::HeaderValue::from_str(&agreed.response()).expect("a valid header value");
            h.insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
        }
        response
    }

    /// The answer when the server cannot hand the connection over after
    /// all (the request was not upgradable there): 400, no-cache, counted
    /// in [`crate::Metrics::requests_rejected`]. No session opens.
    pub fn refuse(self) -> http::Response<Bytes> {
        let mut h = http::HeaderMap::new();
        headers::no_cache(&mut h);
        bad_request(&self.hub.counters, h, "Cannot upgrade this connection.")
    }

    /// The largest incoming message to accept; close with 1009 above it.
    pub fn max_message_size(&self) -> usize {
        self.hub.limits.max_payload
    }

    /// Opens the session once the handshake is done. Returns its driver
    /// and, if the application did not finish at once, its task to spawn
    /// (it already ran up to its first suspension point). The driver's
    /// first output is the open frame (SockJS-framed websockets).
    pub fn accept(self, now: Instant) -> (WebSocket, Option<AppTask>) {
        let framed = self.info.transport == Transport::WebSocket;
        let session = self.hub.create(self.info, framed, true, now);
        self.hub.add_websocket(&session);
        let receiver = ReceiverBody::opening(&session, Framing::WebSocket, Limit::None, None, framed, now);
        let max_message_size = self.hub.limits.max_payload;
        let wire = match self.handshake {
            Handshake::Hixie76(hixie) => {
                Wire::Hixie76 { hixie, decoder: Hixie76Decoder::new(), keyed: false, answer: None }
            }
            Handshake::Rfc6455 => {
                let halves = match (self.deflate, &self.hub.deflate) {
                    (Some(agreed), Some((config, pool))) => Some(deflate::for_connection(agreed, config, pool)),
                    _ => None,
                };
                let (deflater, inflater) = halves.map(|(d, i)| (Box::new(d), Box::new(i))).unzip();
                Wire::Rfc6455 { decoder: Decoder::new(max_message_size, inflater), deflater }
            }
        };
        let task = app::start(&*self.handler, session.clone());
        (WebSocket::new(receiver, session, max_message_size, wire), task)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use http::Request;

    /// A websocket request head with these headers.
    pub(crate) fn parts(headers: &[(&str, &str)]) -> request::Parts {
        let mut b = Request::get("/echo/0/0/websocket");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    /// §7.10: upgrade checks.
    #[test]
    fn upgrade_checks() {
        let ok = [
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "x3JJHMbDL1EzLkh9GBhXDw=="),
        ];
        assert_eq!(check_upgrade(&parts(&ok), Transport::WebSocket, false), Ok(Handshake::Rfc6455));
        assert_eq!(check_upgrade(&parts(&[]), Transport::WebSocket, false), Err(NOT_A_WEBSOCKET));
        let close = [
            ("upgrade", "WebSocket"),
            ("connection", "close"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "x"),
        ];
        assert_eq!(check_upgrade(&parts(&close), Transport::WebSocket, false), Err(NOT_A_WEBSOCKET));
        let v7 = [
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-version", "7"),
            ("sec-websocket-key", "x"),
        ];
        assert_eq!(check_upgrade(&parts(&v7), Transport::RawWebSocket, false), Err(ONLY_RFC6455));
    }

    /// RFC 6455 §1.3's example key and answer.
    #[test]
    fn accept_key_example() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }
}
