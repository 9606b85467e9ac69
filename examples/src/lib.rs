//! The reference SockJS service of PROTOCOL.md §1 (echo, close,
//! disabled_websocket_echo, cookie_needed_echo, ticker, amplify,
//! broadcast), shared by the `test-server` binary and the tests, plus
//! `/push`, a push-only service the benchmarks flood, `/rooms`, the rooms
//! benchmarks' service (see [`rooms`]), and `/multiplex`,
//! websocket-multiplex channels that are rooms (none is part of §1).
//!
//! Citations such as `PROTOCOL.md §7.4` (or `§7.4` alone) in this crate's
//! documentation and sources name sections of `docs/PROTOCOL.md` in the
//! sockjs-rs repository; `DESIGN.md §1.4` names a section of
//! `docs/DESIGN.md`.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockjs_core::multiplex::{Channel, Multiplex};
use sockjs_core::{Endpoint, Jsessionid, Message, Options, Session};

mod axum_server;
mod metrics;
mod page;
pub mod tls;
mod tokio_server;
mod warp_server;
pub use axum_server::{axum_router, hyper_builder, serve_axum, serve_axum_with, serve_axum_with_static};
pub use metrics::{install_recorder, serve_metrics, SESSION_DURATION_BUCKETS};
pub use page::{serve_page, PageArgs};
pub use tokio_server::{AxumServer, TokioServer, WarpServer};
pub use warp_server::{serve_warp, serve_warp_with, serve_warp_with_static};

/// How long a connection may take to send a whole request head, counted
/// from its opening or from the end of its previous response; after that
/// the server closes it. This bounds stalled request heads and idle
/// keep-alive connections (DESIGN.md §1.4: everything a peer can fill
/// has a bound).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How a reference server runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Worker threads.
    pub workers: usize,
    /// Files served at `/static/...` (the browser tests' page), if any.
    pub static_dir: Option<PathBuf>,
    /// See [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Serve HTTPS (and WSS) with this configuration instead of plain
    /// HTTP; see the [`tls`] module. Each server sets the ALPN protocols
    /// it speaks.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl ServeOptions {
    /// `workers` threads, no static files, [`REQUEST_TIMEOUT`], no TLS.
    pub fn new(workers: usize) -> ServeOptions {
        ServeOptions { workers, static_dir: None, request_timeout: REQUEST_TIMEOUT, tls: None }
    }
}

/// The endpoints of the reference service; `sockjs_url` is the client URL
/// the iframe page loads.
pub fn reference_endpoints(sockjs_url: &str) -> Vec<Endpoint> {
    reference_endpoints_with(|options| options.sockjs_url(sockjs_url))
}

/// The endpoints of the reference service, each with its options passed
/// through `adjust` first (the client URL, a heartbeat delay, ...).
pub fn reference_endpoints_with(adjust: impl Fn(Options) -> Options) -> Vec<Endpoint> {
    let options = |prefix: &str| adjust(Options::new(prefix));
    vec![
        Endpoint::new(options("/echo").response_limit(4096), echo),
        Endpoint::new(options("/close"), close),
        Endpoint::new(options("/disabled_websocket_echo").websocket(false), echo),
        Endpoint::new(options("/cookie_needed_echo").jsessionid(Jsessionid::On), echo),
        Endpoint::new(options("/ticker"), ticker),
        Endpoint::new(options("/amplify"), amplify),
        Endpoint::new(options("/broadcast"), Broadcast::default().handler()),
        // Not a PROTOCOL.md §1 service: the target of the benchmarks'
        // inbound floods (BENCHMARKS.md, "Floods and poll rate").
        Endpoint::new(options("/push"), push),
        // Not a PROTOCOL.md §1 service: the rooms benchmarks' target
        // (BENCHMARKS.md, room-fanout and room-cross-node).
        Endpoint::new(options("/rooms"), rooms),
        // websocket-multiplex channels, each the room of its name, through
        // the endpoint's rooms (a shared registry with a broker spans nodes).
        Endpoint::new(options("/multiplex"), multiplex()),
    ]
}

/// The `/multiplex` service: websocket-multiplex channels of any name,
/// each the room of its name. What one subscriber of channel `X` sends,
/// every subscriber of `X` receives (the sender too), on this node and,
/// when the endpoint's rooms have a broker, on every node.
pub fn multiplex() -> Multiplex {
    Multiplex::new().fallback(|mut channel: Channel| async move {
        if channel.join(channel.topic()).is_err() {
            return;
        }
        let rooms = channel.room_registry();
        while let Some(text) = channel.recv().await {
            if rooms.to(channel.topic()).send(&text).is_err() {
                break;
            }
        }
    })
}

/// Echoes every message back.
pub async fn echo(mut session: Session) {
    while let Some(message) = session.recv().await {
        if session.send(message).is_err() {
            break;
        }
    }
}

/// Closes every session at once with `3000 "Go away!"`.
pub async fn close(session: Session) {
    session.close(3000, "Go away!");
}

/// Sends `tick!` every second, the first one second after open.
pub async fn ticker(session: Session) {
    let mut interval =
        tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        interval.tick().await;
        if session.send("tick!").is_err() {
            break;
        }
    }
}

/// A push-only application: sends `tick!` every second and never takes a
/// message, so whatever a client sends stays in the session's inbox (up to
/// `Options::max_inbox`). Holds its `Session` until a send fails, that is
/// until the session is closed or expires.
pub async fn push(session: Session) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        if session.send("tick!").is_err() {
            break;
        }
    }
}

/// The `/rooms` service, the target of the rooms benchmarks: a session's
/// first message is the name of the one room it joins, answered with
/// `joined` (to that session only) once it is a member; every later
/// message goes to every other member of that room, on this node and, when
/// the endpoint's rooms have a broker (`test-server --redis`, `--nats`),
/// on every node. A name the rooms refuse (empty, longer than
/// `MAX_ROOM_NAME`) closes the session with `3000 "cannot join"`; a
/// message the rooms refuse ends it.
pub async fn rooms(mut session: Session) {
    let Some(room) = session.recv().await else { return };
    if session.join(&room).is_err() {
        session.close(3000, "cannot join");
        return;
    }
    if session.send("joined").is_err() {
        return;
    }
    while let Some(text) = session.recv().await {
        if session.to(&room).send(&text).is_err() {
            break;
        }
    }
}

/// Replies to a message `n` with `2^n` `x` characters (n in 1..=18,
/// anything else counts as 1).
pub async fn amplify(mut session: Session) {
    while let Some(message) = session.recv().await {
        let n = message.trim().parse::<f64>().map(f64::floor).ok().filter(|n| (1.0..=18.0).contains(n));
        let n = n.map_or(1, |n| n as u32);
        if session.send("x".repeat(1 << n)).is_err() {
            break;
        }
    }
}

/// Sends every message of any session to every open session.
#[derive(Clone, Default)]
pub struct Broadcast {
    members: Arc<Mutex<HashMap<u64, Session>>>,
    next: Arc<AtomicU64>,
}

impl Broadcast {
    /// The session handler that joins the broadcast.
    pub fn handler(
        self,
    ) -> impl Fn(Session) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync {
        move |session| Box::pin(self.clone().join(session))
    }

    async fn join(self, mut session: Session) {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.members.lock().unwrap_or_else(|p| p.into_inner()).insert(key, session.clone());
        while let Some(text) = session.recv().await {
            let message = Message::new(&text);
            let members = self.members.lock().unwrap_or_else(|p| p.into_inner());
            for member in members.values() {
                let _ = member.send_message(&message);
            }
        }
        self.members.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
    }
}

/// A running actix server; stopped when dropped.
pub struct ActixServer {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl ActixServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs until the server stops.
    pub fn wait(mut self) -> std::io::Result<()> {
        self.thread.take().map_or(Ok(()), |t| t.join().unwrap_or(Ok(())))
    }
}

impl Drop for ActixServer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let handle = self.handle.clone();
            std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false))).join().ok();
            let _ = thread.join();
        }
    }
}

/// Serves `endpoints` with actix-web on `listener`, on a thread of its own.
pub fn serve_actix(listener: TcpListener, endpoints: Vec<Endpoint>, workers: usize) -> std::io::Result<ActixServer> {
    serve_actix_with_static(listener, endpoints, workers, None)
}

/// Like [`serve_actix`], and when `static_dir` is given also serves the
/// files under it at `/static/...` (GET only; no directory listings, no
/// `.`-names). The browser tests use it to serve their page and
/// sockjs-client from the SockJS server's own origin.
pub fn serve_actix_with_static(
    listener: TcpListener,
    endpoints: Vec<Endpoint>,
    workers: usize,
    static_dir: Option<PathBuf>,
) -> std::io::Result<ActixServer> {
    serve_actix_with(listener, endpoints, ServeOptions { static_dir, ..ServeOptions::new(workers) })
}

/// Serves `endpoints` with actix-web on `listener` as `options` say.
pub fn serve_actix_with(
    listener: TcpListener,
    endpoints: Vec<Endpoint>,
    options: ServeOptions,
) -> std::io::Result<ActixServer> {
    let ServeOptions { workers, static_dir, request_timeout, tls } = options;
    let addr = listener.local_addr()?;
    let services: Vec<sockjs_actix::SockJs> = endpoints.into_iter().map(sockjs_actix::SockJs::from_endpoint).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                let app = services.iter().cloned().fold(actix_web::App::new(), |app, service| app.service(service));
                match static_dir.clone() {
                    Some(dir) => app.route(
                        "/static/{path:.*}",
                        actix_web::web::get().to(move |req: actix_web::HttpRequest| static_file(dir.clone(), req)),
                    ),
                    None => app,
                }
            })
            .workers(workers)
            // The first request head, and each later one after an idle
            // keep-alive wait, must arrive within the timeout.
            .client_request_timeout(request_timeout)
            .keep_alive(request_timeout)
            .h1_allow_half_closed(false)
            // A websocket ends with the server's FIN at once (RFC 6455
            // §7.1.1), not after actix's linger of unread input.
            .client_disconnect_timeout(std::time::Duration::ZERO)
            .on_connect(sockjs_actix::on_connect);
            let server = match tls {
                None => server.listen(listener)?,
                // actix-web puts h2 and http/1.1 first in the ALPN list
                // itself; on_connect sees a TLS stream, not the TcpStream,
                // hence tcp_nodelay.
                Some(config) => server
                    .tcp_nodelay(true)
                    .tls_handshake_timeout(request_timeout)
                    .listen_rustls_0_23(listener, tls::with_alpn(&config, &[]))?,
            };
            let server = server.run();
            let _ = tx.send(server.handle());
            server.await
        })
    });
    let handle = rx.recv().map_err(|_| std::io::Error::other("the server did not start"))?;
    Ok(ActixServer { addr, handle, thread: Some(thread) })
}

/// One file under `dir`, named by the request's `{path}`; 404 for anything
/// that is not a plain relative file name.
async fn static_file(dir: PathBuf, req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    let not_found =
        || actix_web::HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("Not found\n");
    let Some((path, content_type)) = static_path(&dir, req.match_info().query("path")) else {
        return not_found();
    };
    match actix_web::web::block(move || std::fs::read(path)).await {
        Ok(Ok(body)) => actix_web::HttpResponse::Ok()
            .content_type(content_type)
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        _ => not_found(),
    }
}

/// The same for axum.
async fn static_response(dir: PathBuf, relative: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let not_found = || {
        (axum::http::StatusCode::NOT_FOUND, [("content-type", "text/plain; charset=utf-8")], "Not found\n")
            .into_response()
    };
    let Some((path, content_type)) = static_path(&dir, &relative) else {
        return not_found();
    };
    match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(body)) => ([("content-type", content_type), ("cache-control", "no-store")], body).into_response(),
        _ => not_found(),
    }
}

/// The file under `dir` named by `relative` and its content type; `None`
/// for anything that is not a plain relative file name (no directory
/// listings, no `.`-names).
fn static_path(dir: &std::path::Path, relative: &str) -> Option<(PathBuf, &'static str)> {
    if relative.is_empty()
        || relative.split('/').any(|part| part.is_empty() || part.starts_with('.') || part.contains('\\'))
    {
        return None;
    }
    let path = dir.join(relative);
    let content_type = match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "application/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json; charset=utf-8",
        _ => "application/octet-stream",
    };
    Some((path, content_type))
}
