//! Cross-instance broadcast over Redis pub/sub (sockjs-redis, README
//! "Scaling out"): two independent servers (one actix, one warp), each with
//! a `/broadcast` endpoint whose handler joins its own `RedisBroadcast` and
//! publishes what it receives, a redis-server of our own on a free loopback
//! port, and websocket and xhr-streaming clients (sockjs-client) on both
//! instances.
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

use sockjs_client::Transport;
use sockjs_core::{Endpoint, Options, Session};
use sockjs_redis::RedisBroadcast;
use support::{eventually, loopback_listener, ProcessGuard};

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

/// A SockJS client (sockjs-client) and every message it has received.
struct Client {
    name: String,
    connection: sockjs_client::Connection,
    seen: Vec<String>,
}

impl Client {
    async fn open(name: &str, addr: SocketAddr, transport: Transport) -> Client {
        let connection = sockjs_client::Client::new(&format!("http://{addr}/broadcast"))
            .unwrap()
            .transport(transport)
            .session_id(name)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(connection.transport(), transport, "{name}");
        Client { name: name.to_owned(), connection, seen: Vec::new() }
    }

    /// Queues `text`; a failed `xhr_send` closes the connection (1006),
    /// which the next `receive_until` reports.
    async fn send(&mut self, text: &str) {
        self.connection.send(text).await.unwrap_or_else(|e| panic!("{}: send failed: {e}", self.name));
    }

    /// Receives until `done(seen)` holds, within 10 s. Heartbeats are
    /// taken by the client; any other frame than `a[...]` ends the
    /// connection, and with it the test.
    async fn receive_until(&mut self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.connection.recv()).await {
                Ok(Some(message)) => self.seen.push(message),
                Ok(None) => panic!(
                    "{}: connection closed ({:?}) while waiting for {what}; received {:?}",
                    self.name,
                    self.connection.close_reason(),
                    self.seen
                ),
                Err(_) => panic!("{}: still waiting for {what} after 10 s; received {:?}", self.name, self.seen),
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
            Client::open("a-ws", actix.addr(), Transport::WebSocket).await,
            Client::open("a-xhr", actix.addr(), Transport::XhrStreaming).await,
            Client::open("b-ws", warp.addr(), Transport::WebSocket).await,
            Client::open("b-xhr", warp.addr(), Transport::XhrStreaming).await,
        ];
        assert_eq!((node_a.member_count(), node_b.member_count()), (2, 2), "each instance has two local members");

        round(&mut clients, "first").await;
        // An instance counts a delivery just after handing the message to
        // its sessions, so a client can be faster than the counter.
        let delivered = || (node_a.delivered(), node_b.delivered());
        eventually(Duration::from_secs(2), || delivered() == (5, 5)).await;
        assert_eq!(delivered(), (5, 5), "each instance delivers each channel message once");

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
        eventually(Duration::from_secs(2), || delivered() == (10, 10)).await;
        assert_eq!(delivered(), (10, 10));
    });
    drop(actix);
    drop(warp);
    drop(redis);
}
