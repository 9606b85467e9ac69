//! Rooms across nodes over Redis pub/sub and Redis Cluster 7's sharded
//! pub/sub: a [`RedisBroker`] for sockjs-core's rooms registry
//! ([`sockjs_core::rooms::Broker`]).
//!
//! Every node (process) of a service builds its rooms registry with a
//! broker of its own, all on one Redis (or one Redis Cluster) and one
//! prefix. A send to rooms reaches the node's own members at once and is
//! published; the other nodes deliver it to their members:
//!
//! ```no_run
//! # async fn example() -> Result<(), sockjs_redis::Error> {
//! use sockjs_core::rooms::{NodeId, Rooms};
//! use sockjs_core::{Endpoint, Options, Session};
//! use sockjs_redis::{RedisBroker, RedisConfig};
//!
//! let broker = RedisBroker::connect(RedisConfig::standalone("redis://127.0.0.1:6379/").prefix("chat"))?;
//! // Every node needs its own id (here: from the process id and the clock).
//! let node = NodeId::new(u64::from(std::process::id()) << 32 | u64::from(std::time::UNIX_EPOCH.elapsed().unwrap().subsec_nanos()));
//! let rooms = Rooms::builder().broker(broker, node).build();
//! let endpoint = Endpoint::new(Options::new("/chat").rooms(rooms), |mut session: Session| async move {
//!     if session.join("lobby").is_err() {
//!         return;
//!     }
//!     while let Some(text) = session.recv().await {
//!         // Every member of the lobby on every node, but the sender.
//!         let _ = session.to("lobby").send(&text);
//!     }
//! });
//! # drop(endpoint);
//! # Ok(())
//! # }
//! ```
//!
//! For Redis Cluster, `RedisConfig::cluster(&["redis://127.0.0.1:7000/", ...])`
//! with any of its nodes; the rest is the same.
//!
//! # What a node subscribes to, and what it costs
//!
//! * One channel per room that has members on this node,
//!   [`room_channel`]`(prefix, room)`: the broker subscribes when the
//!   node's first member joins the room and unsubscribes when its last one
//!   leaves. A room's traffic reaches only the nodes that have members in
//!   it; the cost on Redis is one subscription per room per node that has
//!   members in it, and one `PUBLISH` per send, whatever the number of
//!   members.
//! * One channel every node subscribes to, [`shared_channel`]`(prefix)`,
//!   for the sends that name several rooms or except rooms: every node
//!   receives those and delivers them to whichever of its members they are
//!   for. Sends to one room without exceptions (the common case) never
//!   travel on it.
//!
//! A node uses two connections: one subscribing (and receiving), one
//! publishing.
//!
//! # Redis Cluster
//!
//! On a cluster the broker uses sharded pub/sub (`SSUBSCRIBE`,
//! `SPUBLISH`, Redis 7): a sharded channel lives on the shard that owns
//! its name's hash slot, so **the channel name decides which shard carries
//! a room's load**: rooms spread over the shards by their names, and a
//! busy room loads one shard. The shared channel is a sharded channel too,
//! so all several-room sends go through one shard. Room names are written
//! into channel names with `{` and `}` escaped, so a room name never picks
//! its slot; a hash tag in the prefix (`"{chat}"`) pins every channel of
//! the service to one shard, which you rarely want.
//!
//! # Delivery
//!
//! At most once, in order per sender and room: each node's publisher
//! sends its envelopes over one connection, in the order of the sends
//! (pipelined, up to [`PUBLISH_BATCH`] a round trip), and its subscriber hands what arrives to the engine from one
//! task, in the order it arrived. One-room sends and several-room sends
//! travel on different channels, so only each kind keeps its order.
//! Nothing is retried, so nothing arrives twice; the node's own
//! envelopes, which Redis hands back when it is subscribed to the room,
//! are ignored by the engine.
//!
//! # Bounds
//!
//! * [`PUBLISH_QUEUE`] envelopes wait for the publisher; beyond that
//!   `publish` drops the envelope. [`Broker::publish`] never waits.
//! * [`RECEIVE_QUEUE`] received messages wait for delivery; beyond that
//!   they are dropped ([`RedisBroker::receive_dropped`]). Redis bounds
//!   what it holds for a slow subscriber itself (`client-output-buffer-limit
//!   pubsub`).
//! * One round trip of publishes waits at most [`PUBLISH_TIMEOUT`], a
//!   connection attempt [`CONNECT_TIMEOUT`].
//! * The subscriptions are the rooms the registry has members in, so they
//!   are bounded by the registry's bounds (sessions x rooms per session).
//! * A received envelope is decoded within the registry's message limit;
//!   anything else is dropped and counted ([`RedisBroker::garbage`]).
//!
//! Every envelope dropped on the publishing side (queue full, Redis
//! unreachable, an error or a timeout) is counted with
//! [`BrokerHandle::publish_failed`] (the registry's
//! `publish_failed()` and the `sockjs_room_publish_failed_total` series)
//! and logged.
//!
//! # When Redis goes away
//!
//! Sessions stay open, and local members still get every send (the engine
//! delivers locally before it publishes). The publisher fails the
//! envelope it was sending, then drops what comes for a backoff of
//! [`MIN_BACKOFF`] doubling to [`MAX_BACKOFF`] before trying again, all
//! counted. The subscriber reconnects by itself with the same backoff and
//! subscribes again to every room the node has members in at that moment
//! ([`RedisBroker::subscribed`] tells when it has); the publisher then
//! opens a new connection at once. What other nodes published meanwhile
//! is lost for this node: pub/sub keeps no backlog.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod channel;
mod connection;
mod publisher;
mod shared;
mod subscriber;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use sockjs_core::rooms::{Broker, BrokerHandle, Envelope};
use tokio::sync::mpsc;

pub use channel::{room_channel, shared_channel};
use connection::Target;
use shared::Shared;
pub use shared::{
    CONNECT_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF, PUBLISH_BATCH, PUBLISH_QUEUE, PUBLISH_TIMEOUT, RECEIVE_QUEUE,
};

/// The default channel prefix of [`RedisConfig`].
pub const DEFAULT_PREFIX: &str = "sockjs";

/// Why a broker could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A URL is malformed, or the cluster seeds are unusable.
    Redis(redis::RedisError),
    /// [`RedisBroker::connect`] was called outside a tokio runtime.
    NoRuntime,
    /// [`RedisConfig::cluster`] was given no node.
    NoNodes,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Redis(e) => write!(f, "redis: {e}"),
            Error::NoRuntime => f.write_str("RedisBroker::connect must be called within a tokio runtime"),
            Error::NoNodes => f.write_str("a Redis Cluster needs at least one node URL"),
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

/// Where a [`RedisBroker`] connects, and its channels' prefix.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    urls: Vec<String>,
    cluster: bool,
    prefix: String,
}

impl RedisConfig {
    /// A standalone Redis (`redis://host:port/`, with `user:password@` or
    /// `/db` as the `redis` crate reads them): `SUBSCRIBE` and `PUBLISH`.
    pub fn standalone(url: &str) -> RedisConfig {
        RedisConfig { urls: vec![url.to_owned()], cluster: false, prefix: DEFAULT_PREFIX.to_owned() }
    }

    /// A Redis Cluster (7 or later), given any of its nodes: sharded
    /// pub/sub, `SSUBSCRIBE` and `SPUBLISH`.
    pub fn cluster<S: AsRef<str>>(urls: &[S]) -> RedisConfig {
        RedisConfig {
            urls: urls.iter().map(|u| u.as_ref().to_owned()).collect(),
            cluster: true,
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }

    /// The start of every channel name ([`room_channel`], [`shared_channel`]):
    /// services that share a Redis and use different prefixes do not hear
    /// each other. Default: [`DEFAULT_PREFIX`].
    pub fn prefix(mut self, prefix: &str) -> RedisConfig {
        prefix.clone_into(&mut self.prefix);
        self
    }
}

struct Inner {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Envelope>,
    cluster: bool,
    tasks: [tokio::task::AbortHandle; 2],
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A [`Broker`] over Redis or Redis Cluster; see the [crate docs](crate).
///
/// Give it (or a clone) to `Rooms::builder().broker(...)`; keep a clone
/// to watch it. Cheap to clone; its two tasks stop when the last clone is
/// dropped (with the registry that holds it).
#[derive(Clone)]
pub struct RedisBroker {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBroker")
            .field("prefix", &self.inner.shared.prefix)
            .field("cluster", &self.inner.cluster)
            .field("subscribed", &self.is_subscribed())
            .finish()
    }
}

impl RedisBroker {
    /// Starts the broker's subscriber and publisher on the current tokio
    /// runtime, which must outlive it. Fails only on a malformed
    /// configuration or outside a runtime: it does not wait for Redis (see
    /// [`RedisBroker::subscribed`]); until Redis answers, what is published
    /// is dropped and counted.
    pub fn connect(config: RedisConfig) -> Result<RedisBroker, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let target = if config.cluster {
            if config.urls.is_empty() {
                return Err(Error::NoNodes);
            }
            let urls: Vec<&str> = config.urls.iter().map(String::as_str).collect();
            Target::cluster(&urls)?
        } else {
            Target::standalone(&config.urls[0])?
        };
        let cluster = target.is_cluster();
        let shared = Arc::new(Shared::new(config.prefix));
        let (queue, requests) = mpsc::channel(PUBLISH_QUEUE);
        let subscriber = runtime.spawn(subscriber::run(target.clone(), shared.clone()));
        let publisher = runtime.spawn(publisher::run(target, shared.clone(), requests));
        let tasks = [subscriber.abort_handle(), publisher.abort_handle()];
        Ok(RedisBroker { inner: Arc::new(Inner { shared, queue, cluster, tasks }) })
    }

    /// Whether the subscriber is connected and subscribed to every room it
    /// had members in when it last changed its subscriptions.
    pub fn is_subscribed(&self) -> bool {
        *self.inner.shared.subscribed.borrow()
    }

    /// Waits until [`RedisBroker::is_subscribed`] (at once if it is). Wrap
    /// it in a timeout.
    pub async fn subscribed(&self) {
        let mut status = self.inner.shared.subscribed.subscribe();
        let _ = status.wait_for(|up| *up).await;
    }

    /// Envelopes Redis accepted from this node so far.
    pub fn published(&self) -> u64 {
        self.inner.shared.published.load(Ordering::Relaxed)
    }

    /// Envelopes received from Redis and handed to the engine so far (this
    /// node's own included, which the engine ignores).
    pub fn received(&self) -> u64 {
        self.inner.shared.received.load(Ordering::Relaxed)
    }

    /// Messages received on the broker's channels that were not envelopes
    /// (or too long), dropped so far.
    pub fn garbage(&self) -> u64 {
        self.inner.shared.garbage.load(Ordering::Relaxed)
    }

    /// Messages dropped because [`RECEIVE_QUEUE`] was full.
    pub fn receive_dropped(&self) -> u64 {
        self.inner.shared.receive_dropped.load(Ordering::Relaxed)
    }

    /// The channel of `room` with this broker's prefix ([`room_channel`]).
    pub fn room_channel(&self, room: &str) -> String {
        room_channel(&self.inner.shared.prefix, room)
    }

    /// The shared channel with this broker's prefix ([`shared_channel`]).
    pub fn shared_channel(&self) -> String {
        shared_channel(&self.inner.shared.prefix)
    }
}

impl Broker for RedisBroker {
    fn attach(&self, handle: BrokerHandle) {
        self.inner.shared.set_handle(handle);
    }

    fn subscribe(&self, room: &str) {
        self.inner.shared.wanted().insert(room.to_owned());
        self.inner.shared.changed.notify_one();
    }

    fn unsubscribe(&self, room: &str) {
        self.inner.shared.wanted().remove(room);
        self.inner.shared.changed.notify_one();
    }

    fn publish(&self, envelope: Envelope) {
        if let Err(e) = self.inner.queue.try_send(envelope) {
            self.inner.shared.publish_failed(1);
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the publish queue is full",
                mpsc::error::TrySendError::Closed(_) => "the publisher has stopped",
            };
            tracing::warn!(target: "sockjs_redis", bound = PUBLISH_QUEUE, "dropped a room message: {why}");
        }
    }
}
