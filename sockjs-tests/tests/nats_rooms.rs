//! Rooms across nodes over NATS (sockjs-nats): two independent servers
//! (one actix, one warp), each with its own rooms registry and
//! `NatsBroker`, a nats-server of our own on a free loopback port, and
//! websocket and xhr-streaming clients (sockjs-client) on both nodes.
//!
//! * A send to one room reaches the room's members on both nodes once
//!   each, and no one else; a node with no member in a room does not even
//!   receive its traffic (it holds no subscription to it).
//! * A send naming several rooms reaches every member of any of them once.
//! * Room names that NATS subjects cannot hold (`.`, `*`, `>`, spaces)
//!   work.
//! * Garbage, and envelopes of an unknown format or over the message
//!   limit, published on the multi-room subject are dropped and counted.
//! * nats-server is killed and restarted under traffic: no session closes,
//!   local members get every message throughout, what was dropped while it
//!   was down is counted, nothing arrives twice, and everything sent after
//!   it is back arrives.
//!
//! nats-server (/usr/sbin/nats-server, Debian's `nats-server`) is
//! required: without it the test fails, it never skips;
//! sockjs-tests/scaling/setup.sh installs it.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockjs_client::Transport;
use sockjs_core::rooms::{Envelope, NodeId, Rooms};
use sockjs_core::{Endpoint, Options, Session};
use sockjs_nats::NatsBroker;
use support::{eventually, loopback_listener, ProcessGuard};

const NATS: &str = "/usr/sbin/nats-server";
const PREFIX: &str = "sockjs-test.rooms";
/// A room name no NATS subject token can hold as it is.
const ODD: &str = "a.b *>";
/// Messages of the traffic that runs while nats-server restarts.
const TRAFFIC: usize = 400;
const TRAFFIC_GAP: Duration = Duration::from_millis(10);

fn start_nats(port: u16) -> Result<ProcessGuard, String> {
    let port_arg = port.to_string();
    let mut nats = ProcessGuard::spawn("nats-server", NATS, &["-a", "127.0.0.1", "-p", &port_arg], &[]);
    nats.wait_listening(SocketAddr::from(([127, 0, 0, 1], port)))?;
    Ok(nats)
}

/// Every node's handler. Commands, `|`-separated (room names may hold
/// spaces): `join|ROOM` (answers `joined|ROOM`), `send|ROOM|TEXT` (to every
/// member, the sender included), `multi|ROOM|ROOM...|TEXT`.
fn rooms_endpoint(rooms: Rooms) -> Endpoint {
    Endpoint::new(Options::new("/rooms").rooms(rooms), |mut session: Session| async move {
        while let Some(command) = session.recv().await {
            let parts: Vec<&str> = command.split('|').collect();
            let rooms = session.room_registry();
            let result = match parts.as_slice() {
                ["join", room] => session.join(room).map(|_| session.send(format!("joined|{room}")).is_ok()),
                ["send", room, text] => rooms.to(room).send(text).map(|_| true),
                ["multi", names @ .., text] if !names.is_empty() => {
                    let mut send = rooms.to(names[0]);
                    for name in &names[1..] {
                        send = send.to(name);
                    }
                    send.send(text).map(|_| true)
                }
                _ => Ok(session.send(format!("unknown command {command:?}")).is_ok()),
            };
            if let Err(e) = result {
                let _ = session.send(format!("error|{e}"));
            }
        }
    })
}

/// A SockJS client and every message it has received.
struct Client {
    name: String,
    connection: sockjs_client::Connection,
    seen: Vec<String>,
}

impl Client {
    async fn open(name: &str, addr: SocketAddr, transport: Transport) -> Client {
        let connection = sockjs_client::Client::new(&format!("http://{addr}/rooms"))
            .unwrap()
            .transport(transport)
            .session_id(name)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(connection.transport(), transport, "{name}");
        Client { name: name.to_owned(), connection, seen: Vec::new() }
    }

    async fn send(&self, text: &str) {
        self.connection.send(text).await.unwrap_or_else(|e| panic!("{}: send failed: {e}", self.name));
    }

    async fn join(&mut self, room: &str) {
        self.send(&format!("join|{room}")).await;
        let joined = format!("joined|{room}");
        self.receive_until(&joined, |seen| seen.contains(&joined)).await;
    }

    /// Receives until `done(seen)` holds, within 10 s.
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

    /// How many times each message starting with `label` arrived.
    fn counts(&self, label: &str) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for message in self.seen.iter().filter(|m| m.starts_with(label)) {
            *counts.entry(message.as_str()).or_default() += 1;
        }
        counts
    }
}

/// The nodes and their clients: on A, `a-lobby` (websocket, in `lobby`)
/// and `a-other` (xhr-streaming, in `other`); on B, `b-lobby` (websocket,
/// in `lobby`) and `b-odd` (xhr-streaming, in [`ODD`]).
struct Cluster {
    brokers: [NatsBroker; 2],
    rooms: [Rooms; 2],
    clients: Vec<Client>,
}

impl Cluster {
    async fn flush(&self) {
        for (i, broker) in self.brokers.iter().enumerate() {
            broker.flush().await.unwrap_or_else(|e| panic!("node {i}: flush: {e}"));
        }
    }

    /// One round: sends to one room from each node, one to the odd room
    /// (no member on A), one to several rooms; every client must get
    /// exactly what its rooms were sent, once, and nothing else.
    async fn round(&mut self, label: &str) {
        let sends = [
            (0, format!("send|lobby|{label}-lobby-from-a")),
            (2, format!("send|lobby|{label}-lobby-from-b")),
            (3, format!("send|{ODD}|{label}-odd-from-b")),
            (1, format!("multi|lobby|{ODD}|{label}-multi-from-a")),
        ];
        for (from, command) in &sends {
            self.clients[*from].send(command).await;
        }
        let lobby = [format!("{label}-lobby-from-a"), format!("{label}-lobby-from-b"), format!("{label}-multi-from-a")];
        let expected: [Vec<String>; 4] = [
            lobby.to_vec(),
            vec![],
            lobby.to_vec(),
            vec![format!("{label}-odd-from-b"), format!("{label}-multi-from-a")],
        ];
        // An end marker to every room, on the multi-room subject after the
        // multi-room send: once it is in, that send had its chance to
        // arrive twice.
        let end = format!("{label}-end");
        self.clients[0].send(&format!("multi|lobby|other|{ODD}|{end}")).await;
        for (client, expected) in self.clients.iter_mut().zip(&expected) {
            client
                .receive_until(&format!("the {label} messages"), |seen| {
                    expected.iter().chain([&end]).all(|m| seen.contains(m))
                })
                .await;
        }
        for (client, expected) in self.clients.iter().zip(&expected) {
            let counts = client.counts(label);
            println!("[{label}] {} received {counts:?}", client.name);
            let want: BTreeMap<&str, usize> = expected.iter().chain([&end]).map(|m| (m.as_str(), 1)).collect();
            assert_eq!(counts, want, "{}: every message of its rooms exactly once, nothing else", client.name);
        }
    }
}

/// Publishes raw bytes on `subject` through a bare NATS connection (the
/// text protocol: CONNECT, PUB, then PING to know the server took it).
fn publish_raw(port: u16, subject: &str, payload: &[u8]) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to nats-server");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut wire = format!("CONNECT {{\"verbose\":false}}\r\nPUB {subject} {}\r\n", payload.len()).into_bytes();
    wire.extend_from_slice(payload);
    wire.extend_from_slice(b"\r\nPING\r\n");
    stream.write_all(&wire).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0; 512];
    while !String::from_utf8_lossy(&answer).contains("PONG") {
        let n = stream.read(&mut buffer).expect("nats-server answers PING");
        assert!(n > 0, "nats-server closed the connection: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buffer[..n]);
    }
    assert!(!String::from_utf8_lossy(&answer).contains("-ERR"), "{}", String::from_utf8_lossy(&answer));
}

#[test]
fn rooms_reach_every_node_once_and_survive_a_nats_restart_under_traffic() {
    let port = support::free_port();
    let mut nats = start_nats(port).unwrap_or_else(|e| panic!("nats-server did not start: {e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _in_runtime = runtime.enter();
    let url = format!("nats://127.0.0.1:{port}");
    let brokers = runtime.block_on(async {
        [NatsBroker::connect(&url, PREFIX).await.unwrap(), NatsBroker::connect(&url, PREFIX).await.unwrap()]
    });
    let rooms = [
        Rooms::builder().broker(brokers[0].clone(), NodeId::new(0xa)).max_message(64 * 1024).build(),
        Rooms::builder().broker(brokers[1].clone(), NodeId::new(0xb)).max_message(64 * 1024).build(),
    ];
    let actix = sockjs_examples::serve_actix(loopback_listener(), vec![rooms_endpoint(rooms[0].clone())], 2).unwrap();
    let warp = sockjs_examples::serve_warp(loopback_listener(), vec![rooms_endpoint(rooms[1].clone())], 2).unwrap();

    runtime.block_on(async {
        assert!(
            eventually(Duration::from_secs(10), || brokers.iter().all(NatsBroker::is_connected)).await,
            "both nodes connect to nats-server"
        );
        let mut clients = vec![
            Client::open("a-lobby", actix.addr(), Transport::WebSocket).await,
            Client::open("a-other", actix.addr(), Transport::XhrStreaming).await,
            Client::open("b-lobby", warp.addr(), Transport::WebSocket).await,
            Client::open("b-odd", warp.addr(), Transport::XhrStreaming).await,
        ];
        for (client, room) in clients.iter_mut().zip(["lobby", "other", "lobby", ODD]) {
            client.join(room).await;
        }
        let mut cluster = Cluster { brokers: brokers.clone(), rooms: rooms.clone(), clients };
        cluster.flush().await;
        assert_eq!(
            (cluster.brokers[0].subscriptions(), cluster.brokers[1].subscriptions()),
            (2, 2),
            "a subscription per room with members on the node: A {{lobby, other}}, B {{lobby, {ODD}}}"
        );

        // PROTOCOL.md §7.10 frames each message of the rooms to the clients.
        cluster.round("first").await;
        // A got B's lobby send (and nothing else: every other send came
        // from A, but for B's send to the odd room, which never reached A:
        // no member there, no subscription); B got A's lobby, multi-room
        // and end sends.
        let received = || (cluster.brokers[0].received(), cluster.brokers[1].received());
        assert!(eventually(Duration::from_secs(2), || received() == (1, 3)).await, "received {:?}", received());
        assert_eq!(received(), (1, 3), "each envelope reaches each node with members once, and no other");

        // Garbage, an envelope of another format and one too large on the
        // subject every node subscribes to: dropped, counted, and the node
        // goes on.
        let multi = cluster.brokers[1].multi_subject().to_owned();
        publish_raw(port, &multi, b"not an envelope");
        publish_raw(port, &multi, b"SJR\x02 a later format");
        // A real envelope, from a third node, larger than the registries'
        // 64 KiB limit: refused too, never delivered.
        let big = "x".repeat(64 * 1024 + 1);
        let oversized = Envelope::new(NodeId::new(0xc), ["lobby", "other"], [], &big).unwrap().encode();
        publish_raw(port, &multi, &oversized);
        let dropped = || (cluster.brokers[0].dropped_received(), cluster.brokers[1].dropped_received());
        assert!(eventually(Duration::from_secs(5), || dropped() == (3, 3)).await, "dropped {:?}", dropped());
        assert_eq!(received(), (1, 3), "garbage is not delivered");

        // nats-server goes away and comes back under traffic: a-lobby
        // sends TRAFFIC messages to the lobby, one every TRAFFIC_GAP.
        let sent = Arc::new(AtomicUsize::new(0));
        let traffic = tokio::spawn({
            let sender = cluster.clients[0].connection.sender();
            let sent = sent.clone();
            async move {
                for i in 0..TRAFFIC {
                    sender.send(format!("send|lobby|traffic-{i:04}")).await.expect("the session stays open");
                    sent.store(i + 1, Ordering::Relaxed);
                    tokio::time::sleep(TRAFFIC_GAP).await;
                }
            }
        });
        assert!(eventually(Duration::from_secs(10), || sent.load(Ordering::Relaxed) >= 50).await, "traffic runs");
        let failed_before = cluster.rooms[0].publish_failed();
        nats.kill();
        let down_at = Instant::now();
        assert!(
            eventually(Duration::from_secs(5), || cluster.brokers.iter().all(|b| !b.is_connected())).await,
            "both nodes notice that nats-server is gone"
        );
        assert!(
            eventually(Duration::from_secs(5), || cluster.rooms[0].publish_failed() >= failed_before + 10).await,
            "sends while nats-server is down are counted as not published"
        );
        nats = start_nats(port).unwrap_or_else(|e| panic!("nats-server did not restart: {e}"));
        assert!(
            eventually(Duration::from_secs(10), || cluster.brokers.iter().all(NatsBroker::is_connected)).await,
            "both nodes reconnect by themselves"
        );
        cluster.flush().await;
        let back_from = sent.load(Ordering::Relaxed);
        println!(
            "[restart] reconnected and subscribed again {:?} after the kill; traffic at {back_from}",
            down_at.elapsed()
        );
        assert!(back_from + 50 < TRAFFIC, "traffic goes on after the restart ({back_from} of {TRAFFIC} sent)");
        tokio::time::timeout(Duration::from_secs(30), traffic).await.expect("the traffic ends").unwrap();
        let all: Vec<String> = (0..TRAFFIC).map(|i| format!("traffic-{i:04}")).collect();
        let last = all.last().unwrap().clone();
        // a-lobby is a local member: it gets everything, at once.
        cluster.clients[0].receive_until("all of the traffic", |seen| all.iter().all(|m| seen.contains(m))).await;
        // b-lobby gets everything sent once both nodes were back.
        cluster.clients[2]
            .receive_until("the traffic sent after the restart", |seen| {
                all[back_from..].iter().all(|m| seen.contains(m))
            })
            .await;
        let lost = cluster.rooms[0].publish_failed() - failed_before;
        let local = cluster.clients[0].counts("traffic-");
        let remote = cluster.clients[2].counts("traffic-");
        println!(
            "[restart] a-lobby got {} of {TRAFFIC}, b-lobby {}; {lost} counted as not published",
            local.len(),
            remote.len()
        );
        assert_eq!(local.len(), TRAFFIC, "the local member gets every message");
        assert!(local.values().chain(remote.values()).all(|&n| n == 1), "nothing arrives twice: {remote:?}");
        assert_eq!(lost, cluster.brokers[0].publish_failed(), "the broker's count is the registry's");
        assert!(lost >= 10, "what was dropped is counted ({lost})");
        assert!(
            remote.len() as u64 + lost <= TRAFFIC as u64,
            "b-lobby got {} and {lost} were counted lost: more than {TRAFFIC} sent",
            remote.len()
        );
        assert!(remote.contains_key(last.as_str()));
        // One sender's messages to one room arrive in the order sent, on
        // its node and across (gaps where the outage dropped some).
        for client in [&cluster.clients[0], &cluster.clients[2]] {
            let order: Vec<&String> = client.seen.iter().filter(|m| m.starts_with("traffic-")).collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "{}: out of order: {order:?}", client.name);
        }
        for client in &cluster.clients {
            assert!(client.connection.close_reason().is_none(), "{}: no session closes", client.name);
        }

        cluster.round("second").await;
        assert!(
            !cluster.clients[1].seen.iter().chain(&cluster.clients[3].seen).any(|m| m.starts_with("traffic-")),
            "no lobby message reached a client outside the lobby"
        );
    });
    drop(actix);
    drop(warp);
    drop(nats);
}
