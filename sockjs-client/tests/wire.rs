//! The client against a scripted HTTP server that shows it every request
//! and answers what the test says, when the test says: what the client
//! puts on the wire, and when.
//!
//! * The caller's headers go with every request; the `JSESSIONID` cookie
//!   (PROTOCOL.md §4.6) with every request after the response that set it.
//! * One `xhr_send` in flight (§7.5): messages sent meanwhile wait and go
//!   out together, as one JSON array, once the first is answered.
//! * A full receive queue stops the polling: no new poll while the
//!   application has not taken the messages of the last one.
//! * `c[3000,"Go away!"]` ends the connection with that code (§6).

use std::time::Duration;

use sockjs_client::{Client, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// One request the client made, and the way to answer it.
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    answer: oneshot::Sender<String>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn reply(self, status: &str, extra: &str, body: &str) {
        let response = format!("HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n{body}", body.len());
        let _ = self.answer.send(response);
    }
}

/// A server on a loopback port that hands every request to the test.
async fn scripted_server() -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, tx.clone()));
        }
    });
    (addr, rx)
}

async fn serve(mut stream: TcpStream, requests: mpsc::Sender<Seen>) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            assert!(buffer.len() < 64 * 1024, "request head too long");
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or("").split(' ');
        let (method, path) =
            (request_line.next().unwrap_or("").to_owned(), request_line.next().unwrap_or("").to_owned());
        let headers: Vec<(String, String)> =
            lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
        buffer.drain(..head_end + length);
        let (answer, answered) = oneshot::channel();
        if requests.send(Seen { method, path, headers, body, answer }).await.is_err() {
            return;
        }
        let Ok(response) = answered.await else { return };
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The next request, within 5 s.
async fn next(requests: &mut mpsc::Receiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(5), requests.recv())
        .await
        .expect("a request within 5 s")
        .expect("the server runs")
}

/// No request for a while (the client is holding back).
async fn quiet(requests: &mut mpsc::Receiver<Seen>, what: &str) {
    if let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(300), requests.recv()).await {
        panic!("{what}, but the client made {} {} (body {:?})", r.method, r.path, r.body);
    }
}

const JS: &str = "Content-Type: application/javascript; charset=UTF-8\r\n";

#[tokio::test]
async fn headers_cookie_one_send_in_flight_and_backpressure() {
    let (addr, mut requests) = scripted_server().await;
    let client = Client::new(&format!("http://{addr}/app"))
        .unwrap()
        .transport(Transport::XhrPolling)
        .session_id("s1")
        .receive_queue(1)
        .header("Authorization", "Bearer sesame")
        .unwrap();
    let connecting = tokio::spawn(async move { client.connect().await });

    let info = next(&mut requests).await;
    assert_eq!((info.method.as_str(), info.path.as_str()), ("GET", "/app/info"));
    assert_eq!(info.header("authorization"), Some("Bearer sesame"), "the caller's header on /info");
    info.reply("200 OK", "", r#"{"websocket":true,"cookie_needed":true,"origins":["*:*"],"entropy":7}"#);

    let open = next(&mut requests).await;
    assert_eq!(open.method, "POST");
    assert!(open.path.starts_with("/app/") && open.path.ends_with("/s1/xhr"), "{}", open.path);
    assert_eq!(open.header("authorization"), Some("Bearer sesame"));
    open.reply("200 OK", &format!("{JS}Set-Cookie: JSESSIONID=abc; path=/\r\n"), "o\n");
    let mut connection = connecting.await.unwrap().expect("open");
    assert_eq!(connection.transport(), Transport::XhrPolling);
    assert!(connection.info().cookie_needed);

    // The next poll stays open (a long poll); meanwhile, sends.
    let poll = next(&mut requests).await;
    assert!(poll.path.ends_with("/s1/xhr"));
    assert_eq!(poll.header("cookie"), Some("JSESSIONID=abc"), "§4.6: the cookie goes back on the next poll");
    assert_eq!(poll.header("authorization"), Some("Bearer sesame"));

    connection.send("a").await.unwrap();
    let first = next(&mut requests).await;
    assert!(first.path.ends_with("/s1/xhr_send"), "{}", first.path);
    assert_eq!(first.body, r#"["a"]"#);
    assert_eq!(first.header("cookie"), Some("JSESSIONID=abc"));
    assert_eq!(first.header("authorization"), Some("Bearer sesame"));
    for m in ["b", "c\"", "d"] {
        connection.send(m).await.unwrap();
    }
    quiet(&mut requests, "one xhr_send is in flight").await;
    first.reply("204 No Content", "", "");
    let second = next(&mut requests).await;
    assert_eq!(second.body, r#"["b","c\"","d"]"#, "what queued meanwhile goes out as one array");
    assert_eq!(second.header("authorization"), Some("Bearer sesame"));
    second.reply("204 No Content", "", "");

    // Three messages for a receive queue of one: the client must not
    // poll again before the application has taken them.
    poll.reply("200 OK", JS, "a[\"1\",\"2\",\"3\"]\n");
    quiet(&mut requests, "the application has not taken the messages").await;
    for expected in ["1", "2", "3"] {
        assert_eq!(connection.recv().await.as_deref(), Some(expected));
    }
    let poll = next(&mut requests).await;
    assert!(poll.path.ends_with("/s1/xhr"));
    poll.reply("200 OK", JS, "h\n");
    let poll = next(&mut requests).await;
    poll.reply("200 OK", JS, "c[3000,\"Go away!\"]\n");

    assert_eq!(connection.recv().await, None);
    let close = connection.closed().await;
    assert_eq!((close.code, close.reason.as_str(), close.was_clean), (3000, "Go away!", true));
    let stats = connection.stats();
    assert_eq!((stats.heartbeats, stats.messages_sent, stats.send_requests), (1, 4, 2));
    assert!(connection.send("late").await.is_err(), "§11: nothing is sent after the close");
}

#[tokio::test]
async fn a_poll_that_opens_a_new_session_ends_the_connection() {
    // §6: the server lost the session and made a new one; sockjs-client
    // closes with 1006 "Server lost session".
    let (addr, mut requests) = scripted_server().await;
    let client = Client::new(&format!("http://{addr}/app")).unwrap().transport(Transport::XhrStreaming);
    let connecting = tokio::spawn(async move { client.connect().await });
    next(&mut requests).await.reply("200 OK", "", "{}");
    let stream = next(&mut requests).await;
    assert!(stream.path.ends_with("/xhr_streaming"));
    let prelude = "h".repeat(2048);
    // A whole streaming response at once: prelude, open, one message; it
    // ends (as at response_limit) and the client opens the next one.
    stream.reply("200 OK", JS, &format!("{prelude}\no\na[\"x\"]\n"));
    let mut connection = connecting.await.unwrap().expect("open");
    assert_eq!(connection.recv().await.as_deref(), Some("x"));
    let again = next(&mut requests).await;
    assert!(again.path.ends_with("/xhr_streaming"));
    again.reply("200 OK", JS, &format!("{prelude}\no\n"));
    assert_eq!(connection.recv().await, None);
    let close = connection.closed().await;
    assert_eq!((close.code, close.reason.as_str()), (1006, "Server lost session"));
    assert_eq!(connection.stats().receive_requests, 2);
}

#[tokio::test]
async fn a_failed_send_closes_with_1006() {
    let (addr, mut requests) = scripted_server().await;
    let client = Client::new(&format!("http://{addr}/app")).unwrap().transport(Transport::XhrPolling);
    let connecting = tokio::spawn(async move { client.connect().await });
    next(&mut requests).await.reply("200 OK", "", "{}");
    next(&mut requests).await.reply("200 OK", JS, "o\n");
    let connection = connecting.await.unwrap().expect("open");
    let _poll = next(&mut requests).await; // left pending
    connection.send("a").await.unwrap();
    let send = next(&mut requests).await;
    assert!(send.path.ends_with("/xhr_send"));
    send.reply("404 Not Found", "", "");
    let close = connection.closed().await;
    assert_eq!(close.code, 1006);
    assert!(close.reason.starts_with("Sending error: "), "{}", close.reason);
    assert!(
        matches!(close.error.as_deref(), Some(sockjs_client::Error::Status { status: 404, .. })),
        "{:?}",
        close.error
    );
}
