//! Receivers: the body of one receiving response, or the outgoing side of
//! one websocket.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_core::Stream;

use crate::endpoint::Shared;
use crate::session::{store_waker, CloseReason, Phase, SessionCell, SessionState};
use crate::timer::TimerKind;
use crate::transport::Framing;
use crate::Frame;

/// The body of a receiving response (xhr, xhr_streaming, eventsource,
/// htmlfile, jsonp), chunk by chunk.
///
/// Drive it with [`Receiver::poll_chunk`], or turn it into a [`Stream`]
/// with [`Receiver::into_stream`]. Write every chunk to the client as its
/// own HTTP chunk and flush it at once (PROTOCOL.md §2). `None` means the
/// response is complete.
///
/// Dropping a receiver before it returned `None` means the client went
/// away: the session is closed at once (PROTOCOL.md §6 "Abort"). Drop it
/// as soon as the connection is known to be gone.
pub struct Receiver {
    link: Option<Link>,
    id: u64,
    framing: Framing,
    polling: bool,
    limit: usize,
    sent: usize,
    pending: VecDeque<Bytes>,
    done: bool,
}

struct Link {
    endpoint: Arc<Shared>,
    session: Arc<SessionCell>,
    websocket: bool,
}

/// What a receiver is for.
pub(crate) enum Mode {
    /// Ends after one frame.
    Polling,
    /// Ends once this many bytes of frames were written.
    Streaming(usize),
    /// A websocket: never ends by size.
    WebSocket,
}

impl Receiver {
    /// A receiver with a fixed list of chunks that is not attached to a
    /// session (2010 answers and repeated close frames).
    pub(crate) fn fixed(chunks: impl IntoIterator<Item = Bytes>) -> Receiver {
        Receiver {
            link: None,
            id: 0,
            framing: Framing::Xhr,
            polling: true,
            limit: 0,
            sent: 0,
            pending: chunks.into_iter().collect(),
            done: true,
        }
    }

    /// A receiver attached to `session` (its state is locked as `state`).
    pub(crate) fn attach(
        endpoint: &Arc<Shared>,
        session: &Arc<SessionCell>,
        state: &mut SessionState,
        framing: Framing,
        mode: Mode,
        prelude: Option<Bytes>,
        now: Instant,
    ) -> Receiver {
        let id = endpoint.next_id();
        state.receiver = Some(id);
        state.epoch += 1;
        state.heartbeat_due = false;
        let websocket = matches!(mode, Mode::WebSocket);
        if session.framed {
            let at = now + endpoint.options.heartbeat_delay;
            endpoint.timers().schedule(at, TimerKind::Heartbeat, state.epoch, session);
        }
        let (polling, limit) = match mode {
            Mode::Polling => (true, usize::MAX),
            Mode::Streaming(limit) => (false, limit),
            Mode::WebSocket => (false, usize::MAX),
        };
        Receiver {
            link: Some(Link { endpoint: endpoint.clone(), session: session.clone(), websocket }),
            id,
            framing,
            polling,
            limit,
            sent: 0,
            pending: prelude.into_iter().collect(),
            done: false,
        }
    }

    /// Queues the open frame of a new session.
    pub(crate) fn open(&mut self, state: &mut SessionState, now: Instant) {
        self.emit(Frame::open(), false, state, now);
    }

    /// Returns the next chunk to write, `Pending` until there is one, or
    /// `None` when the response is complete.
    ///
    /// `now` is the current time; it stamps the moment the receiver
    /// detaches from its session.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Option<Bytes>> {
        if let Some(chunk) = self.pending.pop_front() {
            return Poll::Ready(Some(chunk));
        }
        if self.done {
            return Poll::Ready(None);
        }
        let Some(link) = &self.link else { return Poll::Ready(None) };
        let session = link.session.clone();
        let mut state = session.lock();
        if state.receiver != Some(self.id) {
            self.done = true;
            return Poll::Ready(None);
        }
        match next_frame(&mut state, session.framed) {
            Next::Frame(frame, closing) => {
                self.emit(frame, closing, &mut state, now);
                Poll::Ready(self.pending.pop_front())
            }
            Next::End => {
                self.finish(&mut state, now);
                Poll::Ready(None)
            }
            Next::Nothing => {
                store_waker(&mut state.receiver_waker, cx);
                Poll::Pending
            }
        }
    }

    /// Turns the receiver into a [`Stream`] of chunks, reading the time
    /// from `clock` (for example `std::time::Instant::now`).
    pub fn into_stream<C: Fn() -> Instant + Unpin>(self, clock: C) -> ReceiverStream<C> {
        ReceiverStream { receiver: self, clock }
    }

    /// Wraps and queues one frame; ends the response when the transport
    /// says so.
    fn emit(&mut self, frame: Frame, closing: bool, state: &mut SessionState, now: Instant) {
        let chunk = self.framing.wrap(&frame);
        self.sent += chunk.len();
        self.pending.push_back(chunk);
        if closing || self.polling || self.sent >= self.limit {
            self.finish(state, now);
        }
    }

    /// Detaches from the session after the response's last frame.
    fn finish(&mut self, state: &mut SessionState, now: Instant) {
        self.done = true;
        let Some(link) = &self.link else { return };
        if state.receiver != Some(self.id) {
            return;
        }
        state.receiver = None;
        state.receiver_waker = None;
        state.epoch += 1;
        if link.websocket {
            // A websocket session lives exactly as long as its socket.
            state.end(CloseReason::Interrupted);
        } else if !matches!(state.phase, Phase::Ended) {
            let at = now + link.endpoint.options.disconnect_delay;
            link.endpoint.timers().schedule(at, TimerKind::Disconnect, state.epoch, &link.session);
        }
    }

    /// Ends the session this receiver is attached to, if it still is.
    pub(crate) fn end_session(&mut self, reason: CloseReason) {
        if self.done {
            return;
        }
        self.done = true;
        let Some(link) = &self.link else { return };
        let sessions = (!link.websocket).then(|| link.endpoint.sessions());
        let mut state = link.session.lock();
        if state.receiver != Some(self.id) {
            return;
        }
        state.receiver = None;
        state.receiver_waker = None;
        state.epoch += 1;
        state.end(reason);
        drop(state);
        if let Some(mut sessions) = sessions {
            if sessions.get(&link.session.info.id).is_some_and(|s| Arc::ptr_eq(s, &link.session)) {
                sessions.remove(&link.session.info.id);
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.end_session(CloseReason::Interrupted);
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("framing", &self.framing)
            .field("sent", &self.sent)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

enum Next {
    Frame(Frame, bool),
    End,
    Nothing,
}

/// The next frame a receiver should send, if any.
fn next_frame(state: &mut SessionState, framed: bool) -> Next {
    if !state.outbox.is_empty() {
        state.heartbeat_due = false;
        if framed {
            let frame = Frame::join_messages(&mut state.outbox.drain(..));
            return Next::Frame(frame, false);
        }
        let raw = state.outbox.pop_front().expect("not empty");
        return Next::Frame(Frame::from_bytes(raw), false);
    }
    match &state.phase {
        Phase::Closing(frame) if framed => Next::Frame(frame.clone(), true),
        Phase::Closing(_) | Phase::Ended => Next::End,
        Phase::Open if state.heartbeat_due => {
            state.heartbeat_due = false;
            Next::Frame(Frame::heartbeat(), false)
        }
        Phase::Open => Next::Nothing,
    }
}

/// A [`Receiver`] as a [`Stream`] of chunks; see [`Receiver::into_stream`].
pub struct ReceiverStream<C> {
    receiver: Receiver,
    clock: C,
}

impl<C: Fn() -> Instant + Unpin> Stream for ReceiverStream<C> {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        let now = (this.clock)();
        this.receiver.poll_chunk(cx, now)
    }
}

impl<C> fmt::Debug for ReceiverStream<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.receiver.fmt(f)
    }
}
