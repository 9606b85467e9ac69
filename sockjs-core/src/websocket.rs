//! WebSocket sessions (PROTOCOL.md §7.10, §7.11): the session driver,
//! bytes in and bytes out, with the websocket's own rules (RFC 6455 or
//! Hixie-76 framing, the close handshake, permessage-deflate) below the
//! session's, and its pump loop.
//!
//! The driver that pumps bytes between a connection and this type lives
//! outside the engine (sockjs-driver); this module does no IO.
//!
//! Two layers, one type. The message layer (`handle`, `poll_output`) is
//! the session: text in, SockJS frames out, the inbox bound, the close
//! frame after the session ends. The wire layer ([`Wire`]) turns the
//! client's bytes into messages and the session's output into frames, and
//! makes every decision RFC 6455 leaves to the server: a close is answered
//! with a close (RFC 6455 §5.5.1), a protocol error fails the connection with the
//! code RFC 6455 §7.4.1 names, a ping is answered with a pong (at most
//! [`MAX_PONGS`] wait; RFC 6455 §5.5.3 allows dropping the older ones), and after the server's close frame nothing more is sent
//! and the driver returns, so that the connection is closed from the
//! server's side first (RFC 6455 §7.1.1).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::app::AppTask;
use crate::deflate::Deflater;
use crate::hixie76::{Hixie76Decoder, Hixie76Frame};
use crate::payload::decode_websocket_text;
use crate::receiver::ReceiverBody;
use crate::rfc6455::{self, opcode, Decoder, Failure, Inbound};
use crate::session::SessionCell;
use crate::state::{Batch, CloseReason, Offer};

/// Frames ready together are joined into one write of at most about this
/// many bytes (the last frame joined may take it past; a larger single
/// frame leaves on its own) by [`WebSocket::poll_transmit`].
pub const WRITE_JOIN_BYTES: usize = 16 * 1024;

/// What the session sends on a websocket, before framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WsOutgoing {
    /// One text message.
    Text(Bytes),
    /// A close frame; then close the connection.
    Close {
        /// The close code.
        code: u16,
        /// The close reason (at most 123 bytes).
        reason: Cow<'static, str>,
    },
    /// A pong answering the client's ping.
    Pong(Bytes),
}

/// What a websocket connection received, once decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WsIncoming<T> {
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
    /// The client broke the protocol: fail with this code and reason.
    Failed(u16, &'static str),
    /// The connection failed.
    Error,
}

/// The driver of one websocket session, sans-IO: the client's bytes in,
/// the bytes to write out.
///
/// Give it what the connection reads ([`WebSocket::handle_input`]) and
/// write what [`WebSocket::poll_transmit`] returns. Before reading more
/// from the connection, wait for [`WebSocket::poll_ready`]: while the
/// session's inbox is full ([`crate::Options::max_inbox()`]) it stays
/// pending, the connection is not read, and TCP flow control slows the
/// client down; outgoing frames keep flowing meanwhile. When
/// `poll_transmit` returns `None`, close the connection (a FIN, then read
/// and discard what the client still sends for a bounded time).
/// Drop the driver when the connection is gone: the session then ends at
/// once.
pub struct WebSocket {
    receiver: ReceiverBody,
    session: Arc<SessionCell>,
    failure: Option<(u16, &'static str)>,
    closed: bool,
    max_message_size: usize,
    /// A message that did not fit the inbox yet.
    held: Option<Batch>,
    /// The application, when it runs in the connection's task (see
    /// [`WebSocket::run_app`]).
    app: Option<AppTask>,
    /// The client closed, or the connection failed.
    input_done: bool,
    wire: Wire,
    /// Pongs owed, oldest first: at most [`MAX_PONGS`] (RFC 6455 §5.5.3 lets the
    /// server answer only the latest ping; the oldest go first).
    pongs: std::collections::VecDeque<Bytes>,
}

/// The most pongs a connection owes at once; each is at most 125 bytes.
pub(crate) const MAX_PONGS: usize = 16;

/// The framing of one connection: RFC 6455 or Hixie-76.
#[derive(Debug)]
pub(crate) enum Wire {
    /// RFC 6455, with permessage-deflate's compressor when negotiated.
    Rfc6455 { decoder: Decoder, deflater: Option<Box<Deflater>> },
    /// Hixie-76: the 8 key bytes come first, then 16 bytes answer them.
    Hixie76 { hixie: crate::Hixie76, decoder: Hixie76Decoder, keyed: bool, answer: Option<[u8; 16]> },
}

impl Wire {
    /// Appends bytes the connection read.
    fn extend(&mut self, data: &[u8]) {
        match self {
            Wire::Rfc6455 { decoder, .. } => decoder.extend(data),
            Wire::Hixie76 { decoder, .. } => decoder.extend(data),
        }
    }

    /// The next thing the client sent, once its bytes are there.
    fn next(&mut self, limit: usize) -> Option<WsIncoming<String>> {
        match self {
            Wire::Rfc6455 { decoder, .. } => decoder.next().map(|inbound| match inbound {
                Inbound::Text(text) => WsIncoming::Text(text),
                Inbound::Binary(data) => WsIncoming::Binary(data),
                Inbound::Ping(data) => WsIncoming::Ping(data),
                Inbound::Pong => WsIncoming::Pong,
                Inbound::Close(..) => WsIncoming::Close,
                Inbound::Fail(Failure { code, reason }) => WsIncoming::Failed(code, reason),
            }),
            Wire::Hixie76 { hixie, decoder, keyed, answer } => {
                if !*keyed {
                    let key = decoder.take_key()?;
                    *answer = Some(hixie.answer(&key));
                    *keyed = true;
                }
                decoder.next_frame(limit).map(|frame| match frame {
                    Hixie76Frame::Text(text) => WsIncoming::Text(text),
                    Hixie76Frame::Close | Hixie76Frame::Invalid => WsIncoming::Close,
                })
            }
        }
    }

    /// Whether frames may go out: not before the Hixie-76 answer.
    fn may_send(&self) -> bool {
        !matches!(self, Wire::Hixie76 { keyed: false, .. })
    }

    /// A control reply the wire owes the client before anything else: the
    /// Hixie-76 answer.
    fn take_answer(&mut self) -> Option<Bytes> {
        match self {
            Wire::Hixie76 { answer, .. } => answer.take().map(|a| Bytes::copy_from_slice(&a)),
            Wire::Rfc6455 { .. } => None,
        }
    }

    /// The bytes of one outgoing item; `None` for what the framing has no
    /// frame for (a pong on Hixie-76).
    fn encode(&mut self, output: &WsOutgoing) -> Option<Bytes> {
        match (self, output) {
            (Wire::Rfc6455 { deflater, .. }, WsOutgoing::Text(text)) => {
                let compressed = deflater.as_mut().and_then(|d| d.compress(text));
                Some(match compressed {
                    Some(payload) => rfc6455::encode(opcode::TEXT, &payload, true),
                    None => rfc6455::encode(opcode::TEXT, text, false),
                })
            }
            (Wire::Rfc6455 { .. }, WsOutgoing::Pong(data)) => Some(rfc6455::encode(opcode::PONG, data, false)),
            (Wire::Rfc6455 { .. }, WsOutgoing::Close { code, reason }) => Some(rfc6455::encode_close(*code, reason)),
            (Wire::Hixie76 { .. }, WsOutgoing::Text(text)) => Some(crate::Hixie76::encode(text)),
            (Wire::Hixie76 { .. }, WsOutgoing::Close { .. }) => Some(crate::Hixie76::close_frame()),
            (Wire::Hixie76 { .. }, WsOutgoing::Pong(_)) => None,
        }
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket").field("id", &self.session.info.id).finish_non_exhaustive()
    }
}

impl WebSocket {
    pub(crate) fn new(
        receiver: ReceiverBody,
        session: Arc<SessionCell>,
        max_message_size: usize,
        wire: Wire,
    ) -> WebSocket {
        WebSocket {
            receiver,
            session,
            failure: None,
            closed: false,
            max_message_size,
            held: None,
            app: None,
            input_done: false,
            wire,
            pongs: std::collections::VecDeque::new(),
        }
    }

    /// Runs the session's application task (from
    /// [`crate::WebSocketUpgrade::accept`]) inside this driver: it is polled
    /// whenever the driver is, so a message in, the application's answer and
    /// the frame out take one task and no hand-off between threads. Use it
    /// instead of spawning the task; when the connection ends,
    /// [`WebSocket::into_app`] hands back the task if the application is not
    /// done (spawn it then, so that the application can finish what it does
    /// after the session ended).
    pub fn run_app(&mut self, task: Option<AppTask>) {
        self.app = task;
    }

    /// Polls the application task held by [`WebSocket::run_app`].
    fn poll_app(&mut self, cx: &mut Context<'_>) {
        if let Some(app) = &mut self.app {
            if app.as_mut().poll(cx).is_ready() {
                self.app = None;
            }
        }
    }

    /// The application task held by [`WebSocket::run_app`], if it is not
    /// done: spawn it.
    pub fn into_app(mut self) -> Option<AppTask> {
        self.app.take()
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session.info.id
    }

    /// The largest incoming message to accept.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Takes bytes read from the connection. Read more only once
    /// [`WebSocket::poll_ready`] is ready.
    pub fn handle_input(&mut self, data: &[u8]) {
        if !self.input_done && self.failure.is_none() && !self.closed {
            self.wire.extend(data);
        }
    }

    /// The client's connection ended (EOF or an error) without a close
    /// frame: the session ends as interrupted.
    pub fn handle_eof(&mut self) {
        self.handle(WsIncoming::<&str>::Error);
    }

    /// Handles one decoded item; a ping's pong waits in `self.pongs`.
    pub(crate) fn handle<T: AsRef<str>>(&mut self, incoming: WsIncoming<T>) {
        match incoming {
            WsIncoming::Text(text) => self.handle_text(text.as_ref()),
            // The endpoint carries text (RFC 6455 §7.4.1: 1003).
            WsIncoming::Binary(_) => {
                let Failure { code, reason } = rfc6455::BINARY_REFUSED;
                self.fail(code, reason, CloseReason::ProtocolError);
            }
            WsIncoming::Ping(data) => {
                if self.pongs.len() == MAX_PONGS {
                    self.pongs.pop_front();
                }
                self.pongs.push_back(data);
            }
            WsIncoming::Pong => {}
            WsIncoming::Close => {
                self.input_done = true;
                self.receiver.abort(CloseReason::Client);
            }
            WsIncoming::Failed(code, reason) => self.fail(code, reason, CloseReason::ProtocolError),
            WsIncoming::Error => {
                self.input_done = true;
                self.receiver.abort(CloseReason::Interrupted);
            }
        }
    }

    fn handle_text(&mut self, text: &str) {
        let messages = if self.session.framed {
            match decode_websocket_text(text) {
                Ok(messages) => messages,
                // Broken JSON: close at once, without a `c` frame.
                Err(_) => return self.fail(3000, "Broken framing.", CloseReason::ProtocolError),
            }
        } else {
            vec![text.to_string()]
        };
        let mut batch = Batch::new(messages);
        if let Some(held) = self.held.take() {
            // The caller did not wait for `poll_ready`: keep the order.
            let mut all = held.into_messages();
            all.extend(batch.into_messages());
            batch = Batch::new(all);
        }
        self.held = Some(batch);
        let _ = self.offer_held(&mut Context::from_waker(Waker::noop()));
    }

    /// Offers the held message to the inbox; ready once it is taken.
    fn offer_held(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(mut batch) = self.held.take() else { return Poll::Ready(()) };
        let id = self.receiver_id();
        let offer = self.session.update(|state, w| state.offer(&mut batch, id, cx, None, w));
        match offer {
            Offer::Accepted => {
                let (count, bytes) = batch.size();
                self.session.counters.received(self.session.info.transport, count, bytes);
                Poll::Ready(())
            }
            Offer::Wait => {
                if self.held.is_none() {
                    self.session.counters.inbound_wait(self.session.info.transport);
                }
                self.held = Some(batch);
                Poll::Pending
            }
            Offer::TooLarge => {
                self.fail(1009, "Message too big", CloseReason::ProtocolError);
                Poll::Ready(())
            }
            Offer::Busy | Offer::TimedOut | Offer::Closed => Poll::Ready(()),
        }
    }

    fn receiver_id(&self) -> u64 {
        self.receiver.id
    }

    /// Ready when more may be read from the connection: everything read so
    /// far was decoded and fit the session's inbox.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.offer_held(cx).is_pending() {
                return Poll::Pending;
            }
            if self.input_done || self.failure.is_some() || self.closed {
                return Poll::Ready(());
            }
            match self.wire.next(self.max_message_size) {
                Some(incoming) => self.handle(incoming),
                None => return Poll::Ready(()),
            }
        }
    }

    fn fail(&mut self, code: u16, reason: &'static str, why: CloseReason) {
        if self.failure.is_none() && !self.closed {
            self.failure = Some((code, reason));
            self.held = None;
            self.receiver.abort(why);
        }
    }

    /// The next bytes to write: the Hixie-76 answer, a pong, the session's
    /// frames, then one close frame; then `None`: close the connection.
    ///
    /// Frames that are ready together leave in one write, up to
    /// [`WRITE_JOIN_BYTES`]: a raw websocket's messages cannot share a
    /// frame the way SockJS framing joins them, but they can share a
    /// syscall.
    pub fn poll_transmit(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Option<Bytes>> {
        let first = match self.poll_frame(cx, now) {
            Poll::Ready(Some(first)) => first,
            other => return other,
        };
        let mut joined: Option<BytesMut> = None;
        while joined.as_ref().map_or(first.len(), BytesMut::len) < WRITE_JOIN_BYTES {
            // Pending registers the waker as the caller's next poll would;
            // None (the connection is done) is returned again next time.
            let Poll::Ready(Some(more)) = self.poll_frame(cx, now) else { break };
            joined.get_or_insert_with(|| BytesMut::from(&first[..])).extend_from_slice(&more);
        }
        Poll::Ready(Some(joined.map_or(first, BytesMut::freeze)))
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Option<Bytes>> {
        loop {
            if let Some(answer) = self.wire.take_answer() {
                return Poll::Ready(Some(answer));
            }
            if !self.wire.may_send() {
                // The key bytes wake the reading side.
                self.poll_app(cx);
                return Poll::Pending;
            }
            let output = match self.pongs.pop_front() {
                Some(data) if !self.closed => WsOutgoing::Pong(data),
                _ => match self.poll_output(cx, now) {
                    Poll::Ready(Some(output)) => output,
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                },
            };
            if let Some(bytes) = self.wire.encode(&output) {
                return Poll::Ready(Some(bytes));
            }
        }
    }

    /// The next thing the session sends: text messages, then one close
    /// frame, then `None`.
    pub(crate) fn poll_output(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Option<WsOutgoing>> {
        self.poll_app(cx);
        if self.closed {
            return Poll::Ready(None);
        }
        if let Some((code, reason)) = self.failure.take() {
            self.closed = true;
            return Poll::Ready(Some(WsOutgoing::Close { code, reason: Cow::Borrowed(reason) }));
        }
        match self.receiver.poll_chunk(cx, now) {
            Poll::Ready(Some(text)) => Poll::Ready(Some(WsOutgoing::Text(text))),
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
    fn close_frame(&self) -> WsOutgoing {
        let reason = self.session.read(|state| state.reason().cloned());
        match reason {
            Some(CloseReason::Server { code, reason }) if !self.session.framed => {
                let code = if code == 1000 || (3000..=4999).contains(&code) { code } else { 1000 };
                WsOutgoing::Close { code, reason: Cow::Owned(truncate(reason, rfc6455::MAX_CLOSE_REASON)) }
            }
            Some(CloseReason::Shutdown) => WsOutgoing::Close { code: 1001, reason: "Going away".into() },
            _ => WsOutgoing::Close { code: 1000, reason: "Normal closure".into() },
        }
    }

    /// While a write of what [`WebSocket::poll_transmit`] returned is
    /// blocked (a client that stopped reading): runs the application held
    /// by [`WebSocket::run_app`], and is ready once the session ended as
    /// stalled (two heartbeat delays without a frame written). Then give
    /// up the write and drop the connection instead of holding it.
    pub fn poll_blocked(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_app(cx);
        self.session.update(|state, _| state.poll_stalled(cx))
    }

    /// Whether the driver stopped taking input: the client closed, the
    /// connection failed, or the server's close frame went out. Read
    /// nothing more then (a driver may still drain the socket before
    /// closing it).
    pub fn input_done(&self) -> bool {
        self.input_done || self.failure.is_some() || self.closed
    }

    /// Whether the session's inbox took every message handed over so far.
    #[cfg(test)]
    pub(crate) fn holds_input(&self) -> bool {
        self.held.is_some()
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_are_cut_at_a_character() {
        assert_eq!(truncate("é".repeat(100), 123).len(), 122);
        assert_eq!(truncate("abc".into(), 123), "abc");
    }
}
