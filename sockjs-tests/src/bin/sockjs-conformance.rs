//! Runs the SockJS conformance suite against a server.
//!
//! ```text
//! sockjs-conformance http://127.0.0.1:8081 [--filter SUBSTR] [--list]
//! ```
//!
//! Prints `PASS name` or `FAIL name: why` per check, then `N passed, N failed`
//! alone on the last line; exits with status 1 when any check failed (or
//! when the filter matched no check), 2 on bad usage.

use std::process::ExitCode;

const USAGE: &str = "usage: sockjs-conformance http://HOST:PORT [--filter SUBSTR] [--list]";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut base = None;
    let mut filter = None;
    let mut list = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--filter" => match args.next() {
                Some(f) => filter = Some(f),
                None => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--list" => list = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if base.is_none() && !arg.starts_with('-') => base = Some(arg),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if list {
        for name in sockjs_tests::conformance::check_names() {
            if filter.as_deref().is_none_or(|f| name.contains(f)) {
                println!("{name}");
            }
        }
        return ExitCode::SUCCESS;
    }
    let Some(base) = base else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let outcomes = sockjs_tests::conformance::run(&base, filter.as_deref()).await;
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let failed = outcomes.len() - passed;
    for outcome in &outcomes {
        println!("{outcome}");
    }
    println!("{passed} passed, {failed} failed");
    if outcomes.is_empty() {
        eprintln!("no check matches the filter");
        return ExitCode::FAILURE;
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
