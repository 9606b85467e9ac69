//! The endpoint: one SockJS service under one prefix, its session registry
//! and its timers.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Poll;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{request, Method, Response, StatusCode};

use crate::headers::{self, Cors};
use crate::metrics::{Counters, Metrics};
use crate::payload::{self, PayloadError};
use crate::receiver::{Mode, Receiver};
use crate::route::{route, Route, SessionUrl};
use crate::session::{CloseReason, Phase, Session, SessionCell, SessionInfo};
use crate::timer::{TimerKind, Timers};
use crate::transport::{self, Framing};
use crate::websocket::{self, WebSocketUpgrade};
use crate::{Frame, Options, Transport};

/// A boxed application task, to be spawned by the adapter.
pub type AppTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Application code that runs once for every new session.
///
/// Implemented for every `Fn(Session) -> impl Future<Output = ()>` closure
/// that is `Send + Sync + 'static`:
///
/// ```
/// use sockjs_core::{Handler, Session};
/// fn assert_handler(_: impl Handler) {}
/// assert_handler(|mut session: Session| async move {
///     while let Some(m) = session.recv().await {
///         let _ = session.send(m);
///     }
/// });
/// ```
///
/// Or implement it for a type of your own, for example to hold shared
/// state:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use sockjs_core::{AppTask, Endpoint, Handler, Options, Session};
///
/// struct Counter {
///     sessions: Arc<AtomicUsize>,
/// }
///
/// impl Handler for Counter {
///     fn call(&self, mut session: Session) -> AppTask {
///         let n = self.sessions.fetch_add(1, Ordering::Relaxed) + 1;
///         Box::pin(async move {
///             let _ = session.send(format!("you are visitor {n}"));
///             while session.recv().await.is_some() {}
///         })
///     }
/// }
///
/// let endpoint = Endpoint::new(Options::new("/count"), Counter { sessions: Arc::default() });
/// # drop(endpoint);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Runs the application for one session; the returned future is
    /// spawned and runs for as long as the application wants.
    fn call(&self, session: Session) -> AppTask;
}

impl<F, Fut> Handler for F
where
    F: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, session: Session) -> AppTask {
        Box::pin(self(session))
    }
}

/// What the caller supplies with each request: the time, entropy, and the
/// peer address. The core reads no clock and no random source itself.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext {
    /// The current monotonic time.
    pub now: Instant,
    /// The current wall-clock time (for `Expires` headers).
    pub wall_clock: SystemTime,
    /// 32 random bits for `/info`'s `entropy`.
    pub entropy: u32,
    /// The peer's address, if known.
    pub remote_addr: Option<SocketAddr>,
}

/// What the adapter must do with a request.
#[non_exhaustive]
pub enum Dispatch {
    /// Send this complete response.
    Response(Response<Bytes>),
    /// Read the request body, at most [`PendingBody::limit`] bytes, then
    /// call [`PendingBody::finish`] (or [`PendingBody::too_large`]).
    ReadBody(PendingBody),
    /// Send the head now, then every chunk of the [`Receiver`] as its own
    /// flushed chunk. If `task` is set, a session was opened: spawn it.
    Stream {
        /// The response head and its streaming body.
        response: Response<Receiver>,
        /// The application task of a new session.
        task: Option<AppTask>,
    },
    /// Complete a websocket handshake, then drive the session with the
    /// [`WebSocketUpgrade`].
    WebSocket(WebSocketUpgrade),
}

impl fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dispatch::Response(r) => f.debug_tuple("Response").field(r).finish(),
            Dispatch::ReadBody(p) => f.debug_tuple("ReadBody").field(p).finish(),
            Dispatch::Stream { response, task } => f
                .debug_struct("Stream")
                .field("response", response)
                .field("task", &task.as_ref().map(|_| ".."))
                .finish(),
            Dispatch::WebSocket(w) => f.debug_tuple("WebSocket").field(w).finish(),
        }
    }
}

/// A SockJS endpoint: every SockJS URL under one prefix, sharing one
/// session registry. Cheap to clone (an `Arc`), safe to use from many
/// threads at once.
///
/// An adapter calls [`Endpoint::handle`] for each request under the
/// prefix, and runs [`Endpoint::run_timers`] (or drives
/// [`Endpoint::poll_timeout`] and [`Endpoint::handle_timeout`] itself).
#[derive(Clone)]
pub struct Endpoint {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) options: Options,
    handler: Box<dyn Handler>,
    sessions: Mutex<HashMap<Box<str>, Arc<SessionCell>>>,
    /// Open websocket sessions (they are not in `sessions`: their ids need
    /// not be unique), for `close_all`.
    pub(crate) websockets: Mutex<HashMap<u64, Weak<SessionCell>>>,
    timers: Mutex<Timers>,
    next_id: AtomicU64,
    iframe: Bytes,
    etag: HeaderValue,
    pub(crate) counters: Arc<Counters>,
}

impl Shared {
    /// A new session for `info`.
    pub(crate) fn new_session(&self, info: SessionInfo, framed: bool) -> Arc<SessionCell> {
        SessionCell::new(info, framed, self.options.max_queue, self.counters.clone())
    }

    /// Whether the endpoint holds as many sessions as it may.
    pub(crate) fn full(&self) -> bool {
        self.counters.live_total() >= self.options.max_sessions as u64
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Lock order: `sessions`, then one session's state, then `timers`.
    pub(crate) fn sessions(&self) -> MutexGuard<'_, HashMap<Box<str>, Arc<SessionCell>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn timers(&self) -> MutexGuard<'_, Timers> {
        self.timers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The application task for a new session, inside a `sockjs_session`
    /// span so that the application's own events carry the session.
    pub(crate) fn start_app(&self, session: Session) -> AppTask {
        use tracing::Instrument;
        let span = tracing::debug_span!(target: "sockjs", "sockjs_session", id = session.id(), transport = %session.transport());
        Box::pin(self.handler.call(session).instrument(span))
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.timers().wake_driver();
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint").field("options", &self.shared.options).finish_non_exhaustive()
    }
}

const IFRAME_TEMPLATE: &str = include_str!("templates/iframe.html");
const NOT_FOUND_BODY: &str = "404 Error: Page not found\n";

impl Endpoint {
    /// Creates an endpoint with these options, running `handler` for every
    /// new session.
    pub fn new(options: Options, handler: impl Handler) -> Endpoint {
        let iframe = IFRAME_TEMPLATE.replace("SOCKJS_URL", &options.sockjs_url);
        let etag = format!("\"{:016x}\"", fnv1a(iframe.as_bytes()));
        Endpoint {
            shared: Arc::new(Shared {
                options,
                handler: Box::new(handler),
                sessions: Mutex::new(HashMap::new()),
                websockets: Mutex::new(HashMap::new()),
                timers: Mutex::new(Timers::default()),
                next_id: AtomicU64::new(1),
                iframe: Bytes::from(iframe),
                etag: HeaderValue::from_str(&etag).expect("hex is a valid header value"),
                counters: Arc::default(),
            }),
        }
    }

    /// The endpoint's options.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// Whether `path` (raw, without the query) is under this endpoint's
    /// prefix, so that [`Endpoint::handle`] should see the request.
    pub fn matches(&self, path: &str) -> bool {
        let prefix = self.shared.options.prefix.as_str();
        path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Handles one request under the prefix. The body is not needed,
    /// except when [`Dispatch::ReadBody`] asks for it.
    pub fn handle(&self, request: &request::Parts, cx: RequestContext) -> Dispatch {
        let dispatch = self.dispatch(request, cx);
        if let Dispatch::Response(r) = &dispatch {
            if r.status().as_u16() >= 400 {
                self.shared.counters.rejected();
                tracing::debug!(
                    target: "sockjs",
                    status = r.status().as_u16(),
                    method = %request.method,
                    path = request.uri.path(),
                    "request rejected"
                );
            }
        }
        dispatch
    }

    /// A snapshot of the endpoint's counters.
    pub fn metrics(&self) -> Metrics {
        self.shared.counters.snapshot()
    }

    fn dispatch(&self, request: &request::Parts, cx: RequestContext) -> Dispatch {
        let options = &self.shared.options;
        let Some(route) = route(&options.prefix, request.uri.path()) else {
            return Dispatch::Response(not_found(HeaderMap::new()));
        };
        if let Route::Session { kind, .. } = route {
            if kind != SessionUrl::WebSocket && !self.session_url_enabled(kind) {
                return Dispatch::Response(not_found(HeaderMap::new()));
            }
        }
        if !route.allows(&request.method) {
            return Dispatch::Response(method_not_allowed(route.allow()));
        }
        match route {
            Route::Greeting => Dispatch::Response(text(StatusCode::OK, headers::TEXT_PLAIN, "Welcome to SockJS!\n")),
            Route::Info => Dispatch::Response(self.info(request, cx)),
            Route::Iframe => Dispatch::Response(self.iframe(request, cx)),
            Route::RawWebSocket => self.websocket(request, cx, Transport::RawWebSocket, ""),
            Route::Session { session_id, kind, .. } => self.session_url(request, cx, session_id, kind),
        }
    }

    fn session_url_enabled(&self, kind: SessionUrl) -> bool {
        let o = &self.shared.options;
        match kind {
            SessionUrl::XhrSend => {
                [Transport::XhrPolling, Transport::XhrStreaming, Transport::EventSource, Transport::HtmlFile]
                    .into_iter()
                    .any(|t| o.is_enabled(t))
            }
            SessionUrl::JsonpSend => o.is_enabled(Transport::JsonpPolling),
            receiving => receiving.receiving_transport().is_some_and(|t| o.is_enabled(t)),
        }
    }

    fn info(&self, request: &request::Parts, cx: RequestContext) -> Response<Bytes> {
        let options = &self.shared.options;
        let mut h = HeaderMap::new();
        headers::cors(&mut h, &request.headers, options, Cors::Echo);
        if request.method == Method::OPTIONS {
            headers::cookie(&mut h, &request.headers, options);
            headers::preflight(&mut h, "OPTIONS, GET", cx.wall_clock);
            return response(StatusCode::NO_CONTENT, h, Bytes::new());
        }
        headers::no_cache(&mut h);
        h.insert(header::CONTENT_TYPE, headers::APPLICATION_JSON);
        let websocket = options.is_enabled(Transport::WebSocket);
        let cookie_needed = !matches!(options.jsessionid, crate::Jsessionid::Off);
        let body = if options.cors {
            format!(
                r#"{{"websocket":{websocket},"origins":["*:*"],"cookie_needed":{cookie_needed},"entropy":{}}}"#,
                cx.entropy
            )
        } else {
            format!(r#"{{"websocket":{websocket},"cookie_needed":{cookie_needed},"entropy":{}}}"#, cx.entropy)
        };
        response(StatusCode::OK, h, Bytes::from(body))
    }

    fn iframe(&self, request: &request::Parts, cx: RequestContext) -> Response<Bytes> {
        let shared = &self.shared;
        let mut h = HeaderMap::new();
        headers::long_cache(&mut h, cx.wall_clock);
        if request.headers.get(header::IF_NONE_MATCH) == Some(&shared.etag) {
            return response(StatusCode::NOT_MODIFIED, h, Bytes::new());
        }
        h.insert(header::CONTENT_TYPE, headers::TEXT_HTML);
        h.insert(header::ETAG, shared.etag.clone());
        response(StatusCode::OK, h, shared.iframe.clone())
    }

    fn websocket(&self, request: &request::Parts, cx: RequestContext, transport: Transport, id: &str) -> Dispatch {
        if !self.shared.options.is_enabled(transport) {
            return Dispatch::Response(not_found(HeaderMap::new()));
        }
        let kind = match websocket::check_upgrade(request, transport) {
            Ok(kind) => kind,
            Err(message) => return Dispatch::Response(text(StatusCode::BAD_REQUEST, headers::TEXT_PLAIN, message)),
        };
        if !self.origin_allowed(request) {
            return Dispatch::Response(forbidden(HeaderMap::new()));
        }
        if self.shared.full() {
            return Dispatch::Response(service_unavailable(HeaderMap::new()));
        }
        match self.session_info(request, &cx, transport, id) {
            Ok(info) => Dispatch::WebSocket(WebSocketUpgrade::new(self.shared.clone(), kind, info)),
            Err(status) => Dispatch::Response(error_status(status, HeaderMap::new())),
        }
    }

    fn origin_allowed(&self, request: &request::Parts) -> bool {
        let origin = request.headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("\u{0}"));
        self.shared.options.origins.allows(origin)
    }

    /// What a new session keeps of its opening request, once the
    /// `authorize` hook (if any) allowed it.
    fn session_info(
        &self,
        request: &request::Parts,
        cx: &RequestContext,
        transport: Transport,
        id: &str,
    ) -> Result<SessionInfo, StatusCode> {
        let extensions = match &self.shared.options.authorize {
            Some(authorize) => authorize(request)?,
            None => http::Extensions::new(),
        };
        Ok(SessionInfo {
            id: id.into(),
            transport,
            uri: request.uri.clone(),
            headers: headers::exposed(&request.headers),
            remote_addr: headers::client_addr(&request.headers, cx.remote_addr, self.shared.options.trusted_proxies),
            extensions,
        })
    }

    fn session_url(&self, request: &request::Parts, cx: RequestContext, id: &str, kind: SessionUrl) -> Dispatch {
        let options = &self.shared.options;
        let cors = match kind {
            SessionUrl::Xhr | SessionUrl::XhrSend | SessionUrl::XhrStreaming => Cors::Echo,
            SessionUrl::EventSource => Cors::NullAsStar,
            _ => Cors::None,
        };
        let mut h = HeaderMap::new();
        headers::cors(&mut h, &request.headers, options, cors);
        headers::cookie(&mut h, &request.headers, options);
        if !self.origin_allowed(request) {
            return Dispatch::Response(forbidden(h));
        }
        if request.method == Method::OPTIONS {
            headers::preflight(&mut h, "OPTIONS, POST", cx.wall_clock);
            return Dispatch::Response(response(StatusCode::NO_CONTENT, h, Bytes::new()));
        }
        headers::no_cache(&mut h);
        let (transport, framing, prelude, content_type) = match kind {
            SessionUrl::WebSocket => return self.websocket(request, cx, Transport::WebSocket, id),
            SessionUrl::XhrSend | SessionUrl::JsonpSend => {
                return Dispatch::ReadBody(PendingBody {
                    endpoint: self.shared.clone(),
                    id: id.into(),
                    jsonp: kind == SessionUrl::JsonpSend,
                    content_type: request.headers.get(header::CONTENT_TYPE).cloned(),
                    headers: h,
                });
            }
            SessionUrl::Xhr => (Transport::XhrPolling, Framing::Xhr, None, headers::APPLICATION_JAVASCRIPT),
            SessionUrl::XhrStreaming => (
                Transport::XhrStreaming,
                Framing::Xhr,
                Some(transport::xhr_streaming_prelude()),
                headers::APPLICATION_JAVASCRIPT,
            ),
            SessionUrl::EventSource => (
                Transport::EventSource,
                Framing::EventSource,
                Some(transport::eventsource_prelude()),
                headers::EVENT_STREAM,
            ),
            SessionUrl::HtmlFile | SessionUrl::Jsonp => {
                let callback = match payload::callback(request.uri.query()) {
                    Ok(callback) => callback,
                    Err(e) => {
                        return Dispatch::Response(response(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            with_content_type(h, headers::TEXT_PLAIN),
                            Bytes::from_static(e.message().as_bytes()),
                        ))
                    }
                };
                if kind == SessionUrl::Jsonp {
                    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
                    (Transport::JsonpPolling, Framing::Jsonp(callback), None, headers::APPLICATION_JAVASCRIPT)
                } else {
                    let prelude = transport::htmlfile_prelude(&callback);
                    (Transport::HtmlFile, Framing::HtmlFile, Some(prelude), headers::TEXT_HTML)
                }
            }
        };
        let info = || self.session_info(request, &cx, transport, id);
        let (receiver, task) = match self.receive(id, transport, info, framing, prelude, cx.now) {
            Ok(receiving) => receiving,
            Err(StatusCode::SERVICE_UNAVAILABLE) => return Dispatch::Response(service_unavailable(h)),
            Err(status) => return Dispatch::Response(error_status(status, h)),
        };
        h.insert(header::CONTENT_TYPE, content_type);
        let mut response = Response::new(receiver);
        *response.headers_mut() = h;
        Dispatch::Stream { response, task }
    }

    /// Attaches a receiving request of `transport` to its session,
    /// creating the session if needed (PROTOCOL.md §6). Fails with 503 when
    /// a new session would exceed `max_sessions`, or with the status the
    /// `authorize` hook chose. The hook runs without any lock held.
    fn receive(
        &self,
        id: &str,
        transport: Transport,
        info: impl FnOnce() -> Result<SessionInfo, StatusCode>,
        framing: Framing,
        prelude: Option<Bytes>,
        now: Instant,
    ) -> Result<(Receiver, Option<AppTask>), StatusCode> {
        let shared = &self.shared;
        // The current request's transport decides how its response ends:
        // a session opened by xhr_streaming can be polled through xhr.
        let mode = if transport.is_polling() { Mode::Polling } else { Mode::Streaming(shared.options.response_limit) };
        let existing = shared.sessions().get(id).cloned();
        if let Some(session) = existing {
            return Ok((self.join(&session, framing, mode, prelude, now), None));
        }
        if shared.full() {
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        }
        let info = info()?;
        let mut sessions = shared.sessions();
        if let Some(session) = sessions.get(id).cloned() {
            // Another request opened it while the hook ran.
            drop(sessions);
            return Ok((self.join(&session, framing, mode, prelude, now), None));
        }
        let session = shared.new_session(info, true);
        let mut state = session.lock();
        let mut receiver = Receiver::attach(shared, &session, &mut state, framing, mode, prelude, now);
        receiver.open(&mut state, now);
        drop(state);
        sessions.insert(id.into(), session.clone());
        drop(sessions);
        let task = shared.start_app(Session::new(session));
        Ok((receiver, Some(task)))
    }

    /// A receiver for an existing session: attached, waiting as a
    /// contender, or a fixed answer (the close frame, or 2010).
    fn join(
        &self,
        session: &Arc<SessionCell>,
        framing: Framing,
        mode: Mode,
        prelude: Option<Bytes>,
        now: Instant,
    ) -> Receiver {
        let shared = &self.shared;
        let mut state = session.lock();
        let fixed = |frame: Frame| Receiver::fixed(prelude.clone().into_iter().chain([framing.wrap(&frame)]));
        match &state.phase {
            // Messages queued before the close go out first (§11).
            Phase::Closing(_) if !state.outbox.is_empty() && state.receiver.is_none() => {}
            Phase::Closing(close) => {
                let close = close.clone();
                if state.receiver.is_none() {
                    // Each later receiver restarts the disconnect timer (§11).
                    state.epoch += 1;
                    let at = now + shared.options.disconnect_delay;
                    shared.timers().schedule(at, TimerKind::Disconnect, state.epoch, session);
                }
                return fixed(close);
            }
            Phase::Open if state.receiver.is_some() && state.contender.is_none() => {
                return Receiver::contend(shared, session, &mut state, framing, mode, prelude, now);
            }
            Phase::Open if state.receiver.is_some() => return fixed(crate::frame::another_connection()),
            Phase::Open => {}
            // Ended between the lookup and now: it ended because its
            // receiver was dropped, or it expired.
            Phase::Ended => return fixed(Frame::close(1002, "Connection interrupted")),
        }
        Receiver::attach(shared, session, &mut state, framing, mode, prelude, now)
    }

    /// The earliest deadline at which [`Endpoint::handle_timeout`] may have
    /// work to do, if any. Timers are not cancelled early, so a deadline can
    /// turn out to need nothing (its session moved on); that costs one
    /// wake-up.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.shared.timers().next_deadline()
    }

    /// Runs every timer due at `now`: heartbeats and session expiry.
    /// Harmless when called early or more than once.
    pub fn handle_timeout(&self, now: Instant) {
        let shared = &self.shared;
        let due = shared.timers().pop_due(now);
        for entry in due {
            let Some(session) = entry.session.upgrade() else { continue };
            match entry.kind {
                TimerKind::Heartbeat => {
                    let mut state = session.lock();
                    if state.epoch != entry.epoch || state.receiver.is_none() || !state.is_open() {
                        continue;
                    }
                    if !state.heartbeat_due {
                        state.heartbeat_due = true;
                        crate::session::wake(&mut state.receiver_waker);
                        let at = now + shared.options.heartbeat_delay;
                        shared.timers().schedule(at, TimerKind::Heartbeat, entry.epoch, &session);
                        continue;
                    }
                    // The last heartbeat is still waiting: the client took no
                    // frame for a whole heartbeat delay. Its connection is
                    // stalled; end the session rather than queue for it.
                    drop(state);
                    let mut sessions = shared.sessions();
                    let mut state = session.lock();
                    if state.epoch == entry.epoch && state.heartbeat_due {
                        state.end(CloseReason::Stalled);
                        drop(state);
                        forget(&mut sessions, &session);
                    }
                }
                TimerKind::Contention => {
                    let mut state = session.lock();
                    if let Some(contender) = state.contender.as_mut().filter(|c| c.id == entry.epoch) {
                        contender.expired = true;
                        crate::session::wake(&mut contender.waker);
                    }
                }
                TimerKind::Disconnect => {
                    let mut sessions = shared.sessions();
                    let mut state = session.lock();
                    if state.epoch == entry.epoch && state.receiver.is_none() {
                        state.end(CloseReason::TimedOut);
                        drop(state);
                        forget(&mut sessions, &session);
                    }
                }
            }
        }
    }

    /// Drives the endpoint's timers until the endpoint is dropped: sleeps
    /// until the next deadline (or until an earlier one is set), then
    /// calls [`Endpoint::handle_timeout`].
    ///
    /// `clock` reads the current time and `sleep_until` returns a future
    /// that completes at a given instant, so this works on any runtime;
    /// with tokio: `endpoint.run_timers(Instant::now, |at|
    /// tokio::time::sleep_until(at.into()))`. The future holds only a weak
    /// reference to the endpoint.
    pub fn run_timers<C, S, F>(&self, clock: C, sleep_until: S) -> impl Future<Output = ()> + Send + 'static
    where
        C: Fn() -> Instant + Send + 'static,
        S: Fn(Instant) -> F + Send + 'static,
        F: Future<Output = ()> + Send,
    {
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        async move {
            loop {
                let Some(shared) = weak.upgrade() else { return };
                let deadline = Endpoint { shared }.poll_timeout();
                let sleep = deadline.map(&sleep_until);
                let mut sleep = std::pin::pin!(async move {
                    match sleep {
                        Some(sleep) => sleep.await,
                        None => std::future::pending().await,
                    }
                });
                std::future::poll_fn(|cx| {
                    if sleep.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(());
                    }
                    match weak.upgrade() {
                        Some(shared) if !shared.timers().poll_changed(cx) => Poll::Pending,
                        _ => Poll::Ready(()),
                    }
                })
                .await;
                let Some(shared) = weak.upgrade() else { return };
                Endpoint { shared }.handle_timeout(clock());
            }
        }
    }

    /// The number of live sessions in the registry (HTTP transports only;
    /// websocket sessions are tied to their connection).
    pub fn session_count(&self) -> usize {
        self.shared.sessions().len()
    }

    /// Closes every open session with `code` and `reason`: receivers get
    /// the close frame, then their responses end; websockets get it and
    /// then a close frame.
    pub fn close_all(&self, code: u16, reason: &str) {
        for session in self.open_sessions() {
            session.lock().close(code, reason);
        }
    }

    /// Closes every open session for a shutdown, with `c[1001,"Server
    /// shutting down"]` (websockets then get a 1001 close frame), and
    /// [`CloseReason::Shutdown`] as the reason. Call it before stopping the
    /// server, and give the close frames a moment to go out.
    pub fn shutdown(&self) {
        for session in self.open_sessions() {
            session.lock().close_as(1001, "Server shutting down", CloseReason::Shutdown);
        }
    }

    fn open_sessions(&self) -> Vec<Arc<SessionCell>> {
        let mut all: Vec<_> = self.shared.sessions().values().cloned().collect();
        let websockets = self.shared.websockets.lock().unwrap_or_else(|p| p.into_inner());
        all.extend(websockets.values().filter_map(Weak::upgrade));
        all
    }

    #[cfg(test)]
    pub(crate) fn timers_point_at(&self, session: &std::sync::Weak<SessionCell>) -> bool {
        self.shared.timers().points_at(session)
    }

    #[cfg(test)]
    pub(crate) fn timer_entries(&self) -> usize {
        self.shared.timers().len()
    }
}

/// A send request (`xhr_send` or `jsonp_send`) waiting for its body.
pub struct PendingBody {
    endpoint: Arc<Shared>,
    id: Box<str>,
    jsonp: bool,
    content_type: Option<HeaderValue>,
    headers: HeaderMap,
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
        self.endpoint.options.max_payload
    }

    /// Answers a body over [`PendingBody::limit`] with 413.
    pub fn too_large(self) -> Response<Bytes> {
        self.error(StatusCode::PAYLOAD_TOO_LARGE, PayloadError::TooLarge)
    }

    /// Delivers the messages in `body` to the session and returns the
    /// response (PROTOCOL.md §7.5, §7.9, §11).
    pub fn finish(self, body: &[u8]) -> Response<Bytes> {
        if body.len() > self.limit() {
            return self.too_large();
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
            Err(e) => return self.error(StatusCode::INTERNAL_SERVER_ERROR, e),
        };
        let session = self.endpoint.sessions().get(&*self.id).cloned();
        let Some(session) = session else {
            self.endpoint.counters.rejected();
            return not_found(self.headers);
        };
        session.lock().deliver(messages);
        let h = with_content_type(self.headers, headers::TEXT_PLAIN);
        if self.jsonp {
            response(StatusCode::OK, h, Bytes::from_static(b"ok"))
        } else {
            response(StatusCode::NO_CONTENT, h, Bytes::new())
        }
    }

    fn error(self, status: StatusCode, error: PayloadError) -> Response<Bytes> {
        self.endpoint.counters.rejected();
        tracing::debug!(target: "sockjs", session = %self.id, status = status.as_u16(), %error, "send rejected");
        let h = with_content_type(self.headers, headers::TEXT_PLAIN);
        response(status, h, Bytes::from_static(error.message().as_bytes()))
    }
}

/// Removes `session` from the registry, unless its id now names another
/// (newer) session.
pub(crate) fn forget(sessions: &mut HashMap<Box<str>, Arc<SessionCell>>, session: &Arc<SessionCell>) {
    let id = &session.info.id;
    if sessions.get(id).is_some_and(|s| Arc::ptr_eq(s, session)) {
        sessions.remove(id);
    }
}

/// 403 for a disallowed origin.
fn forbidden(h: HeaderMap) -> Response<Bytes> {
    error_status(StatusCode::FORBIDDEN, h)
}

/// An error status with its reason phrase as the body.
fn error_status(status: StatusCode, h: HeaderMap) -> Response<Bytes> {
    let h = with_content_type(h, headers::TEXT_PLAIN);
    let body = format!("{}\n", status.canonical_reason().unwrap_or("Error"));
    response(status, h, Bytes::from(body))
}

fn response(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn with_content_type(mut h: HeaderMap, content_type: HeaderValue) -> HeaderMap {
    h.insert(header::CONTENT_TYPE, content_type);
    h
}

fn text(status: StatusCode, content_type: HeaderValue, body: &'static str) -> Response<Bytes> {
    response(status, with_content_type(HeaderMap::new(), content_type), Bytes::from_static(body.as_bytes()))
}

/// The standard 404, keeping the headers the URL normally carries (§11).
fn not_found(h: HeaderMap) -> Response<Bytes> {
    let h = with_content_type(h, headers::TEXT_PLAIN);
    response(StatusCode::NOT_FOUND, h, Bytes::from_static(NOT_FOUND_BODY.as_bytes()))
}

/// 503 when the endpoint holds `max_sessions` sessions.
fn service_unavailable(h: HeaderMap) -> Response<Bytes> {
    let h = with_content_type(h, headers::TEXT_PLAIN);
    response(StatusCode::SERVICE_UNAVAILABLE, h, Bytes::from_static(b"Too many sessions.\n"))
}

/// 405 with `Allow`, no `Content-Type` and an empty body (§3).
fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut h = HeaderMap::new();
    h.insert(header::ALLOW, HeaderValue::from_static(allow));
    response(StatusCode::METHOD_NOT_ALLOWED, h, Bytes::new())
}

/// 64-bit FNV-1a, for a stable ETag.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}
