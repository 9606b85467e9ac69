//! The publisher task: drains the bounded publish queue over one
//! connection, in batches of up to `PUBLISH_BATCH`, in the order `publish`
//! was called.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sockjs_core::rooms::Envelope;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::channel::{room_channel, shared_channel};
use crate::connection::{Connection, Target};
use crate::shared::{Shared, CONNECT_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF, PUBLISH_BATCH, PUBLISH_TIMEOUT};

/// Why the publisher is not publishing now.
struct Down {
    /// Until when envelopes are dropped without trying.
    until: Instant,
    /// The subscriber's link count then: a new link means Redis is back,
    /// so try again at once.
    links: u64,
    /// Envelopes dropped since it went down.
    dropped: u64,
}

/// Runs until the broker's last handle is dropped (its queue closes).
pub(crate) async fn run(target: Target, shared: Arc<Shared>, mut queue: mpsc::Receiver<Envelope>) {
    let _ = shared.attached_handle().await;
    let shared_channel = shared_channel(&shared.prefix);
    let mut connection: Option<(Connection, u64)> = None;
    let mut down: Option<Down> = None;
    let mut backoff = MIN_BACKOFF;
    let mut batch: Vec<Envelope> = Vec::with_capacity(PUBLISH_BATCH);
    while queue.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let count = batch.len() as u64;
        let links = shared.links.load(Ordering::Relaxed);
        if let Some(d) = down.as_mut() {
            if Instant::now() < d.until && d.links == links {
                d.dropped += count;
                shared.publish_failed(count);
                batch.clear();
                continue;
            }
        }
        if connection.as_ref().is_some_and(|(_, opened)| *opened != links) {
            connection = None;
        }
        let messages: Vec<(String, Vec<u8>)> = batch
            .drain(..)
            .map(|envelope| {
                let channel = match envelope.single_room() {
                    Some(room) => room_channel(&shared.prefix, room),
                    None => shared_channel.clone(),
                };
                (channel, envelope.encode())
            })
            .collect();
        let (published, error) = async {
            if connection.is_none() {
                match tokio::time::timeout(CONNECT_TIMEOUT, target.connect(None)).await {
                    Ok(Ok(opened)) => connection = Some((opened, links)),
                    Ok(Err(e)) => return (0, Some(e.to_string())),
                    Err(_) => return (0, Some("connecting timed out".to_owned())),
                }
            }
            let (conn, _) = connection.as_mut().expect("opened above");
            match tokio::time::timeout(PUBLISH_TIMEOUT, conn.publish(&messages)).await {
                Ok((published, error)) => (published, error.map(|e| e.to_string())),
                Err(_) => (0, Some("timed out".to_owned())),
            }
        }
        .await;
        shared.published.fetch_add(published as u64, Ordering::Relaxed);
        match error {
            None => {
                if let Some(d) = down.take() {
                    tracing::info!(target: "sockjs_redis", lost = d.dropped, "publishing again");
                }
                backoff = MIN_BACKOFF;
            }
            Some(e) => {
                let failed = count - published as u64;
                shared.publish_failed(failed);
                connection = None;
                if down.is_none() {
                    tracing::warn!(target: "sockjs_redis", error = %e, "publishing to Redis failed; dropping room messages until it answers");
                }
                let dropped = down.as_ref().map_or(0, |d| d.dropped) + failed;
                down = Some(Down {
                    until: Instant::now() + backoff,
                    links: shared.links.load(Ordering::Relaxed),
                    dropped,
                });
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
