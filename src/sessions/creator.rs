//! Group creation of sessions. Every `init_session` that starts a new conversation needs one
//! `INSERT` and its commit; when many visitors arrive at once (a page with the widget goes
//! live, or a node restarts and every widget reconnects) those commits are most of the work.
//! The creator task takes every request waiting when it is free (up to `batch_max`, no
//! artificial wait) and inserts them in one statement. Each caller gets its row only after the
//! commit. A batch that fails is retried row by row, so that one bad row fails alone.

use entity::chat_session;
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

use super::service::{self, NewSession};
use crate::error::{AppError, AppResult};
use crate::outbox::Subscriptions;

type Reply = oneshot::Sender<AppResult<chat_session::Model>>;

/// Handle to the creator task; cheap to clone.
#[derive(Clone)]
pub struct SessionCreator {
    tx: mpsc::Sender<(NewSession, Reply)>,
}

impl SessionCreator {
    /// Starts the creator task. `capacity` bounds the requests waiting for it: beyond that a
    /// new session is answered `overloaded` at once.
    /// Each batch writes `session.created` to the webhook outbox in its transaction while
    /// `outbox` says an endpoint listens.
    pub fn spawn(
        db: DatabaseConnection,
        capacity: usize,
        batch_max: usize,
        outbox: Subscriptions,
    ) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(run(db, rx, batch_max.max(1), outbox));
        SessionCreator { tx }
    }

    /// Creates a session; resolves after its commit.
    pub async fn create(&self, new: NewSession) -> AppResult<chat_session::Model> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send((new, reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => AppError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => AppError::Unavailable,
        })?;
        rx.await.map_err(|_| AppError::Unavailable)?
    }
}

async fn run(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<(NewSession, Reply)>,
    batch_max: usize,
    outbox: Subscriptions,
) {
    let mut jobs = Vec::with_capacity(batch_max);
    while rx.recv_many(&mut jobs, batch_max).await > 0 {
        let (news, replies): (Vec<NewSession>, Vec<Reply>) = jobs.drain(..).unzip();
        let interest = outbox.now();
        let results = match service::create_many_recording(&db, &news, interest).await {
            Ok(results) => results,
            Err(e) if news.len() == 1 => vec![Err(AppError::from(e))],
            Err(e) => {
                tracing::warn!(error = %e, size = news.len(), "session batch failed; creating one by one");
                let mut out = Vec::with_capacity(news.len());
                for new in news {
                    let one =
                        service::create_many_recording(&db, std::slice::from_ref(&new), interest)
                            .await
                            .map_err(AppError::from)
                            .and_then(|mut r| r.pop().unwrap_or(Err(AppError::Overloaded)));
                    out.push(one);
                }
                out
            }
        };
        if interest.wants(crate::outbox::Event::SessionCreated) {
            outbox.written();
        }
        for (result, reply) in results.into_iter().zip(replies) {
            let _ = reply.send(result);
        }
    }
}
