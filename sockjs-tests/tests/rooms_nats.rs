//! The rooms suite (support/rooms_suite.rs) on sockjs-nats's `NatsBroker`:
//! a nats-server started by the test on a free loopback port (and its
//! monitoring port), killed on drop. Three nodes in this process (actix,
//! warp, axum), each with its own registry and NATS connection.
//!
//! Subscriptions are counted by nats-server itself: its monitoring
//! endpoint `/connz?subs=1` lists each connection's subjects.
//!
//! nats-server (Debian's nats-server) is required: without it the tests
//! fail, they never skip; sockjs-tests/scaling/setup.sh installs it.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use sockjs_core::rooms::{NodeId, Rooms};
use sockjs_nats::NatsBroker;
use support::rooms_suite::{self, Channel, Cluster};
use support::ProcessGuard;

const NATS: &str = "/usr/sbin/nats-server";
const PREFIX: &str = "t";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

struct Nats {
    port: u16,
    monitor: u16,
    server: Option<ProcessGuard>,
    brokers: Vec<NatsBroker>,
}

impl Nats {
    fn start_server(port: u16, monitor: u16) -> ProcessGuard {
        let (port_arg, monitor_arg) = (port.to_string(), monitor.to_string());
        let args = ["-a", "127.0.0.1", "-p", &port_arg, "-m", &monitor_arg];
        let mut nats = ProcessGuard::spawn("nats-server", NATS, &args, &[]);
        for port in [port, monitor] {
            nats.wait_listening(SocketAddr::from(([127, 0, 0, 1], port))).unwrap_or_else(|e| panic!("{e}"));
        }
        nats
    }

    fn new() -> Nats {
        let (port, monitor) = (support::free_port(), support::free_port());
        Nats { port, monitor, server: Some(Nats::start_server(port, monitor)), brokers: Vec::new() }
    }

    /// nats-server's `/connz?subs=1`, parsed.
    fn connz(&self) -> serde_json::Value {
        let mut stream = TcpStream::connect(("127.0.0.1", self.monitor)).expect("the monitoring port");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(b"GET /connz?subs=1&limit=1024 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("a /connz response");
        let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("/connz: {e}: {response}"))
    }
}

impl Cluster for Nats {
    fn name(&self) -> String {
        "nats".into()
    }
    fn node_rooms(&mut self, node: usize) -> Rooms {
        let url = format!("nats://127.0.0.1:{}", self.port);
        let broker = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(NatsBroker::connect(&url, PREFIX))
        })
        .expect("a broker");
        self.brokers.push(broker.clone());
        Rooms::builder().broker(broker, NodeId::new(node as u64 + 1)).label("rooms").build()
    }
    fn subscribers(&self, channel: Channel<'_>) -> usize {
        let subject = match channel {
            Channel::Room(room) => sockjs_nats::room_subject(PREFIX, room),
            Channel::Shared => sockjs_nats::multi_subject(PREFIX),
        };
        let connz = self.connz();
        let connections = connz["connections"].as_array().cloned().unwrap_or_default();
        connections
            .iter()
            .filter(|c| {
                c["subscriptions_list"].as_array().is_some_and(|subs| subs.iter().any(|s| s.as_str() == Some(&subject)))
            })
            .count()
    }
    fn stop(&mut self) {
        self.server = None;
    }
    fn start(&mut self) {
        self.server = Some(Nats::start_server(self.port, self.monitor));
    }
}

#[test]
fn rooms_across_nodes_on_nats() {
    let mut nats = Nats::new();
    let runtime = runtime();
    let _in_runtime = runtime.enter();
    let nodes = rooms_suite::start_nodes(&mut nats, 3);
    runtime.block_on(async {
        rooms_suite::one_room_across_nodes(&mut nats, &nodes).await;
        rooms_suite::several_rooms_and_except_across_nodes(&mut nats, &nodes).await;
        rooms_suite::subscriptions_follow_members(&mut nats, &nodes).await;
        // Within PUBLISH_QUEUE: nothing may be dropped.
        const BURST: usize = 2000;
        const { assert!(BURST <= sockjs_nats::PUBLISH_QUEUE) };
        rooms_suite::burst_in_order(&mut nats, &nodes, BURST).await;
    });
    for broker in &nats.brokers {
        assert_eq!(broker.dropped_received(), 0, "nothing dropped on the way in");
        assert_eq!(broker.publish_failed(), 0, "nothing lost on the way out");
    }
}

#[test]
fn rooms_survive_a_nats_restart() {
    let mut nats = Nats::new();
    let runtime = runtime();
    let _in_runtime = runtime.enter();
    let nodes = rooms_suite::start_nodes(&mut nats, 2);
    let report = runtime.block_on(rooms_suite::broker_restart_under_traffic(&mut nats, &nodes));
    assert!(report.publish_failed > 0, "the publisher saw nats-server go: {report:?}");
    assert_eq!(nats.brokers[0].publish_failed(), report.publish_failed, "the broker's count is the registry's");
    assert!(nats.brokers.iter().all(|b| b.disconnections() >= 1), "every node saw the connection go");
}
