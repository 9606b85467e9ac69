//! WebSocket sessions (PROTOCOL.md §7.10, §7.11): checking the upgrade
//! request, the session driver, and the Hixie-76 handshake and framing.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{request, Response, StatusCode};
use md5::{Digest, Md5};

use crate::endpoint::{AppTask, Shared};
use crate::payload::decode_websocket_text;
use crate::receiver::{Mode, Receiver};
use crate::session::{CloseReason, Session, SessionCell, SessionInfo};
use crate::transport::Framing;
use crate::Transport;

/// Which websocket handshake the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Handshake {
    Rfc6455,
    Hixie76(Hixie76),
}

const NOT_A_WEBSOCKET: &str = "Not a valid websocket request";
const ONLY_RFC6455: &str = "Only supported WebSocket protocol is RFC 6455.";

/// Checks a websocket upgrade request; the error is the 400 body.
pub(crate) fn check_upgrade(request: &request::Parts, transport: Transport) -> Result<Handshake, &'static str> {
    let h = &request.headers;
    let upgrade_ok = h.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let connection_ok = h
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.as_bytes().split(|&b| b == b',').any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade")));
    if !upgrade_ok || !connection_ok {
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
        None if transport == Transport::WebSocket => Hixie76::from_request(request).map(Handshake::Hixie76),
        _ => Err(ONLY_RFC6455),
    }
}

/// A websocket request that passed the checks. The adapter performs the
/// handshake, then calls [`WebSocketUpgrade::accept`].
pub struct WebSocketUpgrade {
    endpoint: Arc<Shared>,
    handshake: Handshake,
    info: SessionInfo,
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
    pub(crate) fn new(endpoint: Arc<Shared>, handshake: Handshake, info: SessionInfo) -> WebSocketUpgrade {
        WebSocketUpgrade { endpoint, handshake, info }
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

    /// The largest incoming message to accept; close with 1009 above it.
    pub fn max_message_size(&self) -> usize {
        self.endpoint.options.max_payload
    }

    /// Opens the session once the handshake is done. Returns its driver
    /// and the application task to spawn. The driver's first output is the
    /// open frame (SockJS-framed websockets).
    pub fn accept(self, now: Instant) -> (WebSocket, AppTask) {
        let framed = self.info.transport == Transport::WebSocket;
        let session = self.endpoint.new_session(self.info, framed);
        let mut state = session.lock();
        let mut receiver =
            Receiver::attach(&self.endpoint, &session, &mut state, Framing::WebSocket, Mode::WebSocket, None, now);
        if framed {
            receiver.open(&mut state, now);
        }
        drop(state);
        let task = self.endpoint.start_app(Session::new(session.clone()));
        let max_message_size = self.endpoint.options.max_payload;
        let key = self.endpoint.next_id();
        self.endpoint.websockets.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::downgrade(&session));
        let ws = WebSocket {
            receiver,
            session,
            failure: None,
            closed: false,
            max_message_size,
            endpoint: self.endpoint,
            key,
        };
        (ws, task)
    }
}

/// What to send on a websocket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outgoing {
    /// One text message.
    Text(Bytes),
    /// A close frame; then close the connection.
    Close {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: &'static str,
    },
    /// A pong answering the client's ping.
    Pong(Bytes),
}

/// What a websocket connection received, as [`WebSocket::run`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming<T> {
    /// A text message.
    Text(T),
    /// A binary message.
    Binary(Bytes),
    /// A ping (answered with a pong).
    Ping(Bytes),
    /// A pong (ignored).
    Pong,
    /// The client's close frame.
    Close,
    /// A message over [`WebSocketUpgrade::max_message_size`].
    TooLarge,
    /// The connection failed.
    Error,
}

/// The sending half of a connection, for [`WebSocket::run`] and
/// [`Hixie76::run`]. An error means the connection is gone.
pub trait Sink<T> {
    /// Sends one item and flushes it.
    fn send(&mut self, item: T) -> impl Future<Output = Result<(), Closed>> + Send;
}

/// The connection is closed; nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection is closed")
    }
}

impl std::error::Error for Closed {}

/// The driver of one websocket session.
///
/// Feed it what the client sends ([`WebSocket::handle_text`],
/// [`WebSocket::handle_binary`], [`WebSocket::handle_close`]) and write
/// what [`WebSocket::poll_output`] returns. Drop it when the connection
/// is gone: the session then ends at once.
pub struct WebSocket {
    receiver: Receiver,
    session: Arc<SessionCell>,
    failure: Option<(u16, &'static str)>,
    closed: bool,
    max_message_size: usize,
    endpoint: Arc<Shared>,
    key: u64,
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        self.endpoint.websockets.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket").field("id", &self.session.info.id).finish_non_exhaustive()
    }
}

impl WebSocket {
    /// Handles one text message from the client.
    pub fn handle_text(&mut self, text: &str) {
        if self.session.framed {
            match decode_websocket_text(text) {
                Ok(messages) => self.session.lock().deliver(messages),
                // Broken JSON: close at once, without a `c` frame.
                Err(_) => self.fail(3000, "Broken framing.", CloseReason::ProtocolError),
            }
        } else {
            self.session.lock().deliver([text.to_string()]);
        }
    }

    /// Handles one binary message: read as UTF-8 text, or the connection
    /// is closed with 1007.
    pub fn handle_binary(&mut self, data: &[u8]) {
        match std::str::from_utf8(data) {
            Ok(text) => self.handle_text(text),
            Err(_) => self.fail(1007, "Invalid UTF-8", CloseReason::ProtocolError),
        }
    }

    fn receiver_limit(&self) -> usize {
        self.max_message_size
    }

    /// Handles a message over [`WebSocketUpgrade::max_message_size`]:
    /// the connection is closed with 1009.
    pub fn handle_too_large(&mut self) {
        self.fail(1009, "Message too big", CloseReason::ProtocolError);
    }

    /// Handles the client's close frame: the session ends now.
    pub fn handle_close(&mut self) {
        self.receiver.end_session(CloseReason::Client);
    }

    fn fail(&mut self, code: u16, reason: &'static str, why: CloseReason) {
        if self.failure.is_none() && !self.closed {
            self.failure = Some((code, reason));
            self.receiver.end_session(why);
        }
    }

    /// The next thing to send: text messages, then one close frame, then
    /// `None` (close the connection).
    pub fn poll_output(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Option<Outgoing>> {
        if self.closed {
            return Poll::Ready(None);
        }
        if let Some((code, reason)) = self.failure.take() {
            self.closed = true;
            return Poll::Ready(Some(Outgoing::Close { code, reason }));
        }
        match self.receiver.poll_chunk(cx, now) {
            Poll::Ready(Some(text)) => Poll::Ready(Some(Outgoing::Text(text))),
            Poll::Ready(None) => {
                self.closed = true;
                Poll::Ready(Some(self.close_frame()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The close frame after the session ended: SockJS-framed sessions
    /// already sent `c[...]` and close with 1000; raw websockets carry the
    /// application's code and reason.
    fn close_frame(&self) -> Outgoing {
        let reason = self.session.lock().reason.clone();
        match reason {
            Some(CloseReason::Server { code, reason }) if !self.session.framed => {
                let code = if code == 1000 || (3000..=4999).contains(&code) { code } else { 1000 };
                Outgoing::Close { code, reason: leak_reason(reason) }
            }
            Some(CloseReason::Shutdown) => Outgoing::Close { code: 1001, reason: "Going away" },
            _ => Outgoing::Close { code: 1000, reason: "Normal closure" },
        }
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session.info.id
    }

    /// Handles one received item.
    pub fn handle<T: AsRef<str>>(&mut self, incoming: Incoming<T>) -> Option<Outgoing> {
        match incoming {
            Incoming::Text(text) => self.handle_text(text.as_ref()),
            Incoming::Binary(data) => self.handle_binary(&data),
            Incoming::Ping(data) => return Some(Outgoing::Pong(data)),
            Incoming::Pong => {}
            Incoming::Close => self.handle_close(),
            Incoming::TooLarge => self.handle_too_large(),
            Incoming::Error => self.receiver.end_session(CloseReason::Interrupted),
        }
        None
    }

    /// Runs the session over a connection until it ends: feeds what
    /// `incoming` yields (converted by `convert`) to the driver and sends
    /// what it outputs through `sink`, reading the time from `clock`.
    /// Returns after the close frame was sent, or when the connection is
    /// gone.
    pub async fn run<I, T, S>(
        mut self,
        mut incoming: I,
        convert: impl Fn(I::Item) -> Incoming<T>,
        sink: &mut S,
        clock: fn() -> Instant,
    ) where
        I: Stream + Unpin,
        T: AsRef<str>,
        S: Sink<Outgoing>,
    {
        loop {
            let event = poll_fn(|cx| {
                if let Poll::Ready(output) = self.poll_output(cx, clock()) {
                    return Poll::Ready(Event::Output(output));
                }
                Pin::new(&mut incoming).poll_next(cx).map(Event::Input)
            })
            .await;
            let output = match event {
                Event::Output(Some(output)) => output,
                Event::Output(None) | Event::Input(None) => return,
                Event::Input(Some(item)) => match self.handle(convert(item)) {
                    Some(reply) => reply,
                    None => continue,
                },
            };
            let closing = matches!(output, Outgoing::Close { .. });
            if sink.send(output).await.is_err() || closing {
                return;
            }
        }
    }
}

enum Event<O, I> {
    Output(O),
    Input(I),
}

/// Close reasons are almost always one of a few literals; keep them
/// `'static` without leaking memory per connection.
fn leak_reason(reason: String) -> &'static str {
    match reason.as_str() {
        "Go away!" => "Go away!",
        "Normal closure" => "Normal closure",
        "" => "",
        // A websocket close reason is at most 123 bytes.
        _ => "Server closed the session",
    }
}

/// The Hixie-76 (draft-76) handshake and its framing (PROTOCOL.md §7.10).
///
/// The adapter writes [`Hixie76::response`] as soon as the request
/// arrives, without waiting for the 8-byte key that follows the request
/// headers; then it reads those 8 bytes, writes the 16 bytes of
/// [`Hixie76::answer`] in one write, and exchanges frames made with
/// [`Hixie76::encode`] and read with [`Hixie76Decoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hixie76 {
    number1: u32,
    number2: u32,
    origin: HeaderValue,
    location: String,
}

impl Hixie76 {
    fn from_request(request: &request::Parts) -> Result<Hixie76, &'static str> {
        let h = &request.headers;
        let key = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).and_then(key_number);
        let (Some(number1), Some(number2)) = (key("sec-websocket-key1"), key("sec-websocket-key2")) else {
            return Err(ONLY_RFC6455);
        };
        let host = h.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
        let path = request.uri.path_and_query().map_or("/", |p| p.as_str());
        Ok(Hixie76 {
            number1,
            number2,
            origin: h.get(header::ORIGIN).cloned().unwrap_or(HeaderValue::from_static("null")),
            location: format!("ws://{host}{path}"),
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

    /// Runs a draft-76 connection after the 101 head went out: reads the
    /// client's 8 key bytes from `incoming`, sends the 16-byte answer in
    /// one write, then carries frames between the connection and `ws`.
    pub async fn run<I, S>(self, mut ws: WebSocket, mut incoming: I, sink: &mut S, clock: fn() -> Instant)
    where
        I: Stream<Item = Bytes> + Unpin,
        S: Sink<Bytes>,
    {
        let limit = ws.receiver_limit();
        let mut decoder = Hixie76Decoder::new();
        while decoder.buffer.len() < 8 {
            match poll_fn(|cx| Pin::new(&mut incoming).poll_next(cx)).await {
                Some(chunk) => decoder.extend(&chunk),
                None => return,
            }
        }
        let key = decoder.buffer.split_to(8);
        let key3: [u8; 8] = key[..].try_into().expect("eight bytes");
        if sink.send(Bytes::copy_from_slice(&self.answer(&key3))).await.is_err() {
            return;
        }
        loop {
            while let Some(frame) = decoder.next_frame(limit) {
                match frame {
                    Hixie76Frame::Text(text) => ws.handle_text(&text),
                    _ => {
                        ws.handle_close();
                        let _ = sink.send(Hixie76::close_frame()).await;
                        return;
                    }
                }
            }
            let event = poll_fn(|cx| {
                if let Poll::Ready(output) = ws.poll_output(cx, clock()) {
                    return Poll::Ready(Event::Output(output));
                }
                Pin::new(&mut incoming).poll_next(cx).map(Event::Input)
            })
            .await;
            match event {
                Event::Output(Some(Outgoing::Text(text))) => {
                    if sink.send(Hixie76::encode(&text)).await.is_err() {
                        return;
                    }
                }
                Event::Output(Some(Outgoing::Pong(_))) => {}
                Event::Output(_) => {
                    let _ = sink.send(Hixie76::close_frame()).await;
                    return;
                }
                Event::Input(Some(chunk)) => decoder.extend(&chunk),
                Event::Input(None) => return,
            }
        }
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

/// Reads Hixie-76 frames from a byte stream.
#[derive(Debug, Default)]
pub struct Hixie76Decoder {
    buffer: BytesMut,
}

/// One Hixie-76 frame read by [`Hixie76Decoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

    /// The next complete frame, if the buffer holds one. Frames longer
    /// than `max_len` are [`Hixie76Frame::Invalid`].
    pub fn next_frame(&mut self, max_len: usize) -> Option<Hixie76Frame> {
        let first = *self.buffer.first()?;
        match first {
            0x00 => match self.buffer.iter().position(|&b| b == 0xFF) {
                Some(end) => {
                    let frame = self.buffer.split_to(end + 1);
                    Some(match std::str::from_utf8(&frame[1..end]) {
                        Ok(text) if end <= max_len.saturating_add(1) => Hixie76Frame::Text(text.to_string()),
                        _ => Hixie76Frame::Invalid,
                    })
                }
                None if self.buffer.len() > max_len.saturating_add(1) => Some(Hixie76Frame::Invalid),
                None => None,
            },
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
    use http::Request;

    fn parts(headers: &[(&str, &str)]) -> request::Parts {
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
        assert_eq!(check_upgrade(&parts(&ok), Transport::WebSocket), Ok(Handshake::Rfc6455));
        assert_eq!(check_upgrade(&parts(&[]), Transport::WebSocket), Err(NOT_A_WEBSOCKET));
        let close = [
            ("upgrade", "WebSocket"),
            ("connection", "close"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "x"),
        ];
        assert_eq!(check_upgrade(&parts(&close), Transport::WebSocket), Err(NOT_A_WEBSOCKET));
        let v7 = [
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-version", "7"),
            ("sec-websocket-key", "x"),
        ];
        assert_eq!(check_upgrade(&parts(&v7), Transport::RawWebSocket), Err(ONLY_RFC6455));
    }

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
        let Ok(Handshake::Hixie76(h)) = check_upgrade(&req, Transport::WebSocket) else { panic!("not hixie-76") };
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
}
