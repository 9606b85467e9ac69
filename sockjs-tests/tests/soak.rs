//! The soak test of issue 7: twice 100 000 sessions churned through each
//! adapter (expiry, client abort, server close, client close); after each
//! round the session registry is empty, and the process's RSS after the
//! second round is no higher than after the first (a leak would grow it).
//! Ignored in the normal test command (a 2 000-session version runs in
//! tests/hostile.rs); run each adapter in its own process:
//! `cargo test --release -p sockjs-tests --test soak -- --ignored --nocapture actix`
//! (then `warp`), and record the figures in BENCHMARKS.md.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use sockjs_core::{Endpoint, Options, Session};
use sockjs_tests::churn::{churn, rss_kib};

const SESSIONS: usize = 100_000;
const DISCONNECT_DELAY: Duration = Duration::from_millis(500);
/// Short, so that timer entries left by ended sessions come due and go
/// during the drain pause.
const HEARTBEAT_DELAY: Duration = Duration::from_secs(2);
/// RSS may not grow by more than this between two identical rounds.
const MARGIN_KIB: u64 = 8 * 1024;

async fn echo(mut session: Session) {
    while let Some(m) = session.recv().await {
        let _ = session.send(m);
    }
}

type Start = fn(TcpListener, Vec<Endpoint>) -> std::io::Result<Box<dyn std::any::Any>>;

/// Waits until every session ended and their timer entries came due.
fn drain(endpoints: &[&Endpoint]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while endpoints.iter().any(|e| e.metrics().live_sessions() > 0 || e.session_count() > 0) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(HEARTBEAT_DELAY + DISCONNECT_DELAY + Duration::from_millis(500));
    true
}

/// Churns: a warm-up round, then two rounds of `SESSIONS`. A leak grows
/// RSS with every round; the allocator keeping freed memory for reuse does
/// not, so the second round must end where the first did.
fn soak(name: &str, start: Start) {
    let options = |prefix: &str| {
        Options::new(prefix)
            .disconnect_delay(DISCONNECT_DELAY)
            .heartbeat_delay(HEARTBEAT_DELAY)
            .max_sessions(usize::MAX)
    };
    let echo_endpoint = Endpoint::new(options("/e"), echo);
    let close_endpoint = Endpoint::new(options("/c"), |s: Session| async move { s.close(3000, "Go away!") });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = start(listener, vec![echo_endpoint.clone(), close_endpoint.clone()]).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let endpoints = [&echo_endpoint, &close_endpoint];

    let errors = runtime.block_on(churn(&addr, "/e", "/c", SESSIONS / 5, 128));
    assert!(errors.is_empty(), "{name}: warm-up errors: {errors:?}");
    assert!(drain(&endpoints), "{name}: sessions left after the warm-up");
    let warm = rss_kib().unwrap_or(0);
    let mut ends = Vec::new();
    for round in 1..=2 {
        let started = Instant::now();
        let errors = runtime.block_on(churn(&addr, "/e", "/c", SESSIONS, 128));
        let elapsed = started.elapsed();
        let peak = rss_kib().unwrap_or(0);
        let drained = drain(&endpoints);
        let end = rss_kib().unwrap_or(0);
        println!(
            "{name} round {round}: {SESSIONS} sessions in {:.1} s ({:.0}/s), errors {}, RSS KiB warm {warm} peak {peak} end {end}",
            elapsed.as_secs_f64(),
            SESSIONS as f64 / elapsed.as_secs_f64(),
            errors.len(),
        );
        assert!(errors.len() < SESSIONS / 1000, "{name}: {} errors, first: {:?}", errors.len(), errors.first());
        assert!(drained, "{name}: sessions left behind after round {round}");
        ends.push(end);
    }
    drop(server);
    let (m, c) = (echo_endpoint.metrics(), close_endpoint.metrics());
    assert_eq!(echo_endpoint.session_count(), 0, "{name}: registry not empty");
    assert_eq!((m.sessions_opened, c.sessions_opened), (m.sessions_closed, c.sessions_closed));
    assert!(ends[1] <= ends[0] + MARGIN_KIB, "{name}: RSS grew from {} to {} KiB between rounds", ends[0], ends[1]);
}

#[test]
#[ignore = "a soak of 2 x 100 000 sessions: run with --ignored, see the module docs"]
fn actix_soak() {
    soak("actix", |l, e| Ok(Box::new(sockjs_examples::serve_actix(l, e, 2)?)));
}

#[test]
#[ignore = "a soak of 2 x 100 000 sessions: run with --ignored, see the module docs"]
fn warp_soak() {
    soak("warp", |l, e| Ok(Box::new(sockjs_examples::serve_warp(l, e, 2)?)));
}
