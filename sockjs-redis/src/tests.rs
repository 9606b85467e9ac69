//! The broker without a Redis to talk to: nothing blocks, everything
//! dropped is counted, and a bad configuration fails at once.

use std::time::{Duration, Instant};

use sockjs_core::rooms::{NodeId, Rooms};

use crate::{Error, RedisBroker, RedisConfig};

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

#[tokio::test]
async fn sends_while_redis_is_unreachable_are_counted_and_never_wait() {
    let url = format!("redis://127.0.0.1:{}/", closed_port());
    let broker = RedisBroker::connect(RedisConfig::standalone(&url)).unwrap();
    let rooms = Rooms::builder().broker(broker.clone(), NodeId::new(1)).build();
    let started = Instant::now();
    for i in 0..100 {
        let sent = rooms.to("lobby").send(&format!("m{i}")).unwrap();
        assert!(sent.published, "handed to the broker");
    }
    // Handing 100 sends to the broker does not wait for Redis (a connect
    // attempt alone would be far longer than this loop).
    let handed = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rooms.publish_failed() < 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rooms.publish_failed(), 100, "every send that could not be published is counted once");
    assert_eq!(broker.published(), 0);
    assert!(!broker.is_subscribed());
    println!("100 sends handed to the broker in {handed:?}");
}

#[test]
fn a_broker_needs_a_runtime_and_a_usable_configuration() {
    assert!(matches!(RedisBroker::connect(RedisConfig::standalone("redis://127.0.0.1:1/")), Err(Error::NoRuntime)));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _in_runtime = runtime.enter();
    assert!(matches!(RedisBroker::connect(RedisConfig::cluster::<&str>(&[])), Err(Error::NoNodes)));
    assert!(matches!(RedisBroker::connect(RedisConfig::standalone("not a url")), Err(Error::Redis(_))));
    let broker = RedisBroker::connect(RedisConfig::standalone("redis://127.0.0.1:1/").prefix("app")).unwrap();
    assert_eq!(broker.room_channel("a b"), "app:room:a%20b");
    assert_eq!(broker.shared_channel(), "app:rooms");
}
