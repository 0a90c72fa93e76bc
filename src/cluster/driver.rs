//! The socket.io Redis adapter's connection to Redis, kept alive across Redis outages.
//!
//! socketioxide-redis's own `RedisDriver` opens one connection at start-up and never opens
//! another: after Redis restarts, every broadcast to other nodes fails with `broken pipe`
//! for the rest of the process, and the adapter's subscriptions (its request and response
//! channels) are gone. This driver implements the adapter's [`Driver`] trait on a connection
//! that a supervisor task re-opens when it is lost (100 ms, doubling up to 5 s between
//! attempts) and re-subscribes to every channel the adapter asked for.
//!
//! One RESP3 connection carries both the commands and the subscribed messages (as the
//! crate's driver does). It counts as lost when the library reports the disconnection, when a
//! command fails with an I/O error or times out, or when the supervisor's PING every
//! [`KEEPALIVE`] goes unanswered (a half-open connection). While it is lost, publishing fails
//! at once (the hub then delivers to this node's sockets only) instead of waiting for Redis:
//! each failure is counted in `chatdesk_redis_failures_total{op="broadcast"}` and `/ready`
//! answers 503. When the connection is back, every socket of this node hears
//! [`Resync`] (see [`resync`]), since the other nodes' broadcasts of the outage never came.
//!
//! (redis's `ConnectionManager` also reconnects, but its commands wait for its reconnection
//! attempts: during an outage every broadcast, and so the local delivery after it, would
//! stall.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, FromRedisValue, PushInfo, PushKind, RedisError, RedisResult};
use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::SocketIo;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::{mpsc, watch, Notify};

use super::{Backoff, Redis, REDIS_TIMEOUT};

/// How often the supervisor checks that the connection still answers.
pub const KEEPALIVE: Duration = Duration::from_secs(5);

/// The adapter's driver: cheap to clone, all clones share one connection.
#[derive(Clone)]
pub struct ReconnectingDriver {
    shared: Arc<Shared>,
}

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

struct Shared {
    redis: Arc<Redis>,
    /// The current connection and its generation; `None` while Redis is away.
    conn: RwLock<Option<(u64, MultiplexedConnection)>>,
    /// Where the messages of each subscribed channel go (kept across reconnections).
    handlers: Handlers,
    /// The generation of the connection in use (a late loss report of an older one is ignored).
    generation: AtomicU64,
    lost: Arc<Notify>,
    /// Counts the recoveries after a loss.
    recovered: watch::Sender<u64>,
}

impl ReconnectingDriver {
    /// Connects (failing if Redis does not answer now) and starts the supervisor.
    pub async fn connect(redis: Arc<Redis>) -> RedisResult<ReconnectingDriver> {
        let lost = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            redis,
            conn: RwLock::new(None),
            handlers: Default::default(),
            generation: AtomicU64::new(0),
            lost: lost.clone(),
            recovered: watch::channel(0).0,
        });
        let conn = open(&shared, 1).await?;
        shared.install(1, conn);
        shared.redis.set_broadcasting(true);
        tokio::spawn(supervise(Arc::downgrade(&shared), lost));
        Ok(ReconnectingDriver { shared })
    }

    /// Changes every time the connection comes back after it was lost.
    pub fn recoveries(&self) -> watch::Receiver<u64> {
        self.shared.recovered.subscribe()
    }

    /// The connection, or an error at once while Redis is away.
    fn current(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        read(&self.shared.conn).ok_or_else(unavailable)
    }

    /// Runs a command on the connection; a connection failure marks it lost.
    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> RedisResult<T> {
        let (generation, mut conn) = self.current()?;
        let result = cmd.query_async::<T>(&mut conn).await;
        if let Err(e) = &result {
            if is_connection_error(e) {
                self.shared.lose(generation);
            }
        }
        result
    }
}

impl Driver for ReconnectingDriver {
    type Error = RedisError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(chan).arg(val);
        let result = self.run::<redis::Value>(&cmd).await.map(|_| ());
        if result.is_err() {
            crate::metrics::redis_failure("broadcast");
        }
        result
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        // Registered first: a connection opened from now on subscribes to it too.
        write(&self.shared.handlers).insert(chan.clone(), tx);
        if let Some((generation, mut conn)) = read(&self.shared.conn) {
            if let Err(e) = conn.subscribe(&chan).await {
                if !is_connection_error(&e) {
                    write(&self.shared.handlers).remove(&chan);
                    return Err(e);
                }
                // Subscribed again when the connection is back.
                self.shared.lose(generation);
            }
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        write(&self.shared.handlers).remove(&chan);
        match read(&self.shared.conn) {
            Some((_, mut conn)) => conn.unsubscribe(&chan).await,
            None => Ok(()), // a new connection will not subscribe to it
        }
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg("NUMSUB").arg(chan);
        let (_, count): (String, u16) = self.run(&cmd).await?;
        Ok(count)
    }
}

impl Shared {
    /// Puts a new connection in use.
    fn install(&self, generation: u64, conn: MultiplexedConnection) {
        self.generation.store(generation, Ordering::SeqCst);
        *write(&self.conn) = Some((generation, conn));
    }

    /// No connection in use (reports of the last one are ignored from now on).
    fn uninstall(&self) {
        self.generation.store(0, Ordering::SeqCst);
        *write(&self.conn) = None;
    }

    /// The connection of `generation` is lost (nothing happens if it was replaced already).
    fn lose(&self, generation: u64) {
        if self.generation.load(Ordering::SeqCst) == generation {
            self.lost.notify_one();
        }
    }
}

/// Opens connection number `generation`: its pushes go to the handlers, and its loss wakes
/// the supervisor.
async fn open(shared: &Arc<Shared>, generation: u64) -> RedisResult<MultiplexedConnection> {
    let weak = Arc::downgrade(shared);
    let handlers = shared.handlers.clone();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_push_sender(move |push: PushInfo| {
            if push.kind == PushKind::Disconnection {
                if let Some(shared) = weak.upgrade() {
                    shared.lose(generation);
                }
            } else {
                deliver(&handlers, push);
            }
            Ok::<(), std::convert::Infallible>(())
        });
    shared
        .redis
        .client()
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Keeps the connection: waits until it is lost (or stops answering), then opens a new one
/// with backoff and subscribes it to every channel. Ends when the driver is gone.
async fn supervise(shared: Weak<Shared>, lost: Arc<Notify>) {
    let mut backoff = Backoff::default();
    let mut generation = 1;
    loop {
        // Connected: watch it.
        loop {
            tokio::select! {
                _ = lost.notified() => break,
                _ = tokio::time::sleep(KEEPALIVE) => {
                    let Some(shared) = shared.upgrade() else { return };
                    let driver = ReconnectingDriver { shared };
                    if driver.run::<String>(&redis::cmd("PING")).await.is_err() {
                        break;
                    }
                }
            }
        }
        let Some(s) = shared.upgrade() else { return };
        s.uninstall();
        s.redis.set_broadcasting(false);
        tracing::warn!("lost Redis: broadcasts reach this node's sockets only; reconnecting");
        drop(s);
        // Away: reconnect.
        loop {
            tokio::time::sleep(backoff.next_delay()).await;
            let Some(s) = shared.upgrade() else { return };
            generation += 1;
            match reconnect(&s, generation).await {
                Ok(()) => {
                    backoff.reset();
                    s.redis.set_broadcasting(true);
                    s.recovered.send_modify(|n| *n += 1);
                    tracing::info!("Redis is back: broadcasts reach the other nodes again");
                    break;
                }
                Err(e) => {
                    s.uninstall();
                    tracing::debug!(error = %e, "Redis still unreachable");
                }
            }
        }
    }
}

/// Opens a connection, puts it in use and subscribes it to every channel the adapter has.
/// (In use before subscribing: a channel added meanwhile is either in the list read here or
/// subscribed by [`Driver::subscribe`] on this connection.)
async fn reconnect(shared: &Arc<Shared>, generation: u64) -> RedisResult<()> {
    let mut conn = open(shared, generation).await?;
    // A loss reported by an earlier connection, not yet heard, is not this one's.
    let _ = futures::FutureExt::now_or_never(shared.lost.notified());
    shared.install(generation, conn.clone());
    let channels: Vec<String> = read(&shared.handlers).keys().cloned().collect();
    if !channels.is_empty() {
        conn.subscribe(&channels).await?;
    }
    Ok(())
}

/// Hands a subscribed message to its channel's handler.
fn deliver(handlers: &Handlers, push: PushInfo) {
    if !matches!(push.kind, PushKind::Message | PushKind::SMessage) {
        return;
    }
    let mut data = push.data.into_iter();
    let (Some(chan), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(chan), Ok(payload)) = (
        String::from_redis_value(chan),
        Vec::<u8>::from_redis_value(payload),
    ) else {
        tracing::warn!("unreadable message from Redis");
        return;
    };
    if let Some(tx) = read(handlers).get(&chan) {
        if let Err(e) = tx.try_send((chan, payload)) {
            tracing::warn!(error = %e, "adapter channel full; message from another node dropped");
        }
    }
}

fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

fn unavailable() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "Redis is unreachable (reconnecting)",
    ))
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// Server → client, to every socket of a node after Redis came back: broadcasts of other
/// nodes may have been missed, resume (`init_session` with `lastSeq`, or `join_session`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Resync {
    pub reason: ResyncReason,
}

/// Why a client should resume.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResyncReason {
    /// The node lost Redis for a while.
    Redis,
}

/// Emits [`Resync`] to every socket of this node, in both namespaces, each time `driver`
/// recovers, until `stop` fires.
pub fn resync_on_recovery<A: Adapter>(
    driver: &ReconnectingDriver,
    io: SocketIo<A>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut recoveries = driver.recoveries();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = recoveries.changed() => if changed.is_err() { return },
            }
            resync(&io).await;
        }
    });
}

/// Emits [`Resync`] to every socket of this node.
pub async fn resync<A: Adapter>(io: &SocketIo<A>) {
    let event = Resync {
        reason: ResyncReason::Redis,
    };
    for ns in crate::hub::NAMESPACES {
        let Some(op) = io.of(ns) else { continue };
        if let Err(e) = op.local().emit("resync", &event).await {
            tracing::debug!(error = %e, ns, "resync not delivered to every socket");
        }
    }
}
