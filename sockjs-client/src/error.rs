//! What can go wrong.

use std::fmt;
use std::time::Duration;

use crate::Transport;

/// Everything that can go wrong while connecting or while a connection
/// runs. A connection that ends because of one of these reports it in
/// [`Close::error`](crate::Close::error).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not an absolute `http://` or `https://` URL (`https://`
    /// needs the `rustls` feature).
    InvalidUrl(String),
    /// A transport name that is not one of `websocket`, `xhr-streaming`,
    /// `eventsource`, `xhr-polling`.
    UnknownTransport(String),
    /// A header name or value given by the caller is not valid HTTP.
    InvalidHeader(String),
    /// `/info` did not answer 200 with the JSON object of PROTOCOL.md §7.2.
    Info(String),
    /// The transport the caller asked for is turned off on this server
    /// (`/info` says `websocket: false`).
    TransportDisabled(Transport),
    /// No transport could open a session; each attempt's error, in order.
    AllTransportsFailed(Vec<(Transport, Error)>),
    /// Something did not happen in time.
    Timeout {
        /// What the client was waiting for.
        waiting_for: &'static str,
        /// The limit that ran out.
        after: Duration,
    },
    /// A request got an unexpected status (404 after the session
    /// expired, 500 on a rejected body, 503 when the server is full...).
    Status {
        /// What the request was for.
        request: &'static str,
        /// The status code.
        status: u16,
    },
    /// The HTTP client failed (connection refused or reset, a TLS
    /// handshake failed, malformed response).
    Http(String),
    /// The websocket failed (handshake refused, a TLS handshake failed,
    /// connection reset, protocol violation).
    WebSocket(String),
    /// The server broke the SockJS protocol: a frame that does not parse,
    /// a second `o`, a response that ends in the middle of a frame.
    Protocol(String),
    /// A frame, event or websocket message from the server is longer than
    /// the connection's `max_frame_size`.
    FrameTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A message to send is longer than `max_message_size`.
    MessageTooLarge {
        /// The message's length, in bytes.
        len: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// `close` was given a code other than 1000 or 3000-4999, or a reason
    /// longer than 123 bytes (what sockjs-client accepts).
    InvalidClose(String),
    /// The connection is closed: nothing can be sent any more.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl(why) => write!(f, "invalid SockJS URL: {why}"),
            Error::UnknownTransport(name) => {
                write!(f, "unknown transport {name:?} (expected websocket, xhr-streaming, eventsource or xhr-polling)")
            }
            Error::InvalidHeader(why) => write!(f, "invalid header: {why}"),
            Error::Info(why) => write!(f, "/info failed: {why}"),
            Error::TransportDisabled(t) => write!(f, "the server has {t} turned off"),
            Error::AllTransportsFailed(attempts) => {
                write!(f, "all transports failed")?;
                for (i, (t, e)) in attempts.iter().enumerate() {
                    write!(f, "{} {t}: {e}", if i == 0 { ":" } else { ";" })?;
                }
                Ok(())
            }
            Error::Timeout { waiting_for, after } => write!(f, "timed out after {after:?} waiting for {waiting_for}"),
            Error::Status { request, status } => write!(f, "{request} answered HTTP {status}"),
            Error::Http(why) => write!(f, "HTTP error: {why}"),
            Error::WebSocket(why) => write!(f, "websocket error: {why}"),
            Error::Protocol(why) => write!(f, "SockJS protocol error: {why}"),
            Error::FrameTooLarge { limit } => write!(f, "a frame from the server exceeds {limit} bytes"),
            Error::MessageTooLarge { len, limit } => write!(f, "a message of {len} bytes exceeds {limit} bytes"),
            Error::InvalidClose(why) => write!(f, "invalid close: {why}"),
            Error::Closed => write!(f, "the connection is closed"),
        }
    }
}

impl std::error::Error for Error {}

impl From<hyper_util::client::legacy::Error> for Error {
    fn from(e: hyper_util::client::legacy::Error) -> Self {
        // The source says what actually failed (refused, reset...).
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        Error::Http(text)
    }
}

impl From<hyper::Error> for Error {
    fn from(e: hyper::Error) -> Self {
        Error::Http(e.to_string())
    }
}
