//! Sessions: the state shared by receivers, senders and the application,
//! and the [`Session`] handle that application code holds.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderMap, Uri};

use crate::metrics::Counters;
use crate::{Frame, Transport};

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The application closed the session with this code and reason (or
    /// dropped every [`Session`] handle: `1000`, `"Normal closure"`).
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
    /// The application queued more than [`crate::Options::max_queue`]
    /// bytes that the client did not take.
    QueueFull,
    /// The client's connection took no frame for a whole
    /// [`crate::Options::heartbeat_delay`] while one was waiting (a reader
    /// too slow, or a connection that died without a word).
    Stalled,
}

/// Why a [`Session::send`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed; the message was dropped.
    Closed,
    /// The message would have overflowed the session's outgoing queue
    /// ([`crate::Options::max_queue`]): the session is now closed.
    QueueFull,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed => "the SockJS session is closed",
            SendError::QueueFull => "the SockJS session's outgoing queue is full; the session was closed",
        })
    }
}

impl std::error::Error for SendError {}

/// A message encoded once, to be sent to many sessions (a broadcast).
///
/// Each recipient shares the encoded bytes; nothing is copied per session.
///
/// ```
/// use sockjs_core::Message;
/// let m = Message::new("tick!");
/// assert_eq!(m.text(), "tick!");
/// ```
#[derive(Debug, Clone)]
pub struct Message {
    text: Bytes,
    frame: Frame,
}

impl Message {
    /// Encodes `text` as a SockJS message frame.
    pub fn new(text: &str) -> Message {
        Message { text: Bytes::copy_from_slice(text.as_bytes()), frame: Frame::message(text) }
    }

    /// The message text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.text).expect("built from a str")
    }
}

/// Where a session is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    Open,
    /// Closed by the application; later receivers get this close frame
    /// until the session expires.
    Closing(Frame),
    /// Gone: expired, aborted, or its websocket ended.
    Ended,
}

/// What a session knows about the request that opened it.
#[derive(Debug)]
pub(crate) struct SessionInfo {
    pub(crate) id: Box<str>,
    pub(crate) transport: Transport,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) extensions: http::Extensions,
}

#[derive(Debug)]
pub(crate) struct SessionState {
    pub(crate) phase: Phase,
    pub(crate) reason: Option<CloseReason>,
    /// Outgoing messages: `a[...]` frames for SockJS-framed sessions, raw
    /// texts for raw websockets.
    pub(crate) outbox: VecDeque<Bytes>,
    /// Bytes in `outbox`.
    pub(crate) queued: usize,
    max_queue: usize,
    counters: Arc<Counters>,
    transport: Transport,
    /// The session id, for logs.
    id: Box<str>,
    /// The attached receiver's id.
    pub(crate) receiver: Option<u64>,
    pub(crate) receiver_waker: Option<Waker>,
    pub(crate) heartbeat_due: bool,
    /// A second receiving request waiting to see whether the attached one
    /// is gone (see `CONTENTION_GRACE`).
    pub(crate) contender: Option<Contender>,
    pub(crate) inbox: VecDeque<String>,
    pub(crate) app_waker: Option<Waker>,
    /// Changes on every attach and detach; timers carry the epoch they
    /// were set in and are ignored once it changed.
    pub(crate) epoch: u64,
}

impl SessionState {
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open)
    }

    /// Ends the session: no more frames, the application sees the end.
    pub(crate) fn end(&mut self, reason: CloseReason) {
        if matches!(self.phase, Phase::Ended) {
            return;
        }
        self.phase = Phase::Ended;
        let reason = self.reason.get_or_insert(reason);
        tracing::debug!(target: "sockjs", session = %self.id, transport = %self.transport, reason = ?reason, "session ended");
        self.counters.closed(self.transport);
        self.clear_outbox();
        self.heartbeat_due = false;
        wake(&mut self.app_waker);
        wake(&mut self.receiver_waker);
        self.wake_contender();
    }

    /// Tells a waiting second receiver that something changed.
    pub(crate) fn wake_contender(&mut self) {
        if let Some(contender) = &mut self.contender {
            wake(&mut contender.waker);
        }
    }

    /// Closes the session from the server side, at the application's word.
    pub(crate) fn close(&mut self, code: u16, reason: &str) {
        self.close_as(code, reason, CloseReason::Server { code, reason: reason.to_string() });
    }

    /// Closes the session from the server side with `c[code,"reason"]`;
    /// `why` is what [`Session::close_reason`] will report.
    pub(crate) fn close_as(&mut self, code: u16, reason: &str, why: CloseReason) {
        if !self.is_open() {
            return;
        }
        tracing::debug!(target: "sockjs", session = %self.id, code, reason, "session closed by the server");
        self.phase = Phase::Closing(Frame::close(code, reason));
        self.reason = Some(why);
        wake(&mut self.app_waker);
        wake(&mut self.receiver_waker);
    }

    /// Queues messages from the client for the application.
    pub(crate) fn deliver(&mut self, messages: impl IntoIterator<Item = String>) {
        if !self.is_open() {
            return;
        }
        let (mut count, mut bytes) = (0, 0);
        for message in messages {
            count += 1;
            bytes += message.len();
            self.inbox.push_back(message);
        }
        self.counters.received(count, bytes);
        if count > 0 {
            wake(&mut self.app_waker);
        }
    }

    fn push(&mut self, item: Bytes) -> Result<(), SendError> {
        if !self.is_open() {
            return Err(SendError::Closed);
        }
        if self.queued + item.len() > self.max_queue {
            // The client is not taking what it is sent: drop the backlog
            // and close, rather than grow without bound.
            self.clear_outbox();
            self.close_as(1009, "Outgoing queue full", CloseReason::QueueFull);
            return Err(SendError::QueueFull);
        }
        self.queued += item.len();
        self.outbox.push_back(item);
        self.counters.sent_message();
        wake(&mut self.receiver_waker);
        Ok(())
    }

    /// Takes every queued item.
    pub(crate) fn take_outbox(&mut self) -> std::collections::vec_deque::Drain<'_, Bytes> {
        self.queued = 0;
        self.outbox.drain(..)
    }

    /// Takes the oldest queued item.
    pub(crate) fn pop_outbox(&mut self) -> Option<Bytes> {
        let item = self.outbox.pop_front()?;
        self.queued -= item.len();
        Some(item)
    }

    fn clear_outbox(&mut self) {
        self.outbox.clear();
        self.queued = 0;
    }
}

/// A receiving request that arrived while another was attached.
#[derive(Debug)]
pub(crate) struct Contender {
    pub(crate) id: u64,
    pub(crate) waker: Option<Waker>,
    /// The grace period is over: answer 2010.
    pub(crate) expired: bool,
}

pub(crate) fn wake(waker: &mut Option<Waker>) {
    if let Some(w) = waker.take() {
        w.wake();
    }
}

pub(crate) fn store_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// What a timer entry holds of its session: a small allocation of its
/// own, so that entries still waiting in the heap after their session went
/// away keep these few bytes alive rather than the whole session.
#[derive(Debug, Default)]
pub(crate) struct TimerTarget(Mutex<Weak<SessionCell>>);

impl TimerTarget {
    pub(crate) fn upgrade(&self) -> Option<Arc<SessionCell>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).upgrade()
    }

    #[cfg(test)]
    pub(crate) fn points_at(&self, session: &Weak<SessionCell>) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).ptr_eq(session)
    }
}

/// The shared part of a session.
#[derive(Debug)]
pub(crate) struct SessionCell {
    pub(crate) info: SessionInfo,
    pub(crate) timer_target: Arc<TimerTarget>,
    /// False for raw websockets: no SockJS frames.
    pub(crate) framed: bool,
    state: Mutex<SessionState>,
    app_handles: AtomicUsize,
}

impl SessionCell {
    pub(crate) fn new(info: SessionInfo, framed: bool, max_queue: usize, counters: Arc<Counters>) -> Arc<SessionCell> {
        counters.opened(info.transport);
        tracing::debug!(target: "sockjs", session = %info.id, transport = %info.transport, "session opened");
        let transport = info.transport;
        let id = info.id.clone();
        let timer_target = Arc::new(TimerTarget::default());
        let cell = Arc::new(SessionCell {
            info,
            timer_target: timer_target.clone(),
            framed,
            state: Mutex::new(SessionState {
                phase: Phase::Open,
                reason: None,
                outbox: VecDeque::new(),
                queued: 0,
                max_queue,
                counters,
                transport,
                id,
                receiver: None,
                receiver_waker: None,
                heartbeat_due: false,
                contender: None,
                inbox: VecDeque::new(),
                app_waker: None,
                epoch: 0,
            }),
            app_handles: AtomicUsize::new(0),
        });
        *timer_target.0.lock().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(&cell);
        cell
    }

    /// Locks the session state. A panic elsewhere while it was held does
    /// not make the session unusable: its state is updated in single
    /// steps that leave it consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The application's handle to one SockJS session.
///
/// Cheap to clone; every clone refers to the same session. The session
/// stays open while a handle exists: when the last one is dropped, the
/// session is closed with `1000 "Normal closure"` (keep a clone, for
/// example in a broadcast list, to keep it open).
///
/// Incoming messages arrive through [`Session::recv`] or the [`Stream`]
/// implementation; receive from one task only.
///
/// ```
/// # use sockjs_core::Session;
/// async fn echo(mut session: Session) {
///     while let Some(message) = session.recv().await {
///         if session.send(message).is_err() {
///             break;
///         }
///     }
/// }
/// ```
pub struct Session {
    cell: Arc<SessionCell>,
}

impl Session {
    pub(crate) fn new(cell: Arc<SessionCell>) -> Session {
        cell.app_handles.fetch_add(1, Ordering::Relaxed);
        Session { cell }
    }

    #[cfg(test)]
    pub(crate) fn cell(&self) -> &Arc<SessionCell> {
        &self.cell
    }

    /// The session id from the URL (for websockets, the id in the URL;
    /// several websocket sessions may share one).
    pub fn id(&self) -> &str {
        &self.cell.info.id
    }

    /// The transport that opened the session.
    pub fn transport(&self) -> Transport {
        self.cell.info.transport
    }

    /// The URL of the request that opened the session.
    pub fn uri(&self) -> &Uri {
        &self.cell.info.uri
    }

    /// A whitelist of the opening request's headers (`host`, `origin`,
    /// `user-agent`, `referer`, `accept-language`, `x-forwarded-*`, ...).
    /// Never `cookie` or `authorization`.
    pub fn headers(&self) -> &HeaderMap {
        &self.cell.info.headers
    }

    /// The client's address: the peer of the connection that opened the
    /// session, or behind [`crate::Options::trusted_proxies`] the address
    /// from `X-Forwarded-For` (with port 0). `None` when the server does not
    /// know it.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.cell.info.remote_addr
    }

    /// What the endpoint's [`crate::Options::authorize`] hook attached to
    /// the session (empty without a hook).
    pub fn extensions(&self) -> &http::Extensions {
        &self.cell.info.extensions
    }

    /// Queues a message for the client.
    ///
    /// Fails once the session is closed; the message is then dropped.
    pub fn send(&self, message: impl AsRef<str>) -> Result<(), SendError> {
        let message = message.as_ref();
        let item = if self.cell.framed {
            Frame::message(message).into_bytes()
        } else {
            Bytes::copy_from_slice(message.as_bytes())
        };
        self.cell.lock().push(item)
    }

    /// Queues a message encoded once for many sessions (see [`Message`]).
    pub fn send_message(&self, message: &Message) -> Result<(), SendError> {
        let item = if self.cell.framed { message.frame.as_bytes().clone() } else { message.text.clone() };
        self.cell.lock().push(item)
    }

    /// Serialises `value` as JSON and sends it as one message.
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        let text = serde_json::to_string(value).map_err(|_| SendError::Closed)?;
        self.send(text)
    }

    /// Closes the session with a code and reason, such as `3000,
    /// "Go away!"`. Queued messages are delivered first. Closing a session
    /// that is no longer open does nothing.
    pub fn close(&self, code: u16, reason: &str) {
        self.cell.lock().close(code, reason);
    }

    /// Whether the session is open: not closed by either side.
    pub fn is_open(&self) -> bool {
        self.cell.lock().is_open()
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.cell.lock().reason.clone()
    }

    /// Receives the next message from the client; `None` once the session
    /// is closed and every received message was taken.
    pub fn recv(&mut self) -> Recv<'_> {
        Recv { session: self }
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        let mut state = self.cell.lock();
        if let Some(message) = state.inbox.pop_front() {
            return Poll::Ready(Some(message));
        }
        if !state.is_open() {
            return Poll::Ready(None);
        }
        store_waker(&mut state.app_waker, cx);
        Poll::Pending
    }
}

impl Drop for SessionCell {
    fn drop(&mut self) {
        // Release the timer target's weak reference, so that the session's
        // memory goes now, not when its last timer entry comes due.
        *self.timer_target.0.lock().unwrap_or_else(|p| p.into_inner()) = Weak::new();
    }
}

impl Clone for Session {
    fn clone(&self) -> Session {
        Session::new(self.cell.clone())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.cell.app_handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.cell.lock().close(1000, "Normal closure");
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("id", &self.id()).field("transport", &self.transport()).finish()
    }
}

impl Stream for Session {
    type Item = String;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.poll_recv(cx)
    }
}

/// The future of [`Session::recv`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a> {
    session: &'a mut Session,
}

impl Future for Recv<'_> {
    type Output = Option<String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.session.poll_recv(cx)
    }
}
