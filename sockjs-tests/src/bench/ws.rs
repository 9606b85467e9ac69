//! The websocket clients: connecting (from chosen local addresses), the
//! handshake and open frame, and splitting SockJS frames into messages.
//! [`Ws`] is tokio-tungstenite's; [`CodecWs`] is sockjs-core's sans-IO
//! client codec on a socket, the one that offers permessage-deflate
//! (`--deflate`). Both count the bytes read and written on their sockets
//! ([`wire_bytes`]).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sockjs_core::client::{ClientCodec, ClientDeflate, Event, Handshake};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use super::{session_id, Config};

pub(crate) type Ws = WebSocketStream<Counted<TcpStream>>;

/// Bytes read from and written to every websocket socket of this process.
static WIRE_READ: AtomicU64 = AtomicU64::new(0);
static WIRE_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// (read, written) bytes on the websocket sockets so far.
pub(crate) fn wire_bytes() -> (u64, u64) {
    (WIRE_READ.load(Ordering::Relaxed), WIRE_WRITTEN.load(Ordering::Relaxed))
}

/// A socket whose bytes are counted into [`wire_bytes`].
pub(crate) struct Counted<S>(S);

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.0).poll_read(cx, buf);
        WIRE_READ.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.0).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = result {
            WIRE_WRITTEN.fetch_add(n as u64, Ordering::Relaxed);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

async fn tcp_connect(config: &Config, i: usize) -> Result<TcpStream, String> {
    let stream = if config.source_ips.is_empty() {
        TcpStream::connect(&config.addr).await.map_err(|e| format!("connect: {e}"))?
    } else {
        let server: SocketAddr = config.addr.parse().map_err(|e| format!("address {}: {e}", config.addr))?;
        let local = config.source_ips[i % config.source_ips.len()];
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        socket.bind(SocketAddr::new(local.into(), 0)).map_err(|e| format!("bind {local}: {e}"))?;
        socket.connect(server).await.map_err(|e| format!("connect from {local}: {e}"))?
    };
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Opens a websocket on `path`; with `sockjs`, also waits for the `o`
/// frame. `small` keeps client buffers small (idle sessions by thousands).
pub(crate) async fn ws_open(config: &Config, i: usize, path: &str, sockjs: bool, small: bool) -> Result<Ws, String> {
    let stream = tcp_connect(config, i).await?;
    let mut ws_config = WebSocketConfig::default();
    if small {
        ws_config = ws_config.read_buffer_size(4096).write_buffer_size(0);
    }
    let url = format!("ws://{}{}", config.addr, path);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, Counted(stream), Some(ws_config))
        .await
        .map_err(|e| format!("websocket handshake: {e}"))?;
    if sockjs {
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) if t.as_str() == "o" => {}
            other => return Err(format!("expected the open frame, got {other:?}")),
        }
    }
    Ok(ws)
}

/// The longest handshake answer [`codec_open`] reads.
const MAX_HEAD: usize = 16 * 1024;
/// How much [`CodecWs`] reads at a time.
const READ_CHUNK: usize = 16 * 1024;

/// A masking key (RFC 6455 §5.3): the codec takes its entropy from the caller.
fn mask() -> [u8; 4] {
    sockjs_driver::entropy().to_ne_bytes()
}

/// What [`CodecWs::next`] read.
pub(crate) enum In {
    Text(String),
    Ping,
    Close(Option<u16>),
    Other,
}

/// A websocket framed by sockjs-core's client codec.
pub(crate) struct CodecWs {
    io: Counted<TcpStream>,
    codec: ClientCodec,
    buffer: Vec<u8>,
    out: Vec<u8>,
}

impl CodecWs {
    /// The agreed permessage-deflate parameters, if any.
    pub(crate) fn extension(&self) -> Option<&str> {
        self.codec.extension()
    }

    /// Queues a text message (compressed if agreed and worth it); the
    /// frame's length.
    pub(crate) fn feed(&mut self, text: &str) -> usize {
        let frame = self.codec.text(text, mask());
        self.out.extend_from_slice(&frame);
        frame.len()
    }

    /// Writes what is queued.
    pub(crate) async fn flush(&mut self) -> Result<(), String> {
        let result = self.io.write_all(&self.out).await.map_err(|e| format!("send: {e}"));
        self.out.clear();
        result
    }

    /// The next message or control frame; `None` at the end of the
    /// connection. Pings are answered.
    pub(crate) async fn next(&mut self) -> Result<Option<In>, String> {
        loop {
            if let Some(event) = self.codec.next_event() {
                return match event {
                    Event::Text(text) => Ok(Some(In::Text(text))),
                    Event::Ping(payload) => {
                        let pong = self.codec.pong(&payload, mask());
                        self.io.write_all(&pong).await.map_err(|e| format!("pong: {e}"))?;
                        Ok(Some(In::Ping))
                    }
                    Event::Close { code, .. } => Ok(Some(In::Close(code))),
                    Event::Fail { code, reason } => Err(format!("the server's frames: {code} {reason}")),
                    Event::Binary(_) | Event::Pong => Ok(Some(In::Other)),
                };
            }
            let n = self.io.read(&mut self.buffer).await.map_err(|e| format!("receive: {e}"))?;
            if n == 0 {
                return Ok(None);
            }
            self.codec.receive(&self.buffer[..n]);
        }
    }

    /// The next text message, answering pings on the way.
    pub(crate) async fn next_text(&mut self) -> Result<String, String> {
        loop {
            match self.next().await? {
                Some(In::Text(text)) => return Ok(text),
                Some(In::Ping | In::Other) => {}
                Some(In::Close(code)) => return Err(format!("receive: closed with {code:?}")),
                None => return Err("receive: the connection ended".into()),
            }
        }
    }

    /// Sends a close frame (1000).
    pub(crate) async fn close(&mut self) {
        let frame = self.codec.close(1000, "", mask());
        let _ = self.io.write_all(&frame).await;
    }
}

/// [`ws_open`] with sockjs-core's client codec, offering `deflate` when
/// given. The handshake is written by hand: one request, the answer's head
/// read up to [`MAX_HEAD`] bytes and checked by the codec's [`Handshake`].
pub(crate) async fn codec_open(
    config: &Config,
    i: usize,
    path: &str,
    sockjs: bool,
    deflate: Option<ClientDeflate>,
) -> Result<CodecWs, String> {
    let mut io = Counted(tcp_connect(config, i).await?);
    let mut nonce = [0; 16];
    for chunk in nonce.chunks_mut(4) {
        chunk.copy_from_slice(&sockjs_driver::entropy().to_ne_bytes());
    }
    let handshake = Handshake::new(nonce, deflate);
    let mut headers = HeaderMap::new();
    handshake.request_headers(&mut headers);
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", config.addr);
    for (name, value) in &headers {
        request.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or_default()));
    }
    request.push_str("\r\n");
    io.write_all(request.as_bytes()).await.map_err(|e| format!("handshake: {e}"))?;
    let mut head = Vec::new();
    let end = loop {
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if head.len() > MAX_HEAD {
            return Err("handshake: an answer head over 16 KiB".into());
        }
        let mut chunk = [0; 4096];
        let n = io.read(&mut chunk).await.map_err(|e| format!("handshake: {e}"))?;
        if n == 0 {
            return Err("handshake: the connection ended".into());
        }
        head.extend_from_slice(&chunk[..n]);
    };
    let text = std::str::from_utf8(&head[..end]).map_err(|_| "handshake: a head that is not text")?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or("handshake: no status line")?;
    let mut answer = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or("handshake: a header line without a colon")?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| format!("handshake: {e}"))?;
        let value = HeaderValue::from_str(value.trim()).map_err(|e| format!("handshake: {e}"))?;
        answer.append(name, value);
    }
    let mut codec = handshake.finish(status, &answer, 1 << 20).map_err(|e| format!("handshake: {e}"))?;
    codec.receive(&head[end..]);
    let mut ws = CodecWs { io, codec, buffer: vec![0; READ_CHUNK], out: Vec::new() };
    if sockjs {
        match ws.next().await? {
            Some(In::Text(t)) if t == "o" => {}
            _ => return Err("expected the open frame".into()),
        }
    }
    Ok(ws)
}

/// The websocket of an echo session: tokio-tungstenite's, or the codec's
/// (with `--deflate`).
pub(crate) enum EchoWs {
    Tungstenite(Box<Ws>),
    Codec(Box<CodecWs>),
}

impl EchoWs {
    /// Opens an echo session's websocket: the codec's offering
    /// permessage-deflate when `config.deflate`, else tokio-tungstenite's.
    pub(crate) async fn open(config: &Config, i: usize, path: &str, sockjs: bool) -> Result<EchoWs, String> {
        match &config.deflate {
            Some(deflate) => {
                let ws = codec_open(config, i, path, sockjs, Some(deflate.clone())).await?;
                if ws.extension().is_none() {
                    return Err("--deflate: the server did not agree to permessage-deflate".into());
                }
                Ok(EchoWs::Codec(Box::new(ws)))
            }
            None => Ok(EchoWs::Tungstenite(Box::new(ws_open(config, i, path, sockjs, false).await?))),
        }
    }

    pub(crate) async fn feed(&mut self, text: String) -> Result<(), String> {
        match self {
            EchoWs::Tungstenite(ws) => ws.feed(WsMessage::text(text)).await.map_err(|e| format!("send: {e}")),
            EchoWs::Codec(ws) => {
                ws.feed(&text);
                Ok(())
            }
        }
    }

    pub(crate) async fn flush(&mut self) -> Result<(), String> {
        match self {
            EchoWs::Tungstenite(ws) => ws.flush().await.map_err(|e| format!("send: {e}")),
            EchoWs::Codec(ws) => ws.flush().await,
        }
    }

    /// The next text message; pings and pongs are skipped.
    pub(crate) async fn next_text(&mut self) -> Result<String, String> {
        match self {
            EchoWs::Tungstenite(ws) => loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Text(t))) => return Ok(t.as_str().to_owned()),
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                    other => return Err(format!("receive: {other:?}")),
                }
            },
            EchoWs::Codec(ws) => ws.next_text().await,
        }
    }

    pub(crate) async fn close(&mut self) {
        match self {
            EchoWs::Tungstenite(ws) => {
                let _ = WebSocketStream::close(&mut **ws, None).await;
            }
            EchoWs::Codec(ws) => ws.close().await,
        }
    }
}

pub(crate) fn sockjs_ws_path(prefix: &str, i: usize) -> String {
    format!("{prefix}/{:03}/{}/websocket", i % 1000, session_id(i))
}

/// Messages in one text frame: a SockJS frame (`a[...]` gives its
/// messages, `o`/`h` none, `c[...]` an error) or a raw message.
pub(crate) fn ws_messages(text: &str, sockjs: bool) -> Result<Vec<String>, String> {
    if !sockjs {
        return Ok(vec![text.to_owned()]);
    }
    match text.as_bytes().first() {
        Some(b'a') => serde_json::from_str(&text[1..]).map_err(|e| format!("bad frame {text:?}: {e}")),
        Some(b'h' | b'o') => Ok(Vec::new()),
        _ => Err(format!("unexpected frame {:?}", text.chars().take(80).collect::<String>())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_into_messages() {
        assert_eq!(ws_messages("a[\"x\"]", true).unwrap(), vec!["x"]);
        assert_eq!(ws_messages("a[\"x\"]", false).unwrap(), vec!["a[\"x\"]"]);
    }
}
