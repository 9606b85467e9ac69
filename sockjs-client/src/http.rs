//! The HTTP transports: xhr-streaming, eventsource and xhr-polling
//! receivers (PROTOCOL.md §7.4, §7.6, §7.7), and `xhr_send` (§7.5), over
//! hyper-util's pooled HTTP/1.1 client (over TLS for `https://`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use tokio::task::AbortHandle;

use crate::frame::{encode_messages, EventStreamParser, Frame, LineSplitter};
use crate::session::{close_now, run_receiver, Inbound, Limits, Next, Outbox, Parts, Shared};
use crate::socket::{Connector, Tls};
use crate::{Close, Error, Transport};

/// Cookies kept: at most this many, each at most `MAX_COOKIE` bytes.
const MAX_COOKIES: usize = 16;
const MAX_COOKIE: usize = 4096;

/// Largest body read from `/info` or an `xhr_send` answer.
const MAX_SMALL_BODY: usize = 64 * 1024;

/// A receiving response that carries no frame at all, this many times
/// in a row, is a broken server, not a slow one.
const MAX_EMPTY_RESPONSES: u32 = 3;

/// The pooled HTTP client and the cookies the server set, shared by
/// every connection of a [`Client`](crate::Client).
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: hyper_util::client::legacy::Client<Connector, Full<Bytes>>,
    /// `name=value` pairs from `Set-Cookie` (JSESSIONID, a load
    /// balancer's), sent back on every request.
    jar: Arc<Mutex<Vec<(String, String)>>>,
}

impl HttpClient {
    pub(crate) fn new(tls: Option<Tls>) -> HttpClient {
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(Connector::new(tls));
        HttpClient { client, jar: Arc::default() }
    }

    /// The same cookie jar, with connections made another way.
    #[cfg(feature = "rustls")]
    pub(crate) fn with_tls(&self, tls: Option<Tls>) -> HttpClient {
        HttpClient { jar: self.jar.clone(), ..HttpClient::new(tls) }
    }

    /// The `Cookie` header to send, if any cookie was set.
    pub(crate) fn cookies(&self) -> Option<HeaderValue> {
        let jar = self.jar.lock().unwrap_or_else(|p| p.into_inner());
        if jar.is_empty() {
            return None;
        }
        let line: Vec<String> = jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
        HeaderValue::from_str(&line.join("; ")).ok()
    }

    fn keep_cookies(&self, headers: &HeaderMap) {
        let mut jar = self.jar.lock().unwrap_or_else(|p| p.into_inner());
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else { continue };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() || name.len() + value.len() > MAX_COOKIE {
                continue;
            }
            if let Some(slot) = jar.iter_mut().find(|(n, _)| n == name) {
                slot.1 = value.to_owned();
            } else if jar.len() < MAX_COOKIES {
                jar.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    /// One request with the caller's headers and the cookies.
    async fn request(
        &self,
        method: Method,
        uri: Uri,
        headers: &HeaderMap,
        body: Option<(String, &'static str)>,
    ) -> Result<Response<Incoming>, Error> {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(map) = request.headers_mut() {
            for (name, value) in headers {
                map.append(name, value.clone());
            }
            if let Some(cookies) = self.cookies() {
                map.insert(COOKIE, cookies);
            }
            if let Some((_, content_type)) = &body {
                map.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            }
        }
        let body = Full::new(body.map(|(text, _)| Bytes::from(text)).unwrap_or_default());
        let request = request.body(body).map_err(|e| Error::Http(e.to_string()))?;
        let response = self.client.request(request).await?;
        self.keep_cookies(response.headers());
        Ok(response)
    }

    /// `GET uri`, which must answer 200 with a small body.
    pub(crate) async fn get_small(&self, uri: Uri, headers: &HeaderMap) -> Result<Bytes, Error> {
        let response = self.request(Method::GET, uri, headers, None).await?;
        if response.status() != 200 {
            return Err(Error::Status { request: "/info", status: response.status().as_u16() });
        }
        read_small(response).await
    }
}

async fn read_small(response: Response<Incoming>) -> Result<Bytes, Error> {
    Limited::new(response.into_body(), MAX_SMALL_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| Error::Http(format!("reading a response body: {e}")))
}

/// What a connection's HTTP tasks need.
struct Ctx {
    http: HttpClient,
    headers: HeaderMap,
    limits: Limits,
    shared: Arc<Shared>,
}

/// Starts the receiver and the `xhr_send` sender of an HTTP transport,
/// with `headers` on every request; `uri(suffix)` is the URL of the
/// session's `suffix` (`xhr`, `xhr_send`, ...).
pub(crate) fn spawn(
    http: &HttpClient,
    headers: &HeaderMap,
    uri: impl Fn(&str) -> Uri,
    transport: Transport,
    parts: Parts,
) -> Vec<AbortHandle> {
    let Parts { shared, inbound, outbox, limits } = parts;
    let suffix = match transport {
        Transport::XhrStreaming => "xhr_streaming",
        Transport::EventSource => "eventsource",
        Transport::XhrPolling | Transport::WebSocket => "xhr",
    };
    let receive_uri = uri(suffix);
    let send_uri = uri("xhr_send");
    let ctx = Arc::new(Ctx { http: http.clone(), headers: headers.clone(), limits, shared });
    let receiver =
        tokio::spawn(run_receiver(ctx.shared.clone(), receive(ctx.clone(), transport, receive_uri, inbound)));
    let sender = tokio::spawn(send(ctx, send_uri, outbox));
    vec![receiver.abort_handle(), sender.abort_handle()]
}

/// Splits a receiving response's body into frames.
enum Parser {
    Lines(LineSplitter),
    Events(EventStreamParser),
}

impl Parser {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Frame>, Error> {
        match self {
            Parser::Lines(p) => p.push(chunk),
            Parser::Events(p) => p.push(chunk),
        }
    }

    fn has_partial(&self) -> bool {
        match self {
            Parser::Lines(p) => p.has_partial(),
            Parser::Events(p) => p.has_partial(),
        }
    }
}

/// The receiving side: one request after another (a poll answers one
/// frame; a stream ends at the server's response_limit), until a close
/// frame or an error.
async fn receive(ctx: Arc<Ctx>, transport: Transport, uri: Uri, mut inbound: Inbound) -> Result<(), Error> {
    let idle = ctx.limits.idle_timeout;
    let timed_out = |waiting_for| Error::Timeout { waiting_for, after: idle };
    let mut empty = 0;
    loop {
        ctx.shared.receive_requests.fetch_add(1, Ordering::Relaxed);
        let (method, headers) = match transport {
            Transport::EventSource => {
                let mut headers = ctx.headers.clone();
                headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
                (Method::GET, headers)
            }
            _ => (Method::POST, ctx.headers.clone()),
        };
        let response = tokio::time::timeout(idle, ctx.http.request(method, uri.clone(), &headers, None))
            .await
            .map_err(|_| timed_out("a receiving response"))??;
        if response.status() != 200 {
            return Err(Error::Status { request: "the receiving request", status: response.status().as_u16() });
        }
        let mut parser = match transport {
            Transport::EventSource => Parser::Events(EventStreamParser::new(ctx.limits.max_frame)),
            _ => Parser::Lines(LineSplitter::new(ctx.limits.max_frame)),
        };
        let mut body = response.into_body();
        let mut frames_seen = 0;
        loop {
            let next = tokio::time::timeout(idle, body.frame()).await.map_err(|_| timed_out("a frame"))?;
            let Some(next) = next else { break };
            let Ok(data) = next?.into_data() else { continue };
            for frame in parser.push(&data)? {
                if frame != Frame::Prelude {
                    frames_seen += 1;
                }
                if !inbound.take(frame).await? {
                    return Ok(());
                }
            }
        }
        if parser.has_partial() {
            return Err(Error::Protocol("a receiving response ended in the middle of a frame".into()));
        }
        empty = if frames_seen == 0 { empty + 1 } else { 0 };
        if empty >= MAX_EMPTY_RESPONSES {
            return Err(Error::Protocol(format!("{empty} receiving responses in a row carried no frame")));
        }
    }
}

/// The sending side: one `xhr_send` in flight, carrying everything that
/// queued meanwhile.
async fn send(ctx: Arc<Ctx>, uri: Uri, mut outbox: Outbox) {
    let shared = &ctx.shared;
    loop {
        match outbox.next(shared).await {
            Next::Stop => return,
            Next::Close(command) => return close_now(shared, command),
            Next::Batch { messages, permits, then_close } => {
                shared.send_requests.fetch_add(1, Ordering::Relaxed);
                let body = encode_messages(&messages);
                let limit = ctx.limits.request_timeout;
                let result = tokio::select! {
                    () = shared.ended() => return,
                    r = tokio::time::timeout(limit, post_send(&ctx, uri.clone(), body)) => {
                        r.unwrap_or(Err(Error::Timeout { waiting_for: "an xhr_send answer", after: limit }))
                    }
                };
                if let Err(e) = result {
                    return shared.finish(Close::sending_error(e));
                }
                shared.messages_sent.fetch_add(messages.len() as u64, Ordering::Relaxed);
                drop(permits);
                if let Some(command) = then_close {
                    return close_now(shared, command);
                }
            }
        }
    }
}

async fn post_send(ctx: &Ctx, uri: Uri, body: String) -> Result<(), Error> {
    let body = Some((body, "text/plain;charset=UTF-8"));
    let response = ctx.http.request(Method::POST, uri, &ctx.headers, body).await?;
    let status = response.status().as_u16();
    // Read the (empty) body so that the connection goes back to the pool.
    read_small(response).await?;
    match status {
        204 | 200 => Ok(()),
        status => Err(Error::Status { request: "xhr_send", status }),
    }
}
