//! The reference SockJS service (PROTOCOL.md §1) for conformance tests.
//!
//! ```text
//! cargo run --release -p sockjs-examples --bin test-server -- \
//!     --framework actix --listen 127.0.0.1:8081 [--sockjs-url URL]
//! ```

use std::net::TcpListener;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut framework = "actix".to_string();
    let mut listen = "127.0.0.1:8081".to_string();
    let mut sockjs_url = sockjs_core::DEFAULT_SOCKJS_URL.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--framework", Some(v)) => framework = v,
            ("--listen", Some(v)) => listen = v,
            ("--sockjs-url", Some(v)) => sockjs_url = v,
            _ => {
                eprintln!("usage: test-server [--framework actix] [--listen ADDR] [--sockjs-url URL]");
                return ExitCode::from(2);
            }
        }
    }
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let endpoints = sockjs_examples::reference_endpoints(&sockjs_url);
    let server = match framework.as_str() {
        "actix" => sockjs_examples::serve_actix(listener, endpoints, 2),
        other => {
            eprintln!("unknown framework {other:?} (expected actix)");
            return ExitCode::from(2);
        }
    };
    match server {
        Ok(server) => {
            println!("test-server ({framework}) listening on {}", server.addr());
            match server.wait() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("server error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("cannot start the server: {e}");
            ExitCode::FAILURE
        }
    }
}
