//! [`Connection`], the application's side of an open session, and how a
//! transport is opened on it.
//!
//! Each connection runs two tasks: a receiver (the websocket's reading
//! half, or the polls or streaming responses) and a sender (the
//! websocket's writing half, or `xhr_send` requests one at a time).
//! Whichever ends the connection first records its [`Close`]; that wakes
//! the other, which stops.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::endpoint::Endpoint;
use crate::session::{Command, Handles, Parts, Shared};
use crate::{http, websocket, Close, Error, Info, Stats, Transport};

/// Opens `transport` on the session at `session_path` and waits for the
/// open frame.
pub(crate) async fn open(
    endpoint: &Endpoint,
    info: &Info,
    transport: Transport,
    session_path: &str,
) -> Result<Connection, Error> {
    let limits = endpoint.limits;
    let (parts, Handles { messages: messages_rx, commands: commands_tx, opened: opened_rx }) = Parts::new(limits);
    let shared = parts.shared.clone();
    let (tasks, extension) = match transport {
        Transport::WebSocket => {
            let uri = endpoint.base.ws(&format!("{session_path}/websocket"));
            let cookies = endpoint.http.cookies();
            let connect = websocket::connect(
                uri,
                &endpoint.headers,
                cookies,
                endpoint.tls.as_ref(),
                limits,
                endpoint.deflate.as_ref(),
            );
            let ws = tokio::time::timeout(limits.open_timeout, connect)
                .await
                .map_err(|_| Error::Timeout { waiting_for: "the websocket handshake", after: limits.open_timeout })??;
            let extension = ws.extension().map(str::to_owned);
            (websocket::spawn(ws, parts), extension)
        }
        _ => {
            let uri = |suffix: &str| endpoint.base.http(&format!("{session_path}/{suffix}"));
            (http::spawn(&endpoint.http, &endpoint.headers, uri, transport, parts), None)
        }
    };
    let inner = Arc::new(Inner {
        shared: shared.clone(),
        commands: commands_tx,
        tasks,
        transport,
        extension,
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
    /// The websocket's permessage-deflate parameters, when agreed.
    extension: Option<String>,
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
        let permit = inner.shared.reserve(cost).await?;
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
            wire_bytes_received: s.wire_bytes_received.load(Ordering::Relaxed),
            wire_bytes_sent: s.wire_bytes_sent.load(Ordering::Relaxed),
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

    /// On a websocket whose server agreed to compress
    /// ([`Client::websocket_deflate`](crate::Client::websocket_deflate)),
    /// the permessage-deflate parameters agreed, as a
    /// `Sec-WebSocket-Extensions` value; `None` otherwise.
    pub fn websocket_extension(&self) -> Option<&str> {
        self.sender.inner.extension.as_deref()
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
