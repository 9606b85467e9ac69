//! What every driver (an adapter, or a server of your own) needs beyond
//! translating types: the request context, reading a send body up to its
//! limit, and running the endpoint's timers exactly once.
//!
//! This is the only module of the crate that reads the system clock or a
//! random source, and the engine never calls it: it exists so that every
//! driver does these things the same way. It needs no particular runtime.

use std::future::Future;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use http::{Response, StatusCode};

use crate::{Endpoint, PendingBody, RequestContext};

/// 32 random bits for `/info`'s `entropy`.
///
/// Each call hashes with fresh randomly-keyed SipHash state, so values
/// differ between calls. Not for cryptographic use (neither is the field).
pub fn entropy() -> u32 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u8(0);
    let h = hasher.finish();
    (h ^ (h >> 32)) as u32
}

/// A [`RequestContext`] for a request arriving now from `remote_addr`.
pub fn request_context(remote_addr: Option<SocketAddr>) -> RequestContext {
    RequestContext { now: Instant::now(), wall_clock: SystemTime::now(), entropy: entropy(), remote_addr }
}

/// Reads a send request's body from `body`, at most
/// [`PendingBody::limit`] bytes (413 beyond), delivers its messages and
/// returns the response, after waiting for room in the session's inbox if
/// it was full. A body that fails to arrive is answered 400.
pub async fn send_body<S, B, E>(pending: PendingBody, body: S) -> Response<Bytes>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let limit = pending.limit();
    let mut collected = BytesMut::new();
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let Ok(mut chunk) = chunk else {
            let mut response = Response::new(Bytes::from_static(b"Broken request body.\n"));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        };
        if collected.len() + chunk.remaining() > limit {
            return pending.too_large();
        }
        while chunk.has_remaining() {
            let piece = chunk.chunk();
            collected.extend_from_slice(piece);
            let n = piece.len();
            chunk.advance(n);
        }
    }
    pending.finish(&collected, Instant::now()).await
}

/// A boxed timer task, for [`start_timers`]'s `spawn`.
pub type TimerTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Starts the endpoint's timer task ([`Endpoint::run_timers`], reading
/// [`Instant::now`]) unless it is running: call it on every request, it
/// costs one atomic load when the task runs. If the task goes away (its
/// runtime or worker stopped), the next call starts it again. With tokio:
/// `driver::start_timers(&endpoint, |at| tokio::time::sleep_until(at.into()),
/// |task| drop(tokio::spawn(task)))`.
pub fn start_timers<S, F>(endpoint: &Endpoint, sleep_until: S, spawn: impl FnOnce(TimerTask))
where
    S: Fn(Instant) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let running = endpoint.timers_running();
    if running.load(Ordering::Acquire) || running.swap(true, Ordering::AcqRel) {
        return;
    }
    let guard = Running(running.clone());
    let timers = endpoint.run_timers(Instant::now, sleep_until);
    spawn(Box::pin(async move {
        let _guard = guard;
        timers.await;
    }));
}

/// Clears the "timers running" flag when the timer task goes away.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_differs_between_calls() {
        let values: std::collections::HashSet<u32> = (0..100).map(|_| entropy()).collect();
        assert!(values.len() > 95, "{} distinct values of 100", values.len());
    }

    #[test]
    fn timers_start_once_and_again_after_their_task_died() {
        let endpoint = Endpoint::new(crate::Options::new("/t"), |_: crate::Session| async {});
        let mut tasks = Vec::new();
        let sleep = |_: Instant| std::future::pending::<()>();
        start_timers(&endpoint, sleep, |t| tasks.push(t));
        start_timers(&endpoint, sleep, |t| tasks.push(t));
        assert_eq!(tasks.len(), 1, "one timer task per endpoint");
        tasks.clear();
        start_timers(&endpoint, sleep, |t| tasks.push(t));
        assert_eq!(tasks.len(), 1, "started again once the task was dropped");
    }
}
