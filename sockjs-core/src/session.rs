//! The sessions of one endpoint: each session's cell (its state machine
//! behind a lock, and what it knows of its opening request), and the hub
//! that holds them: the registry of HTTP sessions, the set of websocket
//! sessions, the timer queue, the limits and the counters.
//!
//! Every change to a session goes through [`SessionCell::update`], which
//! locks the state, runs one transition, registers the session's next
//! deadline with the timer queue, forgets an ended session, and wakes
//! whoever the transition released, after the lock is gone.
//!
//! A transition that leaves a session no longer open (closed by either
//! side, or ended however it ended) takes it out of every room, once,
//! after the session's lock is released (see [`crate::membership`]).
//!
//! Lock order: the registry, then one session, then the timer queue. The
//! rooms lock stands apart: it is taken alone, never while one of these is
//! held, and none of these is taken under it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use http::{HeaderMap, Uri};

use crate::deflate::{Deflate, Pool};
use crate::membership::{Core, Member};
use crate::metrics::Counters;
use crate::state::{CloseReason, Limits, Queued, SendError, SessionState, Wakes};
use crate::timer::TimerQueue;
use crate::Transport;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while a lock was held leaves the data consistent:
    // every change is made in single steps.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The rooms registry, whose members are sessions and the channels
/// multiplexed over them.
pub(crate) type RoomsCore = Core<RoomMember>;

/// Member keys (of sessions and of channels), unique in the process (a
/// rooms registry may serve the sessions of several endpoints).
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// A fresh member key.
pub(crate) fn next_key() -> u64 {
    NEXT_KEY.fetch_add(1, Ordering::Relaxed)
}

/// A member of a room: a session, or one channel multiplexed over a
/// session (the `multiplex` module), whose room messages the session carries
/// framed as `msg,TOPIC,TEXT`.
#[derive(Debug, Clone)]
pub(crate) enum RoomMember {
    /// A session that joined the room itself.
    Session(Arc<SessionCell>),
    /// A channel of a session that joined the room.
    Channel(Arc<ChannelMember>),
}

impl RoomMember {
    /// The session that carries the member's messages.
    pub(crate) fn session(&self) -> &Arc<SessionCell> {
        match self {
            RoomMember::Session(cell) => cell,
            RoomMember::Channel(channel) => &channel.session,
        }
    }
}

impl Member for RoomMember {
    fn key(&self) -> u64 {
        match self {
            RoomMember::Session(cell) => cell.key,
            RoomMember::Channel(channel) => channel.key,
        }
    }

    fn departed(&self) -> &AtomicBool {
        match self {
            RoomMember::Session(cell) => &cell.departed,
            RoomMember::Channel(channel) => &channel.departed,
        }
    }
}

/// What the rooms registry knows of a channel multiplexed over a session:
/// its key, its topic (the `TOPIC` of the `msg,TOPIC,TEXT` frames its room
/// messages get), and the session that carries them.
#[derive(Debug)]
pub(crate) struct ChannelMember {
    pub(crate) key: u64,
    pub(crate) topic: Arc<str>,
    pub(crate) session: Arc<SessionCell>,
    /// Set once the channel left its rooms for good.
    pub(crate) departed: AtomicBool,
}

/// Told when a session stops being open, after it left its own rooms and
/// with no lock held: the channels multiplexed over it leave theirs and
/// end. May be told more than once.
pub(crate) trait SessionEnded: Send + Sync + std::fmt::Debug {
    /// The session is no longer open.
    fn session_ended(&self);
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

/// One session: its state machine and what it knows of its request.
#[derive(Debug)]
pub(crate) struct SessionCell {
    key: u64,
    pub(crate) info: SessionInfo,
    /// False for raw websockets: no SockJS frames.
    pub(crate) framed: bool,
    pub(crate) counters: Arc<Counters>,
    state: Mutex<Guarded>,
    hub: Weak<Hub>,
    /// Live [`crate::Session`] handles.
    pub(crate) app_handles: AtomicUsize,
    /// The last id given to a receiver or a waiting send of this session.
    ids: AtomicU64,
    /// The rooms registry the session joins rooms in.
    pub(crate) rooms: Arc<RoomsCore>,
    /// [`crate::Options::max_rooms_per_session()`].
    pub(crate) max_rooms: usize,
    /// Set once the session left its rooms for good.
    departed: AtomicBool,
    /// Who must hear that the session ended (the channel table of a
    /// multiplexed session), set at most once.
    ended: OnceLock<Weak<dyn SessionEnded>>,
}

#[derive(Debug)]
struct Guarded {
    state: SessionState,
    /// The deadline registered with the timer queue.
    registered: Option<Instant>,
}

impl SessionCell {
    /// Runs one transition. See the module docs.
    pub(crate) fn update<R>(self: &Arc<Self>, f: impl FnOnce(&mut SessionState, &mut Wakes) -> R) -> R {
        self.transition(false, f)
    }

    /// `update` after the timer queue popped this session's entry: its
    /// deadline is registered again whatever it is.
    fn update_popped<R>(self: &Arc<Self>, f: impl FnOnce(&mut SessionState, &mut Wakes) -> R) -> R {
        self.transition(true, f)
    }

    fn transition<R>(self: &Arc<Self>, popped: bool, f: impl FnOnce(&mut SessionState, &mut Wakes) -> R) -> R {
        let mut wakes = Wakes::default();
        let mut guard = lock(&self.state);
        let was_open = guard.state.is_open();
        let inbox_before = guard.state.inbox_cost();
        let result = f(&mut guard.state, &mut wakes);
        let deadline = guard.state.next_deadline();
        let mut driver = None;
        if popped || deadline != guard.registered {
            guard.registered = deadline;
            if let Some(hub) = self.hub.upgrade() {
                driver = lock(&hub.timers).set(self.key, deadline, || Arc::downgrade(self));
            }
        }
        let ended = guard.state.take_ended().then(|| guard.state.reason().cloned()).flatten();
        let age = guard.state.age();
        let inbox_after = guard.state.inbox_cost();
        let left_open = was_open && !guard.state.is_open();
        drop(guard);
        if left_open {
            self.rooms.depart(&RoomMember::Session(self.clone()));
            if let Some(ended) = self.ended.get().and_then(Weak::upgrade) {
                ended.session_ended();
            }
        }
        self.counters.inbox_changed(inbox_before, inbox_after);
        if let Some(reason) = ended {
            self.counters.closed(self.info.transport, &reason, age);
            tracing::debug!(
                target: "sockjs", session = %self.info.id, transport = %self.info.transport, reason = ?reason,
                seconds = age.as_secs_f64(), "session ended"
            );
            if let Some(hub) = self.hub.upgrade() {
                hub.forget(self);
            }
        }
        if let Some(driver) = driver {
            driver.wake();
        }
        wakes.wake();
        result
    }

    /// Reads the state without changing it.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&SessionState) -> R) -> R {
        f(&lock(&self.state).state)
    }

    /// Closes the session from the server side (see `SessionState::close`).
    pub(crate) fn close(self: &Arc<Self>, code: u16, reason: &str, why: CloseReason) {
        if self.update(|state, w| state.close(code, reason.into(), why, w)) {
            tracing::debug!(target: "sockjs", session = %self.info.id, code, reason, "session closed by the server");
        }
    }

    /// Queues an outgoing item for the client (see `SessionState::push`),
    /// counting it.
    pub(crate) fn push(self: &Arc<Self>, item: Queued) -> Result<(), SendError> {
        let pushed = self.update(|state, w| state.push(item, w));
        if pushed == Err(SendError::QueueFull) {
            tracing::debug!(target: "sockjs", session = %self.info.id, code = 1009, reason = "Outgoing queue full", "session closed by the server");
        }
        pushed?;
        self.counters.sent_message(self.info.transport);
        Ok(())
    }

    /// The session's member key (unique in the process).
    pub(crate) fn key(&self) -> u64 {
        self.key
    }

    /// Registers who must hear that the session ended; `false` when
    /// someone is registered already. Check `is_open` after this: a
    /// session that ended before it was registered tells no one.
    pub(crate) fn on_ended(&self, ended: Weak<dyn SessionEnded>) -> bool {
        self.ended.set(ended).is_ok()
    }

    /// A fresh id for a receiver or a waiting send of this session (the
    /// state machine compares them only within the session).
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Drop for SessionCell {
    fn drop(&mut self) {
        let state = &self.state.get_mut().unwrap_or_else(|p| p.into_inner()).state;
        self.counters.inbox_changed(state.inbox_cost(), 0);
    }
}

/// The sessions of one endpoint. See the module docs.
#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) limits: Limits,
    pub(crate) counters: Arc<Counters>,
    /// permessage-deflate's settings and idle contexts, when enabled.
    pub(crate) deflate: Option<(Deflate, Arc<Pool>)>,
    max_sessions: usize,
    /// HTTP sessions by id.
    registry: Mutex<HashMap<Box<str>, Arc<SessionCell>>>,
    /// Open websocket sessions (their ids need not be unique), for
    /// `close_all` and `shutdown`.
    websockets: Mutex<HashMap<u64, Weak<SessionCell>>>,
    timers: Mutex<TimerQueue<Weak<SessionCell>>>,
    rooms: Arc<RoomsCore>,
    max_rooms: usize,
}

impl Hub {
    pub(crate) fn new(
        limits: Limits,
        max_sessions: usize,
        prefix: &str,
        rooms: Arc<RoomsCore>,
        max_rooms: usize,
        deflate: Option<Deflate>,
    ) -> Hub {
        Hub {
            limits,
            counters: Arc::new(Counters::new(prefix)),
            deflate: deflate.map(|config| (config, Arc::new(Pool::new(&config)))),
            max_sessions,
            registry: Mutex::default(),
            websockets: Mutex::default(),
            timers: Mutex::default(),
            rooms,
            max_rooms,
        }
    }

    /// Whether the endpoint holds as many sessions as it may.
    pub(crate) fn full(&self) -> bool {
        self.counters.live_total() >= self.max_sessions as u64
    }

    /// A new session (not yet registered).
    pub(crate) fn create(
        self: &Arc<Self>,
        info: SessionInfo,
        framed: bool,
        websocket: bool,
        now: Instant,
    ) -> Arc<SessionCell> {
        self.counters.opened(info.transport);
        tracing::debug!(target: "sockjs", session = %info.id, transport = %info.transport, "session opened");
        Arc::new(SessionCell {
            key: next_key(),
            info,
            framed,
            counters: self.counters.clone(),
            state: Mutex::new(Guarded {
                state: SessionState::new(framed, websocket, self.limits, now),
                registered: None,
            }),
            hub: Arc::downgrade(self),
            app_handles: AtomicUsize::new(0),
            ids: AtomicU64::new(0),
            rooms: self.rooms.clone(),
            max_rooms: self.max_rooms,
            departed: AtomicBool::new(false),
            ended: OnceLock::new(),
        })
    }

    /// The HTTP session registered under `id`.
    pub(crate) fn lookup(&self, id: &str) -> Option<Arc<SessionCell>> {
        lock(&self.registry).get(id).cloned()
    }

    /// Registers the session `make` creates (with whatever else it makes,
    /// such as its first receiver, attached before any other request can
    /// find the session) under `id`, unless one is there already (then
    /// `Err` with it).
    pub(crate) fn register<T>(
        &self,
        id: &str,
        make: impl FnOnce() -> (Arc<SessionCell>, T),
    ) -> Result<(Arc<SessionCell>, T), Arc<SessionCell>> {
        let mut registry = lock(&self.registry);
        if let Some(existing) = registry.get(id) {
            return Err(existing.clone());
        }
        let (cell, made) = make();
        registry.insert(id.into(), cell.clone());
        Ok((cell, made))
    }

    /// Removes an ended session from the registry, unless its id now names
    /// a newer session.
    fn forget(&self, cell: &Arc<SessionCell>) {
        let mut registry = lock(&self.registry);
        if registry.get(&cell.info.id).is_some_and(|s| Arc::ptr_eq(s, cell)) {
            registry.remove(&cell.info.id);
        }
        drop(registry);
        lock(&self.websockets).remove(&cell.key);
    }

    /// Lists an open websocket session for `close_all` and `shutdown`.
    pub(crate) fn add_websocket(&self, cell: &Arc<SessionCell>) {
        lock(&self.websockets).insert(cell.key, Arc::downgrade(cell));
    }

    /// Every session that is not known to have ended.
    pub(crate) fn sessions(&self) -> Vec<Arc<SessionCell>> {
        let mut all: Vec<_> = lock(&self.registry).values().cloned().collect();
        all.extend(lock(&self.websockets).values().filter_map(Weak::upgrade));
        all
    }

    /// The earliest deadline, remembered as the one the driver sleeps to.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        lock(&self.timers).next_deadline()
    }

    /// Whether an earlier deadline came since `next_deadline`; otherwise
    /// stores the driver's waker.
    pub(crate) fn poll_deadline_changed(&self, cx: &std::task::Context<'_>) -> bool {
        lock(&self.timers).poll_changed(cx)
    }

    /// Runs every session timer due at `now`.
    pub(crate) fn handle_timeout(&self, now: Instant) {
        let due = lock(&self.timers).pop_due(now);
        for session in due.iter().filter_map(Weak::upgrade) {
            session.update_popped(|state, w| state.handle_timeout(now, w));
        }
    }

    /// Entries in the timer queue (at most one per live session).
    pub(crate) fn pending_timers(&self) -> usize {
        lock(&self.timers).len()
    }

    /// Closes every session with `code` and `reason`.
    pub(crate) fn close_all(&self, code: u16, reason: &str, why: impl Fn() -> CloseReason) {
        for session in self.sessions() {
            session.close(code, reason, why());
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        // Let the timer driver see that the endpoint is gone.
        let driver = lock(&self.timers).take_driver();
        if let Some(driver) = driver {
            driver.wake();
        }
    }
}
