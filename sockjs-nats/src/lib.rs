//! Rooms of SockJS sessions across the nodes of a cluster, over core NATS.
//!
//! A [`NatsBroker`] is the [`Broker`] of a `sockjs_core` rooms registry
//! ([`RoomsBuilder::broker`](sockjs_core::rooms::RoomsBuilder::broker)):
//! every node of a service connects to the same NATS server (or cluster)
//! with the same subject prefix, and a send to a room on any node reaches
//! the room's members on every node.
//!
//! ```no_run
//! # async fn example() -> Result<(), sockjs_nats::Error> {
//! use sockjs_core::rooms::{NodeId, Rooms};
//! use sockjs_core::{Endpoint, Options, Session};
//! use sockjs_nats::NatsBroker;
//!
//! let broker = NatsBroker::connect("nats://127.0.0.1:4222", "chat").await?;
//! let node = NodeId::new(u64::from(sockjs_driver::entropy()) << 32 | u64::from(sockjs_driver::entropy()));
//! let rooms = Rooms::builder().broker(broker.clone(), node).build();
//! let endpoint = Endpoint::new(Options::new("/chat").rooms(rooms), |mut session: Session| async move {
//!     if session.join("lobby").is_err() {
//!         return;
//!     }
//!     while let Some(text) = session.recv().await {
//!         // Every member of "lobby" on every node but the sender.
//!         let _ = session.to("lobby").send(&text);
//!     }
//! });
//! # drop(endpoint);
//! # Ok(())
//! # }
//! ```
//!
//! # Subjects: what a node subscribes to, and what it costs
//!
//! With the prefix `P` given to [`NatsBroker::connect`] (for example
//! [`DEFAULT_PREFIX`]):
//!
//! * `P.room.<name>` carries the sends to exactly one room that except no
//!   room ([`Envelope::single_room`]). `<name>` is the room name in
//!   unpadded base64url (RFC 4648 §5: `A-Z a-z 0-9 - _`), since a room name
//!   is any UTF-8 text and a NATS subject token cannot hold `.`, `*`, `>`
//!   or white space: `lobby` is `P.room.bG9iYnk`
//!   ([`NatsBroker::room_subject`]). A node subscribes to it while it has
//!   members in the room (from its first member's join to its last
//!   member's leave), so a room's traffic reaches only the nodes that have
//!   members of it. The cost on NATS is one subscription per room per node
//!   that has members in it: its interest entry, and one `SUB`/`UNSUB` pair
//!   per such change.
//! * `P.rooms` carries every other send (several rooms, or a room except
//!   others): every node subscribes to it for its whole life, and the
//!   receiving node delivers to the members it has, if any.
//!
//! The payload is the engine's encoded [`Envelope`]. The connection is
//! opened with `no_echo`, so NATS does not send a node its own messages
//! back (the engine would ignore them anyway).
//!
//! # Delivery: at most once
//!
//! Core NATS keeps no backlog. A node's own members get each send at once,
//! whether NATS is up or not; the other nodes get it at most once, never
//! twice (each envelope travels on one subject, and a node holds at most
//! one subscription per subject). Messages from one sender to one room
//! arrive in the order sent (one queue, one task, one connection; NATS
//! keeps one connection's order on one subject); sends to one room and
//! sends to several travel on different subjects, and only each kind keeps
//! its order.
//!
//! What is lost, and where it is counted:
//!
//! * a send when the [`PUBLISH_QUEUE`] is full, while the connection is
//!   down, or whose publish failed or took longer than [`PUBLISH_TIMEOUT`]:
//!   [`BrokerHandle::publish_failed`] (so `Rooms::publish_failed` and the
//!   `sockjs_room_publish_failed_total` series) and a log line at the first
//!   loss of a run and at its end;
//! * what other nodes publish while this node is disconnected, or while
//!   its subscription to a room is on its way: nothing on this node can
//!   see it, so nothing counts it (the publishers count theirs while they
//!   are disconnected too);
//! * a received message that is not an envelope, or is larger than the
//!   registry's message limit: [`NatsBroker::dropped_received`] and a log
//!   line; so is one the NATS client dropped because this node's delivery
//!   task fell [`SUBSCRIPTION_CAPACITY`] messages behind on a subject.
//!
//! # When NATS goes away
//!
//! Sessions are not affected: they stay open, and local members keep
//! receiving every send. The client reconnects by itself, forever, with a
//! delay from 0 doubling up to [`MAX_RECONNECT_DELAY`], and sends every
//! live subscription again when it is back (no re-subscription of ours,
//! so no subscription is ever doubled). While it is down, sends to other
//! nodes are dropped and counted at once (they do not wait in a buffer to
//! arrive late). The few sends handed to the connection just before the
//! client noticed the loss may be lost without being counted (they were in
//! its write buffer) or reach the other nodes after the reconnection (they
//! were still in its command queue); none arrives twice.
//! [`NatsBroker::is_connected`] tells the state, and
//! [`NatsBroker::flush`] waits until the subscriptions asked for so far
//! are in place on the server.
//!
//! # Bounds
//!
//! * [`PUBLISH_QUEUE`] envelopes wait for the publishing task; a full queue
//!   drops (counted). `Broker::publish` never waits.
//! * [`PUBLISH_TIMEOUT`] on handing one envelope to the connection.
//! * [`CLIENT_CAPACITY`] commands wait in the NATS client for its
//!   connection; [`SUBSCRIPTION_CAPACITY`] messages per subscription wait
//!   for the delivery task.
//! * Pending subscription changes: one entry per room at most (the latest
//!   wish wins), so at most the registry's rooms.
//! * Subscriptions: one per room with members on the node, bounded by the
//!   registry (sessions x rooms per session), plus `P.rooms`.
//! * The payload: an envelope holds the text and at most
//!   `MAX_SEND_ROOMS` names of at most `MAX_ROOM_NAME` bytes; NATS
//!   refuses a payload above the server's `max_payload` (1 MiB by
//!   default), and such a send is counted as not published. Keep
//!   `RoomsBuilder::max_message` 16 KiB or more under it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_nats::connection::State;
use bytes::Bytes;
use futures_util::StreamExt;
use sockjs_core::rooms::{Broker, BrokerHandle, Envelope};
use tokio::sync::{mpsc, watch, Notify};
use tokio_stream::StreamMap;

mod subject;

pub use subject::{encode_room, multi_subject, room_subject, PrefixError};

/// A prefix for a service that has its NATS server to itself
/// ([`NatsBroker::connect`] takes any: services sharing one need their own).
pub const DEFAULT_PREFIX: &str = "sockjs";

/// Envelopes waiting for the publishing task, beyond which
/// `Broker::publish` drops (and counts) at once.
pub const PUBLISH_QUEUE: usize = 4096;

/// The longest the publishing task waits to hand one envelope to the
/// connection before it counts it as lost.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// Commands (publishes, subscriptions) the NATS client queues for its
/// connection.
pub const CLIENT_CAPACITY: usize = 1024;

/// Messages the NATS client holds per subscription for the delivery task;
/// beyond that it drops them (counted in [`NatsBroker::dropped_received`]).
/// They pile up only while the delivery task is behind (it hands each one
/// to the sessions' queues without waiting), each at most the registry's
/// `max_message` plus the envelope's names.
pub const SUBSCRIPTION_CAPACITY: usize = 4096;

/// The longest delay between two reconnection attempts.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// The bound on opening one connection to a NATS server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The bound on [`NatsBroker::flush`]'s round trip to the server.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why connecting or flushing failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The subject prefix is not one or more NATS subject tokens.
    Prefix(PrefixError),
    /// The NATS client refused the address or options.
    Connect(async_nats::ConnectError),
    /// The server did not answer a flush (or the connection was down) for
    /// [`FLUSH_TIMEOUT`].
    Timeout,
    /// The connection is closed for good, or the broker's tasks stopped.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Prefix(e) => write!(f, "invalid NATS subject prefix: {e}"),
            Error::Connect(e) => write!(f, "nats: {e}"),
            Error::Timeout => f.write_str("nats did not answer in time"),
            Error::Closed => f.write_str("the NATS connection is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Prefix(e) => Some(e),
            Error::Connect(e) => Some(e),
            _ => None,
        }
    }
}

/// What a room's subscription should be, as last asked by the engine.
type Wish = bool;

/// What the handles, the tasks and the client's event callback share.
struct Shared {
    client: async_nats::Client,
    prefix: String,
    multi_subject: String,
    handle: OnceLock<BrokerHandle>,
    publish: mpsc::Sender<(String, Bytes)>,
    /// Subscription changes not yet applied by the delivery task: the
    /// latest wish per room, and how many changes were asked so far.
    pending: Mutex<(HashMap<String, Wish>, u64)>,
    changed: Notify,
    /// How many of the asked changes the delivery task has applied (`None`
    /// until it has subscribed to the multi-room subject).
    applied: watch::Sender<Option<u64>>,
    /// The delivery task's subscriptions to rooms.
    subscriptions: AtomicU64,
    published: AtomicU64,
    lost: AtomicU64,
    /// Losses since the last successful publish (for the log lines).
    losing: AtomicU64,
    received: AtomicU64,
    dropped_received: AtomicU64,
    disconnections: AtomicU64,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, (HashMap<String, Wish>, u64)> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn want(&self, room: &str, wish: Wish) {
        {
            let mut pending = self.pending();
            pending.0.insert(room.to_owned(), wish);
            pending.1 += 1;
        }
        self.changed.notify_one();
    }

    /// One envelope not published: counted in the registry and here, with
    /// a log line at the first of a run.
    fn lost(&self, why: &dyn fmt::Display) {
        self.lost.fetch_add(1, Ordering::Relaxed);
        if let Some(handle) = self.handle.get() {
            handle.publish_failed(1);
        }
        if self.losing.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(target: "sockjs_nats", reason = %why, "room messages are not reaching other nodes; dropping and counting them");
        }
    }

    fn published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let lost = self.losing.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(target: "sockjs_nats", dropped = lost, "room messages reach other nodes again");
        }
    }

    /// A received message dropped: counted, logged at the 1st, 2nd, 4th,
    /// 8th... so that a flood of garbage cannot flood the log.
    fn dropped(&self, why: &dyn fmt::Display) {
        let n = self.dropped_received.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(target: "sockjs_nats", reason = %why, dropped_so_far = n, "dropped a message received from NATS");
        }
    }

    fn subject_of(&self, envelope: &Envelope) -> String {
        match envelope.single_room() {
            Some(room) => subject::room_subject(&self.prefix, room),
            None => self.multi_subject.clone(),
        }
    }
}

struct Inner {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A [`Broker`] over core NATS: one connection, one publishing task, one
/// delivery task (see the [crate docs](crate) for the subjects, the
/// delivery promise and the bounds).
///
/// Cheap to clone; every clone is the same broker, for one registry: a
/// second [`Broker::attach`] is refused (logged). Its tasks stop, and its
/// connection closes, when the last clone is dropped.
#[derive(Clone)]
pub struct NatsBroker {
    inner: Arc<Inner>,
}

impl fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBroker")
            .field("prefix", &self.inner.shared.prefix)
            .field("connected", &self.is_connected())
            .field("subscriptions", &self.subscriptions())
            .finish()
    }
}

impl NatsBroker {
    /// Connects to the NATS server at `url` (`nats://host:port`, or
    /// several separated by commas) with subjects under `prefix` (one or
    /// more subject tokens: services sharing a NATS server need different
    /// prefixes), and starts its tasks on the current tokio runtime, which
    /// must outlive it. It does not wait for the server: the client keeps
    /// trying, and [`NatsBroker::is_connected`] tells when it is up.
    ///
    /// Fails on an invalid prefix or an address the client cannot parse.
    pub async fn connect(url: &str, prefix: &str) -> Result<NatsBroker, Error> {
        subject::check_prefix(prefix).map_err(Error::Prefix)?;
        let shared_slot: Arc<OnceLock<Weak<Shared>>> = Arc::new(OnceLock::new());
        let events = shared_slot.clone();
        let client = async_nats::ConnectOptions::new()
            .no_echo()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(CONNECT_TIMEOUT)
            .client_capacity(CLIENT_CAPACITY)
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .reconnect_delay_callback(reconnect_delay)
            .name(format!("sockjs-rs rooms ({prefix})"))
            .event_callback(move |event| {
                let shared = events.get().and_then(Weak::upgrade);
                async move { on_event(shared.as_deref(), event) }
            })
            .connect(url)
            .await
            .map_err(Error::Connect)?;
        let (publish, queue) = mpsc::channel(PUBLISH_QUEUE);
        let shared = Arc::new(Shared {
            client,
            prefix: prefix.to_owned(),
            multi_subject: subject::multi_subject(prefix),
            handle: OnceLock::new(),
            publish,
            pending: Mutex::new((HashMap::new(), 0)),
            changed: Notify::new(),
            applied: watch::channel(None).0,
            subscriptions: AtomicU64::new(0),
            published: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            losing: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped_received: AtomicU64::new(0),
            disconnections: AtomicU64::new(0),
        });
        let _ = shared_slot.set(Arc::downgrade(&shared));
        let publisher = tokio::spawn(publish_loop(shared.clone(), queue));
        let delivery = tokio::spawn(delivery_loop(shared.clone()));
        let tasks = vec![publisher.abort_handle(), delivery.abort_handle()];
        Ok(NatsBroker { inner: Arc::new(Inner { shared, tasks }) })
    }

    /// The subject that carries the sends to `room` alone under this
    /// broker's prefix (`PREFIX.room.` and the name in base64url).
    pub fn room_subject(&self, room: &str) -> String {
        subject::room_subject(&self.inner.shared.prefix, room)
    }

    /// The subject that carries the sends naming several rooms or
    /// excepting rooms (`PREFIX.rooms`), which every node subscribes to.
    pub fn multi_subject(&self) -> &str {
        &self.inner.shared.multi_subject
    }

    /// Whether the connection to NATS is up now.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.client.connection_state() == State::Connected
    }

    /// Waits until every subscription change the engine asked for so far
    /// is applied and the server has acknowledged it (a round trip on the
    /// connection), at most [`FLUSH_TIMEOUT`]. After it, what another node
    /// publishes to this node's rooms reaches it.
    pub async fn flush(&self) -> Result<(), Error> {
        let shared = &self.inner.shared;
        let asked = shared.pending().1;
        let work = async {
            let mut applied = shared.applied.subscribe();
            applied.wait_for(|done| done.is_some_and(|done| done >= asked)).await.map_err(|_| Error::Closed)?;
            shared.client.flush().await.map_err(|_| Error::Closed)
        };
        tokio::time::timeout(FLUSH_TIMEOUT, work).await.map_err(|_| Error::Timeout)?
    }

    /// Rooms this node is subscribed to now (the multi-room subject not
    /// included).
    pub fn subscriptions(&self) -> u64 {
        self.inner.shared.subscriptions.load(Ordering::Relaxed)
    }

    /// Envelopes handed to the connection so far.
    pub fn published(&self) -> u64 {
        self.inner.shared.published.load(Ordering::Relaxed)
    }

    /// Envelopes that were not published so far (also counted in the
    /// registry's `publish_failed`).
    pub fn publish_failed(&self) -> u64 {
        self.inner.shared.lost.load(Ordering::Relaxed)
    }

    /// Envelopes from other nodes delivered to this node's members so far
    /// (each counts once, however many members it reached, none included).
    pub fn received(&self) -> u64 {
        self.inner.shared.received.load(Ordering::Relaxed)
    }

    /// Received messages dropped so far: not an envelope, too large for
    /// the registry, or dropped by the client for a slow delivery task.
    pub fn dropped_received(&self) -> u64 {
        self.inner.shared.dropped_received.load(Ordering::Relaxed)
    }

    /// How many times the connection was lost so far.
    pub fn disconnections(&self) -> u64 {
        self.inner.shared.disconnections.load(Ordering::Relaxed)
    }
}

impl Broker for NatsBroker {
    fn attach(&self, handle: BrokerHandle) {
        let shared = &self.inner.shared;
        if shared.handle.set(handle).is_err() {
            tracing::error!(target: "sockjs_nats", "a NatsBroker serves one rooms registry; a second one is not attached");
            return;
        }
        shared.changed.notify_one();
    }

    fn subscribe(&self, room: &str) {
        self.inner.shared.want(room, true);
    }

    fn unsubscribe(&self, room: &str) {
        self.inner.shared.want(room, false);
    }

    fn publish(&self, envelope: Envelope) {
        let shared = &self.inner.shared;
        let subject = shared.subject_of(&envelope);
        if let Err(e) = shared.publish.try_send((subject, Bytes::from(envelope.encode()))) {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the publish queue is full",
                mpsc::error::TrySendError::Closed(_) => "the publishing task has stopped",
            };
            shared.lost(&why);
        }
    }
}

/// No delay for the first attempt, then 100 ms doubling up to
/// [`MAX_RECONNECT_DELAY`].
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(16);
    (Duration::from_millis(100) * 2u32.pow(doublings)).min(MAX_RECONNECT_DELAY)
}

fn on_event(shared: Option<&Shared>, event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => tracing::info!(target: "sockjs_nats", "connected to NATS"),
        async_nats::Event::Disconnected => {
            if let Some(shared) = shared {
                shared.disconnections.fetch_add(1, Ordering::Relaxed);
            }
            tracing::warn!(target: "sockjs_nats", "disconnected from NATS; reconnecting");
        }
        async_nats::Event::SlowConsumer(sid) => {
            if let Some(shared) = shared {
                shared.dropped(&format_args!("the delivery task fell behind on subscription {sid}"));
            }
        }
        other => tracing::warn!(target: "sockjs_nats", event = %other, "NATS"),
    }
}

/// Drains the publish queue in order, one envelope at a time, on the one
/// connection; drops (and counts) what cannot go out now.
async fn publish_loop(shared: Arc<Shared>, mut queue: mpsc::Receiver<(String, Bytes)>) {
    while let Some((subject, payload)) = queue.recv().await {
        if shared.client.connection_state() != State::Connected {
            shared.lost(&"the connection to NATS is down");
            continue;
        }
        match tokio::time::timeout(PUBLISH_TIMEOUT, shared.client.publish(subject, payload)).await {
            Ok(Ok(())) => shared.published(),
            Ok(Err(e)) => shared.lost(&e),
            Err(_) => shared.lost(&"publishing took too long"),
        }
    }
}

/// Owns the subscriptions: applies the engine's changes, and hands every
/// message received to the registry, from this one task.
async fn delivery_loop(shared: Arc<Shared>) {
    // Nothing to deliver to before the registry is attached.
    while shared.handle.get().is_none() {
        shared.changed.notified().await;
    }
    let Some(handle) = shared.handle.get().cloned() else { return };
    let mut multi = match shared.client.subscribe(shared.multi_subject.clone()).await {
        Ok(subscriber) => subscriber,
        Err(e) => {
            tracing::error!(target: "sockjs_nats", error = %e, "cannot subscribe to the multi-room subject; delivery stopped");
            return;
        }
    };
    let mut rooms: StreamMap<String, async_nats::Subscriber> = StreamMap::new();
    // Apply what was asked before the attach.
    shared.changed.notify_one();
    loop {
        tokio::select! {
            biased;
            () = shared.changed.notified() => apply_changes(&shared, &mut rooms).await,
            message = multi.next() => match message {
                Some(message) => deliver(&shared, &handle, &message.payload),
                None => {
                    tracing::error!(target: "sockjs_nats", "the NATS connection is closed; delivery stopped");
                    return;
                }
            },
            Some((_, message)) = rooms.next(), if !rooms.is_empty() => deliver(&shared, &handle, &message.payload),
        }
    }
}

async fn apply_changes(shared: &Shared, rooms: &mut StreamMap<String, async_nats::Subscriber>) {
    let (changes, asked) = {
        let mut pending = shared.pending();
        (std::mem::take(&mut pending.0), pending.1)
    };
    for (room, wish) in changes {
        match (wish, rooms.contains_key(&room)) {
            (true, false) => match shared.client.subscribe(subject::room_subject(&shared.prefix, &room)).await {
                Ok(subscriber) => {
                    rooms.insert(room, subscriber);
                }
                Err(e) => {
                    tracing::error!(target: "sockjs_nats", error = %e, room = %room, "cannot subscribe to a room's subject")
                }
            },
            // Dropping the subscriber unsubscribes.
            (false, true) => drop(rooms.remove(&room)),
            _ => {}
        }
    }
    shared.subscriptions.store(rooms.len() as u64, Ordering::Relaxed);
    shared.applied.send_replace(Some(asked));
}

fn deliver(shared: &Shared, handle: &BrokerHandle, payload: &[u8]) {
    match handle.receive(payload) {
        Ok(_) => {
            shared.received.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => shared.dropped(&e),
    }
}
