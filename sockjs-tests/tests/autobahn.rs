//! The Autobahn|Testsuite fuzzing client (`wstest -m fuzzingclient`,
//! autobahntestsuite 25.10.1) against the raw websocket echo
//! (`/echo/websocket`: the raw websocket of PROTOCOL.md §7.11 on the echo
//! service of §1) of the reference service on every adapter: actix, warp
//! and axum, all at once, each in-process on an ephemeral loopback port.
//!
//! Every case runs except section 9 (performance). Sections 12 and 13
//! (permessage-deflate, RFC 7692) run against the server with compression
//! enabled ([`Compression::Deflate`], the option `test-server --ws-deflate`
//! sets: [`ENABLE_DEFLATE`]), the other sections against the server as it
//! is. With [`ENABLE_DEFLATE`] set to `None` they would run in the one
//! uncompressed run, where a server that declines the extension makes them
//! UNIMPLEMENTED, which fails.
//!
//! The test prints a table per adapter (cases OK, NON-STRICT,
//! INFORMATIONAL, FAILED, UNIMPLEMENTED, clean closes) and fails listing
//! every case that is neither OK, NON-STRICT nor INFORMATIONAL with a clean
//! close, grouped by what the report says happened. The one exception is a
//! case that sends binary data messages, which the text-only echo refuses
//! by design (RFC 6455 §7.4.1: 1003, "a type of data it cannot accept"):
//! it passes when the server closed it with 1003 cleanly and closed the TCP
//! connection first (§7.1.1). Which cases send binary messages comes from
//! the report itself (see [`Case::sends_binary`]), not from a list here.
//!
//! `sockjs-tests/autobahn/setup.sh` installs `wstest` (./test.sh runs it
//! first); without it this test fails, it never skips. Set
//! `AUTOBAHN_REPORT_DIR` to keep the reports (HTML and JSON, one folder per
//! run) there instead of in a temporary folder removed at the end.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sockjs_core::{Endpoint, Options};
use support::ProcessGuard;

/// The fuzzing client, in the virtualenv setup.sh makes.
const WSTEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/autobahn/.venv/bin/wstest");

/// The longest one run of the fuzzing client may take before it is killed
/// and the test fails, unless `AUTOBAHN_RUN_LIMIT_SECS` says otherwise (a
/// machine shared with other work). A run takes under a minute on an idle
/// 2-core machine, the longest one (every case of section 13 with
/// compression) about four minutes of the client's CPU; this bounds a run
/// whose server hangs mid-case, or compressed cases that time out one by
/// one (each of sections 12 and 13 may wait minutes).
const RUN_LIMIT: Duration = Duration::from_secs(15 * 60);

/// [`RUN_LIMIT`], or `AUTOBAHN_RUN_LIMIT_SECS`.
fn run_limit() -> Duration {
    let limit = std::env::var("AUTOBAHN_RUN_LIMIT_SECS").ok().and_then(|s| s.parse().ok());
    limit.map_or(RUN_LIMIT, Duration::from_secs)
}

/// Starts an adapter's reference server with `endpoints` on `listener`:
/// its address, and a value that stops it when dropped.
type StartServer = fn(TcpListener, Vec<Endpoint>) -> std::io::Result<(SocketAddr, Box<dyn std::any::Any>)>;

/// Every adapter under test, by name.
const ADAPTERS: [(&str, StartServer); 3] = [
    ("actix", |listener, endpoints| {
        let server = sockjs_examples::serve_actix(listener, endpoints, 2)?;
        Ok((server.addr(), Box::new(server)))
    }),
    ("warp", |listener, endpoints| {
        let server = sockjs_examples::serve_warp(listener, endpoints, 2)?;
        Ok((server.addr(), Box::new(server)))
    }),
    ("axum", |listener, endpoints| {
        let server = sockjs_examples::serve_axum(listener, endpoints, 2)?;
        Ok((server.addr(), Box::new(server)))
    }),
];

/// Turns permessage-deflate on in the reference endpoints' options, as
/// `test-server --ws-deflate` does. Each adapter gets a run of sections 12
/// and 13 only with it, besides the run of the other sections without it.
/// `None` (no way to enable compression) would run sections 12 and 13
/// with compression off instead, where they report UNIMPLEMENTED and fail.
const ENABLE_DEFLATE: Option<fn(Options) -> Options> =
    Some(|options| options.websocket_deflate(sockjs_core::Deflate::new()));

/// Whether the server under test offers permessage-deflate (RFC 7692).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    /// The reference endpoints as they are.
    Off,
    /// The reference endpoints with [`ENABLE_DEFLATE`] applied.
    Deflate,
}

impl Compression {
    /// The endpoints' options for this setting.
    fn apply(self, options: Options) -> Options {
        match (self, ENABLE_DEFLATE) {
            (Compression::Off, _) => options,
            (Compression::Deflate, Some(enable)) => enable(options),
            (Compression::Deflate, None) => panic!("no permessage-deflate option to enable yet"),
        }
    }
}

/// Which cases one run of the fuzzing client runs (its spec's `cases` and
/// `exclude-cases`). A `*` matches anything, and a pattern matches every
/// id it is a prefix of: `12.*` is section 12, but `12.*.1` would also be
/// 12.1.10 to 12.1.18 (wstest matches patterns at the start only).
#[derive(Clone, Debug)]
struct Selection {
    cases: Vec<String>,
    exclude: Vec<String>,
}

/// One run of the fuzzing client: an adapter, its compression setting,
/// the cases.
#[derive(Clone, Debug)]
struct Run {
    adapter: &'static str,
    start: StartServer,
    compression: Compression,
    selection: Selection,
    /// Tells apart the runs of one adapter with one compression setting.
    part: &'static str,
}

impl Run {
    /// The agent name in the report, and the name of the run.
    fn name(&self) -> String {
        let compression = match self.compression {
            Compression::Off => "",
            Compression::Deflate => "-deflate",
        };
        format!("{}{compression}{}", self.adapter, self.part)
    }
}

/// The adapter that runs every case of sections 12 and 13 with
/// compression on. Those cases send 1000 messages each, most of them 8 to
/// 128 KiB and many cut into 256-byte frames: about 8 GB through the
/// fuzzing client (a Python program) per adapter, about 5 minutes of its
/// CPU. Three such runs at once took over 15 minutes on a 2-core machine,
/// too much for ./test.sh; the codec that compresses is the core's, the
/// same on every adapter. So ./test.sh runs [`deflate_small`] on every
/// adapter, and with `AUTOBAHN_EVERY_DEFLATE_CASE` set (by hand, see
/// sockjs-tests/README.md for the figures of such a run) this adapter runs
/// them all (as two runs, 12 and 13, side by side) instead.
const DEFLATE_EVERY_CASE_ON: &str = "actix";

/// Whether the whole of sections 12 and 13 runs on [`DEFLATE_EVERY_CASE_ON`].
fn every_deflate_case() -> bool {
    std::env::var_os("AUTOBAHN_EVERY_DEFLATE_CASE").is_some()
}

/// The compressed cases every adapter runs in ./test.sh: the first five of every
/// subcategory of sections 12 (12.1 to 12.5) and 13 (13.1 to 13.7),
/// messages of 16 to 4096 bytes in one frame each, with every payload kind
/// (12.x) and every offer and answer of the extension's parameters (13.x):
/// the negotiation and the compressed path through each adapter. Listed
/// by id: see [`Selection`] on patterns.
fn deflate_small() -> Vec<String> {
    let subcategories = (1..=5).map(|n| (12, n)).chain((1..=7).map(|n| (13, n)));
    subcategories.flat_map(|(section, sub)| (1..=5).map(move |case| format!("{section}.{sub}.{case}"))).collect()
}

/// The runs: per adapter, every section but 9 with compression off, and
/// sections 12 and 13 with compression on (once that can be enabled; until
/// then in the uncompressed run).
fn runs() -> Vec<Run> {
    let mut runs = Vec::new();
    for (adapter, start) in ADAPTERS {
        let run = |compression, cases: Vec<String>, exclude: &[&str], part| Run {
            adapter,
            start,
            compression,
            selection: Selection { cases, exclude: exclude.iter().map(|p| p.to_string()).collect() },
            part,
        };
        let owned = |patterns: &[&str]| patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        match ENABLE_DEFLATE {
            None => runs.push(run(Compression::Off, owned(&["*"]), &["9.*"], "")),
            Some(_) => {
                runs.push(run(Compression::Off, owned(&["*"]), &["9.*", "12.*", "13.*"], ""));
                if adapter == DEFLATE_EVERY_CASE_ON && every_deflate_case() {
                    runs.push(run(Compression::Deflate, owned(&["12.*"]), &[], "-12"));
                    runs.push(run(Compression::Deflate, owned(&["13.*"]), &[], "-13"));
                } else {
                    runs.push(run(Compression::Deflate, deflate_small(), &[], ""));
                }
            }
        }
    }
    runs
}

/// One case as the report tells it: `index.json` (behaviour, close
/// behaviour, the server's close code), the case's own JSON report (its
/// description, how the connection ended) and the title of its
/// subcategory in `index.html`.
#[derive(Clone, Debug, Default)]
struct Case {
    /// `"1.2.3"`.
    id: String,
    /// OK, NON-STRICT, INFORMATIONAL, FAILED, UNIMPLEMENTED, ...
    behavior: String,
    /// How the closing went: OK, INFORMATIONAL, FAILED, WRONG CODE,
    /// UNCLEAN, FAILED BY CLIENT.
    behavior_close: String,
    /// The close code the server sent, if it sent a close frame.
    remote_close_code: Option<u64>,
    /// What the case does, as the suite words it.
    description: String,
    /// The title of the case's subcategory (`"1.2 Binary Messages"`).
    subcategory: String,
    /// Whether the client sent at least one binary frame (opcode 2).
    sent_binary_frame: bool,
    /// Whether the suite expects the server to fail the connection (a
    /// protocol error, invalid UTF-8: its `expectedClose.closedByMe` is
    /// false) rather than the client to close it after the exchange.
    server_must_fail: bool,
    /// Whether the closing handshake completed on both sides.
    was_clean: bool,
    /// Whether the client had to drop the TCP connection (the server did
    /// not close it first, RFC 6455 §7.1.1).
    dropped_by_client: bool,
}

/// What the test makes of a case.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// OK, NON-STRICT or INFORMATIONAL, with a clean close.
    Passed,
    /// A binary-message case the server refused as it must: close 1003,
    /// cleanly, the server closing the TCP connection first.
    RefusedBinary,
    /// Anything else; the string says what happened.
    Failed(String),
}

impl Case {
    /// Whether the case sends binary data messages, by the report's own
    /// words: its description ("Send binary message ...", "small binary
    /// message"), or its subcategory's title ("1.2 Binary Messages",
    /// "12.2 Lena Picture, Bitmap 512x512 bw (binary, 263222 bytes)"), or
    /// the frames the client sent (an opcode 2 frame: 3.6, described as a
    /// ping, sends one). Pings with binary payloads (2.3 to 2.6) are not
    /// data messages and do not count.
    fn sends_binary(&self) -> bool {
        let description = self.description.to_ascii_lowercase();
        let subcategory = self.subcategory.to_ascii_lowercase();
        description.contains("binary message")
            || subcategory.contains("binary messages")
            || subcategory.contains("(binary,")
            || self.sent_binary_frame
    }

    /// Whether a text-only endpoint may refuse the case with 1003: it
    /// sends binary messages and the suite expects them to be taken (it
    /// does not expect the server to fail the connection first, as with
    /// the reserved bits of 3.5 and 3.6, which must fail with 1002).
    fn refusable_as_binary(&self) -> bool {
        self.sends_binary() && !self.server_must_fail
    }

    fn verdict(&self) -> Verdict {
        let behavior_ok = matches!(self.behavior.as_str(), "OK" | "NON-STRICT" | "INFORMATIONAL");
        let close_ok = matches!(self.behavior_close.as_str(), "OK" | "INFORMATIONAL");
        if behavior_ok && close_ok {
            return Verdict::Passed;
        }
        if self.refusable_as_binary()
            && self.remote_close_code == Some(1003)
            && self.was_clean
            && !self.dropped_by_client
        {
            return Verdict::RefusedBinary;
        }
        let code = self.remote_close_code.map_or_else(|| "no close frame".to_owned(), |c| format!("close {c}"));
        let mut why = format!("{} / close {} / {code}", self.behavior, self.behavior_close);
        if !self.was_clean {
            why.push_str(" / unclean");
        }
        if self.dropped_by_client {
            why.push_str(" / the client dropped the TCP connection");
        }
        if self.refusable_as_binary() {
            why.push_str(" / binary message not refused with a clean 1003");
        }
        Verdict::Failed(why)
    }
}

/// Orders case ids numerically, part by part (`"1.2.10"` after `"1.2.9"`).
fn case_key(id: &str) -> Vec<u32> {
    id.split('.').map(|part| part.parse().unwrap_or(u32::MAX)).collect()
}

/// The subcategory titles of `index.html`, by id prefix (`"1.2"` ->
/// `"1.2 Binary Messages"`): the text of each
/// `<td class="case_subcategory" ...>` cell.
fn subcategories(html: &str) -> BTreeMap<String, String> {
    let mut titles = BTreeMap::new();
    let marker = "class=\"case_subcategory\"";
    let mut rest = html;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let Some(open) = rest.find('>') else { break };
        let Some(close) = rest[open..].find("</td>") else { break };
        let title = rest[open + 1..open + close].trim();
        if let Some((prefix, _)) = title.split_once(' ') {
            titles.insert(prefix.to_owned(), title.to_owned());
        }
        rest = &rest[open + close..];
    }
    titles
}

/// The title of the subcategory that case `id` belongs to: the longest
/// prefix of its id that has a title.
fn subcategory_of<'a>(titles: &'a BTreeMap<String, String>, id: &str) -> &'a str {
    let parts: Vec<&str> = id.split('.').collect();
    (1..parts.len()).rev().find_map(|n| titles.get(&parts[..n].join("."))).map_or("", String::as_str)
}

/// One case's line in `index.json` (`{agent: {case id: entry}}`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    behavior: String,
    behavior_close: String,
    remote_close_code: Option<u64>,
    reportfile: String,
}

/// The fields this test reads from a case's own JSON report. Only these
/// are decoded: other fields hold the frames exchanged, which for the
/// UTF-8 cases (6.x) are lone surrogates such as `"\ud800"` that a JSON
/// string cannot hold as text (serde_json skips them unread).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaseReport {
    description: String,
    was_clean: bool,
    dropped_by_me: bool,
    /// Frames the client sent, by opcode.
    #[serde(default)]
    tx_frame_stats: BTreeMap<String, u64>,
    expected_close: ExpectedClose,
}

/// How the suite expects the case to close.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpectedClose {
    /// Whether the client is to start the closing handshake (false: the
    /// server is to fail the connection).
    closed_by_me: bool,
}

/// Reads the report of agent `agent` from `dir`.
fn read_report(dir: &Path, agent: &str) -> Result<Vec<Case>, String> {
    let read =
        |name: &str| std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()));
    let mut index: BTreeMap<String, BTreeMap<String, IndexEntry>> =
        serde_json::from_str(&read("index.json")?).map_err(|e| format!("index.json: {e}"))?;
    let titles = subcategories(&read("index.html")?);
    let entries = index.remove(agent).ok_or_else(|| format!("index.json has no agent {agent:?}"))?;
    let mut cases = Vec::new();
    for (id, entry) in entries {
        let detail: CaseReport =
            serde_json::from_str(&read(&entry.reportfile)?).map_err(|e| format!("{}: {e}", entry.reportfile))?;
        cases.push(Case::from_report(id, entry, detail, &titles));
    }
    cases.sort_by_key(|c| case_key(&c.id));
    Ok(cases)
}

impl Case {
    fn from_report(id: String, entry: IndexEntry, detail: CaseReport, titles: &BTreeMap<String, String>) -> Case {
        Case {
            subcategory: subcategory_of(titles, &id).to_owned(),
            id,
            behavior: entry.behavior,
            behavior_close: entry.behavior_close,
            remote_close_code: entry.remote_close_code,
            description: detail.description,
            sent_binary_frame: detail.tx_frame_stats.get("2").is_some_and(|&n| n > 0),
            server_must_fail: !detail.expected_close.closed_by_me,
            was_clean: detail.was_clean,
            dropped_by_client: detail.dropped_by_me,
        }
    }
}

/// Where one run's spec and report go: a temporary folder removed when
/// dropped, or a kept one under `AUTOBAHN_REPORT_DIR`.
struct ReportDir {
    path: PathBuf,
    keep: bool,
}

impl ReportDir {
    fn new(run: &str) -> ReportDir {
        let (path, keep) = match std::env::var_os("AUTOBAHN_REPORT_DIR") {
            Some(root) => (PathBuf::from(root).join(run), true),
            None => (std::env::temp_dir().join(format!("sockjs-autobahn-{}-{run}", std::process::id())), false),
        };
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        ReportDir { path, keep }
    }
}

impl Drop for ReportDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// What one run produced.
struct Outcome {
    run: Run,
    url: String,
    elapsed: Duration,
    cases: Vec<Case>,
}

/// Starts the run's server, runs the fuzzing client against it (bounded by
/// [`run_limit`]) and reads the report. Server and client stop when this
/// returns, whatever happens.
fn execute(run: Run) -> Result<Outcome, String> {
    let name = run.name();
    let endpoints = sockjs_examples::reference_endpoints_with(|options| {
        run.compression.apply(options.sockjs_url(sockjs_core::DEFAULT_SOCKJS_URL))
    });
    let (addr, server) =
        (run.start)(support::loopback_listener(), endpoints).map_err(|e| format!("{name}: start: {e}"))?;
    let url = format!("ws://{addr}/echo/websocket");
    let dir = ReportDir::new(&name);
    let spec = serde_json::json!({
        "outdir": dir.path.to_str().expect("a UTF-8 temporary path"),
        "servers": [{ "agent": name, "url": url }],
        "cases": &run.selection.cases,
        "exclude-cases": &run.selection.exclude,
        "exclude-agent-cases": {},
    });
    let spec_path = dir.path.join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).map_err(|e| format!("{name}: write the spec: {e}"))?;
    let started = Instant::now();
    let mut wstest = ProcessGuard::spawn(
        &format!("wstest-{name}"),
        WSTEST,
        &["-m", "fuzzingclient", "-s", spec_path.to_str().expect("UTF-8")],
        &[("PYTHONUNBUFFERED", "1".to_owned())],
    );
    let limit = run_limit();
    let status = wstest.wait_exit(limit);
    let elapsed = started.elapsed();
    let tail =
        |log: String| log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    match status {
        None => {
            return Err(format!(
                "{name}: wstest did not finish within {} s (killed); the end of its output:\n{}",
                limit.as_secs(),
                tail(wstest.log())
            ))
        }
        Some(status) if !status.success() => {
            return Err(format!("{name}: wstest exited with {status}; the end of its output:\n{}", tail(wstest.log())))
        }
        Some(_) => {}
    }
    drop(server);
    let cases = read_report(&dir.path, &name).map_err(|e| format!("{name}: the report: {e}"))?;
    Ok(Outcome { run, url, elapsed, cases })
}

/// Compresses a sorted list of case ids for printing: runs of
/// consecutive cases of one subcategory become `first..last`.
fn id_ranges(ids: &[&str]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && consecutive(ids[j], ids[j + 1]) {
            j += 1;
        }
        parts.push(if j > i + 1 { format!("{}..{}", ids[i], ids[j]) } else { ids[i].to_owned() });
        if j == i + 1 {
            parts.push(ids[j].to_owned());
        }
        i = j + 1;
    }
    parts.join(", ")
}

/// Whether `b` follows `a` directly (same prefix, last part one more).
fn consecutive(a: &str, b: &str) -> bool {
    let (ka, kb) = (case_key(a), case_key(b));
    ka.len() == kb.len() && ka[..ka.len() - 1] == kb[..kb.len() - 1] && ka.last().map(|n| n + 1) == kb.last().copied()
}

/// The sections of the permessage-deflate cases (RFC 7692).
const COMPRESSION_SECTIONS: [&str; 2] = ["12", "13"];

fn is_compression_case(case: &Case) -> bool {
    case.id.split('.').next().is_some_and(|section| COMPRESSION_SECTIONS.contains(&section))
}

/// One row of the table: the counts of `cases`.
fn table_row(label: &str, cases: &[&Case]) -> String {
    let count = |behavior: &str| cases.iter().filter(|c| c.behavior == behavior).count();
    let known = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED"];
    let other = cases.iter().filter(|c| !known.contains(&c.behavior.as_str())).count();
    let clean = cases.iter().filter(|c| matches!(c.behavior_close.as_str(), "OK" | "INFORMATIONAL")).count();
    let refused = cases.iter().filter(|c| c.verdict() == Verdict::RefusedBinary).count();
    format!(
        "  | {label} | {} | {} | {} | {} | {} | {other} | {clean} of {} | {refused} |",
        count("OK"),
        count("NON-STRICT"),
        count("INFORMATIONAL"),
        count("FAILED"),
        count("UNIMPLEMENTED"),
        cases.len()
    )
}

/// The table of one run, and the failures grouped by what happened.
fn summarize(outcome: &Outcome) -> (String, Vec<String>) {
    let Outcome { run, url, elapsed, cases } = outcome;
    let mut table = String::new();
    let _ = writeln!(
        table,
        "autobahn {} (compression {:?}, {url}): {} cases in {:.1} s",
        run.name(),
        run.compression,
        cases.len(),
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        table,
        "  | sections | OK | NON-STRICT | INFORMATIONAL | FAILED | UNIMPLEMENTED | other | clean closes | binary refused with 1003 |"
    );
    let (compression, rest): (Vec<&Case>, Vec<&Case>) = cases.iter().partition(|c| is_compression_case(c));
    for (label, part) in [("all but 9, 12, 13", &rest), ("12, 13 (permessage-deflate)", &compression)] {
        if !part.is_empty() {
            let _ = writeln!(table, "{}", table_row(label, part));
        }
    }
    let all: Vec<&Case> = cases.iter().collect();
    let _ = writeln!(table, "{}", table_row("all", &all));
    let refusable: Vec<&str> = cases.iter().filter(|c| c.refusable_as_binary()).map(|c| c.id.as_str()).collect();
    let _ =
        writeln!(table, "  binary-message cases that may close with 1003 (from the report): {}", id_ranges(&refusable));
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for case in cases {
        if let Verdict::Failed(why) = case.verdict() {
            groups.entry(why).or_default().push(&case.id);
        }
    }
    let failures = groups
        .iter()
        .map(|(why, ids)| format!("{}: {} case(s) {why}: {}", run.name(), ids.len(), id_ranges(ids)))
        .collect();
    (table, failures)
}

/// RFC 6455 as Autobahn|Testsuite checks it (§5 framing, §5.5 control
/// frames, §5.6 and §8.1 UTF-8, §7 closing, §7.4 close codes; RFC 7692
/// permessage-deflate in sections 12 and 13) on every adapter.
#[test]
fn autobahn_fuzzingclient_passes_on_every_adapter() {
    assert!(
        Path::new(WSTEST).exists(),
        "{WSTEST} is missing: this test needs the Autobahn|Testsuite fuzzing client and never skips. \
         Install it with sockjs-tests/autobahn/setup.sh, which ./test.sh runs before cargo test"
    );
    let runs = runs();
    let results: Vec<Result<Outcome, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs.into_iter().map(|run| scope.spawn(move || execute(run))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("the run panicked".to_owned()))).collect()
    });
    let mut problems = Vec::new();
    for result in results {
        match result {
            Err(e) => problems.push(e),
            Ok(outcome) => {
                let (table, failures) = summarize(&outcome);
                println!("{table}");
                // The report must be the one asked for: cases ran, and the
                // binary-message cases were recognised where 1.2 ran.
                if outcome.cases.is_empty() {
                    problems.push(format!("{}: the report lists no case", outcome.run.name()));
                }
                let binary_section = outcome.cases.iter().filter(|c| c.id.starts_with("1.2."));
                if binary_section.clone().count() > 0 && !binary_section.clone().all(Case::refusable_as_binary) {
                    problems.push(format!("{}: 1.2.x not recognised as binary-message cases", outcome.run.name()));
                }
                let ran: BTreeSet<&str> =
                    outcome.cases.iter().filter_map(|c| c.id.split('.').next()).collect::<BTreeSet<_>>();
                if ran.contains("9") {
                    problems.push(format!("{}: section 9 ran although it is excluded", outcome.run.name()));
                }
                problems.extend(failures);
            }
        }
    }
    assert!(problems.is_empty(), "Autobahn|Testsuite: {} problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// A case as index.json and its report would describe it, for the tests
/// of the verdict.
fn case(id: &str, behavior: &str, behavior_close: &str, code: Option<u64>) -> Case {
    Case {
        id: id.to_owned(),
        behavior: behavior.to_owned(),
        behavior_close: behavior_close.to_owned(),
        remote_close_code: code,
        was_clean: true,
        ..Case::default()
    }
}

/// The verdict: the outcomes that pass, and that a binary-message case
/// passes only when refused with a clean 1003 that the server ends.
#[test]
fn verdicts_follow_the_behaviour_the_close_and_the_binary_rule() {
    assert_eq!(case("1.1.1", "OK", "OK", Some(1000)).verdict(), Verdict::Passed);
    assert_eq!(case("6.4.1", "NON-STRICT", "OK", Some(1007)).verdict(), Verdict::Passed);
    assert_eq!(case("7.1.6", "INFORMATIONAL", "INFORMATIONAL", Some(1000)).verdict(), Verdict::Passed);
    // Right behaviour, wrong close: fails.
    assert!(matches!(case("7.3.2", "OK", "WRONG CODE", Some(1000)).verdict(), Verdict::Failed(_)));
    assert!(matches!(case("7.1.1", "OK", "FAILED BY CLIENT", Some(1000)).verdict(), Verdict::Failed(_)));
    assert!(matches!(case("12.1.1", "UNIMPLEMENTED", "OK", Some(1000)).verdict(), Verdict::Failed(_)));

    let mut binary = case("1.2.1", "FAILED", "FAILED", Some(1003));
    binary.description = "Send binary message with payload 0.".to_owned();
    assert_eq!(binary.verdict(), Verdict::RefusedBinary);
    // A text case closed with 1003 is a failure.
    let mut text = binary.clone();
    text.description = "Send text message with payload 0.".to_owned();
    assert!(matches!(text.verdict(), Verdict::Failed(_)));
    // A binary case the suite expects the server to fail (reserved bits,
    // 3.5 and 3.6) must fail the suite's way, not with 1003.
    let mut reserved = binary.clone();
    reserved.server_must_fail = true;
    assert!(matches!(reserved.verdict(), Verdict::Failed(_)));
    // A binary case closed with another code, uncleanly, or left for the
    // client to drop, fails.
    let mut wrong = binary.clone();
    wrong.remote_close_code = Some(1000);
    assert!(matches!(wrong.verdict(), Verdict::Failed(_)));
    let mut unclean = binary.clone();
    unclean.was_clean = false;
    assert!(matches!(unclean.verdict(), Verdict::Failed(_)));
    let mut dropped = binary.clone();
    dropped.dropped_by_client = true;
    assert!(matches!(dropped.verdict(), Verdict::Failed(_)));
}

/// Which cases send binary messages, from each of the report's three
/// sources; pings with binary payloads do not.
#[test]
fn binary_cases_are_named_by_the_report() {
    let with = |description: &str, subcategory: &str, sent_binary_frame: bool| Case {
        description: description.to_owned(),
        subcategory: subcategory.to_owned(),
        sent_binary_frame,
        ..Case::default()
    };
    assert!(with("Send binary message with payload 0.", "1.2 Binary Messages", true).sends_binary());
    assert!(with("Send small binary message with <b>RSV = 5</b>.", "", true).sends_binary());
    assert!(with(
        "Send 1000 compressed messages each of payload size 16, auto-fragment to 0 octets.",
        "12.2 Lena Picture, Bitmap 512x512 bw (binary, 263222 bytes)",
        false
    )
    .sends_binary());
    assert!(with("", "", true).sends_binary());
    assert!(!with("Send ping with binary payload of 125 octets.", "", false).sends_binary());
    assert!(!with(
        "Send 1000 compressed messages each of payload size 16, auto-fragment to 0 octets.",
        "12.1 Large JSON data file (utf8, 194237 bytes)",
        false
    )
    .sends_binary());
}

/// The subcategory titles come out of index.html's cells, and a case gets
/// its own subcategory's.
#[test]
fn subcategory_titles_are_read_from_the_index_page() {
    let html = r#"<tr class="case_subcategory_row">
            <td class="case_subcategory" colspan="3">1.2 Binary Messages</td>
         </tr><tr><td class="case_subcategory" colspan="3">12.2 Lena Picture, Bitmap 512x512 bw (binary, 263222 bytes)</td></tr>
         <td class="case_subcategory" colspan="3">12.1 Large JSON data file (utf8, 194237 bytes)</td>"#;
    let titles = subcategories(html);
    assert_eq!(titles.len(), 3);
    assert_eq!(subcategory_of(&titles, "1.2.8"), "1.2 Binary Messages");
    assert_eq!(subcategory_of(&titles, "12.2.10"), "12.2 Lena Picture, Bitmap 512x512 bw (binary, 263222 bytes)");
    assert_eq!(subcategory_of(&titles, "12.1.1"), "12.1 Large JSON data file (utf8, 194237 bytes)");
    assert_eq!(subcategory_of(&titles, "3.1"), "");
}

/// Case ids sort numerically and print as ranges.
#[test]
fn case_ids_sort_numerically_and_print_as_ranges() {
    let mut ids = vec!["1.2.10", "1.2.9", "1.10", "1.2.1", "2.1"];
    ids.sort_by_key(|id| case_key(id));
    assert_eq!(ids, ["1.2.1", "1.2.9", "1.2.10", "1.10", "2.1"]);
    assert_eq!(id_ranges(&["1.2.1", "1.2.2", "1.2.3", "1.2.5", "3.1", "3.2"]), "1.2.1..1.2.3, 1.2.5, 3.1, 3.2");
}

/// A case's report decodes although other fields hold lone surrogates
/// (as 6.20.1's does), and its fields land where they belong.
#[test]
fn case_reports_decode_with_lone_surrogates_elsewhere() {
    let index = r#"{"actix": {"6.20.1": {"behavior": "FAILED", "behaviorClose": "WRONG CODE", "duration": 3,
        "remoteCloseCode": 1000, "reportfile": "actix_case_6_20_1.json"}}}"#;
    let report = r#"{"description": "Send a text message with payload which is not valid UTF-8.",
        "received": [["TF", [3, "\ud800"], 1, true, 0, "00000000", null, null, false]],
        "wasClean": true, "droppedByMe": false, "txFrameStats": {"1": 1, "8": 1},
        "expectedClose": {"closeCode": [1007], "closedByMe": false, "requireClean": false}}"#;
    let mut index: BTreeMap<String, BTreeMap<String, IndexEntry>> = serde_json::from_str(index).unwrap();
    let (id, entry) = index.remove("actix").unwrap().into_iter().next().unwrap();
    assert_eq!(entry.reportfile, "actix_case_6_20_1.json");
    let detail: CaseReport = serde_json::from_str(report).unwrap();
    let titles = subcategories(r#"<td class="case_subcategory" colspan="3">6.20 UTF-8 Handling</td>"#);
    let case = Case::from_report(id, entry, detail, &titles);
    assert_eq!(case.id, "6.20.1");
    assert_eq!((case.behavior.as_str(), case.behavior_close.as_str()), ("FAILED", "WRONG CODE"));
    assert_eq!(case.remote_close_code, Some(1000));
    assert_eq!(case.subcategory, "6.20 UTF-8 Handling");
    assert!(case.was_clean && !case.dropped_by_client && !case.sent_binary_frame && case.server_must_fail);
    assert!(matches!(case.verdict(), Verdict::Failed(_)));
}

/// The runs have names of their own (each is an agent and a report
/// folder), and the small compressed selection is ids, not patterns
/// (a pattern `12.*.1` would take 12.1.10 to 12.1.18 as well).
#[test]
fn runs_are_named_apart_and_the_small_selection_is_ids() {
    let names: BTreeSet<String> = runs().iter().map(Run::name).collect();
    assert_eq!(names.len(), runs().len(), "{names:?}");
    let small = deflate_small();
    assert_eq!(small.len(), (5 + 7) * 5);
    assert!(small.iter().all(|id| !id.contains('*')));
    assert!(small.contains(&"12.5.5".to_owned()) && small.contains(&"13.7.1".to_owned()));
    assert!(!small.contains(&"12.1.10".to_owned()) && !small.contains(&"12.1.6".to_owned()));
}
