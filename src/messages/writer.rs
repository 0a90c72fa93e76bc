//! The group-commit writer, a two-stage pipeline. The commit task takes every message that
//! arrived while the previous transaction was committing (up to `WRITE_BATCH_MAX`, no
//! artificial wait) and stores them in one transaction; the broadcast task then sends them in
//! `seq` order and answers each sender, while the next batch is already committing. Nobody
//! sees a message before it is committed. The queue is bounded: when the database falls behind,
//! new sends get `overloaded` instead of growing memory.
//!
//! On PostgreSQL the writer can run as several such pipelines (`WRITE_SHARDS`), each on its own
//! connection; a session always goes to the same one (by a hash of its id), so its messages
//! keep their order, and no two pipelines ever lock the same session row. One pipeline's
//! commit no longer waits for the other's round trip and result handling. SQLite has one
//! write lock for the whole file, so it always gets one pipeline.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

use super::service::{self, BatchOutcome, NewMessage, Reopened, Stored};
use super::types::SessionMessage;
use crate::db::Breaker;
use crate::error::{AppError, AppResult};
use crate::hub::{Except, Hub};
use crate::metrics;
use crate::outbox::{Interest, Subscriptions};

enum Job {
    Store {
        /// Boxed: a queue slot is the size of its largest job, and a message (with its type
        /// and file URL) is over 200 bytes where a flush is 8.
        message: Box<NewMessage>,
        /// Socket left out of the broadcast (`ECHO_TO_SENDER=false`).
        except: Option<Except>,
        reply: Reply,
    },
    Flush(oneshot::Sender<()>),
}

/// What the writer calls with a message's outcome, in the broadcast stage, right after the
/// message was broadcast (senders of one pipeline are answered in `seq` order).
pub type OnStored = Box<dyn FnOnce(AppResult<Stored>) + Send>;

/// Who hears a message's outcome: a waiting future, or a callback.
enum Reply {
    Wait(oneshot::Sender<AppResult<Stored>>),
    Call(Answer),
}

impl Reply {
    fn send(self, result: AppResult<Stored>) {
        match self {
            Reply::Wait(tx) => {
                let _ = tx.send(result);
            }
            Reply::Call(mut answer) => {
                if let Some(f) = answer.0.take() {
                    f(result);
                }
            }
        }
    }
}

/// A callback that is called exactly once: with `unavailable` when the writer drops the
/// message unanswered (it stopped), so that nobody waits for it for ever.
struct Answer(Option<OnStored>);

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(AppError::Unavailable));
        }
    }
}

/// Handle to the writer's pipelines; cheap to clone.
#[derive(Clone)]
pub struct MessageWriter {
    shards: Arc<[mpsc::Sender<Job>]>,
    breaker: Breaker,
    announcer: Arc<std::sync::OnceLock<Arc<dyn Announcer>>>,
}

/// What the desk tells agents about stored messages: the writer broadcasts each message to
/// its room itself, then lets the announcer (set once, see [`MessageWriter::set_announcer`])
/// update the agents' view of the session, in the same order. The store does not know the
/// desk; the desk plugs in here.
pub trait Announcer: Send + Sync + 'static {
    /// A new message was stored and broadcast.
    fn stored<'a>(&'a self, stored: &'a Stored) -> futures::future::BoxFuture<'a, ()>;
    /// A visitor's message reopened a resolved session.
    fn reopened<'a>(&'a self, r: &'a Reopened) -> futures::future::BoxFuture<'a, ()>;
}

impl MessageWriter {
    /// Starts the writer with one pipeline (the only choice on SQLite).
    pub fn spawn(
        db: DatabaseConnection,
        hub: Hub,
        capacity: usize,
        batch_max: usize,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        Self::spawn_sharded(db, hub, capacity, batch_max, 1)
    }

    /// Starts `shards` pipelines (forced to 1 on SQLite); `capacity` is shared out among them.
    /// The task ends when every pipeline has stored and broadcast what it was given.
    pub fn spawn_sharded(
        db: DatabaseConnection,
        hub: Hub,
        capacity: usize,
        batch_max: usize,
        shards: usize,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        Self::spawn_recording(
            db,
            hub,
            capacity,
            batch_max,
            shards,
            Subscriptions::default(),
        )
    }

    /// [`spawn_sharded`](Self::spawn_sharded), writing the webhook outbox with each batch
    /// while `outbox` says an endpoint listens to `message.created` (or to the status change
    /// of a reopened session).
    pub fn spawn_recording(
        db: DatabaseConnection,
        hub: Hub,
        capacity: usize,
        batch_max: usize,
        shards: usize,
        outbox: Subscriptions,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let shards = if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
            1
        } else {
            shards.max(1)
        };
        let per_shard = capacity.max(1).div_ceil(shards);
        let breaker = Breaker::default();
        let announcer: Arc<std::sync::OnceLock<Arc<dyn Announcer>>> = Arc::default();
        let mut senders = Vec::with_capacity(shards);
        let mut tasks = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = mpsc::channel(per_shard);
            senders.push(tx);
            tasks.push(tokio::spawn(run(
                Store {
                    db: db.clone(),
                    breaker: breaker.clone(),
                    outbox: outbox.clone(),
                },
                hub.clone(),
                rx,
                batch_max.max(1),
                announcer.clone(),
            )));
        }
        let task = tokio::spawn(async move {
            for t in tasks {
                if let Err(e) = t.await {
                    tracing::error!(error = %e, "message writer failed");
                }
            }
        });
        (
            MessageWriter {
                shards: senders.into(),
                breaker,
                announcer,
            },
            task,
        )
    }

    /// Sets what the agents are told about stored messages (once; until then, nothing).
    pub fn set_announcer(&self, a: Arc<dyn Announcer>) {
        let _ = self.announcer.set(a);
    }

    /// The index of a session's pipeline: always the same one for the same session.
    pub fn shard_of(&self, session_pk: &str) -> usize {
        let n = self.shards.len();
        if n == 1 {
            return 0;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        session_pk.hash(&mut h);
        (h.finish() % n as u64) as usize
    }

    fn shard(&self, session_pk: &str) -> &mpsc::Sender<Job> {
        &self.shards[self.shard_of(session_pk)]
    }

    /// Stores a message and broadcasts it to its session; resolves after the commit.
    pub async fn store(&self, message: NewMessage, except: Option<Except>) -> AppResult<Stored> {
        self.submit(message, except)?.await
    }

    /// Queues a message for its session's pipeline now, and returns what resolves after the
    /// commit. Messages submitted one after the other for the same session get their `seq`
    /// in that order: a connection's lane submits in the order the connection sent.
    pub fn submit(&self, message: NewMessage, except: Option<Except>) -> AppResult<Receipt> {
        let (reply, rx) = oneshot::channel();
        self.queue(message, except, Reply::Wait(reply))?;
        Ok(Receipt(rx))
    }

    /// Like [`submit`](Self::submit), but the writer itself calls `then` with the outcome
    /// once the message is committed and broadcast (no task waits for it). When the message
    /// is refused at once, `then` is handed back with the error.
    pub fn submit_then(
        &self,
        message: NewMessage,
        except: Option<Except>,
        then: OnStored,
    ) -> Result<(), (AppError, OnStored)> {
        // A place in the queue first: a refusal hands the callback back, never calls it.
        let permit = match self
            .admit()
            .and_then(|()| self.reserve(&message.session_pk))
        {
            Ok(permit) => permit,
            Err(e) => return Err((e, then)),
        };
        permit.send(Job::Store {
            message: Box::new(message),
            except,
            reply: Reply::Call(Answer(Some(then))),
        });
        Ok(())
    }

    /// A place in the session's pipeline queue, or why not.
    fn reserve(&self, session_pk: &str) -> AppResult<mpsc::Permit<'_, Job>> {
        self.shard(session_pk).try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => AppError::Overloaded,
            mpsc::error::TrySendError::Closed(()) => AppError::Unavailable,
        })
    }

    /// Refusals that need no queue: the database breaker open.
    fn admit(&self) -> AppResult<()> {
        if self.breaker.is_open() {
            return Err(AppError::Overloaded);
        }
        Ok(())
    }

    fn queue(&self, message: NewMessage, except: Option<Except>, reply: Reply) -> AppResult<()> {
        self.admit()?;
        self.reserve(&message.session_pk)?.send(Job::Store {
            message: Box::new(message),
            except,
            reply,
        });
        Ok(())
    }

    /// Resolves once everything queued before this call is stored and broadcast.
    pub async fn flush(&self) {
        let mut waits = Vec::with_capacity(self.shards.len());
        for tx in self.shards.iter() {
            let (done, rx) = oneshot::channel();
            if tx.send(Job::Flush(done)).await.is_ok() {
                waits.push(rx);
            }
        }
        for rx in waits {
            let _ = rx.await;
        }
    }

    /// Messages waiting to be stored.
    pub fn queued(&self) -> usize {
        self.shards
            .iter()
            .map(|tx| tx.max_capacity() - tx.capacity())
            .sum()
    }

    /// The database breaker (open while the database is unreachable).
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Number of pipelines.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }
}

/// The answer to a submitted message: its stored form once committed, or why not.
pub struct Receipt(oneshot::Receiver<AppResult<Stored>>);

impl std::future::Future for Receipt {
    type Output = AppResult<Stored>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(AppError::Unavailable)))
    }
}

/// A committed batch on its way to the broadcaster.
struct Committed {
    outcome: BatchOutcome,
    waiters: Vec<(Option<Except>, Reply)>,
    flushes: Vec<oneshot::Sender<()>>,
}

/// The commit stage: takes what is queued, stores it in one transaction and hands the result
/// to the broadcast stage, then takes the next batch at once. Batch k+1 commits while batch k
/// is being broadcast; the broadcast stage takes batches in commit order, so each session's
/// messages still go out in `seq` order, and only after their commit.
async fn run(
    store: Store,
    hub: Hub,
    mut rx: mpsc::Receiver<Job>,
    batch_max: usize,
    announcer: Arc<std::sync::OnceLock<Arc<dyn Announcer>>>,
) {
    // One committed batch may wait while the previous one is broadcast: a slow broadcast
    // holds back the commits, and the bounded job queue then answers `overloaded`.
    let (done_tx, done_rx) = mpsc::channel::<Committed>(1);
    let broadcaster = tokio::spawn(broadcast(hub, announcer, done_rx));
    let mut jobs = Vec::with_capacity(batch_max);
    while rx.recv_many(&mut jobs, batch_max).await > 0 {
        let mut batch = Vec::with_capacity(jobs.len());
        let mut waiters = Vec::with_capacity(jobs.len());
        let mut flushes = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Store {
                    message,
                    except,
                    reply,
                } => {
                    batch.push(*message);
                    waiters.push((except, reply));
                }
                Job::Flush(done) => flushes.push(done),
            }
        }
        let outcome = if batch.is_empty() {
            BatchOutcome::default()
        } else {
            let started = std::time::Instant::now();
            let outcome = store_with_fallback(&store, &batch).await;
            metrics::record_write_batch(batch.len(), started.elapsed());
            outcome
        };
        let committed = Committed {
            outcome,
            waiters,
            flushes,
        };
        if done_tx.send(committed).await.is_err() {
            tracing::error!("message broadcaster stopped; writer stops");
            break;
        }
    }
    drop(done_tx);
    // Shutdown waits until every committed message has been broadcast and answered.
    if let Err(e) = broadcaster.await {
        tracing::error!(error = %e, "message broadcaster failed");
    }
}

/// The broadcast stage: sends each committed batch's messages to their sessions and agents,
/// in commit order, and answers the senders.
async fn broadcast(
    hub: Hub,
    announcer: Arc<std::sync::OnceLock<Arc<dyn Announcer>>>,
    mut rx: mpsc::Receiver<Committed>,
) {
    while let Some(Committed {
        outcome,
        waiters,
        flushes,
    }) = rx.recv().await
    {
        for (result, (except, reply)) in outcome.results.into_iter().zip(waiters) {
            if let Ok(stored) = &result {
                if !stored.duplicate {
                    if stored.message.private {
                        hub.to_staff_in_session(
                            &stored.message.session_id,
                            "message",
                            &stored.message,
                            except,
                        )
                        .await;
                    } else {
                        hub.to_session(
                            &stored.message.session_id,
                            "message",
                            &stored.message,
                            except,
                        )
                        .await;
                    }
                    if let Some(a) = announcer.get() {
                        a.stored(stored).await;
                    }
                    if stored.message.sender == "user" {
                        let m = &stored.message;
                        hub.to_dashboards(
                            "new-message",
                            &SessionMessage {
                                session_id: &m.session_id,
                                message: m,
                            },
                        )
                        .await;
                    }
                    hub.sessions_changed();
                    metrics::message_stored();
                }
            }
            reply.send(result);
        }
        if let Some(a) = announcer.get() {
            for r in &outcome.reopened {
                a.reopened(r).await;
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// What the commit stage stores with: the database, its breaker, and what the webhooks
/// listen to (read once per batch).
struct Store {
    db: DatabaseConnection,
    breaker: Breaker,
    outbox: Subscriptions,
}

/// Stores the batch in one transaction; if that fails, stores each message on its own so
/// that one bad message cannot fail the others. When the database cannot be reached, the
/// whole batch fails at once (`overloaded`, nothing stored: a retry with the same
/// `clientMsgId` is safe) and the breaker opens.
async fn store_with_fallback(store: &Store, batch: &[NewMessage]) -> BatchOutcome {
    let (db, breaker) = (&store.db, &store.breaker);
    let interest = store.outbox.now();
    let failed = match service::store_batch_recording(db, batch, interest).await {
        Ok(outcome) => {
            if interest != Interest::NONE {
                store.outbox.written();
            }
            return outcome;
        }
        Err(e) => e,
    };
    if crate::db::is_unreachable(&failed) {
        breaker.trip(db);
        tracing::warn!(error = %failed, size = batch.len(), "database unreachable: batch refused");
        return BatchOutcome {
            results: batch.iter().map(|_| Err(AppError::Overloaded)).collect(),
            ..BatchOutcome::default()
        };
    }
    let mut out = BatchOutcome::default();
    if let [m] = batch {
        absorb(
            &mut out,
            store_again_if_raced(db, m, failed, interest).await,
        );
        if interest != Interest::NONE {
            store.outbox.written();
        }
        return out;
    }
    tracing::warn!(error = %failed, size = batch.len(), "batch commit failed; storing one by one");
    for m in batch {
        if breaker.is_open() {
            out.results.push(Err(AppError::Overloaded));
            continue;
        }
        let one = match service::store_batch_recording(db, std::slice::from_ref(m), interest).await
        {
            Err(e) => store_again_if_raced(db, m, e, interest).await,
            stored => stored,
        };
        if let Err(e) = &one {
            if crate::db::is_unreachable(e) {
                breaker.trip(db);
            }
        }
        absorb(&mut out, one);
    }
    if interest != Interest::NONE {
        store.outbox.written();
    }
    out
}

/// Adds one message's outcome to the batch's.
fn absorb(out: &mut BatchOutcome, one: Result<BatchOutcome, sea_orm::DbErr>) {
    match one {
        Ok(mut one) => {
            out.results
                .push(one.results.pop().unwrap_or(Err(AppError::Unavailable)));
            out.reopened.append(&mut one.reopened);
        }
        Err(e) => out.results.push(Err(AppError::from(e))),
    }
}

/// A message whose clientMsgId another node stored after the statement's snapshot fails the
/// unique index; tried once more, the statement finds that message and answers it as a
/// duplicate. Any other error stands.
async fn store_again_if_raced(
    db: &DatabaseConnection,
    m: &NewMessage,
    e: sea_orm::DbErr,
    interest: Interest,
) -> Result<BatchOutcome, sea_orm::DbErr> {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            tracing::debug!(error = %e, "clientMsgId stored meanwhile; storing again");
            service::store_batch_recording(db, std::slice::from_ref(m), interest).await
        }
        _ => Err(e),
    }
}
