//! Named channels over one SockJS session: the websocket-multiplex
//! protocol (the npm package `websocket-multiplex` 0.1.0, whose browser
//! client `WebSocketMultiplex` runs over a `SockJS` object).
//!
//! [`Multiplex`] is a [`Handler`]: serve it on an endpoint and each
//! connection carries any number of channels (up to a bound), each served
//! by the [`ChannelHandler`] registered for its name, which gets a
//! [`Channel`]: a handle with the shape of a [`Session`] (receive, send,
//! close, the connection's properties, rooms).
//!
//! ```
//! use sockjs_core::multiplex::{Channel, Multiplex};
//! use sockjs_core::{Endpoint, Options};
//!
//! let multiplex = Multiplex::new()
//!     .channel("ann", |mut channel: Channel| async move {
//!         let _ = channel.send("Ann says hi!");
//!         while let Some(text) = channel.recv().await {
//!             let _ = channel.send(format!("Ann nods: {text}"));
//!         }
//!     })
//!     .channel("carl", |channel: Channel| async move {
//!         let _ = channel.send("Carl says goodbye!");
//!         channel.close();
//!     });
//! let endpoint = Endpoint::new(Options::new("/multiplex"), multiplex);
//! # drop(endpoint);
//! ```
//!
//! # The protocol
//!
//! Every SockJS message is `TYPE,TOPIC,PAYLOAD`, split at its first two
//! commas (the payload may hold more; a topic cannot):
//!
//! | from the client | what the server does |
//! |---|---|
//! | `sub,TOPIC` | opens the channel `TOPIC` and starts its handler; nothing is sent back. Ignored when the channel is open already, when no handler serves `TOPIC`, or when `TOPIC` is longer than [`Multiplex::max_topic`]. Refused with `uns,TOPIC` (the client's channel emits `close`) when the connection has [`Multiplex::max_channels`] channels. |
//! | `msg,TOPIC,PAYLOAD` | `PAYLOAD` (possibly empty) reaches the channel's [`Channel::recv`]. Ignored when the channel is not open. |
//! | `uns,TOPIC` | closes the channel (it leaves its rooms, `recv` ends once its inbox is drained); nothing is sent back. |
//! | anything else | ignored |
//!
//! | from the server | when |
//! |---|---|
//! | `msg,TOPIC,PAYLOAD` | [`Channel::send`], and room messages to a channel that joined a room |
//! | `uns,TOPIC` | [`Channel::close`], or the last handle of an open channel dropped |
//!
//! Topics are compared byte for byte. The browser client sends a
//! channel's name through JavaScript's `escape()` (so `a b` travels as
//! `a%20b`); [`Multiplex::channel`] registers a name the same way, as the
//! node server does.
//!
//! # Bounds
//!
//! * At most [`Multiplex::max_channels`] channels per connection
//!   ([`DEFAULT_MAX_CHANNELS`]): open channels and channel handlers still
//!   running each count.
//! * A topic is at most [`Multiplex::max_topic`] bytes
//!   ([`DEFAULT_MAX_TOPIC`], the longest room name, so that a channel can
//!   join the room of its own name).
//! * A channel's inbox holds at most [`Multiplex::channel_inbox`] bytes of
//!   text ([`DEFAULT_CHANNEL_INBOX`]), or one message of any size when it
//!   is empty. When a message finds it full, the connection stops taking
//!   messages from the session's inbox until the channel's handler makes
//!   room, and the session's own bound ([`crate::Options::max_inbox()`])
//!   then slows the client down: one slow channel holds up the
//!   connection's other channels, and nothing is dropped.
//! * What a channel sends goes to the session's outgoing queue
//!   ([`crate::Options::max_queue()`]).
//!
//! # Tasks and ends
//!
//! The channels' handlers run inside the connection's application task
//! (no runtime is needed, as for any [`Handler`]): a handler that blocks
//! its thread blocks every channel of its connection. When the session
//! stops being open, however that happens, every channel closes at once
//! and leaves its rooms; their handlers see `recv` end once their inboxes
//! are drained, and the connection's task ends when the last of them
//! does.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderMap, Uri};

use crate::app::{AppTask, Handler, SendJsonError, Session};
use crate::envelope::MAX_ROOM_NAME;
use crate::frame::Frame;
use crate::message::Message;
use crate::rooms::{channel_frame, RoomError, RoomSend, Rooms};
use crate::session::{next_key, ChannelMember, RoomMember, SessionCell, SessionEnded};
use crate::state::{Queued, SendError};
use crate::Transport;

/// The default of [`Multiplex::max_channels`]: 64 channels per connection.
pub const DEFAULT_MAX_CHANNELS: usize = 64;

/// The default of [`Multiplex::max_topic`]: the longest room name
/// ([`crate::rooms::MAX_ROOM_NAME`], 200 bytes).
pub const DEFAULT_MAX_TOPIC: usize = MAX_ROOM_NAME;

/// The default of [`Multiplex::channel_inbox`]: 64 KiB of text per
/// channel.
pub const DEFAULT_CHANNEL_INBOX: usize = 64 * 1024;

/// The most messages the connection hands to its channels in one turn
/// before it lets their handlers run.
const MESSAGES_PER_TURN: usize = 64;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change is made in single steps: a panic elsewhere leaves the
    // data consistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Application code that runs once for every channel a client opens.
///
/// Implemented for every `Fn(Channel) -> impl Future<Output = ()>`
/// closure that is `Send + Sync + 'static`, as [`Handler`] is for
/// sessions.
pub trait ChannelHandler: Send + Sync + 'static {
    /// Runs the application for one channel; the returned future runs
    /// inside the connection's task for as long as it wants.
    fn call(&self, channel: Channel) -> AppTask;
}

impl<F, Fut> ChannelHandler for F
where
    F: Fn(Channel) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, channel: Channel) -> AppTask {
        Box::pin(self(channel))
    }
}

/// The names served and the bounds; shared by every connection.
#[derive(Clone)]
struct Config {
    channels: HashMap<String, Arc<dyn ChannelHandler>>,
    fallback: Option<Arc<dyn ChannelHandler>>,
    max_channels: usize,
    max_topic: usize,
    channel_inbox: usize,
}

/// A [`Handler`] that serves websocket-multiplex channels over each
/// session. See the [module docs](self).
#[derive(Clone)]
pub struct Multiplex {
    config: Arc<Config>,
}

impl fmt::Debug for Multiplex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.config.channels.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Multiplex")
            .field("channels", &names)
            .field("fallback", &self.config.fallback.is_some())
            .field("max_channels", &self.config.max_channels)
            .field("max_topic", &self.config.max_topic)
            .field("channel_inbox", &self.config.channel_inbox)
            .finish()
    }
}

impl Default for Multiplex {
    fn default() -> Multiplex {
        Multiplex::new()
    }
}

impl Multiplex {
    /// Serves no channel yet, with the default bounds.
    pub fn new() -> Multiplex {
        let config = Config {
            channels: HashMap::new(),
            fallback: None,
            max_channels: DEFAULT_MAX_CHANNELS,
            max_topic: DEFAULT_MAX_TOPIC,
            channel_inbox: DEFAULT_CHANNEL_INBOX,
        };
        Multiplex { config: Arc::new(config) }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Serves the channel `name` with `handler`. The topic on the wire is
    /// `name` as JavaScript's `escape()` writes it, as the browser client
    /// and the node server both do (`a b` is `a%20b`).
    pub fn channel(mut self, name: &str, handler: impl ChannelHandler) -> Self {
        self.config().channels.insert(escape_topic(name), Arc::new(handler));
        self
    }

    /// Serves every topic that no [`Multiplex::channel`] names with
    /// `handler` ([`Channel::topic`] tells which it is). Without one, a
    /// `sub` for such a topic is ignored, as the node server ignores it.
    pub fn fallback(mut self, handler: impl ChannelHandler) -> Self {
        self.config().fallback = Some(Arc::new(handler));
        self
    }

    /// The most channels one connection may have (open channels, and
    /// handlers of closed ones still running, each count); a `sub` past it
    /// is answered `uns,TOPIC`. Default [`DEFAULT_MAX_CHANNELS`]; at least 1.
    pub fn max_channels(mut self, channels: usize) -> Self {
        self.config().max_channels = channels.max(1);
        self
    }

    /// The longest topic served, in bytes; a `sub` for a longer one is
    /// ignored. Default [`DEFAULT_MAX_TOPIC`].
    pub fn max_topic(mut self, bytes: usize) -> Self {
        self.config().max_topic = bytes;
        self
    }

    /// The most bytes of text a channel's inbox holds (see the module's
    /// bounds). Default [`DEFAULT_CHANNEL_INBOX`].
    pub fn channel_inbox(mut self, bytes: usize) -> Self {
        self.config().channel_inbox = bytes;
        self
    }
}

impl Handler for Multiplex {
    fn call(&self, session: Session) -> AppTask {
        Box::pin(run(session, self.config.clone()))
    }
}

/// A channel name as it travels on the wire: websocket-multiplex 0.1.0's
/// client writes it with JavaScript's `escape()` (ECMA-262 B.2.1.1):
/// ASCII letters, digits and `@*_+-./` stay, other UTF-16 code units below
/// 256 become `%XX`, the rest `%uXXXX`. The server side matches channels
/// registered by name this way; a client (`sockjs-client`) escapes the
/// names it subscribes to with it.
pub fn escape_topic(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for unit in name.encode_utf16() {
        match u8::try_from(unit) {
            Ok(b) if b.is_ascii_alphanumeric() || b"@*_+-./".contains(&b) => out.push(char::from(b)),
            Ok(b) => out.push_str(&format!("%{b:02X}")),
            Err(_) => out.push_str(&format!("%u{unit:04X}")),
        }
    }
    out
}

/// One connection's channels: the one owner of which topics are open.
#[derive(Debug)]
struct Connection {
    session: Arc<SessionCell>,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    open: HashMap<Arc<str>, Arc<ChannelCell>>,
    /// The session ended: no channel opens any more.
    ended: bool,
}

impl Connection {
    /// Takes `cell` out of the table if it is the channel open on its
    /// topic.
    fn remove(&self, cell: &ChannelCell) {
        let mut table = lock(&self.table);
        let topic = &cell.member.topic;
        if table.open.get(topic).is_some_and(|c| std::ptr::eq(&**c, cell)) {
            table.open.remove(topic);
        }
    }
}

/// The connection's task is gone (dropped by its runtime): its channels
/// end as they would with the session.
impl Drop for Connection {
    fn drop(&mut self) {
        self.session_ended();
    }
}

impl SessionEnded for Connection {
    fn session_ended(&self) {
        let channels: Vec<_> = {
            let mut table = lock(&self.table);
            table.ended = true;
            table.open.drain().map(|(_, c)| c).collect()
        };
        for channel in channels {
            channel.end();
        }
    }
}

/// One channel: what the rooms registry knows of it, its inbox, and who
/// waits on it.
struct ChannelCell {
    member: Arc<ChannelMember>,
    connection: Weak<Connection>,
    max_inbox: usize,
    state: Mutex<ChannelState>,
    /// Live [`Channel`] handles.
    handles: AtomicUsize,
}

impl fmt::Debug for ChannelCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelCell").field("topic", &self.member.topic).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct ChannelState {
    closed: bool,
    inbox: VecDeque<String>,
    bytes: usize,
    /// The channel's receiver.
    recv: Option<Waker>,
    /// The connection, waiting for room in the inbox.
    space: Option<Waker>,
}

/// What [`ChannelCell::offer`] did with a message.
enum Offer {
    /// In the inbox (or dropped: the channel is closed).
    Taken,
    /// The inbox is full: offer it again once woken.
    Full(String),
}

impl ChannelCell {
    fn session(&self) -> &Arc<SessionCell> {
        &self.member.session
    }

    fn offer(&self, text: String, cx: &Context<'_>) -> Offer {
        let mut state = lock(&self.state);
        if state.closed {
            return Offer::Taken;
        }
        if state.bytes > 0 && state.bytes + text.len() > self.max_inbox {
            state.space = Some(cx.waker().clone());
            return Offer::Full(text);
        }
        state.bytes += text.len();
        state.inbox.push_back(text);
        let wake = state.recv.take();
        drop(state);
        if let Some(w) = wake {
            w.wake();
        }
        Offer::Taken
    }

    fn poll_recv(&self, cx: &Context<'_>) -> Poll<Option<String>> {
        let mut state = lock(&self.state);
        if let Some(text) = state.inbox.pop_front() {
            state.bytes -= text.len();
            let wake = state.space.take();
            drop(state);
            if let Some(w) = wake {
                w.wake();
            }
            return Poll::Ready(Some(text));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        state.recv = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Marks the channel closed, wakes whoever waits on it, and leaves
    /// its rooms; whether it was open.
    fn end(&self) -> bool {
        let mut state = lock(&self.state);
        if std::mem::replace(&mut state.closed, true) {
            return false;
        }
        let wakes = [state.recv.take(), state.space.take()];
        drop(state);
        self.session().rooms.depart(&RoomMember::Channel(self.member.clone()));
        wakes.into_iter().flatten().for_each(Waker::wake);
        true
    }

    /// Closes the channel from the server side: `uns,TOPIC` to the client.
    fn close(&self) {
        if !self.end() {
            return;
        }
        if let Some(connection) = self.connection.upgrade() {
            connection.remove(self);
        }
        let _ = self.session().push(text_item(self.session(), &format!("uns,{}", self.member.topic)));
    }

    fn is_open(&self) -> bool {
        !lock(&self.state).closed
    }
}

/// `text` as the session puts it on the wire: a SockJS message frame, or
/// the bare text on a raw websocket.
fn text_item(session: &SessionCell, text: &str) -> Queued {
    if session.framed {
        Queued::Bytes(Frame::message(text).into_bytes())
    } else {
        Queued::Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }
}

/// The application's handle to one channel of a multiplexed session.
///
/// Shaped like a [`Session`]: receive with [`Channel::recv`] (or as a
/// [`Stream`]) from one task, send from anywhere, join rooms. Cheap to
/// clone; every clone is the same channel. The channel stays open while a
/// handle exists and neither side closed it: dropping the last handle of
/// an open channel closes it, as [`Channel::close`] does.
pub struct Channel {
    cell: Arc<ChannelCell>,
}

impl Channel {
    fn new(cell: Arc<ChannelCell>) -> Channel {
        cell.handles.fetch_add(1, Ordering::Relaxed);
        Channel { cell }
    }

    fn member(&self) -> RoomMember {
        RoomMember::Channel(self.cell.member.clone())
    }

    /// The channel's topic as it travels on the wire (the escaped name).
    pub fn topic(&self) -> &str {
        &self.cell.member.topic
    }

    /// The session id of the connection the channel runs over (see
    /// [`Session::id`]).
    pub fn id(&self) -> &str {
        &self.cell.session().info.id
    }

    /// The connection's transport.
    pub fn transport(&self) -> Transport {
        self.cell.session().info.transport
    }

    /// The URL of the request that opened the connection.
    pub fn uri(&self) -> &Uri {
        &self.cell.session().info.uri
    }

    /// The connection's opening request's headers (see [`Session::headers`]).
    pub fn headers(&self) -> &HeaderMap {
        &self.cell.session().info.headers
    }

    /// The client's address (see [`Session::remote_addr`]).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.cell.session().info.remote_addr
    }

    /// What the endpoint's [`crate::Options::authorize()`] hook attached to
    /// the connection.
    pub fn extensions(&self) -> &http::Extensions {
        &self.cell.session().info.extensions
    }

    /// Queues `msg,TOPIC,TEXT` for the client. Fails once the channel or
    /// the connection is closed; the message is then dropped.
    pub fn send(&self, message: impl AsRef<str>) -> Result<(), SendError> {
        if !self.cell.is_open() {
            return Err(SendError::Closed);
        }
        let session = self.cell.session();
        session.push(text_item(session, &channel_frame(self.topic(), message.as_ref())))
    }

    /// Sends the text of `message` (framed for this channel's topic, which
    /// makes one copy; to share one encoding between many channels, send
    /// to a room they joined).
    pub fn send_message(&self, message: &Message) -> Result<(), SendError> {
        self.send(message.text())
    }

    /// Serialises `value` as JSON and sends it as one message.
    pub fn send_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), SendJsonError> {
        let text = serde_json::to_string(value).map_err(SendJsonError::Serialize)?;
        self.send(text).map_err(SendJsonError::Send)
    }

    /// Closes the channel: the client gets `uns,TOPIC`, the channel leaves
    /// its rooms, and `recv` ends once the inbox is drained. The
    /// connection and its other channels stay open. Closing a closed
    /// channel does nothing.
    pub fn close(&self) {
        self.cell.close();
    }

    /// Whether the channel is open: not closed by either side, and its
    /// connection open.
    pub fn is_open(&self) -> bool {
        self.cell.is_open()
    }

    /// Receives the next message sent on the channel; `None` once it is
    /// closed and every received message was taken.
    pub fn recv(&mut self) -> ChannelRecv<'_> {
        ChannelRecv { channel: self }
    }

    /// Joins `room`, as [`Session::join`] does: room messages reach the
    /// client as `msg,TOPIC,TEXT` on this channel. The channel is in at
    /// most [`crate::Options::max_rooms_per_session()`] rooms; a closed
    /// channel joins none ([`RoomError::Closed`]).
    pub fn join(&self, room: &str) -> Result<bool, RoomError> {
        if !self.is_open() {
            return Err(RoomError::Closed);
        }
        let session = self.cell.session();
        session.rooms.join(&self.member(), room, session.max_rooms)
    }

    /// Leaves `room`; whether the channel was in it.
    pub fn leave(&self, room: &str) -> bool {
        self.cell.session().rooms.leave(self.cell.member.key, room)
    }

    /// The rooms the channel is in, in no order.
    pub fn rooms(&self) -> Vec<String> {
        self.cell.session().rooms.rooms_of(self.cell.member.key)
    }

    /// The registry the channel's rooms are in (its endpoint's).
    pub fn room_registry(&self) -> Rooms {
        Rooms::from_core(self.cell.session().rooms.clone())
    }

    /// A send to the members of `room` except this channel.
    pub fn to<'a>(&'a self, room: &'a str) -> RoomSend<'a> {
        RoomSend::new(&self.cell.session().rooms, room).except_key(self.cell.member.key)
    }

    #[cfg(test)]
    pub(crate) fn inbox_bytes(&self) -> usize {
        lock(&self.cell.state).bytes
    }
}

impl Clone for Channel {
    fn clone(&self) -> Channel {
        Channel::new(self.cell.clone())
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        if self.cell.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.cell.close();
        }
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel").field("topic", &self.topic()).field("id", &self.id()).finish()
    }
}

impl Stream for Channel {
    type Item = String;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.cell.poll_recv(cx)
    }
}

/// The future of [`Channel::recv`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ChannelRecv<'a> {
    channel: &'a mut Channel,
}

impl Future for ChannelRecv<'_> {
    type Output = Option<String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.channel.cell.poll_recv(cx)
    }
}

/// The channel handlers' tasks of one connection, each woken on its own.
#[derive(Default)]
struct Tasks {
    slots: Vec<(AppTask, Arc<Slot>)>,
    parent: Arc<Mutex<Option<Waker>>>,
}

struct Slot {
    woken: AtomicBool,
    parent: Arc<Mutex<Option<Waker>>>,
}

impl Wake for Slot {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let parent = lock(&self.parent).clone();
        if let Some(w) = parent {
            w.wake();
        }
    }
}

impl Tasks {
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn push(&mut self, task: AppTask) {
        let slot = Slot { woken: AtomicBool::new(true), parent: self.parent.clone() };
        self.slots.push((task, Arc::new(slot)));
    }

    /// Polls every task woken since its last poll; drops those that end.
    fn poll(&mut self, cx: &Context<'_>) {
        {
            let mut parent = lock(&self.parent);
            if !parent.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *parent = Some(cx.waker().clone());
            }
        }
        self.slots.retain_mut(|(task, slot)| {
            if !slot.woken.swap(false, Ordering::AcqRel) {
                return true;
            }
            let waker = Waker::from(slot.clone());
            task.as_mut().poll(&mut Context::from_waker(&waker)).is_pending()
        });
    }
}

/// The connection's task: hands each message to its channel and runs the
/// channels' handlers, until the session ended and every handler did.
async fn run(session: Session, config: Arc<Config>) {
    let connection = Arc::new(Connection { session: session.cell().clone(), table: Mutex::default() });
    let ended: Weak<dyn SessionEnded> = Arc::downgrade(&connection) as Weak<dyn SessionEnded>;
    session.cell().on_ended(ended);
    if !session.is_open() {
        connection.session_ended();
    }
    let mut tasks = Tasks::default();
    let mut held: Option<(Arc<ChannelCell>, String)> = None;
    let mut reading = true;
    std::future::poll_fn(|cx| {
        let mut turn = 0;
        while reading {
            if let Some((channel, text)) = held.take() {
                if let Offer::Full(text) = channel.offer(text, cx) {
                    held = Some((channel, text));
                    break;
                }
            }
            if turn == MESSAGES_PER_TURN {
                // Let the handlers run; come back at once.
                cx.waker().wake_by_ref();
                break;
            }
            match session.poll_recv(cx) {
                Poll::Ready(Some(message)) => {
                    turn += 1;
                    held = dispatch(&connection, &config, &mut tasks, message);
                }
                Poll::Ready(None) => {
                    connection.session_ended();
                    reading = false;
                }
                Poll::Pending => break,
            }
        }
        tasks.poll(cx);
        if reading || tasks.len() > 0 {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
}

/// Acts on one message from the client; returns a payload to hand to a
/// channel.
fn dispatch(
    connection: &Arc<Connection>,
    config: &Config,
    tasks: &mut Tasks,
    message: String,
) -> Option<(Arc<ChannelCell>, String)> {
    let mut parts = message.splitn(3, ',');
    let (kind, topic) = (parts.next()?, parts.next()?);
    let open = lock(&connection.table).open.get(topic).cloned();
    match (kind, open) {
        ("msg", Some(channel)) => {
            let payload = parts.next().unwrap_or("");
            // The payload is the message's tail: reuse its buffer.
            let start = message.len() - payload.len();
            let mut text = message;
            text.drain(..start);
            Some((channel, text))
        }
        ("uns", Some(channel)) => {
            if channel.end() {
                connection.remove(&channel);
            }
            None
        }
        ("sub", None) => {
            subscribe(connection, config, tasks, topic);
            None
        }
        _ => None,
    }
}

/// Opens the channel `topic` if it is served and the bounds allow.
fn subscribe(connection: &Arc<Connection>, config: &Config, tasks: &mut Tasks, topic: &str) {
    if topic.len() > config.max_topic {
        return;
    }
    let Some(handler) = config.channels.get(topic).or(config.fallback.as_ref()) else { return };
    let session = &connection.session;
    let cell = {
        let mut table = lock(&connection.table);
        if table.ended {
            return;
        }
        if table.open.len().max(tasks.len()) >= config.max_channels {
            drop(table);
            tracing::debug!(target: "sockjs", session = %session.info.id, topic, "channel refused: too many channels");
            let _ = session.push(text_item(session, &format!("uns,{topic}")));
            return;
        }
        let topic: Arc<str> = Arc::from(topic);
        let member = ChannelMember {
            key: next_key(),
            topic: topic.clone(),
            session: session.clone(),
            departed: AtomicBool::new(false),
        };
        let cell = Arc::new(ChannelCell {
            member: Arc::new(member),
            connection: Arc::downgrade(connection),
            max_inbox: config.channel_inbox,
            state: Mutex::default(),
            handles: AtomicUsize::new(0),
        });
        table.open.insert(topic, cell.clone());
        cell
    };
    tasks.push(handler.call(Channel::new(cell)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names are escaped as JavaScript's `escape()` does (ECMA-262 B.2.1.1).
    #[test]
    fn names_escape_as_javascript_does() {
        assert_eq!(escape_topic("ann"), "ann");
        assert_eq!(escape_topic("a b,c"), "a%20b%2Cc");
        assert_eq!(escape_topic("@*_+-./"), "@*_+-./");
        assert_eq!(escape_topic("é"), "%E9");
        assert_eq!(escape_topic("€"), "%u20AC");
        assert_eq!(escape_topic("😀"), "%uD83D%uDE00");
    }
}
