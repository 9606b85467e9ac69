//! Receivers: the body of one receiving response, or the outgoing side of
//! one websocket. A receiver asks its session's state machine for frames
//! and wraps them for its transport.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_core::Stream;

use crate::frame::Frame;
use crate::session::SessionCell;
use crate::state::{CloseReason, Contend, Join, Out, Pull};
use crate::transport::Framing;

/// The body of a receiving response (xhr, xhr_streaming, eventsource,
/// htmlfile, jsonp), chunk by chunk.
///
/// Drive it with [`ReceiverBody::poll_chunk`], or turn it into a [`Stream`]
/// with [`ReceiverBody::into_stream`]. Write every chunk to the client as
/// its own HTTP chunk and flush it at once (PROTOCOL.md §2). `None` means
/// the response is complete.
///
/// Dropping a receiver before it returned `None` means the client went
/// away: the session is closed at once (PROTOCOL.md §6 "Abort"). Drop it
/// as soon as the connection is known to be gone.
pub struct ReceiverBody {
    session: Option<Arc<SessionCell>>,
    pub(crate) id: u64,
    framing: Framing,
    /// Ends after this many bytes of frames (one frame for polling).
    limit: Limit,
    sent: usize,
    pending: VecDeque<Bytes>,
    done: bool,
    /// Waiting for the attached receiver to go away.
    contending: bool,
}

/// When a receiver's response ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// After one frame.
    Polling,
    /// Once this many bytes of frames were written.
    Streaming(usize),
    /// Never by size (a websocket).
    None,
}

impl ReceiverBody {
    fn new(session: &Arc<SessionCell>, framing: Framing, limit: Limit, prelude: Option<Bytes>) -> ReceiverBody {
        ReceiverBody {
            id: session.next_id(),
            session: Some(session.clone()),
            framing,
            limit,
            sent: 0,
            pending: prelude.into_iter().collect(),
            done: false,
            contending: false,
        }
    }

    /// The receiver of a new session: attached, with the open frame queued
    /// (`open` is false for raw websockets).
    pub(crate) fn opening(
        session: &Arc<SessionCell>,
        framing: Framing,
        limit: Limit,
        prelude: Option<Bytes>,
        open: bool,
        now: Instant,
    ) -> ReceiverBody {
        let mut receiver = ReceiverBody::new(session, framing, limit, prelude);
        let id = receiver.id;
        session.update(|state, _| state.attach(id, now));
        if open && receiver.emit(Out::Frame(Frame::open()), false) {
            session.update(|state, w| state.detach(id, now, w));
        }
        receiver
    }

    /// A receiving request for an existing session: attached, waiting as a
    /// contender, or a fixed answer (the close frame, 2010 or 1002).
    pub(crate) fn joining(
        session: &Arc<SessionCell>,
        framing: Framing,
        limit: Limit,
        prelude: Option<Bytes>,
        now: Instant,
    ) -> ReceiverBody {
        let mut receiver = ReceiverBody::new(session, framing, limit, prelude);
        let id = receiver.id;
        match session.update(|state, _| state.join(id, now)) {
            Join::Attached => {}
            Join::Contending => receiver.contending = true,
            Join::Answer(frame) => {
                let chunk = receiver.framing.wrap(&frame);
                receiver.pending.push_back(chunk);
                receiver.session = None;
                receiver.done = true;
            }
        }
        receiver
    }

    /// Whether the response is a single frame (xhr-polling and
    /// jsonp-polling): a driver may then wait for it and send the response
    /// whole, head and frame in one write (`sockjs_driver::whole_response`).
    pub fn is_single_frame(&self) -> bool {
        matches!(self.limit, Limit::Polling)
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
        let Some(session) = self.session.clone() else { return Poll::Ready(None) };
        let id = self.id;
        if self.contending {
            match session.update(|state, _| state.poll_contender(id, cx, now)) {
                Contend::Pending => return Poll::Pending,
                Contend::Answer(frame) => {
                    self.contending = false;
                    self.done = true;
                    return Poll::Ready(Some(self.framing.wrap(&frame)));
                }
                Contend::Attached => self.contending = false,
            }
        }
        let pulled = session.update(|state, w| state.pull(id, cx, now, w, |frame, last| self.emit(frame, last)));
        match pulled {
            Pull::Sent => Poll::Ready(self.pending.pop_front()),
            Pull::End => {
                self.done = true;
                Poll::Ready(None)
            }
            Pull::Pending => Poll::Pending,
        }
    }

    /// Turns the receiver into a [`Stream`] of chunks, reading the time
    /// from `clock` (for example `std::time::Instant::now`).
    pub fn into_stream<C: Fn() -> Instant + Unpin>(self, clock: C) -> ReceiverStream<C> {
        ReceiverStream { receiver: self, clock }
    }

    /// Wraps and queues one frame; says whether the response ends with it
    /// (after the session's `last` frame, or by its transport's rule).
    fn emit(&mut self, out: Out, last: bool) -> bool {
        let chunk = match out {
            Out::Frame(frame) => self.framing.wrap(&frame),
            Out::Message(message) => message.wrapped(&self.framing),
        };
        self.sent += chunk.len();
        if let Some(session) = &self.session {
            session.counters.wrote(session.info.transport, chunk.len());
        }
        self.pending.push_back(chunk);
        self.done = last
            || match self.limit {
                Limit::Polling => true,
                Limit::Streaming(limit) => self.sent >= limit,
                Limit::None => false,
            };
        self.done
    }

    /// Ends the session this receiver is attached to, if it still is.
    pub(crate) fn abort(&mut self, reason: CloseReason) {
        if self.done && !self.contending {
            return;
        }
        self.done = true;
        let Some(session) = &self.session else { return };
        let id = self.id;
        if std::mem::take(&mut self.contending) {
            session.update(|state, _| state.withdraw(id));
        } else {
            session.update(|state, w| state.abort(id, reason, w));
        }
    }
}

impl Drop for ReceiverBody {
    fn drop(&mut self) {
        self.abort(CloseReason::Interrupted);
    }
}

impl fmt::Debug for ReceiverBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverBody")
            .field("framing", &self.framing)
            .field("sent", &self.sent)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// A [`ReceiverBody`] as a [`Stream`] of chunks; see
/// [`ReceiverBody::into_stream`].
pub struct ReceiverStream<C> {
    receiver: ReceiverBody,
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
