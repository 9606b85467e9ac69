//! One rooms test suite for every cluster broker (DESIGN.md §1.7: at most
//! once across nodes, one sender's order per room kept, what is dropped
//! counted; sockjs-core's rooms module docs, "Across nodes"; the `Broker`
//! trait's contract).
//!
//! A broker's test file starts its broker (a server of its own on a
//! loopback port, killed on drop), implements [`Cluster`] for it, and calls
//! the suite's functions. Each node is an endpoint of its own, in this
//! process, with its own rooms registry and broker connection, served on
//! its own loopback port by a different framework (actix, warp, axum), so
//! nodes share nothing but the broker. Clients are sockjs-client
//! websockets, one session each.
//!
//! The endpoint's handler (`/rooms`) speaks a small text protocol:
//! `join:ROOM` and `leave:ROOM` (answered `joined:ROOM` / `left:ROOM`),
//! and `send:ROOMS:EXCEPT:TEXT` (ROOMS and EXCEPT comma-separated, EXCEPT
//! may be empty) which sends TEXT through the registry to every member of
//! ROOMS but the members of EXCEPT, the sender included when it is a
//! member. A send refused by the registry is answered `error:...`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sockjs_client::Transport;
use sockjs_core::rooms::Rooms;
use sockjs_core::{Endpoint, Options, Session};

use super::{eventually, loopback_listener};

/// What a subscription count is asked about.
#[derive(Debug, Clone, Copy)]
pub enum Channel<'a> {
    /// The channel of one room.
    Room(&'a str),
    /// The channel every node subscribes to (sends naming several rooms or
    /// excepted rooms).
    Shared,
}

/// A broker the suite runs on, started by the test.
pub trait Cluster {
    /// The broker's name in messages ("redis", "redis-cluster", "nats").
    fn name(&self) -> String;
    /// A rooms registry for a new node: its own broker connection and node
    /// id. Called within the suite's tokio runtime.
    fn node_rooms(&mut self, node: usize) -> Rooms;
    /// How many connections the broker counts as subscribed to `channel`
    /// (Redis: `PUBSUB NUMSUB` / `PUBSUB SHARDNUMSUB`), blocking briefly.
    fn subscribers(&self, channel: Channel<'_>) -> usize;
    /// Stops the broker (every node loses its connections).
    fn stop(&mut self);
    /// Starts it again on the same address(es), blocking until it serves.
    fn start(&mut self);
}

/// A running node: its registry and server.
pub struct Node {
    /// The node's rooms registry.
    pub rooms: Rooms,
    addr: SocketAddr,
    _server: Server,
}

enum Server {
    Actix(sockjs_examples::ActixServer),
    Warp(sockjs_examples::WarpServer),
    Axum(sockjs_examples::AxumServer),
}

fn rooms_endpoint(rooms: Rooms) -> Endpoint {
    Endpoint::new(Options::new("/rooms").rooms(rooms), |mut session: Session| async move {
        while let Some(text) = session.recv().await {
            let reply = command(&session, &text);
            if let Some(reply) = reply {
                if session.send(reply).is_err() {
                    break;
                }
            }
        }
    })
}

/// Runs one command of the protocol in the module docs; the reply, if any.
fn command(session: &Session, text: &str) -> Option<String> {
    if let Some(room) = text.strip_prefix("join:") {
        return Some(match session.join(room) {
            Ok(_) => format!("joined:{room}"),
            Err(e) => format!("error:{e}"),
        });
    }
    if let Some(room) = text.strip_prefix("leave:") {
        session.leave(room);
        return Some(format!("left:{room}"));
    }
    let rest = text.strip_prefix("send:")?;
    let mut parts = rest.splitn(3, ':');
    let (rooms, except, body) = (parts.next()?, parts.next()?, parts.next()?);
    let registry = session.room_registry();
    let mut names = rooms.split(',');
    let mut send = registry.to(names.next()?);
    for room in names {
        send = send.to(room);
    }
    for room in except.split(',').filter(|r| !r.is_empty()) {
        send = send.except_room(room);
    }
    match send.send(body) {
        Ok(_) => None,
        Err(e) => Some(format!("error:{e}")),
    }
}

/// Starts `count` nodes on `cluster`, each served by a different framework.
pub fn start_nodes(cluster: &mut dyn Cluster, count: usize) -> Vec<Node> {
    (0..count)
        .map(|i| {
            let rooms = cluster.node_rooms(i);
            let endpoints = vec![rooms_endpoint(rooms.clone())];
            let (addr, server) = match i % 3 {
                0 => {
                    let s = sockjs_examples::serve_actix(loopback_listener(), endpoints, 1).expect("actix node");
                    (s.addr(), Server::Actix(s))
                }
                1 => {
                    let s = sockjs_examples::serve_warp(loopback_listener(), endpoints, 1).expect("warp node");
                    (s.addr(), Server::Warp(s))
                }
                _ => {
                    let s = sockjs_examples::serve_axum(loopback_listener(), endpoints, 1).expect("axum node");
                    (s.addr(), Server::Axum(s))
                }
            };
            Node { rooms, addr, _server: server }
        })
        .collect()
}

/// A client (one websocket session) and what it has received.
pub struct Client {
    /// Its name in messages.
    pub name: String,
    connection: sockjs_client::Connection,
    /// Every message received so far, in order.
    pub seen: Vec<String>,
}

/// How long any one wait of the suite may take.
const WAIT: Duration = Duration::from_secs(15);

impl Client {
    /// Opens a websocket session on `node`.
    pub async fn open(name: &str, node: &Node) -> Client {
        let connection = sockjs_client::Client::new(&format!("http://{}/rooms", node.addr))
            .unwrap()
            .transport(Transport::WebSocket)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        Client { name: name.to_owned(), connection, seen: Vec::new() }
    }

    /// Sends one protocol line.
    pub async fn send(&mut self, text: &str) {
        self.connection.send(text).await.unwrap_or_else(|e| panic!("{}: send failed: {e}", self.name));
    }

    /// Joins `room` and waits for the answer.
    pub async fn join(&mut self, room: &str) {
        self.send(&format!("join:{room}")).await;
        let ack = format!("joined:{room}");
        self.receive_until(&ack, |seen| seen.contains(&ack)).await;
    }

    /// Leaves `room` and waits for the answer.
    pub async fn leave(&mut self, room: &str) {
        self.send(&format!("leave:{room}")).await;
        let ack = format!("left:{room}");
        self.receive_until(&ack, |seen| seen.contains(&ack)).await;
    }

    /// Sends `text` to `rooms` except the members of `except`.
    pub async fn send_to(&mut self, rooms: &[&str], except: &[&str], text: &str) {
        self.send(&format!("send:{}:{}:{text}", rooms.join(","), except.join(","))).await;
    }

    /// Receives until `done(seen)` holds, within [`WAIT`]. A closed
    /// connection fails the test: no session may close.
    pub async fn receive_until(&mut self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.connection.recv()).await {
                Ok(Some(message)) => {
                    assert!(!message.starts_with("error:"), "{}: {message}", self.name);
                    self.seen.push(message);
                }
                Ok(None) => panic!(
                    "{}: connection closed ({:?}) while waiting for {what}; received {} messages, last {:?}",
                    self.name,
                    self.connection.close_reason(),
                    self.seen.len(),
                    self.seen.last()
                ),
                Err(_) => panic!(
                    "{}: still waiting for {what} after {WAIT:?}; received {} messages, last {:?}",
                    self.name,
                    self.seen.len(),
                    self.seen.last()
                ),
            }
        }
    }

    /// How often each message starting with `prefix` was received.
    pub fn counts(&self, prefix: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for message in self.seen.iter().filter(|m| m.starts_with(prefix)) {
            *counts.entry(message.clone()).or_default() += 1;
        }
        counts
    }
}

/// Waits until the broker counts `expected` subscribers of `channel`.
pub async fn wait_subscribers(cluster: &dyn Cluster, channel: Channel<'_>, expected: usize) {
    let mut last = usize::MAX;
    let held = eventually(WAIT, || {
        last = cluster.subscribers(channel);
        last == expected
    })
    .await;
    assert!(held, "{}: {channel:?} has {last} subscribers after {WAIT:?}, expected {expected}", cluster.name());
}

/// Asserts that the messages of `client` starting with `prefix-SENDER-`
/// are, for each sender, exactly `0..count` in order, once each.
fn assert_in_order_once(client: &Client, prefix: &str, senders: &[String], count: usize) {
    for sender in senders {
        let tag = format!("{prefix}-{sender}-");
        let got: Vec<usize> =
            client.seen.iter().filter_map(|m| m.strip_prefix(&tag)).map(|n| n.parse().expect("a number")).collect();
        let expected: Vec<usize> = (0..count).collect();
        assert_eq!(got, expected, "{}: the messages of {sender}, once each and in order", client.name);
    }
}

/// A room spread over three nodes: what each of four members (two on one
/// node) sends reaches every member on every node exactly once, in the
/// order each sender sent it; a node does not deliver its own envelopes
/// twice (the sender's node gets its sends locally, not again through the
/// broker).
pub async fn one_room_across_nodes(cluster: &mut dyn Cluster, nodes: &[Node]) {
    const COUNT: usize = 50;
    let room = "lobby 🙂 {tag}";
    let mut clients = vec![
        Client::open("n0-a", &nodes[0]).await,
        Client::open("n0-b", &nodes[0]).await,
        Client::open("n1-a", &nodes[1]).await,
        Client::open("n2-a", &nodes[2]).await,
    ];
    for client in clients.iter_mut() {
        client.join(room).await;
    }
    wait_subscribers(cluster, Channel::Room(room), 3).await;
    wait_subscribers(cluster, Channel::Shared, 3).await;
    let senders: Vec<String> = clients.iter().map(|c| c.name.clone()).collect();
    let started = Instant::now();
    for i in 0..COUNT {
        for client in clients.iter_mut() {
            let text = format!("m-{}-{i}", client.name);
            client.send_to(&[room], &[], &text).await;
        }
    }
    for client in clients.iter_mut() {
        client
            .receive_until("every message", |seen| seen.iter().filter(|m| m.starts_with("m-")).count() >= 4 * COUNT)
            .await;
    }
    println!("[{}] {} messages to 4 members on 3 nodes in {:?}", cluster.name(), 4 * COUNT, started.elapsed());
    // An end marker from each sender, after which any duplicate of its
    // messages would have arrived (one channel, one publisher, in order).
    for client in clients.iter_mut() {
        let text = format!("end-{}", client.name);
        client.send_to(&[room], &[], &text).await;
    }
    for client in clients.iter_mut() {
        client
            .receive_until("the end markers", |seen| seen.iter().filter(|m| m.starts_with("end-")).count() >= 4)
            .await;
    }
    for client in &clients {
        assert_in_order_once(client, "m", &senders, COUNT);
        let ends = client.counts("end-");
        assert_eq!(ends.len(), 4, "{}: {ends:?}", client.name);
        assert!(ends.values().all(|n| *n == 1), "{}: an end marker twice: {ends:?}", client.name);
        assert_eq!(client.counts("m-").len(), 4 * COUNT, "{}", client.name);
    }
    assert_eq!(nodes[0].rooms.member_count(room), 2);
    assert_eq!(nodes[1].rooms.member_count(room), 1);
}

/// Sends naming several rooms and excepted rooms, across nodes: a member
/// of two target rooms gets one copy, members of an excepted room none,
/// on every node.
pub async fn several_rooms_and_except_across_nodes(cluster: &mut dyn Cluster, nodes: &[Node]) {
    let mut c0 = Client::open("x-n0", &nodes[0]).await; // in a
    let mut c1 = Client::open("x-n1", &nodes[1]).await; // in b
    let mut c2 = Client::open("x-n2", &nodes[2]).await; // in a and muted
    let mut c3 = Client::open("x-n1-ab", &nodes[1]).await; // in a and b
    c0.join("a").await;
    c1.join("b").await;
    c2.join("a").await;
    c2.join("muted").await;
    c3.join("a").await;
    c3.join("b").await;
    wait_subscribers(cluster, Channel::Room("a"), 3).await;
    wait_subscribers(cluster, Channel::Room("b"), 1).await;
    wait_subscribers(cluster, Channel::Room("muted"), 1).await;
    wait_subscribers(cluster, Channel::Shared, 3).await;
    c0.send_to(&["a", "b"], &["muted"], "x-not-muted").await;
    // Sent after it on the same (shared) channel by the same node: once
    // this arrives, the excepted one would have arrived before it.
    c0.send_to(&["a", "b"], &[], "x-everyone").await;
    for client in [&mut c0, &mut c1, &mut c2, &mut c3] {
        client.receive_until("x-everyone", |seen| seen.iter().any(|m| m == "x-everyone")).await;
    }
    for client in [&c0, &c1, &c3] {
        let counts = client.counts("x-");
        assert_eq!(counts.get("x-not-muted"), Some(&1), "{}: {counts:?}", client.name);
        assert_eq!(counts.get("x-everyone"), Some(&1), "{}: {counts:?}", client.name);
    }
    let counts = c2.counts("x-");
    assert_eq!(counts.get("x-not-muted"), None, "a member of the excepted room got it: {counts:?}");
    assert_eq!(counts.get("x-everyone"), Some(&1), "{counts:?}");
    // A single-room send with an excepted room travels like the others.
    c1.send_to(&["a"], &["b"], "x-a-not-b").await;
    c1.send_to(&["a"], &["muted"], "x-a-not-muted").await;
    // Both travel on the shared channel, as this marker does.
    c1.send_to(&["a", "b"], &[], "x-end").await;
    for client in [&mut c0, &mut c2, &mut c3] {
        client.receive_until("x-end", |seen| seen.iter().any(|m| m == "x-end")).await;
    }
    assert_eq!(c0.counts("x-a-not-muted").get("x-a-not-muted"), Some(&1));
    assert_eq!(c3.counts("x-a-not-muted").get("x-a-not-muted"), Some(&1));
    assert_eq!(c0.counts("x-a-not-b").get("x-a-not-b"), Some(&1));
    assert_eq!(c2.counts("x-a-not-b").get("x-a-not-b"), Some(&1));
    assert_eq!(c3.counts("x-a-not-b").get("x-a-not-b"), None, "x-n1-ab is in b");
    assert_eq!(c2.counts("x-a-not-muted").get("x-a-not-muted"), None, "x-n2 is in muted");
}

/// A node subscribes to a room's channel only while it has members in it:
/// the broker's own count follows joins and leaves on each node.
pub async fn subscriptions_follow_members(cluster: &mut dyn Cluster, nodes: &[Node]) {
    let room = "solo";
    let mut c0 = Client::open("s-n0", &nodes[0]).await;
    let mut c1 = Client::open("s-n1", &nodes[1]).await;
    let mut c1b = Client::open("s-n1-b", &nodes[1]).await;
    c0.join(room).await;
    wait_subscribers(cluster, Channel::Room(room), 1).await;
    assert_eq!(nodes[1].rooms.member_count(room), 0);
    c1.join(room).await;
    c1b.join(room).await;
    wait_subscribers(cluster, Channel::Room(room), 2).await;
    c1.leave(room).await;
    // Still one member on node 1: still subscribed.
    c1.send("join:other").await;
    c1.receive_until("joined:other", |seen| seen.iter().any(|m| m == "joined:other")).await;
    assert_eq!(cluster.subscribers(Channel::Room(room)), 2, "node 1 still has a member");
    c1b.leave(room).await;
    wait_subscribers(cluster, Channel::Room(room), 1).await;
    // A session that ends leaves its rooms, and the node unsubscribes.
    drop(c0);
    wait_subscribers(cluster, Channel::Room(room), 0).await;
    wait_subscribers(cluster, Channel::Room("other"), 1).await;
    assert!(nodes[0].rooms.room_names().iter().all(|r| r != room));
}

/// What [`broker_restart_under_traffic`] saw.
#[derive(Debug)]
pub struct RestartReport {
    /// Messages the sender sent to the room.
    pub sent: usize,
    /// Of those, how many the member on the other node received.
    pub received_remote: usize,
    /// Messages the sender's node counted as not published.
    pub publish_failed: u64,
}

/// The broker stops and starts again while one node sends to a room
/// spread over two nodes (bounded: `COUNT` messages, 5 ms apart): no
/// session closes; the local member gets every message; the remote member
/// gets each at most once and in order, and everything sent after the
/// broker is back; a room joined while it was away is subscribed once it
/// is back; what was lost is counted or visible in the counts.
pub async fn broker_restart_under_traffic(cluster: &mut dyn Cluster, nodes: &[Node]) -> RestartReport {
    const COUNT: usize = 300;
    const AFTER: usize = 30;
    let room = "restart";
    let mut sender = Client::open("r-n0-sender", &nodes[0]).await;
    let mut local = Client::open("r-n0-local", &nodes[0]).await;
    let mut remote = Client::open("r-n1-remote", &nodes[1]).await;
    for client in [&mut sender, &mut local, &mut remote] {
        client.join(room).await;
    }
    wait_subscribers(cluster, Channel::Room(room), 2).await;
    let mut late = Client::open("r-n1-late", &nodes[1]).await;
    let failed_before = nodes[0].rooms.publish_failed();
    for i in 0..COUNT {
        if i == COUNT / 3 {
            cluster.stop();
        }
        if i == COUNT / 2 {
            // Joined while the broker is away: subscribed once it is back.
            late.join("restart-late").await;
        }
        if i == 2 * COUNT / 3 {
            cluster.start();
        }
        sender.send_to(&[room], &[], &format!("f-{i}")).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Back: both nodes re-subscribe by themselves.
    let back = Instant::now();
    wait_subscribers(cluster, Channel::Room(room), 2).await;
    wait_subscribers(cluster, Channel::Room("restart-late"), 1).await;
    println!("[{}] both nodes re-subscribed {:?} after the traffic ended", cluster.name(), back.elapsed());
    // The publisher may need one failed send to notice its connection is
    // gone; what is sent after a successful round trip must all arrive.
    let mut probe = 0;
    let probed = loop {
        let text = format!("probe-{probe}");
        sender.send_to(&[room], &[], &text).await;
        let arrived = tokio::time::timeout(Duration::from_millis(500), async {
            while !remote.seen.contains(&text) {
                match remote.connection.recv().await {
                    Some(m) => remote.seen.push(m),
                    None => panic!("the remote session closed"),
                }
            }
        })
        .await
        .is_ok();
        probe += 1;
        if arrived || probe >= 20 {
            break arrived;
        }
    };
    assert!(probed, "{}: nothing sent after the restart reached the other node ({probe} probes)", cluster.name());
    for i in 0..AFTER {
        sender.send_to(&[room], &[], &format!("after-{i}")).await;
    }
    let last = format!("after-{}", AFTER - 1);
    for client in [&mut sender, &mut local, &mut remote] {
        client.receive_until(&last, |seen| seen.contains(&last)).await;
    }
    // No session closed, and the local member got everything at once.
    for client in [&sender, &local] {
        let got: Vec<usize> =
            client.seen.iter().filter_map(|m| m.strip_prefix("f-")).map(|n| n.parse().unwrap()).collect();
        assert_eq!(got, (0..COUNT).collect::<Vec<_>>(), "{}: local delivery never depends on the broker", client.name);
    }
    for client in [&sender, &local, &remote] {
        let got: Vec<usize> =
            client.seen.iter().filter_map(|m| m.strip_prefix("after-")).map(|n| n.parse().unwrap()).collect();
        assert_eq!(
            got,
            (0..AFTER).collect::<Vec<_>>(),
            "{}: everything sent after the restart, once, in order",
            client.name
        );
    }
    let remote_f: Vec<usize> =
        remote.seen.iter().filter_map(|m| m.strip_prefix("f-")).map(|n| n.parse().unwrap()).collect();
    assert!(remote_f.windows(2).all(|w| w[0] < w[1]), "remote: at most once and in order: {remote_f:?}");
    assert!(!remote_f.is_empty(), "remote: the traffic before the stop arrived");
    let probes = remote.counts("probe-");
    assert!(probes.values().all(|n| *n == 1), "a probe arrived twice: {probes:?}");
    let publish_failed = nodes[0].rooms.publish_failed() - failed_before;
    let report = RestartReport { sent: COUNT, received_remote: remote_f.len(), publish_failed };
    println!("[{}] restart under traffic: {report:?}", cluster.name());
    assert!(
        report.received_remote == COUNT || report.publish_failed > 0,
        "{}: messages were lost ({} of {COUNT} arrived) but none was counted",
        cluster.name(),
        report.received_remote
    );
    assert!(report.received_remote < COUNT, "the broker was down for a third of the traffic: some must be lost");
    assert_eq!(nodes[0].rooms.member_count(room), 2, "no session closed");
    assert_eq!(nodes[1].rooms.member_count(room), 1, "no session closed");
    report
}

/// `count` sends to one room from one node's registry in a burst (no
/// wait between them; `count` within the broker's publish queue): the
/// member on the other node gets every one, once, in order. Returns how
/// long that took, from the first send to the last arrival.
pub async fn burst_in_order(cluster: &mut dyn Cluster, nodes: &[Node], count: usize) -> Duration {
    let room = "burst";
    let mut remote = Client::open("b-n1", &nodes[1]).await;
    remote.join(room).await;
    wait_subscribers(cluster, Channel::Room(room), 1).await;
    let started = Instant::now();
    for i in 0..count {
        let sent = nodes[0].rooms.to(room).send(&format!("b-{i}")).expect("a valid send");
        assert!(sent.published, "handed to the broker");
    }
    let last = format!("b-{}", count - 1);
    remote.receive_until(&last, |seen| seen.last() == Some(&last)).await;
    let took = started.elapsed();
    let got: Vec<usize> = remote.seen.iter().filter_map(|m| m.strip_prefix("b-")).map(|n| n.parse().unwrap()).collect();
    assert_eq!(got, (0..count).collect::<Vec<_>>(), "every message of the burst, once, in order");
    println!("[{}] a burst of {count} sends reached the other node in {took:?}", cluster.name());
    took
}
