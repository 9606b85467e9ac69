//! End to end with a real browser: sockjs-client 1.6.1 in headless Chromium
//! (Debian's `/usr/bin/chromium`, driven by playwright-core) against our
//! servers, on every transport the client can use in Chromium, from a page
//! on another origin and from a page on the server's own origin.
//!
//! The axum server runs the matrix a second time over TLS (https pages,
//! https and wss to the server; HTTP/2 by ALPN, websockets over h2
//! extended CONNECT), with a certificate made at test time that Chromium
//! trusts by its public key's pin alone
//! (`--ignore-certificate-errors-spki-list`), not by ignoring every
//! certificate error. That run also checks that Chromium spoke HTTP/2: every
//! request to the server whose version the page's Resource Timing entries
//! report (`nextHopProtocol`; cross-origin entries report none without
//! `Timing-Allow-Origin`) was `h2`.
//!
//! One room over two nodes: the `multiplex-nodes` scenario on every
//! transport, through HAProxy (examples/haproxy/haproxy.cfg) in front of an
//! actix and an axum node that share a Redis broker: two websocket-multiplex
//! connections that reach different nodes subscribe to one channel, and what
//! each sends reaches both, once.
//!
//! `sockjs-tests/browser/setup.sh` installs Chromium and the node modules,
//! `sockjs-tests/scaling/setup.sh` HAProxy and redis-server; these tests
//! fail (never skip) when they are missing. The scenarios live
//! in `browser/page.js`, the driver and its table in `browser/run.mjs`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sockjs_core::multiplex::Channel;
use sockjs_core::rooms::{NodeId, Rooms};
use sockjs_core::{Endpoint, Options, Session};
use sockjs_examples::ServeOptions;
use sockjs_redis::{RedisBroker, RedisConfig};

mod support;

/// Starts a SockJS server with `endpoints` on `listener` as the options
/// say (they serve the page's directory at `/static/...`, for the
/// same-origin page, and may carry TLS). The returned value stops the
/// server when dropped.
type StartServer = fn(TcpListener, Vec<Endpoint>, ServeOptions) -> std::io::Result<Box<dyn std::any::Any>>;

/// Every adapter under test: one line each, and whether it runs over TLS.
const ADAPTERS: &[(&str, StartServer, bool)] = &[
    (
        "actix",
        |listener, endpoints, options| Ok(Box::new(sockjs_examples::serve_actix_with(listener, endpoints, options)?)),
        false,
    ),
    (
        "warp",
        |listener, endpoints, options| Ok(Box::new(sockjs_examples::serve_warp_with(listener, endpoints, options)?)),
        false,
    ),
    ("axum", AXUM, false),
    ("axum-tls", AXUM, true),
];

const AXUM: StartServer =
    |listener, endpoints, options| Ok(Box::new(sockjs_examples::serve_axum_with(listener, endpoints, options)?));

/// The transports × scenarios of run.mjs, per page origin.
const TRANSPORTS: usize = 9;
const SCENARIOS: usize = 12;
/// The only cells the client itself refuses (checked by run.mjs).
const NOT_APPLICABLE: &[(&str, &str)] = &[("cross-origin", "htmlfile")];
/// run.mjs stops itself after this; the test kills it a little later.
const DRIVER_DEADLINE: Duration = Duration::from_secs(170);

/// One browser run at a time: the tests of this file take turns (cargo
/// runs tests in parallel threads), so that no run's timeouts count
/// another's load.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Writes past libtest's output capture, so the table shows in every run.
fn show(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Fails with what to run when the browser or the node modules are missing.
fn check_prerequisites() {
    let dir = browser_dir();
    let setup = "run sockjs-tests/browser/setup.sh (as root: it apt-installs chromium and npm-installs \
                 playwright-core and sockjs-client 1.6.1)";
    assert!(chromium().is_file(), "{} is missing: {setup}", chromium().display());
    for module in ["playwright-core/package.json", "sockjs-client/dist/sockjs.min.js"] {
        assert!(dir.join("node_modules").join(module).is_file(), "node_modules/{module} is missing: {setup}");
    }
    let node = Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "node is not installed: install Node.js 20 or later");
}

/// The test-only `/presence` service: a client's close is observable from
/// the browser. `join TOKEN` labels the session (answer `joined TOKEN`);
/// `alive? TOKEN` answers `alive TOKEN` while a session so labelled runs,
/// else `gone TOKEN`. Short delays: a client that leaves without a word
/// (jsonp-polling leaves its last poll pending) is noticed within ~4 s.
fn presence_endpoint(sockjs_url: &str) -> Endpoint {
    let present: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let options = Options::new("/presence")
        .sockjs_url(sockjs_url)
        .heartbeat_delay(Duration::from_secs(2))
        .disconnect_delay(Duration::from_secs(2));
    Endpoint::new(options, move |session: Session| presence(present.clone(), session))
}

async fn presence(present: Arc<Mutex<HashMap<String, usize>>>, mut session: Session) {
    let lock = || present.lock().unwrap_or_else(|p| p.into_inner());
    let mut mine = Vec::new();
    while let Some(message) = session.recv().await {
        let (verb, token) = message.split_once(' ').unwrap_or((&message, ""));
        let reply = match verb {
            "join" => {
                *lock().entry(token.to_string()).or_default() += 1;
                mine.push(token.to_string());
                format!("joined {token}")
            }
            "alive?" if lock().contains_key(token) => format!("alive {token}"),
            "alive?" => format!("gone {token}"),
            _ => continue,
        };
        if session.send(reply).is_err() {
            break;
        }
    }
    let mut present = lock();
    for token in mine {
        if let Some(count) = present.get_mut(&token) {
            *count -= 1;
            if *count == 0 {
                present.remove(&token);
            }
        }
    }
}

/// The node driver and everything it started: on drop (every exit path)
/// its process group gets SIGTERM (playwright then closes Chromium), then
/// SIGKILL, and any process still naming our private temp directory (the
/// Chromium profile lives there) is killed.
struct Driver {
    child: Child,
    tmp: PathBuf,
}

impl Driver {
    fn spawn(args: &[String]) -> Driver {
        let tmp = std::env::temp_dir().join(format!("sockjs-browser-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&tmp).expect("temp dir");
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new("node")
                .arg("run.mjs")
                .args(args)
                .current_dir(browser_dir())
                .env("TMPDIR", &tmp)
                .env("CHROMIUM", chromium())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .process_group(0)
                .spawn()
                .expect("cannot start node run.mjs")
        };
        Driver { child, tmp }
    }

    fn signal_group(&self, signal: &str) {
        let _ =
            Command::new("kill").args([signal, "--", &format!("-{}", self.child.id())]).stderr(Stdio::null()).status();
    }

    /// Waits up to `limit` for the driver to exit.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Pids of live processes whose command line names our temp directory.
    fn stragglers(&self) -> Vec<u32> {
        let marker = self.tmp.to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(&marker))
            })
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal_group("-TERM");
            if self.wait(Duration::from_secs(5)).is_none() {
                self.signal_group("-KILL");
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        for pid in self.stragglers() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
        }
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Runs run.mjs with `args` (and the deadline) and returns its
/// `BROWSER-RESULT` JSON; `name` labels its messages.
fn run_driver(name: &str, args: Vec<String>) -> serde_json::Value {
    let args: Vec<String> = args
        .into_iter()
        .chain(["--deadline".to_string(), DRIVER_DEADLINE.as_secs().to_string()])
        .chain(std::env::var_os("SOCKJS_BROWSER_VERBOSE").map(|_| "--verbose".to_string()))
        .collect();
    let started = Instant::now();
    let mut driver = Driver::spawn(&args);
    let stdout = driver.child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut result = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            match line.strip_prefix("BROWSER-RESULT ") {
                Some(json) => result = Some(json.to_string()),
                None => show(&line),
            }
        }
        result
    });
    let status = driver.wait(DRIVER_DEADLINE + Duration::from_secs(30));
    drop(driver); // ends node and Chromium (if still there) before anything else
    let result = reader.join().ok().flatten();
    show(&format!("{name}: browser run took {:.1} s", started.elapsed().as_secs_f64()));
    let status = status.unwrap_or_else(|| panic!("{name}: run.mjs did not finish in time and was killed"));
    let json = result.unwrap_or_else(|| panic!("{name}: run.mjs ({status}) printed no BROWSER-RESULT line"));
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: bad BROWSER-RESULT line: {e}"))
}

/// The failed cells of a run.mjs result (a verified n/a is not one) and a
/// line if the number of cells is not `expected`.
fn failed_cells(name: &str, result: &serde_json::Value, expected: usize) -> Vec<String> {
    let mut failures = Vec::new();
    let cells = result["cells"].as_array().cloned().unwrap_or_default();
    if cells.len() != expected {
        failures.push(format!("{name}: {} cells reported, expected {expected}", cells.len()));
    }
    for cell in &cells {
        let field = |k: &str| cell[k].as_str().unwrap_or("?").to_string();
        let (mode, transport, status) = (field("mode"), field("transport"), field("status"));
        let allowed_na = NOT_APPLICABLE.contains(&(mode.as_str(), transport.as_str()));
        let ok = status == "ok" || (status == "n/a" && allowed_na);
        if !ok {
            failures.push(format!("{name}: {mode} {transport} {}: {status}: {}", field("scenario"), field("detail")));
        }
    }
    failures
}

/// Runs run.mjs against one adapter (pages from another origin and from
/// the server's own, both over https when `tls`) and returns its
/// `BROWSER-RESULT` JSON.
fn run_adapter(name: &str, start: StartServer, tls: bool) -> serde_json::Value {
    let dir = browser_dir();
    let server_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let page_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let scheme = if tls { "https" } else { "http" };
    let server_url = format!("{scheme}://{}", server_listener.local_addr().unwrap());
    let page_origin = format!("{scheme}://{}", page_listener.local_addr().unwrap());
    // The iframe page loads the same local copy as the test page.
    let sockjs_url = format!("{page_origin}/static/node_modules/sockjs-client/dist/sockjs.min.js");

    // Every websocket offers permessage-deflate; Chromium takes it.
    let mut endpoints = sockjs_examples::reference_endpoints_with(|options| {
        options.sockjs_url(&sockjs_url).websocket_deflate(sockjs_core::Deflate::new())
    });
    endpoints.push(presence_endpoint(&sockjs_url));
    let certificate = support::tls::certificate();
    let options = |workers| ServeOptions {
        static_dir: Some(dir.clone()),
        tls: tls.then(|| certificate.server_config()),
        ..ServeOptions::new(workers)
    };
    let _server = start(server_listener, endpoints, options(2)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let _pages = sockjs_examples::serve_actix_with(page_listener, Vec::new(), options(1)).unwrap();
    // Chromium trusts the test certificate by its key's pin, and nothing
    // else that would fail verification.
    let pin = format!("--ignore-certificate-errors-spki-list={}", certificate.spki_sha256_base64());
    let tls_args = if tls { vec!["--chromium-arg".to_string(), pin] } else { Vec::new() };

    let args: Vec<String> =
        ["--server", &server_url, "--page-origin", &page_origin, "--page-origin", &server_url, "--label", name]
            .iter()
            .map(ToString::to_string)
            .chain(tls_args)
            .collect();
    run_driver(name, args)
}

#[test]
fn every_transport_works_in_chromium() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    check_prerequisites();
    let mut failures = Vec::new();
    for (name, start, tls) in ADAPTERS {
        let result = run_adapter(name, *start, *tls);
        if *tls {
            let protocols = result["protocols"].as_object().cloned().unwrap_or_default();
            let h2 = protocols.get("h2").and_then(|n| n.as_u64()).unwrap_or(0);
            let other = protocols.keys().any(|p| p != "h2" && p != "unknown");
            if h2 == 0 || other {
                failures.push(format!("{name}: not every request went over HTTP/2: {protocols:?}"));
            }
        }
        failures.extend(failed_cells(name, &result, 2 * TRANSPORTS * SCENARIOS));
    }
    assert!(failures.is_empty(), "{} browser cell(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// How often `/multiplex` of the two-node test answers a pending poll with
/// a heartbeat (see [`node_endpoints`]).
const NODE_HEARTBEAT: Duration = Duration::from_secs(1);

/// A node's endpoints: `/multiplex` (every channel the room of its name,
/// rooms spanning the nodes through `rooms`) plus the `node` channel, which
/// answers a subscriber with `name` once; and `/echo`, which run.mjs opens
/// to verify that the client refuses cross-origin htmlfile.
///
/// `/multiplex` sends heartbeats every [`NODE_HEARTBEAT`]: the scenario
/// closes each connection that reached a node it has seen, and a closed
/// jsonp-polling client leaves its long poll pending (a `<script>` the
/// browser keeps loading), holding one of Chromium's six connections to
/// the proxy until the server answers it. With the default 25 s, a run
/// whose first connections all hashed to one node (the `<server>`
/// segments are random) ran out of connections, and its next one waited
/// past the scenario's 8 s for its first reply (seen once, cross-origin
/// jsonp-polling, after five connections).
fn node_endpoints(name: &'static str, sockjs_url: &str, rooms: Rooms) -> Vec<Endpoint> {
    let multiplex = sockjs_examples::multiplex().channel("node", move |mut channel: Channel| async move {
        if channel.send(name).is_ok() {
            while channel.recv().await.is_some() {}
        }
    });
    let options = Options::new("/multiplex").sockjs_url(sockjs_url).rooms(rooms).heartbeat_delay(NODE_HEARTBEAT);
    vec![
        Endpoint::new(options, multiplex),
        Endpoint::new(Options::new("/echo").sockjs_url(sockjs_url), sockjs_examples::echo),
    ]
}

#[test]
fn one_room_spans_two_nodes_behind_haproxy_in_chromium() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    check_prerequisites();
    let dir = browser_dir();
    let redis_port = support::free_port();
    let _redis = support::redis_server(redis_port);
    // The brokers' tasks run here; the runtime outlives the servers (it is
    // dropped last).
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let page_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let page_origin = format!("http://{}", page_listener.local_addr().unwrap());
    let sockjs_url = format!("{page_origin}/static/node_modules/sockjs-client/dist/sockjs.min.js");
    let node = |id: u64, name: &'static str| {
        let _entered = runtime.enter();
        let config = RedisConfig::standalone(&format!("redis://127.0.0.1:{redis_port}/")).prefix("browser");
        let broker = RedisBroker::connect(config).expect("a Redis broker");
        let rooms = Rooms::builder().broker(broker, NodeId::new(id)).label("rooms").build();
        node_endpoints(name, &sockjs_url, rooms)
    };
    let actix = sockjs_examples::serve_actix(support::loopback_listener(), node(1, "actix"), 2).unwrap();
    let axum = sockjs_examples::serve_axum(support::loopback_listener(), node(2, "axum"), 2).unwrap();
    let (mut haproxy, (), proxy) =
        support::on_free_port("haproxy", |addr| (support::haproxy(addr, [actix.addr(), axum.addr()]), ()));
    let pages = ServeOptions { static_dir: Some(dir), ..ServeOptions::new(1) };
    let _pages = sockjs_examples::serve_actix_with(page_listener, Vec::new(), pages).unwrap();

    let server_url = format!("http://{proxy}");
    let args = ["--server", &server_url, "--page-origin", &page_origin, "--label", "two nodes", "--scenarios"];
    let args = args.iter().map(ToString::to_string).chain(["multiplex-nodes".to_string()]).collect();
    let result = run_driver("two nodes", args);
    haproxy.kill();
    let failures = failed_cells("two nodes", &result, TRANSPORTS);
    assert!(failures.is_empty(), "{} browser cell(s) failed:\n{}", failures.len(), failures.join("\n"));
}
