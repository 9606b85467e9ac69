//! The xhr client: an HTTP/1.1 connection that reopens itself, opening
//! polling and streaming sessions, `xhr_send`, and the messages of
//! newline-delimited frames.

use std::time::Duration;

use super::session_id;
use crate::http1::{Connection, Request};

/// An http1 connection that is reopened when the server closes it.
pub(crate) struct Http {
    pub(crate) addr: String,
    pub(crate) conn: Option<Connection>,
    /// The bound on each read of the connections it opens.
    pub(crate) read_timeout: Duration,
}

impl Http {
    pub(crate) fn new(addr: &str) -> Http {
        Http { addr: addr.to_owned(), conn: None, read_timeout: crate::http1::DEFAULT_READ_TIMEOUT }
    }

    pub(crate) async fn conn(&mut self) -> Result<&mut Connection, String> {
        if self.conn.as_ref().is_none_or(Connection::saw_eof) {
            let mut conn = Connection::connect(&self.addr).await.map_err(|e| e.to_string())?;
            conn.read_timeout = self.read_timeout;
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or_else(|| "no connection".to_string())
    }

    pub(crate) async fn send(&mut self, request: &Request) -> Result<(), String> {
        self.conn().await?.send(request).await.map_err(|e| e.to_string())
    }

    pub(crate) async fn response(&mut self, method: &str) -> Result<crate::http1::Response, String> {
        let conn = self.conn.as_mut().ok_or("no request sent")?;
        let response = conn.read_response(method).await.map_err(|e| e.to_string())?;
        if response.headers.has_token("connection", "close") || response.version == "HTTP/1.0" {
            self.conn = None;
        }
        Ok(response)
    }

    pub(crate) async fn roundtrip(&mut self, request: &Request) -> Result<crate::http1::Response, String> {
        self.send(request).await?;
        self.response(&request.method).await
    }
}

/// Messages of the frames in `bytes` (`F\n` each): `Ok(None)` when there
/// are no `a` frames.
pub(crate) fn line_messages(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut messages = Vec::new();
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match line[0] {
            b'a' => messages
                .extend(serde_json::from_slice::<Vec<String>>(&line[1..]).map_err(|e| format!("bad frame: {e}"))?),
            b'h' | b'o' => {}
            _ => return Err(format!("unexpected frame {:?}", String::from_utf8_lossy(line))),
        }
    }
    Ok(messages)
}

pub(crate) struct XhrClient {
    pub(crate) base: String,
    pub(crate) recv: Http,
    pub(crate) send: Http,
}

/// Opens a session with `xhr` (polling) or `xhr_streaming` (streaming,
/// leaving the response open after the `o` frame).
pub(crate) async fn xhr_open(addr: &str, prefix: &str, i: usize, streaming: bool) -> Result<XhrClient, String> {
    let base = format!("{prefix}/{:03}/{}", i % 1000, session_id(i));
    let mut client = XhrClient { base, recv: Http::new(addr), send: Http::new(addr) };
    if streaming {
        stream_open(&mut client.recv, &client.base, "xhr_streaming", false).await?;
    } else {
        let r = client.recv.roundtrip(&Request::post(&format!("{}/xhr", client.base))).await?;
        if r.body != b"o\n" {
            return Err(format!("expected o, got {:?}", r.text()));
        }
    }
    Ok(client)
}

/// Sends a streaming request and reads until its `o` frame (for a new
/// session) or just its head and prelude (`reopen`).
pub(crate) async fn stream_open(http: &mut Http, base: &str, transport: &str, reopen: bool) -> Result<(), String> {
    let request = if transport == "eventsource" {
        Request::get(&format!("{base}/eventsource"))
    } else {
        Request::post(&format!("{base}/{transport}"))
    };
    http.send(&request).await?;
    let conn = http.conn.as_mut().ok_or("no connection")?;
    let head = conn.read_head().await.map_err(|e| e.to_string())?;
    if head.status != 200 {
        return Err(format!("{transport}: status {}", head.status));
    }
    if reopen {
        return Ok(());
    }
    let mut seen = Vec::new();
    while !seen.windows(2).any(|w| w == b"o\n" || w == b"o\r") {
        match conn.read_chunk().await.map_err(|e| e.to_string())? {
            Some(chunk) => seen.extend_from_slice(&chunk),
            None => return Err(format!("{transport}: the response ended before the open frame")),
        }
        if seen.len() > 64 * 1024 {
            return Err(format!("{transport}: no open frame"));
        }
    }
    Ok(())
}

pub(crate) async fn xhr_send(client: &mut XhrClient, text: &str) -> Result<(), String> {
    let body = serde_json::to_string(&[text]).unwrap_or_default();
    let request = Request::post(&format!("{}/xhr_send", client.base)).header("Content-Type", "text/plain").body(body);
    let r = client.send.roundtrip(&request).await?;
    if r.status != 204 {
        return Err(format!("xhr_send: status {}", r.status));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_into_messages() {
        assert_eq!(line_messages(b"a[\"x\",\"y\"]\n").unwrap(), vec!["x", "y"]);
        assert!(line_messages(b"hhhh\no\n").unwrap().is_empty());
        assert!(line_messages(b"c[3000,\"Go away!\"]\n").is_err());
    }
}
