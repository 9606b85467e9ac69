//! The websocket transport (PROTOCOL.md §7.10): one text frame per SockJS
//! frame, a JSON array per text frame sent.
//!
//! The HTTP/1.1 upgrade goes through hyper's client (`hyper::upgrade`),
//! which parses the 101 answer with its own bounds; sockjs-core's client
//! codec checks that answer, frames and masks (the keys from [`random`]),
//! and compresses with permessage-deflate when the server agreed to the
//! offer.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, COOKIE, HOST};
use http::Uri;
use http_body_util::Empty;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use sockjs_core::client::{ClientCodec, ClientDeflate, Event, Handshake};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::task::AbortHandle;

use crate::client::random;
use crate::frame::{encode_messages, Frame};
use crate::session::{close_now, run_receiver, Command, Inbound, Limits, Next, Outbox, Parts, Shared};
use crate::socket::Tls;
use crate::{Close, Error};

/// How much one read takes from the connection: the bound of the read
/// buffer (the codec holds at most a message, `max_frame_size`, beyond).
const READ_CHUNK: usize = 16 * 1024;

type Io = TokioIo<Upgraded>;

/// An open websocket: the upgraded connection and its codec.
pub(crate) struct Ws {
    io: Io,
    codec: ClientCodec,
}

impl Ws {
    /// The permessage-deflate parameters agreed, if any.
    pub(crate) fn extension(&self) -> Option<&str> {
        self.codec.extension()
    }
}

fn ws_error(e: impl std::fmt::Display) -> Error {
    Error::WebSocket(e.to_string())
}

/// A fresh masking key (RFC 6455 §5.3).
fn mask() -> [u8; 4] {
    (random() as u32).to_ne_bytes()
}

/// Connects (over TLS for `wss://`) and makes the handshake, with the
/// caller's headers and the cookies, offering `deflate` (bounded by the
/// caller's open timeout).
pub(crate) async fn connect(
    uri: Uri,
    headers: &HeaderMap,
    cookies: Option<HeaderValue>,
    tls: Option<&Tls>,
    limits: Limits,
    deflate: Option<&ClientDeflate>,
) -> Result<Ws, Error> {
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let tls = if uri.scheme_str() == Some("wss") { tls } else { None };
    let tcp =
        TcpStream::connect(&authority).await.map_err(|e| Error::WebSocket(format!("connect {authority}: {e}")))?;
    tcp.set_nodelay(true).map_err(ws_error)?;
    let io = crate::socket::connect(tcp, &uri, tls).await.map_err(ws_error)?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io)).await.map_err(ws_error)?;

    let nonce: [u8; 16] = {
        let (a, b) = (random(), random());
        let mut n = [0; 16];
        n[..8].copy_from_slice(&a.to_ne_bytes());
        n[8..].copy_from_slice(&b.to_ne_bytes());
        n
    };
    let handshake = Handshake::new(nonce, deflate.cloned());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http::Request::get(path).body(Empty::new()).map_err(ws_error)?;
    let h = request.headers_mut();
    h.insert(HOST, HeaderValue::from_str(&authority).map_err(ws_error)?);
    for (name, value) in headers {
        h.append(name, value.clone());
    }
    if let Some(cookies) = cookies {
        h.insert(COOKIE, cookies);
    }
    handshake.request_headers(h);

    // The connection's future drives the exchange; it ends once it has
    // read the 101 (handing the connection to the upgrade), which may be
    // before the response future is polled again.
    let mut conn = conn.with_upgrades();
    let mut response = std::pin::pin!(sender.send_request(request));
    let mut conn_done = false;
    let response = tokio::select! {
        response = &mut response => response,
        result = &mut conn => {
            result.map_err(|e| Error::WebSocket(format!("the connection failed during the handshake: {e}")))?;
            conn_done = true;
            response.await
        }
    }
    .map_err(ws_error)?;
    let codec = handshake
        .finish(response.status(), response.headers(), limits.max_frame)
        .map_err(|e| Error::WebSocket(format!("handshake: {e}")))?;
    let upgraded =
        if conn_done { hyper::upgrade::on(response).await } else { tokio::join!(hyper::upgrade::on(response), conn).0 };
    Ok(Ws { io: TokioIo::new(upgraded.map_err(ws_error)?), codec })
}

/// What both tasks of an open websocket share: the codec (the reader
/// decodes, the writer compresses) and the writing half (the reader
/// writes pongs and close answers).
struct Link {
    codec: Mutex<ClientCodec>,
    writer: tokio::sync::Mutex<WriteHalf<Io>>,
}

impl Link {
    fn codec(&self) -> std::sync::MutexGuard<'_, ClientCodec> {
        self.codec.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes one frame, within `limits.request_timeout`. Its bytes are
    /// counted as they are given to the connection, so that the count
    /// already has them when the server's answer to them arrives.
    async fn write(&self, frame: &[u8], shared: &Shared, limits: Limits) -> Result<(), Error> {
        let limit = limits.request_timeout;
        let write = async {
            let mut writer = self.writer.lock().await;
            shared.wire_bytes_sent.fetch_add(frame.len() as u64, Ordering::Relaxed);
            writer.write_all(frame).await?;
            writer.flush().await
        };
        tokio::time::timeout(limit, write)
            .await
            .map_err(|_| Error::Timeout { waiting_for: "a websocket write", after: limit })?
            .map_err(ws_error)
    }
}

/// Starts the reading and the writing task of an open websocket.
pub(crate) fn spawn(ws: Ws, parts: Parts) -> Vec<AbortHandle> {
    let Parts { shared, inbound, outbox, limits } = parts;
    let (reader, writer) = tokio::io::split(ws.io);
    let link = Arc::new(Link { codec: Mutex::new(ws.codec), writer: tokio::sync::Mutex::new(writer) });
    shared.receive_requests.fetch_add(1, Ordering::Relaxed);
    let receiving = receive(reader, link.clone(), inbound, shared.clone(), limits);
    let receiver = tokio::spawn(run_receiver(shared.clone(), receiving));
    let sender = tokio::spawn(send(link, outbox, shared, limits));
    vec![receiver.abort_handle(), sender.abort_handle()]
}

async fn receive(
    mut reader: ReadHalf<Io>,
    link: Arc<Link>,
    mut inbound: Inbound,
    shared: Arc<Shared>,
    limits: Limits,
) -> Result<(), Error> {
    let idle = limits.idle_timeout;
    let mut buffer = vec![0; READ_CHUNK];
    loop {
        loop {
            // The codec's lock is not held past this statement.
            let event = link.codec().next_event();
            let Some(event) = event else { break };
            match event {
                Event::Text(text) => {
                    if !inbound.take(Frame::parse(&text)?).await? {
                        return Ok(());
                    }
                }
                Event::Binary(_) => return Err(Error::Protocol("a binary websocket message".into())),
                // A ping still shows the server is alive (sockjs-node's
                // heartbeat is one).
                Event::Ping(payload) => {
                    let pong = link.codec().pong(&payload, mask());
                    link.write(&pong, &shared, limits).await?;
                }
                Event::Pong => {}
                Event::Close { code, reason } => {
                    // Closed without a c frame (sockjs-node: 3000 "Broken
                    // framing." on bad JSON): sockjs-client reports the
                    // websocket's code and reason. The close is answered
                    // (RFC 6455 §5.5.1), with its code.
                    let answer = link.codec().close(code.unwrap_or(1000), "", mask());
                    let _ = link.write(&answer, &shared, limits).await;
                    shared.finish(Close { code: code.unwrap_or(1005), reason, was_clean: false, error: None });
                    return Ok(());
                }
                Event::Fail { code, reason } => {
                    let close = link.codec().close(code, reason, mask());
                    let _ = link.write(&close, &shared, limits).await;
                    return Err(match code {
                        1009 => Error::FrameTooLarge { limit: limits.max_frame },
                        _ => Error::WebSocket(format!("{reason} ({code})")),
                    });
                }
            }
        }
        let read = tokio::time::timeout(idle, reader.read(&mut buffer))
            .await
            .map_err(|_| Error::Timeout { waiting_for: "a websocket frame", after: idle })?;
        match read {
            Ok(0) => {
                shared.finish(Close {
                    code: 1006,
                    reason: "WebSocket connection broken".into(),
                    was_clean: false,
                    error: None,
                });
                return Ok(());
            }
            Ok(n) => {
                shared.wire_bytes_received.fetch_add(n as u64, Ordering::Relaxed);
                link.codec().receive(&buffer[..n]);
            }
            Err(e) => return Err(ws_error(e)),
        }
    }
}

async fn send(link: Arc<Link>, mut outbox: Outbox, shared: Arc<Shared>, limits: Limits) {
    loop {
        match outbox.next(&shared).await {
            Next::Stop => return,
            Next::Close(command) => return close(&link, command, &shared, limits).await,
            Next::Batch { messages, permits, then_close } => {
                shared.send_requests.fetch_add(1, Ordering::Relaxed);
                let frame = link.codec().text(&encode_messages(&messages), mask());
                let result = tokio::select! {
                    () = shared.ended() => return,
                    r = link.write(&frame, &shared, limits) => r,
                };
                if let Err(e) = result {
                    return shared.finish(Close::sending_error(e));
                }
                shared.messages_sent.fetch_add(messages.len() as u64, Ordering::Relaxed);
                drop(permits);
                if let Some(command) = then_close {
                    return close(&link, command, &shared, limits).await;
                }
            }
        }
    }
}

/// The application's close: a websocket close frame with its code and
/// reason, then the connection ends.
async fn close(link: &Link, command: Command, shared: &Shared, limits: Limits) {
    if let Command::Close { code, reason, .. } = &command {
        let frame = link.codec().close(*code, reason, mask());
        let _ = link.write(&frame, shared, limits).await;
    }
    close_now(shared, command);
}
