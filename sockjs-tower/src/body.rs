//! The response body of a [`crate::SockJsService`]: http-body's view of
//! the driver's whole responses and of the engine's streaming receivers.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use sockjs_core::ReceiverBody;

/// A response body: a whole one, or the frames of a streaming transport,
/// one data frame each, which the server flushes as they come.
#[derive(Debug)]
pub struct Body(Kind);

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Stream(ReceiverBody),
}

impl Body {
    /// A whole body (none, if `bytes` is empty).
    pub(crate) fn full(bytes: Bytes) -> Body {
        Body(Kind::Full(Some(bytes).filter(|b| !b.is_empty())))
    }

    /// A streaming transport's frames.
    pub(crate) fn stream(receiver: ReceiverBody) -> Body {
        Body(Kind::Stream(receiver))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().0 {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(receiver) => receiver.poll_chunk(cx, Instant::now()).map(|c| c.map(|c| Ok(Frame::data(c)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.0, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}
