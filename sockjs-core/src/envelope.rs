//! What a send to rooms looks like between nodes: the [`Envelope`], its
//! wire format, and the [`NodeId`] that tells a node its own publications.
//!
//! Every cluster broker puts the same bytes on its wire, so nodes running
//! different broker crates (or versions of them) still understand each
//! other as long as they speak one version of this format.

use std::fmt;

use crate::message::Message;

/// The longest room name, in bytes of UTF-8. A name is 1 to this many
/// bytes; [`crate::Session::join`] and every send refuse others.
pub const MAX_ROOM_NAME: usize = 200;

/// The most rooms one send may name, target rooms and excepted rooms
/// together (so an [`Envelope`] holds at most this many names).
pub const MAX_SEND_ROOMS: usize = 64;

/// The first four bytes of every encoded envelope: `SJR` and the format
/// version.
const MAGIC: [u8; 4] = *b"SJR\x01";

/// Magic, origin, and the two counts.
const HEADER: usize = 4 + 8 + 2 + 2;

/// The identity of one node (one process) of a cluster, carried in every
/// [`Envelope`] it publishes so that it can ignore its own publications
/// when the broker hands them back.
///
/// The engine reads no random source: the caller makes the id, for
/// from two calls of `sockjs_driver::entropy` on tokio:
///
/// ```
/// use sockjs_core::rooms::NodeId;
/// let (high, low): (u32, u32) = (0x5eed_cafe, 0x0000_beef); // entropy, in a real server
/// let node = NodeId::new(u64::from(high) << 32 | u64::from(low));
/// assert_eq!(NodeId::new(node.get()), node);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u64);

impl NodeId {
    /// The id with this value. Every node of a cluster needs its own.
    pub const fn new(id: u64) -> NodeId {
        NodeId(id)
    }

    /// Its value.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Why a room name was refused.
pub(crate) fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        Err(NameError::Empty)
    } else if name.len() > MAX_ROOM_NAME {
        Err(NameError::TooLong)
    } else {
        Ok(())
    }
}

/// A room name out of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameError {
    Empty,
    TooLong,
}

/// One send to rooms, as it travels between the nodes of a cluster: the
/// rooms it goes to, the rooms whose members must not get it, the text,
/// and the node it comes from.
///
/// A broker gets it from `Broker::publish`, puts
/// [`Envelope::encode`]'s bytes on its wire, and on the other nodes hands
/// the bytes it receives to `BrokerHandle::receive`, which
/// decodes them ([`Envelope::decode`]) and delivers to that node's members.
///
/// ```
/// use sockjs_core::rooms::{Envelope, NodeId};
/// let envelope = Envelope::new(NodeId::new(7), ["lobby", "news"], ["muted"], "hello").unwrap();
/// let bytes = envelope.encode();
/// let back = Envelope::decode(&bytes, 1024).unwrap();
/// assert_eq!(back.origin(), NodeId::new(7));
/// assert_eq!(back.rooms().collect::<Vec<_>>(), ["lobby", "news"]);
/// assert_eq!(back.except_rooms().collect::<Vec<_>>(), ["muted"]);
/// assert_eq!(back.text(), "hello");
/// assert!(Envelope::decode(b"garbage", 1024).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Envelope {
    origin: NodeId,
    rooms: Vec<Box<str>>,
    except_rooms: Vec<Box<str>>,
    message: Message,
}

/// Why bytes were not an [`Envelope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The bytes end before the envelope does.
    Truncated,
    /// The bytes do not start with this format's magic and version.
    UnknownFormat,
    /// No target room, or more room names than [`MAX_SEND_ROOMS`].
    RoomCount,
    /// A room name is empty, longer than [`MAX_ROOM_NAME`], or not UTF-8.
    RoomName,
    /// The text is not UTF-8.
    NotUtf8,
    /// The text is longer than the receiving registry's message limit
    /// (`RoomsBuilder::max_message`).
    TooLarge,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvelopeError::Truncated => "the room envelope is truncated",
            EnvelopeError::UnknownFormat => "not a room envelope of a known format version",
            EnvelopeError::RoomCount => "the room envelope names no room, or too many",
            EnvelopeError::RoomName => "the room envelope carries an invalid room name",
            EnvelopeError::NotUtf8 => "the room envelope's text is not UTF-8",
            EnvelopeError::TooLarge => "the room envelope's text is larger than the message limit",
        })
    }
}

impl std::error::Error for EnvelopeError {}

impl Envelope {
    /// An envelope from `origin` for `rooms` except members of
    /// `except_rooms`. `None` when a name is out of bounds, when there is
    /// no target room, or when there are more than [`MAX_SEND_ROOMS`] names.
    pub fn new<'a>(
        origin: NodeId,
        rooms: impl IntoIterator<Item = &'a str>,
        except_rooms: impl IntoIterator<Item = &'a str>,
        text: &str,
    ) -> Option<Envelope> {
        let rooms: Vec<&str> = rooms.into_iter().collect();
        let except: Vec<&str> = except_rooms.into_iter().collect();
        if rooms.is_empty() || rooms.len() + except.len() > MAX_SEND_ROOMS {
            return None;
        }
        if rooms.iter().chain(&except).any(|r| check_name(r).is_err()) {
            return None;
        }
        Some(Envelope::from_parts(origin, &rooms, &except, Message::new(text)))
    }

    /// From names already checked by the caller.
    pub(crate) fn from_parts(origin: NodeId, rooms: &[&str], except_rooms: &[&str], message: Message) -> Envelope {
        Envelope {
            origin,
            rooms: rooms.iter().map(|&r| r.into()).collect(),
            except_rooms: except_rooms.iter().map(|&r| r.into()).collect(),
            message,
        }
    }

    /// The node that published it.
    pub fn origin(&self) -> NodeId {
        self.origin
    }

    /// The rooms it goes to (at least one).
    pub fn rooms(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.rooms.iter().map(|r| &**r)
    }

    /// The rooms whose members do not get it.
    pub fn except_rooms(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.except_rooms.iter().map(|r| &**r)
    }

    /// Its one room when it goes to exactly one and excepts none: a broker
    /// with a channel per room can carry it on that room's channel.
    pub fn single_room(&self) -> Option<&str> {
        match (&*self.rooms, self.except_rooms.is_empty()) {
            ([room], true) => Some(room),
            _ => None,
        }
    }

    /// The message text.
    pub fn text(&self) -> &str {
        self.message.text()
    }

    /// The message, encoded once for every local recipient.
    pub(crate) fn message(&self) -> &Message {
        &self.message
    }

    pub(crate) fn names(&self) -> (Vec<&str>, Vec<&str>) {
        (self.rooms().collect(), self.except_rooms().collect())
    }

    /// Its bytes on a broker's wire: `SJR\x01`, the origin (8 bytes, big
    /// endian), the number of rooms and of excepted rooms (2 bytes each),
    /// each name as one length byte and its UTF-8, then the text to the end.
    pub fn encode(&self) -> Vec<u8> {
        let names = self.rooms.iter().chain(&self.except_rooms);
        let len = HEADER + names.clone().map(|n| 1 + n.len()).sum::<usize>() + self.text().len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.origin.0.to_be_bytes());
        out.extend_from_slice(&(self.rooms.len() as u16).to_be_bytes());
        out.extend_from_slice(&(self.except_rooms.len() as u16).to_be_bytes());
        for name in names {
            // At most MAX_ROOM_NAME (200) bytes: fits the length byte.
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(self.text().as_bytes());
        out
    }

    /// Reads an envelope [`Envelope::encode`] made, refusing anything else:
    /// another format, counts or names out of bounds, bytes that are not
    /// UTF-8, a text longer than `max_text` bytes. Never panics, and looks
    /// at no more than the bounds allow before refusing.
    pub fn decode(bytes: &[u8], max_text: usize) -> Result<Envelope, EnvelopeError> {
        let mut rest = bytes;
        let header = take(&mut rest, HEADER)?;
        if header[..4] != MAGIC {
            return Err(EnvelopeError::UnknownFormat);
        }
        let origin = u64::from_be_bytes(header[4..12].try_into().expect("8 bytes"));
        let rooms = usize::from(u16::from_be_bytes([header[12], header[13]]));
        let except = usize::from(u16::from_be_bytes([header[14], header[15]]));
        if rooms == 0 || rooms + except > MAX_SEND_ROOMS {
            return Err(EnvelopeError::RoomCount);
        }
        let mut names = Vec::with_capacity(rooms + except);
        for _ in 0..rooms + except {
            let len = usize::from(take(&mut rest, 1)?[0]);
            let name = std::str::from_utf8(take(&mut rest, len)?).map_err(|_| EnvelopeError::RoomName)?;
            check_name(name).map_err(|_| EnvelopeError::RoomName)?;
            names.push(name);
        }
        if rest.len() > max_text {
            return Err(EnvelopeError::TooLarge);
        }
        let text = std::str::from_utf8(rest).map_err(|_| EnvelopeError::NotUtf8)?;
        let (to, except) = names.split_at(rooms);
        Ok(Envelope::from_parts(NodeId(origin), to, except, Message::new(text)))
    }
}

/// The next `n` bytes of `rest`.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], EnvelopeError> {
    if rest.len() < n {
        return Err(EnvelopeError::Truncated);
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Envelope {
        Envelope::new(NodeId(0x0102_0304_0506_0708), ["a", "bé"], ["x"], "hi\u{0}\"").unwrap()
    }

    /// The layout is the documented one, byte for byte.
    #[test]
    fn encoding_is_the_documented_layout() {
        let bytes = sample().encode();
        let mut expected = b"SJR\x01\x01\x02\x03\x04\x05\x06\x07\x08\x00\x02\x00\x01".to_vec();
        expected.extend_from_slice(b"\x01a\x03b\xc3\xa9\x01x");
        expected.extend_from_slice("hi\u{0}\"".as_bytes());
        assert_eq!(bytes, expected);
    }

    /// Every way bytes can fail to be an envelope is refused with its own
    /// error, and every prefix of a good envelope that cuts a name or the
    /// header is `Truncated`.
    #[test]
    fn garbage_is_refused() {
        let good = sample().encode();
        for cut in 0..HEADER + 8 {
            assert_eq!(Envelope::decode(&good[..cut], 100).unwrap_err(), EnvelopeError::Truncated, "cut at {cut}");
        }
        let mut other = good.clone();
        other[3] = 2;
        assert_eq!(Envelope::decode(&other, 100).unwrap_err(), EnvelopeError::UnknownFormat);
        let mut none = good.clone();
        none[13] = 0;
        assert_eq!(Envelope::decode(&none, 100).unwrap_err(), EnvelopeError::RoomCount);
        let mut many = good.clone();
        many[15] = MAX_SEND_ROOMS as u8;
        assert_eq!(Envelope::decode(&many, 100).unwrap_err(), EnvelopeError::RoomCount);
        let mut empty_name = good.clone();
        empty_name[HEADER] = 0;
        assert_eq!(Envelope::decode(&empty_name, 100).unwrap_err(), EnvelopeError::RoomName);
        let mut bad_utf8 = good.clone();
        bad_utf8[HEADER + 4] = 0xff;
        assert_eq!(Envelope::decode(&bad_utf8, 100).unwrap_err(), EnvelopeError::RoomName);
        let mut long_name = good[..HEADER].to_vec();
        long_name[13] = 1;
        long_name[15] = 0;
        long_name.push(201);
        long_name.extend_from_slice(&[b'a'; 201]);
        assert_eq!(Envelope::decode(&long_name, 100).unwrap_err(), EnvelopeError::RoomName);
        let mut bad_text = good.clone();
        bad_text.push(0xc3);
        assert_eq!(Envelope::decode(&bad_text, 100).unwrap_err(), EnvelopeError::NotUtf8);
        assert_eq!(Envelope::decode(&good, 3).unwrap_err(), EnvelopeError::TooLarge);
        assert!(Envelope::decode(&good, 4).is_ok(), "exactly the limit is allowed");
    }

    /// `new` refuses what `decode` would refuse.
    #[test]
    fn new_checks_the_bounds() {
        let long = "r".repeat(MAX_ROOM_NAME + 1);
        let max = "r".repeat(MAX_ROOM_NAME);
        assert!(Envelope::new(NodeId(1), [long.as_str()], [], "t").is_none());
        assert!(Envelope::new(NodeId(1), [""], [], "t").is_none());
        assert!(Envelope::new(NodeId(1), [], ["a"], "t").is_none());
        let names: Vec<String> = (0..MAX_SEND_ROOMS + 1).map(|i| i.to_string()).collect();
        assert!(Envelope::new(NodeId(1), names.iter().map(|s| s.as_str()), [], "t").is_none());
        let e = Envelope::new(NodeId(1), names[..MAX_SEND_ROOMS].iter().map(|s| s.as_str()), [], "t").unwrap();
        assert_eq!(Envelope::decode(&e.encode(), 1).unwrap().rooms().len(), MAX_SEND_ROOMS);
        let e = Envelope::new(NodeId(1), [max.as_str()], [], "t").unwrap();
        assert_eq!(e.single_room(), Some(max.as_str()));
        assert_eq!(Envelope::decode(&e.encode(), 1).unwrap().single_room(), Some(max.as_str()));
    }

    fn name() -> impl Strategy<Value = String> {
        proptest::string::string_regex(".{1,20}").unwrap().prop_filter("bounded", |s| check_name(s).is_ok())
    }

    proptest! {
        /// Whatever an envelope holds, decoding its encoding gives it back.
        #[test]
        fn round_trip(
            origin in any::<u64>(),
            rooms in proptest::collection::vec(name(), 1..8),
            except in proptest::collection::vec(name(), 0..8),
            text in any::<String>(),
        ) {
            let e = Envelope::new(NodeId(origin), rooms.iter().map(|s| s.as_str()), except.iter().map(|s| s.as_str()), &text).unwrap();
            let back = Envelope::decode(&e.encode(), text.len()).unwrap();
            prop_assert_eq!(back.origin(), NodeId(origin));
            prop_assert_eq!(back.rooms().collect::<Vec<_>>(), rooms.iter().map(|s| s.as_str()).collect::<Vec<_>>());
            prop_assert_eq!(back.except_rooms().collect::<Vec<_>>(), except.iter().map(|s| s.as_str()).collect::<Vec<_>>());
            prop_assert_eq!(back.text(), text.as_str());
        }

        /// Arbitrary bytes never panic the decoder, and what it accepts
        /// encodes back to the same bytes.
        #[test]
        fn arbitrary_bytes(mut bytes in proptest::collection::vec(any::<u8>(), 0..300), magic in any::<bool>()) {
            if magic && bytes.len() >= 4 {
                bytes[..4].copy_from_slice(&MAGIC);
            }
            if let Ok(e) = Envelope::decode(&bytes, 256) {
                prop_assert_eq!(e.encode(), bytes);
            }
        }
    }
}
