//! `sockjs-bench`: the SockJS load generator.
//!
//! ```text
//! sockjs-bench run --addr 127.0.0.1:8081 --scenario ws-echo --pid 1234 \
//!     [--label actix] [--case ws-32] [--sessions 100] [--size 32] [--inflight 8] \
//!     [--duration-ms 6000] [--rounds 5] [--fanout-transport eventsource|xhr-streaming] \
//!     [--heartbeat-ms 25000] [--source-ips 127.0.0.2,127.0.0.3] [--concurrency 64] \
//!     [--prefix /echo] [--broadcast-prefix /broadcast] [--push-prefix /push] \
//!     [--pause-ms 10000] [--rooms 1000] [--rooms-prefix /rooms] \
//!     [--addr2 127.0.0.1:8082 --pid2 1235] [--deflate]
//! sockjs-bench table results.jsonl      # the markdown tables of BENCHMARKS.md
//! ```
//!
//! `run` prints one JSON line (see `sockjs_tests::bench`). `--rooms` is
//! the number of rooms of `room-fanout` and `room-cross-node`;
//! `--addr2` and `--pid2` are the second server of `room-cross-node`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use sockjs_tests::bench::{self, Config, FanoutTransport, Scenario};

const USAGE: &str = "usage: sockjs-bench run --addr HOST:PORT --scenario NAME [options] | sockjs-bench table FILE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => match parse_run(&args[1..]) {
            Ok(config) => run(&config),
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("table") if args.len() == 2 => match std::fs::read_to_string(&args[1]) {
            Ok(text) => {
                print!("{}", bench::table::table(&text));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot read {}: {e}", args[1]);
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse_run(args: &[String]) -> Result<Config, String> {
    let mut values = BTreeMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let name = flag.strip_prefix("--").ok_or_else(|| format!("unexpected argument {flag:?}"))?;
        // The one flag without a value.
        if name == "deflate" {
            values.insert(name.to_owned(), String::new());
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        values.insert(name.to_owned(), value.clone());
    }
    let addr = values.remove("addr").ok_or("--addr is required")?;
    let addr = addr.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let name = values.remove("scenario").ok_or("--scenario is required")?;
    let scenario = Scenario::parse(&name).ok_or_else(|| {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        format!("unknown scenario {name:?} (one of {})", names.join(", "))
    })?;
    let mut config = Config::new(scenario, &addr);
    for (name, value) in values {
        let number = || value.parse::<u64>().map_err(|_| format!("--{name}: not a number: {value:?}"));
        match name.as_str() {
            "label" => config.label = value.clone(),
            "case" => config.case = value.clone(),
            "prefix" => config.prefix = value.clone(),
            "broadcast-prefix" => config.broadcast_prefix = value.clone(),
            "push-prefix" => config.push_prefix = value.clone(),
            "rooms-prefix" => config.rooms_prefix = value.clone(),
            "rooms" => config.rooms = number()? as usize,
            "addr2" => config.addr2 = Some(value.trim_start_matches("http://").trim_end_matches('/').to_owned()),
            "pid2" => config.server_pid2 = Some(number()? as u32),
            "pause-ms" => config.pause = Duration::from_millis(number()?),
            "pid" => config.server_pid = Some(number()? as u32),
            "sessions" => config.sessions = number()? as usize,
            "size" => config.size = number()? as usize,
            "inflight" => config.inflight = number()? as usize,
            "duration-ms" => config.duration = Duration::from_millis(number()?),
            "rounds" => config.rounds = number()? as usize,
            "heartbeat-ms" => config.heartbeat = Duration::from_millis(number()?),
            "concurrency" => config.connect_concurrency = number()? as usize,
            // permessage-deflate offered with the defaults: level 1, no
            // context takeover either way, messages from 256 bytes.
            "deflate" => {
                config.deflate = Some(sockjs_core::client::ClientDeflate::new(sockjs_core::Deflate::new()));
            }
            "fanout-transport" => {
                config.fanout_transport = match value.as_str() {
                    "eventsource" => FanoutTransport::EventSource,
                    "xhr-streaming" => FanoutTransport::XhrStreaming,
                    other => return Err(format!("unknown fan-out transport {other:?}")),
                }
            }
            "source-ips" => {
                config.source_ips = value
                    .split(',')
                    .map(|ip| ip.trim().parse().map_err(|_| format!("bad IPv4 address {ip:?}")))
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown option --{other}")),
        }
    }
    // Bounds: every scenario is limited in connections and in time.
    if config.sessions == 0 || config.sessions > 200_000 {
        return Err("--sessions must be in 1..=200000".into());
    }
    if config.duration > Duration::from_secs(300)
        || config.heartbeat > Duration::from_secs(120)
        || config.pause > Duration::from_secs(120)
    {
        return Err("--duration-ms, --heartbeat-ms and --pause-ms are limited to 300 s, 120 s and 120 s".into());
    }
    config.rounds = config.rounds.clamp(1, 100);
    config.rooms = config.rooms.clamp(1, config.sessions);
    config.inflight = config.inflight.clamp(1, 1024);
    config.size = config.size.clamp(1, 1 << 20);
    Ok(config)
}

fn run(config: &Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Hard bound on the whole run, whatever the server does.
    let limit = config.duration + config.heartbeat * 3 + config.pause + Duration::from_secs(240);
    let report = runtime.block_on(async { tokio::time::timeout(limit, bench::run(config)).await });
    // Do not wait for connection tasks still parked in the runtime.
    runtime.shutdown_background();
    match report {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(_) => {
            eprintln!("the scenario did not finish within {limit:?}");
            ExitCode::FAILURE
        }
    }
}
