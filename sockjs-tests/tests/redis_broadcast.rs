//! Cross-instance broadcast over Redis pub/sub (sockjs-redis, README
//! "Scaling out"): two independent servers (one actix, one warp), each with
//! a `/broadcast` endpoint whose handler joins its own `RedisBroadcast` and
//! publishes what it receives, a redis-server of our own on a free loopback
//! port, and websocket and xhr-streaming clients on both instances.
//!
//! * Every message published on either instance reaches every client of
//!   both instances exactly once (the publisher's included).
//! * When redis-server is killed, the sessions stay open and publishes
//!   fail (the handler tells its client); nothing published meanwhile is
//!   ever delivered. When it is back, both instances re-subscribe on their
//!   own and delivery is exactly once again.
//!
//! redis-server (/usr/bin/redis-server) is required: without it the test
//! fails, it never skips; sockjs-tests/scaling/setup.sh installs it.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sockjs_core::{Endpoint, Options, Session};
use sockjs_redis::RedisBroadcast;
use sockjs_tests::http1::{fetch, Connection, Request};
use support::{eventually, loopback_listener, messages_of, take_frames, ProcessGuard};
use tokio_tungstenite::tungstenite;

const REDIS: &str = "/usr/bin/redis-server";
const CHANNEL: &str = "sockjs-test-broadcast";

fn start_redis(port: u16) -> Result<ProcessGuard, String> {
    let port_arg = port.to_string();
    let args =
        ["--port", &port_arg, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"];
    let mut redis = ProcessGuard::spawn("redis-server", REDIS, &args, &[]);
    redis.wait_listening(SocketAddr::from(([127, 0, 0, 1], port)))?;
    Ok(redis)
}

/// The handler of every instance: join, publish what arrives, and tell
/// the client when a message could not be published.
fn broadcast_endpoint(broadcast: RedisBroadcast) -> Endpoint {
    Endpoint::new(Options::new("/broadcast"), move |mut session: Session| {
        let broadcast = broadcast.clone();
        async move {
            let _membership = broadcast.join(session.clone());
            while let Some(text) = session.recv().await {
                if broadcast.publish(&text).await.is_err() && session.send(format!("not published: {text}")).is_err() {
                    break;
                }
            }
        }
    })
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

enum Transport {
    WebSocket(Box<WebSocket>),
    XhrStreaming { stream: Connection, buffer: String, addr: String, base: String },
}

/// A SockJS client and every message it has received.
struct Client {
    name: String,
    transport: Transport,
    seen: Vec<String>,
}

impl Client {
    async fn websocket(name: &str, addr: SocketAddr) -> Client {
        let url = format!("ws://{addr}/broadcast/000/{name}/websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client =
            Client { name: name.to_owned(), transport: Transport::WebSocket(Box::new(ws)), seen: Vec::new() };
        let first = client.frames(Duration::from_secs(5)).await;
        assert_eq!(first, ["o"], "{name}: open frame");
        client
    }

    async fn xhr_streaming(name: &str, addr: SocketAddr) -> Client {
        let base = format!("/broadcast/001/{name}");
        let mut stream = Connection::connect(&addr.to_string()).await.unwrap();
        stream.send(&Request::post(&format!("{base}/xhr_streaming"))).await.unwrap();
        assert_eq!(stream.read_head().await.unwrap().status, 200);
        let transport = Transport::XhrStreaming { stream, buffer: String::new(), addr: addr.to_string(), base };
        let mut client = Client { name: name.to_owned(), transport, seen: Vec::new() };
        let mut frames = Vec::new();
        for _ in 0..4 {
            frames.extend(client.frames(Duration::from_secs(5)).await);
            if frames.iter().any(|f| f == "o") {
                break;
            }
        }
        assert!(frames.iter().any(|f| f == "o"), "{name}: no open frame in {frames:?}");
        client
    }

    async fn send(&mut self, text: &str) {
        let body = serde_json::to_string(&[text]).unwrap();
        match &mut self.transport {
            Transport::WebSocket(ws) => ws.send(tungstenite::Message::text(body)).await.unwrap(),
            Transport::XhrStreaming { addr, base, .. } => {
                let r = fetch(addr, &Request::post(&format!("{base}/xhr_send")).body(body)).await.unwrap();
                assert_eq!(r.status, 204, "{}: xhr_send answered {} {:?}", self.name, r.status, r.text());
            }
        }
    }

    /// The frames that arrive within `limit` of one read (none on timeout).
    async fn frames(&mut self, limit: Duration) -> Vec<String> {
        match &mut self.transport {
            Transport::WebSocket(ws) => match tokio::time::timeout(limit, ws.next()).await {
                Ok(Some(Ok(tungstenite::Message::Text(text)))) => vec![text.to_string()],
                Ok(Some(Ok(_))) | Err(_) => Vec::new(),
                Ok(other) => panic!("{}: websocket ended: {other:?}", self.name),
            },
            Transport::XhrStreaming { stream, buffer, .. } => {
                match tokio::time::timeout(limit, stream.read_chunk()).await {
                    Ok(Ok(Some(chunk))) => {
                        buffer.push_str(&String::from_utf8_lossy(&chunk));
                        take_frames(buffer)
                    }
                    Ok(other) => panic!("{}: stream ended: {other:?}", self.name),
                    Err(_) => Vec::new(),
                }
            }
        }
    }

    /// Receives until `done(seen)` holds, within 10 s.
    async fn receive_until(&mut self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{}: still waiting for {what} after 10 s; received {:?}", self.name, self.seen);
            for frame in self.frames(left.min(Duration::from_millis(500))).await {
                assert!(frame == "h" || frame.starts_with('a'), "{}: unexpected frame {frame:?}", self.name);
                self.seen.extend(messages_of(&frame));
            }
        }
    }
}

/// One round: every client sends one message; every client must receive
/// each of them, then an end marker sent after all of them were seen
/// everywhere, and nothing twice.
async fn round(clients: &mut [Client], label: &str) {
    let sent: Vec<String> = clients.iter().map(|c| format!("{label}-from-{}", c.name)).collect();
    for (client, text) in clients.iter_mut().zip(&sent) {
        client.send(text).await;
    }
    for client in clients.iter_mut() {
        client.receive_until(&format!("the {label} messages"), |seen| sent.iter().all(|s| seen.contains(s))).await;
    }
    // Redis orders a channel's messages, so the end marker comes after any
    // duplicate of the messages above.
    let end = format!("{label}-end");
    clients[0].send(&end).await;
    for client in clients.iter_mut() {
        client.receive_until(&end, |seen| seen.contains(&end)).await;
    }
    for client in clients.iter() {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for message in client.seen.iter().filter(|m| m.starts_with(label)) {
            *counts.entry(message).or_default() += 1;
        }
        println!("[{label}] {} received {counts:?}", client.name);
        for text in sent.iter().chain([&end]) {
            assert_eq!(counts.get(text.as_str()), Some(&1), "{}: {text:?} must arrive exactly once", client.name);
        }
        assert_eq!(counts.len(), sent.len() + 1, "{}: unexpected messages {counts:?}", client.name);
    }
}

#[test]
fn broadcast_reaches_every_instance_exactly_once_and_survives_a_redis_restart() {
    let port = support::free_port();
    let mut redis = start_redis(port).unwrap_or_else(|e| panic!("redis-server did not start: {e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _in_runtime = runtime.enter();
    let url = format!("redis://127.0.0.1:{port}/");
    // One RedisBroadcast per instance: separate connections and members,
    // exactly like two machines.
    let node_a = RedisBroadcast::connect(&url, CHANNEL).unwrap();
    let node_b = RedisBroadcast::connect(&url, CHANNEL).unwrap();
    let actix = sockjs_examples::serve_actix(loopback_listener(), vec![broadcast_endpoint(node_a.clone())], 2).unwrap();
    let warp = sockjs_examples::serve_warp(loopback_listener(), vec![broadcast_endpoint(node_b.clone())], 2).unwrap();

    runtime.block_on(async {
        for node in [&node_a, &node_b] {
            tokio::time::timeout(Duration::from_secs(10), node.subscribed()).await.expect("subscribed to redis");
        }
        let mut clients = vec![
            Client::websocket("a-ws", actix.addr()).await,
            Client::xhr_streaming("a-xhr", actix.addr()).await,
            Client::websocket("b-ws", warp.addr()).await,
            Client::xhr_streaming("b-xhr", warp.addr()).await,
        ];
        assert_eq!((node_a.member_count(), node_b.member_count()), (2, 2), "each instance has two local members");

        round(&mut clients, "first").await;
        let delivered = (node_a.delivered(), node_b.delivered());
        assert_eq!(delivered, (5, 5), "each instance delivers each channel message once");

        // Redis goes away.
        redis.kill();
        assert!(
            eventually(Duration::from_secs(5), || !node_a.is_subscribed() && !node_b.is_subscribed()).await,
            "both instances must notice the lost subscription"
        );
        for i in [0, 3] {
            let text = format!("lost-from-{}", clients[i].name);
            clients[i].send(&text).await;
            let reply = format!("not published: {text}");
            clients[i].receive_until("the publish error", |seen| seen.contains(&reply)).await;
        }
        assert_eq!((node_a.member_count(), node_b.member_count()), (2, 2), "sessions stay while redis is away");

        // Redis comes back on the same port; both instances re-subscribe.
        let down_since = Instant::now();
        redis = start_redis(port).unwrap_or_else(|e| panic!("redis-server did not restart: {e}"));
        for node in [&node_a, &node_b] {
            tokio::time::timeout(Duration::from_secs(10), node.subscribed())
                .await
                .expect("re-subscribed within 10 s of the restart (backoff is at most 5 s)");
        }
        println!("[restart] both instances re-subscribed {:?} after redis-server restarted", down_since.elapsed());

        round(&mut clients, "second").await;
        for client in &clients {
            assert!(
                !client.seen.iter().any(|m| m.starts_with("lost-")),
                "{}: a message published while redis was down was delivered: {:?}",
                client.name,
                client.seen
            );
        }
        assert_eq!((node_a.delivered(), node_b.delivered()), (10, 10));
    });
    drop(actix);
    drop(warp);
    drop(redis);
}
