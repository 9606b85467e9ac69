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
    let args = sockjs_examples::PageArgs::parse("chat");
    let room = Room::default();
    let options = Options::new("/chat").sockjs_url(&args.sockjs_url);
    let chat = SockJs::new(options, move |session| room.clone().join(session));
    sockjs_examples::serve_page("chat", &args, PAGE, chat).await
}
