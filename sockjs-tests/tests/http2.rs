//! The streaming, polling and websocket transports over HTTP/2 (h2c, prior
//! knowledge) against the axum reference server, with hyper's HTTP/2
//! client: the transports of PROTOCOL.md §7.4-§7.6 and §7.10-§7.11 must
//! not depend on HTTP/1.1, and websockets use extended CONNECT (RFC 8441).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::loopback_listener;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// Everything each test may take, server start included.
const LIMIT: Duration = Duration::from_secs(20);

/// Runs `test` against a fresh axum reference server over one h2c
/// connection.
fn with_h2<F>(test: impl FnOnce(SendRequest<Body>, SocketAddr) -> F)
where
    F: std::future::Future<Output = ()>,
{
    let endpoints = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
    let server = sockjs_examples::serve_axum(loopback_listener(), endpoints, 2).unwrap();
    let addr = server.addr();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
            tokio::spawn(connection);
            test(sender, addr).await;
        })
        .await
        .expect("the test finishes in time");
    });
    drop(server);
}

fn request(method: &str, addr: SocketAddr, path: &str, body: &'static str) -> hyper::Request<Body> {
    hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::from_static(body.as_bytes())).boxed())
        .unwrap()
}

/// Sends a request and reads its whole body.
async fn fetch(sender: &mut SendRequest<Body>, request: hyper::Request<Body>) -> (http::StatusCode, String) {
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2, "answered over HTTP/2");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// §7.4, §7.5: xhr-polling opens with `o`, a send is answered 204 and the
/// next poll carries the echo.
#[test]
fn xhr_polling_and_xhr_send_over_http2() {
    with_h2(|mut h2, addr| async move {
        let (status, body) = fetch(&mut h2, request("POST", addr, "/echo/000/poll/xhr", "")).await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "o\n"));
        let (status, body) = fetch(&mut h2, request("POST", addr, "/echo/000/poll/xhr_send", r#"["a","b"]"#)).await;
        assert_eq!((status.as_u16(), body.as_str()), (204, ""));
        let (status, body) = fetch(&mut h2, request("POST", addr, "/echo/000/poll/xhr", "")).await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "a[\"a\",\"b\"]\n"));
        // jsonp-polling too (§7.9).
        let (status, body) = fetch(&mut h2, request("GET", addr, "/echo/000/jp/jsonp?c=cb", "")).await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "/**/cb(\"o\");\r\n"));
    });
}

/// Reads data frames of a streaming body until `buffer` holds `want`
/// bytes more than it did; returns them.
async fn read_exactly(body: &mut hyper::body::Incoming, want: usize) -> String {
    let mut buffer = Vec::new();
    while buffer.len() < want {
        let frame = body.frame().await.expect("the stream goes on").unwrap();
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
        }
    }
    assert_eq!(buffer.len(), want, "no more than the expected bytes");
    String::from_utf8(buffer).unwrap()
}

/// §7.6: xhr-streaming sends the prelude and `o` at once, then each
/// message as it comes, while the response stays open; §7.7 eventsource
/// likewise.
#[test]
fn xhr_streaming_and_eventsource_over_http2() {
    with_h2(|mut h2, addr| async move {
        let response = h2.send_request(request("POST", addr, "/echo/000/st/xhr_streaming", "")).await.unwrap();
        assert_eq!((response.version(), response.status().as_u16()), (http::Version::HTTP_2, 200));
        let mut stream = response.into_body();
        assert_eq!(read_exactly(&mut stream, 2049).await, format!("{}\n", "h".repeat(2048)), "the prelude");
        assert_eq!(read_exactly(&mut stream, 2).await, "o\n");
        let (status, _) = fetch(&mut h2, request("POST", addr, "/echo/000/st/xhr_send", r#"["x"]"#)).await;
        assert_eq!(status.as_u16(), 204);
        assert_eq!(read_exactly(&mut stream, 7).await, "a[\"x\"]\n", "the echo, on the open stream");

        let response = h2.send_request(request("GET", addr, "/echo/000/es/eventsource", "")).await.unwrap();
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut stream = response.into_body();
        assert_eq!(read_exactly(&mut stream, 2).await, "\r\n", "the eventsource prelude");
        assert_eq!(read_exactly(&mut stream, 11).await, "data: o\r\n\r\n");
    });
}

/// Opens a websocket over HTTP/2 extended CONNECT (RFC 8441).
async fn connect_websocket(
    h2: &mut SendRequest<Body>,
    addr: SocketAddr,
    path: &str,
) -> Result<WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>, http::StatusCode> {
    let mut request = hyper::Request::builder()
        .method("CONNECT")
        .uri(format!("http://{addr}{path}"))
        .header("sec-websocket-version", "13")
        .body(Empty::new().boxed())
        .unwrap();
    request.extensions_mut().insert(hyper::ext::Protocol::from_static("websocket"));
    let mut response = h2.send_request(request).await.unwrap();
    if response.status() != http::StatusCode::OK {
        return Err(response.status());
    }
    assert!(response.headers().get("sec-websocket-accept").is_none(), "no HTTP/1.1 handshake headers");
    let upgraded = hyper::upgrade::on(&mut response).await.unwrap();
    Ok(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await)
}

async fn next_text<S>(ws: &mut WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match ws.next().await {
        Some(Ok(Message::Text(text))) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// §7.10, §7.11 over RFC 8441: the SockJS websocket opens with `o` and
/// echoes; the raw websocket echoes as is; `/close` sends its close frame
/// then a websocket close; a disabled websocket is 404.
#[test]
fn websockets_over_http2_extended_connect() {
    with_h2(|mut h2, addr| async move {
        // The server's SETTINGS (with ENABLE_CONNECT_PROTOCOL) arrive with
        // the first exchange.
        let (status, _) = fetch(&mut h2, request("GET", addr, "/echo/info", "")).await;
        assert_eq!(status.as_u16(), 200);

        let mut ws = connect_websocket(&mut h2, addr, "/echo/000/ws/websocket").await.unwrap();
        assert_eq!(next_text(&mut ws).await, "o");
        ws.send(Message::text(r#"["hi"]"#)).await.unwrap();
        assert_eq!(next_text(&mut ws).await, r#"a["hi"]"#);

        let mut raw = connect_websocket(&mut h2, addr, "/echo/websocket").await.unwrap();
        raw.send(Message::text("Hello world!\u{ffff}")).await.unwrap();
        assert_eq!(next_text(&mut raw).await, "Hello world!\u{ffff}");

        let mut closing = connect_websocket(&mut h2, addr, "/close/000/c/websocket").await.unwrap();
        assert_eq!(next_text(&mut closing).await, "o");
        assert_eq!(next_text(&mut closing).await, r#"c[3000,"Go away!"]"#);
        match closing.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1000),
            other => panic!("expected a close frame, got {other:?}"),
        }

        // Both sessions above still work on the same connection.
        ws.send(Message::text(r#"["again"]"#)).await.unwrap();
        assert_eq!(next_text(&mut ws).await, r#"a["again"]"#);

        let disabled = connect_websocket(&mut h2, addr, "/disabled_websocket_echo/000/d/websocket").await;
        assert_eq!(disabled.err(), Some(http::StatusCode::NOT_FOUND));
    });
}
