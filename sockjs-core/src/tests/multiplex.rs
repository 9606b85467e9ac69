//! websocket-multiplex channels (`crate::multiplex`) through real sessions
//! with the simulated clock: the wire protocol as the npm package
//! `websocket-multiplex` 0.1.0 speaks it (its `multiplex_server.js` and
//! `multiplex_client.js`), the bounds, the channel inbox's backpressure,
//! channels in rooms, and every channel closing when its connection ends.
//! Messages travel in SockJS frames as PROTOCOL.md §7.10 (websocket) and
//! §7.4/§7.5 (xhr) describe them; sessions end as §6 and §11 describe.

use super::*;
use crate::multiplex::{Channel, Multiplex};

/// What the client sends: one SockJS message per websocket frame.
fn send(ws: &mut Ws, message: &str) {
    let frame = serde_json::to_string(&[message]).unwrap();
    ws.handle(WsIncoming::Text(frame.as_str()));
}

/// The SockJS messages in what the server wrote (the `a[...]` frames).
fn messages(out: &[WsOutgoing]) -> Vec<String> {
    let mut all = Vec::new();
    for o in out {
        let WsOutgoing::Text(b) = o else { continue };
        let s = std::str::from_utf8(b).unwrap();
        if let Some(array) = s.strip_prefix('a') {
            all.extend(serde_json::from_str::<Vec<String>>(array).unwrap());
        }
    }
    all
}

fn read(h: &mut Harness, ws: &mut Ws) -> Vec<String> {
    let out = h.ws_read(ws);
    messages(&out)
}

fn open(h: &mut Harness, path: &str) -> Ws {
    let mut ws = h.websocket(path);
    assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
    ws
}

/// The example server of websocket-multiplex 0.1.0, in Rust.
fn example() -> Multiplex {
    Multiplex::new()
        .channel("ann", |mut channel: Channel| async move {
            let _ = channel.send("Ann says hi!");
            while let Some(text) = channel.recv().await {
                let _ = channel.send(format!("Ann nods: {text}"));
            }
        })
        .channel("carl", |channel: Channel| async move {
            let _ = channel.send("Carl says goodbye!");
            channel.close();
        })
        .channel("a b", |channel: Channel| async move {
            let _ = channel.send(format!("topic {}", channel.topic()));
        })
}

/// `TYPE,TOPIC,PAYLOAD` split at the first two commas; `sub` opens a
/// served topic without an answer, `msg` both ways carries the payload
/// (commas and all, or nothing), `uns` from the client closes quietly and
/// from the server tells the client; unknown topics and types, a second
/// `sub`, a message without a topic and anything for a closed channel are
/// ignored, as `multiplex_server.js` ignores them.
#[test]
fn wire_protocol_matches_websocket_multiplex() {
    let mut h = Harness::with_handler(example(), Options::new("/m"));
    let mut ws = open(&mut h, "/m/0/0/websocket");

    send(&mut ws, "sub,ann");
    assert_eq!(read(&mut h, &mut ws), ["msg,ann,Ann says hi!"]);
    send(&mut ws, "msg,ann,x,y,,z");
    assert_eq!(read(&mut h, &mut ws), ["msg,ann,Ann nods: x,y,,z"], "the payload keeps its commas");
    send(&mut ws, "msg,ann");
    send(&mut ws, "msg,ann,");
    assert_eq!(read(&mut h, &mut ws), ["msg,ann,Ann nods: ", "msg,ann,Ann nods: "], "an empty payload");

    for ignored in ["sub,ann", "msg,bob,hi", "sub,bob", "uns,bob", "hello", "", "xyz,ann,1", "sub", "msg"] {
        send(&mut ws, ignored);
        assert_eq!(read(&mut h, &mut ws), Vec::<String>::new(), "{ignored:?} is ignored");
    }

    send(&mut ws, "sub,carl");
    assert_eq!(read(&mut h, &mut ws), ["msg,carl,Carl says goodbye!", "uns,carl"], "the server closes: uns");
    send(&mut ws, "msg,carl,still there?");
    assert_eq!(read(&mut h, &mut ws), Vec::<String>::new());

    // The name is escaped as the browser client escapes it; the handler
    // ends, its last handle goes, the client hears `uns`.
    send(&mut ws, "sub,a b");
    assert_eq!(read(&mut h, &mut ws), Vec::<String>::new(), "the raw name is not the topic");
    send(&mut ws, "sub,a%20b");
    assert_eq!(read(&mut h, &mut ws), ["msg,a%20b,topic a%20b", "uns,a%20b"]);

    // The client closes: nothing is sent back, the channel is gone, and a
    // new `sub` opens a new one.
    send(&mut ws, "uns,ann");
    send(&mut ws, "msg,ann,gone");
    assert_eq!(read(&mut h, &mut ws), Vec::<String>::new());
    send(&mut ws, "sub,ann");
    assert_eq!(read(&mut h, &mut ws), ["msg,ann,Ann says hi!"]);
    assert!(h.endpoint.session_count() <= 1 && h.tasks.len() == 1, "one connection task");
}

/// Past `max_channels` a `sub` is answered `uns,TOPIC` and opens nothing;
/// once a channel's handler ended, its place is free. A topic over
/// `max_topic` is not served: ignored.
#[test]
fn channel_bounds_refuse_in_the_documented_way() {
    let echo = |mut channel: Channel| async move {
        while let Some(text) = channel.recv().await {
            let _ = channel.send(text);
        }
    };
    let multiplex = Multiplex::new().fallback(echo).max_channels(2).max_topic(5);
    let mut h = Harness::with_handler(multiplex, Options::new("/m"));
    let mut ws = open(&mut h, "/m/0/0/websocket");
    for m in ["sub,a", "sub,b", "sub,c", "msg,a,1", "msg,b,2", "msg,c,3"] {
        send(&mut ws, m);
    }
    assert_eq!(read(&mut h, &mut ws), ["uns,c", "msg,a,1", "msg,b,2"]);

    send(&mut ws, "uns,a");
    assert_eq!(read(&mut h, &mut ws), Vec::<String>::new());
    send(&mut ws, "sub,c");
    send(&mut ws, "msg,c,3");
    assert_eq!(read(&mut h, &mut ws), ["msg,c,3"], "a's place was freed");

    send(&mut ws, "uns,b");
    assert_eq!(read(&mut h, &mut ws), Vec::<String>::new());
    send(&mut ws, "sub,abcdef");
    send(&mut ws, "msg,abcdef,x");
    send(&mut ws, "sub,abcde");
    send(&mut ws, "msg,abcde,y");
    assert_eq!(read(&mut h, &mut ws), ["msg,abcde,y"], "6 bytes: ignored; 5: served");
}

/// A channel whose handler does not read holds at most `channel_inbox`
/// bytes (or one message); the rest wait in the session and then in the
/// client, and nothing is lost: once the handler reads, everything
/// arrives in order.
#[test]
fn a_full_channel_inbox_holds_the_connection_back() {
    let kept: Arc<Mutex<Vec<Channel>>> = Arc::default();
    let keep = kept.clone();
    let multiplex = Multiplex::new()
        .channel("slow", move |channel: Channel| {
            keep.lock().unwrap().push(channel);
            async {}
        })
        .channel_inbox(10);
    let options = Options::new("/m").max_payload(64).max_inbox(96);
    let mut h = Harness::with_handler(multiplex, options);
    let mut ws = open(&mut h, "/m/0/0/websocket");
    send(&mut ws, "sub,slow");
    h.run_tasks();
    const N: usize = 40;
    let mut unsent: std::collections::VecDeque<String> = (0..N).map(|i| format!("msg,slow,{i:05}")).collect();
    // The client sends only while the server reads (poll_ready), as a
    // websocket driver reads the socket.
    let feed = |h: &mut Harness, ws: &mut Ws, unsent: &mut std::collections::VecDeque<String>| {
        while ws.poll(|ws, cx| ws.poll_ready(cx)).is_ready() {
            let Some(next) = unsent.pop_front() else { break };
            send(ws, &next);
            h.run_tasks();
        }
        h.ws_read(ws);
    };
    for _ in 0..N {
        feed(&mut h, &mut ws, &mut unsent);
        let bytes = kept.lock().unwrap()[0].inbox_bytes();
        assert!(bytes <= 10, "the channel's inbox holds {bytes} bytes");
    }
    assert!(!unsent.is_empty(), "the client was held back");
    let mut channel = Polled::new(kept.lock().unwrap().pop().unwrap());
    let mut got = Vec::new();
    for _ in 0..10 * N {
        match channel.poll(|c, cx| Pin::new(c).poll_next(cx)) {
            Poll::Ready(Some(text)) => got.push(text),
            Poll::Ready(None) => panic!("the channel closed"),
            Poll::Pending => {
                h.run_tasks();
                feed(&mut h, &mut ws, &mut unsent);
            }
        }
        if got.len() == N {
            break;
        }
    }
    let expected: Vec<String> = (0..N).map(|i| format!("{i:05}")).collect();
    assert_eq!(got, expected);
}

/// The reference service's rule: every channel is the room of its name,
/// and what one subscriber sends, every subscriber receives.
fn channel_rooms() -> Multiplex {
    Multiplex::new().fallback(|mut channel: Channel| async move {
        if channel.join(channel.topic()).is_err() {
            return;
        }
        let rooms = channel.room_registry();
        while let Some(text) = channel.recv().await {
            let _ = rooms.to(channel.topic()).send(&text);
        }
    })
}

/// A room message reaches each channel member framed for its topic
/// (`msg,TOPIC,TEXT`) and a session member as the bare text; a channel's
/// own send to a room leaves it out; `uns` and the connection's end take
/// the channels out of their rooms.
#[test]
fn channels_in_rooms_get_messages_framed_for_their_topic() {
    let mut h = Harness::with_handler(channel_rooms(), Options::new("/m"));
    let mut a = open(&mut h, "/m/0/0/websocket");
    let mut b = open(&mut h, "/m/0/0/websocket");
    for m in ["sub,x", "sub,y"] {
        send(&mut a, m);
    }
    send(&mut b, "sub,x");
    h.run_tasks();
    let rooms = h.endpoint.rooms().clone();
    assert_eq!((rooms.member_count("x"), rooms.member_count("y")), (2, 1));
    assert!(rooms.members("x").is_empty(), "channels are not sessions");

    send(&mut a, "msg,x,hello, all");
    assert_eq!(read(&mut h, &mut a), ["msg,x,hello, all"], "the sender too");
    assert_eq!(read(&mut h, &mut b), ["msg,x,hello, all"]);
    send(&mut a, "msg,y,only a");
    assert_eq!(read(&mut h, &mut a), ["msg,y,only a"]);
    assert!(read(&mut h, &mut b).is_empty());

    // From outside, to two rooms: a's two channels each get it on their
    // own topic.
    let sent = rooms.to("x").to("y").send("news").unwrap();
    assert_eq!(sent.delivered, 3);
    let mut got = read(&mut h, &mut a);
    got.sort();
    assert_eq!(got, ["msg,x,news", "msg,y,news"]);
    assert_eq!(read(&mut h, &mut b), ["msg,x,news"]);

    send(&mut b, "uns,x");
    h.run_tasks();
    assert_eq!(rooms.member_count("x"), 1);
    a.handle(WsIncoming::<&str>::Close);
    h.ws_read(&mut a);
    h.run_tasks();
    assert_eq!(rooms.core().sizes(), (0, 0), "nothing left behind");
    assert!(h.tasks.len() == 1, "a's connection task ended, b's runs");
}

/// A channel's `to` leaves the channel out, its rooms are listed, leave
/// works, and joining is bounded by `max_rooms_per_session` per channel.
#[test]
fn channel_rooms_api() {
    let kept: Arc<Mutex<Vec<Channel>>> = Arc::default();
    let keep = kept.clone();
    let multiplex = Multiplex::new().fallback(move |channel: Channel| {
        keep.lock().unwrap().push(channel);
        async {}
    });
    let mut h = Harness::with_handler(multiplex, Options::new("/m").max_rooms_per_session(2));
    let mut ws = open(&mut h, "/m/0/0/websocket");
    send(&mut ws, "sub,p");
    send(&mut ws, "sub,q");
    h.run_tasks();
    let (p, q) = {
        let k = kept.lock().unwrap();
        (k[0].clone(), k[1].clone())
    };
    assert_eq!((p.topic(), q.topic()), ("p", "q"));
    assert_eq!(p.transport(), Transport::WebSocket);
    assert_eq!(p.join("r"), Ok(true));
    assert_eq!(p.join("r"), Ok(false));
    assert_eq!(p.join("s"), Ok(true));
    assert_eq!(p.join("t"), Err(RoomError::TooManyRooms));
    assert_eq!(q.join("r"), Ok(true));
    let mut theirs = p.rooms();
    theirs.sort();
    assert_eq!(theirs, ["r", "s"]);
    assert_eq!(p.to("r").send("hi").unwrap().delivered, 1, "q only");
    assert_eq!(read(&mut h, &mut ws), ["msg,q,hi"]);
    assert!(p.leave("s"));
    assert!(!p.leave("s"));
    p.close();
    assert_eq!(read(&mut h, &mut ws), ["uns,p"]);
    assert_eq!(p.join("r"), Err(RoomError::Closed));
    assert_eq!(p.send("x"), Err(SendError::Closed));
    assert_eq!(h.endpoint.rooms().member_count("r"), 1);
    drop(kept.lock().unwrap().drain(..));
    drop(q);
    assert_eq!(read(&mut h, &mut ws), ["uns,q"], "the last handle dropped");
    assert_eq!(h.endpoint.rooms().core().sizes(), (0, 0));
}

/// However the connection ends (the client closes, the server shuts down,
/// the session times out without a receiver, a poll is interrupted),
/// every channel closes at once, leaves its rooms, its handler's `recv`
/// ends, and the connection's task ends with them.
#[test]
fn every_way_the_connection_ends_closes_its_channels() {
    #[derive(Debug, Clone, Copy)]
    enum Way {
        ClientClose,
        Shutdown,
        TimedOut,
        Interrupted,
    }
    for way in [Way::ClientClose, Way::Shutdown, Way::TimedOut, Way::Interrupted] {
        let mut h = Harness::with_handler(channel_rooms(), Options::new("/m"));
        let rooms = h.endpoint.rooms().clone();
        let mut ws = None;
        let mut rx = None;
        match way {
            Way::ClientClose | Way::Shutdown => {
                let mut socket = open(&mut h, "/m/0/0/websocket");
                for m in ["sub,a", "sub,b", "sub,c"] {
                    send(&mut socket, m);
                }
                ws = Some(socket);
            }
            Way::TimedOut | Way::Interrupted => {
                assert_eq!(h.poll_body("/m/0/s/xhr"), "o\n");
                assert_eq!(h.post("/m/0/s/xhr_send", r#"["sub,a","sub,b","sub,c"]"#).full().status(), 204);
                if let Way::Interrupted = way {
                    let (_, mut r) = h.post("/m/0/s/xhr_streaming", "").stream();
                    h.read(&mut r);
                    rx = Some(r);
                }
            }
        }
        h.run_tasks();
        assert_eq!(rooms.core().sizes(), (3, 3), "{way:?}: three channels in three rooms");
        assert_eq!(h.tasks.len(), 1, "{way:?}: one connection task");
        match way {
            Way::ClientClose => ws.as_mut().unwrap().handle(WsIncoming::<&str>::Close),
            Way::Shutdown => h.endpoint.shutdown(),
            Way::TimedOut => h.advance(Duration::from_secs(5)),
            Way::Interrupted => drop(rx.take()),
        }
        if let Some(ws) = ws.as_mut() {
            h.ws_read(ws);
        }
        h.run_tasks();
        assert_eq!(rooms.core().sizes(), (0, 0), "{way:?}: every channel left its room");
        assert!(h.tasks.is_empty(), "{way:?}: the connection's task and its channels' ended");
    }
}

/// A connection task dropped by its runtime (a shutdown) takes its
/// channels with it: a handle kept elsewhere sees its channel closed, and
/// the rooms hold nothing.
#[test]
fn a_dropped_connection_task_ends_its_channels() {
    let kept: Arc<Mutex<Vec<Channel>>> = Arc::default();
    let keep = kept.clone();
    let multiplex = Multiplex::new().fallback(move |channel: Channel| {
        let _ = channel.join("r");
        keep.lock().unwrap().push(channel);
        async {}
    });
    let mut h = Harness::with_handler(multiplex, Options::new("/m"));
    let mut ws = open(&mut h, "/m/0/0/websocket");
    send(&mut ws, "sub,p");
    h.run_tasks();
    assert_eq!(h.endpoint.rooms().member_count("r"), 1);
    let channel = kept.lock().unwrap().pop().unwrap();
    assert!(channel.is_open());
    h.tasks.clear();
    assert!(!channel.is_open());
    assert_eq!(h.endpoint.rooms().core().sizes(), (0, 0));
}

/// Over a raw websocket (`/websocket`, PROTOCOL.md §7.11) the protocol is
/// the same, each message one text frame with no SockJS framing.
#[test]
fn raw_websockets_carry_channels_too() {
    let mut h = Harness::with_handler(example(), Options::new("/m"));
    let mut ws = h.websocket("/m/websocket");
    ws.handle(WsIncoming::Text("sub,ann"));
    ws.handle(WsIncoming::Text("msg,ann,a,b"));
    assert_eq!(h.ws_read(&mut ws), [text("msg,ann,Ann says hi!"), text("msg,ann,Ann nods: a,b")]);
    ws.handle(WsIncoming::Text("sub,carl"));
    assert_eq!(h.ws_read(&mut ws), [text("msg,carl,Carl says goodbye!"), text("uns,carl")]);
}

/// A broker that keeps what this node publishes.
#[derive(Clone, Default)]
struct Published(Arc<Mutex<Vec<crate::rooms::Envelope>>>);

impl crate::rooms::Broker for Published {
    fn attach(&self, _: crate::rooms::BrokerHandle) {}
    fn subscribe(&self, _: &str) {}
    fn unsubscribe(&self, _: &str) {}
    fn publish(&self, envelope: crate::rooms::Envelope) {
        self.0.lock().unwrap().push(envelope);
    }
}

/// Across nodes: what a channel sends to its room on one node is
/// published once, as the bare text, and reaches the other node's channel
/// members of that room framed for their topic.
#[test]
fn channel_rooms_span_nodes_through_the_broker() {
    use crate::rooms::{NodeId, Rooms};
    let published = Published::default();
    let rooms1 = Rooms::builder().broker(published.clone(), NodeId::new(1)).build();
    let rooms2 = Rooms::builder().broker(Published::default(), NodeId::new(2)).build();
    let mut n1 = Harness::with_handler(channel_rooms(), Options::new("/m").rooms(rooms1));
    let mut n2 = Harness::with_handler(channel_rooms(), Options::new("/m").rooms(rooms2.clone()));
    let mut a = open(&mut n1, "/m/0/0/websocket");
    let mut b = open(&mut n2, "/m/0/0/websocket");
    send(&mut a, "sub,x");
    send(&mut b, "sub,x");
    send(&mut b, "sub,y");
    n2.run_tasks();
    send(&mut a, "msg,x,across, nodes");
    assert_eq!(read(&mut n1, &mut a), ["msg,x,across, nodes"]);
    let envelopes = std::mem::take(&mut *published.0.lock().unwrap());
    assert_eq!(envelopes.len(), 1);
    assert_eq!((envelopes[0].text(), envelopes[0].single_room()), ("across, nodes", Some("x")));
    assert_eq!(rooms2.deliver(&envelopes[0]), 1);
    assert_eq!(read(&mut n2, &mut b), ["msg,x,across, nodes"], "y is another room");
}
