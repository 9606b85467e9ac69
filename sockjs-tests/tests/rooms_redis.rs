//! The rooms suite (support/rooms_suite.rs) on sockjs-redis's
//! `RedisBroker` (DESIGN.md §1.7): on a standalone redis-server and on a Redis Cluster of
//! three masters, each started by the test on free loopback ports (temp
//! dirs for the cluster) and killed on drop. Three nodes in this process
//! (actix, warp, axum), each with its own registry and broker connections.
//!
//! Subscriptions are counted by Redis itself: `PUBSUB NUMSUB` on the
//! standalone server, `PUBSUB SHARDNUMSUB` summed over the masters on the
//! cluster (redis-cli).
//!
//! redis-server and redis-cli (Debian's redis-server and redis-tools) are
//! required: without them the tests fail, they never skip;
//! sockjs-tests/scaling/setup.sh installs them.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use sockjs_core::rooms::{NodeId, Rooms};
use sockjs_redis::{RedisBroker, RedisConfig};
use support::rooms_suite::{self, Channel, Cluster};
use support::ProcessGuard;

const REDIS_CLI: &str = "/usr/bin/redis-cli";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// `redis-cli -p PORT ARGS...`: its output, trimmed.
fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new(REDIS_CLI).arg("-p").arg(port.to_string()).args(args).output().unwrap_or_else(|e| {
        panic!("{REDIS_CLI} is missing ({e}): install redis-tools (sockjs-tests/scaling/setup.sh)")
    });
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The count in a `PUBSUB NUMSUB`/`SHARDNUMSUB` reply (`channel\ncount`);
/// `None` for an error reply (a shard that does not own the channel).
fn numsub(reply: &str) -> Option<usize> {
    reply.lines().nth(1).and_then(|n| n.trim().parse().ok())
}

fn broker_rooms(config: RedisConfig, node: usize) -> (Rooms, RedisBroker) {
    let broker = RedisBroker::connect(config).expect("a broker");
    let rooms = Rooms::builder().broker(broker.clone(), NodeId::new(node as u64 + 1)).label("rooms").build();
    (rooms, broker)
}

struct Standalone {
    port: u16,
    redis: Option<ProcessGuard>,
    prefix: String,
    brokers: Vec<RedisBroker>,
}

impl Standalone {
    fn new() -> Standalone {
        let port = support::free_port();
        Standalone { port, redis: Some(support::redis_server(port)), prefix: "t".into(), brokers: Vec::new() }
    }

    fn channel(&self, channel: Channel<'_>) -> String {
        match channel {
            Channel::Room(room) => sockjs_redis::room_channel(&self.prefix, room),
            Channel::Shared => sockjs_redis::shared_channel(&self.prefix),
        }
    }
}

impl Cluster for Standalone {
    fn name(&self) -> String {
        "redis".into()
    }
    fn node_rooms(&mut self, node: usize) -> Rooms {
        let url = format!("redis://127.0.0.1:{}/", self.port);
        let (rooms, broker) = broker_rooms(RedisConfig::standalone(&url).prefix(&self.prefix), node);
        self.brokers.push(broker);
        rooms
    }
    fn subscribers(&self, channel: Channel<'_>) -> usize {
        let reply = cli(self.port, &["PUBSUB", "NUMSUB", &self.channel(channel)]);
        numsub(&reply).unwrap_or_else(|| panic!("PUBSUB NUMSUB: {reply:?}"))
    }
    fn stop(&mut self) {
        self.redis = None;
    }
    fn start(&mut self) {
        self.redis = Some(support::redis_server(self.port));
    }
}

/// Three masters, no replicas, all 16384 slots covered.
struct RedisCluster {
    /// (client port, cluster bus port) per master.
    ports: Vec<(u16, u16)>,
    dir: PathBuf,
    servers: Vec<ProcessGuard>,
    prefix: String,
    brokers: Vec<RedisBroker>,
}

impl RedisCluster {
    fn start_server(dir: &std::path::Path, port: u16, bus: u16) -> ProcessGuard {
        let node_dir = dir.join(port.to_string());
        std::fs::create_dir_all(&node_dir).unwrap();
        let (port_arg, bus_arg) = (port.to_string(), bus.to_string());
        let dir_arg = node_dir.to_string_lossy().into_owned();
        let args = [
            "--port",
            &port_arg,
            "--cluster-port",
            &bus_arg,
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
            "--dir",
            &dir_arg,
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        let mut redis = ProcessGuard::spawn("redis-cluster-node", support::REDIS_SERVER, &args, &[]);
        redis.wait_listening(SocketAddr::from(([127, 0, 0, 1], port))).unwrap_or_else(|e| panic!("{e}"));
        redis
    }

    fn start_all(&mut self) {
        self.servers = self.ports.iter().map(|&(port, bus)| RedisCluster::start_server(&self.dir, port, bus)).collect();
    }

    /// Waits (bounded) until every master says `cluster_state:ok`.
    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.ports.iter().all(|&(port, _)| cli(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")) {
            assert!(
                Instant::now() < deadline,
                "the cluster is not ok after 20 s: {}",
                cli(self.ports[0].0, &["CLUSTER", "INFO"])
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn new() -> RedisCluster {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sockjs-redis-cluster-{}-{n}", std::process::id()));
        let ports = (0..3).map(|_| (support::free_port(), support::free_port())).collect();
        let mut cluster = RedisCluster { ports, dir, servers: Vec::new(), prefix: "t".into(), brokers: Vec::new() };
        cluster.start_all();
        let mut create = Command::new(REDIS_CLI);
        create.args(["--cluster", "create"]);
        for (port, _) in &cluster.ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let output = create.args(["--cluster-replicas", "0", "--cluster-yes"]).output().expect("redis-cli --cluster");
        assert!(output.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&output.stdout));
        cluster.wait_ok();
        cluster
    }

    fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|(port, _)| format!("redis://127.0.0.1:{port}/")).collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.servers.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cluster for RedisCluster {
    fn name(&self) -> String {
        "redis-cluster".into()
    }
    fn node_rooms(&mut self, node: usize) -> Rooms {
        let (rooms, broker) = broker_rooms(RedisConfig::cluster(&self.urls()).prefix(&self.prefix), node);
        self.brokers.push(broker);
        rooms
    }
    fn subscribers(&self, channel: Channel<'_>) -> usize {
        let name = match channel {
            Channel::Room(room) => sockjs_redis::room_channel(&self.prefix, room),
            Channel::Shared => sockjs_redis::shared_channel(&self.prefix),
        };
        // Each master counts its own sharded subscribers (the channel's
        // owner; the others answer 0 or redirect).
        self.ports.iter().filter_map(|&(port, _)| numsub(&cli(port, &["PUBSUB", "SHARDNUMSUB", &name]))).sum()
    }
    fn stop(&mut self) {
        self.servers.clear();
    }
    fn start(&mut self) {
        self.start_all();
        self.wait_ok();
    }
}

fn suite(cluster: &mut dyn Cluster) {
    let runtime = runtime();
    let _in_runtime = runtime.enter();
    let nodes = rooms_suite::start_nodes(cluster, 3);
    runtime.block_on(async {
        rooms_suite::one_room_across_nodes(cluster, &nodes).await;
        rooms_suite::several_rooms_and_except_across_nodes(cluster, &nodes).await;
        rooms_suite::subscriptions_follow_members(cluster, &nodes).await;
        // Within PUBLISH_QUEUE: nothing may be dropped.
        rooms_suite::burst_in_order(cluster, &nodes, 2000).await;
    });
}

fn restart(cluster: &mut dyn Cluster) -> rooms_suite::RestartReport {
    let runtime = runtime();
    let _in_runtime = runtime.enter();
    let nodes = rooms_suite::start_nodes(cluster, 2);
    runtime.block_on(rooms_suite::broker_restart_under_traffic(cluster, &nodes))
}

#[test]
fn rooms_across_nodes_on_redis() {
    let mut redis = Standalone::new();
    suite(&mut redis);
    for broker in &redis.brokers {
        assert_eq!(broker.garbage(), 0);
        assert_eq!(broker.receive_dropped(), 0);
    }
    assert!(redis.brokers[0].published() >= 2000, "the burst was published: {}", redis.brokers[0].published());
}

#[test]
fn rooms_survive_a_redis_restart() {
    let mut redis = Standalone::new();
    let report = restart(&mut redis);
    assert!(report.publish_failed > 0, "the publisher saw Redis go: {report:?}");
}

#[test]
fn rooms_across_nodes_on_redis_cluster() {
    let mut cluster = RedisCluster::new();
    suite(&mut cluster);
    for broker in &cluster.brokers {
        assert_eq!(broker.garbage(), 0);
    }
}

#[test]
fn rooms_survive_a_redis_cluster_restart() {
    let mut cluster = RedisCluster::new();
    let report = restart(&mut cluster);
    assert!(report.publish_failed > 0, "the publisher saw the cluster go: {report:?}");
}

/// What is not an envelope, published on a room's channel, is counted
/// and dropped, never delivered.
#[test]
fn garbage_on_a_room_channel_is_dropped_and_counted() {
    let mut redis = Standalone::new();
    let runtime = runtime();
    let _in_runtime = runtime.enter();
    let nodes = rooms_suite::start_nodes(&mut redis, 1);
    runtime.block_on(async {
        let mut client = rooms_suite::Client::open("g", &nodes[0]).await;
        client.join("g").await;
        rooms_suite::wait_subscribers(&redis, Channel::Room("g"), 1).await;
        let channel = sockjs_redis::room_channel("t", "g");
        assert_eq!(numsub(&format!("x\n{}", cli(redis.port, &["PUBLISH", &channel, "not an envelope"]))), Some(1));
        assert_eq!(
            numsub(&format!("x\n{}", cli(redis.port, &["PUBLISH", &sockjs_redis::shared_channel("t"), "SJR\u{1}"]))),
            Some(1)
        );
        assert!(support::eventually(Duration::from_secs(5), || redis.brokers[0].garbage() == 2).await);
        client.send_to(&["g"], &[], "real").await;
        client.receive_until("real", |seen| seen.iter().any(|m| m == "real")).await;
        assert_eq!(client.seen, ["joined:g", "real"], "garbage is never delivered");
    });
}
