//! Rooms: named groups of sessions, on one node or across many.
//!
//! A session [joins](crate::Session::join) and [leaves](crate::Session::leave)
//! rooms by name; a send goes to one room or several, except some sessions
//! or the members of some rooms, and each message is encoded once for all
//! its recipients (as a [`Message`] broadcast is). A session leaves every
//! room when it stops being open, however that happens (closed by the
//! application or the client, all its handles dropped, expired, aborted,
//! stalled, its queue full, a protocol error, a shutdown): nothing is left
//! behind to clean up.
//!
//! ```
//! use sockjs_core::{Endpoint, Options, Session};
//!
//! let endpoint = Endpoint::new(Options::new("/chat"), |mut session: Session| async move {
//!     // Joined before the first .await: the session gets every message
//!     // sent to the room after it opened.
//!     if session.join("lobby").is_err() {
//!         return;
//!     }
//!     while let Some(text) = session.recv().await {
//!         // To everyone in the lobby but the sender.
//!         let _ = session.to("lobby").send(&text);
//!     }
//!     // Nothing to clean up: an ended session leaves its rooms.
//! });
//! // From anywhere else: to every member of two rooms, once each, except
//! // the members of a third.
//! let sent = endpoint.rooms().to("lobby").to("news").except_room("muted").send("hello")?;
//! assert_eq!(sent.delivered, 0, "no session yet");
//! # Ok::<(), sockjs_core::rooms::RoomError>(())
//! ```
//!
//! # Where rooms live
//!
//! Every [`Endpoint`](crate::Endpoint) has a registry, [`Endpoint::rooms`](crate::Endpoint::rooms),
//! which its sessions reach through [`Session::room_registry`](crate::Session::room_registry).
//! By default each endpoint makes its own; give several endpoints the same
//! one with [`Options::rooms()`](crate::Options::rooms()) (a chat served on
//! `/chat` and the same rooms from another prefix). A registry is a handle:
//! cheap to clone, usable from any thread.
//!
//! # Bounds
//!
//! * A room name is 1 to [`MAX_ROOM_NAME`] bytes.
//! * A session is in at most [`Options::max_rooms_per_session()`](crate::Options::max_rooms_per_session())
//!   rooms (100 by default).
//! * A room's members are sessions, so a room holds at most the endpoints'
//!   [`Options::max_sessions()`](crate::Options::max_sessions()) members, and a registry at most
//!   sessions x rooms per session rooms (a room exists only while it has a
//!   member).
//! * One send names at most [`MAX_SEND_ROOMS`] rooms, and its text is at
//!   most [`RoomsBuilder::max_message`] bytes (the endpoint's
//!   [`Options::max_queue()`](crate::Options::max_queue()) for the registry an endpoint makes).
//!
//! # Across nodes
//!
//! A registry built with a [`Broker`] ([`RoomsBuilder::broker`]) carries
//! sends to the other nodes of a cluster: each send reaches the local
//! members at once (so they receive whether the broker is up or not) and is
//! handed to the broker to publish; what other nodes publish reaches the
//! local members through [`BrokerHandle::receive`]. The node subscribes to
//! a room's traffic only while it has members in it. Delivery across nodes
//! is at most once, and what the broker could not publish is counted; see
//! [`Broker`] for the whole contract. Without a broker (the default),
//! rooms are local to the process and need no setup.
//!
//! # Locks
//!
//! The membership (both directions: room -> members, session -> rooms) has
//! one owner, the registry, under one lock that is taken alone: never while
//! a session's lock, the session registry or the timer queue is held. A
//! send copies its recipients out under it, then delivers with no lock
//! held; the broker is never called under it.

use std::fmt;
use std::sync::Arc;

use crate::app::Session;
use crate::broker::{handle_for, Inbound};
use crate::envelope::check_name;
use crate::membership::Member;
use crate::message::Message;
use crate::session::{RoomMember, RoomsCore};
use crate::state::Queued;

pub use crate::broker::{Broker, BrokerHandle};
pub use crate::envelope::{Envelope, EnvelopeError, NodeId, MAX_ROOM_NAME, MAX_SEND_ROOMS};
pub use crate::membership::RoomError;

/// The default of [`RoomsBuilder::max_message`]: 1 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 1024 * 1024;

/// A rooms registry: which sessions are in which rooms, and the way to
/// send to them. See the [module docs](self).
///
/// Cheap to clone; every clone is the same registry.
#[derive(Clone)]
pub struct Rooms {
    core: Arc<RoomsCore>,
}

impl fmt::Debug for Rooms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt(f)
    }
}

impl Default for Rooms {
    fn default() -> Rooms {
        Rooms::new()
    }
}

/// Makes a [`Rooms`] registry with a broker, limits or a label.
///
/// ```
/// use sockjs_core::rooms::Rooms;
/// let rooms = Rooms::builder().max_message(64 * 1024).label("chat").build();
/// assert_eq!(rooms.room_count(), 0);
/// ```
pub struct RoomsBuilder {
    broker: Option<Arc<dyn Broker>>,
    node: NodeId,
    max_message: usize,
    label: String,
}

impl fmt::Debug for RoomsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomsBuilder")
            .field("broker", &self.broker.is_some())
            .field("node", &self.node)
            .field("max_message", &self.max_message)
            .field("label", &self.label)
            .finish()
    }
}

impl RoomsBuilder {
    /// Carries sends between the nodes of a cluster through `broker`;
    /// `node` must differ on every node (see [`NodeId`]). Default: no
    /// broker, rooms local to the process.
    pub fn broker(mut self, broker: impl Broker, node: NodeId) -> Self {
        self.broker = Some(Arc::new(broker));
        self.node = node;
        self
    }

    /// The longest text a send may carry, in bytes; longer sends fail with
    /// [`RoomError::MessageTooLarge`], and envelopes from other nodes with
    /// a longer text are refused. Default: [`DEFAULT_MAX_MESSAGE`] (a
    /// registry made by an endpoint: its `max_queue`, the most one session
    /// can queue anyway). At least 1.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes.max(1);
        self
    }

    /// The `endpoint` label of the registry's `sockjs_room_publish_failed_total`
    /// series (feature `metrics`). Default: empty (a registry made by an
    /// endpoint: the endpoint's prefix).
    pub fn label(mut self, label: &str) -> Self {
        label.clone_into(&mut self.label);
        self
    }

    /// The registry. With a broker, calls its [`Broker::attach`] first.
    pub fn build(self) -> Rooms {
        let core = Arc::new(RoomsCore::new(self.broker, self.node, self.max_message, &self.label));
        if let Some(broker) = &core.broker {
            broker.attach(handle_for(&core));
        }
        Rooms { core }
    }
}

/// What a send to rooms did on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sent {
    /// Local members that got the message queued.
    pub delivered: usize,
    /// Local members that could not take it: closed meanwhile, or closed by
    /// it ([`crate::SendError::QueueFull`]).
    pub failed: usize,
    /// Whether it was handed to the broker for the other nodes.
    pub published: bool,
}

impl Rooms {
    /// A registry local to the process (no broker), with the default
    /// limits.
    pub fn new() -> Rooms {
        Rooms::builder().build()
    }

    /// A builder for a registry with a broker, limits or a label.
    pub fn builder() -> RoomsBuilder {
        RoomsBuilder { broker: None, node: NodeId::new(0), max_message: DEFAULT_MAX_MESSAGE, label: String::new() }
    }

    pub(crate) fn core(&self) -> &Arc<RoomsCore> {
        &self.core
    }

    pub(crate) fn from_core(core: Arc<RoomsCore>) -> Rooms {
        Rooms { core }
    }

    /// A send to `room`; add more rooms or exceptions, then
    /// [`send`](RoomSend::send).
    pub fn to<'a>(&'a self, room: &'a str) -> RoomSend<'a> {
        RoomSend::new(&self.core, room)
    }

    /// Handles to the sessions that joined `room` on this node, in no
    /// order (empty for a room without members). Holding a handle keeps its
    /// session open, as any [`Session`] does. Channels that joined it
    /// (`Channel::join` of the `multiplex` module) are not sessions and are not
    /// listed; [`Rooms::member_count`] counts them.
    pub fn members(&self, room: &str) -> Vec<Session> {
        let members = self.core.members(room).into_iter();
        members
            .filter_map(|m| match m {
                RoomMember::Session(cell) => Some(Session::new(cell)),
                RoomMember::Channel(_) => None,
            })
            .collect()
    }

    /// How many members `room` has on this node (sessions and channels).
    pub fn member_count(&self, room: &str) -> usize {
        self.core.member_count(room)
    }

    /// The names of the rooms that have members on this node, in no order.
    pub fn room_names(&self) -> Vec<String> {
        self.core.room_names()
    }

    /// How many rooms have members on this node.
    pub fn room_count(&self) -> usize {
        self.core.sizes().0
    }

    /// This node's id ([`RoomsBuilder::broker`]; 0 without a broker).
    pub fn node(&self) -> NodeId {
        self.core.node
    }

    /// Room messages the broker could not publish so far
    /// ([`BrokerHandle::publish_failed`]).
    pub fn publish_failed(&self) -> u64 {
        self.core.counters.publish_failed_total()
    }

    /// Delivers an envelope from another node to this node's members, as
    /// [`BrokerHandle::deliver`] does.
    pub fn deliver(&self, envelope: &Envelope) -> usize {
        self.core.deliver(envelope)
    }

    /// Whether two handles are the same registry.
    pub fn ptr_eq(&self, other: &Rooms) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }
}

/// Queues `message` for each of `to`'s members (once each) but the
/// excepted; `(delivered, failed)`.
///
/// Sessions get `message` itself. A channel gets it framed for its topic
/// (`msg,TOPIC,TEXT`, as websocket-multiplex frames it): made once per
/// topic per send and shared by every channel of that topic, so a room
/// whose members are channels of one name (the usual case) costs one
/// encoding per send, as a room of sessions does.
fn deliver_local(
    core: &RoomsCore,
    to: &[&str],
    except_rooms: &[&str],
    except: &Except,
    message: &Message,
) -> (usize, usize) {
    let (mut delivered, mut failed) = (0, 0);
    let mut framed = Framed::default();
    let mut push = |member: &RoomMember| {
        let item = match member {
            RoomMember::Session(_) => message.clone(),
            RoomMember::Channel(channel) => framed.get(&channel.topic, message),
        };
        match member.session().push(Queued::Message(item)) {
            Ok(()) => delivered += 1,
            Err(_) => failed += 1,
        }
    };
    if let ([room], []) = (to, except_rooms) {
        // One room: its shared member list, no copy per send.
        if let Some(members) = core.snapshot(room) {
            for member in members.iter() {
                if except.is_empty() || !except.contains(member.key()) {
                    push(member);
                }
            }
        }
    } else {
        let mut recipients: Vec<RoomMember> = Vec::new();
        core.recipients(to, except_rooms, |key| except.contains(key), &mut recipients);
        recipients.iter().for_each(push);
    }
    (delivered, failed)
}

/// The `msg,TOPIC,TEXT` forms of one send's text, one per topic among its
/// channel recipients: none allocated for a send with no channel
/// recipient, a short list for a few topics (the usual case: one), a map
/// past [`FRAMED_LIST`] topics, so that a room whose channels have many
/// names costs one lookup per recipient, not a scan.
#[derive(Default)]
struct Framed {
    made: Vec<(Arc<str>, Message)>,
    many: std::collections::HashMap<Arc<str>, Message>,
}

/// The most topics [`Framed`] keeps in its list before it uses its map.
const FRAMED_LIST: usize = 8;

impl Framed {
    fn get(&mut self, topic: &Arc<str>, message: &Message) -> Message {
        if let Some((_, m)) = self.made.iter().find(|(t, _)| Arc::ptr_eq(t, topic) || **t == **topic) {
            return m.clone();
        }
        if let Some(m) = self.many.get(topic) {
            return m.clone();
        }
        let m = Message::new(&channel_frame(topic, message.text()));
        if self.made.len() < FRAMED_LIST {
            self.made.push((topic.clone(), m.clone()));
        } else {
            self.many.insert(topic.clone(), m.clone());
        }
        m
    }
}

/// A channel message as websocket-multiplex 0.1.0 frames it:
/// `msg,TOPIC,TEXT`.
pub(crate) fn channel_frame(topic: &str, text: &str) -> String {
    let mut s = String::with_capacity(5 + topic.len() + text.len());
    s.push_str("msg,");
    s.push_str(topic);
    s.push(',');
    s.push_str(text);
    s
}

impl Inbound for RoomsCore {
    fn deliver(&self, envelope: &Envelope) -> usize {
        if envelope.origin() == self.node {
            return 0;
        }
        let (to, except_rooms) = envelope.names();
        deliver_local(self, &to, &except_rooms, &Except::default(), envelope.message()).0
    }

    fn max_message(&self) -> usize {
        self.max_message
    }

    fn publish_failed(&self, messages: u64) {
        self.counters.publish_failed(messages);
        tracing::warn!(target: "sockjs", messages, node = %self.node, "room messages could not be published to other nodes");
    }
}

/// A send to rooms being put together: [`Rooms::to`] or
/// [`Session::to`], then more rooms, exceptions, and [`RoomSend::send`].
///
/// The recipients are every member of any of the rooms, once each, but
/// the excepted sessions and the members of the excepted rooms. On other
/// nodes, excepted rooms are applied to their own members; excepted
/// sessions are this node's (a session lives on one node).
#[derive(Debug)]
#[must_use = "a send does nothing until `send` or `send_message`"]
pub struct RoomSend<'a> {
    core: &'a RoomsCore,
    to: Targets<'a>,
    except_rooms: Vec<&'a str>,
    except: Except,
    local: bool,
}

/// The sessions a send leaves out: most leave out none or one (the
/// sender), which needs no allocation.
#[derive(Debug, Default)]
struct Except {
    first: Option<u64>,
    more: Vec<u64>,
}

impl Except {
    fn push(&mut self, key: u64) {
        match self.first {
            None => self.first = Some(key),
            Some(_) => self.more.push(key),
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn contains(&self, key: u64) -> bool {
        self.first == Some(key) || self.more.contains(&key)
    }
}

/// The rooms of a send: most sends name one, which needs no allocation.
#[derive(Debug)]
enum Targets<'a> {
    One([&'a str; 1]),
    Many(Vec<&'a str>),
}

impl<'a> Targets<'a> {
    fn as_slice(&self) -> &[&'a str] {
        match self {
            Targets::One(one) => one,
            Targets::Many(all) => all,
        }
    }
}

impl<'a> RoomSend<'a> {
    pub(crate) fn new(core: &'a RoomsCore, room: &'a str) -> RoomSend<'a> {
        RoomSend { core, to: Targets::One([room]), except_rooms: Vec::new(), except: Except::default(), local: false }
    }

    /// Also to the members of `room` (a member of several of the rooms
    /// gets the message once).
    pub fn to(mut self, room: &'a str) -> Self {
        self.to = match self.to {
            Targets::One([first]) => Targets::Many(vec![first, room]),
            Targets::Many(mut all) => {
                all.push(room);
                Targets::Many(all)
            }
        };
        self
    }

    /// Not to the members of `room`.
    pub fn except_room(mut self, room: &'a str) -> Self {
        self.except_rooms.push(room);
        self
    }

    /// Not to `session`.
    pub fn except(mut self, session: &Session) -> Self {
        self.except.push(session.cell().key());
        self
    }

    /// Not to the member `key` (a session's or a channel's).
    pub(crate) fn except_key(mut self, key: u64) -> Self {
        self.except.push(key);
        self
    }

    /// To this node's members only: not handed to the broker.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// Sends `text`, encoded once for every recipient.
    pub fn send(self, text: &str) -> Result<Sent, RoomError> {
        self.check(text.len())?;
        let message = Message::new(text);
        Ok(self.send_checked(&message))
    }

    /// Sends a message already encoded (see [`Message`]).
    pub fn send_message(self, message: &Message) -> Result<Sent, RoomError> {
        // The byte length (`text()` would check the UTF-8 again).
        self.check(message.raw().len())?;
        Ok(self.send_checked(message))
    }

    fn check(&self, len: usize) -> Result<(), RoomError> {
        if self.to.as_slice().len() + self.except_rooms.len() > MAX_SEND_ROOMS {
            return Err(RoomError::RoomCount);
        }
        for name in self.to.as_slice().iter().chain(&self.except_rooms) {
            check_name(name)?;
        }
        if len > self.core.max_message {
            return Err(RoomError::MessageTooLarge);
        }
        Ok(())
    }

    fn send_checked(self, message: &Message) -> Sent {
        let to = self.to.as_slice();
        let (delivered, failed) = deliver_local(self.core, to, &self.except_rooms, &self.except, message);
        let mut published = false;
        if let (Some(broker), false) = (&self.core.broker, self.local) {
            broker.publish(Envelope::from_parts(self.core.node, to, &self.except_rooms, message.clone()));
            published = true;
        }
        Sent { delivered, failed, published }
    }
}

/// Rooms, from the session's side.
impl Session {
    /// Joins `room` (made when its first member joins); `Ok(false)` when
    /// the session was in it already.
    ///
    /// Fails with [`RoomError::EmptyName`] or [`RoomError::NameTooLong`]
    /// for a name out of bounds ([`MAX_ROOM_NAME`]), with
    /// [`RoomError::TooManyRooms`] when the session is in
    /// [`crate::Options::max_rooms_per_session()`] rooms already, and with
    /// [`RoomError::Closed`] once the session is not open.
    pub fn join(&self, room: &str) -> Result<bool, RoomError> {
        let cell = self.cell();
        if !self.is_open() {
            return Err(RoomError::Closed);
        }
        cell.rooms.join(&RoomMember::Session(cell.clone()), room, cell.max_rooms)
    }

    /// Leaves `room`; whether the session was in it. A room without
    /// members is gone.
    pub fn leave(&self, room: &str) -> bool {
        let cell = self.cell();
        cell.rooms.leave(cell.key(), room)
    }

    /// The rooms the session is in, in no order.
    pub fn rooms(&self) -> Vec<String> {
        let cell = self.cell();
        cell.rooms.rooms_of(cell.key())
    }

    /// The registry the session's rooms are in (its endpoint's
    /// [`crate::Endpoint::rooms`]).
    pub fn room_registry(&self) -> Rooms {
        Rooms::from_core(self.cell().rooms.clone())
    }

    /// A send to the members of `room` except this session (add rooms or
    /// exceptions, then [`RoomSend::send`]); whether the session is a
    /// member does not matter.
    pub fn to<'a>(&'a self, room: &'a str) -> RoomSend<'a> {
        RoomSend::new(&self.cell().rooms, room).except(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A send's `msg,TOPIC,TEXT` form is made once per topic and shared
    /// by every channel of that topic (two handles of one name included),
    /// and a second topic gets its own.
    #[test]
    fn channel_frames_made_once_per_topic() {
        let message = Message::new("hi, all");
        let mut framed = Framed::default();
        let x1: Arc<str> = Arc::from("x");
        let x2: Arc<str> = Arc::from("x");
        let first = framed.get(&x1, &message);
        assert_eq!(first.text(), "msg,x,hi, all");
        assert_eq!(framed.get(&x2, &message).raw().as_ptr(), first.raw().as_ptr(), "shared, not made again");
        assert_eq!(framed.get(&Arc::from("y"), &message).text(), "msg,y,hi, all");
        assert_eq!(framed.made.len(), 2);
        // Past the list, the map: each topic still made once.
        let topics: Vec<Arc<str>> = (0..3 * FRAMED_LIST).map(|i| Arc::from(format!("t{i}"))).collect();
        let first: Vec<*const u8> = topics.iter().map(|t| framed.get(t, &message).raw().as_ptr()).collect();
        let again: Vec<*const u8> = topics.iter().map(|t| framed.get(t, &message).raw().as_ptr()).collect();
        assert_eq!(first, again);
        assert_eq!(framed.made.len() + framed.many.len(), 2 + topics.len());
        assert_eq!(framed.get(&topics[20], &message).text(), "msg,t20,hi, all");
    }
}
