//! SockJS frames (PROTOCOL.md §5): `o`, `h`, `a[...]` and `c[code,"reason"]`.

use bytes::{BufMut, Bytes, BytesMut};

use crate::json::{quote_into, Extra};

/// One SockJS frame, encoded once and cheap to clone (it is a [`Bytes`]).
///
/// A frame is what the client's SockJS parser sees; each transport wraps it
/// in its own way (a newline for xhr, `data: ...` for eventsource, a
/// `<script>` for htmlfile, a callback call for jsonp, one text message for
/// websockets).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame(Bytes);

impl Frame {
    /// The open frame `o`, the first frame of every session.
    pub fn open() -> Frame {
        Frame(Bytes::from_static(b"o"))
    }

    /// The heartbeat frame `h`.
    pub fn heartbeat() -> Frame {
        Frame(Bytes::from_static(b"h"))
    }

    /// A message frame carrying one message: `a["..."]`.
    pub fn message(message: &str) -> Frame {
        let mut out = Vec::with_capacity(message.len() + 6);
        out.extend_from_slice(b"a[");
        quote_into(&mut out, message, Extra::None);
        out.push(b']');
        Frame(Bytes::from(out))
    }

    /// A message frame carrying several messages: `a["...","..."]` (for
    /// the fuzz targets and tests).
    #[cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]
    pub fn messages<'a>(messages: impl IntoIterator<Item = &'a str>) -> Frame {
        let mut out = Vec::new();
        out.extend_from_slice(b"a[");
        for (i, message) in messages.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            quote_into(&mut out, message, Extra::None);
        }
        out.push(b']');
        Frame(Bytes::from(out))
    }

    /// A close frame `c[code,"reason"]`.
    pub fn close(code: u16, reason: &str) -> Frame {
        let mut out = Vec::with_capacity(reason.len() + 12);
        out.extend_from_slice(b"c[");
        out.extend_from_slice(code.to_string().as_bytes());
        out.push(b',');
        quote_into(&mut out, reason, Extra::None);
        out.push(b']');
        Frame(Bytes::from(out))
    }

    /// Joins single-message frames (each `a[<m>]`) into one frame
    /// `a[<m1>,<m2>,...]`. One frame is returned as it is, without copying.
    pub(crate) fn join_messages(frames: &mut impl ExactSizeIterator<Item = Bytes>) -> Frame {
        if frames.len() == 1 {
            return Frame(frames.next().expect("length checked"));
        }
        let mut frames = frames.peekable();
        let mut out = BytesMut::new();
        out.put_slice(b"a[");
        while let Some(frame) = frames.next() {
            // Strip `a[` and `]`.
            out.put_slice(&frame[2..frame.len() - 1]);
            if frames.peek().is_some() {
                out.put_u8(b',');
            }
        }
        out.put_u8(b']');
        Frame(out.freeze())
    }

    /// The encoded bytes of the frame.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The encoded bytes of the frame.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    pub(crate) fn from_bytes(bytes: Bytes) -> Frame {
        Frame(bytes)
    }
}

/// The close frame that a second receiver on a session gets (PROTOCOL.md §6).
pub(crate) fn another_connection() -> Frame {
    Frame(Bytes::from_static(br#"c[2010,"Another connection still open"]"#))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §5: the four frame kinds.
    #[test]
    fn frame_kinds() {
        assert_eq!(Frame::open().as_bytes(), "o");
        assert_eq!(Frame::heartbeat().as_bytes(), "h");
        assert_eq!(Frame::message("a").as_bytes(), r#"a["a"]"#);
        assert_eq!(Frame::messages(["a", "b"]).as_bytes(), r#"a["a","b"]"#);
        assert_eq!(Frame::close(3000, "Go away!").as_bytes(), r#"c[3000,"Go away!"]"#);
        assert_eq!(another_connection(), Frame::close(2010, "Another connection still open"));
        assert_eq!(Frame::close(1002, "Connection interrupted").as_bytes(), r#"c[1002,"Connection interrupted"]"#);
    }

    /// §6: messages buffered while no receiver is attached go out as one
    /// `a[...]` frame.
    #[test]
    fn join_messages_merges_single_frames() {
        let frames = vec![Frame::message("abc").into_bytes(), Frame::message("%61bc").into_bytes()];
        let joined = Frame::join_messages(&mut frames.into_iter());
        assert_eq!(joined.as_bytes(), r#"a["abc","%61bc"]"#);
        let one = Frame::message("x").into_bytes();
        let joined = Frame::join_messages(&mut vec![one.clone()].into_iter());
        assert_eq!(joined.as_bytes().as_ptr(), one.as_ptr(), "a single frame is not copied");
    }
}
