//! Counters an application can read or export.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::Transport;

/// The live counters of an endpoint, shared by its sessions.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    live: [AtomicU64; Transport::ALL.len()],
    opened: AtomicU64,
    closed: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    rejected: AtomicU64,
    inbox_bytes: AtomicU64,
    inbound_waits: AtomicU64,
}

fn index(transport: Transport) -> usize {
    Transport::ALL.iter().position(|&t| t == transport).expect("every transport is listed")
}

impl Counters {
    pub(crate) fn opened(&self, transport: Transport) {
        self.live[index(transport)].fetch_add(1, Ordering::Relaxed);
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self, transport: Transport) {
        self.live[index(transport)].fetch_sub(1, Ordering::Relaxed);
        self.closed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn live_total(&self) -> u64 {
        self.live.iter().map(|l| l.load(Ordering::Relaxed)).sum()
    }

    pub(crate) fn received(&self, messages: usize, bytes: usize) {
        self.messages_in.fetch_add(messages as u64, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn sent_message(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn wrote(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A session's inbox went from `before` to `after` bytes.
    pub(crate) fn inbox_changed(&self, before: usize, after: usize) {
        if after > before {
            self.inbox_bytes.fetch_add((after - before) as u64, Ordering::Relaxed);
        } else if before > after {
            self.inbox_bytes.fetch_sub((before - after) as u64, Ordering::Relaxed);
        }
    }

    /// A client's messages had to wait for room in an inbox.
    pub(crate) fn inbound_wait(&self) {
        self.inbound_waits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, pending_timers: usize) -> Metrics {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Metrics {
            live: std::array::from_fn(|i| load(&self.live[i])),
            sessions_opened: load(&self.opened),
            sessions_closed: load(&self.closed),
            messages_received: load(&self.messages_in),
            messages_sent: load(&self.messages_out),
            bytes_received: load(&self.bytes_in),
            bytes_sent: load(&self.bytes_out),
            requests_rejected: load(&self.rejected),
            inbox_bytes: load(&self.inbox_bytes),
            inbound_waits: load(&self.inbound_waits),
            pending_timers: pending_timers as u64,
        }
    }
}

/// A snapshot of an endpoint's counters (see [`crate::Endpoint::metrics`]).
///
/// ```
/// # use sockjs_core::{Endpoint, Options, Session, Transport};
/// let endpoint = Endpoint::new(Options::new("/echo"), |_: Session| async {});
/// let m = endpoint.metrics();
/// assert_eq!(m.live_sessions(), 0);
/// assert_eq!(m.live(Transport::WebSocket), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    live: [u64; Transport::ALL.len()],
    /// Sessions opened since the endpoint was created.
    pub sessions_opened: u64,
    /// Sessions that ended (closed and expired, aborted, or disconnected).
    pub sessions_closed: u64,
    /// Messages received from clients.
    pub messages_received: u64,
    /// Messages the application queued for clients.
    pub messages_sent: u64,
    /// Bytes of send bodies and websocket messages received.
    pub bytes_received: u64,
    /// Bytes of frames written to clients, transport framing included.
    pub bytes_sent: u64,
    /// Requests answered with an error status (4xx or 5xx).
    pub requests_rejected: u64,
    /// What the inboxes of all sessions hold now, counted as
    /// [`crate::Options::max_inbox`] counts (text plus a fixed overhead per
    /// message).
    pub inbox_bytes: u64,
    /// How often a client's messages found the inbox full and had to wait
    /// (a send request held, or a websocket no longer read).
    pub inbound_waits: u64,
    /// Entries in the endpoint's timer queue: at most one per live session.
    pub pending_timers: u64,
}

impl Metrics {
    /// Live sessions of one transport.
    pub fn live(&self, transport: Transport) -> u64 {
        self.live[index(transport)]
    }

    /// Live sessions of every transport.
    pub fn live_sessions(&self) -> u64 {
        self.live.iter().sum()
    }
}
