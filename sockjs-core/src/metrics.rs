//! Counters an application can read ([`Metrics`]) or, with the `metrics`
//! feature, find in the recorder of the `metrics` facade crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::state::CloseReason;
use crate::Transport;

/// The live counters of an endpoint, shared by its sessions. The one place
/// that counts: the snapshot and the exported series both come from here.
#[derive(Debug)]
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
    export: export::Export,
}

fn index(transport: Transport) -> usize {
    Transport::ALL.iter().position(|&t| t == transport).expect("every transport is listed")
}

impl Counters {
    /// The counters of the endpoint at `prefix` (its `endpoint` label).
    pub(crate) fn new(prefix: &str) -> Counters {
        Counters {
            live: Default::default(),
            opened: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            inbox_bytes: AtomicU64::new(0),
            inbound_waits: AtomicU64::new(0),
            export: export::Export::new(prefix),
        }
    }

    pub(crate) fn opened(&self, transport: Transport) {
        self.live[index(transport)].fetch_add(1, Ordering::Relaxed);
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.export.opened(transport);
    }

    /// A session of `transport` ended for `reason`, `age` after it opened.
    pub(crate) fn closed(&self, transport: Transport, reason: &CloseReason, age: Duration) {
        self.live[index(transport)].fetch_sub(1, Ordering::Relaxed);
        self.closed.fetch_add(1, Ordering::Relaxed);
        self.export.closed(transport, reason, age);
    }

    pub(crate) fn live_total(&self) -> u64 {
        self.live.iter().map(|l| l.load(Ordering::Relaxed)).sum()
    }

    pub(crate) fn received(&self, transport: Transport, messages: usize, bytes: usize) {
        self.messages_in.fetch_add(messages as u64, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.export.received(transport, messages, bytes);
    }

    pub(crate) fn sent_message(&self, transport: Transport) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.export.sent_message(transport);
    }

    pub(crate) fn wrote(&self, transport: Transport, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        self.export.wrote(transport, bytes);
    }

    /// A session's inbox went from `before` to `after` bytes.
    pub(crate) fn inbox_changed(&self, before: usize, after: usize) {
        if after > before {
            self.inbox_bytes.fetch_add((after - before) as u64, Ordering::Relaxed);
        } else if before > after {
            self.inbox_bytes.fetch_sub((before - after) as u64, Ordering::Relaxed);
        } else {
            return;
        }
        self.export.inbox_changed(before, after);
    }

    /// A client's messages had to wait for room in an inbox.
    pub(crate) fn inbound_wait(&self, transport: Transport) {
        self.inbound_waits.fetch_add(1, Ordering::Relaxed);
        self.export.inbound_wait(transport);
    }

    /// A request was answered with `status` (4xx or 5xx).
    pub(crate) fn rejected(&self, status: u16) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.export.rejected(status);
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
            room_publish_failed: 0,
        }
    }
}

/// The counters of one rooms registry (see `Rooms`),
/// which may serve several endpoints.
#[derive(Debug)]
pub(crate) struct RoomCounters {
    publish_failed: AtomicU64,
    export: export::RoomExport,
}

impl RoomCounters {
    /// The counters of the registry labelled `label` (the prefix of the
    /// endpoint that made it, or the name it was built with).
    pub(crate) fn new(label: &str) -> RoomCounters {
        RoomCounters { publish_failed: AtomicU64::new(0), export: export::RoomExport::new(label) }
    }

    /// A broker could not publish `messages` room messages.
    pub(crate) fn publish_failed(&self, messages: u64) {
        self.publish_failed.fetch_add(messages, Ordering::Relaxed);
        self.export.publish_failed(messages);
    }

    pub(crate) fn publish_failed_total(&self) -> u64 {
        self.publish_failed.load(Ordering::Relaxed)
    }
}

#[cfg(feature = "metrics")]
mod export {
    //! The series of the `metrics` feature (listed in the crate docs).
    //! Handles are taken from the recorder when a transport's first
    //! session opens, then only moved: an atomic add per event.

    use std::sync::OnceLock;
    use std::time::Duration;

    use metrics::{Counter, Gauge, Histogram, Label, SharedString};

    use super::index;
    use crate::state::CloseReason;
    use crate::Transport;

    /// The handles of one transport's series.
    #[derive(Debug)]
    struct Series {
        live: Gauge,
        opened: Counter,
        messages_in: Counter,
        messages_out: Counter,
        bytes_in: Counter,
        bytes_out: Counter,
        inbound_waits: Counter,
        duration: Histogram,
    }

    #[derive(Debug)]
    pub(super) struct Export {
        endpoint: SharedString,
        transports: [OnceLock<Series>; Transport::ALL.len()],
        inbox: OnceLock<Gauge>,
    }

    impl Export {
        pub(super) fn new(prefix: &str) -> Export {
            Export {
                endpoint: SharedString::from(prefix.to_owned()),
                transports: Default::default(),
                inbox: OnceLock::new(),
            }
        }

        fn labels(&self, transport: Transport) -> Vec<Label> {
            vec![Label::new("endpoint", self.endpoint.clone()), Label::new("transport", transport.name())]
        }

        fn series(&self, transport: Transport) -> &Series {
            self.transports[index(transport)].get_or_init(|| {
                describe();
                let labels = self.labels(transport);
                Series {
                    live: metrics::gauge!("sockjs_sessions", labels.iter()),
                    opened: metrics::counter!("sockjs_sessions_opened_total", labels.iter()),
                    messages_in: metrics::counter!("sockjs_messages_received_total", labels.iter()),
                    messages_out: metrics::counter!("sockjs_messages_sent_total", labels.iter()),
                    bytes_in: metrics::counter!("sockjs_bytes_received_total", labels.iter()),
                    bytes_out: metrics::counter!("sockjs_bytes_sent_total", labels.iter()),
                    inbound_waits: metrics::counter!("sockjs_inbound_waits_total", labels.iter()),
                    duration: metrics::histogram!("sockjs_session_duration_seconds", labels.iter()),
                }
            })
        }

        pub(super) fn opened(&self, transport: Transport) {
            let series = self.series(transport);
            series.live.increment(1.0);
            series.opened.increment(1);
        }

        pub(super) fn closed(&self, transport: Transport, reason: &CloseReason, age: Duration) {
            let series = self.series(transport);
            series.live.decrement(1.0);
            series.duration.record(age.as_secs_f64());
            let mut labels = self.labels(transport);
            labels.push(Label::new("reason", reason_label(reason)));
            metrics::counter!("sockjs_sessions_closed_total", labels.iter()).increment(1);
        }

        pub(super) fn received(&self, transport: Transport, messages: usize, bytes: usize) {
            let series = self.series(transport);
            series.messages_in.increment(messages as u64);
            series.bytes_in.increment(bytes as u64);
        }

        pub(super) fn sent_message(&self, transport: Transport) {
            self.series(transport).messages_out.increment(1);
        }

        pub(super) fn wrote(&self, transport: Transport, bytes: usize) {
            self.series(transport).bytes_out.increment(bytes as u64);
        }

        pub(super) fn inbound_wait(&self, transport: Transport) {
            self.series(transport).inbound_waits.increment(1);
        }

        pub(super) fn inbox_changed(&self, before: usize, after: usize) {
            let gauge = self.inbox.get_or_init(|| {
                describe();
                metrics::gauge!("sockjs_inbox_bytes", "endpoint" => self.endpoint.clone())
            });
            gauge.increment(after as f64 - before as f64);
        }

        pub(super) fn rejected(&self, status: u16) {
            describe();
            let labels = [Label::new("endpoint", self.endpoint.clone()), Label::new("status", status.to_string())];
            metrics::counter!("sockjs_requests_rejected_total", labels.iter()).increment(1);
        }
    }

    /// The series of one rooms registry.
    #[derive(Debug)]
    pub(super) struct RoomExport {
        label: SharedString,
        publish_failed: OnceLock<Counter>,
    }

    impl RoomExport {
        pub(super) fn new(label: &str) -> RoomExport {
            RoomExport { label: SharedString::from(label.to_owned()), publish_failed: OnceLock::new() }
        }

        pub(super) fn publish_failed(&self, messages: u64) {
            let counter = self.publish_failed.get_or_init(|| {
                describe();
                metrics::counter!("sockjs_room_publish_failed_total", "endpoint" => self.label.clone())
            });
            counter.increment(messages);
        }
    }

    /// The `reason` label of `sockjs_sessions_closed_total`.
    fn reason_label(reason: &CloseReason) -> &'static str {
        match reason {
            CloseReason::Server { .. } => "server",
            CloseReason::Client => "client",
            CloseReason::Interrupted => "interrupted",
            CloseReason::TimedOut => "timed_out",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::Shutdown => "shutdown",
            CloseReason::QueueFull => "queue_full",
            CloseReason::Stalled => "stalled",
        }
    }

    /// Describes every series to the recorder, once per process.
    fn describe() {
        static DESCRIBED: OnceLock<()> = OnceLock::new();
        DESCRIBED.get_or_init(|| {
            use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
            describe_gauge!("sockjs_sessions", "Live SockJS sessions.");
            describe_counter!("sockjs_sessions_opened_total", "SockJS sessions opened.");
            describe_counter!("sockjs_sessions_closed_total", "SockJS sessions ended, by why they ended.");
            describe_histogram!("sockjs_session_duration_seconds", Unit::Seconds, "How long SockJS sessions lived.");
            describe_counter!("sockjs_messages_received_total", "Messages received from clients.");
            describe_counter!("sockjs_messages_sent_total", "Messages the application queued for clients.");
            describe_counter!("sockjs_bytes_received_total", Unit::Bytes, "Bytes of messages received from clients.");
            describe_counter!("sockjs_bytes_sent_total", Unit::Bytes, "Bytes written to clients, framing included.");
            describe_counter!(
                "sockjs_inbound_waits_total",
                "Times a client's messages found the session inbox full and had to wait."
            );
            describe_gauge!("sockjs_inbox_bytes", Unit::Bytes, "What the session inboxes hold, as max_inbox counts.");
            describe_counter!("sockjs_requests_rejected_total", "Requests answered with an error status.");
            describe_counter!(
                "sockjs_room_publish_failed_total",
                "Room messages the cluster broker could not publish to other nodes."
            );
        });
    }
}

#[cfg(not(feature = "metrics"))]
mod export {
    //! Without the `metrics` feature nothing is exported.

    use std::time::Duration;

    use crate::state::CloseReason;
    use crate::Transport;

    #[derive(Debug)]
    pub(super) struct Export;

    impl Export {
        pub(super) fn new(_prefix: &str) -> Export {
            Export
        }
        pub(super) fn opened(&self, _: Transport) {}
        pub(super) fn closed(&self, _: Transport, _: &CloseReason, _: Duration) {}
        pub(super) fn received(&self, _: Transport, _: usize, _: usize) {}
        pub(super) fn sent_message(&self, _: Transport) {}
        pub(super) fn wrote(&self, _: Transport, _: usize) {}
        pub(super) fn inbound_wait(&self, _: Transport) {}
        pub(super) fn inbox_changed(&self, _: usize, _: usize) {}
        pub(super) fn rejected(&self, _: u16) {}
    }

    #[derive(Debug)]
    pub(super) struct RoomExport;

    impl RoomExport {
        pub(super) fn new(_label: &str) -> RoomExport {
            RoomExport
        }
        pub(super) fn publish_failed(&self, _: u64) {}
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
    /// [`crate::Options::max_inbox()`] counts (text plus a fixed overhead per
    /// message).
    pub inbox_bytes: u64,
    /// How often a client's messages found the inbox full and had to wait
    /// (a send request held, or a websocket no longer read).
    pub inbound_waits: u64,
    /// Entries in the endpoint's timer queue: at most one per live session.
    pub pending_timers: u64,
    /// Room messages the cluster broker of the endpoint's rooms could not
    /// publish to other nodes (counted by the broker through
    /// `BrokerHandle::publish_failed`; the same figure for
    /// every endpoint that shares the registry). Always 0 without a broker.
    pub room_publish_failed: u64,
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
