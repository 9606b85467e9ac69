//! Broadcast to the SockJS sessions of every instance of a service, over a
//! Redis pub/sub channel.
//!
//! Each instance holds its own sessions. A [`RedisBroadcast`] keeps the
//! local members of a broadcast and one subscription to a Redis channel:
//! [`RedisBroadcast::publish`] sends a message to the channel, and a
//! background task delivers every message of the channel to every local
//! member, encoded once ([`Message::new`]). A message published on any
//! instance therefore reaches every member of every instance exactly once,
//! the publisher's own instance included: local members get it through the
//! channel too, never directly.
//!
//! ```no_run
//! # async fn example() -> Result<(), sockjs_redis::Error> {
//! use sockjs_core::{Endpoint, Options, Session};
//! use sockjs_redis::RedisBroadcast;
//!
//! let room = RedisBroadcast::connect("redis://127.0.0.1:6379/", "chat")?;
//! let endpoint = Endpoint::new(Options::new("/chat"), move |mut session: Session| {
//!     let room = room.clone();
//!     async move {
//!         // Join before the first .await: no message is missed after open.
//!         let _membership = room.join(session.clone());
//!         while let Some(text) = session.recv().await {
//!             if room.publish(&text).await.is_err() {
//!                 let _ = session.send("(not delivered: the broadcast is unavailable)");
//!             }
//!         }
//!     }
//! });
//! # drop(endpoint);
//! # Ok(())
//! # }
//! ```
//!
//! # When Redis goes away
//!
//! Local sessions are not affected: they stay open and the application
//! keeps receiving their messages. What is lost while Redis is unreachable:
//!
//! * every [`publish`](RedisBroadcast::publish) returns an [`Error`]; the
//!   message is not sent anywhere (not even to local members);
//! * messages that other instances managed to publish while this
//!   instance's subscription was down are never delivered here: Redis
//!   pub/sub is at-most-once and keeps no backlog.
//!
//! The subscriber reconnects on its own, with a backoff from 100 ms
//! doubling to 5 s (reset after each successful subscription); the
//! publishing connection is re-opened on the next publish after a failure
//! or after the subscription was lost. [`RedisBroadcast::is_subscribed`]
//! and [`RedisBroadcast::subscribed`] tell when delivery works again.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use sockjs_core::{Message, Session};
use tokio::sync::{mpsc, oneshot, watch};

/// The first reconnection delay of the subscriber.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest reconnection delay of the subscriber.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The bound on opening a connection to Redis.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The bound on one PUBLISH round trip.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// Publishes waiting for the publishing connection, beyond which
/// [`RedisBroadcast::publish`] fails at once with [`Error::Overloaded`].
pub const PUBLISH_QUEUE: usize = 4096;

/// Why a publish (or connecting) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Redis refused, dropped or never accepted the connection or command.
    Redis(redis::RedisError),
    /// Connecting or the PUBLISH round trip took too long. The message may
    /// or may not have been published.
    Timeout,
    /// Too many publishes are waiting already.
    Overloaded,
    /// The broadcast's background tasks have stopped (their runtime shut
    /// down).
    Stopped,
    /// [`RedisBroadcast::connect`] was called outside a tokio runtime.
    NoRuntime,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Redis(e) => write!(f, "redis: {e}"),
            Error::Timeout => f.write_str("redis did not answer in time"),
            Error::Overloaded => f.write_str("too many publishes waiting"),
            Error::Stopped => f.write_str("the broadcast has stopped"),
            Error::NoRuntime => f.write_str("RedisBroadcast::connect must be called within a tokio runtime"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Redis(e) => Some(e),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::Redis(e)
    }
}

/// What the background tasks and the handles share.
struct Shared {
    members: Mutex<HashMap<u64, Session>>,
    next_key: AtomicU64,
    /// Counts lost subscriptions, so that the publisher drops a connection
    /// opened before the last one was lost (it is most likely dead too).
    subscription_losses: AtomicU64,
    subscribed: watch::Sender<bool>,
    delivered: AtomicU64,
}

impl Shared {
    fn members(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Session>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends one channel message to every local member, encoded once;
    /// members whose session has ended leave.
    fn deliver(&self, text: &str) {
        let message = Message::new(text);
        let mut members = self.members();
        members.retain(|_, session| session.send_message(&message).is_ok());
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

struct Inner {
    shared: Arc<Shared>,
    publish: mpsc::Sender<(String, oneshot::Sender<Result<(), Error>>)>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A broadcast whose messages go through a Redis channel to the members
/// on every instance. Cheap to clone; the background tasks stop when the
/// last clone is dropped.
#[derive(Clone)]
pub struct RedisBroadcast {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisBroadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBroadcast")
            .field("members", &self.member_count())
            .field("subscribed", &self.is_subscribed())
            .finish()
    }
}

impl RedisBroadcast {
    /// Starts the broadcast on `channel` of the Redis server at
    /// `redis_url` (`redis://host:port/`), spawning its subscriber and
    /// publisher on the current tokio runtime, which must outlive it. Fails
    /// only on a malformed URL or outside a runtime: it does not wait for
    /// Redis (see [`RedisBroadcast::subscribed`]).
    pub fn connect(redis_url: &str, channel: &str) -> Result<RedisBroadcast, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let client = redis::Client::open(redis_url)?;
        let shared = Arc::new(Shared {
            members: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(0),
            subscription_losses: AtomicU64::new(0),
            subscribed: watch::channel(false).0,
            delivered: AtomicU64::new(0),
        });
        let (publish, requests) = mpsc::channel(PUBLISH_QUEUE);
        let subscriber = runtime.spawn(subscribe(client.clone(), channel.to_owned(), shared.clone()));
        let publisher = runtime.spawn(publish_loop(client, channel.to_owned(), shared.clone(), requests));
        let tasks = vec![subscriber.abort_handle(), publisher.abort_handle()];
        Ok(RedisBroadcast { inner: Arc::new(Inner { shared, publish, tasks }) })
    }

    /// Adds a local session to the broadcast. It receives every message of
    /// the channel from now on, until the [`Membership`] is dropped or the
    /// session ends.
    pub fn join(&self, session: Session) -> Membership {
        let shared = &self.inner.shared;
        let key = shared.next_key.fetch_add(1, Ordering::Relaxed);
        shared.members().insert(key, session);
        Membership { shared: self.inner.shared.clone(), key }
    }

    /// Publishes `text` to the channel, and so to the members of every
    /// instance, this one included. Returns once Redis has accepted it; an
    /// error means it was not delivered anywhere (after
    /// [`Error::Timeout`]: maybe).
    pub async fn publish(&self, text: &str) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        self.inner.publish.try_send((text.to_owned(), reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::Overloaded,
            mpsc::error::TrySendError::Closed(_) => Error::Stopped,
        })?;
        answer.await.unwrap_or(Err(Error::Stopped))
    }

    /// The number of local members.
    pub fn member_count(&self) -> usize {
        self.inner.shared.members().len()
    }

    /// Whether the subscription to the channel is up now.
    pub fn is_subscribed(&self) -> bool {
        *self.inner.shared.subscribed.borrow()
    }

    /// Waits until the subscription to the channel is up (at once if it
    /// is). Wrap it in a timeout.
    pub async fn subscribed(&self) {
        let mut status = self.inner.shared.subscribed.subscribe();
        let _ = status.wait_for(|up| *up).await;
    }

    /// Channel messages delivered to the local members so far (each counts
    /// once, however many members it reached).
    pub fn delivered(&self) -> u64 {
        self.inner.shared.delivered.load(Ordering::Relaxed)
    }
}

/// A session's place in a [`RedisBroadcast`]; dropping it leaves.
#[must_use = "the session leaves the broadcast when the Membership is dropped"]
pub struct Membership {
    shared: Arc<Shared>,
    key: u64,
}

impl fmt::Debug for Membership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Membership").field("key", &self.key).finish()
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.shared.members().remove(&self.key);
    }
}

/// The subscriber: subscribes, delivers, and re-subscribes with backoff
/// when the connection is lost, for as long as the broadcast lives (it is
/// aborted with the last handle).
async fn subscribe(client: redis::Client, channel: String, shared: Arc<Shared>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let attempt = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(pubsub)) => {
                backoff = MIN_BACKOFF;
                shared.subscribed.send_replace(true);
                tracing::debug!(target: "sockjs_redis", channel = %channel, "subscribed");
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    match message.get_payload::<String>() {
                        Ok(text) => shared.deliver(&text),
                        Err(e) => {
                            tracing::warn!(target: "sockjs_redis", error = %e, "dropped a message that is not UTF-8")
                        }
                    }
                }
                shared.subscription_losses.fetch_add(1, Ordering::Relaxed);
                shared.subscribed.send_replace(false);
                tracing::warn!(target: "sockjs_redis", channel = %channel, "subscription lost; reconnecting");
            }
            Ok(Err(e)) => tracing::debug!(target: "sockjs_redis", error = %e, "subscribing failed"),
            Err(_) => tracing::debug!(target: "sockjs_redis", "subscribing timed out"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The publisher: one connection, opened on demand, dropped after any
/// error or a lost subscription. One PUBLISH at a time, in order.
async fn publish_loop(
    client: redis::Client,
    channel: String,
    shared: Arc<Shared>,
    mut requests: mpsc::Receiver<(String, oneshot::Sender<Result<(), Error>>)>,
) {
    let mut connection: Option<(redis::aio::MultiplexedConnection, u64)> = None;
    while let Some((text, reply)) = requests.recv().await {
        let losses = shared.subscription_losses.load(Ordering::Relaxed);
        if connection.as_ref().is_some_and(|(_, opened_at)| *opened_at != losses) {
            connection = None;
        }
        let result = async {
            if connection.is_none() {
                let opened = tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
                    .await
                    .map_err(|_| Error::Timeout)??;
                connection = Some((opened, losses));
            }
            let (conn, _) = connection.as_mut().expect("opened above");
            let mut command = redis::cmd("PUBLISH");
            command.arg(&channel).arg(&text);
            let publish = command.query_async::<i64>(conn);
            tokio::time::timeout(PUBLISH_TIMEOUT, publish).await.map_err(|_| Error::Timeout)??;
            Ok(())
        }
        .await;
        if result.is_err() {
            connection = None;
        }
        let _ = reply.send(result);
    }
}
