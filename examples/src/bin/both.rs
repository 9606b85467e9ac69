//! One handler, two frameworks: the same chat handler served by actix-web
//! on one port and by warp on another. Application code does not change
//! with the framework; both adapters hand it the same `Session`.
//!
//! ```text
//! cargo run -p sockjs-examples --bin both -- [--actix 127.0.0.1:8081] [--warp 127.0.0.1:8082]
//! ```

use std::net::TcpListener;

use sockjs_core::{Endpoint, Options, Session};

/// The application: greets the session, then echoes in upper case.
async fn shout(mut session: Session) {
    let _ = session.send(format!("hello, {} session {}", session.transport(), session.id()));
    while let Some(message) = session.recv().await {
        if session.send(message.to_uppercase()).is_err() {
            break;
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut actix_addr = "127.0.0.1:8081".to_string();
    let mut warp_addr = "127.0.0.1:8082".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--actix", Some(v)) => actix_addr = v,
            ("--warp", Some(v)) => warp_addr = v,
            _ => {
                eprintln!("usage: both [--actix ADDR] [--warp ADDR]");
                std::process::exit(2);
            }
        }
    }
    // Two endpoints (one per server), one handler function.
    let actix = sockjs_examples::serve_actix(
        TcpListener::bind(&actix_addr)?,
        vec![Endpoint::new(Options::new("/shout"), shout)],
        1,
    )?;
    let warp = sockjs_examples::serve_warp(
        TcpListener::bind(&warp_addr)?,
        vec![Endpoint::new(Options::new("/shout"), shout)],
        1,
    )?;
    println!("actix listening on http://{}/shout", actix.addr());
    println!("warp listening on http://{}/shout", warp.addr());
    let _warp = warp;
    actix.wait()
}
