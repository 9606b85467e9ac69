//! websocket-multiplex channels over one connection: the client side of
//! the protocol of the npm package `websocket-multiplex` 0.1.0 (its
//! browser client `WebSocketMultiplex`), for any server that speaks it
//! (sockjs-node with that package's `MultiplexServer`, sockjs-rs's
//! `sockjs_core::multiplex`).
//!
//! ```no_run
//! use sockjs_client::multiplex::Multiplexer;
//!
//! # async fn demo() -> Result<(), sockjs_client::Error> {
//! let connection = sockjs_client::Client::new("http://127.0.0.1:8081/multiplex")?.connect().await?;
//! let multiplexer = Multiplexer::new(connection);
//! let mut ann = multiplexer.channel("ann").await?;
//! let mut bob = multiplexer.channel("bob").await?;
//! ann.send("hi Ann").await?;
//! bob.send("hi Bob").await?;
//! println!("{:?} {:?}", ann.recv().await, bob.recv().await);
//! ann.close().await?;
//! # Ok(()) }
//! ```
//!
//! # The protocol, from this side
//!
//! A channel's name goes on the wire through JavaScript's `escape()`, as
//! the browser client sends it (`a b` is the topic `a%20b`).
//! [`Multiplexer::channel`] sends `sub,TOPIC`; [`Channel::send`] sends
//! `msg,TOPIC,TEXT`; [`Channel::close`] sends `uns,TOPIC`. From the
//! server, `msg,TOPIC,PAYLOAD` (split at the first two commas: the
//! payload keeps the rest) reaches that channel's [`Channel::recv`], and
//! `uns,TOPIC` closes the channel (its `recv` ends). Messages for a topic
//! with no open channel, and of any other type, are ignored, as the
//! browser client ignores them. Opening a channel whose topic is open
//! already replaces the old one (its `recv` ends), as the browser client
//! does.
//!
//! # Bounds
//!
//! Each channel's received messages wait in a queue of
//! [`Multiplexer::with_queue`] messages ([`DEFAULT_CHANNEL_QUEUE`]). When
//! a channel does not take them, the multiplexer stops taking the
//! connection's messages, whose own bound ([`crate::Client::receive_queue`])
//! then holds the server back: one slow channel holds up the others, and
//! nothing is dropped. The channels are the ones the application opens.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::{Close, Connection, Error, Sender, Transport};

/// The default of [`Multiplexer::with_queue`]: 64 messages per channel.
pub const DEFAULT_CHANNEL_QUEUE: usize = 64;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The open channels by topic: one owner, the [`Shared`] they all hold.
#[derive(Debug, Default)]
struct Routes {
    open: HashMap<String, Route>,
    /// The connection ended: no channel opens any more.
    ended: bool,
}

#[derive(Debug)]
struct Route {
    id: u64,
    tx: mpsc::Sender<String>,
}

/// What the multiplexer and its channels share. Dropped with the last of
/// them, which stops the task that reads the connection.
#[derive(Debug)]
struct Shared {
    sender: Sender,
    routes: Mutex<Routes>,
    next_id: AtomicU64,
    queue: usize,
    reader: AbortHandle,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Shared {
    /// Takes the channel `id` out of the routes; whether it was there.
    fn remove(&self, topic: &str, id: u64) -> bool {
        let mut routes = lock(&self.routes);
        if routes.open.get(topic).is_some_and(|r| r.id == id) {
            routes.open.remove(topic);
            true
        } else {
            false
        }
    }
}

/// Channels over one connection. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Multiplexer {
    shared: Arc<Shared>,
}

impl Multiplexer {
    /// Multiplexes `connection` (which must be on tokio's runtime: a task
    /// reads it), with [`DEFAULT_CHANNEL_QUEUE`].
    pub fn new(connection: Connection) -> Multiplexer {
        Multiplexer::with_queue(connection, DEFAULT_CHANNEL_QUEUE)
    }

    /// Multiplexes `connection`, each channel's received messages queued up
    /// to `messages` (at least 1).
    pub fn with_queue(connection: Connection, messages: usize) -> Multiplexer {
        let queue = messages.max(1);
        let sender = connection.sender();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Arc<Shared>>();
        let reader = tokio::spawn(async move {
            let Ok(shared) = ready_rx.await else { return };
            let weak = Arc::downgrade(&shared);
            drop(shared);
            read(connection, weak).await;
        });
        let shared = Arc::new(Shared {
            sender,
            routes: Mutex::default(),
            next_id: AtomicU64::new(0),
            queue,
            reader: reader.abort_handle(),
        });
        // The reader holds the shared state weakly (it lives as long as a
        // handle does): handed over as an `Arc`, downgraded there.
        let _ = ready_tx.send(shared.clone());
        Multiplexer { shared }
    }

    /// Opens the channel `name`: sends `sub,TOPIC` (TOPIC is `name` as
    /// JavaScript's `escape()` writes it). The server answers nothing on
    /// success; a server that refuses closes the channel with `uns`, which
    /// ends its `recv`.
    pub async fn channel(&self, name: &str) -> Result<Channel, Error> {
        let topic = sockjs_core::multiplex::escape_topic(name);
        let (tx, rx) = mpsc::channel(self.shared.queue);
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut routes = lock(&self.shared.routes);
            if routes.ended {
                return Err(Error::Closed);
            }
            routes.open.insert(topic.clone(), Route { id, tx });
        }
        let channel = Channel { shared: self.shared.clone(), topic, id, rx };
        self.shared.sender.send(format!("sub,{}", channel.topic)).await?;
        Ok(channel)
    }

    /// The connection's sender (to close the whole connection, or send
    /// outside any channel).
    pub fn sender(&self) -> &Sender {
        &self.shared.sender
    }

    /// The connection's transport.
    pub fn transport(&self) -> Transport {
        self.shared.sender.transport()
    }

    /// Closes the whole connection (see [`Sender::close`]); every channel's
    /// `recv` ends.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        self.shared.sender.close(code, reason).await
    }

    /// Waits until the connection has ended and says how.
    pub async fn closed(&self) -> Close {
        self.shared.sender.closed().await
    }
}

/// Reads the connection and hands each `msg` to its channel, until the
/// connection ends or the last handle is gone.
async fn read(mut connection: Connection, shared: std::sync::Weak<Shared>) {
    while let Some(message) = connection.recv().await {
        let Some(shared) = shared.upgrade() else { return };
        let mut parts = message.splitn(3, ',');
        let (Some(kind), Some(topic)) = (parts.next(), parts.next()) else { continue };
        match kind {
            "msg" => {
                let tx = lock(&shared.routes).open.get(topic).map(|r| r.tx.clone());
                if let Some(tx) = tx {
                    let payload = parts.next().unwrap_or("").to_owned();
                    drop(shared);
                    // Waits while the channel's queue is full.
                    let _ = tx.send(payload).await;
                }
            }
            "uns" => {
                lock(&shared.routes).open.remove(topic);
            }
            _ => {}
        }
    }
    if let Some(shared) = shared.upgrade() {
        let mut routes = lock(&shared.routes);
        routes.ended = true;
        routes.open.clear();
    }
}

/// One channel: send, receive, close. Dropping an open channel closes it
/// (`uns,TOPIC` is sent from a task of its own).
pub struct Channel {
    shared: Arc<Shared>,
    topic: String,
    id: u64,
    rx: mpsc::Receiver<String>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl Channel {
    /// The topic on the wire (the escaped name).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Whether neither side closed the channel (and the connection is
    /// open).
    pub fn is_open(&self) -> bool {
        lock(&self.shared.routes).open.get(&self.topic).is_some_and(|r| r.id == self.id)
    }

    /// Sends `msg,TOPIC,TEXT` (see [`Sender::send`]); [`Error::Closed`]
    /// once the channel is closed.
    pub async fn send(&self, text: impl AsRef<str>) -> Result<(), Error> {
        if !self.is_open() {
            return Err(Error::Closed);
        }
        self.shared.sender.send(format!("msg,{},{}", self.topic, text.as_ref())).await
    }

    /// The next message on the channel; `None` once the channel or the
    /// connection is closed and every message received before was taken.
    pub async fn recv(&mut self) -> Option<String> {
        self.rx.recv().await
    }

    /// Closes the channel: sends `uns,TOPIC`; `recv` ends once what was
    /// received before is taken. Closing a closed channel does nothing.
    pub async fn close(&mut self) -> Result<(), Error> {
        if self.shared.remove(&self.topic, self.id) {
            self.rx.close();
            self.shared.sender.send(format!("uns,{}", self.topic)).await?;
        }
        Ok(())
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        if self.shared.remove(&self.topic, self.id) {
            let sender = self.shared.sender.clone();
            let uns = format!("uns,{}", self.topic);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = sender.send(uns).await;
                });
            }
        }
    }
}

impl futures_core::Stream for Channel {
    type Item = String;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<String>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use sockjs_core::multiplex::escape_topic;

    /// As JavaScript's `escape()` writes names (ECMA-262 B.2.1.1).
    #[test]
    fn names_escape_as_javascript_does() {
        assert_eq!(escape_topic("bob"), "bob");
        assert_eq!(escape_topic("a b,c"), "a%20b%2Cc");
        assert_eq!(escape_topic("é€"), "%E9%u20AC");
    }
}
