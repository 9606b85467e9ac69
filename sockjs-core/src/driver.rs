//! Helpers for drivers (the adapters and servers that run the engine).
//!
//! This is the only module of the crate that reads the system clock or a
//! random source, and the engine never calls it: it exists so that every
//! driver produces its [`RequestContext`] the same way.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::task::{Context, Waker};
use std::time::{Instant, SystemTime};

use crate::{AppTask, RequestContext};

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

/// Runs an application task up to its first suspension point, and returns
/// it if it has more to do (then spawn it).
///
/// Call it before the session's first frame can reach the client: the
/// handler's synchronous start (registering the session in a broadcast
/// list, say) then happens before the client can react to `o`, as with
/// sockjs-node, whose connection handlers run before any client message is
/// processed. The spawned task is polled again when it starts, so no wake
/// up is lost.
pub fn start(mut task: AppTask) -> Option<AppTask> {
    let mut cx = Context::from_waker(Waker::noop());
    task.as_mut().poll(&mut cx).is_pending().then_some(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_runs_the_task_to_its_first_await() {
        let (tx, rx) = std::sync::mpsc::channel();
        let done = start(Box::pin(async move { tx.send(1).unwrap() }));
        assert!(done.is_none());
        assert_eq!(rx.try_recv(), Ok(1));
        let pending = start(Box::pin(std::future::pending()));
        assert!(pending.is_some());
    }

    #[test]
    fn entropy_differs_between_calls() {
        let values: std::collections::HashSet<u32> = (0..100).map(|_| entropy()).collect();
        assert!(values.len() > 95, "{} distinct values of 100", values.len());
    }
}
