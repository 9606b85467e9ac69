//! SockJS over TLS: the reference servers of `sockjs_examples` with
//! `ServeOptions::tls` (rustls, a self-signed certificate for 127.0.0.1
//! made at test time) against sockjs-client with its `rustls` feature,
//! trusting that certificate alone.
//!
//! | test | what it pins |
//! |---|---|
//! | `every_transport_echoes_over_tls` | on actix, warp and axum, a session opens and echoes over wss (§7.10), xhr-streaming (§7.6), eventsource (§7.7) and xhr-polling (§7.4, with `xhr_send` §7.5): ASCII, the §8 escape set, controls, Latin-1 and emoji, each unchanged; then `/close` ends a session with `3000 "Go away!"` (§6) |
//! | `http2_is_negotiated_by_alpn` | a client offering `h2, http/1.1` gets h2 from axum and actix and an xhr-polling round trip works over it (h2 responses); warp, HTTP/1.1 only, answers `http/1.1` |
//! | `websocket_over_http2_with_tls` | on axum, a SockJS websocket over h2 extended CONNECT (RFC 8441) inside TLS, which is what Chromium uses when the server offers it |
//! | `plain_http_to_the_tls_port_gets_no_sockjs_answer` | an `http://` request to the TLS port gets no HTTP response at all |
//! | `hixie76_over_tls_answers_a_wss_location` | on actix and axum, a Hixie-76 handshake over TLS is answered with `Sec-WebSocket-Location: wss://...` (§7.10); warp's TLS server (`serve_warp_tls`) cannot mark its requests yet and still answers `ws://` |
//! | `an_untrusted_certificate_is_refused` | sockjs-client's default roots (webpki-roots) do not trust the test certificate: `/info` fails and says why |

mod support;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sockjs_client::{Client, Transport};
use sockjs_examples::ServeOptions;
use support::loopback_listener;
use support::tls::certificate;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Everything one test may take, servers' start included.
const LIMIT: Duration = Duration::from_secs(30);

/// Starts a reference server; dropping the box stops it.
type Start = fn(TcpListener, ServeOptions) -> std::io::Result<Box<dyn std::any::Any>>;

/// Every TLS-capable adapter: one line each.
const ADAPTERS: &[(&str, Start)] = &[
    ("actix", |l, o| Ok(Box::new(sockjs_examples::serve_actix_with(l, endpoints(), o)?))),
    ("warp", |l, o| Ok(Box::new(sockjs_examples::serve_warp_with(l, endpoints(), o)?))),
    ("axum", |l, o| Ok(Box::new(sockjs_examples::serve_axum_with(l, endpoints(), o)?))),
];

fn endpoints() -> Vec<sockjs_core::Endpoint> {
    sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL)
}

/// A reference server of `adapter` over TLS on a loopback port.
fn start_tls(name: &str, start: Start) -> (Box<dyn std::any::Any>, SocketAddr) {
    let listener = loopback_listener();
    let addr = listener.local_addr().unwrap();
    let options = ServeOptions { tls: Some(certificate().server_config()), ..ServeOptions::new(2) };
    let server = start(listener, options).unwrap_or_else(|e| panic!("{name}: {e}"));
    (server, addr)
}

fn run<F: std::future::Future>(what: &str, test: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async { tokio::time::timeout(LIMIT, test).await.unwrap_or_else(|_| panic!("{what}: timed out")) })
}

/// A sockjs-client that trusts the test certificate.
fn client(addr: SocketAddr, service: &str, transport: Transport) -> Client {
    Client::new(&format!("https://{addr}{service}"))
        .unwrap()
        .tls_config(certificate().client_config(&[b"h2", b"http/1.1"]))
        .transport(transport)
        .open_timeout(Duration::from_secs(10))
        .request_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(10))
}

/// What §8 makes servers escape, then the characters around it.
fn messages() -> Vec<String> {
    let escape_set: String = [0x200c..=0x200f, 0x2028..=0x202f, 0x2060..=0x206f, 0xfff0..=0xffff]
        .into_iter()
        .flatten()
        .filter_map(char::from_u32)
        .collect();
    let controls: String = (0u32..0x20).filter_map(char::from_u32).collect();
    let latin1: String = (0xa0u32..=0xff).filter_map(char::from_u32).collect();
    ["hello over TLS", &escape_set, &controls, "\"quoted\" \\ back 100% %61bc", &latin1, "😀 𝄞 héllo wörld", ""]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// One echo session and one `/close` session on `transport`; `Err` says
/// what went wrong.
async fn echo_and_close(addr: SocketAddr, transport: Transport) -> Result<(), String> {
    let mut connection = client(addr, "/echo", transport).connect().await.map_err(|e| format!("connect: {e}"))?;
    if connection.transport() != transport {
        return Err(format!("opened {} instead", connection.transport()));
    }
    let messages = messages();
    for m in &messages {
        connection.send(m.as_str()).await.map_err(|e| format!("send: {e}"))?;
    }
    for m in &messages {
        let got = connection.recv().await.ok_or_else(|| format!("closed before the echo of {m:?}"))?;
        if &got != m {
            return Err(format!("sent {m:?}, got back {got:?}"));
        }
    }
    connection.close(1000, "Normal closure").await.map_err(|e| format!("close: {e}"))?;

    let mut closing = client(addr, "/close", transport).connect().await.map_err(|e| format!("/close: {e}"))?;
    if let Some(m) = closing.recv().await {
        return Err(format!("/close sent a message: {m:?}"));
    }
    let close = closing.closed().await;
    if (close.code, close.reason.as_str(), close.was_clean) != (3000, "Go away!", true) {
        return Err(format!("/close ended with {close:?}"));
    }
    Ok(())
}

/// The issue's "done": a TLS session echoes over wss and xhr-streaming,
/// and the other two transports of the client too, on every adapter.
#[test]
fn every_transport_echoes_over_tls() {
    let mut failures = Vec::new();
    for (name, start) in ADAPTERS {
        let (server, addr) = start_tls(name, *start);
        run(name, async {
            for transport in Transport::ALL {
                if let Err(e) = echo_and_close(addr, transport).await {
                    failures.push(format!("{name} {transport}: {e}"));
                }
            }
        });
        drop(server);
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

/// A TLS connection offering `alpn`, trusting the test certificate.
async fn tls_connect(addr: SocketAddr, alpn: &[&[u8]]) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let connector = tokio_rustls::TlsConnector::from(certificate().client_config(alpn));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    connector.connect(name, tcp).await.expect("the TLS handshake")
}

type H2 = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// A request over h2 and its whole body; the response must be HTTP/2.
async fn h2_fetch(h2: &mut H2, method: &str, addr: SocketAddr, path: &str, body: &'static str) -> (u16, String) {
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("https://{addr}{path}"))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let response = h2.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2, "answered over HTTP/2");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// §7.4, §7.5 over h2 chosen by ALPN: open, send, poll the echo.
#[test]
fn http2_is_negotiated_by_alpn() {
    for (name, start) in ADAPTERS {
        let (server, addr) = start_tls(name, *start);
        run(name, async {
            let tls = tls_connect(addr, &[b"h2", b"http/1.1"]).await;
            let alpn = tls.get_ref().1.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
            if *name == "warp" {
                // warp's server speaks HTTP/1.1 only (examples/src/tls.rs).
                assert_eq!(alpn.as_deref(), Some("http/1.1"), "{name}: ALPN");
                return;
            }
            assert_eq!(alpn.as_deref(), Some("h2"), "{name}: ALPN");
            let (mut h2, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.unwrap();
            tokio::spawn(connection);
            let poll = "/echo/000/tlsh2/xhr";
            assert_eq!(h2_fetch(&mut h2, "POST", addr, poll, "").await, (200, "o\n".into()), "{name}: open");
            let send = h2_fetch(&mut h2, "POST", addr, "/echo/000/tlsh2/xhr_send", r#"["h2 é"]"#).await;
            assert_eq!(send, (204, String::new()), "{name}: xhr_send");
            assert_eq!(h2_fetch(&mut h2, "POST", addr, poll, "").await, (200, "a[\"h2 é\"]\n".into()), "{name}: echo");
        });
        drop(server);
    }
}

/// §7.10 over RFC 8441 extended CONNECT, inside TLS (axum only: the other
/// adapters take websockets over HTTP/1.1).
#[test]
fn websocket_over_http2_with_tls() {
    let (name, start) = ADAPTERS.iter().find(|(name, _)| *name == "axum").unwrap();
    let (server, addr) = start_tls(name, *start);
    run(name, async {
        let tls = tls_connect(addr, &[b"h2"]).await;
        let (mut h2, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.unwrap();
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method("CONNECT")
            .uri(format!("https://{addr}/echo/000/tlsws/websocket"))
            .header("sec-websocket-version", "13")
            .body(Full::new(Bytes::new()))
            .unwrap();
        request.extensions_mut().insert(hyper::ext::Protocol::from_static("websocket"));
        let mut response = h2.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200, "extended CONNECT accepted");
        let upgraded = hyper::upgrade::on(&mut response).await.unwrap();
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Client,
            None,
        )
        .await;
        let text = |m: Option<Result<tokio_tungstenite::tungstenite::Message, _>>| match m {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => t.to_string(),
            other => panic!("expected a text frame, got {other:?}"),
        };
        assert_eq!(text(ws.next().await), "o");
        ws.send(tokio_tungstenite::tungstenite::Message::text(r#"["wss over h2 😀"]"#)).await.unwrap();
        assert_eq!(text(ws.next().await), r#"a["wss over h2 😀"]"#);
    });
    drop(server);
}

/// A plain-HTTP request to the TLS port: no HTTP answer, let alone
/// SockJS's `/info`.
#[test]
fn plain_http_to_the_tls_port_gets_no_sockjs_answer() {
    for (name, start) in ADAPTERS {
        let (server, addr) = start_tls(name, *start);
        let answer = run(name, async {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET /echo/info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
            let mut answer = Vec::new();
            // The server closes (perhaps after a TLS alert), or resets.
            let _ = tcp.read_to_end(&mut answer).await;
            answer
        });
        drop(server);
        let text = String::from_utf8_lossy(&answer);
        assert!(!text.contains("HTTP/1."), "{name}: plain HTTP got an HTTP answer: {text:?}");
        assert!(!text.contains("websocket"), "{name}: plain HTTP got /info: {text:?}");
    }
}

/// Without the test certificate among its roots, the client refuses the
/// server, and the error says it is the certificate.
#[test]
fn an_untrusted_certificate_is_refused() {
    let (name, start) = ADAPTERS[0];
    let (server, addr) = start_tls(name, start);
    let error = run(name, async {
        let client = Client::new(&format!("https://{addr}/echo")).unwrap().request_timeout(Duration::from_secs(10));
        client.connect().await.expect_err("an untrusted certificate is refused")
    });
    drop(server);
    let text = error.to_string();
    assert!(matches!(error, sockjs_client::Error::Info(_)), "{text}");
    assert!(text.contains("TLS handshake") && text.contains("certificate"), "{text}");
}

/// The SPKI pin given to Chromium (tests/browser.rs) is standard base64.
#[test]
fn spki_pins_are_rfc_4648_base64() {
    let vectors = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];
    for (input, expected) in vectors {
        assert_eq!(support::tls::base64(input.as_bytes()), expected);
    }
    assert_eq!(certificate().spki_sha256_base64().len(), 44, "32 bytes");
}

#[test]
fn hixie76_over_tls_answers_a_wss_location() {
    for (name, start) in ADAPTERS.iter().filter(|(name, _)| *name != "warp") {
        let (server, addr) = start_tls(name, *start);
        let head = run(name, async move {
            let mut tls = tls_connect(addr, &[b"http/1.1"]).await;
            let request = format!(
                "GET /echo/000/hixie/websocket HTTP/1.1\r\nHost: {addr}\r\nUpgrade: WebSocket\r\n\
                 Connection: Upgrade\r\nOrigin: https://{addr}\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
                 Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n"
            );
            tls.write_all(request.as_bytes()).await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
                if tls.read(&mut byte).await.unwrap() == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            String::from_utf8_lossy(&head).to_ascii_lowercase()
        });
        assert!(head.starts_with("http/1.1 101"), "{name}: {head}");
        let location = format!("sec-websocket-location: wss://{addr}/echo/000/hixie/websocket\r\n");
        assert!(head.contains(&location), "{name}: expected {location:?} in {head}");
        drop(server);
    }
}
