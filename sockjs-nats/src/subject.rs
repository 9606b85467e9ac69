//! NATS subject names: the prefix, a room's subject, the multi-room one.
//!
//! A subject is tokens separated by `.`; a token is a non-empty run of
//! printable characters other than `.`, `*`, `>` and white space (`*` and
//! `>` are wildcards). A room name is any UTF-8 text, so it travels as one
//! token of unpadded base64url (RFC 4648 §5), whose alphabet is
//! `A-Z a-z 0-9 - _`.

use std::fmt;

/// The alphabet of RFC 4648 §5 ("URL and filename safe").
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Why a subject prefix was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrefixError {
    /// A token of the prefix is empty (an empty prefix, or `..`, or a
    /// leading or trailing `.`).
    EmptyToken,
    /// The prefix holds a wildcard (`*`, `>`), white space or a control
    /// character.
    InvalidCharacter,
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrefixError::EmptyToken => "a token of the prefix is empty",
            PrefixError::InvalidCharacter => "the prefix holds a wildcard, white space or a control character",
        })
    }
}

impl std::error::Error for PrefixError {}

/// Accepts one or more subject tokens separated by `.`.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), PrefixError> {
    for token in prefix.split('.') {
        if token.is_empty() {
            return Err(PrefixError::EmptyToken);
        }
        if token.chars().any(|c| c == '*' || c == '>' || c.is_whitespace() || c.is_control()) {
            return Err(PrefixError::InvalidCharacter);
        }
    }
    Ok(())
}

/// `room` as one subject token: its UTF-8 bytes in unpadded base64url
/// (RFC 4648 §5), so `lobby` is `bG9iYnk` and `a.b` is `YS5i`. The
/// longest room name (200 bytes) makes 267 characters.
pub fn encode_room(room: &str) -> String {
    let bytes = room.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        // 1 byte -> 2 characters, 2 -> 3, 3 -> 4.
        for i in 0..=chunk.len() {
            out.push(char::from(BASE64URL[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// `PREFIX.room.TOKEN`: the subject that carries the sends to `room`
/// alone under `prefix` (TOKEN is [`encode_room`]'s).
pub fn room_subject(prefix: &str, room: &str) -> String {
    format!("{prefix}.room.{}", encode_room(room))
}

/// `PREFIX.rooms`: the subject that carries every other send (several
/// rooms, or excepted rooms) under `prefix`; every node subscribes to it.
pub fn multi_subject(prefix: &str) -> String {
    format!("{prefix}.rooms")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoder for the tests only: the broker never decodes a subject.
    fn decode(token: &str) -> Vec<u8> {
        let value = |c: u8| BASE64URL.iter().position(|&a| a == c).expect("base64url character") as u32;
        let mut out = Vec::new();
        for chunk in token.as_bytes().chunks(4) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, &c)| n | value(c) << (18 - 6 * i));
            out.extend(n.to_be_bytes()[1..chunk.len()].iter());
        }
        out
    }

    /// A token NATS accepts: non-empty, no separator, wildcard or space.
    fn is_token(token: &str) -> bool {
        !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    #[test]
    fn the_vectors_of_rfc_4648_section_10_in_the_url_alphabet() {
        // RFC 4648 §10, without the padding.
        for (text, encoded) in [
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_room(text), encoded, "{text}");
        }
        // The two characters where base64url differs from base64 (RFC 4648 §5).
        assert_eq!(encode_room("\u{3ff}\u{7bf}"), "z7_evw");
        assert_eq!(encode_room("~~~"), "fn5-");
    }

    #[test]
    fn every_room_name_is_one_valid_token_and_names_stay_apart() {
        let long = "é".repeat(100);
        let names = ["lobby", "a.b", "*", ">", "a b", "tab\there", "новости", "🦀", "..", "a.*.>", long.as_str()];
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let token = encode_room(name);
            assert!(is_token(&token), "{name:?} -> {token:?}");
            assert_eq!(decode(&token), name.as_bytes(), "{name:?} round trip");
            assert!(seen.insert(token), "{name:?} collides");
        }
        assert_eq!(encode_room(&long).len(), 267, "a 200-byte name makes 267 characters");
        assert_eq!(room_subject("svc.chat", "a.b"), "svc.chat.room.YS5i");
        assert_eq!(multi_subject("svc.chat"), "svc.chat.rooms");
    }

    #[test]
    fn a_prefix_is_tokens_without_wildcards_or_spaces() {
        for good in ["sockjs", "svc.chat", "a-b_c.d1"] {
            assert_eq!(check_prefix(good), Ok(()), "{good}");
        }
        for (bad, error) in [
            ("", PrefixError::EmptyToken),
            ("a..b", PrefixError::EmptyToken),
            (".a", PrefixError::EmptyToken),
            ("a.", PrefixError::EmptyToken),
            ("a.*", PrefixError::InvalidCharacter),
            ("a>", PrefixError::InvalidCharacter),
            ("a b", PrefixError::InvalidCharacter),
            ("a\tb", PrefixError::InvalidCharacter),
        ] {
            assert_eq!(check_prefix(bad), Err(error), "{bad:?}");
        }
    }
}
