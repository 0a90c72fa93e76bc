//! Several nodes, one desk. With `REDIS_URL` set:
//! - socket.io rooms and broadcasts are shared through the socketioxide-redis adapter
//!   (sessions and messages are already shared in PostgreSQL);
//! - each node publishes who is online on it (agents, visitors) under a key that expires
//!   unless the node keeps refreshing it ([`presence`]), so presence, the agent list and
//!   auto-assignment see the whole desk, and a node that dies drops out by itself;
//! - the events of a session's room also reach the plain WebSocket clients of other nodes
//!   ([`relay`]);
//! - a human taking over a session on one node stops the assistant's reply streaming from
//!   another ([`cancel`]).
//!
//! `/ready` reports whether Redis answers. When it does not, a node keeps serving its own
//! sockets with what it knows locally, and catches up when Redis returns.

pub mod cancel;
pub mod presence;
pub mod relay;

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

/// How long a Redis command may take before the node carries on without it.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// A shared, lazily (re)connected Redis connection.
pub struct Redis {
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    /// Key and channel prefix (`REDIS_PREFIX`).
    pub prefix: String,
    /// This node's id (random per process).
    pub node_id: String,
}

impl Redis {
    pub fn new(client: redis::Client, prefix: &str) -> Self {
        Redis {
            client,
            conn: Mutex::new(None),
            prefix: prefix.to_string(),
            node_id: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(
            REDIS_TIMEOUT,
            self.client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| timeout_error())??;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Runs a pipeline (or a single command) within [`REDIS_TIMEOUT`]; a failure drops the
    /// connection so that the next call reconnects.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> redis::RedisResult<T> {
        let mut conn = self.connection().await?;
        let result = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<T>(&mut conn))
            .await
            .map_err(|_| timeout_error())
            .and_then(|r| r);
        if result.is_err() {
            *self.conn.lock().await = None;
        }
        result
    }

    /// True when Redis answers a PING within [`REDIS_TIMEOUT`] (for `/ready`).
    pub async fn is_healthy(&self) -> bool {
        let mut pipe = redis::pipe();
        pipe.cmd("PING");
        self.query::<(String,)>(&pipe).await.is_ok()
    }

    /// A key under this desk's prefix.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }
}

fn timeout_error() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "Redis did not answer in time",
    ))
}

/// The URL with RESP3 asked for (the adapter's driver needs it).
pub fn resp3_url(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}
