//! The endpoint's timer queue: at most one entry per session.
//!
//! Each session keeps its own small table of deadlines (see
//! `state::TimerTable`) and registers only the earliest of them here, under
//! its key. Registering again replaces the entry, so the queue never holds
//! more entries than there are sessions with a deadline, whatever the
//! request rate.

use std::collections::{BTreeMap, HashMap};
use std::task::{Context, Waker};
use std::time::Instant;

/// Deadlines keyed by session, earliest first.
#[derive(Debug)]
pub(crate) struct TimerQueue<T> {
    order: BTreeMap<(Instant, u64), T>,
    by_key: HashMap<u64, Instant>,
    /// The deadline the driver was last told about.
    announced: Option<Instant>,
    /// Set when a deadline earlier than `announced` was registered.
    changed: bool,
    driver: Option<Waker>,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue { order: BTreeMap::new(), by_key: HashMap::new(), announced: None, changed: false, driver: None }
    }
}

impl<T> TimerQueue<T> {
    /// Sets (or with `None` removes) `key`'s deadline. Returns the driver's
    /// waker when the new deadline is earlier than the one it sleeps to:
    /// wake it once the lock is released.
    #[must_use]
    pub(crate) fn set(&mut self, key: u64, at: Option<Instant>, target: impl FnOnce() -> T) -> Option<Waker> {
        let old = match at {
            Some(at) => self.by_key.insert(key, at),
            None => self.by_key.remove(&key),
        };
        let reused = old.and_then(|old| self.order.remove(&(old, key)));
        let at = at?;
        self.order.insert((at, key), reused.unwrap_or_else(target));
        if self.announced.is_none_or(|announced| at < announced) {
            self.changed = true;
            return self.driver.take();
        }
        None
    }

    /// Removes and returns every entry due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Vec<T> {
        let mut due = Vec::new();
        while let Some(entry) = self.order.first_entry() {
            let &(at, key) = entry.key();
            if at > now {
                break;
            }
            due.push(entry.remove());
            self.by_key.remove(&key);
        }
        due
    }

    /// The earliest deadline, remembered as the one the driver sleeps to.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.announced = self.order.keys().next().map(|&(at, _)| at);
        self.changed = false;
        self.announced
    }

    /// Whether an earlier deadline was registered since `next_deadline`;
    /// otherwise stores the driver's waker.
    pub(crate) fn poll_changed(&mut self, cx: &Context<'_>) -> bool {
        if self.changed {
            return true;
        }
        match &self.driver {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.driver = Some(cx.waker().clone()),
        }
        false
    }

    /// Marks the queue changed and returns the driver's waker (on shutdown).
    #[must_use]
    pub(crate) fn take_driver(&mut self) -> Option<Waker> {
        self.changed = true;
        self.driver.take()
    }

    /// The number of pending entries.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_entry_per_key() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        for i in 0..100u64 {
            let _ = q.set(1, Some(t0 + Duration::from_millis(i % 7)), || "a");
            let _ = q.set(2, Some(t0 + Duration::from_millis(i)), || "b");
        }
        assert_eq!(q.len(), 2);
        let _ = q.set(1, None, || "a");
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_due(t0 + Duration::from_millis(98)), Vec::<&str>::new());
        assert_eq!(q.pop_due(t0 + Duration::from_millis(99)), vec!["b"]);
        assert_eq!(q.len(), 0);
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn an_earlier_deadline_wakes_the_driver() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        let _ = q.set(1, Some(t0 + Duration::from_secs(5)), || ());
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(5)));
        let cx = Context::from_waker(Waker::noop());
        assert!(!q.poll_changed(&cx));
        assert!(q.set(2, Some(t0 + Duration::from_secs(9)), || ()).is_none(), "later: no wake");
        assert!(q.set(3, Some(t0 + Duration::from_secs(1)), || ()).is_some(), "earlier: wake");
        assert!(q.poll_changed(&cx));
    }
}
