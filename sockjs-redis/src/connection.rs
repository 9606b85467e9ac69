//! The two kinds of Redis a broker talks to, behind one small interface:
//! standalone Redis (`SUBSCRIBE`/`PUBLISH`) and Redis Cluster 7's sharded
//! pub/sub (`SSUBSCRIBE`/`SPUBLISH`), both over RESP3 so that one
//! connection carries commands and the messages of its subscriptions.

use std::sync::Arc;

use redis::aio::{AsyncPushSender, MultiplexedConnection, SendError};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo, ProtocolVersion, PushInfo, RedisError, RedisResult};

use crate::shared::{CONNECT_TIMEOUT, PUBLISH_TIMEOUT};

/// Where the broker's Redis is.
#[derive(Clone)]
pub(crate) enum Target {
    Standalone(redis::Client),
    /// The seed nodes (any of the cluster's nodes will do).
    Cluster(Vec<redis::ConnectionInfo>),
}

impl Target {
    pub(crate) fn standalone(url: &str) -> RedisResult<Target> {
        let info = url.into_connection_info()?;
        let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        Ok(Target::Standalone(redis::Client::open(info.set_redis_settings(settings))?))
    }

    pub(crate) fn cluster(urls: &[&str]) -> RedisResult<Target> {
        let nodes = urls.iter().map(|u| u.into_connection_info()).collect::<RedisResult<Vec<_>>>()?;
        // Checks the seeds now, so that a bad URL fails at once.
        ClusterClient::new(nodes.clone())?;
        Ok(Target::Cluster(nodes))
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Target::Cluster(_))
    }

    fn cluster_builder(nodes: &[redis::ConnectionInfo]) -> ClusterClientBuilder {
        ClusterClientBuilder::new(nodes.to_vec())
            .use_protocol(ProtocolVersion::RESP3)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(PUBLISH_TIMEOUT)
            // The client would send a command again after some errors: a
            // publish that may have gone through must not (at most once).
            .retries(0)
    }

    /// A connection whose subscriptions' messages (and the news that it
    /// was lost) go to `pushes`.
    pub(crate) async fn connect(&self, pushes: Option<Arc<dyn AsyncPushSender>>) -> RedisResult<Connection> {
        match self {
            Target::Standalone(client) => {
                let mut config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(PUBLISH_TIMEOUT));
                if let Some(pushes) = pushes {
                    config = config.set_push_sender(ArcSender(pushes));
                }
                Ok(Connection::Standalone(client.get_multiplexed_async_connection_with_config(&config).await?))
            }
            Target::Cluster(nodes) => {
                let mut builder = Target::cluster_builder(nodes);
                if let Some(pushes) = pushes {
                    builder = builder.push_sender(ArcSender(pushes));
                }
                Ok(Connection::Cluster(builder.build()?.get_async_connection().await?))
            }
        }
    }
}

/// A push sender shared behind an `Arc`.
struct ArcSender(Arc<dyn AsyncPushSender>);

impl AsyncPushSender for ArcSender {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        self.0.send(info)
    }
}

/// One connection to Redis (for a cluster: to each of its masters, as
/// the cluster client routes each command to its slot's master).
pub(crate) enum Connection {
    Standalone(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Connection {
    /// `SUBSCRIBE` (cluster: `SSUBSCRIBE`) to `channels`.
    pub(crate) async fn subscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        match self {
            Connection::Standalone(c) => c.subscribe(channels).await,
            Connection::Cluster(c) => {
                // One command per channel: their slots differ.
                for channel in channels {
                    c.ssubscribe(channel).await?;
                }
                Ok(())
            }
        }
    }

    /// `UNSUBSCRIBE` (cluster: `SUNSUBSCRIBE`) from `channels`.
    pub(crate) async fn unsubscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        match self {
            Connection::Standalone(c) => c.unsubscribe(channels).await,
            Connection::Cluster(c) => {
                for channel in channels {
                    c.sunsubscribe(channel).await?;
                }
                Ok(())
            }
        }
    }

    /// `PUBLISH` (cluster: `SPUBLISH`) each `(channel, payload)`, in
    /// order: how many Redis accepted, and the error that stopped the rest.
    /// Standalone: one pipelined round trip for all (accepted all or, as
    /// far as the broker knows, none); cluster: one pipelined round trip
    /// per run of messages to the same channel, since channels may live on
    /// different shards.
    pub(crate) async fn publish(&mut self, messages: &[(String, Vec<u8>)]) -> (usize, Option<RedisError>) {
        match self {
            Connection::Standalone(c) => {
                let mut pipe = redis::pipe();
                for (channel, payload) in messages {
                    pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
                }
                match pipe.query_async::<()>(c).await {
                    Ok(()) => (messages.len(), None),
                    Err(e) => (0, Some(e)),
                }
            }
            Connection::Cluster(c) => {
                // A run of messages to one channel (one slot, one shard) is
                // one pipelined round trip.
                let mut done = 0;
                for run in messages.chunk_by(|a, b| a.0 == b.0) {
                    let mut pipe = redis::pipe();
                    for (channel, payload) in run {
                        pipe.cmd("SPUBLISH").arg(channel).arg(payload).ignore();
                    }
                    if let Err(e) = pipe.query_async::<()>(c).await {
                        return (done, Some(e));
                    }
                    done += run.len();
                }
                (messages.len(), None)
            }
        }
    }
}
