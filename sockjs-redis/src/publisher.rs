//! The publisher task: drains the bounded publish queue over one
//! connection, one envelope at a time, in the order `publish` was called.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sockjs_core::rooms::Envelope;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::channel::{room_channel, shared_channel};
use crate::connection::{Connection, Target};
use crate::shared::{Shared, CONNECT_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF, PUBLISH_TIMEOUT};

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
    while let Some(envelope) = queue.recv().await {
        let links = shared.links.load(Ordering::Relaxed);
        if let Some(d) = down.as_mut() {
            if Instant::now() < d.until && d.links == links {
                d.dropped += 1;
                shared.publish_failed(1);
                continue;
            }
        }
        if connection.as_ref().is_some_and(|(_, opened)| *opened != links) {
            connection = None;
        }
        let result = async {
            if connection.is_none() {
                let opened = tokio::time::timeout(CONNECT_TIMEOUT, target.connect(None))
                    .await
                    .map_err(|_| "connecting timed out".to_owned())?
                    .map_err(|e| e.to_string())?;
                connection = Some((opened, links));
            }
            let (conn, _) = connection.as_mut().expect("opened above");
            let channel = match envelope.single_room() {
                Some(room) => room_channel(&shared.prefix, room),
                None => shared_channel.clone(),
            };
            let payload = envelope.encode();
            tokio::time::timeout(PUBLISH_TIMEOUT, conn.publish(&channel, &payload))
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|e| e.to_string())
        }
        .await;
        match result {
            Ok(_) => {
                Shared::count(&shared.published);
                if let Some(d) = down.take() {
                    tracing::info!(target: "sockjs_redis", lost = d.dropped, "publishing again");
                }
                backoff = MIN_BACKOFF;
            }
            Err(e) => {
                shared.publish_failed(1);
                connection = None;
                if down.is_none() {
                    tracing::warn!(target: "sockjs_redis", error = %e, "publishing to Redis failed; dropping room messages until it answers");
                }
                let dropped = down.as_ref().map_or(0, |d| d.dropped) + 1;
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
