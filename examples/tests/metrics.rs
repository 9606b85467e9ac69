//! `test-server --metrics-listen`: after a scripted session on each
//! framework, the Prometheus exposition at `/metrics` has the `sockjs_*`
//! series with exactly the expected values (sockjs-core's `metrics`
//! feature; the series are listed in sockjs-core's crate docs).
//!
//! Each framework runs in a test-server process of its own: the recorder
//! is global to a process.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use tokio_tungstenite::tungstenite;

/// A test-server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    metrics: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address at the end of the next line the server prints after `marker`.
fn read_addr(stdout: &mut BufReader<ChildStdout>, marker: &str) -> SocketAddr {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("test-server prints its addresses");
    let rest = line.split(marker).nth(1).unwrap_or_else(|| panic!("expected {marker:?} in {line:?}"));
    let addr = rest.trim().trim_start_matches("http://").trim_end_matches("/metrics");
    addr.parse().unwrap_or_else(|e| panic!("{addr:?}: {e}"))
}

fn start(framework: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_test-server"))
        .args(["--framework", framework, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("test-server starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    // The metrics listener is reported first: it is installed before the
    // endpoints exist.
    let metrics = read_addr(&mut stdout, "metrics on ");
    let addr = read_addr(&mut stdout, "listening on ");
    Server { child, addr, metrics }
}

/// One HTTP/1.1 request on a connection of its own: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let response = String::from_utf8(response).expect("utf-8");
    let (head, rest) = response.split_once("\r\n\r\n").expect("a head");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    (status, if chunked { dechunk(rest) } else { rest.to_string() })
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        body.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    body
}

/// The exposition's samples: `name{labels sorted}` -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let key = match series.split_once('{') {
            Some((name, labels)) => {
                let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                labels.sort_unstable();
                format!("{name}{{{}}}", labels.join(","))
            }
            None => series.to_string(),
        };
        samples.insert(key, value.parse().expect("a number"));
    }
    samples
}

/// The script: an xhr-polling echo, a send to an unknown session, and a
/// websocket session the server closes (PROTOCOL.md §1 `/close`).
fn script(addr: SocketAddr) {
    assert_eq!(http(addr, "POST", "/echo/000/m1/xhr", ""), (200, "o\n".into()));
    assert_eq!(http(addr, "POST", "/echo/000/m1/xhr_send", "[\"hello\"]"), (204, String::new()));
    assert_eq!(http(addr, "POST", "/echo/000/m1/xhr", ""), (200, "a[\"hello\"]\n".into()));
    assert_eq!(http(addr, "POST", "/echo/000/nobody/xhr_send", "[\"x\"]").0, 404);

    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let url = format!("ws://{addr}/close/000/w1/websocket");
    let (mut ws, _) = tungstenite::client::client(url.as_str(), stream).expect("handshake");
    assert_eq!(ws.read().expect("open frame").into_text().expect("text").as_str(), "o");
    assert_eq!(ws.read().expect("close frame").into_text().expect("text").as_str(), "c[3000,\"Go away!\"]");
    // Read to the end of the connection: the session ended before the
    // server let its connection go.
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => break,
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(tungstenite::Error::Protocol(_)) => break,
            Err(e) => panic!("websocket: {e}"),
        }
    }
}

#[test]
fn exposition_after_a_scripted_session() {
    for framework in ["actix", "warp", "axum"] {
        let server = start(framework);
        script(server.addr);
        let (status, text) = http(server.metrics, "GET", "/metrics", "");
        assert_eq!(status, 200, "{framework}: {text}");
        let samples = samples(&text);
        let expected: &[(&str, f64)] = &[
            (r#"sockjs_sessions{endpoint="/echo",transport="xhr-polling"}"#, 1.0),
            (r#"sockjs_sessions_opened_total{endpoint="/echo",transport="xhr-polling"}"#, 1.0),
            (r#"sockjs_messages_received_total{endpoint="/echo",transport="xhr-polling"}"#, 1.0),
            (r#"sockjs_bytes_received_total{endpoint="/echo",transport="xhr-polling"}"#, 5.0),
            (r#"sockjs_messages_sent_total{endpoint="/echo",transport="xhr-polling"}"#, 1.0),
            // "o\n" and "a[\"hello\"]\n".
            (r#"sockjs_bytes_sent_total{endpoint="/echo",transport="xhr-polling"}"#, 13.0),
            (r#"sockjs_requests_rejected_total{endpoint="/echo",status="404"}"#, 1.0),
            (r#"sockjs_inbox_bytes{endpoint="/echo"}"#, 0.0),
            (r#"sockjs_sessions{endpoint="/close",transport="websocket"}"#, 0.0),
            (r#"sockjs_sessions_opened_total{endpoint="/close",transport="websocket"}"#, 1.0),
            (r#"sockjs_sessions_closed_total{endpoint="/close",reason="server",transport="websocket"}"#, 1.0),
            (r#"sockjs_session_duration_seconds_count{endpoint="/close",transport="websocket"}"#, 1.0),
            // "o" and "c[3000,\"Go away!\"]".
            (r#"sockjs_bytes_sent_total{endpoint="/close",transport="websocket"}"#, 19.0),
        ];
        for (series, value) in expected {
            assert_eq!(samples.get(*series), Some(value), "{framework}: {series} in\n{text}");
        }
        // Nothing was counted for endpoints or transports the script did
        // not use.
        let others: Vec<_> = samples
            .keys()
            .filter(|k| k.starts_with("sockjs_"))
            .filter(|k| !k.contains("endpoint=\"/echo\"") && !k.contains("endpoint=\"/close\""))
            .collect();
        assert!(others.is_empty(), "{framework}: {others:?}");
        // The histogram has its buckets, the last holding the one session.
        let top = r#"sockjs_session_duration_seconds_bucket{endpoint="/close",le="+Inf",transport="websocket"}"#;
        assert_eq!(samples.get(top), Some(&1.0), "{framework}: {text}");
    }
}
