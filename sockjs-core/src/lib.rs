//! A sans-IO SockJS server protocol engine.
//!
//! `sockjs-core` makes every protocol decision of a SockJS server (the
//! protocol spoken by the [sockjs-client] browser library): routing,
//! status codes and headers, CORS and cookies, the iframe page, framing
//! and escaping for each transport, decoding what clients send, the
//! session lifecycle, heartbeats and expiry. It does no IO, spawns no
//! tasks, and reads no clock and no random source: the caller passes the
//! time and entropy in. That is what lets the same engine run under
//! actix-web (`sockjs-actix`), warp (`sockjs-warp`) or a server of your
//! own, and what makes its whole lifecycle testable with a simulated clock.
//!
//! [sockjs-client]: https://github.com/sockjs/sockjs-client
//!
//! Citations such as `PROTOCOL.md §7.4` (or `§7.4` alone) in this crate's
//! documentation and sources name sections of `docs/PROTOCOL.md` in the
//! sockjs-rs repository; `DESIGN.md §1.4` names a section of
//! `docs/DESIGN.md`.
//!
//! # How a driver uses it
//!
//! On tokio, `sockjs-driver` does all of this for any HTTP server, and the
//! adapters (`sockjs-actix`, `sockjs-warp`, `sockjs-tower`) only translate
//! their framework's types to it; what follows is for a driver of your own.
//!
//! 1. Create one [`Endpoint`] per SockJS service with [`Options`] and a
//!    [`Handler`]; share it between threads (it is an `Arc`).
//! 2. For each HTTP request under the prefix, call [`Endpoint::handle`]
//!    with the request head and a [`RequestContext`] (the time and
//!    entropy: the engine reads neither), and carry out the [`Dispatch`]
//!    (an exhaustive enum: a new case is a compile error):
//!    * [`Dispatch::Response`]: send it.
//!    * [`Dispatch::ReadBody`]: read the body, at most
//!      [`PendingBody::limit`] bytes ([`PendingBody::too_large`] beyond),
//!      pass it to [`PendingBody::finish`], and send the response its
//!      [`Delivery`] resolves to (it waits while the session's inbox is
//!      full).
//!    * [`Dispatch::Stream`]: send the head, then each chunk of the
//!      [`ReceiverBody`] as its own flushed HTTP chunk (or, when
//!      [`ReceiverBody::is_single_frame`], wait for its one frame and send
//!      head and frame in one write); spawn the application task if there
//!      is one (it already ran up to its first suspension point). Drop the
//!      body as soon as the client disconnects.
//!    * [`Dispatch::WebSocket`]: answer the handshake with
//!      [`WebSocketUpgrade::response`], then [`WebSocketUpgrade::accept`];
//!      hand the application task to the [`WebSocket`]
//!      ([`WebSocket::run_app`], one task per connection) or spawn it, and
//!      pump bytes: what the connection reads into
//!      [`WebSocket::handle_input`] (only once [`WebSocket::poll_ready`] is
//!      ready), what [`WebSocket::poll_transmit`] returns onto the
//!      connection (while a write blocks, [`WebSocket::poll_blocked`]);
//!      close the connection when it returns `None`.
//! 3. Run the timers: spawn what [`Endpoint::timer_task`] returns on every
//!    request (it gives [`Endpoint::run_timers`] once), or call
//!    [`Endpoint::poll_timeout`] for the next deadline and
//!    [`Endpoint::handle_timeout`] when it comes.
//!
//! Every `now` passed in must come from one monotonic clock and never go
//! backwards. Wakers are woken after the engine's locks are released, so an
//! executor that polls on wake is safe. No input from a peer can make the
//! engine panic or grow without the bounds in [`Options`].
//!
//! # Rooms
//!
//! Sessions join named rooms, and a send reaches every member of one or
//! several rooms (except some sessions or rooms), locally or, with a
//! cluster broker, on every node: see [`rooms`].
//!
//! # Channels
//!
//! [`multiplex::Multiplex`] serves named channels over one session, byte
//! for byte as the `websocket-multiplex` browser client speaks them; a
//! channel can join rooms as a session does.
//!
//! # Metrics
//!
//! [`Endpoint::metrics`] is a snapshot of an endpoint's counters. With the
//! `metrics` feature the same counters also go to the recorder of the
//! [`metrics`](https://docs.rs/metrics) facade crate that the application
//! installed (Prometheus, StatsD, ...), as these series, each labelled
//! `endpoint` (the prefix) and, but for the last three, `transport` (the
//! session's, as [`Transport::name`] spells it):
//!
//! | series | kind | what |
//! |---|---|---|
//! | `sockjs_sessions` | gauge | live sessions |
//! | `sockjs_sessions_opened_total` | counter | sessions opened |
//! | `sockjs_sessions_closed_total` | counter | sessions ended, labelled `reason`: `server` (the application closed it or dropped its handles), `client`, `interrupted`, `timed_out`, `protocol_error`, `shutdown`, `queue_full` (the client did not take what it was sent), `stalled` |
//! | `sockjs_session_duration_seconds` | histogram | from the opening to the last time the engine was given for the session |
//! | `sockjs_messages_received_total`, `sockjs_bytes_received_total` | counter | messages from clients and their bytes of text |
//! | `sockjs_messages_sent_total` | counter | messages the application queued |
//! | `sockjs_bytes_sent_total` | counter | bytes written to clients, framing included |
//! | `sockjs_inbound_waits_total` | counter | times a client's messages found the inbox full and waited (inbound backpressure) |
//! | `sockjs_inbox_bytes` | gauge | what the inboxes hold, as [`Options::max_inbox()`] counts |
//! | `sockjs_requests_rejected_total` | counter | requests answered 4xx/5xx, labelled `status` |
//! | `sockjs_room_publish_failed_total` | counter | room messages the cluster broker could not publish to other nodes ([`rooms::Broker`]); its `endpoint` label is the rooms registry's ([`rooms::RoomsBuilder::label`]: the prefix of the endpoint that made it) |
//!
//! Every label has a fixed, small set of values. A transport's series
//! appear with its first session; install the recorder before the first
//! request (handles taken from no recorder stay silent).
//!
//! # Example: a whole session with a simulated clock
//!
//! ```
//! use std::task::{Context, Poll, Waker};
//! use std::time::{Duration, Instant, SystemTime};
//! use sockjs_core::{Dispatch, Endpoint, Options, RequestContext, Session};
//!
//! let endpoint = Endpoint::new(Options::new("/echo"), |mut session: Session| async move {
//!     while let Some(message) = session.recv().await {
//!         let _ = session.send(message);
//!     }
//! });
//! let now = Instant::now();
//! let cx = RequestContext { now, wall_clock: SystemTime::now(), entropy: 4, remote_addr: None };
//! let request = http::Request::post("/echo/000/abc/xhr").body(()).unwrap().into_parts().0;
//!
//! // The first poll opens the session and answers `o\n`.
//! let Dispatch::Stream { response, task } = endpoint.handle(&request, cx) else { panic!() };
//! assert!(task.is_some(), "a new session: spawn its application task");
//! let mut body = response.into_body();
//! let mut waker_cx = Context::from_waker(Waker::noop());
//! assert_eq!(body.poll_chunk(&mut waker_cx, now), Poll::Ready(Some("o\n".into())));
//! assert_eq!(body.poll_chunk(&mut waker_cx, now), Poll::Ready(None));
//!
//! // Without a receiver, the session expires after the disconnect delay.
//! assert_eq!(endpoint.session_count(), 1);
//! endpoint.handle_timeout(now + Duration::from_secs(5));
//! assert_eq!(endpoint.session_count(), 0);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app;
mod broker;
pub mod client;
mod deflate;
mod endpoint;
mod envelope;
// Public items for `internals`, which is behind its feature.
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
mod frame;
mod headers;
// Public items for `internals`, which is behind its feature.
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
mod hixie76;
mod json;
mod membership;
mod message;
mod metrics;
pub mod multiplex;
mod options;
// Public items for `internals`, which is behind its feature.
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
mod payload;
mod receiver;
mod responses;
mod rfc6455;
pub mod rooms;
// Public items for `internals`, which is behind its feature.
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
mod route;
mod send;
mod session;
mod state;
mod timer;
mod transport;
mod upgrade;
mod websocket;

pub use app::{AppTask, Handler, Recv, SendJsonError, Session};
pub use deflate::Deflate;
pub use endpoint::{Dispatch, Endpoint, RequestContext};
pub use headers::Tls;
pub use hixie76::Hixie76;
pub use message::Message;
pub use metrics::Metrics;
pub use options::{
    Authorize, CookieFn, Jsessionid, Options, OptionsError, Origins, Refusal, DEFAULT_SESSION_HEADERS,
    DEFAULT_SOCKJS_URL, MAX_DELAY,
};
pub use receiver::{ReceiverBody, ReceiverStream};
pub use rooms::{RoomError, RoomSend, Rooms};
pub use send::{Delivery, PendingBody};
pub use state::{CloseReason, SendError};
pub use transport::Transport;
pub use upgrade::WebSocketUpgrade;
pub use websocket::{WebSocket, WRITE_JOIN_BYTES};

/// Not part of the API: the protocol layer's parsers and encoders, for the
/// fuzz targets and benchmarks only (feature `internals`). They may change
/// in any release.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::frame::Frame;
    pub use crate::hixie76::{Hixie76Decoder, Hixie76Frame};
    pub use crate::payload::{decode_messages, decode_websocket_text, PayloadError};
    pub use crate::route::{route, Route, SessionUrl};
}

#[cfg(test)]
mod tests;
