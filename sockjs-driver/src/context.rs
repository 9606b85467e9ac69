//! What the engine takes as input and never reads itself: the time and
//! entropy of a request.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use sockjs_core::RequestContext;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_differs_between_calls() {
        let values: std::collections::HashSet<u32> = (0..100).map(|_| entropy()).collect();
        assert!(values.len() > 95, "{} distinct values of 100", values.len());
    }
}
