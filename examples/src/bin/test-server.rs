//! The reference SockJS service (PROTOCOL.md §1) for conformance tests.
//!
//! ```text
//! cargo run --release -p sockjs-examples --bin test-server -- \
//!     --framework actix --listen 127.0.0.1:8081 [--sockjs-url URL]
//! ```

use std::net::TcpListener;
use std::process::ExitCode;

enum Server {
    Actix(sockjs_examples::ActixServer),
    Warp(sockjs_examples::WarpServer),
}

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
                eprintln!("usage: test-server [--framework actix|warp] [--listen ADDR] [--sockjs-url URL]");
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
        "actix" => sockjs_examples::serve_actix(listener, endpoints, 2).map(|s| (s.addr(), Server::Actix(s))),
        "warp" => sockjs_examples::serve_warp(listener, endpoints, 2).map(|s| (s.addr(), Server::Warp(s))),
        other => {
            eprintln!("unknown framework {other:?} (expected actix or warp)");
            return ExitCode::from(2);
        }
    };
    match server {
        Ok((addr, server)) => {
            println!("test-server ({framework}) listening on {addr}");
            let result = match server {
                Server::Actix(s) => s.wait(),
                Server::Warp(s) => s.wait(),
            };
            match result {
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
