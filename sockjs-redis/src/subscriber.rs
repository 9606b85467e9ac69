//! The subscriber task: one connection whose subscriptions follow the
//! rooms this node has members in, plus the shared channel; it hands what
//! arrives to the engine, and reconnects with a backoff when Redis goes.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use redis::aio::{AsyncPushSender, SendError};
use redis::{PushInfo, PushKind, Value};
use sockjs_core::rooms::BrokerHandle;
use tokio::sync::{mpsc, watch};

use crate::channel::{room_channel, shared_channel};
use crate::connection::{Connection, Target};
use crate::shared::{Shared, CONNECT_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF, RECEIVE_QUEUE};

/// Where one connection's pushes go: its messages into a bounded queue
/// (full: dropped and counted), the news of its loss into a flag.
struct Pushes {
    messages: mpsc::Sender<Vec<u8>>,
    lost: watch::Sender<bool>,
    shared: Arc<Shared>,
}

impl AsyncPushSender for Pushes {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        match info.kind {
            PushKind::Message | PushKind::SMessage => {
                // [channel, payload]
                let payload = match info.data.into_iter().nth(1) {
                    Some(Value::BulkString(bytes)) => bytes,
                    _ => {
                        Shared::count(&self.shared.garbage);
                        tracing::warn!(target: "sockjs_redis", "dropped a pub/sub message without a payload");
                        return Ok(());
                    }
                };
                if self.messages.try_send(payload).is_err() {
                    Shared::count(&self.shared.receive_dropped);
                    tracing::warn!(target: "sockjs_redis", bound = RECEIVE_QUEUE, "receive queue full: dropped a room message");
                }
            }
            PushKind::Disconnection => {
                self.lost.send_replace(true);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Runs for as long as the broker lives (its handle aborts it).
pub(crate) async fn run(target: Target, shared: Arc<Shared>) {
    let handle = shared.attached_handle().await;
    let mut backoff = MIN_BACKOFF;
    loop {
        let (messages, mut inbox) = mpsc::channel(RECEIVE_QUEUE);
        let (lost, mut lost_rx) = watch::channel(false);
        let pushes = Arc::new(Pushes { messages, lost, shared: shared.clone() });
        let mut subscribed = BTreeSet::new();
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let mut connection = target.connect(Some(pushes)).await?;
            sync(&mut connection, &shared, &mut subscribed).await?;
            Ok::<_, redis::RedisError>(connection)
        })
        .await;
        let mut connection = match connected {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => {
                tracing::debug!(target: "sockjs_redis", error = %e, "subscribing failed");
                backoff = wait(backoff).await;
                continue;
            }
            Err(_) => {
                tracing::debug!(target: "sockjs_redis", "subscribing timed out");
                backoff = wait(backoff).await;
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        shared.links.fetch_add(1, Ordering::Relaxed);
        shared.subscribed.send_replace(true);
        tracing::info!(target: "sockjs_redis", rooms = subscribed.len() - 1, "subscribed");
        let why = loop {
            tokio::select! {
                message = inbox.recv() => match message {
                    Some(bytes) => deliver(&handle, &shared, &bytes),
                    None => break "the connection ended".to_owned(),
                },
                _ = lost_rx.changed() => break "the connection was lost".to_owned(),
                () = shared.changed.notified() => {
                    let changed = sync(&mut connection, &shared, &mut subscribed);
                    match tokio::time::timeout(CONNECT_TIMEOUT, changed).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => break format!("changing subscriptions failed: {e}"),
                        Err(_) => break "changing subscriptions timed out".to_owned(),
                    }
                }
            }
        };
        shared.subscribed.send_replace(false);
        tracing::warn!(target: "sockjs_redis", reason = %why, "room subscriptions lost; reconnecting");
        drop(connection);
        backoff = wait(backoff).await;
    }
}

/// Makes the connection's subscriptions match the rooms wanted now (and
/// the shared channel).
async fn sync(
    connection: &mut Connection,
    shared: &Shared,
    subscribed: &mut BTreeSet<String>,
) -> redis::RedisResult<()> {
    let mut wanted: BTreeSet<String> = shared.wanted().iter().map(|room| room_channel(&shared.prefix, room)).collect();
    wanted.insert(shared_channel(&shared.prefix));
    let add: Vec<String> = wanted.difference(subscribed).cloned().collect();
    let remove: Vec<String> = subscribed.difference(&wanted).cloned().collect();
    if !add.is_empty() {
        connection.subscribe(&add).await?;
    }
    if !remove.is_empty() {
        connection.unsubscribe(&remove).await?;
    }
    *subscribed = wanted;
    Ok(())
}

fn deliver(handle: &BrokerHandle, shared: &Shared, bytes: &[u8]) {
    match handle.receive(bytes) {
        Ok(_) => Shared::count(&shared.received),
        Err(e) => {
            Shared::count(&shared.garbage);
            tracing::warn!(target: "sockjs_redis", error = ?e, bytes = bytes.len(), "dropped a message that is not a room envelope");
        }
    }
}

/// Sleeps `backoff`; the next one.
async fn wait(backoff: std::time::Duration) -> std::time::Duration {
    tokio::time::sleep(backoff).await;
    (backoff * 2).min(MAX_BACKOFF)
}
