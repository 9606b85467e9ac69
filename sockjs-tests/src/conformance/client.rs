//! What a SockJS client does, step by step: polls, sends, streams and
//! websockets, each returning a [`Failure`] when the server strays.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::http1::{Connection, Request, Response, ResponseHead, CONNECT_TIMEOUT};

use super::{bytes_eq, show, status, CheckResult, Failure, Target};

/// `POST <session>/xhr`.
pub(crate) async fn xhr(t: &Target, session: &str) -> Result<Response, Failure> {
    t.fetch(Request::post(&format!("{session}/xhr"))).await
}

/// `POST <session>/xhr_send` with `Content-Type: text/plain`.
pub(crate) async fn xhr_send(t: &Target, session: &str, body: &str) -> Result<Response, Failure> {
    t.fetch(Request::post(&format!("{session}/xhr_send")).header("Content-Type", "text/plain").body(body)).await
}

/// A poll that must answer 200 with exactly `expected` as body.
pub(crate) async fn poll_expect(t: &Target, session: &str, expected: &str) -> CheckResult {
    let r = xhr(t, session).await?;
    status(&r, 200)?;
    bytes_eq("xhr poll body", &r.body, expected.as_bytes())
}

/// Opens a session with an xhr poll that must answer `o\n`.
pub(crate) async fn open_xhr(t: &Target, session: &str) -> CheckResult {
    poll_expect(t, session, "o\n").await
}

/// An `xhr_send` that must answer 204.
pub(crate) async fn send_ok(t: &Target, session: &str, body: &str) -> CheckResult {
    let r = xhr_send(t, session, body).await?;
    status(&r, 204)
}

/// Sends `request` on a fresh connection and reads only the head, leaving
/// the body (a stream) to the caller.
pub(crate) async fn stream(t: &Target, request: Request) -> Result<(ResponseHead, Connection), Failure> {
    let mut conn = t.open(request).await?;
    let head = conn.read_head().await?;
    Ok((head, conn))
}

/// The next data chunk; the end of the body is a failure.
pub(crate) async fn chunk(conn: &mut Connection, what: &str) -> Result<Vec<u8>, Failure> {
    match conn.read_chunk().await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Failure(format!("response ended while waiting for {what}"))),
        Err(e) => Err(Failure(format!("waiting for {what}: {e}"))),
    }
}

/// The next chunk must be exactly `expected`.
pub(crate) async fn expect_chunk(conn: &mut Connection, expected: &[u8], what: &str) -> CheckResult {
    let got = chunk(conn, what).await?;
    bytes_eq(what, &got, expected)
}

/// The next thing on a chunked body must be the terminating chunk.
pub(crate) async fn expect_end(conn: &mut Connection, what: &str) -> CheckResult {
    match conn.read_chunk().await {
        Ok(None) => Ok(()),
        Ok(Some(c)) => Err(Failure(format!("expected the end of the response {what}, got another chunk {}", show(&c)))),
        Err(e) => Err(Failure(format!("waiting for the end of the response {what}: {e}"))),
    }
}

/// A streaming response must be 200 and chunked.
pub(crate) fn streaming_head(head: &ResponseHead) -> CheckResult {
    if head.status != 200 {
        return Err(Failure(format!("expected status 200, got {}", head.status)));
    }
    if head.framing("GET").ok() != Some(crate::http1::Framing::Chunked) {
        return Err(Failure("a streaming response over HTTP/1.1 must use chunked encoding".into()));
    }
    Ok(())
}

/// The 2048 × `h` + `\n` xhr_streaming prelude.
pub(crate) fn prelude() -> Vec<u8> {
    let mut p = vec![b'h'; 2048];
    p.push(b'\n');
    p
}

/// Opens `POST <session>/xhr_streaming` and checks head, prelude and the
/// next chunk being `first` (usually `o\n`).
pub(crate) async fn open_xhr_streaming(t: &Target, session: &str, first: &[u8]) -> Result<Connection, Failure> {
    let (head, mut conn) = stream(t, Request::post(&format!("{session}/xhr_streaming"))).await?;
    streaming_head(&head)?;
    expect_chunk(&mut conn, &prelude(), "the 2049-byte prelude").await?;
    expect_chunk(&mut conn, first, "the first frame").await?;
    Ok(conn)
}

/// A client websocket over plain TCP.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Bound on websocket reads unless told otherwise.
pub(crate) const WS_TIMEOUT: Duration = Duration::from_secs(4);

/// Opens an RFC 6455 websocket to `path` (relative to the prefix) with
/// extra request headers.
pub(crate) async fn ws_connect_with(t: &Target, path: &str, headers: &[(&'static str, &str)]) -> Result<Ws, Failure> {
    let mut request = t.ws_url(path).into_client_request()?;
    for (name, value) in headers {
        let value = value.parse().map_err(|_| Failure(format!("bad header value {value:?}")))?;
        request.headers_mut().insert(*name, value);
    }
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&t.addr))
        .await
        .map_err(|_| Failure("TCP connect timed out".into()))??;
    tcp.set_nodelay(true)?;
    let (ws, _response) = tokio::time::timeout(WS_TIMEOUT, tokio_tungstenite::client_async(request, tcp))
        .await
        .map_err(|_| Failure("websocket handshake timed out".into()))??;
    Ok(ws)
}

/// Opens an RFC 6455 websocket to `path` (relative to the prefix).
pub(crate) async fn ws_connect(t: &Target, path: &str) -> Result<Ws, Failure> {
    ws_connect_with(t, path, &[]).await
}

/// Something that happened on a websocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WsEvent {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping (only from [`ws_next_raw`]).
    Ping,
    /// A close frame with its code and reason, if it had any.
    Close(Option<(u16, String)>),
    /// The connection ended (TCP closed, with or without a close frame).
    End,
    /// Nothing within the time given.
    Idle,
}

/// The next event including pings; pongs are skipped.
pub(crate) async fn ws_next_raw(ws: &mut Ws, limit: Duration) -> Result<WsEvent, Failure> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let next = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Ok(WsEvent::Idle),
            Ok(n) => n,
        };
        return Ok(match next {
            None => WsEvent::End,
            Some(Ok(Message::Text(t))) => WsEvent::Text(t.as_str().to_owned()),
            Some(Ok(Message::Binary(b))) => WsEvent::Binary(b.to_vec()),
            Some(Ok(Message::Ping(_))) => WsEvent::Ping,
            Some(Ok(Message::Pong(_))) | Some(Ok(Message::Frame(_))) => continue,
            Some(Ok(Message::Close(frame))) => {
                WsEvent::Close(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
            }
            Some(Err(tungstenite::Error::ConnectionClosed))
            | Some(Err(tungstenite::Error::AlreadyClosed))
            | Some(Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            ))) => WsEvent::End,
            Some(Err(tungstenite::Error::Io(e)))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                WsEvent::End
            }
            Some(Err(e)) => return Err(e.into()),
        });
    }
}

/// The next event, pings skipped (tungstenite answers them).
pub(crate) async fn ws_next(ws: &mut Ws, limit: Duration) -> Result<WsEvent, Failure> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws_next_raw(ws, left).await? {
            WsEvent::Ping => continue,
            other => return Ok(other),
        }
    }
}

/// The next message must be the text `expected`.
pub(crate) async fn ws_expect_text(ws: &mut Ws, expected: &str) -> CheckResult {
    match ws_next(ws, WS_TIMEOUT).await? {
        WsEvent::Text(t) if t == expected => Ok(()),
        other => Err(Failure(format!("expected text frame {}, got {}", show(expected.as_bytes()), describe(&other)))),
    }
}

/// Sends a text message.
pub(crate) async fn ws_send(ws: &mut Ws, text: &str) -> CheckResult {
    tokio::time::timeout(WS_TIMEOUT, ws.send(Message::text(text)))
        .await
        .map_err(|_| Failure("websocket send timed out".into()))??;
    Ok(())
}

/// After a close frame or the end, the TCP connection must end within
/// `limit` (the client has answered the close by then).
pub(crate) async fn ws_expect_end(ws: &mut Ws, limit: Duration) -> CheckResult {
    loop {
        match ws_next(ws, limit).await? {
            WsEvent::End => return Ok(()),
            WsEvent::Close(_) => continue,
            WsEvent::Idle => {
                return Err(Failure(format!(
                    "the server did not close the TCP connection within {limit:?} after the close handshake"
                )))
            }
            other => return Err(Failure(format!("expected the connection to end, got {}", describe(&other)))),
        }
    }
}

/// Human form of an event for failure messages.
pub(crate) fn describe(e: &WsEvent) -> String {
    match e {
        WsEvent::Text(t) => format!("text frame {}", show(t.as_bytes())),
        WsEvent::Binary(b) => format!("binary frame {}", show(b)),
        WsEvent::Ping => "a ping".into(),
        WsEvent::Close(Some((code, reason))) => format!("close frame {code} {reason:?}"),
        WsEvent::Close(None) => "close frame without code".into(),
        WsEvent::End => "end of connection".into(),
        WsEvent::Idle => "nothing (timed out)".into(),
    }
}

/// A [`Response`] made of a streaming response's head (empty body), so the
/// header expectations apply to it.
pub(crate) fn head_only(head: &ResponseHead) -> Response {
    Response {
        version: head.version.clone(),
        status: head.status,
        reason: head.reason.clone(),
        headers: head.headers.clone(),
        framing: head.framing("GET").unwrap_or(crate::http1::Framing::UntilClose),
        body: Vec::new(),
        chunks: Vec::new(),
    }
}

/// Turns a list of problems into one failure.
pub(crate) fn all_ok(problems: Vec<String>) -> CheckResult {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure(problems.join("; ")))
    }
}
