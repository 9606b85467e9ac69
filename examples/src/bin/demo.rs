//! An echo demo: a page that talks to a SockJS echo endpoint with the real
//! sockjs-client, showing (and letting you pick) the transport.
//!
//! ```text
//! cargo run -p sockjs-examples --bin demo -- [--listen 127.0.0.1:8080] [--sockjs-url URL]
//! ```
//! Then open http://127.0.0.1:8080/. The page loads sockjs-client from a
//! CDN unless `--sockjs-url` points elsewhere.

use actix_web::{web, App, HttpResponse, HttpServer};
use sockjs_actix::{Options, SockJs};

const PAGE: &str = include_str!("../../static/demo.html");

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:8080".to_string();
    let mut sockjs_url = sockjs_core::DEFAULT_SOCKJS_URL.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--sockjs-url", Some(v)) => sockjs_url = v,
            _ => {
                eprintln!("usage: demo [--listen ADDR] [--sockjs-url URL]");
                std::process::exit(2);
            }
        }
    }
    let page = PAGE.replace("SOCKJS_URL", &sockjs_url);
    let echo = SockJs::new(Options::new("/echo").sockjs_url(&sockjs_url), sockjs_examples::echo);
    let server = HttpServer::new(move || {
        let page = page.clone();
        App::new().service(echo.clone()).route(
            "/",
            web::get().to(move || {
                let page = page.clone();
                async move { HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page) }
            }),
        )
    })
    .h1_allow_half_closed(false)
    .on_connect(sockjs_actix::on_connect)
    .bind(&listen)?;
    println!("demo listening on http://{listen}/");
    server.run().await
}
