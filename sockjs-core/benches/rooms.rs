//! A send to a room against the same broadcast written by hand (a loop of
//! `Session::send_message` over a list the application keeps), both with
//! one `Message` for every recipient. Only the sends are timed; the queued
//! frames are drained by xhr polls between them, untimed.
//!
//! Run with `cargo bench -p sockjs-core --bench rooms`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sockjs_core::{Dispatch, Endpoint, Message, Options, RequestContext, Session};

/// An endpoint with `n` xhr-polling sessions, all in room `r`.
fn sessions(n: usize) -> (Endpoint, Vec<Session>) {
    let captured: Arc<Mutex<Vec<Session>>> = Arc::default();
    let keep = captured.clone();
    let options = Options::new("/b").max_sessions(n + 1).max_queue(1 << 20);
    let endpoint = Endpoint::new(options, move |session: Session| {
        session.join("r").expect("joins");
        keep.lock().unwrap().push(session);
        async {}
    });
    for i in 0..n {
        poll(&endpoint, i);
    }
    let sessions = std::mem::take(&mut *captured.lock().unwrap());
    assert_eq!(sessions.len(), n);

    (endpoint, sessions)
}

/// One xhr poll of session `i`, read to its end: call it only when the
/// session has frames queued (a poll that finds none would wait, and
/// dropping it would end the session).
fn poll(endpoint: &Endpoint, i: usize) {
    let now = Instant::now();
    let cx = RequestContext { now, wall_clock: SystemTime::now(), entropy: 0, remote_addr: None };
    let request = http::Request::post(format!("/b/0/s{i}/xhr")).body(()).unwrap().into_parts().0;
    let Dispatch::Stream { response, .. } = endpoint.handle(&request, cx) else { panic!("a poll streams") };
    let mut body = response.into_body();
    let mut waker = Context::from_waker(Waker::noop());
    while let Poll::Ready(Some(_)) = body.poll_chunk(&mut waker, now) {}
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    group.measurement_time(Duration::from_secs(3));
    for n in [10usize, 1000] {
        let (endpoint, sessions) = sessions(n);
        let message = Message::new("a message of some thirty bytes");
        group.throughput(Throughput::Elements(n as u64));
        let run = |b: &mut criterion::Bencher<'_>, send: &dyn Fn()| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for i in 0..iters {
                    let start = Instant::now();
                    send();
                    timed += start.elapsed();
                    if i % 16 == 15 || i + 1 == iters {
                        (0..n).for_each(|s| poll(&endpoint, s));
                    }
                }
                assert_eq!(endpoint.session_count(), n, "every session is still open");
                timed
            })
        };
        group.bench_function(BenchmarkId::new("send_message_loop", n), |b| {
            run(b, &|| {
                for session in &sessions {
                    let _ = session.send_message(&message);
                }
            })
        });
        group.bench_function(BenchmarkId::new("room", n), |b| {
            run(b, &|| {
                let sent = endpoint.rooms().to("r").send_message(&message).unwrap();
                assert_eq!(sent.delivered, n);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
