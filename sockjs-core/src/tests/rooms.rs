//! Rooms, driven through real sessions with the simulated clock: leaving
//! every room however a session ends, sends to several rooms and with
//! exceptions, every bound, and the broker interface (subscriptions at
//! 0 -> 1 and 1 -> 0, publication, delivery of what other nodes publish).
//! Sessions end as PROTOCOL.md §6 and §11 describe; messages reach
//! websockets as §7.10 frames them.

use std::collections::BTreeSet;
use std::sync::mpsc;

use super::*;

use crate::rooms::{Broker, BrokerHandle, Envelope, NodeId, RoomError, Rooms, MAX_ROOM_NAME, MAX_SEND_ROOMS};

/// A broker that keeps what it is told.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Recorded>>);

#[derive(Default)]
struct Recorded {
    /// `+room` for a subscription, `-room` for its end, in order.
    events: Vec<String>,
    published: Vec<Envelope>,
    handle: Option<BrokerHandle>,
}

impl Broker for Recorder {
    fn attach(&self, handle: BrokerHandle) {
        self.0.lock().unwrap().handle = Some(handle);
    }
    fn subscribe(&self, room: &str) {
        self.0.lock().unwrap().events.push(format!("+{room}"));
    }
    fn unsubscribe(&self, room: &str) {
        self.0.lock().unwrap().events.push(format!("-{room}"));
    }
    fn publish(&self, envelope: Envelope) {
        self.0.lock().unwrap().published.push(envelope);
    }
}

impl Recorder {
    fn events(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap().events)
    }
    fn published(&self) -> Vec<Envelope> {
        std::mem::take(&mut self.0.lock().unwrap().published)
    }
    fn handle(&self) -> BrokerHandle {
        self.0.lock().unwrap().handle.clone().expect("attached")
    }
}

fn with_recorder(node: u64) -> (Rooms, Recorder) {
    let recorder = Recorder::default();
    (Rooms::builder().broker(recorder.clone(), NodeId::new(node)).build(), recorder)
}

/// Rooms with members and members in any room.
fn sizes(rooms: &Rooms) -> (usize, usize) {
    rooms.core().sizes()
}

fn sorted(v: Vec<String>) -> Vec<String> {
    let mut v = v;
    v.sort();
    v
}

/// `n` websocket sessions, their `o` read.
fn websockets(h: &mut Harness, prefix: &str, n: usize) -> Vec<Ws> {
    (0..n)
        .map(|_| {
            let mut ws = h.websocket(&format!("{prefix}/0/0/websocket"));
            assert_eq!(h.ws_read(&mut ws), vec![text("o")]);
            ws
        })
        .collect()
}

/// The ways a session stops being open (PROTOCOL.md §6, §11, and the
/// engine's own bounds).
#[derive(Debug, Clone, Copy)]
enum End {
    ClientClose,
    ServerClose,
    HandlesDropped,
    TimedOut,
    Shutdown,
    QueueFull,
    Stalled,
    ProtocolError,
    Interrupted,
}

const ENDS: [End; 9] = [
    End::ClientClose,
    End::ServerClose,
    End::HandlesDropped,
    End::TimedOut,
    End::Shutdown,
    End::QueueFull,
    End::Stalled,
    End::ProtocolError,
    End::Interrupted,
];

/// However a session ends, it leaves every room, once: after N sessions
/// ended in each way, every room is empty, the registry holds nothing, the
/// broker was told to drop every subscription it was told to make, and a
/// session that ended joins nothing. One registry serves every endpoint
/// here (`Options::rooms`).
#[test]
fn every_way_a_session_ends_leaves_its_rooms() {
    const N: usize = 3;
    let (rooms, broker) = with_recorder(1);
    for (w, end) in ENDS.into_iter().enumerate() {
        let options = Options::new("/r").rooms(rooms.clone()).max_queue(64);
        let mut h = Harness::new(App::Capture, options);
        assert!(h.endpoint.rooms().ptr_eq(&rooms));
        // Open N sessions the way this end needs.
        let mut sockets = Vec::new();
        let mut receivers = Vec::new();
        for i in 0..N {
            match end {
                End::TimedOut | End::QueueFull => assert_eq!(h.poll_body(&format!("/r/0/s{i}/xhr")), "o\n"),
                End::Stalled | End::Interrupted => {
                    let (_, mut rx) = h.post(&format!("/r/0/s{i}/xhr_streaming"), "").stream();
                    h.read(&mut rx);
                    receivers.push(rx);
                }
                _ => sockets.extend(websockets(&mut h, "/r", 1)),
            }
        }
        let way = format!("way{w}");
        for i in 0..N {
            let s = h.session(i);
            assert_eq!(s.join("all"), Ok(true));
            assert_eq!(s.join(&way), Ok(true));
            assert_eq!(s.join(&format!("{way}-s{i}")), Ok(true));
            assert_eq!(s.join("all"), Ok(false), "a member already");
            assert_eq!(sorted(s.rooms()), sorted(vec!["all".into(), way.clone(), format!("{way}-s{i}")]));
        }
        assert_eq!(rooms.member_count("all"), N);
        assert_eq!(rooms.member_count(&way), N);
        assert_eq!(sizes(&rooms), (2 + N, N));
        let mut expected = BTreeSet::from([format!("+{way}"), "+all".to_string()]);
        expected.extend((0..N).map(|i| format!("+{way}-s{i}")));
        let events = broker.events();
        assert_eq!(events.len(), expected.len(), "{end:?}: {events:?}");
        assert_eq!(events.into_iter().collect::<BTreeSet<_>>(), expected, "{end:?}: one subscription per new room");

        // End them.
        let reason = match end {
            End::ClientClose => {
                for ws in &mut sockets {
                    ws.handle(WsIncoming::<&str>::Close);
                }
                Some(CloseReason::Client)
            }
            End::ServerClose => {
                for i in 0..N {
                    h.session(i).close(3000, "Go away!");
                }
                Some(CloseReason::Server { code: 3000, reason: "Go away!".into() })
            }
            End::HandlesDropped => {
                h.sessions.lock().unwrap().clear();
                for ws in &mut sockets {
                    let out = h.ws_read(ws);
                    assert_eq!(out[0], text(r#"c[1000,"Normal closure"]"#), "{out:?}");
                }
                None
            }
            End::TimedOut => {
                h.advance(Duration::from_secs(5));
                Some(CloseReason::TimedOut)
            }
            End::Shutdown => {
                h.endpoint.shutdown();
                Some(CloseReason::Shutdown)
            }
            End::QueueFull => {
                // A room message the queues cannot hold closes every member.
                let sent = rooms.to(&way).send(&"x".repeat(100)).unwrap();
                assert_eq!((sent.delivered, sent.failed, sent.published), (0, N, true));
                assert_eq!(broker.published().len(), 1);
                Some(CloseReason::QueueFull)
            }
            End::Stalled => {
                h.advance(Duration::from_secs(25));
                h.advance(Duration::from_secs(25));
                Some(CloseReason::Stalled)
            }
            End::ProtocolError => {
                for ws in &mut sockets {
                    ws.handle(WsIncoming::Text(r#"["a"#));
                }
                Some(CloseReason::ProtocolError)
            }
            End::Interrupted => {
                receivers.clear();
                Some(CloseReason::Interrupted)
            }
        };
        if let Some(reason) = reason {
            for i in 0..N {
                let s = h.session(i);
                assert_eq!(s.close_reason().as_ref(), Some(&reason), "{end:?}");
                assert!(s.rooms().is_empty(), "{end:?}: session {i} left every room");
                assert_eq!(s.join("again"), Err(RoomError::Closed), "{end:?}");
            }
        }
        assert_eq!(rooms.member_count("all"), 0, "{end:?}");
        assert_eq!(rooms.member_count(&way), 0, "{end:?}");
        assert_eq!(sizes(&rooms), (0, 0), "{end:?}: the registry holds nothing");
        let mut expected = BTreeSet::from([format!("-{way}"), "-all".to_string()]);
        expected.extend((0..N).map(|i| format!("-{way}-s{i}")));
        let events = broker.events();
        assert_eq!(events.len(), expected.len(), "{end:?}: {events:?}");
        assert_eq!(events.into_iter().collect::<BTreeSet<_>>(), expected, "{end:?}: one end per subscription");
    }
    assert!(rooms.room_names().is_empty());
    assert!(broker.published().is_empty());
}

/// A send to several rooms reaches a member of two of them once, and
/// each recipient gets the same shared message (§7.10 framing).
#[test]
fn a_member_of_several_rooms_gets_one_copy() {
    let mut h = Harness::new(App::Capture, Options::new("/m"));
    let mut ws = websockets(&mut h, "/m", 4);
    let (a, b, c, d) = (h.session(0), h.session(1), h.session(2), h.session(3));
    for (s, names) in [(&a, &["r1", "r2"][..]), (&b, &["r2"]), (&c, &["r3"]), (&d, &["elsewhere"])] {
        for name in names {
            assert_eq!(s.join(name), Ok(true));
        }
    }
    let rooms = h.endpoint.rooms().clone();
    let sent = rooms.to("r1").to("r2").to("r3").to("r2").send("hi").unwrap();
    assert_eq!((sent.delivered, sent.failed, sent.published), (3, 0, false), "no broker: nothing published");
    for (i, expected) in
        [(0, vec![text(r#"a["hi"]"#)]), (1, vec![text(r#"a["hi"]"#)]), (2, vec![text(r#"a["hi"]"#)]), (3, vec![])]
    {
        assert_eq!(h.ws_read(&mut ws[i]), expected, "session {i}");
    }
    // The members and the room list.
    assert_eq!(rooms.member_count("r2"), 2);
    let mut ids: Vec<u64> = rooms.members("r2").iter().map(|s| s.cell().key()).collect();
    ids.sort();
    let mut expected = vec![a.cell().key(), b.cell().key()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(sorted(rooms.room_names()), ["elsewhere", "r1", "r2", "r3"]);
    assert_eq!(rooms.room_count(), 4);
    // Leaving: the room goes with its last member.
    assert!(a.leave("r1"));
    assert!(!a.leave("r1"), "not a member any more");
    assert_eq!(rooms.member_count("r1"), 0);
    assert_eq!(rooms.room_count(), 3);
    assert_eq!(rooms.to("r1").send("nobody").unwrap().delivered, 0);
    assert_eq!(h.endpoint.metrics().messages_sent, 3, "room messages count as messages sent");
}

/// Exceptions: sessions and the members of rooms; `Session::to` leaves
/// the sender out.
#[test]
fn except_sessions_and_rooms() {
    let mut h = Harness::new(App::Capture, Options::new("/x"));
    let mut ws = websockets(&mut h, "/x", 4);
    let s: Vec<Session> = (0..4).map(|i| h.session(i)).collect();
    for session in &s {
        session.join("lobby").unwrap();
    }
    s[1].join("muted").unwrap();
    let rooms = h.endpoint.rooms().clone();
    let sent = rooms.to("lobby").except_room("muted").except(&s[0]).send("one").unwrap();
    assert_eq!(sent.delivered, 2);
    let got: Vec<usize> = (0..4).filter(|&i| !h.ws_read(&mut ws[i]).is_empty()).collect();
    assert_eq!(got, [2, 3]);
    // From a session: everyone in the room but itself, member or not.
    assert_eq!(s[3].to("lobby").send("two").unwrap().delivered, 3);
    let got: Vec<usize> = (0..4).filter(|&i| h.ws_read(&mut ws[i]) == [text(r#"a["two"]"#)]).collect();
    assert_eq!(got, [0, 1, 2]);
    // Excepting a room nobody is in, or a session twice, changes nothing.
    let sent = s[3].to("lobby").except(&s[3]).except_room("empty").send("three").unwrap();
    assert_eq!(sent.delivered, 3);
    // A member reached through two rooms but excepted through a third
    // gets nothing.
    s[2].join("muted").unwrap();
    let sent = rooms.to("lobby").to("muted").except_room("muted").send("four").unwrap();
    assert_eq!(sent.delivered, 2, "sessions 0 and 3");
}

/// Every bound is enforced, each with its own error.
#[test]
fn bounds() {
    let mut h = Harness::new(App::Capture, Options::new("/b").max_rooms_per_session(2));
    let _ws = websockets(&mut h, "/b", 1);
    let s = h.session(0);
    assert_eq!(s.join(""), Err(RoomError::EmptyName));
    let longest = "é".repeat(MAX_ROOM_NAME / 2);
    assert_eq!(longest.len(), MAX_ROOM_NAME);
    assert_eq!(s.join(&format!("{longest}x")), Err(RoomError::NameTooLong), "counted in bytes");
    assert_eq!(s.join(&longest), Ok(true));
    assert_eq!(s.join("two"), Ok(true));
    assert_eq!(s.join("three"), Err(RoomError::TooManyRooms));
    assert_eq!(s.join("two"), Ok(false), "rejoining is no new room");
    assert!(s.leave("two"));
    assert_eq!(s.join("three"), Ok(true), "room again after leaving one");
    assert_eq!(sorted(s.rooms()), sorted(vec![longest.clone(), "three".into()]));

    let rooms = h.endpoint.rooms();
    assert_eq!(rooms.to("").send("x").unwrap_err(), RoomError::EmptyName);
    assert_eq!(rooms.to("three").except_room(&format!("{longest}x")).send("x").unwrap_err(), RoomError::NameTooLong);
    let names: Vec<String> = (0..MAX_SEND_ROOMS).map(|i| format!("n{i}")).collect();
    let mut send = rooms.to("three");
    for name in &names[1..] {
        send = send.to(name);
    }
    assert_eq!(send.send("x").unwrap().delivered, 1, "{MAX_SEND_ROOMS} rooms are allowed");
    let mut send = rooms.to("three").except_room("n0");
    for name in &names[1..] {
        send = send.to(name);
    }
    assert_eq!(send.send("x").unwrap_err(), RoomError::RoomCount, "one more is not");

    // The message limit: the endpoint's max_queue for its own registry.
    let mut small = Harness::new(App::Capture, Options::new("/s").max_queue(16));
    let _ws = websockets(&mut small, "/s", 1);
    small.session(0).join("r").unwrap();
    let rooms = small.endpoint.rooms();
    assert_eq!(rooms.to("r").send(&"x".repeat(17)).unwrap_err(), RoomError::MessageTooLarge);
    assert_eq!(rooms.to("r").send_message(&Message::new(&"x".repeat(17))).unwrap_err(), RoomError::MessageTooLarge);
    assert_eq!(rooms.to("r").send("x").unwrap().delivered, 1);

    // No rooms at all for an endpoint that allows none; a closed session
    // joins none.
    let mut none = Harness::new(App::Capture, Options::new("/n").max_rooms_per_session(0));
    let _ws = websockets(&mut none, "/n", 1);
    assert_eq!(none.session(0).join("r"), Err(RoomError::TooManyRooms));
    none.session(0).close(3000, "Go away!");
    assert_eq!(none.session(0).join("r"), Err(RoomError::Closed));
}

/// The broker hears of a room exactly when this node's first member joins
/// it and when its last member leaves, by `leave` or by ending.
#[test]
fn subscriptions_follow_the_first_and_last_member() {
    let (rooms, broker) = with_recorder(1);
    let mut h = Harness::new(App::Capture, Options::new("/i").rooms(rooms.clone()));
    let _ws = websockets(&mut h, "/i", 3);
    let (a, b, c) = (h.session(0), h.session(1), h.session(2));
    a.join("r").unwrap();
    assert_eq!(broker.events(), ["+r"], "0 -> 1");
    b.join("r").unwrap();
    a.join("r").unwrap();
    assert!(broker.events().is_empty(), "1 -> 2, and a rejoin: nothing");
    a.leave("r");
    assert!(broker.events().is_empty(), "2 -> 1");
    c.join("q").unwrap();
    assert_eq!(broker.events(), ["+q"]);
    b.close(3000, "Go away!");
    assert_eq!(broker.events(), ["-r"], "1 -> 0 by ending");
    b.join("r").unwrap_err();
    a.join("r").unwrap();
    assert_eq!(broker.events(), ["+r"], "0 -> 1 again");
    a.leave("r");
    c.leave("q");
    assert_eq!(sorted(broker.events()), ["-q", "-r"]);
    assert!(!a.leave("r"));
    assert!(broker.events().is_empty());
}

/// What other nodes publish reaches this node's members only (it is not
/// published again); a node's own envelope is ignored, so it never
/// delivers a send twice; local members got it at once; excepted rooms
/// apply on every node.
#[test]
fn sends_travel_between_nodes() {
    let (rooms1, broker1) = with_recorder(1);
    let (rooms2, broker2) = with_recorder(2);
    let mut n1 = Harness::new(App::Capture, Options::new("/n").rooms(rooms1.clone()));
    let mut n2 = Harness::new(App::Capture, Options::new("/n").rooms(rooms2.clone()));
    let mut ws1 = websockets(&mut n1, "/n", 2);
    let mut ws2 = websockets(&mut n2, "/n", 3);
    n1.session(0).join("r").unwrap();
    n1.session(1).join("r").unwrap();
    n2.session(0).join("r").unwrap();
    n2.session(1).join("r").unwrap();
    n2.session(1).join("muted").unwrap();
    n2.session(2).join("other").unwrap();

    let sent = n1.session(0).to("r").except_room("muted").send("hello").unwrap();
    assert_eq!((sent.delivered, sent.published), (1, true));
    assert_eq!(n1.ws_read(&mut ws1[1]), [text(r#"a["hello"]"#)], "the local member, at once");
    assert!(n1.ws_read(&mut ws1[0]).is_empty(), "not the sender");
    let published = broker1.published();
    assert_eq!(published.len(), 1);
    let envelope = &published[0];
    assert_eq!(envelope.origin(), NodeId::new(1));
    assert_eq!(envelope.rooms().collect::<Vec<_>>(), ["r"]);
    assert_eq!(envelope.except_rooms().collect::<Vec<_>>(), ["muted"]);
    assert_eq!(envelope.single_room(), None, "an exception: not a one-room envelope");

    // On node 2, through the wire format.
    let bytes = envelope.encode();
    assert_eq!(broker2.handle().receive(&bytes), Ok(1));
    assert_eq!(n2.ws_read(&mut ws2[0]), [text(r#"a["hello"]"#)]);
    assert!(n2.ws_read(&mut ws2[1]).is_empty(), "in an excepted room");
    assert!(n2.ws_read(&mut ws2[2]).is_empty(), "not in the room");
    assert!(broker2.published().is_empty(), "delivered, not published again");

    // Back on node 1, as a broker that hands a node its own message back.
    assert_eq!(broker1.handle().receive(&bytes), Ok(0));
    assert_eq!(rooms1.deliver(envelope), 0);
    assert!(n1.ws_read(&mut ws1[1]).is_empty(), "never twice");

    // Garbage from the wire is refused and reaches nobody.
    assert!(broker2.handle().receive(b"SJR\x01 not an envelope").is_err());
    assert!(n2.ws_read(&mut ws2[0]).is_empty());
    // Local sends stay local.
    let sent = rooms2.to("other").local().send("x").unwrap();
    assert_eq!((sent.delivered, sent.published), (1, false));
    assert!(broker2.published().is_empty());
}

/// What a broker could not publish is counted in the endpoint's metrics.
#[test]
fn publish_failures_are_counted() {
    let (rooms, broker) = with_recorder(1);
    let h = Harness::new(App::Capture, Options::new("/f").rooms(rooms.clone()));
    assert_eq!(h.endpoint.metrics().room_publish_failed, 0);
    broker.handle().publish_failed(3);
    broker.handle().publish_failed(1);
    assert_eq!(h.endpoint.metrics().room_publish_failed, 4);
    assert_eq!(rooms.publish_failed(), 4);
    drop(h);
    drop(rooms);
    let handle = broker.handle();
    assert!(!handle.is_attached(), "the handle does not keep the registry alive");
    handle.publish_failed(1);
    assert_eq!(handle.receive(&Envelope::new(NodeId::new(9), ["r"], [], "x").unwrap().encode()), Ok(0));
}

/// A broker that calls back into the registry from `subscribe` does not
/// deadlock: the broker is called with no rooms lock held, and a change it
/// makes meanwhile is announced by the pass in progress, in order.
#[test]
fn a_broker_may_call_back_into_the_registry() {
    #[derive(Clone, Default)]
    struct Reentrant {
        inner: Recorder,
        session: Arc<Mutex<Option<Session>>>,
    }
    impl Broker for Reentrant {
        fn attach(&self, handle: BrokerHandle) {
            self.inner.attach(handle);
        }
        fn subscribe(&self, room: &str) {
            self.inner.subscribe(room);
            if room == "first" {
                let session = self.session.lock().unwrap().clone().unwrap();
                session.join("second").unwrap();
                assert_eq!(session.room_registry().member_count("first"), 1);
            }
        }
        fn unsubscribe(&self, room: &str) {
            self.inner.unsubscribe(room);
        }
        fn publish(&self, envelope: Envelope) {
            self.inner.publish(envelope);
        }
    }
    let broker = Reentrant::default();
    let rooms = Rooms::builder().broker(broker.clone(), NodeId::new(1)).build();
    let mut h = Harness::new(App::Capture, Options::new("/c").rooms(rooms.clone()));
    let _ws = websockets(&mut h, "/c", 1);
    *broker.session.lock().unwrap() = Some(h.session(0));
    let (done, finished) = mpsc::channel();
    let session = h.session(0);
    std::thread::spawn(move || {
        session.join("first").unwrap();
        done.send(()).unwrap();
    });
    finished.recv_timeout(Duration::from_secs(10)).expect("the join returned: no deadlock");
    assert_eq!(broker.inner.events(), ["+first", "+second"]);
    assert_eq!(sorted(rooms.room_names()), ["first", "second"]);
    broker.session.lock().unwrap().take();
}

/// Many threads join, leave and close at once: afterwards the registry
/// holds exactly the open sessions' rooms, nothing of the closed ones, and
/// the broker, replaying what it was told in order, is subscribed to
/// exactly the rooms with members, never told to subscribe twice or to
/// drop a subscription it does not have.
#[test]
fn concurrent_changes_leave_nothing_behind() {
    const SESSIONS: usize = 16;
    const STEPS: u64 = 5_000;
    /// Gives other threads a chance between taking a change and telling
    /// it, where a second announcer would overtake the first.
    struct Yielding(Recorder);
    impl Broker for Yielding {
        fn attach(&self, handle: BrokerHandle) {
            self.0.attach(handle);
        }
        fn subscribe(&self, room: &str) {
            std::thread::yield_now();
            self.0.subscribe(room);
        }
        fn unsubscribe(&self, room: &str) {
            std::thread::yield_now();
            self.0.unsubscribe(room);
        }
        fn publish(&self, envelope: Envelope) {
            self.0.publish(envelope);
        }
    }
    let broker = Recorder::default();
    let rooms = Rooms::builder().broker(Yielding(broker.clone()), NodeId::new(1)).build();
    let mut h = Harness::new(App::Capture, Options::new("/cc").rooms(rooms.clone()).max_rooms_per_session(2));
    let _ws = websockets(&mut h, "/cc", SESSIONS);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let mine: Vec<Session> = (0..SESSIONS).filter(|i| i % 4 == t as usize).map(|i| h.session(i)).collect();
            std::thread::spawn(move || {
                // A fixed pseudo-random walk per thread (no RNG in tests).
                let mut x = t * 7919 + 1;
                for step in 0..STEPS {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let session = &mine[(x >> 33) as usize % mine.len()];
                    // Many rooms of few members: first joins and last
                    // leaves are frequent.
                    let room = format!("r{}", (x >> 40) % 24);
                    match (x >> 50) % 2 {
                        0 => {
                            let _ = session.join(&room);
                        }
                        _ => {
                            session.leave(&room);
                        }
                    }
                    if step == STEPS / 2 && t % 2 == 0 {
                        mine[0].close(3000, "Go away!");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let (mut memberships, mut closed) = (0, 0);
    for i in 0..SESSIONS {
        let s = h.session(i);
        if s.is_open() {
            memberships += s.rooms().len();
        } else {
            closed += 1;
            assert!(s.rooms().is_empty(), "closed session {i} is in no room");
        }
    }
    assert_eq!(closed, 2);
    let counted: usize = rooms.room_names().iter().map(|r| rooms.member_count(r)).sum();
    assert_eq!(counted, memberships, "both directions agree");
    let mut subscribed = BTreeSet::new();
    for event in broker.events() {
        let (sign, room) = event.split_at(1);
        match sign {
            "+" => assert!(subscribed.insert(room.to_string()), "subscribed twice to {room}"),
            _ => assert!(subscribed.remove(room), "dropped {room} without a subscription"),
        }
    }
    assert_eq!(subscribed.iter().cloned().collect::<Vec<_>>(), sorted(rooms.room_names()));
    // Everyone ends: nothing is left, and every subscription is dropped.
    h.endpoint.shutdown();
    assert_eq!(sizes(&rooms), (0, 0));
    let dropped: BTreeSet<String> = broker.events().iter().map(|e| e.strip_prefix('-').unwrap().to_string()).collect();
    assert_eq!(dropped, subscribed);
}

/// With the `metrics` feature, what a broker could not publish is the
/// `sockjs_room_publish_failed_total` series, labelled with the registry's
/// label (an endpoint's own registry: its prefix).
#[cfg(feature = "metrics")]
#[test]
fn publish_failures_are_a_series() {
    use ::metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder as MetricsRecorder, SharedString, Unit,
    };
    use std::sync::atomic::AtomicU64;

    /// Keeps every counter it hands out, by name and labels.
    #[derive(Default)]
    struct Counters(Mutex<Vec<(String, Arc<AtomicU64>)>>);
    impl MetricsRecorder for Counters {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            let value = Arc::new(AtomicU64::new(0));
            self.0.lock().unwrap().push((format!("{}{{{}}}", key.name(), labels.join(",")), value.clone()));
            Counter::from_arc(value)
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }
    let recorder = Counters::default();
    let recorder_ref: &dyn MetricsRecorder = &recorder;
    ::metrics::with_local_recorder(recorder_ref, || {
        let broker = Recorder::default();
        let rooms = Rooms::builder().broker(broker.clone(), NodeId::new(1)).label("/chat").build();
        broker.handle().publish_failed(2);
        broker.handle().publish_failed(5);
        assert_eq!(rooms.publish_failed(), 7);
    });
    let series = recorder.0.lock().unwrap();
    let found: Vec<(String, u64)> =
        series.iter().map(|(name, value)| (name.clone(), value.load(Ordering::SeqCst))).collect();
    assert_eq!(found, [("sockjs_room_publish_failed_total{endpoint=/chat}".to_string(), 7)]);
}
