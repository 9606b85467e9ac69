//! The interface between a rooms registry and a cluster broker (Redis
//! pub/sub, Redis Cluster's sharded pub/sub, NATS, ...): what the engine
//! calls ([`Broker`]) and what the broker calls back ([`BrokerHandle`]).
//! No runtime here: a broker crate brings its own tasks and connections.

use std::fmt;
use std::sync::{Arc, Weak};

use crate::envelope::{Envelope, EnvelopeError};

/// Carries sends to rooms between the nodes of a cluster.
///
/// A registry made with `RoomsBuilder::broker` calls these
/// methods outside its locks, from whatever thread made the change. None
/// of them may block or wait: a broker puts the work into a bounded queue
/// of its own and returns; its own task does the network IO. What it
/// cannot publish (its queue is full, the connection is down) it drops and
/// counts with [`BrokerHandle::publish_failed`].
///
/// # What the engine promises the broker
///
/// * [`Broker::subscribe`] is called when this node's first member joins
///   a room, and [`Broker::unsubscribe`] when its last member leaves, in
///   the order those changes happened: a broker that applies them in the
///   order it gets them is subscribed to exactly the rooms the node has
///   members in. Changes that undo each other before the broker was told
///   (a join and a leave in quick succession on another thread) may reach
///   it as nothing at all.
/// * [`Broker::publish`] is called once per send to rooms, after the
///   node's own members got it, in the order of the sends on each thread.
///
/// # What a broker must do
///
/// * Subscribe to a room's traffic only between `subscribe` and
///   `unsubscribe`: a room's messages then reach only the nodes that have
///   members in it. The cost on the broker is one subscription per room
///   that has members on a node, per such node.
/// * Hand every envelope it receives from another node to
///   [`BrokerHandle::receive`] (or, decoded, [`BrokerHandle::deliver`])
///   **at most once per node**, including when one envelope names several
///   rooms this node subscribes to. A broker with a channel per room can
///   carry an envelope with [`Envelope::single_room`] on that room's
///   channel and every other one on a channel all nodes subscribe to. The
///   node's own envelopes, if the broker hands them back, are ignored.
/// * Keep order: publish envelopes in the order `publish` was called,
///   through one queue and one connection per channel (or per shard), and
///   deliver what it receives in the order it arrived, from one task.
///   Messages from one sender to one room then arrive everywhere in the
///   order sent (pub/sub keeps the order of one publisher's messages on one
///   channel; a room's one-room and several-room sends travel on different
///   channels, and only each kind keeps its order).
///
/// # Channel names
///
/// A room name is any UTF-8 text of 1 to `MAX_ROOM_NAME` (200) bytes, as a
/// client may have chosen it. A broker whose channel names are restricted
/// encodes it (NATS subjects cannot hold spaces, `.`, `*` or `>`: hex or
/// base64url under a prefix will do), and keeps an application prefix so
/// that services sharing a broker do not hear each other. On Redis
/// Cluster, sharded pub/sub sends a channel to the shard of its hash slot:
/// a channel per room spreads rooms over the shards, and a hash tag
/// (`{...}`) in the name would pin them together.
///
/// # Delivery across nodes
///
/// At most once: pub/sub keeps no backlog, so what a node misses while its
/// subscription is down, or while it is still subscribing, is lost for it.
/// What the publishing side drops is counted (`publish_failed`, the
/// `sockjs_room_publish_failed_total` series). Local members never depend
/// on the broker: they get every send at once, whether it is up or down.
pub trait Broker: Send + Sync + 'static {
    /// The registry made with this broker is ready: keep `handle` to
    /// deliver what other nodes publish and to count failures. Called once,
    /// before any other method.
    fn attach(&self, handle: BrokerHandle);

    /// This node's first member joined `room`: start receiving its
    /// envelopes.
    fn subscribe(&self, room: &str);

    /// This node's last member left `room`: stop receiving its envelopes.
    fn unsubscribe(&self, room: &str);

    /// Publishes `envelope` to the other nodes, without waiting: queue it
    /// (bounded) or drop it and count it with
    /// [`BrokerHandle::publish_failed`].
    fn publish(&self, envelope: Envelope);
}

/// What the engine does with envelopes and failure counts a broker hands
/// it (implemented by the rooms registry).
pub(crate) trait Inbound: Send + Sync {
    fn deliver(&self, envelope: &Envelope) -> usize;
    fn max_message(&self) -> usize;
    fn publish_failed(&self, messages: u64);
}

/// A broker's way back into the engine: deliver what other nodes
/// published to this node's members, and count what could not be
/// published. Holds the registry weakly: once it is gone, deliveries reach
/// nobody.
#[derive(Clone)]
pub struct BrokerHandle {
    inbound: Weak<dyn Inbound>,
}

impl fmt::Debug for BrokerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerHandle").field("attached", &(self.inbound.strong_count() > 0)).finish()
    }
}

impl BrokerHandle {
    pub(crate) fn new(inbound: Weak<dyn Inbound>) -> BrokerHandle {
        BrokerHandle { inbound }
    }

    /// Decodes bytes another node published ([`Envelope::encode`]) and
    /// delivers the envelope to this node's members, bounded by the
    /// registry's message limit. Returns how many members it reached (0
    /// for this node's own envelopes).
    pub fn receive(&self, bytes: &[u8]) -> Result<usize, EnvelopeError> {
        let Some(inbound) = self.inbound.upgrade() else { return Ok(0) };
        let envelope = Envelope::decode(bytes, inbound.max_message())?;
        Ok(inbound.deliver(&envelope))
    }

    /// Delivers an envelope from another node to this node's members only
    /// (it is not published again). Returns how many members it reached: 0
    /// for an envelope this node published itself.
    pub fn deliver(&self, envelope: &Envelope) -> usize {
        self.inbound.upgrade().map_or(0, |inbound| inbound.deliver(envelope))
    }

    /// Counts `messages` that could not be published (see
    /// [`crate::Metrics::room_publish_failed`]).
    pub fn publish_failed(&self, messages: u64) {
        if let Some(inbound) = self.inbound.upgrade() {
            inbound.publish_failed(messages);
        }
    }

    /// Whether the registry still exists.
    pub fn is_attached(&self) -> bool {
        self.inbound.strong_count() > 0
    }
}

/// Makes the handle for `inbound` (the registry, as the trait object the
/// handle holds weakly).
pub(crate) fn handle_for<T: Inbound + 'static>(inbound: &Arc<T>) -> BrokerHandle {
    let weak: Weak<T> = Arc::downgrade(inbound);
    BrokerHandle::new(weak)
}
