//! What the demo and the chat share: their command line, and an actix
//! server for one page and one SockJS endpoint.

/// `--listen ADDR` and `--sockjs-url URL`, from the command line of the
/// program `name`.
pub struct PageArgs {
    /// Where to listen.
    pub listen: String,
    /// The sockjs-client URL for the page and the iframe.
    pub sockjs_url: String,
}

impl PageArgs {
    /// Parses the process's arguments; exits with usage on anything else.
    pub fn parse(name: &str) -> PageArgs {
        let mut parsed =
            PageArgs { listen: "127.0.0.1:8080".to_string(), sockjs_url: sockjs_core::DEFAULT_SOCKJS_URL.to_string() };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match (arg.as_str(), args.next()) {
                ("--listen", Some(v)) => parsed.listen = v,
                ("--sockjs-url", Some(v)) => parsed.sockjs_url = v,
                _ => {
                    eprintln!("usage: {name} [--listen ADDR] [--sockjs-url URL]");
                    std::process::exit(2);
                }
            }
        }
        parsed
    }
}

/// Serves `page` (with `SOCKJS_URL` replaced) at `/` and `sockjs` beside
/// it, until the server stops.
pub async fn serve_page(name: &str, args: &PageArgs, page: &str, sockjs: sockjs_actix::SockJs) -> std::io::Result<()> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let page = page.replace("SOCKJS_URL", &args.sockjs_url);
    let server = HttpServer::new(move || {
        let page = page.clone();
        App::new().service(sockjs.clone()).route(
            "/",
            web::get().to(move || {
                let page = page.clone();
                async move { HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page) }
            }),
        )
    })
    .client_request_timeout(crate::REQUEST_TIMEOUT)
    .keep_alive(crate::REQUEST_TIMEOUT)
    .h1_allow_half_closed(false)
    .on_connect(sockjs_actix::on_connect)
    .bind(&args.listen)?;
    println!("{name} listening on http://{}/", args.listen);
    server.run().await
}
