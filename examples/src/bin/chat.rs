//! A multi-room chat on the engine's rooms. The first message a session
//! sends is its name; it starts in the `lobby`. Then:
//!
//! * `/join NAME` joins a room and makes it the current one,
//! * `/leave NAME` leaves a room,
//! * `/rooms` lists the session's rooms with their member counts,
//! * any other line goes to everyone in the current room.
//!
//! Everyone in a room sees who joins and leaves it. Messages are JSON
//! objects, each encoded once for all the members of a room. No list of
//! sessions is kept here: the rooms are the engine's (`Session::join`,
//! `Rooms::to`), and a session that ends leaves its rooms by itself.
//!
//! ```text
//! cargo run -p sockjs-examples --bin chat -- [--listen 127.0.0.1:8080] [--sockjs-url URL]
//! ```

use serde::Serialize;
use sockjs_actix::core::rooms::RoomError;
use sockjs_actix::{Options, Session, SockJs};

const PAGE: &str = include_str!("../../static/chat.html");

/// The room every session starts in.
const LOBBY: &str = "lobby";

/// What clients receive, as JSON.
#[derive(Serialize)]
struct Line<'a> {
    /// `said` for a message, `event` for everything else.
    kind: &'a str,
    room: &'a str,
    name: &'a str,
    text: &'a str,
}

fn json(kind: &str, room: &str, name: &str, text: &str) -> String {
    serde_json::to_string(&Line { kind, room, name, text }).unwrap_or_default()
}

/// Tells the session alone.
fn tell(session: &Session, room: &str, text: &str) {
    let _ = session.send(json("event", room, "", text));
}

/// Tells every member of `room`.
fn announce(session: &Session, room: &str, name: &str, text: &str) {
    let _ = session.room_registry().to(room).send(&json("event", room, name, text));
}

/// Joins `room`, saying why not if it cannot; whether the session is in
/// it now.
fn join(session: &Session, name: &str, room: &str) -> bool {
    match session.join(room) {
        Ok(true) => {
            announce(session, room, name, &format!("{name} joined {room}"));
            true
        }
        Ok(false) => true,
        Err(RoomError::Closed) => false,
        Err(e) => {
            tell(session, room, &format!("cannot join {room:?}: {e}"));
            false
        }
    }
}

async fn chat(mut session: Session) {
    tell(&session, "", "Welcome! What is your name?");
    let Some(name) = session.recv().await else { return };
    let name: String = name.trim().chars().take(32).collect();
    let mut current = Some(LOBBY.to_string());
    join(&session, &name, LOBBY);
    tell(&session, LOBBY, "/join ROOM, /leave ROOM, /rooms; anything else goes to the current room");
    // The session's rooms as of its last command, to say goodbye in them
    // once it ended (by then it already left them).
    let mut mine = session.rooms();
    while let Some(text) = session.recv().await {
        let (command, argument) = text.split_once(' ').unwrap_or((&text, ""));
        let argument = argument.trim();
        match command {
            "/join" => {
                if join(&session, &name, argument) {
                    current = Some(argument.to_string());
                }
            }
            "/leave" => {
                if session.leave(argument) {
                    announce(&session, argument, &name, &format!("{name} left {argument}"));
                    tell(&session, argument, &format!("you left {argument}"));
                    if current.as_deref() == Some(argument) {
                        current = None;
                    }
                }
            }
            "/rooms" => {
                let rooms = session.room_registry();
                let mut list: Vec<String> =
                    session.rooms().iter().map(|r| format!("{r} ({})", rooms.member_count(r))).collect();
                list.sort();
                tell(&session, "", &format!("your rooms: {}", list.join(", ")));
            }
            _ => match &current {
                Some(room) => {
                    let _ = session.room_registry().to(room).send(&json("said", room, &name, &text));
                }
                None => tell(&session, "", "you are in no current room: /join one"),
            },
        }
        mine = session.rooms();
    }
    for room in mine {
        announce(&session, &room, &name, &format!("{name} left {room}"));
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = sockjs_examples::PageArgs::parse("chat");
    let options = Options::new("/chat").sockjs_url(&args.sockjs_url);
    let chat = SockJs::new(options, chat);
    sockjs_examples::serve_page("chat", &args, PAGE, chat).await
}
