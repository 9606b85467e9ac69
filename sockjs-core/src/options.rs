//! Endpoint options, with the defaults of sockjs-node (PROTOCOL.md §10).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::deflate::Deflate;
use crate::rooms::Rooms;
use crate::state::MESSAGE_OVERHEAD;
use crate::Transport;

/// The default `sockjs_url`: the sockjs-client 1.x build on a CDN.
pub const DEFAULT_SOCKJS_URL: &str = "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js";

/// Decides whether a new session may open, seeing the request that would
/// open it (cookies and all). `Ok` carries data for the application
/// ([`crate::Session::extensions`]); `Err` is the answer the client gets.
pub type Authorize = Arc<dyn Fn(&http::request::Parts) -> Result<http::Extensions, Refusal> + Send + Sync>;

/// Why the [`Options::authorize()`] hook refused a session: the status and a
/// short reason, which the client gets as the response body (`text/plain`,
/// followed by a newline).
///
/// A bare [`http::StatusCode`] converts into one whose reason is the
/// status's reason phrase.
///
/// ```
/// use http::StatusCode;
/// use sockjs_core::Refusal;
///
/// let r = Refusal::new(StatusCode::FORBIDDEN, "Your account is suspended.");
/// assert_eq!((r.status(), r.reason()), (StatusCode::FORBIDDEN, "Your account is suspended."));
/// assert_eq!(Refusal::from(StatusCode::UNAUTHORIZED).reason(), "Unauthorized");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    status: http::StatusCode,
    reason: Cow<'static, str>,
}

impl Refusal {
    /// A refusal with this status and reason.
    pub fn new(status: http::StatusCode, reason: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal { status, reason: reason.into() }
    }

    /// The status the client gets.
    pub fn status(&self) -> http::StatusCode {
        self.status
    }

    /// The reason the client gets as the body.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl From<http::StatusCode> for Refusal {
    fn from(status: http::StatusCode) -> Refusal {
        Refusal::new(status, status.canonical_reason().unwrap_or("Error"))
    }
}

/// The request headers a session keeps by default (see
/// [`Options::session_headers()`]).
pub const DEFAULT_SESSION_HEADERS: [&str; 13] = [
    "host",
    "origin",
    "user-agent",
    "referer",
    "accept-language",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "via",
    "dnt",
];

/// The longest delay an option may hold: one day.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// An option out of its range (see [`Options::validate`]): one variant
/// per rule, naming the option it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionsError {
    /// A delay is zero (where zero is not allowed) or over [`MAX_DELAY`];
    /// the option's name, such as `heartbeat_delay`.
    DelayOutOfRange(&'static str),
    /// A size or count is zero; the option's name, such as `max_queue`.
    ZeroSize(&'static str),
    /// `max_inbox` cannot hold one message of `max_payload` bytes (plus
    /// its 32 bytes of overhead).
    InboxBelowPayload,
    /// The [`Deflate`] settings are out of range; what is wrong with them.
    Deflate(&'static str),
}

impl OptionsError {
    /// The option's name, such as `heartbeat_delay`.
    pub fn field(&self) -> &'static str {
        match self {
            OptionsError::DelayOutOfRange(field) | OptionsError::ZeroSize(field) => field,
            OptionsError::InboxBelowPayload => "max_inbox",
            OptionsError::Deflate(_) => "websocket_deflate",
        }
    }
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problem = match self {
            OptionsError::DelayOutOfRange(_) => "must be more than zero and at most one day",
            OptionsError::ZeroSize(_) => "must be more than zero",
            OptionsError::InboxBelowPayload => "must be at least max_payload + 32",
            OptionsError::Deflate(problem) => problem,
        };
        write!(f, "SockJS option `{}` {problem}", self.field())
    }
}

impl std::error::Error for OptionsError {}

/// Which browser origins may use an endpoint.
///
/// Restricting origins refuses (403) session requests and websockets whose
/// `Origin` is not allowed, and CORS answers echo only allowed origins.
/// Requests without an `Origin` header (non-browser clients) are allowed.
/// The literal `null` origin (sandboxed frames, `file:` pages) is allowed
/// only when listed. The iframe transports send the SockJS server's own
/// origin, so list it too if you use them.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Origins {
    /// Every origin (the default).
    #[default]
    Any,
    /// Exactly these origins, such as `https://example.com` (and `null` if
    /// listed).
    List(Vec<String>),
    /// Origins for which the function returns true.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl Origins {
    /// Whether a request with this `Origin` header may proceed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        match self {
            Origins::Any => true,
            Origins::List(list) => list.iter().any(|o| o == origin),
            Origins::Predicate(allowed) => allowed(origin),
        }
    }
}

impl fmt::Debug for Origins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origins::Any => f.write_str("Any"),
            Origins::List(list) => f.debug_tuple("List").field(list).finish(),
            Origins::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// Makes a `Set-Cookie` value from the request's `JSESSIONID` value.
pub type CookieFn = Arc<dyn Fn(Option<&str>) -> String + Send + Sync>;

/// How an endpoint handles the `JSESSIONID` cookie (PROTOCOL.md §4.6).
///
/// Load balancers can use the cookie to keep every request of a session on
/// one server.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Jsessionid {
    /// No cookie is set (the default).
    #[default]
    Off,
    /// Session responses set `JSESSIONID=<value>; path=/`, echoing the
    /// value the request carried, or `dummy`.
    On,
    /// Session responses set the `Set-Cookie` value this function returns
    /// for the request's `JSESSIONID` value (if it carried one).
    Custom(CookieFn),
}

impl fmt::Debug for Jsessionid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Jsessionid::Off => f.write_str("Off"),
            Jsessionid::On => f.write_str("On"),
            Jsessionid::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// The options of one SockJS endpoint.
///
/// Each option has one setter, which returns `self` for chaining; the
/// fields are private, so [`Options::validate`] sees every change:
///
/// ```
/// use std::time::Duration;
/// use sockjs_core::{Options, Transport};
///
/// let options = Options::new("/echo")
///     .response_limit(4096)
///     .heartbeat_delay(Duration::from_secs(10))
///     .disable(Transport::JsonpPolling);
/// assert!(options.validate().is_ok());
/// assert!(!options.is_enabled(Transport::JsonpPolling));
/// assert!(options.is_enabled(Transport::WebSocket));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    pub(crate) prefix: String,
    pub(crate) sockjs_url: String,
    pub(crate) response_limit: usize,
    pub(crate) websocket: bool,
    pub(crate) raw_websocket: bool,
    pub(crate) jsessionid: Jsessionid,
    pub(crate) heartbeat_delay: Duration,
    pub(crate) disconnect_delay: Duration,
    pub(crate) cors: bool,
    pub(crate) max_payload: usize,
    pub(crate) max_queue: usize,
    pub(crate) max_inbox: usize,
    pub(crate) send_timeout: Duration,
    pub(crate) contention_grace: Duration,
    pub(crate) max_sessions: usize,
    pub(crate) origins: Origins,
    pub(crate) authorize: Option<Authorize>,
    pub(crate) session_headers: Vec<http::HeaderName>,
    pub(crate) trusted_proxies: usize,
    pub(crate) websocket_deflate: Option<Deflate>,
    pub(crate) max_rooms_per_session: usize,
    pub(crate) rooms: Option<Rooms>,
    disabled: u8,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("prefix", &self.prefix)
            .field("sockjs_url", &self.sockjs_url)
            .field("response_limit", &self.response_limit)
            .field("websocket", &self.websocket)
            .field("raw_websocket", &self.raw_websocket)
            .field("jsessionid", &self.jsessionid)
            .field("heartbeat_delay", &self.heartbeat_delay)
            .field("disconnect_delay", &self.disconnect_delay)
            .field("cors", &self.cors)
            .field("max_payload", &self.max_payload)
            .field("max_queue", &self.max_queue)
            .field("max_inbox", &self.max_inbox)
            .field("send_timeout", &self.send_timeout)
            .field("contention_grace", &self.contention_grace)
            .field("max_sessions", &self.max_sessions)
            .field("origins", &self.origins)
            .field("authorize", &self.authorize.as_ref().map(|_| ".."))
            .field("session_headers", &self.session_headers)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("websocket_deflate", &self.websocket_deflate)
            .field("max_rooms_per_session", &self.max_rooms_per_session)
            .field("rooms", &self.rooms)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            prefix: String::new(),
            sockjs_url: DEFAULT_SOCKJS_URL.to_string(),
            response_limit: 128 * 1024,
            websocket: true,
            raw_websocket: true,
            jsessionid: Jsessionid::Off,
            heartbeat_delay: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            cors: true,
            max_payload: 256 * 1024,
            max_queue: 1024 * 1024,
            max_inbox: 1024 * 1024,
            send_timeout: Duration::from_secs(10),
            contention_grace: Duration::from_millis(250),
            max_sessions: 100_000,
            origins: Origins::Any,
            authorize: None,
            session_headers: DEFAULT_SESSION_HEADERS.iter().map(|h| http::HeaderName::from_static(h)).collect(),
            trusted_proxies: 0,
            websocket_deflate: None,
            max_rooms_per_session: 100,
            rooms: None,
            disabled: 0,
        }
    }
}

impl Options {
    /// Default options for an endpoint under `prefix` (such as `/echo`).
    ///
    /// A trailing `/` is removed.
    pub fn new(prefix: &str) -> Options {
        Options::default().prefix(prefix)
    }

    /// The path prefix the endpoint is served under, such as `/echo`
    /// ([`crate::Endpoint::prefix`]); a trailing `/` is removed. Default:
    /// `""`.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.trim_end_matches('/').to_string();
        self
    }

    /// The sockjs-client URL that the iframe page loads. Default:
    /// [`DEFAULT_SOCKJS_URL`].
    pub fn sockjs_url(mut self, url: impl Into<String>) -> Self {
        self.sockjs_url = url.into();
        self
    }

    /// Bytes of frames a streaming response carries before it ends and the
    /// client reconnects. Default: 128 KiB.
    pub fn response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }

    /// Whether the SockJS websocket transports are enabled. Default: true.
    pub fn websocket(mut self, enabled: bool) -> Self {
        self.websocket = enabled;
        self
    }

    /// Whether the raw `<prefix>/websocket` endpoint is enabled (only when
    /// `websocket` is too). Default: true.
    pub fn raw_websocket(mut self, enabled: bool) -> Self {
        self.raw_websocket = enabled;
        self
    }

    /// JSESSIONID cookie handling. Default: off.
    pub fn jsessionid(mut self, jsessionid: Jsessionid) -> Self {
        self.jsessionid = jsessionid;
        self
    }

    /// How often a receiver gets a heartbeat frame. Default 25 s.
    ///
    /// It is also the longest a receiver may leave a frame unwritten: when a
    /// heartbeat comes due while the previous one still waits (the client
    /// stopped reading, or its connection died silently), the session ends
    /// with [`crate::CloseReason::Stalled`].
    pub fn heartbeat_delay(mut self, delay: Duration) -> Self {
        self.heartbeat_delay = delay;
        self
    }

    /// How long a session without a receiver lives. Default 5 s.
    pub fn disconnect_delay(mut self, delay: Duration) -> Self {
        self.disconnect_delay = delay;
        self
    }

    /// Whether CORS headers are sent (and `origins` reported by `/info`).
    /// Default: true.
    pub fn cors(mut self, enabled: bool) -> Self {
        self.cors = enabled;
        self
    }

    /// The largest send body (`xhr_send`, `jsonp_send`) and websocket
    /// message accepted, in bytes. Larger ones get 413, or close the
    /// websocket with 1009. Default: 256 KiB.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// The most bytes of messages a session queues for a client that is
    /// not taking them (no receiver, or a slow one). A send beyond it
    /// closes the session with `1009 "Outgoing queue full"` and fails with
    /// [`crate::SendError::QueueFull`]. Default: 1 MiB.
    pub fn max_queue(mut self, bytes: usize) -> Self {
        self.max_queue = bytes;
        self
    }

    /// permessage-deflate (RFC 7692) on RFC 6455 websockets with these
    /// settings, negotiated when the client offers it; see [`Deflate`] for
    /// what it costs. Default: off.
    pub fn websocket_deflate(mut self, deflate: Deflate) -> Self {
        self.websocket_deflate = Some(deflate);
        self
    }

    /// The most bytes of received messages a session holds for an
    /// application that has not taken them yet (each message counts its
    /// text plus 32 bytes). When the inbox is full the client is slowed
    /// down, never dropped: a websocket is no longer read until the
    /// application makes room, and an `xhr_send`/`jsonp_send` waits for room
    /// for up to [`Options::send_timeout()`]. One send whose messages count
    /// more than this is refused with 413. Default: 1 MiB.
    pub fn max_inbox(mut self, bytes: usize) -> Self {
        self.max_inbox = bytes;
        self
    }

    /// How long an `xhr_send`/`jsonp_send` waits for room in a full inbox
    /// before it is answered `503` (sockjs-client then closes the session
    /// with 1006). Only one send per session waits; another one arriving
    /// meanwhile gets the 503 at once. Default: 10 s.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// How long a receiving request that finds its session busy waits
    /// before it is answered `c[2010,"Another connection still open"]`.
    ///
    /// A client that drops a receiving request and reconnects at once races
    /// the server: the new request can be handled on another thread before
    /// the old connection's end is noticed (PROTOCOL.md §6 "Abort"). Waiting
    /// this long for the attached receiver to go away lets the server win
    /// that race: if it was aborted, the new request gets `c[1002,
    /// "Connection interrupted"]`; if it finished, the new request takes its
    /// place. Only a genuine second receiver pays the delay. Default: 250 ms.
    pub fn contention_grace(mut self, grace: Duration) -> Self {
        self.contention_grace = grace;
        self
    }

    /// The most live sessions (every transport) the endpoint holds; a
    /// request that would open one more gets 503. Default: 100 000.
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.max_sessions = sessions;
        self
    }

    /// The browser origins allowed to use the endpoint. Default: any.
    pub fn origins(mut self, origins: Origins) -> Self {
        self.origins = origins;
        self
    }

    /// Called before a session opens, with the opening request; see
    /// [`Authorize`]. Default: none (every session may open).
    ///
    /// ```
    /// use http::{Extensions, StatusCode};
    /// use sockjs_core::{Options, Refusal};
    ///
    /// #[derive(Clone)]
    /// struct User(String);
    ///
    /// let options = Options::new("/chat").authorize(|request| {
    ///     let token = request.uri.query().and_then(|q| q.strip_prefix("token="));
    ///     match token {
    ///         Some("secret") => {
    ///             let mut data = Extensions::new();
    ///             data.insert(User("alice".into()));
    ///             Ok(data)
    ///         }
    ///         // The client gets 403 with this body.
    ///         Some(_) => Err(Refusal::new(StatusCode::FORBIDDEN, "This token has expired.")),
    ///         // 401 with the reason phrase as the body.
    ///         None => Err(StatusCode::UNAUTHORIZED.into()),
    ///     }
    /// });
    /// ```
    pub fn authorize<E: Into<Refusal>>(
        mut self,
        authorize: impl Fn(&http::request::Parts) -> Result<http::Extensions, E> + Send + Sync + 'static,
    ) -> Self {
        self.authorize = Some(Arc::new(move |request| authorize(request).map_err(Into::into)));
        self
    }

    /// Adds a header to those a session keeps (see
    /// [`Options::session_headers()`]), such as a tenant id or a tracing
    /// header; the others stay.
    ///
    /// ```
    /// use sockjs_core::Options;
    /// let options = Options::new("/echo").session_header(http::HeaderName::from_static("x-tenant"));
    /// ```
    pub fn session_header(mut self, name: http::HeaderName) -> Self {
        if !self.session_headers.contains(&name) {
            self.session_headers.push(name);
        }
        self
    }

    /// The request headers a session keeps from its opening request
    /// ([`crate::Session::headers`]), replacing the default list,
    /// [`DEFAULT_SESSION_HEADERS`]: `host`, `origin`, `user-agent`,
    /// `referer`, `accept-language`, `x-forwarded-*`, `x-real-ip`,
    /// `x-client-ip`, `x-cluster-client-ip`, `via`, `dnt`.
    ///
    /// `cookie` and `authorization` are kept only when listed here: a
    /// session's headers live as long as the session and reach every part
    /// of the application that holds a handle, so credentials listed here
    /// spread further than the request that carried them. Prefer checking
    /// them in [`Options::authorize()`] and attaching what the application
    /// needs as typed data.
    pub fn session_headers(mut self, names: impl IntoIterator<Item = http::HeaderName>) -> Self {
        self.session_headers = names.into_iter().collect();
        self
    }

    /// How many reverse proxies in front of the server append to
    /// `X-Forwarded-For`; [`crate::Session::remote_addr`] then reports the
    /// address the outermost of them saw. Default: 0 (the header is not
    /// trusted).
    pub fn trusted_proxies(mut self, proxies: usize) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The most rooms one session may be in at once
    /// ([`crate::Session::join`] fails with
    /// [`crate::rooms::RoomError::TooManyRooms`] past it; 0 turns rooms off
    /// for the endpoint's sessions). Default: 100.
    pub fn max_rooms_per_session(mut self, rooms: usize) -> Self {
        self.max_rooms_per_session = rooms;
        self
    }

    /// The rooms registry the endpoint's sessions join rooms in, to share
    /// one between endpoints or to use a cluster broker. Default: none (the
    /// endpoint makes its own, local to the process; see
    /// [`crate::Endpoint::rooms`]).
    ///
    /// ```
    /// use sockjs_core::{rooms::Rooms, Endpoint, Options, Session};
    /// let rooms = Rooms::new();
    /// let app = |_: Session| async {};
    /// let chat = Endpoint::new(Options::new("/chat").rooms(rooms.clone()), app);
    /// let other = Endpoint::new(Options::new("/other").rooms(rooms.clone()), app);
    /// assert!(chat.rooms().ptr_eq(other.rooms()) && chat.rooms().ptr_eq(&rooms));
    /// ```
    pub fn rooms(mut self, rooms: Rooms) -> Self {
        self.rooms = Some(rooms);
        self
    }

    /// Disables one transport: its URLs answer 404.
    pub fn disable(mut self, transport: Transport) -> Self {
        self.disabled |= transport.bit();
        self
    }

    /// Checks that the options make sense: every delay nonzero and at most
    /// [`MAX_DELAY`] (the grace period may be zero), every size nonzero,
    /// and `max_inbox` large enough for one message of `max_payload`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sockjs_core::Options;
    ///
    /// assert!(Options::new("/echo").validate().is_ok());
    /// use sockjs_core::OptionsError;
    /// let e = Options::new("/echo").heartbeat_delay(Duration::MAX).validate().unwrap_err();
    /// assert_eq!(e, OptionsError::DelayOutOfRange("heartbeat_delay"));
    /// let e = Options::new("/echo").max_inbox(1000).validate().unwrap_err();
    /// assert_eq!(e.field(), "max_inbox");
    /// assert_eq!(e, OptionsError::InboxBelowPayload);
    /// ```
    /// [`crate::Endpoint::new`] panics on options that fail this check;
    /// [`crate::Endpoint::try_new`] returns the error.
    pub fn validate(&self) -> Result<(), OptionsError> {
        let delays = [
            ("heartbeat_delay", self.heartbeat_delay, false),
            ("disconnect_delay", self.disconnect_delay, false),
            ("send_timeout", self.send_timeout, false),
            ("contention_grace", self.contention_grace, true),
        ];
        for (name, delay, zero_ok) in delays {
            if delay > MAX_DELAY || (delay.is_zero() && !zero_ok) {
                return Err(OptionsError::DelayOutOfRange(name));
            }
        }
        let sizes = [
            ("response_limit", self.response_limit),
            ("max_payload", self.max_payload),
            ("max_queue", self.max_queue),
            ("max_inbox", self.max_inbox),
            ("max_sessions", self.max_sessions),
        ];
        for (name, size) in sizes {
            if size == 0 {
                return Err(OptionsError::ZeroSize(name));
            }
        }
        if self.max_inbox < self.max_payload.saturating_add(MESSAGE_OVERHEAD) {
            // Otherwise a message of the largest size allowed could never
            // be taken in.
            return Err(OptionsError::InboxBelowPayload);
        }
        if let Some(problem) = self.websocket_deflate.as_ref().and_then(Deflate::problem) {
            return Err(OptionsError::Deflate(problem));
        }
        Ok(())
    }

    /// Whether `transport` is served.
    pub fn is_enabled(&self, transport: Transport) -> bool {
        let ws_ok = match transport {
            Transport::WebSocket => self.websocket,
            Transport::RawWebSocket => self.websocket && self.raw_websocket,
            _ => true,
        };
        ws_ok && self.disabled & transport.bit() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each rule of `validate` answers its own variant, naming its option.
    #[test]
    fn validate_names_the_broken_rule() {
        let cases = [
            (Options::new("/e").heartbeat_delay(Duration::ZERO), OptionsError::DelayOutOfRange("heartbeat_delay")),
            (Options::new("/e").disconnect_delay(MAX_DELAY * 2), OptionsError::DelayOutOfRange("disconnect_delay")),
            (Options::new("/e").send_timeout(Duration::ZERO), OptionsError::DelayOutOfRange("send_timeout")),
            (Options::new("/e").contention_grace(Duration::MAX), OptionsError::DelayOutOfRange("contention_grace")),
            (Options::new("/e").response_limit(0), OptionsError::ZeroSize("response_limit")),
            (Options::new("/e").max_sessions(0), OptionsError::ZeroSize("max_sessions")),
            (Options::new("/e").max_payload(1000).max_inbox(1031), OptionsError::InboxBelowPayload),
        ];
        for (options, expected) in cases {
            let error = options.validate().expect_err("out of range");
            assert_eq!(error.field(), expected.field());
            assert_eq!(error, expected);
        }
        assert!(Options::new("/e").contention_grace(Duration::ZERO).validate().is_ok(), "no grace is allowed");
        assert!(Options::new("/e").max_payload(1000).max_inbox(1032).validate().is_ok());
        let e = OptionsError::ZeroSize("max_queue");
        assert_eq!(e.to_string(), "SockJS option `max_queue` must be more than zero");
        let e = OptionsError::InboxBelowPayload;
        assert_eq!(e.to_string(), "SockJS option `max_inbox` must be at least max_payload + 32");
    }

    /// The setters set what they say: a prefix loses its trailing `/`, an
    /// added session header keeps the defaults.
    #[test]
    fn setters_set_their_option() {
        let options = Options::new("/echo/").session_header(http::HeaderName::from_static("x-tenant"));
        assert_eq!(options.prefix, "/echo");
        assert!(options.session_headers.iter().any(|h| h == "x-tenant"));
        assert!(options.session_headers.iter().any(|h| h == "user-agent"), "the defaults stay");
        let options = options.session_headers([http::HeaderName::from_static("x-only")]);
        assert_eq!(options.session_headers, [http::HeaderName::from_static("x-only")]);
        let options = options.websocket_deflate(Deflate::new().level(6));
        assert_eq!(options.websocket_deflate.map(|d| d.level_value()), Some(6));
    }
}
