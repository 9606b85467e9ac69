//! Round three's targets (BENCHMARKS.md "Targets"): each of our servers'
//! costs as a ratio to the floor of the server it runs on, within one run,
//! and how cost grows with the number of sessions (the scaling rows).
//!
//! The rows are the JSON objects `sockjs-bench run` prints (one per
//! scenario, with its `label` and `case`). The floors are the peers
//! `bench/run.sh` runs beside ours:
//!
//! | peer | floor of |
//! |---|---|
//! | `bare` | the tokio-tungstenite echo (`bare-echo`): websocket messages, every stack |
//! | `bare-actix` | actix: fan-out and idle connections (`bare-floor --stack actix`) |
//! | `bare-hyper` | warp and axum: fan-out; axum: idle connections (`bare-floor --stack hyper`) |
//! | `bare-warp` | warp: idle connections (`bare-floor --stack warp`) |
//!
//! [`targets`] checks each target for each of our servers and says met,
//! missed or n/a (a figure missing from the run); [`targets_table`] and
//! [`scaling_table`] render them as Markdown, and `sockjs-bench table`
//! ([`table`](super::table)) prints them after the earlier rounds'.

use serde_json::Value;

use super::row::{is, num, text};

/// Our servers, the columns of the targets table.
pub const SERVERS: [&str; 3] = ["actix", "warp", "axum"];

/// How much more server CPU per message than the bare echo a websocket
/// ping-pong may take.
pub const PINGPONG_OVER_BARE: f64 = 1.05;

/// How much more server CPU per delivery than the bare fan-out of the same
/// stack a broadcast may take.
pub const FANOUT_OVER_BARE: f64 = 1.15;

/// How many bytes more than the bare idle connection of the same stack an
/// idle session may hold.
pub const IDLE_OVER_BARE_BYTES: f64 = 1024.0;

/// The most server CPU per unit of work, as a share of sockjs-node's, of
/// every scenario but the ping-pong ones.
pub const NODE_SHARE: f64 = 0.5;

/// The prefix of the scaling rows' cases (`bench/scaling.sh`).
pub const SCALING_PREFIX: &str = "scale-";

/// The peer whose fan-out is `server`'s floor: the bare server of the same
/// HTTP stack (warp and axum both run on hyper).
pub fn fanout_floor(server: &str) -> Option<&'static str> {
    match server {
        "actix" => Some("bare-actix"),
        "warp" | "axum" => Some("bare-hyper"),
        _ => None,
    }
}

/// The peer whose idle connections are `server`'s floor.
pub fn idle_floor(server: &str) -> Option<&'static str> {
    match server {
        "actix" => Some("bare-actix"),
        "warp" => Some("bare-warp"),
        "axum" => Some("bare-hyper"),
        _ => None,
    }
}

/// One target's outcome for one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The figure compared (a ratio, or bytes over the floor), when the
    /// run has both sides of it.
    pub value: Option<f64>,
    /// What the cell shows before the verdict.
    pub text: String,
    /// Met (`Some(true)`), missed (`Some(false)`) or not decidable.
    pub met: Option<bool>,
}

impl Outcome {
    /// The table cell: the figure and the verdict.
    pub fn cell(&self) -> String {
        let verdict = match self.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "n/a",
        };
        format!("{}: {verdict}", self.text)
    }
}

/// One target and its outcome for each of [`SERVERS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What the target says.
    pub name: String,
    /// One outcome per server, in the order of [`SERVERS`].
    pub outcomes: Vec<Outcome>,
}

/// The figures of one run.
struct Run<'a> {
    rows: &'a [Value],
}

impl Run<'_> {
    fn row(&self, case: &str, label: &str) -> Option<&Value> {
        self.rows.iter().find(|r| is(r, case, label))
    }

    fn metric(&self, case: &str, label: &str, key: &str) -> Option<f64> {
        self.row(case, label)?.get(key)?.as_f64()
    }

    /// The row's CPU per unit of work: its `server_cpu_us_per_*` figure
    /// and the unit's name.
    fn cpu_per_unit(&self, case: &str, label: &str) -> Option<(f64, String)> {
        let row = self.row(case, label)?.as_object()?;
        row.iter().find_map(|(key, value)| {
            let unit = key.strip_prefix("server_cpu_us_per_")?;
            Some((value.as_f64()?, unit.to_owned()))
        })
    }
}

fn ratio(ours: Option<f64>, floor: Option<f64>) -> Option<f64> {
    match (ours, floor) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn at_most(value: Option<f64>, limit: f64, text: String) -> Outcome {
    Outcome { value, text, met: value.map(|v| v <= limit) }
}

fn ratio_text(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.3}x"))
}

/// Every round-three target, checked against `rows` (one run's JSON
/// objects).
pub fn targets(rows: &[Value]) -> Vec<Target> {
    let run = Run { rows };
    let mut out = Vec::new();
    let mut target = |name: String, f: &dyn Fn(&str) -> Outcome| {
        out.push(Target { name, outcomes: SERVERS.iter().map(|s| f(s)).collect() });
    };
    for (case, bare, what) in [
        ("ws-pingpong-100", "raw-ws-pingpong-100", "ws ping-pong 100 sessions x 32 B"),
        ("ws-pingpong-1", "raw-ws-pingpong-1", "ws ping-pong 1 session x 32 B"),
    ] {
        target(format!("{what}: CPU/msg <= {PINGPONG_OVER_BARE}x bare echo"), &|s| {
            let key = "server_cpu_us_per_msg";
            let r = ratio(run.metric(case, s, key), run.metric(bare, "bare", key));
            at_most(r, PINGPONG_OVER_BARE, ratio_text(r))
        });
    }
    for (case, what) in [("fanout-eventsource", "eventsource"), ("fanout-xhr-streaming", "xhr-streaming")] {
        target(
            format!("broadcast to 10,000 {what} receivers: CPU/delivery <= {FANOUT_OVER_BARE}x bare fan-out"),
            &|s| {
                let key = "server_cpu_us_per_delivery";
                let floor = fanout_floor(s);
                let r = ratio(run.metric(case, s, key), floor.and_then(|f| run.metric(case, f, key)));
                at_most(r, FANOUT_OVER_BARE, format!("{} ({})", ratio_text(r), floor.unwrap_or("?")))
            },
        );
    }
    for (case, what) in [("idle-ws", "idle websocket"), ("idle-xhr-streaming", "idle xhr-streaming")] {
        target(format!("{what} session: RSS <= bare idle connection + 1 KiB"), &|s| {
            let key = "rss_bytes_per_session";
            let floor = idle_floor(s);
            let ours = run.metric(case, s, key);
            let bare = floor.and_then(|f| run.metric(case, f, key));
            let over = match (ours, bare) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            };
            let text = match (ours, bare, over) {
                (Some(a), Some(b), Some(d)) => {
                    format!(
                        "{:.1} KiB vs {:.1} ({}), {:+.2} KiB",
                        a / 1024.0,
                        b / 1024.0,
                        floor.unwrap_or("?"),
                        d / 1024.0
                    )
                }
                _ => "–".into(),
            };
            at_most(over, IDLE_OVER_BARE_BYTES, text)
        });
    }
    // Every case node ran with a CPU-per-unit figure, ping-pong aside
    // (its floor is the kernel's read and write).
    let mut cases: Vec<&str> = Vec::new();
    for row in rows {
        let (Some(case), Some("node")) = (text(row, "case"), text(row, "label")) else {
            continue;
        };
        if !case.starts_with("ws-pingpong") && !cases.contains(&case) && run.cpu_per_unit(case, "node").is_some() {
            cases.push(case);
        }
    }
    for case in cases {
        let unit = run.cpu_per_unit(case, "node").map(|(_, u)| u).unwrap_or_default();
        target(format!("{case}: CPU/{unit} <= {NODE_SHARE}x node"), &|s| {
            let r = ratio(run.cpu_per_unit(case, s).map(|(v, _)| v), run.cpu_per_unit(case, "node").map(|(v, _)| v));
            at_most(r, NODE_SHARE, ratio_text(r))
        });
    }
    out
}

/// [`targets`] as a Markdown table, one column per server.
pub fn targets_table(rows: &[Value]) -> String {
    let mut out = format!("| target | {} |\n|---|{}\n", SERVERS.join(" | "), "---|".repeat(SERVERS.len()));
    for t in targets(rows) {
        let cells: Vec<String> = t.outcomes.iter().map(Outcome::cell).collect();
        out.push_str(&format!("| {} | {} |\n", t.name, cells.join(" | ")));
    }
    out
}

/// Whether a row is one of the scaling runs (`bench/scaling.sh`).
pub fn is_scaling(row: &Value) -> bool {
    text(row, "case").is_some_and(|c| c.starts_with(SCALING_PREFIX))
}

/// The scaling rows as a Markdown table: per peer and number of sessions,
/// the server CPU per message of a websocket ping-pong over all of them
/// and the RSS per idle websocket session, each on a fresh server.
pub fn scaling_table(rows: &[Value]) -> String {
    let rows: Vec<&Value> = rows.iter().filter(|r| is_scaling(r)).collect();
    let owned = |v: &Value, key: &str| text(v, key).unwrap_or("?").to_owned();
    let mut keys: Vec<(String, u64)> = Vec::new();
    for r in &rows {
        let key = (owned(r, "label"), num(r, "sessions").unwrap_or(0.0) as u64);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut out = String::from(
        "| peer | sessions | ping-pong: CPU/msg (kernel), msgs/s | idle websocket: RSS/session (open) |\n|---|---|---|---|\n",
    );
    for (label, sessions) in keys {
        let find = |scenario: &str| {
            rows.iter().find(|r| {
                owned(r, "label") == label
                    && num(r, "sessions") == Some(sessions as f64)
                    && text(r, "scenario") == Some(scenario)
            })
        };
        let problems = |v: &Value| {
            let n = num(v, "errors").unwrap_or(0.0) + num(v, "unechoed").unwrap_or(0.0);
            if n > 0.0 {
                format!(" ⚠ {n} errors/lost")
            } else {
                String::new()
            }
        };
        let cpu = find("ws-echo").map_or_else(
            || "–".into(),
            |v| {
                format!(
                    "**{} µs/msg** (kernel {}), {} msg/s{}",
                    fmt(num(v, "server_cpu_us_per_msg"), 2),
                    fmt(num(v, "server_sys_us_per_msg"), 2),
                    fmt(num(v, "msgs_per_s"), 0),
                    problems(v)
                )
            },
        );
        let rss = find("idle-ws").map_or_else(
            || "–".into(),
            |v| {
                format!(
                    "**{} KiB** ({} open){}",
                    fmt(num(v, "rss_bytes_per_session").map(|b| b / 1024.0), 2),
                    fmt(num(v, "open"), 0),
                    problems(v)
                )
            },
        );
        out.push_str(&format!("| {label} | {sessions} | {cpu} | {rss} |\n"));
    }
    out
}

fn fmt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(case: &str, label: &str, figures: Value) -> Value {
        let mut v = json!({ "case": case, "label": label, "scenario": "x" });
        if let (Some(o), Some(f)) = (v.as_object_mut(), figures.as_object()) {
            o.extend(f.clone());
        }
        v
    }

    fn outcome<'a>(targets: &'a [Target], starts: &str, server: &str) -> &'a Outcome {
        let t = targets.iter().find(|t| t.name.starts_with(starts)).unwrap_or_else(|| panic!("no target {starts}"));
        let i = SERVERS.iter().position(|s| *s == server).unwrap();
        &t.outcomes[i]
    }

    #[test]
    fn pingpong_is_compared_with_the_bare_echo() {
        let rows = [
            row("ws-pingpong-100", "actix", json!({ "server_cpu_us_per_msg": 8.0 })),
            row("ws-pingpong-100", "warp", json!({ "server_cpu_us_per_msg": 9.0 })),
            row("raw-ws-pingpong-100", "bare", json!({ "server_cpu_us_per_msg": 8.0 })),
        ];
        let t = targets(&rows);
        let actix = outcome(&t, "ws ping-pong 100", "actix");
        assert_eq!((actix.value, actix.met), (Some(1.0), Some(true)));
        let warp = outcome(&t, "ws ping-pong 100", "warp");
        assert_eq!((warp.value, warp.met), (Some(1.125), Some(false)));
        assert_eq!(warp.cell(), "1.125x: **missed**");
        // No axum row: not decidable, never met.
        assert_eq!(outcome(&t, "ws ping-pong 100", "axum").met, None);
        // No one-session rows at all.
        assert_eq!(outcome(&t, "ws ping-pong 1 ", "actix").cell(), "–: n/a");
    }

    #[test]
    fn fanout_is_compared_with_the_bare_fanout_of_the_same_stack() {
        let rows = [
            row("fanout-eventsource", "actix", json!({ "server_cpu_us_per_delivery": 11.0 })),
            row("fanout-eventsource", "warp", json!({ "server_cpu_us_per_delivery": 11.0 })),
            row("fanout-eventsource", "axum", json!({ "server_cpu_us_per_delivery": 12.0 })),
            row("fanout-eventsource", "bare-actix", json!({ "server_cpu_us_per_delivery": 10.0 })),
            row("fanout-eventsource", "bare-hyper", json!({ "server_cpu_us_per_delivery": 8.0 })),
        ];
        let t = targets(&rows);
        let actix = outcome(&t, "broadcast to 10,000 eventsource", "actix");
        assert_eq!(actix.met, Some(true));
        assert!((actix.value.unwrap() - 1.1).abs() < 1e-9);
        assert!(actix.text.contains("bare-actix"));
        let warp = outcome(&t, "broadcast to 10,000 eventsource", "warp");
        assert_eq!((warp.value, warp.met), (Some(1.375), Some(false)));
        let axum = outcome(&t, "broadcast to 10,000 eventsource", "axum");
        assert_eq!((axum.value, axum.met), (Some(1.5), Some(false)));
        assert!(axum.text.contains("bare-hyper"));
    }

    #[test]
    fn idle_sessions_may_hold_one_kib_more_than_the_bare_connection() {
        let rows = [
            row("idle-ws", "actix", json!({ "rss_bytes_per_session": 18_000.0 })),
            row("idle-ws", "bare-actix", json!({ "rss_bytes_per_session": 17_000.0 })),
            row("idle-ws", "warp", json!({ "rss_bytes_per_session": 9_000.0 })),
            row("idle-ws", "bare-warp", json!({ "rss_bytes_per_session": 7_000.0 })),
            row("idle-ws", "axum", json!({ "rss_bytes_per_session": 8_000.0 })),
            // warp's floor is bare-warp, not bare-hyper.
            row("idle-ws", "bare-hyper", json!({ "rss_bytes_per_session": 8_500.0 })),
        ];
        let t = targets(&rows);
        let actix = outcome(&t, "idle websocket", "actix");
        assert_eq!((actix.value, actix.met), (Some(1000.0), Some(true)));
        let warp = outcome(&t, "idle websocket", "warp");
        assert_eq!((warp.value, warp.met), (Some(2000.0), Some(false)));
        let axum = outcome(&t, "idle websocket", "axum");
        assert_eq!((axum.value, axum.met), (Some(-500.0), Some(true)));
        assert_eq!(outcome(&t, "idle xhr-streaming", "actix").met, None);
    }

    #[test]
    fn every_case_node_ran_is_checked_against_half_of_node_but_ping_pong() {
        let rows = [
            row("ws-echo-32", "node", json!({ "server_cpu_us_per_msg": 14.0 })),
            row("ws-echo-32", "actix", json!({ "server_cpu_us_per_msg": 3.0 })),
            row("ws-echo-32", "warp", json!({ "server_cpu_us_per_msg": 7.5 })),
            row("fanout-xhr-streaming", "node", json!({ "server_cpu_us_per_delivery": 20.0 })),
            row("fanout-xhr-streaming", "axum", json!({ "server_cpu_us_per_delivery": 10.0 })),
            row("ws-pingpong-100", "node", json!({ "server_cpu_us_per_msg": 14.0 })),
            row("idle-ws", "node", json!({ "rss_bytes_per_session": 18_000.0 })),
        ];
        let t = targets(&rows);
        let echo = "ws-echo-32: CPU/msg <= 0.5x node";
        assert_eq!(outcome(&t, echo, "actix").met, Some(true));
        assert_eq!(outcome(&t, echo, "warp").met, Some(false));
        assert_eq!(outcome(&t, echo, "axum").met, None);
        assert_eq!(outcome(&t, "fanout-xhr-streaming: CPU/delivery", "axum").met, Some(true));
        assert!(!t.iter().any(|t| t.name.starts_with("ws-pingpong") || t.name.starts_with("idle-ws:")));
    }

    #[test]
    fn the_targets_table_has_a_row_per_target_and_a_column_per_server() {
        let rows = [
            row("ws-pingpong-1", "axum", json!({ "server_cpu_us_per_msg": 40.0 })),
            row("raw-ws-pingpong-1", "bare", json!({ "server_cpu_us_per_msg": 32.0 })),
        ];
        let table = targets_table(&rows);
        assert!(table.starts_with("| target | actix | warp | axum |\n"));
        let line = table.lines().find(|l| l.contains("ping-pong 1 session")).unwrap();
        assert_eq!(
            line,
            "| ws ping-pong 1 session x 32 B: CPU/msg <= 1.05x bare echo | –: n/a | –: n/a | 1.250x: **missed** |"
        );
        // Six fixed targets; no node rows, so no node targets.
        assert_eq!(table.lines().count(), 2 + 6);
    }

    #[test]
    fn the_run_table_ends_with_round_three_then_the_scaling_rows() {
        let lines = [
            json!({ "case": "ws-pingpong-100", "label": "actix", "scenario": "ws-echo", "server_cpu_us_per_msg": 9.7 }),
            json!({ "case": "raw-ws-pingpong-100", "label": "bare", "scenario": "raw-ws-echo", "server_cpu_us_per_msg": 7.9 }),
            json!({ "case": "idle-ws", "label": "bare-hyper", "scenario": "idle-ws", "rss_bytes_per_session": 7000.0, "open": 5000 }),
            json!({ "case": "scale-idle-ws-5000", "label": "axum", "scenario": "idle-ws", "sessions": 5000, "rss_bytes_per_session": 8400.0, "open": 5000 }),
        ];
        let jsonl: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let table = super::super::table::table(&jsonl);
        // The floor is a column of the main table; the scaling row is not a case.
        assert!(table.starts_with("| case | actix | bare | bare-hyper |\n"), "{table}");
        assert!(!table.contains("| scale-idle-ws-5000 |"));
        let round_three = table.find("Round three").expect("round three's table");
        let missed =
            table.find("| ws ping-pong 100 sessions x 32 B: CPU/msg <= 1.05x bare echo | 1.228x: **missed** |");
        assert!(missed.is_some_and(|at| at > round_three), "{table}");
        assert!(table.trim_end().ends_with("| axum | 5000 | – | **8.20 KiB** (5000 open) |"), "{table}");
        // Scaling rows alone: the scaling table alone.
        let only = super::super::table::table(&format!("{}\n", lines[3]));
        assert!(only.starts_with("| peer | sessions |"), "{only}");
    }

    #[test]
    fn scaling_rows_render_per_peer_and_session_count() {
        let mut ping = row(
            "scale-ws-pingpong-1000",
            "warp",
            json!({ "server_cpu_us_per_msg": 9.5, "server_sys_us_per_msg": 7.0, "msgs_per_s": 90000.0, "sessions": 1000, "errors": 0 }),
        );
        ping["scenario"] = json!("ws-echo");
        let mut idle = row(
            "scale-idle-ws-1000",
            "warp",
            json!({ "rss_bytes_per_session": 8500.0, "open": 1000, "sessions": 1000, "errors": 2 }),
        );
        idle["scenario"] = json!("idle-ws");
        let other = row("ws-echo-32", "warp", json!({ "sessions": 100 }));
        assert!(is_scaling(&ping) && !is_scaling(&other));
        let table = scaling_table(&[ping, idle, other]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[2],
            "| warp | 1000 | **9.50 µs/msg** (kernel 7.00), 90000 msg/s | **8.30 KiB** (1000 open) ⚠ 2 errors/lost |"
        );
    }
}
