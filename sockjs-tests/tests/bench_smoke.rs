//! A short smoke run of the load generator (`sockjs-bench`) against the
//! actix reference server started in-process: proves the scenarios work
//! end to end. No timing assertions; the figures live in BENCHMARKS.md.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sockjs_core::rooms::{Broker, BrokerHandle, Envelope, NodeId, Rooms};
use sockjs_tests::bench::{run, Config, FanoutTransport, Scenario};

fn field(report: &Value, key: &str) -> u64 {
    report.get(key).and_then(Value::as_u64).unwrap_or_else(|| panic!("no {key} in {report}"))
}

/// Every message sent was echoed (and matched), with no errors.
fn assert_echo_sane(report: &Value) {
    println!("{report}");
    assert!(field(report, "messages") > 0, "no message went through: {report}");
    assert_eq!(field(report, "errors"), 0, "{report}");
    assert_eq!(field(report, "unechoed"), 0, "{report}");
    assert_eq!(field(report, "mismatched"), 0, "{report}");
    assert!(report.get("server_cpu_us_per_msg").and_then(Value::as_f64).is_some(), "{report}");
}

#[test]
fn load_generator_scenarios_run_against_actix() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoints = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
    let server = sockjs_examples::serve_actix(listener, endpoints, 2).unwrap();
    let addr = server.addr().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    // The server runs in this process: its PID is ours.
    let config = |scenario| {
        let mut c = Config::new(scenario, &addr);
        c.server_pid = Some(std::process::id());
        c.sessions = 4;
        c.inflight = 2;
        c.duration = Duration::from_millis(700);
        c
    };

    let ws = runtime.block_on(run(&config(Scenario::WsEcho)));
    assert_echo_sane(&ws);
    assert_eq!(ws["scenario"], "ws-echo");

    let mut streaming = config(Scenario::XhrStreaming);
    streaming.size = 512;
    let streaming = runtime.block_on(run(&streaming));
    assert_echo_sane(&streaming);
    // 512-byte messages against response_limit 4096: the stream reopens.
    assert!(field(&streaming, "reconnects") > 0, "{streaming}");

    let polling = runtime.block_on(run(&config(Scenario::XhrPolling)));
    assert_echo_sane(&polling);

    let mut fanout = config(Scenario::Fanout);
    fanout.sessions = 20;
    fanout.rounds = 2;
    fanout.fanout_transport = FanoutTransport::EventSource;
    let fanout = runtime.block_on(run(&fanout));
    println!("{fanout}");
    assert_eq!(field(&fanout, "receivers"), 20, "{fanout}");
    assert_eq!(field(&fanout, "delivered"), 40, "every receiver got both broadcasts: {fanout}");
    assert_eq!(field(&fanout, "missing"), 0, "{fanout}");
    assert_eq!(field(&fanout, "errors"), 0, "{fanout}");

    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(server);
}

/// A room scenario delivered every round to every receiver, without
/// errors, and measured the server's CPU.
fn assert_rooms_sane(report: &Value, receivers: u64, rounds: u64) {
    println!("{report}");
    assert_eq!(field(report, "errors"), 0, "{report}");
    assert_eq!(field(report, "receivers"), receivers, "{report}");
    assert_eq!(field(report, "delivered"), receivers * rounds, "every receiver got every round: {report}");
    assert_eq!(field(report, "missing"), 0, "{report}");
    assert!(report.get("first_error").is_none(), "{report}");
    assert!(report.get("p99_ms").and_then(Value::as_f64).is_some(), "{report}");
    assert!(report.get("server_cpu_us_per_delivery").and_then(Value::as_f64).is_some(), "{report}");
}

#[test]
fn room_fanout_delivers_to_every_room() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoints = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
    let server = sockjs_examples::serve_actix(listener, endpoints, 2).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut config = Config::new(Scenario::RoomFanout, &server.addr().to_string());
    config.server_pid = Some(std::process::id());
    config.sessions = 20;
    config.rooms = 5;
    config.rounds = 2;

    let many = runtime.block_on(run(&config));
    assert_rooms_sane(&many, 20, 2);
    assert_eq!(many["scenario"], "room-fanout");
    assert_eq!(field(&many, "rooms"), 5, "{many}");
    assert_eq!(field(&many, "senders"), 5, "one sender per room: {many}");

    config.sessions = 12;
    config.rooms = 1;
    config.fanout_transport = FanoutTransport::XhrStreaming;
    let one = runtime.block_on(run(&config));
    assert_rooms_sane(&one, 12, 2);
    assert_eq!(one["transport"], "xhr_streaming");
    assert_eq!(field(&one, "senders"), 1, "{one}");
}

/// The permessage-deflate cases against actix with `websocket_deflate` on:
/// a 4 KiB ws echo through the client codec crosses the wire compressed
/// (fewer bytes per round trip than the message itself), and every
/// inflate-bomb session is closed with 1009.
#[test]
fn deflate_cases_run_against_actix() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let options = sockjs_core::Options::new("/echo").websocket_deflate(sockjs_core::Deflate::new());
    let endpoints = vec![sockjs_core::Endpoint::new(options, sockjs_examples::echo)];
    let server = sockjs_examples::serve_actix(listener, endpoints, 2).unwrap();
    let addr = server.addr().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = |scenario| {
        let mut c = Config::new(scenario, &addr);
        c.server_pid = Some(std::process::id());
        c.sessions = 2;
        c.duration = Duration::from_millis(500);
        c.pause = Duration::ZERO;
        c.deflate = Some(sockjs_core::client::ClientDeflate::new(sockjs_core::Deflate::new()));
        c
    };

    let mut echo = config(Scenario::WsEcho);
    echo.size = 4096;
    let echo = runtime.block_on(run(&echo));
    assert_echo_sane(&echo);
    assert_eq!(echo["deflate"], true);
    // Both directions of one round trip, framing included.
    let per_msg = echo.get("wire_bytes_per_msg").and_then(Value::as_f64).expect("wire bytes per message");
    assert!(per_msg < 1024.0, "{echo}");

    let mut bomb = config(Scenario::InflateBomb);
    bomb.size = 1 << 20;
    let bomb = runtime.block_on(run(&bomb));
    println!("{bomb}");
    assert_eq!(field(&bomb, "closed_1009"), 2, "{bomb}");
    assert_eq!(field(&bomb, "errors"), 0, "{bomb}");
    assert!(field(&bomb, "compressed_frame_bytes") < 8 * 1024, "{bomb}");

    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(server);
}

/// An in-process broker between registries: what one publishes, every
/// other gets at once (each ignores its own).
#[derive(Clone, Default)]
struct Loopback {
    handles: Arc<Mutex<Vec<BrokerHandle>>>,
}

impl Broker for Loopback {
    fn attach(&self, handle: BrokerHandle) {
        self.handles.lock().unwrap().push(handle);
    }

    fn subscribe(&self, _room: &str) {}

    fn unsubscribe(&self, _room: &str) {}

    fn publish(&self, envelope: Envelope) {
        let handles = self.handles.lock().unwrap().clone();
        for handle in handles {
            handle.deliver(&envelope);
        }
    }
}

#[test]
fn room_cross_node_delivers_on_both_servers() {
    let broker = Loopback::default();
    let servers: Vec<_> = (1..=2u64)
        .map(|node| {
            let rooms = Rooms::builder().broker(broker.clone(), NodeId::new(node)).build();
            let endpoints = sockjs_examples::reference_endpoints_with(|options| options.rooms(rooms.clone()));
            sockjs_examples::serve_actix(TcpListener::bind("127.0.0.1:0").unwrap(), endpoints, 1).unwrap()
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut config = Config::new(Scenario::RoomCrossNode, &servers[0].addr().to_string());
    config.addr2 = Some(servers[1].addr().to_string());
    // Both servers run in this process: both PIDs are ours.
    config.server_pid = Some(std::process::id());
    config.server_pid2 = Some(std::process::id());
    config.sessions = 16;
    config.rooms = 4;
    config.rounds = 2;

    let report = runtime.block_on(run(&config));
    assert_rooms_sane(&report, 16, 2);
    assert_eq!(field(&report, "nodes"), 2, "{report}");
    assert_eq!(field(&report, "receivers_on_second"), 8, "half the receivers on the second server: {report}");
    assert_eq!(field(&report, "remote_deliveries"), 16, "they got both rounds through the broker: {report}");
    assert!(report.get("remote_p99_ms").and_then(Value::as_f64).is_some(), "{report}");

    // Without the second server the scenario reports why, and does nothing.
    config.addr2 = None;
    let refused = runtime.block_on(run(&config));
    assert_eq!(field(&refused, "errors"), 1, "{refused}");
    assert!(refused["first_error"].as_str().is_some_and(|e| e.contains("--addr2")), "{refused}");

    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(servers);
}
