//! The broker's own accounting, with no NATS server at all: the address
//! points at a loopback port nobody listens on, so the client never
//! connects and every send must be dropped and counted, never waited on.

use std::net::TcpListener;
use std::time::Duration;

use sockjs_core::rooms::{NodeId, Rooms};
use sockjs_nats::{Error, NatsBroker, PrefixError, PUBLISH_QUEUE};

/// A loopback address that refuses connections (bound, then closed).
fn dead_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
    format!("nats://127.0.0.1:{port}")
}

#[test]
fn a_full_publish_queue_drops_at_once_and_a_dead_connection_drops_the_rest() {
    // One thread: the publishing task cannot run while this test sends,
    // so the queue holds exactly PUBLISH_QUEUE envelopes.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let broker = NatsBroker::connect(&dead_url(), "test").await.expect("the client does not wait for a server");
        let rooms = Rooms::builder().broker(broker.clone(), NodeId::new(1)).build();
        let over = 25;
        for i in 0..PUBLISH_QUEUE + over {
            let sent = rooms.to("lobby").send(&format!("m{i}")).unwrap();
            assert!(sent.published, "handed to the broker");
        }
        assert_eq!(rooms.publish_failed(), over as u64, "a full queue drops at once, and counts");
        assert_eq!(broker.publish_failed(), over as u64);

        // The publishing task drains the queue: the connection is down,
        // so each envelope is dropped and counted, none waits.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while rooms.publish_failed() < (PUBLISH_QUEUE + over) as u64 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(rooms.publish_failed(), (PUBLISH_QUEUE + over) as u64, "every send is counted once");
        assert_eq!(broker.published(), 0);
        assert!(!broker.is_connected());
        // The delivery task asks for the room's subscription only when a
        // member joins; there is none.
        assert_eq!(broker.subscriptions(), 0);
        assert!(matches!(broker.flush().await, Err(Error::Timeout | Error::Closed)), "no server, no flush");
    });
}

#[test]
fn subjects_are_under_the_prefix_and_a_bad_prefix_is_refused() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let broker = NatsBroker::connect(&dead_url(), "svc.chat").await.unwrap();
        assert_eq!(broker.room_subject("lobby"), "svc.chat.room.bG9iYnk");
        assert_eq!(broker.room_subject("a.b *>"), "svc.chat.room.YS5iICo-");
        assert_eq!(broker.multi_subject(), "svc.chat.rooms");
        for (prefix, error) in [("", PrefixError::EmptyToken), ("svc.>", PrefixError::InvalidCharacter)] {
            match NatsBroker::connect(&dead_url(), prefix).await {
                Err(Error::Prefix(e)) => assert_eq!(e, error, "{prefix:?}"),
                other => panic!("{prefix:?}: {other:?}"),
            }
        }
    });
}
