//! One handler, three frameworks: the same handler served by actix-web,
//! by warp and by axum, each on a port of its own. Application code does
//! not change with the framework; every adapter hands it the same
//! `Session`.
//!
//! ```text
//! cargo run -p sockjs-examples --bin both -- [--actix 127.0.0.1:8081] [--warp 127.0.0.1:8082] \
//!     [--axum 127.0.0.1:8083]
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
    let mut axum_addr = "127.0.0.1:8083".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--actix", Some(v)) => actix_addr = v,
            ("--warp", Some(v)) => warp_addr = v,
            ("--axum", Some(v)) => axum_addr = v,
            _ => {
                eprintln!("usage: both [--actix ADDR] [--warp ADDR] [--axum ADDR]");
                std::process::exit(2);
            }
        }
    }
    // Three endpoints (one per server), one handler function.
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
    let axum = sockjs_examples::serve_axum(
        TcpListener::bind(&axum_addr)?,
        vec![Endpoint::new(Options::new("/shout"), shout)],
        1,
    )?;
    println!("actix listening on http://{}/shout", actix.addr());
    println!("warp listening on http://{}/shout", warp.addr());
    println!("axum listening on http://{}/shout", axum.addr());
    let (_warp, _axum) = (warp, axum);
    actix.wait()
}
