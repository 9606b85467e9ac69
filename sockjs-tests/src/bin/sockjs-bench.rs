//! `sockjs-bench`: the SockJS load generator.
//!
//! ```text
//! sockjs-bench run --addr 127.0.0.1:8081 --scenario ws-echo --pid 1234 \
//!     [--label actix] [--case ws-32] [--sessions 100] [--size 32] [--inflight 8] \
//!     [--duration-ms 6000] [--rounds 5] [--fanout-transport eventsource|xhr-streaming] \
//!     [--heartbeat-ms 25000] [--source-ips 127.0.0.2,127.0.0.3] [--concurrency 64] \
//!     [--prefix /echo] [--broadcast-prefix /broadcast] [--push-prefix /push] \
//!     [--pause-ms 10000]
//! sockjs-bench table results.jsonl      # the markdown tables of BENCHMARKS.md
//! ```
//!
//! `run` prints one JSON line (see `sockjs_tests::bench`).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;
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
                print!("{}", table(&text));
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
            "pause-ms" => config.pause = Duration::from_millis(number()?),
            "pid" => config.server_pid = Some(number()? as u32),
            "sessions" => config.sessions = number()? as usize,
            "size" => config.size = number()? as usize,
            "inflight" => config.inflight = number()? as usize,
            "duration-ms" => config.duration = Duration::from_millis(number()?),
            "rounds" => config.rounds = number()? as usize,
            "heartbeat-ms" => config.heartbeat = Duration::from_millis(number()?),
            "concurrency" => config.connect_concurrency = number()? as usize,
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

// ---------------------------------------------------------------------------
// The tables

const PEERS: [&str; 5] = ["actix", "warp", "axum", "node", "bare"];

/// Scenarios reported in the floods table rather than the main one.
const FLOODS: [&str; 4] = ["flood-xhr-send", "flood-ws", "flood-raw-ws", "poll-flat-out"];

fn is_flood(v: &Value) -> bool {
    v.get("scenario").and_then(Value::as_str).is_some_and(|s| FLOODS.contains(&s))
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn fmt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 && c.is_ascii_digit() {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn cell(v: &Value) -> String {
    let problems =
        num(v, "errors").unwrap_or(0.0) + num(v, "unechoed").unwrap_or(0.0) + num(v, "missing").unwrap_or(0.0);
    let mut text = match v.get("scenario").and_then(Value::as_str).unwrap_or("") {
        "ws-echo" | "raw-ws-echo" | "xhr-polling" | "xhr-streaming" => format!(
            "{} msg/s, p50 {} / p99 {} ms, **{} µs/msg** (kernel {})",
            num(v, "msgs_per_s").map_or("–".into(), thousands),
            fmt(num(v, "p50_ms"), 2),
            fmt(num(v, "p99_ms"), 2),
            fmt(num(v, "server_cpu_us_per_msg"), 1),
            fmt(num(v, "server_sys_us_per_msg"), 1)
        ),
        "fanout" => format!(
            "**all in {} ms** (worst {} ms, median receiver {} ms), {} µs/delivery (kernel {})",
            fmt(num(v, "all_delivered_ms"), 1),
            fmt(num(v, "all_delivered_ms_max"), 1),
            fmt(num(v, "p50_delivery_ms"), 1),
            fmt(num(v, "server_cpu_us_per_delivery"), 2),
            fmt(num(v, "server_sys_us_per_delivery"), 2)
        ),
        "idle-ws" | "idle-xhr-streaming" => format!(
            "**{} KiB/session** ({} open)",
            fmt(num(v, "rss_bytes_per_session").map(|b| b / 1024.0), 1),
            fmt(num(v, "open"), 0)
        ),
        "timers" => format!(
            "{} open; quiet **{} %**, over heartbeats **{} %** of a core ({} µs/heartbeat, kernel {})",
            fmt(num(v, "open"), 0),
            fmt(num(v, "quiet_cpu_pct"), 2),
            fmt(num(v, "period_cpu_pct"), 2),
            fmt(num(v, "server_cpu_us_per_heartbeat"), 2),
            fmt(num(v, "server_sys_us_per_heartbeat"), 2)
        ),
        _ => "?".into(),
    };
    if problems > 0.0 {
        text.push_str(&format!(" ⚠ {problems} errors/lost"));
    }
    text
}

fn table(jsonl: &str) -> String {
    let (floods, rows): (Vec<Value>, Vec<Value>) =
        jsonl.lines().filter_map(|l| serde_json::from_str(l).ok()).partition(is_flood);
    if rows.is_empty() {
        return flood_table(&floods);
    }
    let mut cases: Vec<String> = Vec::new();
    for row in &rows {
        let case = row.get("case").and_then(Value::as_str).unwrap_or("?").to_owned();
        if !cases.contains(&case) {
            cases.push(case);
        }
    }
    let find = |case: &str, peer: &str| {
        rows.iter().find(|r| {
            r.get("case").and_then(Value::as_str) == Some(case) && r.get("label").and_then(Value::as_str) == Some(peer)
        })
    };
    let peers: Vec<&str> = PEERS.iter().copied().filter(|p| cases.iter().any(|c| find(c, p).is_some())).collect();
    let mut out = String::new();
    out.push_str(&format!("| case | {} |\n", peers.join(" | ")));
    out.push_str(&format!("|---|{}\n", "---|".repeat(peers.len())));
    for case in &cases {
        let cells: Vec<String> = peers.iter().map(|p| find(case, p).map_or_else(|| "–".into(), cell)).collect();
        out.push_str(&format!("| {case} | {} |\n", cells.join(" | ")));
    }
    // The issue's targets.
    let metric = |case: &str, peer: &str, key: &str| find(case, peer).and_then(|v| num(v, key));
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "n/a",
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    out.push_str("\n| target | actix | warp | axum |\n|---|---|---|---|\n");
    let mut target = |name: &str, f: &dyn Fn(&str) -> (String, Option<bool>)| {
        let cells: Vec<String> = ["actix", "warp", "axum"]
            .iter()
            .map(|p| {
                let (text, ok) = f(p);
                format!("{text}: {}", verdict(ok))
            })
            .collect();
        out.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    };
    target("ws echo 100x32 B: msgs/s >= 0.9x bare echo", &|p| {
        let r = ratio(metric("ws-echo-32", p, "msgs_per_s"), metric("raw-ws-echo-32", "bare", "msgs_per_s"));
        (format!("{}x", fmt(r, 3)), r.map(|r| r >= 0.9))
    });
    target("ws echo 100x32 B: CPU/msg <= 0.5x node", &|p| {
        let r = ratio(
            metric("ws-echo-32", p, "server_cpu_us_per_msg"),
            metric("ws-echo-32", "node", "server_cpu_us_per_msg"),
        );
        (format!("{}x", fmt(r, 3)), r.map(|r| r <= 0.5))
    });
    for (case, name) in [
        ("ws-echo-4k", "ws echo 100x4 KiB: CPU/msg <= 0.3x node"),
        ("xhr-polling", "xhr-polling 50 clients: CPU/round trip <= 0.3x node"),
        ("xhr-streaming", "xhr-streaming 50 clients: CPU/msg <= 0.3x node"),
    ] {
        target(name, &|p| {
            let r = ratio(metric(case, p, "server_cpu_us_per_msg"), metric(case, "node", "server_cpu_us_per_msg"));
            (format!("{}x", fmt(r, 3)), r.map(|r| r <= 0.3))
        });
    }
    // Round two: one message in flight, idle memory, broadcast, polling.
    for (case, bare, name) in [
        ("ws-pingpong-100", "raw-ws-pingpong-100", "ws ping-pong 100 sessions x 32 B"),
        ("ws-pingpong-1", "raw-ws-pingpong-1", "ws ping-pong 1 session x 32 B"),
    ] {
        target(&format!("{name}: CPU/msg <= 0.5x node"), &|p| {
            let r = ratio(metric(case, p, "server_cpu_us_per_msg"), metric(case, "node", "server_cpu_us_per_msg"));
            (format!("{}x", fmt(r, 3)), r.map(|r| r <= 0.5))
        });
        target(&format!("{name}: msgs/s >= bare echo"), &|p| {
            let r = ratio(metric(case, p, "msgs_per_s"), metric(bare, "bare", "msgs_per_s"));
            (format!("{}x", fmt(r, 3)), r.map(|r| r >= 1.0))
        });
    }
    for (case, name) in [
        ("idle-ws", "idle websocket session <= 12 KiB RSS (axum: 8)"),
        ("idle-xhr-streaming", "idle xhr-streaming session <= 12 KiB RSS (axum: 8)"),
    ] {
        target(name, &|p| {
            let kib = metric(case, p, "rss_bytes_per_session").map(|b| b / 1024.0);
            let limit = if p == "axum" { 8.0 } else { 12.0 };
            (format!("{} KiB", fmt(kib, 1)), kib.map(|k| k <= limit))
        });
    }
    for case in ["fanout-eventsource", "fanout-xhr-streaming"] {
        target(&format!("{case} 10,000 receivers: CPU/delivery <= 5 us"), &|p| {
            let us = metric(case, p, "server_cpu_us_per_delivery");
            (format!("{} us", fmt(us, 2)), us.map(|us| us <= 5.0))
        });
    }
    target("xhr-polling: CPU/round trip <= 0.25x node", &|p| {
        let r = ratio(
            metric("xhr-polling", p, "server_cpu_us_per_msg"),
            metric("xhr-polling", "node", "server_cpu_us_per_msg"),
        );
        (format!("{}x", fmt(r, 3)), r.map(|r| r <= 0.25))
    });
    target("raw ws echo 100x32 B vs bare echo (for reference)", &|p| {
        let r = ratio(metric("raw-ws-echo-32", p, "msgs_per_s"), metric("raw-ws-echo-32", "bare", "msgs_per_s"));
        // Not one of the issue's targets: no verdict.
        (format!("{}x", fmt(r, 3)), None)
    });
    target("broadcast to 10,000 sessions: time to all (eventsource)", &|p| {
        let ms = metric("fanout-eventsource", p, "all_delivered_ms");
        (format!("{} ms", fmt(ms, 1)), ms.map(|_| true))
    });
    target("50,000 idle sessions: CPU < 2% of a core between heartbeats", &|p| {
        let open = metric("timers", p, "open");
        let quiet = metric("timers", p, "quiet_cpu_pct");
        let period = metric("timers", p, "period_cpu_pct");
        (
            format!(
                "{} open: {} % between heartbeats ({} % averaged over a heartbeat period)",
                fmt(open, 0),
                fmt(quiet, 2),
                fmt(period, 2)
            ),
            quiet.map(|q| q < 2.0),
        )
    });
    if !floods.is_empty() {
        out.push('\n');
        out.push_str(&flood_table(&floods));
    }
    out
}

/// The floods and poll-rate rows: what the load did, and the server's RSS
/// before it, at its end (peak during it) and after the pause.
fn flood_table(rows: &[Value]) -> String {
    let mib = |v: &Value, key: &str| fmt(num(v, key).map(|k| k / 1024.0), 1);
    let mut out = String::from(
        "| case | peer | load | RSS before | at the end (peak) | after the pause |\n|---|---|---|---|---|---|\n",
    );
    for v in rows {
        let text = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or("?");
        let size_kb = fmt(num(v, "size").map(|b| b / 1000.0), 0);
        let mut load = match text("scenario") {
            "flood-xhr-send" => {
                let others = v.get("status_other").and_then(Value::as_object).map_or(0, |m| m.len());
                format!(
                    "{} sends of {size_kb} KB in {} s: {} × 204, {} × 503{}; {} ticks received",
                    fmt(num(v, "requests"), 0),
                    fmt(num(v, "elapsed_s"), 1),
                    fmt(num(v, "status_204"), 0),
                    fmt(num(v, "status_503"), 0),
                    if others > 0 { format!(", other statuses {}", v["status_other"]) } else { String::new() },
                    fmt(num(v, "ticks_received"), 0),
                )
            }
            "flood-ws" | "flood-raw-ws" => format!(
                "{} messages of {size_kb} KB sent ({} MB){}; {} ticks received",
                fmt(num(v, "sent"), 0),
                fmt(num(v, "sent_bytes").map(|b| b / 1e6), 1),
                match num(v, "blocked_after_s") {
                    Some(s) => format!(", then sends blocked (last completed at {s:.2} s)"),
                    None => ", never blocked".into(),
                },
                fmt(num(v, "ticks_received"), 0),
            ),
            "poll-flat-out" => format!(
                "{} clients, {} polls/s ({} requests/s), p50 {} / p99 {} ms",
                fmt(num(v, "sessions"), 0),
                num(v, "polls_per_s").map_or("–".into(), thousands),
                num(v, "requests_per_s").map_or("–".into(), thousands),
                fmt(num(v, "p50_ms"), 2),
                fmt(num(v, "p99_ms"), 2),
            ),
            _ => "?".into(),
        };
        if num(v, "errors").unwrap_or(0.0) + num(v, "unechoed").unwrap_or(0.0) > 0.0 {
            load.push_str(&format!(" ⚠ {}", text("first_error")));
        }
        out.push_str(&format!(
            "| {} | {} | {load} | {} MiB | {} MiB ({} MiB) | {} MiB ({} s later) |\n",
            text("case"),
            text("label"),
            mib(v, "rss_before_kib"),
            mib(v, "rss_end_kib"),
            mib(v, "rss_peak_kib"),
            mib(v, "rss_after_pause_kib"),
            fmt(num(v, "pause_s"), 0),
        ));
    }
    out
}
