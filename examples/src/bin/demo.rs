//! An echo demo: a page that talks to a SockJS echo endpoint with the real
//! sockjs-client, showing (and letting you pick) the transport.
//!
//! ```text
//! cargo run -p sockjs-examples --bin demo -- [--listen 127.0.0.1:8080] [--sockjs-url URL]
//! ```
//! Then open http://127.0.0.1:8080/. The page loads sockjs-client from a
//! CDN unless `--sockjs-url` points elsewhere.

use sockjs_actix::{Options, SockJs};

const PAGE: &str = include_str!("../../static/demo.html");

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = sockjs_examples::PageArgs::parse("demo");
    let echo = SockJs::new(Options::new("/echo").sockjs_url(&args.sockjs_url), sockjs_examples::echo);
    sockjs_examples::serve_page("demo", &args, PAGE, echo).await
}
