//! The application's side: the [`Handler`] that runs for each new session,
//! the [`Session`] handle it gets, and starting it.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderMap, Uri};

use crate::frame::Frame;
use crate::message::Message;
use crate::session::SessionCell;
use crate::state::{CloseReason, Queued, SendError};
use crate::Transport;

/// A boxed application task, to be spawned by the adapter.
pub type AppTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Application code that runs once for every new session.
///
/// Implemented for every `Fn(Session) -> impl Future<Output = ()>` closure
/// that is `Send + Sync + 'static`:
///
/// ```
/// use sockjs_core::{Handler, Session};
/// fn assert_handler(_: impl Handler) {}
/// assert_handler(|mut session: Session| async move {
///     while let Some(m) = session.recv().await {
///         let _ = session.send(m);
///     }
/// });
/// ```
///
/// Or implement it for a type of your own, for example to hold shared
/// state:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use sockjs_core::{AppTask, Endpoint, Handler, Options, Session};
///
/// struct Counter {
///     sessions: Arc<AtomicUsize>,
/// }
///
/// impl Handler for Counter {
///     fn call(&self, mut session: Session) -> AppTask {
///         let n = self.sessions.fetch_add(1, Ordering::Relaxed) + 1;
///         Box::pin(async move {
///             let _ = session.send(format!("you are visitor {n}"));
///             while session.recv().await.is_some() {}
///         })
///     }
/// }
///
/// let endpoint = Endpoint::new(Options::new("/count"), Counter { sessions: Arc::default() });
/// # drop(endpoint);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Runs the application for one session; the returned future is
    /// spawned and runs for as long as the application wants.
    fn call(&self, session: Session) -> AppTask;
}

impl<F, Fut> Handler for F
where
    F: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, session: Session) -> AppTask {
        Box::pin(self(session))
    }
}

/// Starts the application for a new session: runs its task up to its
/// first suspension point, inside a `sockjs_session` span, and returns it
/// if it has more to do (the adapter spawns it).
///
/// This happens before the session's first frame can reach the client, so
/// the handler's synchronous start (registering the session in a
/// broadcast list, say) comes before the client can react to `o`, as with
/// sockjs-node. The spawned task is polled again when it starts, so no wake
/// up is lost. Called with no lock held.
pub(crate) fn start(handler: &dyn Handler, cell: Arc<SessionCell>) -> Option<AppTask> {
    use tracing::Instrument;
    let session = Session::new(cell);
    let span =
        tracing::debug_span!(target: "sockjs", "sockjs_session", id = session.id(), transport = %session.transport());
    let mut task: AppTask = Box::pin(handler.call(session).instrument(span));
    let mut cx = Context::from_waker(Waker::noop());
    task.as_mut().poll(&mut cx).is_pending().then_some(task)
}

/// Why [`Session::send_json`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendJsonError {
    /// The value could not be serialised; nothing was sent.
    Serialize(serde_json::Error),
    /// The message could not be queued.
    Send(SendError),
}

impl fmt::Display for SendJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendJsonError::Serialize(e) => write!(f, "the message could not be serialised as JSON: {e}"),
            SendJsonError::Send(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SendJsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendJsonError::Serialize(e) => Some(e),
            SendJsonError::Send(e) => Some(e),
        }
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
/// implementation; receive from one task only. Until they are taken, they
/// wait in the session's inbox, bounded by [`crate::Options::max_inbox()`]:
/// when it is full, the client is slowed down (its websocket is no longer
/// read, its send requests wait), so an application that never receives
/// holds at most that much per session.
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

    /// The opening request's headers named in
    /// [`crate::Options::session_headers()`] (by default `host`, `origin`,
    /// `user-agent`, `referer`, `accept-language`, `x-forwarded-*`, ...;
    /// `cookie` and `authorization` only when named there).
    pub fn headers(&self) -> &HeaderMap {
        &self.cell.info.headers
    }

    /// The client's address: the peer of the connection that opened the
    /// session, or behind [`crate::Options::trusted_proxies()`] the address
    /// from `X-Forwarded-For` (with port 0). `None` when the server does not
    /// know it.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.cell.info.remote_addr
    }

    /// What the endpoint's [`crate::Options::authorize()`] hook attached to
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
        self.push(Queued::Bytes(item))
    }

    /// Queues a message encoded once for many sessions (see [`Message`]).
    pub fn send_message(&self, message: &Message) -> Result<(), SendError> {
        self.push(Queued::Message(message.clone()))
    }

    fn push(&self, item: Queued) -> Result<(), SendError> {
        self.cell.push(item)
    }

    /// Serialises `value` as JSON and sends it as one message.
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), SendJsonError> {
        let text = serde_json::to_string(value).map_err(SendJsonError::Serialize)?;
        self.send(text).map_err(SendJsonError::Send)
    }

    /// Closes the session with a code and reason, such as `3000,
    /// "Go away!"`. Queued messages are delivered first. Closing a session
    /// that is no longer open does nothing.
    pub fn close(&self, code: u16, reason: &str) {
        self.cell.close(code, reason, CloseReason::Server { code, reason: reason.to_string() });
    }

    /// Whether the session is open: not closed by either side.
    pub fn is_open(&self) -> bool {
        self.cell.read(|state| state.is_open())
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.cell.read(|state| state.reason().cloned())
    }

    /// Receives the next message from the client; `None` once the session
    /// is closed and every received message was taken.
    pub fn recv(&mut self) -> Recv<'_> {
        Recv { session: self }
    }

    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.cell.update(|state, w| state.poll_recv(cx, w))
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
            let why = CloseReason::Server { code: 1000, reason: "Normal closure".into() };
            self.cell.close(1000, "Normal closure", why);
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
