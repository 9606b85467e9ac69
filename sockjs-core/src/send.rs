//! Send requests (`xhr_send`, `jsonp_send`; PROTOCOL.md §7.5, §7.9, §11):
//! reading the body up to its limit, decoding it, and delivering its
//! messages to the session's inbox, waiting for room when it is full.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::headers;
use crate::payload::{self, PayloadError};
use crate::responses::{bad_request, not_found, response, with_content_type};
use crate::session::{Hub, SessionCell};
use crate::state::{Batch, Offer};

/// A send request (`xhr_send` or `jsonp_send`) waiting for its body.
///
/// Read the body, at most [`PendingBody::limit`] bytes, and pass it to
/// [`PendingBody::finish`] (or answer [`PendingBody::too_large`]);
/// `sockjs_driver::send_body` does the reading for any byte stream.
pub struct PendingBody {
    pub(crate) hub: Arc<Hub>,
    pub(crate) id: Box<str>,
    pub(crate) jsonp: bool,
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) headers: HeaderMap,
}

impl fmt::Debug for PendingBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingBody").field("id", &self.id).field("jsonp", &self.jsonp).finish_non_exhaustive()
    }
}

impl PendingBody {
    /// The largest body to read; answer a longer one with
    /// [`PendingBody::too_large`].
    pub fn limit(&self) -> usize {
        self.hub.limits.max_payload
    }

    /// Answers a body over [`PendingBody::limit`] with 413.
    pub fn too_large(self) -> Response<Bytes> {
        self.error(StatusCode::PAYLOAD_TOO_LARGE, PayloadError::TooLarge.message())
    }

    /// Answers a send whose body failed to arrive (the connection broke,
    /// or the server could not read it) with 400, with the headers of the
    /// URL's other answers (CORS, no-cache), counted in
    /// [`crate::Metrics::requests_rejected`].
    pub fn broken(self) -> Response<Bytes> {
        tracing::debug!(target: "sockjs", session = %self.id, "send body broken");
        bad_request(&self.hub.counters, self.headers, "Broken request body.")
    }

    /// Decodes `body` and delivers its messages to the session. The
    /// returned [`Delivery`] is the response: await it (or poll it). It is
    /// ready at once unless the session's inbox is full; then it waits for
    /// the application to make room, for at most
    /// [`crate::Options::send_timeout()`] from `now`, and answers 503 if none
    /// came. A 204 (jsonp: `ok`) means every message reached the inbox, in
    /// order.
    pub fn finish(self, body: &[u8], now: Instant) -> Delivery {
        if body.len() > self.limit() {
            return Delivery::ready(self.too_large());
        }
        let content_type = self.content_type.as_ref().map(HeaderValue::as_bytes);
        let messages = if self.jsonp {
            if payload::is_form(content_type) {
                match payload::form_field(body, "d") {
                    Some(d) => payload::decode_messages(&d),
                    None => Err(PayloadError::Expected),
                }
            } else {
                payload::decode_messages(body)
            }
        } else if payload::xhr_send_accepts(content_type) {
            payload::decode_messages(body)
        } else {
            Err(PayloadError::Expected)
        };
        let messages = match messages {
            Ok(messages) => messages,
            Err(e) => return Delivery::ready(self.error(StatusCode::INTERNAL_SERVER_ERROR, e.message())),
        };
        let Some(session) = self.hub.lookup(&self.id) else {
            self.hub.counters.rejected(StatusCode::NOT_FOUND.as_u16());
            return Delivery::ready(not_found(self.headers));
        };
        let waiting = Waiting { sender: session.next_id(), session, batch: Batch::new(messages), request: self };
        let mut delivery = Delivery(State::Waiting(Box::new(waiting)));
        delivery.step(&mut Context::from_waker(Waker::noop()), Some(now));
        delivery
    }

    fn error(self, status: StatusCode, message: &'static str) -> Response<Bytes> {
        self.hub.counters.rejected(status.as_u16());
        tracing::debug!(target: "sockjs", session = %self.id, status = status.as_u16(), message, "send rejected");
        let h = with_content_type(self.headers, headers::TEXT_PLAIN);
        response(status, h, Bytes::from_static(message.as_bytes()))
    }

    fn accepted(self) -> Response<Bytes> {
        let h = with_content_type(self.headers, headers::TEXT_PLAIN);
        if self.jsonp {
            response(StatusCode::OK, h, Bytes::from_static(b"ok"))
        } else {
            response(StatusCode::NO_CONTENT, h, Bytes::new())
        }
    }
}

/// The response to a send request, once its messages are delivered (see
/// [`PendingBody::finish`]). Dropping it while it waits withdraws the
/// messages: none of them reach the application.
#[must_use = "the response to send"]
pub struct Delivery(State);

enum State {
    Ready(Option<Response<Bytes>>),
    Waiting(Box<Waiting>),
}

struct Waiting {
    request: PendingBody,
    session: Arc<SessionCell>,
    batch: Batch,
    /// This send's id as the session's waiting sender.
    sender: u64,
}

impl Delivery {
    fn ready(response: Response<Bytes>) -> Delivery {
        Delivery(State::Ready(Some(response)))
    }

    /// Takes the response if it is ready without waiting (then the
    /// delivery is complete; do not poll it again).
    pub fn take_ready(&mut self) -> Option<Response<Bytes>> {
        match &mut self.0 {
            State::Ready(response) => response.take(),
            State::Waiting(_) => None,
        }
    }

    /// Offers the messages once more; `first` is the time of the first
    /// offer, from which a full inbox's wait is counted.
    fn step(&mut self, cx: &mut Context<'_>, first: Option<Instant>) {
        let State::Waiting(waiting) = &mut self.0 else { return };
        let (sender, batch) = (waiting.sender, &mut waiting.batch);
        let offer = waiting.session.update(|state, w| state.offer(batch, sender, cx, first, w));
        let response = match offer {
            Offer::Wait => {
                if first.is_some() {
                    waiting.session.counters.inbound_wait(waiting.session.info.transport);
                }
                return;
            }
            Offer::Accepted => {
                let (count, bytes) = waiting.batch.size();
                waiting.session.counters.received(waiting.session.info.transport, count, bytes);
                None
            }
            // Dropped, as sockjs-node does (PROTOCOL.md §11).
            Offer::Closed => None,
            Offer::Busy | Offer::TimedOut => Some((StatusCode::SERVICE_UNAVAILABLE, "Session inbox full.\n")),
            Offer::TooLarge => Some((StatusCode::PAYLOAD_TOO_LARGE, PayloadError::TooLarge.message())),
        };
        let State::Waiting(waiting) = std::mem::replace(&mut self.0, State::Ready(None)) else { unreachable!() };
        let request = waiting.request;
        let response = match response {
            None => request.accepted(),
            Some((status, message)) => request.error(status, message),
        };
        self.0 = State::Ready(Some(response));
    }
}

impl Future for Delivery {
    type Output = Response<Bytes>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response<Bytes>> {
        let this = self.get_mut();
        this.step(cx, None);
        match &mut this.0 {
            State::Ready(response) => Poll::Ready(response.take().expect("polled after completion")),
            State::Waiting(_) => Poll::Pending,
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let State::Waiting(waiting) = &self.0 {
            let sender = waiting.sender;
            waiting.session.update(|state, _| state.cancel_send(sender));
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            State::Ready(_) => f.write_str("Delivery(ready)"),
            State::Waiting(_) => f.write_str("Delivery(waiting for room)"),
        }
    }
}
