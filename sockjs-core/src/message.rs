//! Messages encoded once for many sessions (a broadcast), with each
//! transport's wrapped form made once too.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::frame::Frame;
use crate::transport::Framing;

/// A message encoded once, to be sent to many sessions (a broadcast).
///
/// Each recipient shares the encoded bytes; nothing is copied per session.
/// The form each transport puts on the wire (`a[...]\n` for xhr,
/// `data: a[...]\r\n\r\n` for eventsource, ...) is made once, by the first
/// recipient that needs it, and shared by the others.
///
/// ```
/// use sockjs_core::Message;
/// let m = Message::new("tick!");
/// assert_eq!(m.text(), "tick!");
/// ```
#[derive(Debug, Clone)]
pub struct Message {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    text: Bytes,
    frame: Frame,
    /// The xhr, eventsource and htmlfile forms of `frame`, once made.
    wrapped: [OnceLock<Bytes>; 3],
}

impl Message {
    /// Encodes `text` as a SockJS message frame.
    pub fn new(text: &str) -> Message {
        let inner = Inner {
            text: Bytes::copy_from_slice(text.as_bytes()),
            frame: Frame::message(text),
            wrapped: Default::default(),
        };
        Message { inner: Arc::new(inner) }
    }

    /// The message text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.inner.text).expect("built from a str")
    }

    /// The text as bytes (what a raw websocket sends).
    pub(crate) fn raw(&self) -> &Bytes {
        &self.inner.text
    }

    /// The `a["..."]` frame.
    pub(crate) fn frame(&self) -> &Frame {
        &self.inner.frame
    }

    /// The frame as `framing` puts it on the wire, made once per transport
    /// (jsonp's form depends on each request's callback: made each time).
    pub(crate) fn wrapped(&self, framing: &Framing) -> Bytes {
        let slot = match framing {
            Framing::WebSocket => return self.inner.frame.as_bytes().clone(),
            Framing::Jsonp(_) => return framing.wrap(&self.inner.frame),
            Framing::Xhr => &self.inner.wrapped[0],
            Framing::EventSource => &self.inner.wrapped[1],
            Framing::HtmlFile => &self.inner.wrapped[2],
        };
        slot.get_or_init(|| framing.wrap(&self.inner.frame)).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each transport's form is made once and then shared, byte for byte
    /// what wrapping the frame gives.
    #[test]
    fn wrapped_once_per_transport() {
        let m = Message::new("a\nb");
        for framing in [Framing::Xhr, Framing::EventSource, Framing::HtmlFile, Framing::WebSocket] {
            let first = m.wrapped(&framing);
            assert_eq!(first, framing.wrap(m.frame()));
            let second = m.clone().wrapped(&framing);
            assert_eq!(first.as_ptr(), second.as_ptr(), "{framing:?}: shared, not made again");
        }
        let jsonp = Framing::Jsonp("cb".into());
        assert_eq!(m.wrapped(&jsonp), jsonp.wrap(m.frame()));
    }
}
