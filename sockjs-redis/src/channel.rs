//! Channel names: where a room's envelopes travel on Redis.

/// The channel of `room` under `prefix`: `PREFIX:room:NAME`, where NAME is
/// the room name with every byte outside printable ASCII, and `%`, `{`,
/// `}`, written as `%XX` (upper-case hex). Any UTF-8 room name maps to one
/// channel and no two names to the same one; a room name can never add a
/// Redis Cluster hash tag, so only a `{...}` in the prefix decides the slot
/// of every channel (see the crate docs, "Redis Cluster").
///
/// ```
/// use sockjs_redis::room_channel;
/// assert_eq!(room_channel("chat", "lobby"), "chat:room:lobby");
/// assert_eq!(room_channel("chat", "a b{1}%é"), "chat:room:a%20b%7B1%7D%25%C3%A9");
/// ```
pub fn room_channel(prefix: &str, room: &str) -> String {
    let mut channel = String::with_capacity(prefix.len() + 6 + room.len());
    channel.push_str(prefix);
    channel.push_str(":room:");
    for byte in room.bytes() {
        if byte.is_ascii_graphic() && !matches!(byte, b'%' | b'{' | b'}') {
            channel.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            channel.push('%');
            channel.push(char::from(HEX[usize::from(byte >> 4)]));
            channel.push(char::from(HEX[usize::from(byte & 15)]));
        }
    }
    channel
}

/// The channel every node subscribes to, `PREFIX:rooms`: it carries the
/// envelopes that name several rooms or excepted rooms.
///
/// ```
/// assert_eq!(sockjs_redis::shared_channel("chat"), "chat:rooms");
/// ```
pub fn shared_channel(prefix: &str) -> String {
    format!("{prefix}:rooms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_injective_and_printable() {
        let names = ["a", "a b", "a%20b", "{x}", "%7Bx%7D", "é", "\u{0}", "room:1", "rooms"];
        let channels: std::collections::BTreeSet<String> = names.iter().map(|n| room_channel("p", n)).collect();
        assert_eq!(channels.len(), names.len(), "{channels:?}");
        for channel in &channels {
            assert!(channel.bytes().all(|b| b.is_ascii_graphic()), "{channel}");
            assert!(!channel.contains('{') && !channel.contains('}'), "{channel}");
            assert_ne!(channel, &shared_channel("p"));
        }
    }
}
