//! Session timers as data: a min-heap of deadlines.
//!
//! Entries are never removed early. Each carries the session's epoch from
//! when it was set; a session bumps its epoch on every attach and detach,
//! so an entry that comes due after its epoch changed is simply dropped.
//! The cost therefore follows the deadlines that come due, not the number
//! of live sessions.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Instant;

use crate::session::{store_waker, wake, SessionCell, TimerTarget};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// A receiver is attached: send `h` if nothing else went out.
    Heartbeat,
    /// No receiver is attached: the session expires.
    Disconnect,
    /// A second receiver's grace period is over (its id is the epoch).
    Contention,
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) at: Instant,
    seq: u64,
    pub(crate) kind: TimerKind,
    pub(crate) epoch: u64,
    pub(crate) session: Arc<TimerTarget>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` pops the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Entry>,
    seq: u64,
    /// The deadline the driver was last told about.
    announced: Option<Instant>,
    /// Set when a deadline earlier than `announced` was added.
    changed: bool,
    driver: Option<Waker>,
}

impl Timers {
    pub(crate) fn schedule(&mut self, at: Instant, kind: TimerKind, epoch: u64, session: &Arc<SessionCell>) {
        self.seq += 1;
        self.heap.push(Entry { at, seq: self.seq, kind, epoch, session: session.timer_target.clone() });
        if self.announced.is_none_or(|announced| at < announced) {
            self.changed = true;
            wake(&mut self.driver);
        }
    }

    /// Removes and returns every entry due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Vec<Entry> {
        let mut due = Vec::new();
        while self.heap.peek().is_some_and(|e| e.at <= now) {
            due.extend(self.heap.pop());
        }
        due
    }

    /// The earliest deadline, remembered as the one the driver sleeps to.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.announced = self.heap.peek().map(|e| e.at);
        self.changed = false;
        self.announced
    }

    /// Whether an earlier deadline was added since `next_deadline`;
    /// otherwise registers the driver's waker.
    pub(crate) fn poll_changed(&mut self, cx: &Context<'_>) -> bool {
        if self.changed {
            return true;
        }
        store_waker(&mut self.driver, cx);
        false
    }

    /// Wakes the driver (on shutdown).
    pub(crate) fn wake_driver(&mut self) {
        self.changed = true;
        wake(&mut self.driver);
    }

    /// Whether any pending entry still points at `session`'s allocation.
    #[cfg(test)]
    pub(crate) fn points_at(&self, session: &std::sync::Weak<SessionCell>) -> bool {
        self.heap.iter().any(|e| e.session.points_at(session))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
