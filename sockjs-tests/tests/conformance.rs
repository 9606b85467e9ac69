//! The conformance suite against our servers, started in-process on
//! ephemeral loopback ports (PROTOCOL.md §3–§9, §11).

use std::net::TcpListener;

use sockjs_tests::conformance::{run, whole_run, CheckOutcome};

fn run_suite(base_url: &str) -> Vec<CheckOutcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run(base_url, None))
}

fn assert_all_pass(framework: &str, outcomes: &[CheckOutcome]) {
    for outcome in outcomes {
        println!("[{framework}] {outcome}");
    }
    let failed: Vec<String> = outcomes.iter().filter(|o| !o.passed).map(ToString::to_string).collect();
    if let Err(why) = whole_run(outcomes) {
        panic!("{framework}: {why}");
    }
    assert!(failed.is_empty(), "{framework}: {} checks failed:\n{}", failed.len(), failed.join("\n"));
}

#[test]
fn actix_passes_every_check() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoints = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
    let server = sockjs_examples::serve_actix(listener, endpoints, 2).unwrap();
    let outcomes = run_suite(&format!("http://{}", server.addr()));
    drop(server);
    assert_all_pass("actix", &outcomes);
}

#[test]
fn warp_passes_every_check() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoints = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
    let server = sockjs_examples::serve_warp(listener, endpoints, 2).unwrap();
    let outcomes = run_suite(&format!("http://{}", server.addr()));
    drop(server);
    assert_all_pass("warp", &outcomes);
}

#[test]
fn axum_passes_every_check() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoints = sockjs_examples::reference_endpoints(sockjs_core::DEFAULT_SOCKJS_URL);
    let server = sockjs_examples::serve_axum(listener, endpoints, 2).unwrap();
    let outcomes = run_suite(&format!("http://{}", server.addr()));
    drop(server);
    assert_all_pass("axum", &outcomes);
}
