//! A SockJS client for tokio: connect a Rust program to any SockJS server
//! (sockjs-node, Spring's SockJS endpoints, Vert.x, sockjs-tornado,
//! sockjs-rs), on every transport that works outside a browser.
//!
//! [`Client::connect`] probes `<base>/info`, then tries the transports in
//! sockjs-client's order, websocket, xhr-streaming, eventsource,
//! xhr-polling, skipping websocket when the server has it turned off, or
//! only the ones you name. The first that opens a session wins; the
//! [`Connection`] it returns mirrors the server's `Session`: [`send`],
//! [`recv`] (or use it as a [`Stream`](futures_core::Stream)),
//! [`close`](Connection::close)`(code, reason)`, the transport in use, and
//! the close code and reason once the session ended
//! ([`close_reason`](Connection::close_reason)).
//!
//! Citations such as `PROTOCOL.md §7.4` (or `§7.4` alone) in this crate's
//! documentation and sources name sections of `docs/PROTOCOL.md` in the
//! sockjs-rs repository; `DESIGN.md §1.4` names a section of
//! `docs/DESIGN.md`.
//!
//! ```no_run
//! use sockjs_client::{Client, Transport};
//!
//! # async fn demo() -> Result<(), sockjs_client::Error> {
//! let client = Client::new("http://127.0.0.1:8081/echo")?
//!     // Optional: only these transports, in this order.
//!     .transports([Transport::XhrStreaming, Transport::XhrPolling])
//!     // Sent with every request, the websocket handshake included.
//!     .header("Authorization", "Bearer secret")?;
//! let mut connection = client.connect().await?;
//! println!("open {}", connection.transport());
//! connection.send("hello").await?;
//! while let Some(message) = connection.recv().await {
//!     println!("received {message:?}");
//!     if message == "hello" {
//!         connection.close(1000, "Normal closure").await?;
//!     }
//! }
//! let close = connection.closed().await;
//! println!("close {} {}", close.code, close.reason);
//! # Ok(()) }
//! ```
//!
//! # What the client does for you
//!
//! * **Frames** (PROTOCOL.md §5): `o` opens, `h` heartbeats are counted and
//!   otherwise taken silently ([`Stats::heartbeats`]), `a[...]` messages
//!   arrive one by one, `c[code,"reason"]` ends the connection with that
//!   code and reason. xhr-streaming's 2 KiB prelude and eventsource's
//!   `data:` lines and `%` escapes are undone.
//! * **Streaming responses end** once the server has sent its
//!   `response_limit`; the client opens the next one on the same session.
//!   The server keeps what it could not send meanwhile, so nothing is lost
//!   or repeated. A server that answers the new request with `o` has lost
//!   the session: the connection closes with `1006 "Server lost session"`,
//!   as sockjs-client does.
//! * **Sending** never has more than one `xhr_send` in flight: what the
//!   application sends meanwhile queues and goes out as one JSON array
//!   with the next request (up to [`Client::max_send_batch`] bytes). On
//!   websockets the queued messages of a moment go in one text frame.
//! * **Cookies** the server sets (the `JSESSIONID` of sticky load
//!   balancing, a load balancer's own) and the headers you give
//!   ([`Client::header`]) go with every request of the session.
//! * **Bounds.** A frame from the server longer than
//!   [`Client::max_frame_size`] ends the connection
//!   ([`Error::FrameTooLarge`]). Received messages wait in a queue of
//!   [`Client::receive_queue`] messages; when the application does not
//!   take them, the client stops reading the server (TCP and the server's
//!   own bounds then hold the server back) instead of growing. Messages
//!   waiting to be sent are bounded in bytes ([`Client::send_queue`]):
//!   [`Connection::send`] waits for room.
//! * **Timeouts**: connecting and each transport's open
//!   ([`Client::open_timeout`]), each request ([`Client::request_timeout`])
//!   and silence on the receiving side ([`Client::idle_timeout`], above the
//!   server's 25 s heartbeat).
//!
//! # How a connection ends
//!
//! [`Close`] carries the code and reason, sockjs-client's numbers:
//!
//! | what happened | code, reason |
//! |---|---|
//! | the server sent `c[code,"reason"]` | that code and reason |
//! | [`Connection::close`] | the code and reason given |
//! | a websocket closed without a `c` frame | the websocket close code and reason |
//! | the receiving side failed (reset, timeout, bad frame, HTTP error) | `1006`, the error's text; [`Close::error`] has it |
//! | an `xhr_send` failed | `1006 "Sending error: ..."` |
//! | a new streaming response or poll opened a new session | `1006 "Server lost session"` |
//!
//! On the HTTP transports, closing stops the receiving request; the server
//! notices the abort and ends the session at once (§6).
//!
//! # Reconnecting
//!
//! Like sockjs-client, this client never reconnects by itself: a new
//! session is a new conversation (the server's application state for the
//! old one is gone), so only the application knows what to replay. Build
//! it around [`Client::connect`], which can be called again on the same
//! `Client`:
//!
//! ```no_run
//! # async fn demo() -> Result<(), sockjs_client::Error> {
//! use std::time::Duration;
//! let client = sockjs_client::Client::new("http://127.0.0.1:8081/echo")?;
//! let mut backoff = Duration::from_millis(100);
//! for _attempt in 0..10 {
//!     match client.connect().await {
//!         Ok(mut connection) => {
//!             backoff = Duration::from_millis(100);
//!             // Re-subscribe, replay what was not acknowledged, ...
//!             while let Some(_message) = connection.recv().await {}
//!             let close = connection.closed().await;
//!             if close.code == 1000 || (3000..4000).contains(&close.code) {
//!                 break; // a deliberate close: do not come back
//!             }
//!         }
//!         Err(_) => {}
//!     }
//!     tokio::time::sleep(backoff).await;
//!     backoff = (backoff * 2).min(Duration::from_secs(10));
//! }
//! # Ok(()) }
//! ```
//!
//! # TLS
//!
//! With the `rustls` feature, `https://` URLs work on every transport
//! (`wss://` for the websocket), through rustls with the ring crypto
//! provider. The server's certificate is checked against Mozilla's root
//! certificates (webpki-roots: the same on every machine, no system files
//! read), or against the roots of your own `rustls::ClientConfig` given
//! to `Client::tls_config` (a private CA, a test's self-signed
//! certificate). Every transport speaks HTTP/1.1, which ALPN offers
//! alone. Without the feature, an `https://` URL is refused with
//! [`Error::InvalidUrl`], which names the feature.
//!
//! ```toml
//! sockjs-client = { version = "0.1", features = ["rustls"] }
//! ```
//!
//! # Channels
//!
//! [`multiplex::Multiplexer`] carries named channels over one connection,
//! as the `websocket-multiplex` browser client does.
//!
//! # Not here
//!
//! jsonp-polling, htmlfile and the iframe transports exist for browsers
//! only. HTTP/2: every transport uses HTTP/1.1 (one connection per
//! receiving request, as browsers do over HTTP/1.1).
//!
//! [`send`]: Connection::send
//! [`recv`]: Connection::recv

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod connection;
mod endpoint;
mod error;
pub mod frame;
mod http;
pub mod multiplex;
mod session;
mod socket;
mod websocket;

/// The rustls this crate was built with, for [`Client::tls_config`].
#[cfg(feature = "rustls")]
pub use rustls;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use client::Client;
pub use connection::{Connection, Sender};
pub use error::Error;
/// permessage-deflate settings, for [`Client::websocket_deflate`].
pub use sockjs_core::Deflate;

/// The transports this client speaks, named as sockjs-client names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A SockJS websocket, `<session>/websocket` (PROTOCOL.md §7.10).
    WebSocket,
    /// `POST <session>/xhr_streaming` receives, `xhr_send` sends (§7.6).
    XhrStreaming,
    /// `GET <session>/eventsource` receives, `xhr_send` sends (§7.7).
    EventSource,
    /// `POST <session>/xhr` polls, `xhr_send` sends (§7.4).
    XhrPolling,
}

impl Transport {
    /// Every transport, in the order sockjs-client tries them.
    pub const ALL: [Transport; 4] =
        [Transport::WebSocket, Transport::XhrStreaming, Transport::EventSource, Transport::XhrPolling];

    /// sockjs-client's name: `websocket`, `xhr-streaming`, `eventsource`,
    /// `xhr-polling`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::XhrStreaming => "xhr-streaming",
            Transport::EventSource => "eventsource",
            Transport::XhrPolling => "xhr-polling",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Transport {
    type Err = Error;

    /// Parses sockjs-client's name of a transport.
    fn from_str(name: &str) -> Result<Transport, Error> {
        Transport::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| Error::UnknownTransport(name.to_owned()))
    }
}

/// What `<base>/info` said (PROTOCOL.md §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// Whether the server offers websockets.
    pub websocket: bool,
    /// Whether the server wants the `JSESSIONID` cookie (sticky sessions).
    pub cookie_needed: bool,
    /// The `origins` list, if any.
    pub origins: Vec<String>,
    /// The server's random number.
    pub entropy: u64,
}

/// How a connection ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Close {
    /// The close code: the server's (`3000`), the application's own, or
    /// `1006` when the connection failed (see the crate docs).
    pub code: u16,
    /// The reason that came with it.
    pub reason: String,
    /// `true` when the server sent a `c` frame or the application closed;
    /// `false` when the connection broke.
    pub was_clean: bool,
    /// What failed, when something did.
    pub error: Option<Arc<Error>>,
}

impl Close {
    pub(crate) fn clean(code: u16, reason: impl Into<String>) -> Close {
        Close { code, reason: reason.into(), was_clean: true, error: None }
    }

    pub(crate) fn failed(error: Error) -> Close {
        Close { code: 1006, reason: error.to_string(), was_clean: false, error: Some(Arc::new(error)) }
    }

    /// A send that failed: `1006 "Sending error: ..."`, as sockjs-client
    /// reports it.
    pub(crate) fn sending_error(error: Error) -> Close {
        Close { reason: format!("Sending error: {error}"), ..Close::failed(error) }
    }
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.reason)
    }
}

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `h` frames received (on sockjs-node's websockets, which send pings
    /// instead, this stays 0).
    pub heartbeats: u64,
    /// Messages received (taken or still queued).
    pub messages_received: u64,
    /// Messages sent (acknowledged by the server or written to the websocket).
    pub messages_sent: u64,
    /// Receiving requests made: polls, or streaming responses opened
    /// (more than one when `response_limit` ended a response). 1 on a
    /// websocket.
    pub receive_requests: u64,
    /// `xhr_send` requests made, or websocket text frames written: fewer
    /// than messages when several were batched.
    pub send_requests: u64,
    /// On a websocket, the bytes of frames read from the connection
    /// since the handshake (compressed, as on the wire, before TLS); 0 on
    /// the HTTP transports.
    pub wire_bytes_received: u64,
    /// On a websocket, the bytes of frames written (counted as they are
    /// given to the connection); 0 on the HTTP transports.
    pub wire_bytes_sent: u64,
}
