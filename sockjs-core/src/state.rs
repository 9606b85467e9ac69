//! One session's state machine (PROTOCOL.md §6, §11).
//!
//! [`SessionState`] owns everything that changes during a session's life:
//! its phase, the outgoing and incoming queues with their bounds, the
//! attached receiver and a waiting second one, the one send waiting for
//! room, and a small table of deadlines. Every transition is a method; none
//! blocks, reads a clock, or wakes anyone. A transition that must wake a
//! task puts its waker into [`Wakes`], which the caller wakes once the
//! session's lock is released, and the caller registers
//! [`SessionState::next_deadline`] with the endpoint's timer queue.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::frame::{self, Frame};
use crate::message::Message;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The application closed the session with this code and reason (or
    /// dropped every [`crate::Session`] handle: `1000`, `"Normal closure"`).
    Server {
        /// The close code sent to the client.
        code: u16,
        /// The close reason sent to the client.
        reason: String,
    },
    /// The client closed its websocket.
    Client,
    /// The client dropped its receiving connection (PROTOCOL.md §6
    /// "Abort"), or the websocket connection was lost.
    Interrupted,
    /// No receiving request came within the disconnect delay.
    TimedOut,
    /// The client sent something that could not be decoded, such as
    /// broken JSON on a websocket.
    ProtocolError,
    /// The endpoint shut down.
    Shutdown,
    /// The application queued more than [`crate::Options::max_queue()`]
    /// bytes that the client did not take.
    QueueFull,
    /// The client's connection took no frame for a whole
    /// [`crate::Options::heartbeat_delay()`] while one was waiting (a reader
    /// too slow, or a connection that died without a word).
    Stalled,
}

/// Why a [`crate::Session::send`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed; the message was dropped.
    Closed,
    /// The message would have overflowed the session's outgoing queue
    /// ([`crate::Options::max_queue()`]): the session is now closed.
    QueueFull,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SendError::Closed => "the SockJS session is closed",
            SendError::QueueFull => "the SockJS session's outgoing queue is full; the session was closed",
        })
    }
}

impl std::error::Error for SendError {}

/// What each queued incoming message costs against
/// [`crate::Options::max_inbox()`] beyond its text: its slot in the queue and
/// its `String` header.
pub(crate) const MESSAGE_OVERHEAD: usize = 32;

/// The durations and sizes a session enforces (from [`crate::Options`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) heartbeat_delay: Duration,
    pub(crate) disconnect_delay: Duration,
    pub(crate) contention_grace: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) max_queue: usize,
    pub(crate) max_inbox: usize,
    pub(crate) max_payload: usize,
}

/// A session's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// A receiver is attached: it is owed a heartbeat (or, if the last one
    /// is still unwritten, the session is stalled).
    Heartbeat = 0,
    /// No receiver is attached: the session expires.
    Disconnect = 1,
    /// A second receiver's grace period is over: it gets 2010.
    Contention = 2,
    /// A send waiting for room in the inbox gives up.
    SendWait = 3,
}

/// A session's deadlines, one slot per [`Timer`].
#[derive(Debug, Default)]
struct TimerTable([Option<Instant>; 4]);

impl TimerTable {
    fn set(&mut self, timer: Timer, at: Option<Instant>) {
        self.0[timer as usize] = at;
    }

    /// Clears `timer` and says whether it was due at `now`.
    fn expire(&mut self, timer: Timer, now: Instant) -> bool {
        let slot = &mut self.0[timer as usize];
        if slot.is_some_and(|at| at <= now) {
            *slot = None;
            return true;
        }
        false
    }

    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    fn clear(&mut self) {
        self.0 = [None; 4];
    }
}

/// `now + delay`, or never when that overflows.
fn after(now: Instant, delay: Duration) -> Option<Instant> {
    now.checked_add(delay)
}

/// Wakers a transition released, one slot per party; wake them after the
/// session's lock is released.
#[derive(Debug, Default)]
#[must_use = "wake them once the lock is released"]
pub(crate) struct Wakes {
    app: Option<Waker>,
    receiver: Option<Waker>,
    contender: Option<Waker>,
    sender: Option<Waker>,
}

impl Wakes {
    /// Keeps `waker` for the application. A `None` (its slot in the state
    /// was emptied by an earlier step of the same transition) leaves the
    /// waker already kept in place.
    fn app(&mut self, waker: Option<Waker>) {
        self.app = waker.or(self.app.take());
    }

    fn receiver(&mut self, waker: Option<Waker>) {
        self.receiver = waker.or(self.receiver.take());
    }

    fn contender(&mut self, waker: Option<Waker>) {
        self.contender = waker.or(self.contender.take());
    }

    fn sender(&mut self, waker: Option<Waker>) {
        self.sender = waker.or(self.sender.take());
    }

    pub(crate) fn wake(self) {
        for waker in [self.app, self.receiver, self.contender, self.sender].into_iter().flatten() {
            waker.wake();
        }
    }
}

fn store(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// Where a session is in its life.
#[derive(Debug)]
enum Phase {
    Open,
    /// Closed by the application; later receivers get this close frame
    /// until the session expires.
    Closing(Frame),
    /// Gone: expired, aborted, or its websocket ended.
    Ended,
}

/// A receiving request that arrived while another was attached.
#[derive(Debug)]
struct Contender {
    id: u64,
    waker: Option<Waker>,
    /// The grace period is over: answer 2010.
    expired: bool,
}

/// The one send waiting for room in the inbox.
#[derive(Debug)]
struct Sender {
    id: u64,
    /// The cost of its messages.
    needed: usize,
    waker: Option<Waker>,
    /// Its time is up.
    expired: bool,
}

/// Messages from the client, decoded, with what they cost against
/// [`crate::Options::max_inbox()`].
#[derive(Debug, Default)]
pub(crate) struct Batch {
    messages: Vec<String>,
    count: usize,
    cost: usize,
    bytes: usize,
}

impl Batch {
    pub(crate) fn new(messages: Vec<String>) -> Batch {
        let bytes = messages.iter().map(String::len).sum::<usize>();
        let count = messages.len();
        Batch { cost: bytes + count * MESSAGE_OVERHEAD, messages, count, bytes }
    }

    /// The number of messages and their bytes of text.
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.count, self.bytes)
    }

    pub(crate) fn into_messages(self) -> Vec<String> {
        self.messages
    }
}

/// What happened to a [`Batch`] offered to the inbox.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Queued for the application, every message in order.
    Accepted,
    /// No room yet: the sender's waker is stored; offer it again when
    /// woken.
    Wait,
    /// Another send is already waiting for room.
    Busy,
    /// The batch waited [`crate::Options::send_timeout()`] in vain.
    TimedOut,
    /// The batch alone costs more than the whole inbox may hold.
    TooLarge,
    /// The session is not open; the batch was dropped (PROTOCOL.md §11).
    Closed,
}

/// An outgoing item in a session's queue.
#[derive(Debug)]
pub(crate) enum Queued {
    /// A frame made for this session: `a["..."]`, or a raw text for raw
    /// websockets.
    Bytes(Bytes),
    /// A message encoded once for many sessions.
    Message(Message),
}

impl Queued {
    /// Its bytes on the wire, before the transport's wrapping.
    fn len(&self, framed: bool) -> usize {
        match self {
            Queued::Bytes(b) => b.len(),
            Queued::Message(m) if framed => m.frame().as_bytes().len(),
            Queued::Message(m) => m.raw().len(),
        }
    }

    /// As an `a[...]` frame.
    fn frame(self) -> Bytes {
        match self {
            Queued::Bytes(b) => b,
            Queued::Message(m) => m.frame().as_bytes().clone(),
        }
    }

    /// As a raw websocket's text.
    fn raw(self) -> Bytes {
        match self {
            Queued::Bytes(b) => b,
            Queued::Message(m) => m.raw().clone(),
        }
    }
}

/// What a receiver is handed to send.
#[derive(Debug)]
pub(crate) enum Out {
    /// A frame made for this session.
    Frame(Frame),
    /// A broadcast message, alone in the queue: send its shared wrapped form.
    Message(Message),
}

/// What a second receiving request learned.
#[derive(Debug)]
pub(crate) enum Contend {
    /// Still waiting for the attached receiver to go away.
    Pending,
    /// Answer with this frame, then end.
    Answer(Frame),
    /// The attached receiver went away normally: this one took its place.
    Attached,
}

/// What a receiving request gets when it arrives.
#[derive(Debug)]
pub(crate) enum Join {
    /// It is the session's receiver now.
    Attached,
    /// It waits as a contender (see [`SessionState::poll_contender`]).
    Contending,
    /// Answer with this frame, then end.
    Answer(Frame),
}

/// What an attached receiver pulled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pull {
    /// A frame was handed to `emit`.
    Sent,
    /// The response is complete.
    End,
    /// Nothing yet; the receiver's waker is stored.
    Pending,
}

/// The state of one session. See the module docs.
#[derive(Debug)]
pub(crate) struct SessionState {
    phase: Phase,
    reason: Option<CloseReason>,
    /// SockJS frames (`a[...]`, `h`, `c[...]`); false for raw websockets.
    framed: bool,
    /// A websocket session lives exactly as long as its one receiver.
    websocket: bool,
    limits: Limits,
    /// Outgoing: `a[...]` frames, or raw texts for raw websockets.
    outbox: VecDeque<Queued>,
    queued: usize,
    /// Incoming messages for the application, and their cost.
    inbox: VecDeque<String>,
    inbox_cost: usize,
    app_waker: Option<Waker>,
    sender: Option<Sender>,
    receiver: Option<u64>,
    receiver_waker: Option<Waker>,
    heartbeat_due: bool,
    contender: Option<Contender>,
    timers: TimerTable,
    /// Set by the transition that ended the session; see `take_ended`.
    just_ended: bool,
    /// When the session opened, and the latest `now` a transition was
    /// given: the session's age as the core knows it (it has no clock).
    opened: Instant,
    seen: Instant,
}

impl SessionState {
    pub(crate) fn new(framed: bool, websocket: bool, limits: Limits, now: Instant) -> SessionState {
        SessionState {
            phase: Phase::Open,
            reason: None,
            framed,
            websocket,
            limits,
            outbox: VecDeque::new(),
            queued: 0,
            inbox: VecDeque::new(),
            inbox_cost: 0,
            app_waker: None,
            sender: None,
            receiver: None,
            receiver_waker: None,
            heartbeat_due: false,
            contender: None,
            timers: TimerTable::default(),
            just_ended: false,
            opened: now,
            seen: now,
        }
    }

    /// Notes the time a transition was given.
    fn saw(&mut self, now: Instant) {
        self.seen = self.seen.max(now);
    }

    /// From the opening to the latest time a transition was given (for an
    /// ended session: about when it ended).
    pub(crate) fn age(&self) -> Duration {
        self.seen.saturating_duration_since(self.opened)
    }

    pub(crate) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open)
    }

    pub(crate) fn reason(&self) -> Option<&CloseReason> {
        self.reason.as_ref()
    }

    /// The earliest deadline at which [`SessionState::handle_timeout`] has
    /// work to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// What the inbox holds, counted as [`crate::Options::max_inbox()`] counts.
    pub(crate) fn inbox_cost(&self) -> usize {
        self.inbox_cost
    }

    /// Whether a transition since the last call ended the session.
    pub(crate) fn take_ended(&mut self) -> bool {
        std::mem::take(&mut self.just_ended)
    }

    // ---- the application's side ----

    /// Queues an outgoing item (a framed `a[...]` or a raw text).
    pub(crate) fn push(&mut self, item: Queued, w: &mut Wakes) -> Result<(), SendError> {
        if !self.is_open() {
            return Err(SendError::Closed);
        }
        let len = item.len(self.framed);
        if self.queued + len > self.limits.max_queue {
            // The client is not taking what it is sent: drop the backlog
            // and close, rather than grow without bound.
            self.clear_outbox();
            self.close(1009, "Outgoing queue full".into(), CloseReason::QueueFull, w);
            return Err(SendError::QueueFull);
        }
        self.queued += len;
        self.outbox.push_back(item);
        w.receiver(self.receiver_waker.take());
        Ok(())
    }

    /// Closes the session from the server side with `c[code,"reason"]`;
    /// `why` is what the application will be told. Does nothing unless
    /// the session is open; says whether it closed it.
    pub(crate) fn close(&mut self, code: u16, reason: Cow<'_, str>, why: CloseReason, w: &mut Wakes) -> bool {
        if !self.is_open() {
            return false;
        }
        self.phase = Phase::Closing(Frame::close(code, &reason));
        self.reason = Some(why);
        w.app(self.app_waker.take());
        w.receiver(self.receiver_waker.take());
        w.sender(self.sender.as_mut().and_then(|s| s.waker.take()));
        true
    }

    /// The next incoming message, `None` once the session is closed and
    /// the inbox empty.
    pub(crate) fn poll_recv(&mut self, cx: &Context<'_>, w: &mut Wakes) -> Poll<Option<String>> {
        if let Some(message) = self.inbox.pop_front() {
            self.inbox_cost -= message.len() + MESSAGE_OVERHEAD;
            if let Some(sender) = &mut self.sender {
                if self.inbox_cost + sender.needed <= self.limits.max_inbox {
                    w.sender(sender.waker.take());
                }
            }
            return Poll::Ready(Some(message));
        }
        if !self.is_open() {
            return Poll::Ready(None);
        }
        store(&mut self.app_waker, cx);
        Poll::Pending
    }

    // ---- the client's messages ----

    /// Offers messages from the client to the inbox: all of them, in
    /// order, or none. A batch that does not fit waits as the session's one
    /// waiting sender (`sender` names it) until the application makes room;
    /// with `timed_from`, for at most `send_timeout` from then.
    pub(crate) fn offer(
        &mut self,
        batch: &mut Batch,
        sender: u64,
        cx: &Context<'_>,
        timed_from: Option<Instant>,
        w: &mut Wakes,
    ) -> Offer {
        let ours = self.sender.as_ref().is_some_and(|s| s.id == sender);
        if !self.is_open() {
            if ours {
                self.cancel_send(sender);
            }
            return Offer::Closed;
        }
        if self.sender.is_some() && !ours {
            return Offer::Busy;
        }
        if batch.cost > self.limits.max_inbox {
            return Offer::TooLarge;
        }
        if ours && self.sender.as_ref().is_some_and(|s| s.expired) {
            self.cancel_send(sender);
            return Offer::TimedOut;
        }
        if self.inbox_cost + batch.cost <= self.limits.max_inbox {
            if ours {
                self.cancel_send(sender);
            }
            self.inbox_cost += batch.cost;
            self.inbox.extend(batch.messages.drain(..));
            if batch.cost > 0 {
                w.app(self.app_waker.take());
            }
            return Offer::Accepted;
        }
        match &mut self.sender {
            Some(s) => store(&mut s.waker, cx),
            None => {
                self.sender =
                    Some(Sender { id: sender, needed: batch.cost, waker: Some(cx.waker().clone()), expired: false });
                if let Some(now) = timed_from {
                    self.timers.set(Timer::SendWait, after(now, self.limits.send_timeout));
                }
            }
        }
        Offer::Wait
    }

    /// Withdraws the waiting send `sender` (its request is gone, or done).
    pub(crate) fn cancel_send(&mut self, sender: u64) {
        if self.sender.as_ref().is_some_and(|s| s.id == sender) {
            self.sender = None;
            self.timers.set(Timer::SendWait, None);
        }
    }

    // ---- receivers ----

    /// Makes `id` the receiver of a session that has none.
    pub(crate) fn attach(&mut self, id: u64, now: Instant) {
        self.saw(now);
        self.receiver = Some(id);
        self.heartbeat_due = false;
        self.timers.set(Timer::Disconnect, None);
        if self.framed {
            self.timers.set(Timer::Heartbeat, after(now, self.limits.heartbeat_delay));
        }
    }

    /// A receiving request `id` arrives for this (existing) session.
    pub(crate) fn join(&mut self, id: u64, now: Instant) -> Join {
        self.saw(now);
        match &self.phase {
            // Messages queued before the close go out first (§11).
            Phase::Closing(_) if !self.outbox.is_empty() && self.receiver.is_none() => {}
            Phase::Closing(close) => {
                let close = close.clone();
                if self.receiver.is_none() {
                    // Each later receiver restarts the disconnect timer (§11).
                    self.timers.set(Timer::Disconnect, after(now, self.limits.disconnect_delay));
                }
                return Join::Answer(close);
            }
            Phase::Open if self.receiver.is_some() && self.contender.is_none() => {
                self.contender = Some(Contender { id, waker: None, expired: false });
                self.timers.set(Timer::Contention, after(now, self.limits.contention_grace));
                return Join::Contending;
            }
            Phase::Open if self.receiver.is_some() => return Join::Answer(frame::another_connection()),
            Phase::Open => {}
            // Ended between the lookup and now: its receiver was dropped,
            // or it expired.
            Phase::Ended => return Join::Answer(Frame::close(1002, "Connection interrupted")),
        }
        self.attach(id, now);
        Join::Attached
    }

    /// A contender `id` checks whether the attached receiver went away
    /// (§6: an aborted one gets it 1002, a finished one its place) or its
    /// grace period is over (2010).
    pub(crate) fn poll_contender(&mut self, id: u64, cx: &Context<'_>, now: Instant) -> Contend {
        self.saw(now);
        let expired = self.contender.as_ref().is_some_and(|c| c.id == id && c.expired);
        let answer = match &self.phase {
            Phase::Ended => Some(Frame::close(1002, "Connection interrupted")),
            Phase::Closing(close) if self.receiver.is_some() || self.outbox.is_empty() => Some(close.clone()),
            _ if self.receiver.is_none() => None,
            _ if expired => Some(frame::another_connection()),
            _ => {
                if let Some(contender) = self.contender.as_mut().filter(|c| c.id == id) {
                    store(&mut contender.waker, cx);
                }
                return Contend::Pending;
            }
        };
        self.withdraw(id);
        match answer {
            Some(frame) => Contend::Answer(frame),
            None => {
                self.attach(id, now);
                Contend::Attached
            }
        }
    }

    /// Contender `id` stops waiting.
    pub(crate) fn withdraw(&mut self, id: u64) {
        if self.contender.as_ref().is_some_and(|c| c.id == id) {
            self.contender = None;
            self.timers.set(Timer::Contention, None);
        }
    }

    /// The attached receiver `id` asks for its next frame. `emit` takes the
    /// frame and whether it is the session's last (the close frame), and
    /// says whether the response ends with it; the receiver then detaches.
    pub(crate) fn pull(
        &mut self,
        id: u64,
        cx: &Context<'_>,
        now: Instant,
        w: &mut Wakes,
        emit: impl FnOnce(Out, bool) -> bool,
    ) -> Pull {
        self.saw(now);
        if self.receiver != Some(id) {
            return Pull::End;
        }
        let (frame, last) = if !self.outbox.is_empty() {
            self.heartbeat_due = false;
            if !self.framed {
                let raw = self.outbox.pop_front().expect("not empty").raw();
                self.queued -= raw.len();
                (Out::Frame(Frame::from_bytes(raw)), false)
            } else if self.outbox.len() == 1 {
                self.queued = 0;
                match self.outbox.pop_front().expect("not empty") {
                    // A broadcast message: its wrapped form is shared.
                    Queued::Message(message) => (Out::Message(message), false),
                    Queued::Bytes(frame) => (Out::Frame(Frame::from_bytes(frame)), false),
                }
            } else {
                self.queued = 0;
                (Out::Frame(Frame::join_messages(&mut self.outbox.drain(..).map(Queued::frame))), false)
            }
        } else {
            match &self.phase {
                Phase::Closing(close) if self.framed => (Out::Frame(close.clone()), true),
                Phase::Closing(_) | Phase::Ended => {
                    self.detach(id, now, w);
                    return Pull::End;
                }
                Phase::Open if self.heartbeat_due => {
                    self.heartbeat_due = false;
                    (Out::Frame(Frame::heartbeat()), false)
                }
                Phase::Open => {
                    store(&mut self.receiver_waker, cx);
                    return Pull::Pending;
                }
            }
        };
        if emit(frame, last) {
            self.detach(id, now, w);
        }
        Pull::Sent
    }

    /// Ready once the session ended as [`CloseReason::Stalled`]: its client
    /// took no frame for two heartbeat delays. Otherwise stores the
    /// receiver's waker, which that end wakes.
    pub(crate) fn poll_stalled(&mut self, cx: &Context<'_>) -> Poll<()> {
        match (&self.phase, &self.reason) {
            (Phase::Ended, Some(CloseReason::Stalled)) => Poll::Ready(()),
            (Phase::Ended, _) => Poll::Pending,
            _ => {
                store(&mut self.receiver_waker, cx);
                Poll::Pending
            }
        }
    }

    /// The receiver `id` finished its response normally. An HTTP session
    /// then waits `disconnect_delay` for the next one; a websocket session
    /// ends.
    pub(crate) fn detach(&mut self, id: u64, now: Instant, w: &mut Wakes) {
        self.saw(now);
        if self.receiver != Some(id) {
            return;
        }
        self.receiver = None;
        self.receiver_waker = None;
        self.heartbeat_due = false;
        self.timers.set(Timer::Heartbeat, None);
        w.contender(self.contender.as_mut().and_then(|c| c.waker.take()));
        if self.websocket {
            self.end(CloseReason::Interrupted, w);
        } else if !matches!(self.phase, Phase::Ended) {
            self.timers.set(Timer::Disconnect, after(now, self.limits.disconnect_delay));
        }
    }

    /// The receiver `id` is gone before its response was complete (the
    /// client dropped the connection, closed its websocket, or broke the
    /// protocol): the session ends at once (§6 "Abort").
    pub(crate) fn abort(&mut self, id: u64, reason: CloseReason, w: &mut Wakes) {
        if self.receiver != Some(id) {
            return;
        }
        self.receiver = None;
        self.receiver_waker = None;
        self.end(reason, w);
    }

    /// Ends the session: no more frames; the application sees the end once
    /// it took what the inbox holds.
    pub(crate) fn end(&mut self, reason: CloseReason, w: &mut Wakes) {
        if matches!(self.phase, Phase::Ended) {
            return;
        }
        self.phase = Phase::Ended;
        self.reason.get_or_insert(reason);
        self.clear_outbox();
        self.heartbeat_due = false;
        self.timers.clear();
        self.just_ended = true;
        w.app(self.app_waker.take());
        w.receiver(self.receiver_waker.take());
        w.contender(self.contender.as_mut().and_then(|c| c.waker.take()));
        w.sender(self.sender.as_mut().and_then(|s| s.waker.take()));
    }

    // ---- time ----

    /// Runs every timer due at `now`. Harmless when called early or twice:
    /// a timer that fired is cleared or set again for its next turn.
    pub(crate) fn handle_timeout(&mut self, now: Instant, w: &mut Wakes) {
        self.saw(now);
        if self.timers.expire(Timer::Heartbeat, now) && self.receiver.is_some() && self.is_open() {
            if self.heartbeat_due {
                // The last heartbeat is still waiting: the client took no
                // frame for a whole heartbeat delay. Its connection is
                // stalled; end the session rather than queue for it.
                self.end(CloseReason::Stalled, w);
                return;
            }
            self.heartbeat_due = true;
            w.receiver(self.receiver_waker.take());
            self.timers.set(Timer::Heartbeat, after(now, self.limits.heartbeat_delay));
        }
        if self.timers.expire(Timer::Disconnect, now) && self.receiver.is_none() {
            self.end(CloseReason::TimedOut, w);
            return;
        }
        if self.timers.expire(Timer::Contention, now) {
            if let Some(contender) = &mut self.contender {
                contender.expired = true;
                w.contender(contender.waker.take());
            }
        }
        if self.timers.expire(Timer::SendWait, now) {
            if let Some(sender) = &mut self.sender {
                sender.expired = true;
                w.sender(sender.waker.take());
            }
        }
    }

    fn clear_outbox(&mut self) {
        self.outbox.clear();
        self.queued = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session's age runs from its opening to the latest time a
    /// transition was given; a later call with an earlier time does not
    /// move it back (what `sockjs_session_duration_seconds` records).
    #[test]
    fn age_is_the_latest_time_seen() {
        let limits = Limits {
            heartbeat_delay: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            contention_grace: Duration::from_millis(250),
            send_timeout: Duration::from_secs(10),
            max_queue: 1 << 20,
            max_inbox: 1 << 20,
            max_payload: 1 << 18,
        };
        let t0 = Instant::now();
        let mut w = Wakes::default();
        let mut state = SessionState::new(true, false, limits, t0);
        state.attach(1, t0 + Duration::from_secs(1));
        state.detach(1, t0 + Duration::from_secs(2), &mut w);
        assert_eq!(state.age(), Duration::from_secs(2));
        state.handle_timeout(t0 + Duration::from_secs(1), &mut w);
        assert_eq!(state.age(), Duration::from_secs(2));
        assert!(state.is_open());
        // The disconnect delay runs out 5 s after the detach: it ends at 7 s.
        state.handle_timeout(t0 + Duration::from_secs(7), &mut w);
        assert!(state.take_ended());
        assert_eq!(state.reason(), Some(&CloseReason::TimedOut));
        assert_eq!(state.age(), Duration::from_secs(7));
    }
}
