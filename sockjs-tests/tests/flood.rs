//! Clients that send more than the application takes, against both
//! adapters over real sockets: a push-only application (one that never
//! receives) flooded over `xhr_send`, `jsonp_send`, a SockJS websocket and a
//! raw websocket holds no more than `max_inbox`, by the endpoint's own
//! accounting; a slow application receives every message once and in
//! order while the client is slowed down; clients polling flat out leave
//! at most one timer entry per session.

use std::net::TcpListener;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockjs_core::{Endpoint, Options, Session};
use sockjs_tests::http1::{fetch, Request};
use tokio_tungstenite::tungstenite::Message;

type Server = Box<dyn std::any::Any>;
type Start = fn(TcpListener, Vec<Endpoint>) -> std::io::Result<Server>;

/// Each test message: 20 000 bytes of text, 20 032 against `max_inbox`.
const MESSAGE: usize = 20_000;
const COST: u64 = MESSAGE as u64 + 32;
/// Room for three messages.
const MAX_INBOX: usize = 3 * COST as usize + 100;
const SEND_TIMEOUT: Duration = Duration::from_millis(300);

/// Never receives; sends `tick` every 50 ms so that the client can see
/// outgoing frames flow while its own messages are held back.
async fn push_only(session: Session) {
    for _ in 0..400 {
        if session.send("tick").is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Takes one message every 2 ms (an application that writes each message
/// to a database, say) and echoes it.
async fn slow_echo(mut session: Session) {
    while let Some(message) = session.recv().await {
        tokio::time::sleep(Duration::from_millis(2)).await;
        if session.send(message).is_err() {
            return;
        }
    }
}

/// One push-only endpoint per flood, so that each reads its own figures.
fn push_endpoint(prefix: &str) -> Endpoint {
    Endpoint::new(
        Options::new(prefix).max_payload(MESSAGE + 100).max_inbox(MAX_INBOX).send_timeout(SEND_TIMEOUT),
        push_only,
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn big(n: usize) -> String {
    format!("{n:06}{}", "x".repeat(MESSAGE - 6))
}

/// §7.5: a push-only application flooded through `xhr_send`.
async fn xhr_send_flood(addr: &str, push: &Endpoint) {
    let open = fetch(addr, &Request::post("/push/0/xs/xhr")).await.unwrap();
    assert_eq!(open.text(), "o\n");
    let mut statuses = Vec::new();
    for i in 0..8 {
        let body = format!("[\"{}\"]", big(i));
        let r = fetch(addr, &Request::post("/push/0/xs/xhr_send").body(body)).await.unwrap();
        statuses.push(r.status);
        let m = push.metrics();
        assert!(m.inbox_bytes <= MAX_INBOX as u64, "send {i}: {m:?}");
    }
    assert_eq!(statuses, [204, 204, 204, 503, 503, 503, 503, 503], "three fit; the rest wait and give up");
    let m = push.metrics();
    assert_eq!(m.inbox_bytes, 3 * COST, "exactly what was accepted is held: {m:?}");
    assert!(m.inbound_waits >= 5, "{m:?}");
}

/// §7.9: the same through `jsonp_send`, form-encoded.
async fn jsonp_send_flood(addr: &str, push: &Endpoint) {
    let open = fetch(addr, &Request::get("/pushj/0/js/jsonp?c=cb")).await.unwrap();
    assert!(open.text().contains("cb(\"o\")"), "{}", open.text());
    let mut statuses = Vec::new();
    for i in 0..6 {
        let body = format!("d=%5B%22{}%22%5D", big(i));
        let request = Request::post("/pushj/0/js/jsonp_send")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let r = fetch(addr, &request).await.unwrap();
        statuses.push(r.status);
        assert!(push.metrics().inbox_bytes <= MAX_INBOX as u64);
    }
    assert_eq!(statuses, [200, 200, 200, 503, 503, 503]);
    assert_eq!(push.metrics().inbox_bytes, 3 * COST);
}

/// §7.10, §7.11: a websocket that floods is no longer read once the inbox
/// is full, while the application's frames keep reaching it.
async fn websocket_flood(addr: &str, push: &Endpoint, path: &str, framed: bool) {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}")).await.unwrap();
    let (mut tx, mut rx) = ws.split();
    // Send until a send blocks for a while (the server stopped reading and
    // the socket buffers filled), or 1000 messages (20 MB) went out.
    let sender = tokio::spawn(async move {
        let mut sent = 0;
        for i in 0..1000 {
            let text = if framed { format!("[\"{}\"]", big(i)) } else { big(i) };
            match tokio::time::timeout(Duration::from_secs(1), tx.send(Message::text(text))).await {
                Ok(Ok(())) => sent += 1,
                _ => break,
            }
        }
        (sent, tx)
    });
    let (sent, tx) = sender.await.unwrap();
    assert!(sent < 1000, "{path}: the server read everything the client sent ({sent} messages)");
    let m = push.metrics();
    assert!(m.inbox_bytes <= MAX_INBOX as u64, "{path}: {m:?}");
    assert_eq!(m.inbox_bytes, 3 * COST, "{path}: exactly three messages are held: {m:?}");
    assert!(m.inbound_waits > 0, "{path}: {m:?}");
    // The application's frames still flow to the client.
    let mut ticks = 0;
    while ticks < 3 {
        let frame = tokio::time::timeout(Duration::from_secs(5), rx.next()).await.expect("a frame in time");
        match frame {
            Some(Ok(Message::Text(t))) if t.contains("tick") => ticks += 1,
            Some(Ok(_)) => {}
            other => panic!("{path}: the connection ended: {other:?}"),
        }
    }
    drop((tx, rx));
}

/// A slow application gets every message once and in order; the client
/// is slowed down (its sends wait), never refused or dropped.
async fn slow_reader(addr: &str, slow: &Endpoint) {
    let open = fetch(addr, &Request::post("/slow/0/s/xhr")).await.unwrap();
    assert_eq!(open.text(), "o\n");
    let count = 150;
    for i in 0..count {
        let body = format!("[\"{i:04}{}\"]", "y".repeat(2000));
        let r = fetch(addr, &Request::post("/slow/0/s/xhr_send").body(body)).await.unwrap();
        assert_eq!(r.status, 204, "send {i}");
        assert!(slow.metrics().inbox_bytes <= 8 * 1024);
    }
    assert!(slow.metrics().inbound_waits > 0, "the bound was reached: {:?}", slow.metrics());
    let mut received = Vec::new();
    for _ in 0..count {
        if received.len() == count {
            break;
        }
        let poll = fetch(addr, &Request::post("/slow/0/s/xhr")).await.unwrap();
        let text = poll.text();
        let frame = text.trim_end().strip_prefix('a').unwrap_or_else(|| panic!("unexpected frame {text:?}"));
        let messages: Vec<String> = serde_json::from_str(frame).unwrap();
        received.extend(messages.into_iter().map(|m| m[..4].to_string()));
    }
    let expected: Vec<String> = (0..count).map(|i| format!("{i:04}")).collect();
    assert_eq!(received, expected);
}

/// Echoes every message.
async fn echo(mut session: Session) {
    while let Some(message) = session.recv().await {
        if session.send(message).is_err() {
            return;
        }
    }
}

/// §6: clients polling flat out (a send and a poll per round trip, as fast
/// as the server answers) leave at most one timer entry per live session,
/// whatever the number of polls.
async fn polling_flat_out(addr: &str, echo: &Endpoint) {
    let clients = (0..10).map(|c| {
        let addr = addr.to_string();
        tokio::spawn(async move {
            let open = fetch(&addr, &Request::post(&format!("/pe/0/c{c}/xhr"))).await.unwrap();
            assert_eq!(open.text(), "o\n");
            for i in 0..100 {
                let send = Request::post(&format!("/pe/0/c{c}/xhr_send")).body(format!("[\"{i}\"]"));
                assert_eq!(fetch(&addr, &send).await.unwrap().status, 204);
                let poll = fetch(&addr, &Request::post(&format!("/pe/0/c{c}/xhr"))).await.unwrap();
                assert_eq!(poll.text(), format!("a[\"{i}\"]\n"));
            }
        })
    });
    let clients: Vec<_> = clients.collect();
    let mut peak = 0;
    while clients.iter().any(|c| !c.is_finished()) {
        let m = echo.metrics();
        assert!(m.pending_timers <= m.live_sessions(), "{m:?}");
        peak = peak.max(m.pending_timers);
        tokio::task::yield_now().await;
    }
    for client in clients {
        client.await.unwrap();
    }
    let m = echo.metrics();
    assert_eq!((m.live_sessions(), m.pending_timers), (10, 10), "one disconnect deadline each: {m:?}");
    assert!(m.messages_received >= 1000 && peak <= 10, "{m:?}, peak {peak}");
}

fn run(start: Start) {
    let pushes = [push_endpoint("/push"), push_endpoint("/pushj"), push_endpoint("/pushw"), push_endpoint("/pushr")];
    let slow = Endpoint::new(Options::new("/slow").max_payload(4096).max_inbox(8 * 1024), slow_echo);
    let echo_endpoint = Endpoint::new(Options::new("/pe"), echo);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server =
        start(listener, pushes.iter().cloned().chain([slow.clone(), echo_endpoint.clone()]).collect()).unwrap();
    runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(60), async {
            xhr_send_flood(&addr, &pushes[0]).await;
            jsonp_send_flood(&addr, &pushes[1]).await;
            websocket_flood(&addr, &pushes[2], "/pushw/0/ws/websocket", true).await;
            websocket_flood(&addr, &pushes[3], "/pushr/websocket", false).await;
            slow_reader(&addr, &slow).await;
            polling_flat_out(&addr, &echo_endpoint).await;
        })
        .await
        .expect("the flood tests finish within a minute");
    });
    drop(server);
}

#[test]
fn actix_holds_floods_within_the_inbox_bound() {
    run(|listener, endpoints| Ok(Box::new(sockjs_examples::serve_actix(listener, endpoints, 2)?)));
}

#[test]
fn warp_holds_floods_within_the_inbox_bound() {
    run(|listener, endpoints| Ok(Box::new(sockjs_examples::serve_warp(listener, endpoints, 2)?)));
}

#[test]
fn axum_holds_floods_within_the_inbox_bound() {
    run(|listener, endpoints| Ok(Box::new(sockjs_examples::serve_axum(listener, endpoints, 2)?)));
}
