//! The SockJS protocol conformance suite.
//!
//! [`run`] points every check at a server that exposes the reference services
//! of PROTOCOL.md §1 (`/echo`, `/close`, `/disabled_websocket_echo`,
//! `/cookie_needed_echo`, `/ticker`, `/amplify`, `/broadcast`) under one base
//! URL, and returns one [`CheckOutcome`] per check. Each check's name starts
//! with the PROTOCOL.md section it pins, for example
//! `§7.6 xhr_streaming response_limit`; checks of behaviour that the page
//! marks **\[node\]** say so in their name.
//!
//! Checks run concurrently with a bounded pool; the few that need a quiet
//! server (socket-closure timing, `/broadcast`) run one at a time afterwards,
//! and the slow ones (heartbeats, session expiry) start first and sleep in
//! the background. Every read is bounded, and every check has an overall
//! deadline, so a broken server fails checks instead of hanging the suite.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::http1;

mod client;
mod eventsource;
mod expect;
mod headers;
mod hixie;
mod htmlfile;
mod http_versions;
mod jsonp;
mod prefix;
mod routing;
mod services;
mod sessions;
mod unicode;
mod websocket;
mod xhr;
mod xhr_streaming;

pub(crate) use expect::*;

/// How many ordinary checks run at once.
const CONCURRENCY: usize = 16;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// The check's name, starting with its PROTOCOL.md section.
    pub name: String,
    /// Whether the server behaved as required.
    pub passed: bool,
    /// Why it failed (`None` when it passed).
    pub failure: Option<String>,
    /// How long the check took.
    pub duration: Duration,
}

impl fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            None => write!(f, "PASS {}", self.name),
            Some(why) => write!(f, "FAIL {}: {}", self.name, why),
        }
    }
}

/// How many checks the suite has (the README and sockjs-tests/README.md
/// say it too): a change to the suite changes this number on purpose.
pub const CHECK_COUNT: usize = 138;

/// The names of all checks, in the order [`run`] reports them.
pub fn check_names() -> Vec<String> {
    registry().into_iter().map(|c| c.name).collect()
}

/// Whether `outcomes` are those of a whole run ([`run`] with no filter):
/// one per check of [`check_names`], in its order, [`CHECK_COUNT`] in
/// all. `Err` names the checks that are missing or that are not the
/// suite's (a check whose task failed reports as `(unknown check)`).
pub fn whole_run(outcomes: &[CheckOutcome]) -> Result<(), String> {
    let expected = check_names();
    let got: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
    if expected.len() == CHECK_COUNT && got.len() == expected.len() && got.iter().zip(&expected).all(|(g, e)| g == e) {
        return Ok(());
    }
    let missing: Vec<&str> = expected.iter().map(String::as_str).filter(|e| !got.contains(e)).collect();
    let extra: Vec<&str> = got.iter().copied().filter(|g| !expected.iter().any(|e| e == g)).collect();
    Err(format!(
        "{} outcomes for the {} checks of the suite ({CHECK_COUNT} expected); missing: {missing:?}; not the suite's: {extra:?}",
        got.len(),
        expected.len()
    ))
}

/// Runs every check whose name contains `filter` (all when `None`) against
/// the server at `base_url` (for example `http://127.0.0.1:8081`, optionally
/// with a path prefix in front of the service names). Outcomes come back in
/// registry order. A base URL that cannot be parsed gives a single failed
/// outcome named `base url`.
pub async fn run(base_url: &str, filter: Option<&str>) -> Vec<CheckOutcome> {
    let target = match Target::parse(base_url) {
        Ok(t) => t,
        Err(why) => {
            return vec![CheckOutcome {
                name: "base url".to_owned(),
                passed: false,
                failure: Some(why),
                duration: Duration::ZERO,
            }]
        }
    };
    let checks: Vec<Check> = registry().into_iter().filter(|c| filter.is_none_or(|f| c.name.contains(f))).collect();

    let mut slow = Vec::new();
    let mut normal = Vec::new();
    let mut exclusive = Vec::new();
    for (index, check) in checks.into_iter().enumerate() {
        match check.kind {
            Kind::Slow => slow.push((index, check)),
            Kind::Normal => normal.push((index, check)),
            Kind::Exclusive => exclusive.push((index, check)),
        }
    }

    let mut handles = Vec::new();
    for (index, check) in slow {
        let t = target.clone();
        handles.push((index, tokio::spawn(run_one(check, t))));
    }
    let pool = Arc::new(Semaphore::new(CONCURRENCY));
    let mut normal_handles = Vec::new();
    for (index, check) in normal {
        let t = target.clone();
        let pool = pool.clone();
        normal_handles.push((
            index,
            tokio::spawn(async move {
                let _permit = pool.acquire_owned().await;
                run_one(check, t).await
            }),
        ));
    }
    let mut results: BTreeMap<usize, CheckOutcome> = BTreeMap::new();
    for (index, handle) in normal_handles {
        results.insert(index, joined(handle.await));
    }
    for (index, check) in exclusive {
        results.insert(index, run_one(check, target.clone()).await);
    }
    for (index, handle) in handles {
        results.insert(index, joined(handle.await));
    }
    results.into_values().collect()
}

fn joined(r: Result<CheckOutcome, tokio::task::JoinError>) -> CheckOutcome {
    r.unwrap_or_else(|e| CheckOutcome {
        name: "(unknown check)".to_owned(),
        passed: false,
        failure: Some(format!("check task failed: {e}")),
        duration: Duration::ZERO,
    })
}

async fn run_one(check: Check, target: Target) -> CheckOutcome {
    let start = Instant::now();
    let limit = check.kind.deadline();
    let fut = (check.run)(target);
    // Run in its own task so that a panic becomes a failure, not an abort.
    let result = match tokio::time::timeout(limit, tokio::spawn(fut)).await {
        Err(_) => Err(format!("check did not finish within {limit:?}")),
        Ok(Err(join)) => Err(format!("check panicked: {join}")),
        Ok(Ok(Err(Failure(why)))) => Err(why),
        Ok(Ok(Ok(()))) => Ok(()),
    };
    CheckOutcome { name: check.name, passed: result.is_ok(), failure: result.err(), duration: start.elapsed() }
}

/// When and how a check may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Runs in the concurrent pool.
    Normal,
    /// Mostly sleeps (heartbeats, expiry): starts first, outside the pool.
    Slow,
    /// Needs a quiet server or shared state: runs alone after the pool.
    Exclusive,
}

impl Kind {
    fn deadline(self) -> Duration {
        match self {
            Kind::Normal | Kind::Exclusive => Duration::from_secs(20),
            Kind::Slow => Duration::from_secs(40),
        }
    }
}

/// A boxed check future.
pub(crate) type CheckFuture = Pin<Box<dyn Future<Output = CheckResult> + Send>>;

/// What a check returns.
pub(crate) type CheckResult = Result<(), Failure>;

/// One registered check.
pub(crate) struct Check {
    name: String,
    kind: Kind,
    run: Box<dyn Fn(Target) -> CheckFuture + Send + Sync>,
}

impl Check {
    /// A check in the concurrent pool.
    pub(crate) fn new<F, Fut>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn(Target) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckResult> + Send + 'static,
    {
        Check { name: name.into(), kind: Kind::Normal, run: Box::new(move |t| Box::pin(f(t))) }
    }

    /// Changes when the check runs.
    pub(crate) fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }
}

fn registry() -> Vec<Check> {
    let mut all = Vec::new();
    all.extend(routing::checks());
    all.extend(prefix::checks());
    all.extend(headers::checks());
    all.extend(xhr::checks());
    all.extend(xhr_streaming::checks());
    all.extend(eventsource::checks());
    all.extend(htmlfile::checks());
    all.extend(jsonp::checks());
    all.extend(sessions::checks());
    all.extend(websocket::checks());
    all.extend(hixie::checks());
    all.extend(unicode::checks());
    all.extend(http_versions::checks());
    all.extend(services::checks());
    all
}

/// Why a check failed.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl From<http1::Error> for Failure {
    fn from(e: http1::Error) -> Self {
        Failure(e.to_string())
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Self {
        Failure(s.to_owned())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure(format!("invalid JSON: {e}"))
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for Failure {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Failure(format!("websocket error: {e}"))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure(format!("I/O error: {e}"))
    }
}

/// Fails the check with a formatted message.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::conformance::Failure(format!($($arg)*)))
    };
}

pub(crate) use fail;

/// The server under test: where to connect and how to name its URLs.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `host:port` to connect to.
    pub(crate) addr: String,
    /// Path in front of the service names (empty or `/x/y`).
    prefix: String,
}

impl Target {
    fn parse(base_url: &str) -> Result<Self, String> {
        let rest =
            base_url.strip_prefix("http://").ok_or_else(|| format!("base url {base_url:?} must start with http://"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("base url {base_url:?} has no host"));
        }
        let addr = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Target { addr, prefix: path.trim_end_matches('/').to_owned() })
    }

    /// The request target of `path` (which starts with the service name,
    /// for example `/echo/info`).
    pub(crate) fn path(&self, path: &str) -> String {
        format!("{}{}", self.prefix, path)
    }

    /// `ws://host:port` + prefix + `path`.
    pub(crate) fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}{}", self.addr, self.prefix, path)
    }

    /// Sends `request` (its target relative to the prefix) on a fresh
    /// connection and reads the whole response.
    pub(crate) async fn fetch(&self, mut request: http1::Request) -> Result<http1::Response, Failure> {
        request.target = self.path(&request.target);
        Ok(http1::fetch(&self.addr, &request).await?)
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Result<http1::Response, Failure> {
        self.fetch(http1::Request::get(path)).await
    }

    /// A fresh connection with `request` already sent.
    pub(crate) async fn open(&self, mut request: http1::Request) -> Result<http1::Connection, Failure> {
        request.target = self.path(&request.target);
        let mut conn = http1::Connection::connect(&self.addr).await?;
        conn.send(&request).await?;
        Ok(conn)
    }

    /// A new, unique session URL base of `service`, for example
    /// `/echo/000/k3x9a1`.
    pub(crate) fn session(&self, service: &str) -> String {
        format!("{service}/{:03}/{}", next_id() % 1000, session_id())
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn next_id() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A session id unique to this process and (with high probability) to this
/// run, since sockjs-node keeps one session table for all its services.
pub(crate) fn session_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
        );
        h.finish()
    });
    format!("s{:x}{}", seed & 0xffff_ffff, next_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str) -> CheckOutcome {
        CheckOutcome { name: name.to_owned(), passed: true, failure: None, duration: Duration::ZERO }
    }

    #[test]
    fn the_suite_has_check_count_checks_with_distinct_names() {
        let names = check_names();
        assert_eq!(names.len(), CHECK_COUNT);
        let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), names.len(), "two checks share a name");
    }

    /// Each check's name starts with the section of docs/PROTOCOL.md it
    /// pins, and that section is a heading there.
    #[test]
    fn every_check_names_a_section_of_the_protocol() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
        let page = std::fs::read_to_string(path).unwrap();
        let sections: std::collections::BTreeSet<&str> = page
            .lines()
            .filter(|l| l.starts_with("## ") || l.starts_with("### "))
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(|n| n.trim_end_matches('.'))
            .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        assert!(sections.contains("7.10") && sections.contains("11"), "{sections:?}");
        for name in check_names() {
            let section = name.strip_prefix('\u{a7}').and_then(|rest| rest.split_whitespace().next());
            assert!(section.is_some_and(|s| sections.contains(s)), "{name:?} names no section of docs/PROTOCOL.md");
        }
    }

    #[test]
    fn a_whole_run_has_one_outcome_per_check_in_order() {
        let all: Vec<CheckOutcome> = check_names().iter().map(|n| outcome(n)).collect();
        assert_eq!(whole_run(&all), Ok(()));

        let mut one_lost = all.clone();
        let lost = one_lost.remove(5).name;
        let why = whole_run(&one_lost).unwrap_err();
        assert!(why.contains(&format!("{lost:?}")) && why.starts_with("137 outcomes"), "{why}");

        let mut one_panicked = all.clone();
        one_panicked[0] = outcome("(unknown check)");
        assert!(whole_run(&one_panicked).unwrap_err().contains("(unknown check)"));

        let mut reordered = all.clone();
        reordered.swap(0, 1);
        assert!(whole_run(&reordered).is_err());
        assert!(whole_run(&all[..1]).is_err());
    }
}
