//! [`Connection`], the application's side of an open session, and what
//! every transport shares: the receive loop over frames, the send queue
//! and its batches, and how a connection ends once.
//!
//! Each connection runs two tasks: a receiver (the websocket's reading
//! half, or the polls or streaming responses) and a sender (the
//! websocket's writing half, or `xhr_send` requests one at a time).
//! Whichever ends the connection first records its [`Close`]; that wakes
//! the other, which stops.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;

use crate::client::Client;
use crate::frame::Frame;
use crate::{http, websocket, Close, Error, Info, Stats, Transport};

/// The bounds and timeouts of a connection (see the `Client` methods).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_frame: usize,
    pub(crate) receive_queue: usize,
    pub(crate) send_queue: usize,
    pub(crate) send_batch: usize,
    pub(crate) open_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame: 1 << 20,
            receive_queue: 64,
            send_queue: 1 << 20,
            send_batch: 64 << 10,
            open_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// State both tasks and the application see.
#[derive(Debug)]
pub(crate) struct Shared {
    close: Mutex<Option<Close>>,
    ended: watch::Sender<bool>,
    /// Bytes of the send queue; closed when the connection ends.
    budget: Arc<Semaphore>,
    pub(crate) heartbeats: AtomicU64,
    pub(crate) messages_received: AtomicU64,
    pub(crate) messages_sent: AtomicU64,
    pub(crate) receive_requests: AtomicU64,
    pub(crate) send_requests: AtomicU64,
}

impl Shared {
    fn new(send_queue: usize) -> Shared {
        Shared {
            close: Mutex::new(None),
            ended: watch::channel(false).0,
            budget: Arc::new(Semaphore::new(send_queue)),
            heartbeats: AtomicU64::new(0),
            messages_received: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            receive_requests: AtomicU64::new(0),
            send_requests: AtomicU64::new(0),
        }
    }

    /// Ends the connection with `close`, unless it has ended already.
    pub(crate) fn finish(&self, close: Close) {
        {
            let mut slot = self.close.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(close);
            }
        }
        self.budget.close();
        self.ended.send_replace(true);
    }

    pub(crate) fn close_reason(&self) -> Option<Close> {
        self.close.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Resolves once the connection has ended.
    pub(crate) async fn ended(&self) {
        let mut ended = self.ended.subscribe();
        let _ = ended.wait_for(|e| *e).await;
    }
}

/// What the application asks of the sender task.
#[derive(Debug)]
pub(crate) enum Command {
    /// A message and the queue bytes it holds until it is sent.
    Send(String, OwnedSemaphorePermit),
    /// Send what is queued before, then close.
    Close { code: u16, reason: String, done: oneshot::Sender<()> },
}

/// What the sender task does next.
pub(crate) enum Next {
    /// Send these messages as one array (then, maybe, close).
    Batch { messages: Vec<String>, permits: Vec<OwnedSemaphorePermit>, then_close: Option<Command> },
    /// Close now.
    Close(Command),
    /// Stop: the connection ended or every handle is gone.
    Stop,
}

/// The sender's queue: takes everything waiting, up to a batch's size.
pub(crate) struct Outbox {
    commands: mpsc::UnboundedReceiver<Command>,
    held: Option<Command>,
    batch: usize,
}

impl Outbox {
    /// Waits for the next thing to do and takes what queued with it.
    pub(crate) async fn next(&mut self, shared: &Shared) -> Next {
        let first = match self.held.take() {
            Some(c) => c,
            None => tokio::select! {
                biased;
                () = shared.ended() => return Next::Stop,
                c = self.commands.recv() => match c {
                    Some(c) => c,
                    None => return Next::Stop,
                },
            },
        };
        let (mut messages, mut permits, mut size) = match first {
            Command::Send(m, p) => {
                let size = m.len() + 3;
                (vec![m], vec![p], size)
            }
            close @ Command::Close { .. } => return Next::Close(close),
        };
        while let Ok(c) = self.commands.try_recv() {
            match c {
                Command::Send(m, p) if size + m.len() + 3 <= self.batch => {
                    size += m.len() + 3;
                    messages.push(m);
                    permits.push(p);
                }
                close @ Command::Close { .. } => {
                    return Next::Batch { messages, permits, then_close: Some(close) };
                }
                other => {
                    self.held = Some(other);
                    break;
                }
            }
        }
        Next::Batch { messages, permits, then_close: None }
    }
}

/// Carries out a close command: records the application's close.
pub(crate) fn close_now(shared: &Shared, command: Command) {
    if let Command::Close { code, reason, done } = command {
        shared.finish(Close::clean(code, reason));
        let _ = done.send(());
    }
}

/// What a receiver hands its frames to.
pub(crate) struct Inbound {
    shared: Arc<Shared>,
    messages: mpsc::Sender<String>,
    opened: Option<oneshot::Sender<()>>,
}

impl Inbound {
    /// Takes one frame. `Ok(false)` when the frame ended the connection.
    pub(crate) async fn take(&mut self, frame: Frame) -> Result<bool, Error> {
        match frame {
            Frame::Open => match self.opened.take() {
                Some(opened) => {
                    let _ = opened.send(());
                }
                None => {
                    // §6: a new session where ours should be; sockjs-client
                    // closes with 1006 too.
                    self.shared.finish(Close {
                        code: 1006,
                        reason: "Server lost session".into(),
                        was_clean: false,
                        error: None,
                    });
                    return Ok(false);
                }
            },
            Frame::Heartbeat => {
                self.shared.heartbeats.fetch_add(1, Ordering::Relaxed);
            }
            Frame::Prelude => {}
            Frame::Messages(_) | Frame::Close(..) if self.opened.is_some() => {
                return Err(Error::Protocol("a frame before the open frame".into()));
            }
            Frame::Messages(messages) => {
                for message in messages {
                    self.shared.messages_received.fetch_add(1, Ordering::Relaxed);
                    // Waits while the application's queue is full: the
                    // receiver stops reading, which is the backpressure.
                    if self.messages.send(message).await.is_err() {
                        return Ok(false); // the application is gone
                    }
                }
            }
            Frame::Close(code, reason) => {
                self.shared.finish(Close::clean(code, reason));
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Runs a receiver until the connection ends; a failure ends it with
/// 1006.
pub(crate) async fn run_receiver(shared: Arc<Shared>, receiving: impl std::future::Future<Output = Result<(), Error>>) {
    tokio::select! {
        () = shared.ended() => {}
        result = receiving => match result {
            Ok(()) => shared.finish(Close::failure_free_end()),
            Err(e) => shared.finish(Close::failed(e)),
        },
    }
}

impl Close {
    /// A receiver that stopped without a close frame or an error (the
    /// application dropped its side): nothing more to say.
    fn failure_free_end() -> Close {
        Close::clean(1000, "Normal closure")
    }
}

/// Where a connection's tasks start from.
pub(crate) struct Parts {
    pub(crate) shared: Arc<Shared>,
    pub(crate) inbound: Inbound,
    pub(crate) outbox: Outbox,
    pub(crate) limits: Limits,
}

/// Opens `transport` on the session at `session_path` and waits for the
/// open frame.
pub(crate) async fn open(
    client: &Client,
    info: &Info,
    transport: Transport,
    session_path: &str,
) -> Result<Connection, Error> {
    let limits = client.limits;
    let shared = Arc::new(Shared::new(limits.send_queue));
    let (messages_tx, messages_rx) = mpsc::channel(limits.receive_queue);
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (opened_tx, opened_rx) = oneshot::channel();
    let parts = Parts {
        shared: shared.clone(),
        inbound: Inbound { shared: shared.clone(), messages: messages_tx, opened: Some(opened_tx) },
        outbox: Outbox { commands: commands_rx, held: None, batch: limits.send_batch },
        limits,
    };
    let tasks = match transport {
        Transport::WebSocket => {
            let uri = client.base().ws(&format!("{session_path}/websocket"));
            let ws = tokio::time::timeout(
                limits.open_timeout,
                websocket::connect(uri, client.headers(), client.http().cookies(), client.tls(), limits),
            )
            .await
            .map_err(|_| Error::Timeout { waiting_for: "the websocket handshake", after: limits.open_timeout })??;
            websocket::spawn(ws, parts)
        }
        _ => http::spawn(client, transport, session_path, parts),
    };
    let inner = Arc::new(Inner {
        shared: shared.clone(),
        commands: commands_tx,
        tasks,
        transport,
        max_message: limits.max_frame,
        send_queue: limits.send_queue,
        request_timeout: limits.request_timeout,
    });
    let connection = Connection {
        messages: messages_rx,
        sender: Sender { inner },
        info: info.clone(),
        session_path: session_path.to_owned(),
    };
    match tokio::time::timeout(limits.open_timeout, opened_rx).await {
        Ok(Ok(())) => Ok(connection),
        // The receiver ended before the open frame: why is in the close.
        Ok(Err(_)) => Err(match shared.close_reason() {
            Some(Close { error: Some(e), .. }) => Arc::try_unwrap(e).unwrap_or_else(|e| Error::Protocol(e.to_string())),
            Some(close) => Error::Protocol(format!("closed before the open frame: {close}")),
            None => Error::Protocol("closed before the open frame".into()),
        }),
        Err(_) => Err(Error::Timeout { waiting_for: "the open frame", after: limits.open_timeout }),
    }
}

/// The tasks of a connection and the way to them; the tasks stop when the
/// last handle ([`Connection`] or [`Sender`]) is dropped.
#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    tasks: Vec<AbortHandle>,
    transport: Transport,
    max_message: usize,
    send_queue: usize,
    request_timeout: Duration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A handle that sends and closes, for another task than the one that
/// receives ([`Connection::sender`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

impl Sender {
    /// Queues `message` for the server. Waits while the send queue is
    /// full; returns once the message is queued, not once it arrived
    /// (the server acknowledges it, or the connection closes with
    /// `1006 "Sending error: ..."`).
    pub async fn send(&self, message: impl Into<String>) -> Result<(), Error> {
        let message = message.into();
        let inner = &self.inner;
        if message.len() > inner.max_message {
            return Err(Error::MessageTooLarge { len: message.len(), limit: inner.max_message });
        }
        if inner.shared.close_reason().is_some() {
            return Err(Error::Closed);
        }
        // A message longer than the whole queue waits for all of it.
        let cost = message.len().clamp(1, inner.send_queue) as u32;
        let permit = inner.shared.budget.clone().acquire_many_owned(cost).await.map_err(|_| Error::Closed)?;
        inner.commands.send(Command::Send(message, permit)).map_err(|_| Error::Closed)
    }

    /// Sends `value` as its JSON text (for servers that parse messages as
    /// JSON, like STOMP-over-SockJS does not but many applications do).
    pub async fn send_json(&self, value: &serde_json::Value) -> Result<(), Error> {
        self.send(value.to_string()).await
    }

    /// Closes the session with `code` (1000 or 3000-4999) and `reason`
    /// (at most 123 bytes), after what was queued before has been sent.
    /// Waits (at most the request timeout) until it is done; closing a
    /// connection that has ended does nothing.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        if code != 1000 && !(3000..=4999).contains(&code) {
            return Err(Error::InvalidClose(format!("code {code} (allowed: 1000, 3000-4999)")));
        }
        if reason.len() > 123 {
            return Err(Error::InvalidClose(format!("a reason of {} bytes (at most 123)", reason.len())));
        }
        let inner = &self.inner;
        let (done, closed) = oneshot::channel();
        if inner.commands.send(Command::Close { code, reason: reason.to_owned(), done }).is_err() {
            return Ok(());
        }
        tokio::select! {
            _ = closed => {}
            () = inner.shared.ended() => {}
            () = tokio::time::sleep(inner.request_timeout) => {
                // The queue did not drain in time: close anyway.
                inner.shared.finish(Close::clean(code, reason));
            }
        }
        Ok(())
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        self.inner.transport
    }

    /// How the connection ended, once it has.
    pub fn close_reason(&self) -> Option<Close> {
        self.inner.shared.close_reason()
    }

    /// Waits until the connection has ended and says how.
    pub async fn closed(&self) -> Close {
        self.inner.shared.ended().await;
        self.inner.shared.close_reason().unwrap_or_else(|| Close::clean(1000, "Normal closure"))
    }

    /// The connection's counters.
    pub fn stats(&self) -> Stats {
        let s = &self.inner.shared;
        Stats {
            heartbeats: s.heartbeats.load(Ordering::Relaxed),
            messages_received: s.messages_received.load(Ordering::Relaxed),
            messages_sent: s.messages_sent.load(Ordering::Relaxed),
            receive_requests: s.receive_requests.load(Ordering::Relaxed),
            send_requests: s.send_requests.load(Ordering::Relaxed),
        }
    }
}

/// An open SockJS session: receive with [`recv`](Connection::recv) (or as
/// a [`Stream`](futures_core::Stream) of messages), send with
/// [`send`](Connection::send), end with [`close`](Connection::close).
/// Dropping it (and every [`Sender`]) drops the transport without a
/// close.
#[derive(Debug)]
pub struct Connection {
    messages: mpsc::Receiver<String>,
    sender: Sender,
    info: Info,
    session_path: String,
}

impl Connection {
    /// The next message; `None` once the connection has ended and every
    /// message received before has been taken.
    pub async fn recv(&mut self) -> Option<String> {
        self.messages.recv().await
    }

    /// A message if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<String> {
        self.messages.try_recv().ok()
    }

    /// See [`Sender::send`].
    pub async fn send(&self, message: impl Into<String>) -> Result<(), Error> {
        self.sender.send(message).await
    }

    /// See [`Sender::close`].
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        self.sender.close(code, reason).await
    }

    /// A handle to send and close from elsewhere.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        self.sender.transport()
    }

    /// How the connection ended, once it has.
    pub fn close_reason(&self) -> Option<Close> {
        self.sender.close_reason()
    }

    /// Waits until the connection has ended and says how (the messages
    /// received before stay available to [`recv`](Connection::recv)).
    pub async fn closed(&self) -> Close {
        self.sender.closed().await
    }

    /// What `/info` said before the session opened.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The session's `/<server>/<session>` path under the base URL.
    pub fn session_path(&self) -> &str {
        &self.session_path
    }

    /// The connection's counters.
    pub fn stats(&self) -> Stats {
        self.sender.stats()
    }
}

impl futures_core::Stream for Connection {
    type Item = String;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.messages.poll_recv(cx)
    }
}
