//! A chat room: the first message a session sends is its name; then every
//! line goes to everyone, and everyone sees who joins and leaves. Messages
//! are JSON objects (`send_json`), and each line is encoded once for all
//! recipients (`Message`).
//!
//! ```text
//! cargo run -p sockjs-examples --bin chat -- [--listen 127.0.0.1:8080] [--sockjs-url URL]
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Serialize;
use sockjs_actix::{Message, Options, Session, SockJs};

const PAGE: &str = include_str!("../../static/chat.html");

/// What clients receive, as JSON.
#[derive(Serialize)]
struct Line<'a> {
    kind: &'a str,
    name: &'a str,
    text: &'a str,
}

/// The room: everyone who gave a name.
#[derive(Clone, Default)]
struct Room {
    members: Arc<Mutex<HashMap<u64, Session>>>,
    next: Arc<AtomicU64>,
}

impl Room {
    fn broadcast(&self, line: &Line<'_>) {
        let Ok(json) = serde_json::to_string(line) else { return };
        let message = Message::new(&json);
        for member in self.members.lock().unwrap_or_else(|p| p.into_inner()).values() {
            let _ = member.send_message(&message);
        }
    }

    async fn join(self, mut session: Session) {
        let _ = session.send_json(&Line { kind: "event", name: "", text: "Welcome! What is your name?" });
        let Some(name) = session.recv().await else { return };
        let name: String = name.trim().chars().take(32).collect();
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.members.lock().unwrap_or_else(|p| p.into_inner()).insert(key, session.clone());
        self.broadcast(&Line { kind: "event", name: &name, text: &format!("{name} joined") });
        while let Some(text) = session.recv().await {
            self.broadcast(&Line { kind: "said", name: &name, text: &text });
        }
        self.members.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        self.broadcast(&Line { kind: "event", name: &name, text: &format!("{name} left") });
    }
}

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
                eprintln!("usage: chat [--listen ADDR] [--sockjs-url URL]");
                std::process::exit(2);
            }
        }
    }
    let room = Room::default();
    let chat = SockJs::new(Options::new("/chat").sockjs_url(&sockjs_url), move |session| room.clone().join(session));
    let page = PAGE.replace("SOCKJS_URL", &sockjs_url);
    let server = HttpServer::new(move || {
        let page = page.clone();
        App::new().service(chat.clone()).route(
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
    println!("chat listening on http://{listen}/");
    server.run().await
}
