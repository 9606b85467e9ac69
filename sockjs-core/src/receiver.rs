//! Receivers: the body of one receiving response, or the outgoing side of
//! one websocket.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;

use crate::endpoint::Shared;
use crate::session::{store_waker, CloseReason, Contender, Phase, SessionCell, SessionState};
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
    /// Waiting for the attached receiver to go away (see
    /// [`CONTENTION_GRACE`]).
    contending: bool,
}

/// How long a receiving request that finds its session busy waits before
/// it is answered `c[2010,"Another connection still open"]`.
///
/// A client that drops a receiving request and reconnects at once races
/// the server: the new request can be handled on another thread before the
/// old connection's end is noticed (PROTOCOL.md §6 "Abort"). Waiting this
/// long for the attached receiver to go away lets the server win that race:
/// if it was aborted, the new request gets `c[1002,"Connection
/// interrupted"]`; if it finished, the new request takes its place. Only a
/// genuine second receiver pays the delay.
pub const CONTENTION_GRACE: Duration = Duration::from_millis(250);

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
            contending: false,
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
        let receiver = Receiver::new(endpoint, session, framing, mode, prelude);
        take_slot(endpoint, session, state, receiver.id, now);
        receiver
    }

    /// A receiver that waits for `session`'s attached receiver to go away,
    /// for at most [`CONTENTION_GRACE`].
    pub(crate) fn contend(
        endpoint: &Arc<Shared>,
        session: &Arc<SessionCell>,
        state: &mut SessionState,
        framing: Framing,
        mode: Mode,
        prelude: Option<Bytes>,
        now: Instant,
    ) -> Receiver {
        let mut receiver = Receiver::new(endpoint, session, framing, mode, prelude);
        receiver.contending = true;
        state.contender = Some(Contender { id: receiver.id, waker: None, expired: false });
        endpoint.timers().schedule(now + CONTENTION_GRACE, TimerKind::Contention, receiver.id, session);
        receiver
    }

    fn new(
        endpoint: &Arc<Shared>,
        session: &Arc<SessionCell>,
        framing: Framing,
        mode: Mode,
        prelude: Option<Bytes>,
    ) -> Receiver {
        let websocket = matches!(mode, Mode::WebSocket);
        let (polling, limit) = match mode {
            Mode::Polling => (true, usize::MAX),
            Mode::Streaming(limit) => (false, limit),
            Mode::WebSocket => (false, usize::MAX),
        };
        Receiver {
            link: Some(Link { endpoint: endpoint.clone(), session: session.clone(), websocket }),
            id: endpoint.next_id(),
            framing,
            polling,
            limit,
            sent: 0,
            pending: prelude.into_iter().collect(),
            done: false,
            contending: false,
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
        let endpoint = link.endpoint.clone();
        let mut state = session.lock();
        if self.contending {
            let expired = state.contender.as_ref().is_some_and(|c| c.id == self.id && c.expired);
            let answer = match &state.phase {
                Phase::Ended => Some(Frame::close(1002, "Connection interrupted")),
                Phase::Closing(close) if state.receiver.is_some() || state.outbox.is_empty() => Some(close.clone()),
                _ if state.receiver.is_none() => None,
                _ if expired => Some(crate::frame::another_connection()),
                _ => {
                    if let Some(contender) = state.contender.as_mut().filter(|c| c.id == self.id) {
                        store_waker(&mut contender.waker, cx);
                    }
                    return Poll::Pending;
                }
            };
            self.withdraw(&mut state);
            if let Some(frame) = answer {
                self.done = true;
                return Poll::Ready(Some(self.framing.wrap(&frame)));
            }
            // The attached receiver finished: take its place.
            take_slot(&endpoint, &session, &mut state, self.id, now);
        }
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
        if let Some(link) = &self.link {
            link.endpoint.counters.wrote(chunk.len());
        }
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
        state.wake_contender();
        if link.websocket {
            // A websocket session lives exactly as long as its socket.
            state.end(CloseReason::Interrupted);
        } else if !matches!(state.phase, Phase::Ended) {
            let at = now + link.endpoint.options.disconnect_delay;
            link.endpoint.timers().schedule(at, TimerKind::Disconnect, state.epoch, &link.session);
        }
    }

    /// Stops waiting as a contender.
    fn withdraw(&mut self, state: &mut SessionState) {
        self.contending = false;
        if state.contender.as_ref().is_some_and(|c| c.id == self.id) {
            state.contender = None;
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
            crate::endpoint::forget(&mut sessions, &link.session);
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if self.contending {
            if let Some(link) = &self.link {
                let session = link.session.clone();
                self.withdraw(&mut session.lock());
            }
            return;
        }
        self.end_session(CloseReason::Interrupted);
    }
}

/// Makes receiver `id` the session's attached receiver.
fn take_slot(endpoint: &Arc<Shared>, session: &Arc<SessionCell>, state: &mut SessionState, id: u64, now: Instant) {
    state.receiver = Some(id);
    state.epoch += 1;
    state.heartbeat_due = false;
    if session.framed {
        let at = now + endpoint.options.heartbeat_delay;
        endpoint.timers().schedule(at, TimerKind::Heartbeat, state.epoch, session);
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
            let frame = Frame::join_messages(&mut state.take_outbox());
            return Next::Frame(frame, false);
        }
        let raw = state.pop_outbox().expect("not empty");
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
