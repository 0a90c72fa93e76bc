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
//! `/ready` reports whether Redis answers and broadcasts get through. When they do not, a
//! node keeps serving its own sockets with what it knows locally; every connection to Redis
//! (the adapter's [`driver`], the subscriptions of [`relay`] and [`cancel`], the commands of
//! [`presence`]) is opened again when Redis returns, and the node's sockets are told to
//! resume ([`driver::Resync`]).

pub mod cancel;
pub mod channel;
pub mod driver;
pub mod kb;
pub mod presence;
pub mod relay;

use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Whether the adapter's broadcasts reach Redis (kept by [`driver`]).
    broadcasting: AtomicBool,
}

impl Redis {
    pub fn new(client: redis::Client, prefix: &str) -> Self {
        Redis {
            client,
            conn: Mutex::new(None),
            prefix: prefix.to_string(),
            node_id: uuid::Uuid::new_v4().simple().to_string(),
            broadcasting: AtomicBool::new(true),
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

    /// Whether the adapter's broadcasts reach the other nodes (false from the loss of its
    /// connection until it is back and subscribed again).
    pub fn broadcasting(&self) -> bool {
        self.broadcasting.load(Ordering::Relaxed)
    }

    pub(crate) fn set_broadcasting(&self, up: bool) {
        self.broadcasting.store(up, Ordering::Relaxed);
        crate::metrics::redis_up(up);
    }

    /// True when broadcasts get through and Redis answers a PING within [`REDIS_TIMEOUT`]
    /// (for `/ready`).
    pub async fn is_healthy(&self) -> bool {
        if !self.broadcasting() {
            return false;
        }
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

/// The wait between attempts to reach Redis again: 100 ms, doubling up to 5 s.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    /// The wait before the next attempt (each one twice the last, up to the maximum).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }

    /// Redis answered: the next outage starts from the shortest wait.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Self::FIRST }
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
