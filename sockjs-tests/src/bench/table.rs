//! The markdown tables of BENCHMARKS.md, made from `sockjs-bench run`
//! output (one JSON object a line): `sockjs-bench table FILE`.

use serde_json::Value;

use super::row::{is, num, text};

const PEERS: [&str; 8] = ["actix", "warp", "axum", "node", "bare", "bare-actix", "bare-hyper", "bare-warp"];

/// Scenarios reported in the floods table rather than the main one.
const FLOODS: [&str; 5] = ["flood-xhr-send", "flood-ws", "flood-raw-ws", "poll-flat-out", "inflate-bomb"];

fn is_flood(v: &Value) -> bool {
    text(v, "scenario").is_some_and(|s| FLOODS.contains(&s))
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
    let mut text = match text(v, "scenario").unwrap_or("") {
        "ws-echo" | "raw-ws-echo" | "xhr-polling" | "xhr-streaming" => {
            format!(
                "{} msg/s, p50 {} / p99 {} ms, **{} µs/msg** (kernel {})",
                num(v, "msgs_per_s").map_or("–".into(), thousands),
                fmt(num(v, "p50_ms"), 2),
                fmt(num(v, "p99_ms"), 2),
                fmt(num(v, "server_cpu_us_per_msg"), 1),
                fmt(num(v, "server_sys_us_per_msg"), 1)
            ) + &match num(v, "wire_bytes_per_msg") {
                Some(b) => format!(", {b:.0} B/msg on the wire"),
                None => String::new(),
            }
        }
        "fanout" => format!(
            "**all in {} ms** (worst {} ms, median receiver {} ms), {} µs/delivery (kernel {})",
            fmt(num(v, "all_delivered_ms"), 1),
            fmt(num(v, "all_delivered_ms_max"), 1),
            fmt(num(v, "p50_delivery_ms"), 1),
            fmt(num(v, "server_cpu_us_per_delivery"), 2),
            fmt(num(v, "server_sys_us_per_delivery"), 2)
        ),
        "room-fanout" => format!(
            "{} rooms of {}: **all in {} ms** (worst {} ms), p50 {} / p99 {} ms send to receipt, {} µs/delivery (kernel {})",
            fmt(num(v, "rooms"), 0),
            fmt(num(v, "room_size"), 0),
            fmt(num(v, "all_delivered_ms"), 1),
            fmt(num(v, "all_delivered_ms_max"), 1),
            fmt(num(v, "p50_ms"), 2),
            fmt(num(v, "p99_ms"), 2),
            fmt(num(v, "server_cpu_us_per_delivery"), 2),
            fmt(num(v, "server_sys_us_per_delivery"), 2)
        ),
        "room-cross-node" => format!(
            "{} rooms of {} over 2 servers: send to receipt p50 {} / p99 {} ms (through the broker: p50 {} / p99 {} ms), \
             {} µs/delivery over both servers (kernel {})",
            fmt(num(v, "rooms"), 0),
            fmt(num(v, "room_size"), 0),
            fmt(num(v, "p50_ms"), 2),
            fmt(num(v, "p99_ms"), 2),
            fmt(num(v, "remote_p50_ms"), 2),
            fmt(num(v, "remote_p99_ms"), 2),
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
    if let (Some(n), Some(low), Some(high)) = (num(v, "repeats"), num(v, "cost_low"), num(v, "cost_high")) {
        text.push_str(&format!(" (median of {n:.0} runs: {low:.2}–{high:.2})"));
    }
    text
}

/// A room scenario's server CPU per delivery over that of the `fanout`
/// row of the same peer and receiving transport in `rows` (the same run).
fn fanout_ratio(v: &Value, rows: &[Value]) -> Option<f64> {
    let fanout = rows.iter().find(|r| {
        text(r, "scenario") == Some("fanout")
            && text(r, "label") == text(v, "label")
            && text(r, "transport") == text(v, "transport")
    })?;
    let (room, fanout) = (num(v, "server_cpu_us_per_delivery")?, num(fanout, "server_cpu_us_per_delivery")?);
    (fanout > 0.0).then(|| room / fanout)
}

/// [`cell`], and for a room scenario its ratio to `fanout`.
fn cell_in(v: &Value, rows: &[Value]) -> String {
    let mut out = cell(v);
    if text(v, "scenario").is_some_and(|s| s.starts_with("room-")) {
        out.push_str(&format!(" (**{}x** fanout)", fmt(fanout_ratio(v, rows), 2)));
    }
    out
}

/// The figure a repeated case is ranked by: its server CPU per unit of work.
const COSTS: [&str; 3] = ["server_cpu_us_per_msg", "server_cpu_us_per_delivery", "rss_bytes_per_session"];

fn cost(v: &Value) -> Option<f64> {
    COSTS.iter().find_map(|key| num(v, key))
}

/// A case run more than once (`bench/run.sh` repeats the ones the targets
/// compare, whose figures move by ±10 % between runs on a quiet machine)
/// becomes its median run by its server CPU (or RSS) per unit of work,
/// the whole row of that run, with `repeats` and the lowest and highest
/// cost (`cost_low`, `cost_high`) added. Rows keep the order of each
/// case's first run.
pub fn median_of_repeats(rows: Vec<Value>) -> Vec<Value> {
    let key = |v: &Value| {
        let field = |k| text(v, k).unwrap_or("").to_owned();
        (field("label"), field("case"))
    };
    let mut groups: Vec<((String, String), Vec<Value>)> = Vec::new();
    for row in rows {
        let k = key(&row);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, runs)) => runs.push(row),
            None => groups.push((k, vec![row])),
        }
    }
    groups
        .into_iter()
        .map(|(_, mut runs)| {
            if runs.len() == 1 {
                return runs.remove(0);
            }
            runs.sort_by(|a, b| cost(a).unwrap_or(f64::MAX).total_cmp(&cost(b).unwrap_or(f64::MAX)));
            let (low, high) = (cost(&runs[0]), cost(&runs[runs.len() - 1]));
            let n = runs.len();
            let mut median = runs.swap_remove((n - 1) / 2);
            if let Some(object) = median.as_object_mut() {
                object.insert("repeats".into(), n.into());
                if let (Some(low), Some(high)) = (low, high) {
                    object.insert("cost_low".into(), low.into());
                    object.insert("cost_high".into(), high.into());
                }
            }
            median
        })
        .collect()
}

/// The tables of the runs in `jsonl` (one [`run`](super::run) result a
/// line): the main one with the earlier rounds' targets and round three's
/// ([`targets`](super::targets)), then the floods, then the scaling runs.
/// A case run several times counts as its median run ([`median_of_repeats`]).
pub fn table(jsonl: &str) -> String {
    let rows = median_of_repeats(jsonl.lines().filter_map(|l| serde_json::from_str(l).ok()).collect());
    let (scaling, rows): (Vec<Value>, Vec<Value>) = rows.into_iter().partition(super::targets::is_scaling);
    let (floods, rows): (Vec<Value>, Vec<Value>) = rows.into_iter().partition(is_flood);
    let scaling_part = if scaling.is_empty() { String::new() } else { super::targets::scaling_table(&scaling) };
    if rows.is_empty() {
        return match (floods.is_empty(), scaling.is_empty()) {
            (false, false) => format!("{}\n{scaling_part}", flood_table(&floods)),
            (false, true) => flood_table(&floods),
            (true, _) => scaling_part,
        };
    }
    let mut cases: Vec<String> = Vec::new();
    for row in &rows {
        let case = text(row, "case").unwrap_or("?").to_owned();
        if !cases.contains(&case) {
            cases.push(case);
        }
    }
    let find = |case: &str, peer: &str| rows.iter().find(|r| is(r, case, peer));
    let peers: Vec<&str> = PEERS.iter().copied().filter(|p| cases.iter().any(|c| find(c, p).is_some())).collect();
    let mut out = String::new();
    out.push_str(&format!("| case | {} |\n", peers.join(" | ")));
    out.push_str(&format!("|---|{}\n", "---|".repeat(peers.len())));
    for case in &cases {
        let cells: Vec<String> =
            peers.iter().map(|p| find(case, p).map_or_else(|| "–".into(), |v| cell_in(v, &rows))).collect();
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
    // Rooms (issue 23): a send to a room costs at most 10 % more per
    // delivery than a broadcast to as many receivers.
    for case in cases.iter().filter(|c| c.starts_with("room-")) {
        let cross = find(case, "actix")
            .or_else(|| find(case, "warp"))
            .or_else(|| find(case, "axum"))
            .and_then(|v| text(v, "scenario"))
            == Some("room-cross-node");
        let name = if cross {
            format!("{case}: CPU/delivery over both servers vs fanout (for reference)")
        } else {
            format!("{case}: CPU/delivery <= 1.1x fanout")
        };
        target(&name, &|p| {
            let r = find(case, p).and_then(|v| fanout_ratio(v, &rows));
            (format!("{}x", fmt(r, 3)), if cross { None } else { r.map(|r| r <= 1.1) })
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
    out.push_str("\nRound three, against each server's floor in this run:\n\n");
    out.push_str(&super::targets::targets_table(&rows));
    if !floods.is_empty() {
        out.push('\n');
        out.push_str(&flood_table(&floods));
    }
    if !scaling.is_empty() {
        out.push('\n');
        out.push_str(&scaling_part);
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
        let field = |key: &str| text(v, key).unwrap_or("?");
        let size_kb = fmt(num(v, "size").map(|b| b / 1000.0), 0);
        let mut load = match field("scenario") {
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
            "inflate-bomb" => format!(
                "{} websockets each send {} KB compressed to {} B: {} closed with 1009, {} otherwise",
                fmt(num(v, "sessions"), 0),
                fmt(num(v, "inflated_bytes").map(|b| b / 1000.0), 0),
                fmt(num(v, "compressed_frame_bytes"), 0),
                fmt(num(v, "closed_1009"), 0),
                fmt(num(v, "other_closes"), 0),
            ),
            _ => "?".into(),
        };
        if num(v, "errors").unwrap_or(0.0) + num(v, "unechoed").unwrap_or(0.0) > 0.0 {
            load.push_str(&format!(" ⚠ {}", field("first_error")));
        }
        out.push_str(&format!(
            "| {} | {} | {load} | {} MiB | {} MiB ({} MiB) | {} MiB ({} s later) |\n",
            field("case"),
            field("label"),
            mib(v, "rss_before_kib"),
            mib(v, "rss_end_kib"),
            mib(v, "rss_peak_kib"),
            mib(v, "rss_after_pause_kib"),
            fmt(num(v, "pause_s"), 0),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A room case's cell and target carry its CPU per delivery over that
    /// of fanout with the same peer and transport, not another's.
    #[test]
    fn room_cases_are_compared_with_fanout_of_their_peer_and_transport() {
        let jsonl = [
            r#"{"scenario":"fanout","case":"fanout-eventsource","label":"actix","transport":"eventsource","server_cpu_us_per_delivery":10.0}"#,
            r#"{"scenario":"fanout","case":"fanout-xhr-streaming","label":"actix","transport":"xhr_streaming","server_cpu_us_per_delivery":20.0}"#,
            r#"{"scenario":"fanout","case":"fanout-eventsource","label":"warp","transport":"eventsource","server_cpu_us_per_delivery":5.0}"#,
            r#"{"scenario":"room-fanout","case":"room-fanout-1000x10-eventsource","label":"actix","transport":"eventsource","rooms":1000,"room_size":10,"server_cpu_us_per_delivery":12.0}"#,
            r#"{"scenario":"room-cross-node","case":"room-cross-node-redis","label":"actix","transport":"eventsource","rooms":1000,"room_size":10,"server_cpu_us_per_delivery":30.0,"remote_p99_ms":4.5}"#,
        ]
        .join("\n");
        let out = table(&jsonl);
        assert!(out.contains("1000 rooms of 10: **all in"), "{out}");
        assert!(out.contains("(**1.20x** fanout)"), "{out}");
        assert!(
            out.contains("| room-fanout-1000x10-eventsource: CPU/delivery <= 1.1x fanout | 1.200x: **missed** |"),
            "{out}"
        );
        assert!(out.contains("through the broker: p50 – / p99 4.50 ms"), "{out}");
        assert!(out.contains("(**3.00x** fanout)"), "{out}");
        assert!(
            out.contains(
                "| room-cross-node-redis: CPU/delivery over both servers vs fanout (for reference) | 3.000x: n/a |"
            ),
            "{out}"
        );
    }

    #[test]
    fn a_repeated_case_counts_as_its_median_run() {
        let rows: Vec<Value> = [
            r#"{"scenario":"ws-echo","case":"ws-pingpong-1","label":"axum","server_cpu_us_per_msg":30.0,"msgs_per_s":1}"#,
            r#"{"scenario":"ws-echo","case":"ws-pingpong-1","label":"bare","server_cpu_us_per_msg":20.0}"#,
            r#"{"scenario":"ws-echo","case":"ws-pingpong-1","label":"axum","server_cpu_us_per_msg":22.0,"msgs_per_s":2}"#,
            r#"{"scenario":"ws-echo","case":"ws-pingpong-1","label":"axum","server_cpu_us_per_msg":25.0,"msgs_per_s":3}"#,
        ]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
        let merged = median_of_repeats(rows);
        assert_eq!(merged.len(), 2, "one row per label and case, in first-run order");
        assert_eq!(merged[0]["label"], "axum");
        assert_eq!(merged[0]["msgs_per_s"], 3, "the whole row of the median run");
        assert_eq!((merged[0]["repeats"].as_u64(), merged[0]["cost_low"].as_f64()), (Some(3), Some(22.0)));
        assert_eq!(merged[0]["cost_high"].as_f64(), Some(30.0));
        assert!(merged[1].get("repeats").is_none(), "a case run once is left as it is");
        assert!(cell(&merged[0]).ends_with("(median of 3 runs: 22.00–30.00)"), "{}", cell(&merged[0]));
    }
}
