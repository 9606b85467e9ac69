//! What the broker's handle and its two tasks share: the rooms this node
//! wants to hear, the engine's handle, the link's state and the counters.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use sockjs_core::rooms::BrokerHandle;
use tokio::sync::{watch, Notify};

/// Envelopes waiting for the publishing connection; beyond it
/// `Broker::publish` drops the envelope and counts it.
pub const PUBLISH_QUEUE: usize = 4096;
/// The most envelopes one round trip to Redis carries: the publisher
/// takes what is queued, up to this many, and pipelines them (standalone
/// Redis; on a cluster, each run of envelopes to one room is one round
/// trip to that room's shard).
pub const PUBLISH_BATCH: usize = 64;
/// Messages received from Redis waiting for delivery to this node's
/// members; beyond it a message is dropped and counted
/// ([`crate::RedisBroker::receive_dropped`]).
pub const RECEIVE_QUEUE: usize = 4096;
/// The first reconnection delay, of the subscriber and of the publisher.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest reconnection delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The bound on opening a connection (and on subscribing over it).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The bound on one round trip of `PUBLISH`es (a batch of up to
/// [`PUBLISH_BATCH`]; on a cluster, a run of `SPUBLISH`es to one channel).
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) struct Shared {
    pub(crate) prefix: String,
    /// The rooms that have members on this node: what the subscriber makes
    /// its subscriptions match. At most as many as the registry's rooms.
    wanted: Mutex<BTreeSet<String>>,
    /// Woken when `wanted` changed.
    pub(crate) changed: Notify,
    handle: OnceLock<BrokerHandle>,
    /// Woken once `handle` is set.
    pub(crate) attached: Notify,
    /// Whether the subscriber is connected and subscribed to everything it
    /// wants.
    pub(crate) subscribed: watch::Sender<bool>,
    /// How many times the subscriber has (re)connected: the publisher
    /// drops a connection opened before the latest one (the Redis it went
    /// to has most likely gone away) and retries at once after a failure.
    pub(crate) links: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) garbage: AtomicU64,
    pub(crate) receive_dropped: AtomicU64,
}

impl Shared {
    pub(crate) fn new(prefix: String) -> Shared {
        Shared {
            prefix,
            wanted: Mutex::new(BTreeSet::new()),
            changed: Notify::new(),
            handle: OnceLock::new(),
            attached: Notify::new(),
            subscribed: watch::channel(false).0,
            links: AtomicU64::new(0),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            garbage: AtomicU64::new(0),
            receive_dropped: AtomicU64::new(0),
        }
    }

    pub(crate) fn wanted(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.wanted.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_handle(&self, handle: BrokerHandle) {
        if self.handle.set(handle).is_ok() {
            self.attached.notify_waiters();
            self.attached.notify_one();
        }
    }

    /// Waits until the registry attached its handle.
    pub(crate) async fn attached_handle(&self) -> BrokerHandle {
        loop {
            let notified = self.attached.notified();
            if let Some(handle) = self.handle.get() {
                return handle.clone();
            }
            notified.await;
        }
    }

    /// Counts `messages` that could not be published.
    pub(crate) fn publish_failed(&self, messages: u64) {
        if let Some(handle) = self.handle.get() {
            handle.publish_failed(messages);
        }
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
