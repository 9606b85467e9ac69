//! Who is in which room: the one owner of room membership.
//!
//! [`Registry`] holds both directions, room -> members and member ->
//! rooms, and every change to either goes through one of its methods,
//! under the lock of the [`Core`] that holds it. A change returns what the
//! caller must do next as data ([`Change`]): when this node's first member
//! joined a room or its last one left, the cluster broker must hear of it,
//! which [`Core::announce`] does after the lock is released.
//!
//! Members are any cheap handle (`M`, a session's cell in practice), known
//! by a key unique within the process. Nothing here delivers a message:
//! [`Core::recipients`] copies the handles out and the caller delivers with
//! no lock held.
//!
//! Lock order: the rooms lock is taken alone. It is never taken while a
//! session, the session registry or the timer queue is locked, and none of
//! those is taken under it; the broker is never called under it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::broker::Broker;
use crate::envelope::{check_name, NameError, NodeId};
use crate::metrics::RoomCounters;

/// The most room names whose broker subscription may have to change that
/// the registry remembers between two passes of [`Core::announce`]; past
/// it, the next pass compares every room instead (the set is cleared, so
/// it never holds more).
pub(crate) const MAX_PENDING_INTEREST: usize = 1024;

/// Why a session could not join a room, or a send to rooms was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomError {
    /// A room name is empty.
    EmptyName,
    /// A room name is longer than [`MAX_ROOM_NAME`](crate::envelope::MAX_ROOM_NAME) bytes.
    NameTooLong,
    /// The session is in [`crate::Options::max_rooms_per_session()`] rooms
    /// already.
    TooManyRooms,
    /// The session is closed: it left every room and joins none.
    Closed,
    /// A send names no room, or more than [`MAX_SEND_ROOMS`](crate::envelope::MAX_SEND_ROOMS)
    /// rooms (targets and excepted rooms together).
    RoomCount,
    /// The message is longer than the registry's
    /// `RoomsBuilder::max_message`.
    MessageTooLarge,
}

impl fmt::Display for RoomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RoomError::EmptyName => "a room name must not be empty",
            RoomError::NameTooLong => "the room name is too long",
            RoomError::TooManyRooms => "the session is in as many rooms as it may be",
            RoomError::Closed => "the SockJS session is closed",
            RoomError::RoomCount => "a send to rooms must name at least one room and not too many",
            RoomError::MessageTooLarge => "the message is larger than the rooms' message limit",
        })
    }
}

impl std::error::Error for RoomError {}

impl From<NameError> for RoomError {
    fn from(e: NameError) -> RoomError {
        match e {
            NameError::Empty => RoomError::EmptyName,
            NameError::TooLong => RoomError::NameTooLong,
        }
    }
}

/// A member as the registry knows it.
pub(crate) trait Member: Clone {
    /// Unique among the live members of the process.
    fn key(&self) -> u64;
    /// Set, under the rooms lock, once the member left every room for
    /// good; a join after that fails. See [`Core::join`].
    fn departed(&self) -> &AtomicBool;
}

/// What a membership change asks of the caller, once the lock is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[must_use = "announce interest changes once the lock is released"]
pub(crate) struct Change {
    /// Whether the membership changed (a new member, a member gone).
    pub(crate) changed: bool,
    /// Whether a room got its first member or lost its last one: call
    /// [`Core::announce`].
    pub(crate) interest: bool,
}

/// The members of one room.
#[derive(Debug)]
struct Room<M> {
    members: HashMap<u64, M>,
    /// The members as one shared list, made by the first send after a
    /// change: sends to a room whose membership did not change take it
    /// with one reference count, not one per member.
    snapshot: Option<Arc<[M]>>,
}

impl<M> Default for Room<M> {
    fn default() -> Self {
        Room { members: HashMap::new(), snapshot: None }
    }
}

/// Both directions of membership, and what the broker was told.
#[derive(Debug)]
pub(crate) struct Registry<M> {
    rooms: HashMap<Arc<str>, Room<M>>,
    members: HashMap<u64, Vec<Arc<str>>>,
    /// Whether a broker wants to hear of interest changes.
    tracking: bool,
    /// The rooms the broker was last told to subscribe to.
    announced: HashSet<Arc<str>>,
    /// Rooms whose subscription may have to change (at most
    /// [`MAX_PENDING_INTEREST`]).
    pending: HashSet<Arc<str>>,
    /// `pending` overflowed: compare every room on the next pass.
    resync: bool,
}

impl<M: Member> Registry<M> {
    fn new(tracking: bool) -> Registry<M> {
        Registry {
            rooms: HashMap::new(),
            members: HashMap::new(),
            tracking,
            announced: HashSet::new(),
            pending: HashSet::new(),
            resync: false,
        }
    }

    fn mark(&mut self, room: &Arc<str>) {
        if !self.tracking || self.resync {
            return;
        }
        if self.pending.len() >= MAX_PENDING_INTEREST {
            self.pending.clear();
            self.resync = true;
        } else {
            self.pending.insert(room.clone());
        }
    }

    fn join(&mut self, member: &M, room: &str, max_rooms: usize) -> Result<Change, RoomError> {
        check_name(room)?;
        if member.departed().load(Ordering::Relaxed) {
            return Err(RoomError::Closed);
        }
        let theirs = self.members.get(&member.key());
        if theirs.is_some_and(|r| r.iter().any(|r| &**r == room)) {
            return Ok(Change::default());
        }
        if theirs.map_or(0, Vec::len) >= max_rooms {
            return Err(RoomError::TooManyRooms);
        }
        let (name, first) = match self.rooms.get_key_value(room) {
            Some((name, _)) => (name.clone(), false),
            None => (Arc::<str>::from(room), true),
        };
        let entry = self.rooms.entry(name.clone()).or_default();
        entry.members.insert(member.key(), member.clone());
        entry.snapshot = None;
        self.members.entry(member.key()).or_default().push(name.clone());
        if first {
            self.mark(&name);
        }
        Ok(Change { changed: true, interest: first && self.tracking })
    }

    fn leave(&mut self, key: u64, room: &str) -> Change {
        let Some(theirs) = self.members.get_mut(&key) else { return Change::default() };
        let Some(at) = theirs.iter().position(|r| &**r == room) else { return Change::default() };
        let name = theirs.swap_remove(at);
        if theirs.is_empty() {
            self.members.remove(&key);
        }
        self.remove_from_room(&name, key)
    }

    fn remove_from_room(&mut self, name: &Arc<str>, key: u64) -> Change {
        let Some(room) = self.rooms.get_mut(name) else { return Change::default() };
        room.members.remove(&key);
        room.snapshot = None;
        let last = room.members.is_empty();
        if last {
            self.rooms.remove(name);
            self.mark(name);
        }
        Change { changed: true, interest: last && self.tracking }
    }

    fn depart(&mut self, member: &M) -> Change {
        member.departed().store(true, Ordering::Relaxed);
        let Some(theirs) = self.members.remove(&member.key()) else { return Change::default() };
        let mut change = Change::default();
        for name in &theirs {
            let c = self.remove_from_room(name, member.key());
            change.changed |= c.changed;
            change.interest |= c.interest;
        }
        change
    }

    /// The changes to tell the broker, `(room, subscribe)`, taken from
    /// what is pending; `announced` becomes what the broker will have been
    /// told once they are made.
    fn take_interest(&mut self) -> Vec<(Arc<str>, bool)> {
        let mut changes = Vec::new();
        if std::mem::take(&mut self.resync) {
            self.pending.clear();
            for name in self.announced.iter().filter(|n| !self.rooms.contains_key(*n)) {
                changes.push((name.clone(), false));
            }
            for name in self.rooms.keys().filter(|n| !self.announced.contains(*n)) {
                changes.push((name.clone(), true));
            }
        } else {
            for name in self.pending.drain() {
                let want = self.rooms.contains_key(&name);
                if want != self.announced.contains(&name) {
                    changes.push((name, want));
                }
            }
        }
        for (name, subscribe) in &changes {
            if *subscribe {
                self.announced.insert(name.clone());
            } else {
                self.announced.remove(name);
            }
        }
        changes
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change is made in single steps: a panic elsewhere leaves the
    // data consistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A rooms registry: the membership behind its lock, the node's identity,
/// its broker (none for a registry local to the process) and its counters.
pub(crate) struct Core<M> {
    registry: Mutex<Registry<M>>,
    pub(crate) broker: Option<Arc<dyn Broker>>,
    pub(crate) node: NodeId,
    pub(crate) max_message: usize,
    pub(crate) counters: RoomCounters,
    /// A thread is calling the broker; it takes what others leave pending.
    /// Read and set under the rooms lock (cleared without it only when the
    /// broker panicked).
    announcing: AtomicBool,
}

impl<M> fmt::Debug for Core<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rooms")
            .field("node", &self.node)
            .field("broker", &self.broker.is_some())
            .field("max_message", &self.max_message)
            .finish_non_exhaustive()
    }
}

/// Clears `announcing` if the broker panicked mid-pass, so that later
/// changes are still announced.
struct Announcing<'a>(&'a AtomicBool);

impl Drop for Announcing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl<M: Member> Core<M> {
    pub(crate) fn new(broker: Option<Arc<dyn Broker>>, node: NodeId, max_message: usize, label: &str) -> Core<M> {
        Core {
            registry: Mutex::new(Registry::new(broker.is_some())),
            broker,
            node,
            max_message,
            counters: RoomCounters::new(label),
            announcing: AtomicBool::new(false),
        }
    }

    /// Runs `f` on the registry, then announces interest changes it made.
    fn change<R>(&self, f: impl FnOnce(&mut Registry<M>) -> (R, Change)) -> R {
        let (result, change) = f(&mut lock(&self.registry));
        if change.interest {
            self.announce();
        }
        result
    }

    /// Adds `member` to `room` unless it is in `max_rooms` rooms already;
    /// `Ok(false)` when it was a member already.
    ///
    /// The caller checks first that the member is open (with no rooms lock
    /// held); a member whose [`Core::depart`] ran since is refused here, so
    /// a join racing a session's end either comes before the departure
    /// (which then removes it) or fails.
    pub(crate) fn join(&self, member: &M, room: &str, max_rooms: usize) -> Result<bool, RoomError> {
        self.change(|r| match r.join(member, room, max_rooms) {
            Ok(change) => (Ok(change.changed), change),
            Err(e) => (Err(e), Change::default()),
        })
    }

    /// Removes the member `key` from `room`; whether it was in it.
    pub(crate) fn leave(&self, key: u64, room: &str) -> bool {
        self.change(|r| {
            let change = r.leave(key, room);
            (change.changed, change)
        })
    }

    /// The member left for good (its session ended): out of every room,
    /// and no join succeeds after this.
    pub(crate) fn depart(&self, member: &M) {
        self.change(|r| ((), r.depart(member)));
    }

    /// The rooms of the member `key`.
    pub(crate) fn rooms_of(&self, key: u64) -> Vec<String> {
        let registry = lock(&self.registry);
        registry.members.get(&key).map_or_else(Vec::new, |r| r.iter().map(|n| n.to_string()).collect())
    }

    /// The members of `room`, copied out.
    pub(crate) fn members(&self, room: &str) -> Vec<M> {
        lock(&self.registry).rooms.get(room).map_or_else(Vec::new, |r| r.members.values().cloned().collect())
    }

    /// How many members `room` has.
    pub(crate) fn member_count(&self, room: &str) -> usize {
        lock(&self.registry).rooms.get(room).map_or(0, |r| r.members.len())
    }

    /// The names of the rooms that have members.
    pub(crate) fn room_names(&self) -> Vec<String> {
        lock(&self.registry).rooms.keys().map(|n| n.to_string()).collect()
    }

    /// Rooms with members, and members in any room.
    pub(crate) fn sizes(&self) -> (usize, usize) {
        let registry = lock(&self.registry);
        (registry.rooms.len(), registry.members.len())
    }

    /// The members of `room` as one shared list (empty for a room without
    /// members): one reference count under the lock while the room's
    /// membership stays the same, a copy of the members after a change.
    pub(crate) fn snapshot(&self, room: &str) -> Option<Arc<[M]>> {
        let mut registry = lock(&self.registry);
        let room = registry.rooms.get_mut(room)?;
        Some(room.snapshot.get_or_insert_with(|| room.members.values().cloned().collect()).clone())
    }

    /// Appends to `out` every member of any of `to`, once each, except the
    /// members of any of `except_rooms` and the members whose key
    /// `excepted` names. The handles are copied out under the lock; deliver to them
    /// after this returns.
    pub(crate) fn recipients(
        &self,
        to: &[&str],
        except_rooms: &[&str],
        excepted: impl Fn(u64) -> bool,
        out: &mut Vec<M>,
    ) {
        let registry = lock(&self.registry);
        for (i, name) in to.iter().enumerate() {
            let earlier = &to[..i];
            if earlier.contains(name) {
                continue;
            }
            let Some(room) = registry.rooms.get(*name) else { continue };
            let check_rooms = !earlier.is_empty() || !except_rooms.is_empty();
            for (key, member) in &room.members {
                if excepted(*key) {
                    continue;
                }
                if check_rooms {
                    let theirs = registry.members.get(key).map_or(&[][..], Vec::as_slice);
                    let skip = theirs.iter().any(|r| {
                        let r: &str = r;
                        // Reached through an earlier room, or excepted.
                        earlier.contains(&r) || except_rooms.contains(&r)
                    });
                    if skip {
                        continue;
                    }
                }
                out.push(member.clone());
            }
        }
    }

    /// Tells the broker which rooms to subscribe to and unsubscribe from,
    /// with no rooms lock held, in the order the changes happened. One
    /// thread at a time does it: a thread that finds another at it leaves
    /// its changes to that one, which loops until none is left, so a
    /// broker that calls back into the registry cannot deadlock.
    pub(crate) fn announce(&self) {
        let Some(broker) = &self.broker else { return };
        let mut registry = lock(&self.registry);
        if self.announcing.swap(true, Ordering::Relaxed) {
            return;
        }
        let _clear = Announcing(&self.announcing);
        loop {
            let changes = registry.take_interest();
            if changes.is_empty() {
                // Cleared under the lock (by `_clear`, before the lock
                // goes): a change made after this finds no announcer and
                // announces itself.
                return;
            }
            drop(registry);
            for (room, subscribe) in changes {
                if subscribe {
                    broker.subscribe(&room);
                } else {
                    broker.unsubscribe(&room);
                }
            }
            registry = lock(&self.registry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug)]
    struct M(u64, Arc<AtomicBool>);

    impl Member for M {
        fn key(&self) -> u64 {
            self.0
        }
        fn departed(&self) -> &AtomicBool {
            &self.1
        }
    }

    fn member(key: u64) -> M {
        M(key, Arc::default())
    }

    /// Past the bound on pending interest changes, the registry forgets
    /// them and compares every room once instead: the broker still hears
    /// exactly the rooms that changed, and the pending set never holds
    /// more than the bound.
    #[test]
    fn pending_interest_is_bounded() {
        let mut r: Registry<M> = Registry::new(true);
        let m = member(1);
        let _ = r.join(&m, "kept", 10_000).unwrap();
        assert_eq!(r.take_interest(), vec![(Arc::from("kept"), true)]);
        for i in 0..MAX_PENDING_INTEREST + 10 {
            let name = format!("r{i}");
            let _ = r.join(&m, &name, 10_000).unwrap();
            let _ = r.leave(1, &name);
            assert!(r.pending.len() <= MAX_PENDING_INTEREST);
        }
        assert!(r.resync);
        let _ = r.leave(1, "kept");
        let _ = r.join(&member(2), "new", 1).unwrap();
        let mut changes = r.take_interest();
        changes.sort();
        assert_eq!(changes, vec![(Arc::from("kept"), false), (Arc::from("new"), true)]);
        assert!(r.take_interest().is_empty());
        assert_eq!(r.announced.len(), 1);
    }

    /// A departed member is refused, and a registry without a broker
    /// tracks no interest at all.
    #[test]
    fn departed_members_are_refused() {
        let mut r: Registry<M> = Registry::new(false);
        let m = member(1);
        assert_eq!(r.join(&m, "a", 1), Ok(Change { changed: true, interest: false }));
        let _ = r.depart(&m);
        assert_eq!(r.join(&m, "a", 1), Err(RoomError::Closed));
        assert!(r.rooms.is_empty() && r.members.is_empty() && r.pending.is_empty());
    }
}
