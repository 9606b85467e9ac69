//! The endpoint: one SockJS service under one prefix, its session registry
//! and its timers.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{request, Method, Response, StatusCode};

use crate::app::{self, AppTask, Handler};
use crate::headers::{self, Cors};
use crate::metrics::Metrics;
use crate::options::{OptionsError, Refusal};
use crate::payload;
use crate::receiver::{Limit, ReceiverBody};
use crate::responses::{
    bad_request, forbidden, method_not_allowed, not_found, refused, response, text, too_many_sessions,
    with_content_type,
};
use crate::rooms::Rooms;
use crate::route::{route, Route, SessionUrl};
use crate::send::PendingBody;
use crate::session::{Hub, SessionInfo};
use crate::state::{CloseReason, Limits};
use crate::transport::{self, Framing};
use crate::upgrade::{self, WebSocketUpgrade};
use crate::{Options, Transport};

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

/// What the adapter must do with a request. Exhaustive: a new case is a
/// compile error in every driver, not a silent fallback.
pub enum Dispatch {
    /// Send this complete response.
    Response(Response<Bytes>),
    /// Read the request body, at most [`PendingBody::limit`] bytes, then
    /// call [`PendingBody::finish`] (or [`PendingBody::too_large`]) and
    /// send the response its [`crate::Delivery`] resolves to.
    ReadBody(PendingBody),
    /// Send the head now, then every chunk of the [`ReceiverBody`] as its
    /// own flushed chunk. If `task` is set, a session was opened and its
    /// application already ran up to its first suspension point: spawn it.
    Stream {
        /// The response head and its streaming body.
        response: Response<ReceiverBody>,
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
    inner: Arc<Inner>,
}

/// What an endpoint holds: its options and pages, the application, and
/// its sessions (the hub: registry, timers, limits, counters).
struct Inner {
    options: Options,
    handler: Arc<dyn Handler>,
    hub: Arc<Hub>,
    rooms: Rooms,
    iframe: Bytes,
    etag: HeaderValue,
    /// Whether a task runs the timers (see [`Endpoint::timer_task`]).
    timers_running: Arc<AtomicBool>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint").field("options", &self.inner.options).finish_non_exhaustive()
    }
}

const IFRAME_TEMPLATE: &str = include_str!("templates/iframe.html");

impl Endpoint {
    /// Creates an endpoint with these options, running `handler` for every
    /// new session.
    ///
    /// # Panics
    ///
    /// When the options fail [`Options::validate`]; see
    /// [`Endpoint::try_new`].
    pub fn new(options: Options, handler: impl Handler) -> Endpoint {
        match Endpoint::try_new(options, handler) {
            Ok(endpoint) => endpoint,
            Err(e) => panic!("{e}"),
        }
    }

    /// Creates an endpoint, or says which option is out of range.
    pub fn try_new(options: Options, handler: impl Handler) -> Result<Endpoint, OptionsError> {
        options.validate()?;
        let iframe = IFRAME_TEMPLATE.replace("SOCKJS_URL", &options.sockjs_url);
        let etag = format!("\"{:016x}\"", fnv1a(iframe.as_bytes()));
        let limits = Limits {
            heartbeat_delay: options.heartbeat_delay,
            disconnect_delay: options.disconnect_delay,
            contention_grace: options.contention_grace,
            send_timeout: options.send_timeout,
            max_queue: options.max_queue,
            max_inbox: options.max_inbox,
            max_payload: options.max_payload,
        };
        let rooms = match &options.rooms {
            Some(rooms) => rooms.clone(),
            None => Rooms::builder().label(&options.prefix).max_message(options.max_queue).build(),
        };
        let hub = Hub::new(
            limits,
            options.max_sessions,
            &options.prefix,
            rooms.core().clone(),
            options.max_rooms_per_session,
            options.websocket_deflate,
        );
        Ok(Endpoint {
            inner: Arc::new(Inner {
                hub: Arc::new(hub),
                rooms,
                options,
                handler: Arc::new(handler),
                iframe: Bytes::from(iframe),
                etag: HeaderValue::from_str(&etag).expect("hex is a valid header value"),
                timers_running: Arc::default(),
            }),
        })
    }

    /// The endpoint's options.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The path prefix the endpoint is served under, such as `/echo`
    /// ([`Options::prefix()`]).
    pub fn prefix(&self) -> &str {
        &self.inner.options.prefix
    }

    /// Whether `path` (raw, without the query) is under this endpoint's
    /// prefix, so that [`Endpoint::handle`] should see the request.
    pub fn matches(&self, path: &str) -> bool {
        let prefix = self.inner.options.prefix.as_str();
        path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Handles one request under the prefix. The body is not needed,
    /// except when [`Dispatch::ReadBody`] asks for it.
    pub fn handle(&self, request: &request::Parts, cx: RequestContext) -> Dispatch {
        let dispatch = self.dispatch(request, cx);
        if let Dispatch::Response(r) = &dispatch {
            if r.status().as_u16() >= 400 {
                self.inner.hub.counters.rejected(r.status().as_u16());
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

    /// The answer to a request under the prefix that never reached
    /// [`Endpoint::handle`] because the server could not convert it (an
    /// invalid URI or header, say): 400, with the CORS and no-cache headers
    /// of the engine's other answers, counted in
    /// [`Metrics::requests_rejected`]. `request` is the request's headers,
    /// as far as the server has them.
    pub fn bad_request(&self, request: &HeaderMap) -> Response<Bytes> {
        let mut h = HeaderMap::new();
        headers::cors(&mut h, request, &self.inner.options, Cors::Echo);
        headers::no_cache(&mut h);
        bad_request(&self.inner.hub.counters, h, "Bad request.")
    }

    /// A snapshot of the endpoint's counters.
    pub fn metrics(&self) -> Metrics {
        let mut metrics = self.inner.hub.counters.snapshot(self.inner.hub.pending_timers());
        metrics.room_publish_failed = self.inner.rooms.publish_failed();
        metrics
    }

    /// The rooms the endpoint's sessions join (see [`crate::rooms`]): its
    /// own registry, or the one given in [`Options::rooms()`].
    pub fn rooms(&self) -> &Rooms {
        &self.inner.rooms
    }

    fn dispatch(&self, request: &request::Parts, cx: RequestContext) -> Dispatch {
        let options = &self.inner.options;
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
        let o = &self.inner.options;
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
        let options = &self.inner.options;
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
        let shared = &self.inner;
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
        if !self.inner.options.is_enabled(transport) {
            return Dispatch::Response(not_found(HeaderMap::new()));
        }
        let secure = headers::secure(request, self.inner.options.trusted_proxies);
        let kind = match upgrade::check_upgrade(request, transport, secure) {
            Ok(kind) => kind,
            Err(message) => return Dispatch::Response(text(StatusCode::BAD_REQUEST, headers::TEXT_PLAIN, message)),
        };
        if !self.origin_allowed(request) {
            return Dispatch::Response(forbidden(HeaderMap::new()));
        }
        if self.inner.hub.full() {
            return Dispatch::Response(refused(too_many_sessions(), HeaderMap::new()));
        }
        match self.session_info(request, &cx, transport, id) {
            Ok(info) => Dispatch::WebSocket(WebSocketUpgrade::new(
                self.inner.hub.clone(),
                self.inner.handler.clone(),
                kind,
                info,
                request,
            )),
            Err(refusal) => Dispatch::Response(refused(refusal, HeaderMap::new())),
        }
    }

    fn origin_allowed(&self, request: &request::Parts) -> bool {
        let origin = request.headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("\u{0}"));
        self.inner.options.origins.allows(origin)
    }

    /// What a new session keeps of its opening request, once the
    /// `authorize` hook (if any) allowed it.
    fn session_info(
        &self,
        request: &request::Parts,
        cx: &RequestContext,
        transport: Transport,
        id: &str,
    ) -> Result<SessionInfo, Refusal> {
        let extensions = match &self.inner.options.authorize {
            Some(authorize) => authorize(request)?,
            None => http::Extensions::new(),
        };
        Ok(SessionInfo {
            id: id.into(),
            transport,
            // Copied, as the headers are: the request's parts may share
            // the server's read buffer (see `headers::owned`).
            uri: request.uri.to_string().parse().unwrap_or_else(|_| request.uri.clone()),
            headers: headers::exposed(&request.headers, &self.inner.options.session_headers),
            remote_addr: headers::client_addr(&request.headers, cx.remote_addr, self.inner.options.trusted_proxies),
            extensions,
        })
    }

    fn session_url(&self, request: &request::Parts, cx: RequestContext, id: &str, kind: SessionUrl) -> Dispatch {
        let options = &self.inner.options;
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
                    hub: self.inner.hub.clone(),
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
            Err(refusal) => return Dispatch::Response(refused(refusal, h)),
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
        info: impl FnOnce() -> Result<SessionInfo, Refusal>,
        framing: Framing,
        prelude: Option<Bytes>,
        now: Instant,
    ) -> Result<(ReceiverBody, Option<AppTask>), Refusal> {
        let hub = &self.inner.hub;
        // The current request's transport decides how its response ends:
        // a session opened by xhr_streaming can be polled through xhr.
        let limit =
            if transport.is_polling() { Limit::Polling } else { Limit::Streaming(self.inner.options.response_limit) };
        if let Some(session) = hub.lookup(id) {
            return Ok((ReceiverBody::joining(&session, framing, limit, prelude, now), None));
        }
        if hub.full() {
            return Err(too_many_sessions());
        }
        let info = info()?;
        // Another request may have opened it while the hook ran.
        let opening = prelude.clone();
        let made = hub.register(id, || {
            let session = hub.create(info, true, false, now);
            let receiver = ReceiverBody::opening(&session, framing.clone(), limit, opening, true, now);
            (session, receiver)
        });
        match made {
            Err(session) => Ok((ReceiverBody::joining(&session, framing, limit, prelude, now), None)),
            Ok((session, receiver)) => Ok((receiver, app::start(&*self.inner.handler, session))),
        }
    }

    /// The earliest deadline at which [`Endpoint::handle_timeout`] has
    /// work to do, if any. The timer queue holds one deadline per session
    /// at most, kept up to date as sessions change.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.inner.hub.next_deadline()
    }

    /// Runs every timer due at `now`: heartbeats, session expiry, and the
    /// waits of second receivers and of sends. Harmless when called early
    /// or more than once. `now` must not go backwards between calls.
    pub fn handle_timeout(&self, now: Instant) {
        self.inner.hub.handle_timeout(now);
    }

    /// Drives the endpoint's timers until the endpoint is dropped: sleeps
    /// until the next deadline (or until an earlier one is set), then
    /// calls [`Endpoint::handle_timeout`].
    ///
    /// `clock` reads the current time and `sleep_until` returns a future
    /// that completes at a given instant, so this works on any runtime;
    /// with tokio: `endpoint.run_timers(Instant::now, |at|
    /// tokio::time::sleep_until(at.into()))`. The future holds only a weak
    /// reference to the endpoint. [`Endpoint::timer_task`] gives it once
    /// per endpoint, and again once that task went away.
    pub fn run_timers<C, S, F>(&self, clock: C, sleep_until: S) -> impl Future<Output = ()> + Send + 'static
    where
        C: Fn() -> Instant + Send + 'static,
        S: Fn(Instant) -> F + Send + 'static,
        F: Future<Output = ()> + Send,
    {
        let weak: Weak<Hub> = Arc::downgrade(&self.inner.hub);
        async move {
            loop {
                let Some(hub) = weak.upgrade() else { return };
                let sleep = hub.next_deadline().map(&sleep_until);
                drop(hub);
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
                        Some(hub) if !hub.poll_deadline_changed(cx) => Poll::Pending,
                        _ => Poll::Ready(()),
                    }
                })
                .await;
                let Some(hub) = weak.upgrade() else { return };
                hub.handle_timeout(clock());
            }
        }
    }

    /// [`Endpoint::run_timers`], unless a task made by an earlier call
    /// still runs: a driver calls this on every request (it costs one
    /// atomic load while the task runs) and spawns what it returns. When
    /// the task is dropped (its runtime or worker stopped), the next call
    /// makes a new one.
    pub fn timer_task<C, S, F>(&self, clock: C, sleep_until: S) -> Option<impl Future<Output = ()> + Send + 'static>
    where
        C: Fn() -> Instant + Send + 'static,
        S: Fn(Instant) -> F + Send + 'static,
        F: Future<Output = ()> + Send,
    {
        let running = &self.inner.timers_running;
        if running.load(Ordering::Acquire) || running.swap(true, Ordering::AcqRel) {
            return None;
        }
        let guard = TimersRunning(running.clone());
        let timers = self.run_timers(clock, sleep_until);
        Some(async move {
            let _guard = guard;
            timers.await;
        })
    }

    /// The number of live sessions, every transport (the same as
    /// [`Metrics::live_sessions`]).
    pub fn session_count(&self) -> usize {
        self.inner.hub.counters.live_total() as usize
    }

    /// Closes every open session with `code` and `reason`: receivers get
    /// the close frame, then their responses end; websockets get it and
    /// then a close frame.
    pub fn close_all(&self, code: u16, reason: &str) {
        let why = || CloseReason::Server { code, reason: reason.to_string() };
        self.inner.hub.close_all(code, reason, why);
    }

    /// Closes every open session for a shutdown, with `c[1001,"Server
    /// shutting down"]` (websockets then get a 1001 close frame), and
    /// [`CloseReason::Shutdown`] as the reason. Call it before stopping the
    /// server, and give the close frames a moment to go out.
    pub fn shutdown(&self) {
        self.inner.hub.close_all(1001, "Server shutting down", || CloseReason::Shutdown);
    }
}

/// 64-bit FNV-1a, for a stable ETag.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Clears the "timers running" flag when the timer task goes away.
struct TimersRunning(Arc<AtomicBool>);

impl Drop for TimersRunning {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
