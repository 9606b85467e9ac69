//! A small hand-written HTTP/1.x client for wire-level checks.
//!
//! Real HTTP clients hide exactly what a SockJS conformance check has to see:
//! chunk boundaries, the framing headers, whether the server closed the socket
//! and when. This client sends raw bytes over a [`TcpStream`] and parses the
//! answer itself:
//!
//! * the status line and the headers, kept in order, looked up
//!   case-insensitively, the last occurrence winning ([`Headers`]);
//! * the body as chunks (chunked encoding), by `Content-Length`, or until the
//!   server closes the connection ([`Framing`]).
//!
//! Every read is bounded by [`Connection::read_timeout`], so a silent server
//! turns into an [`Error::Timeout`] instead of a hang.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sockjs_tests::http1::Error> {
//! use sockjs_tests::http1::{fetch, Request};
//! let response = fetch("127.0.0.1:8081", &Request::get("/echo")).await?;
//! assert_eq!(response.status, 200);
//! assert_eq!(response.body, b"Welcome to SockJS!\n");
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// How long one read waits for bytes unless told otherwise.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(4);

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Largest response head accepted, to stay bounded on garbage input.
const MAX_HEAD: usize = 64 * 1024;

/// What can go wrong while talking to a server.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, reading or writing failed.
    Io(std::io::Error),
    /// Nothing arrived within the read timeout.
    Timeout {
        /// What the client was waiting for.
        waiting_for: &'static str,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The server closed the connection before the expected bytes arrived.
    UnexpectedEof {
        /// What the client was waiting for.
        waiting_for: &'static str,
    },
    /// The bytes are not a valid HTTP/1.x response.
    Malformed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Timeout { waiting_for, after } => {
                write!(f, "timed out after {after:?} waiting for {waiting_for}")
            }
            Error::UnexpectedEof { waiting_for } => {
                write!(f, "connection closed while waiting for {waiting_for}")
            }
            Error::Malformed(what) => write!(f, "malformed response: {what}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Response headers in the order received.
///
/// Lookups ignore ASCII case; [`Headers::get`] returns the last occurrence,
/// as SockJS clients read a repeated header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// The value of the last header called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of the headers called `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether a header called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All headers as `(name, value)` pairs, in order, names as sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no headers at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a comma-separated header `name` lists `token` (ignoring case).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).iter().flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body by definition (HEAD, 1xx, 204, 304).
    None,
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length: n`.
    Length(usize),
    /// Neither: the body runs until the server closes the connection.
    UntilClose,
}

/// Status line and headers of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Protocol version as sent, for example `HTTP/1.1`.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase (may be empty).
    pub reason: String,
    /// Headers in order.
    pub headers: Headers,
}

impl ResponseHead {
    /// The body framing this head announces for a request of `method`.
    pub fn framing(&self, method: &str) -> Result<Framing> {
        if method.eq_ignore_ascii_case("HEAD")
            || (100..200).contains(&self.status)
            || self.status == 204
            || self.status == 304
        {
            return Ok(Framing::None);
        }
        if let Some(te) = self.headers.get("transfer-encoding") {
            if te.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked")) {
                return Ok(Framing::Chunked);
            }
            return Err(Error::Malformed(format!("unsupported Transfer-Encoding {te:?}")));
        }
        if let Some(cl) = self.headers.get("content-length") {
            return cl
                .trim()
                .parse()
                .map(Framing::Length)
                .map_err(|_| Error::Malformed(format!("bad Content-Length {cl:?}")));
        }
        Ok(Framing::UntilClose)
    }

    /// Whether the response announces `Connection: close`.
    pub fn says_close(&self) -> bool {
        self.headers.has_token("connection", "close")
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Protocol version as sent, for example `HTTP/1.1`.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in order.
    pub headers: Headers,
    /// How the body was delimited.
    pub framing: Framing,
    /// The whole body (chunks concatenated).
    pub body: Vec<u8>,
    /// The chunks as received, without the terminating empty chunk;
    /// empty unless [`Framing::Chunked`].
    pub chunks: Vec<Vec<u8>>,
}

impl Response {
    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request to serialise. `Host` is added unless given, and
/// `Content-Length` is added for a body or a `POST` unless disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, for example `GET`.
    pub method: String,
    /// Request target, sent as is (no normalisation, no escaping).
    pub target: String,
    /// Protocol version, `HTTP/1.1` unless changed.
    pub version: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Whether to add `Content-Length` automatically.
    pub auto_content_length: bool,
}

impl Request {
    /// A request with `method` on `target`, HTTP/1.1, no headers.
    pub fn new(method: &str, target: &str) -> Self {
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            version: "HTTP/1.1".to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            auto_content_length: true,
        }
    }

    /// A `GET` of `target`.
    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    /// A `POST` to `target`.
    pub fn post(target: &str) -> Self {
        Self::new("POST", target)
    }

    /// Adds a header (kept in order, duplicates allowed).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the protocol version, for example `HTTP/1.0`.
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_owned();
        self
    }

    /// Sends no automatic `Content-Length` (a POST with no length at all).
    pub fn without_content_length(mut self) -> Self {
        self.auto_content_length = false;
        self
    }

    /// The bytes on the wire, using `host` for a missing `Host` header.
    pub fn to_bytes(&self, host: &str) -> Vec<u8> {
        let mut out = format!("{} {} {}\r\n", self.method, self.target, self.version);
        let has = |name: &str| self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !has("host") {
            out.push_str(&format!("Host: {host}\r\n"));
        }
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        if self.auto_content_length
            && !has("content-length")
            && !has("transfer-encoding")
            && (!self.body.is_empty() || self.method.eq_ignore_ascii_case("POST"))
        {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// What [`Connection::wait_activity`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Nothing happened within the time given.
    Idle,
    /// Bytes are waiting in the buffer.
    Data,
    /// The server closed (or reset) the connection.
    Closed,
}

/// One client connection with its read buffer.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
    eof: bool,
    /// Bound on every single read; change it for slow events (heartbeats).
    pub read_timeout: Duration,
}

impl Connection {
    /// Connects to `addr` (`host:port`), within [`CONNECT_TIMEOUT`].
    pub async fn connect(addr: &str) -> Result<Self> {
        let stream = timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout { waiting_for: "TCP connect", after: CONNECT_TIMEOUT })??;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            host: addr.to_owned(),
            buf: Vec::new(),
            eof: false,
            read_timeout: DEFAULT_READ_TIMEOUT,
        })
    }

    /// Writes raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Serialises and writes a request.
    pub async fn send(&mut self, request: &Request) -> Result<()> {
        let bytes = request.to_bytes(&self.host);
        self.send_raw(&bytes).await
    }

    /// Bytes received but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Whether the server's end of the stream has been seen.
    pub fn saw_eof(&self) -> bool {
        self.eof
    }

    /// One read with `limit`; returns the number of new bytes (0 = EOF).
    async fn fill_within(&mut self, limit: Duration, waiting_for: &'static str) -> Result<usize> {
        if self.eof {
            return Ok(0);
        }
        let mut tmp = [0u8; 16 * 1024];
        match timeout(limit, self.stream.read(&mut tmp)).await {
            Err(_) => Err(Error::Timeout { waiting_for, after: limit }),
            Ok(Ok(0)) => {
                self.eof = true;
                Ok(0)
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(n)
            }
            Ok(Err(e)) if is_reset(&e) => {
                self.eof = true;
                Ok(0)
            }
            Ok(Err(e)) => Err(Error::Io(e)),
        }
    }

    async fn fill(&mut self, waiting_for: &'static str) -> Result<()> {
        match self.fill_within(self.read_timeout, waiting_for).await? {
            0 => Err(Error::UnexpectedEof { waiting_for }),
            _ => Ok(()),
        }
    }

    /// Takes exactly `n` bytes, reading as needed.
    pub async fn read_exact(&mut self, n: usize, waiting_for: &'static str) -> Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill(waiting_for).await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Takes a line ending in CRLF (returned without it).
    async fn read_line(&mut self, waiting_for: &'static str) -> Result<Vec<u8>> {
        loop {
            if let Some(pos) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).take(pos).collect();
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Error::Malformed(format!("line longer than {MAX_HEAD}")));
            }
            self.fill(waiting_for).await?;
        }
    }

    /// Takes whatever is buffered, or waits (one read timeout) for something.
    /// Returns an empty vector at EOF.
    pub async fn read_some(&mut self) -> Result<Vec<u8>> {
        if self.buf.is_empty() {
            self.fill_within(self.read_timeout, "more bytes").await?;
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// Reads the status line and headers.
    pub async fn read_head(&mut self) -> Result<ResponseHead> {
        let raw = loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                let raw: Vec<u8> = self.buf.drain(..pos + 4).collect();
                break raw;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Error::Malformed("response head too long".into()));
            }
            self.fill("response head").await?;
        };
        parse_head(&raw[..raw.len() - 4])
    }

    /// Reads the next chunk of a chunked body: `Some(data)` for a data
    /// chunk, `None` for the terminating zero-size chunk (trailers consumed).
    pub async fn read_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let line = self.read_line("chunk size line").await?;
        let line = String::from_utf8_lossy(&line).into_owned();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Error::Malformed(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            loop {
                if self.read_line("chunked trailer").await?.is_empty() {
                    return Ok(None);
                }
            }
        }
        let data = self.read_exact(size, "chunk data").await?;
        let crlf = self.read_exact(2, "CRLF after chunk data").await?;
        if crlf != b"\r\n" {
            return Err(Error::Malformed(format!(
                "chunk of {size} bytes not followed by CRLF but {:?}",
                String::from_utf8_lossy(&crlf)
            )));
        }
        Ok(Some(data))
    }

    /// Reads everything until the server closes the connection.
    pub async fn read_until_close(&mut self) -> Result<Vec<u8>> {
        while !self.eof {
            self.fill_within(self.read_timeout, "end of body (connection close)").await?;
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// Reads the body announced by `head` for a request of `method`.
    /// Returns `(body, chunks)`; `chunks` is empty unless chunked.
    pub async fn read_body(&mut self, head: &ResponseHead, method: &str) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
        match head.framing(method)? {
            Framing::None => Ok((Vec::new(), Vec::new())),
            Framing::Length(n) => Ok((self.read_exact(n, "body (Content-Length)").await?, Vec::new())),
            Framing::UntilClose => Ok((self.read_until_close().await?, Vec::new())),
            Framing::Chunked => {
                let mut chunks = Vec::new();
                while let Some(chunk) = self.read_chunk().await? {
                    chunks.push(chunk);
                }
                Ok((chunks.concat(), chunks))
            }
        }
    }

    /// Reads a whole response to a request of `method`.
    pub async fn read_response(&mut self, method: &str) -> Result<Response> {
        let head = self.read_head().await?;
        let framing = head.framing(method)?;
        let (body, chunks) = self.read_body(&head, method).await?;
        Ok(Response {
            version: head.version,
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            framing,
            body,
            chunks,
        })
    }

    /// Waits up to `limit` for something to happen on the connection
    /// without consuming buffered bytes.
    pub async fn wait_activity(&mut self, limit: Duration) -> Result<Activity> {
        if !self.buf.is_empty() {
            return Ok(Activity::Data);
        }
        if self.eof {
            return Ok(Activity::Closed);
        }
        match self.fill_within(limit, "activity").await {
            Ok(0) => Ok(Activity::Closed),
            Ok(_) => Ok(Activity::Data),
            Err(Error::Timeout { .. }) => Ok(Activity::Idle),
            Err(e) => Err(e),
        }
    }

    /// Reads whatever arrives during `limit` into the buffer, stopping
    /// early at the end of the stream.
    pub async fn gather(&mut self, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.eof {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match self.fill_within(left, "gather").await {
                Ok(_) | Err(Error::Timeout { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether the server closes the connection within `limit`, with no
    /// further bytes. `Err(Malformed)` if bytes arrive instead.
    pub async fn closed_within(&mut self, limit: Duration) -> Result<bool> {
        let deadline = Instant::now() + limit;
        loop {
            if !self.buf.is_empty() {
                return Err(Error::Malformed(format!(
                    "unexpected bytes after the response: {:?}",
                    String::from_utf8_lossy(&self.buf)
                )));
            }
            if self.eof {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            match self.wait_activity(left).await? {
                Activity::Idle => return Ok(false),
                Activity::Closed => return Ok(true),
                Activity::Data => continue,
            }
        }
    }

    /// Gives back the socket and any bytes read but not consumed.
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        (self.stream, self.buf)
    }
}

/// Connects to `addr`, sends `request` and reads the whole response.
pub async fn fetch(addr: &str, request: &Request) -> Result<Response> {
    let mut conn = Connection::connect(addr).await?;
    conn.send(request).await?;
    conn.read_response(&request.method).await
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: &[u8]) -> Result<ResponseHead> {
    let text = std::str::from_utf8(raw).map_err(|_| Error::Malformed("response head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(Error::Malformed(format!("bad status line {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| Error::Malformed(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) =
            line.split_once(':').ok_or_else(|| Error::Malformed(format!("bad header line {line:?}")))?;
        if name.is_empty() || name.contains(' ') {
            return Err(Error::Malformed(format!("bad header line {line:?}")));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(ResponseHead { version: version.to_owned(), status, reason, headers: Headers(headers) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_parsing_keeps_order_and_last_wins() {
        let head = parse_head(b"HTTP/1.1 200 OK\r\nA: 1\r\nset-cookie: x\r\na: 2\r\nContent-Length: 3").unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.headers.get("A"), Some("2"));
        assert_eq!(head.headers.get_all("a"), vec!["1", "2"]);
        assert_eq!(head.framing("GET").unwrap(), Framing::Length(3));
        assert_eq!(head.framing("HEAD").unwrap(), Framing::None);
    }

    #[test]
    fn request_serialisation_adds_host_and_length() {
        let bytes = Request::post("/x").body("ab").to_bytes("h:1");
        assert_eq!(bytes, b"POST /x HTTP/1.1\r\nHost: h:1\r\nContent-Length: 2\r\n\r\nab".to_vec());
        let bare = Request::post("/x").without_content_length().to_bytes("h:1");
        assert_eq!(bare, b"POST /x HTTP/1.1\r\nHost: h:1\r\n\r\n".to_vec());
    }

    #[tokio::test]
    async fn chunked_body_is_split_into_chunks() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\no\n\r\n").await.unwrap();
            s.write_all(b"3;x=y\r\nabc\r\n0\r\n\r\n").await.unwrap();
        });
        let resp = fetch(&addr, &Request::get("/")).await.unwrap();
        assert_eq!(resp.chunks, vec![b"o\n".to_vec(), b"abc".to_vec()]);
        assert_eq!(resp.body, b"o\nabc");
        server.await.unwrap();
    }
}
