//! What a connection's tasks and the application share, below every
//! transport: the bounds, the state that records how the connection ended
//! (once), the receive side that takes frames, and the send queue and its
//! batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use crate::frame::Frame;
use crate::{Close, Error};

/// The bounds and timeouts of a connection (see the `Client` methods).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_frame: usize,
    pub(crate) receive_queue: usize,
    pub(crate) send_queue: usize,
    pub(crate) send_batch: usize,
    pub(crate) open_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame: 1 << 20,
            receive_queue: 64,
            send_queue: 1 << 20,
            send_batch: 64 << 10,
            open_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// State both tasks and the application see.
#[derive(Debug)]
pub(crate) struct Shared {
    close: Mutex<Option<Close>>,
    ended: watch::Sender<bool>,
    /// Bytes of the send queue; closed when the connection ends.
    budget: Arc<Semaphore>,
    pub(crate) heartbeats: AtomicU64,
    pub(crate) messages_received: AtomicU64,
    pub(crate) messages_sent: AtomicU64,
    pub(crate) receive_requests: AtomicU64,
    pub(crate) send_requests: AtomicU64,
    pub(crate) wire_bytes_received: AtomicU64,
    pub(crate) wire_bytes_sent: AtomicU64,
}

impl Shared {
    fn new(send_queue: usize) -> Shared {
        Shared {
            close: Mutex::new(None),
            ended: watch::channel(false).0,
            budget: Arc::new(Semaphore::new(send_queue)),
            heartbeats: AtomicU64::new(0),
            messages_received: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            receive_requests: AtomicU64::new(0),
            send_requests: AtomicU64::new(0),
            wire_bytes_received: AtomicU64::new(0),
            wire_bytes_sent: AtomicU64::new(0),
        }
    }

    /// Ends the connection with `close`, unless it has ended already.
    pub(crate) fn finish(&self, close: Close) {
        {
            let mut slot = self.close.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(close);
            }
        }
        self.budget.close();
        self.ended.send_replace(true);
    }

    pub(crate) fn close_reason(&self) -> Option<Close> {
        self.close.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes `cost` bytes of the send queue, waiting while it is full;
    /// fails once the connection has ended.
    pub(crate) async fn reserve(&self, cost: u32) -> Result<OwnedSemaphorePermit, Error> {
        self.budget.clone().acquire_many_owned(cost).await.map_err(|_| Error::Closed)
    }

    /// Resolves once the connection has ended.
    pub(crate) async fn ended(&self) {
        let mut ended = self.ended.subscribe();
        let _ = ended.wait_for(|e| *e).await;
    }
}

/// What the application asks of the sender task.
#[derive(Debug)]
pub(crate) enum Command {
    /// A message and the queue bytes it holds until it is sent.
    Send(String, OwnedSemaphorePermit),
    /// Send what is queued before, then close.
    Close { code: u16, reason: String, done: oneshot::Sender<()> },
}

/// What the sender task does next.
pub(crate) enum Next {
    /// Send these messages as one array (then, maybe, close).
    Batch { messages: Vec<String>, permits: Vec<OwnedSemaphorePermit>, then_close: Option<Command> },
    /// Close now.
    Close(Command),
    /// Stop: the connection ended or every handle is gone.
    Stop,
}

/// The sender's queue: takes everything waiting, up to a batch's size.
pub(crate) struct Outbox {
    commands: mpsc::UnboundedReceiver<Command>,
    held: Option<Command>,
    batch: usize,
}

impl Outbox {
    /// Waits for the next thing to do and takes what queued with it.
    pub(crate) async fn next(&mut self, shared: &Shared) -> Next {
        let first = match self.held.take() {
            Some(c) => c,
            None => tokio::select! {
                biased;
                () = shared.ended() => return Next::Stop,
                c = self.commands.recv() => match c {
                    Some(c) => c,
                    None => return Next::Stop,
                },
            },
        };
        let (mut messages, mut permits, mut size) = match first {
            Command::Send(m, p) => {
                let size = m.len() + 3;
                (vec![m], vec![p], size)
            }
            close @ Command::Close { .. } => return Next::Close(close),
        };
        while let Ok(c) = self.commands.try_recv() {
            match c {
                Command::Send(m, p) if size + m.len() + 3 <= self.batch => {
                    size += m.len() + 3;
                    messages.push(m);
                    permits.push(p);
                }
                close @ Command::Close { .. } => {
                    return Next::Batch { messages, permits, then_close: Some(close) };
                }
                other => {
                    self.held = Some(other);
                    break;
                }
            }
        }
        Next::Batch { messages, permits, then_close: None }
    }
}

/// Carries out a close command: records the application's close.
pub(crate) fn close_now(shared: &Shared, command: Command) {
    if let Command::Close { code, reason, done } = command {
        shared.finish(Close::clean(code, reason));
        let _ = done.send(());
    }
}

/// What a receiver hands its frames to.
pub(crate) struct Inbound {
    shared: Arc<Shared>,
    messages: mpsc::Sender<String>,
    opened: Option<oneshot::Sender<()>>,
}

impl Inbound {
    /// Takes one frame. `Ok(false)` when the frame ended the connection.
    pub(crate) async fn take(&mut self, frame: Frame) -> Result<bool, Error> {
        match frame {
            Frame::Open => match self.opened.take() {
                Some(opened) => {
                    let _ = opened.send(());
                }
                None => {
                    // §6: a new session where ours should be; sockjs-client
                    // closes with 1006 too.
                    self.shared.finish(Close {
                        code: 1006,
                        reason: "Server lost session".into(),
                        was_clean: false,
                        error: None,
                    });
                    return Ok(false);
                }
            },
            Frame::Heartbeat => {
                self.shared.heartbeats.fetch_add(1, Ordering::Relaxed);
            }
            Frame::Prelude => {}
            Frame::Messages(_) | Frame::Close(..) if self.opened.is_some() => {
                return Err(Error::Protocol("a frame before the open frame".into()));
            }
            Frame::Messages(messages) => {
                for message in messages {
                    self.shared.messages_received.fetch_add(1, Ordering::Relaxed);
                    // Waits while the application's queue is full: the
                    // receiver stops reading, which is the backpressure.
                    if self.messages.send(message).await.is_err() {
                        return Ok(false); // the application is gone
                    }
                }
            }
            Frame::Close(code, reason) => {
                self.shared.finish(Close::clean(code, reason));
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Runs a receiver until the connection ends; a failure ends it with
/// 1006.
pub(crate) async fn run_receiver(shared: Arc<Shared>, receiving: impl std::future::Future<Output = Result<(), Error>>) {
    tokio::select! {
        () = shared.ended() => {}
        result = receiving => match result {
            Ok(()) => shared.finish(Close::failure_free_end()),
            Err(e) => shared.finish(Close::failed(e)),
        },
    }
}

impl Close {
    /// A receiver that stopped without a close frame or an error (the
    /// application dropped its side): nothing more to say.
    fn failure_free_end() -> Close {
        Close::clean(1000, "Normal closure")
    }
}

/// Where a connection's tasks start from.
pub(crate) struct Parts {
    pub(crate) shared: Arc<Shared>,
    pub(crate) inbound: Inbound,
    pub(crate) outbox: Outbox,
    pub(crate) limits: Limits,
}

/// The application's ends of a new connection's channels.
pub(crate) struct Handles {
    /// The messages the receiver takes.
    pub(crate) messages: mpsc::Receiver<String>,
    /// What the sender task is asked to do.
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    /// Fires with the open frame.
    pub(crate) opened: oneshot::Receiver<()>,
}

impl Parts {
    /// A new connection's state and channels, bounded by `limits`: the
    /// tasks' side and the application's.
    pub(crate) fn new(limits: Limits) -> (Parts, Handles) {
        let shared = Arc::new(Shared::new(limits.send_queue));
        let (messages_tx, messages_rx) = mpsc::channel(limits.receive_queue);
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (opened_tx, opened_rx) = oneshot::channel();
        let parts = Parts {
            shared: shared.clone(),
            inbound: Inbound { shared, messages: messages_tx, opened: Some(opened_tx) },
            outbox: Outbox { commands: commands_rx, held: None, batch: limits.send_batch },
            limits,
        };
        (parts, Handles { messages: messages_rx, commands: commands_tx, opened: opened_rx })
    }
}
