//! Message storage: the only place with SQL for messages. `store_batch` is the group commit:
//! it assigns each message its gap-free `seq` by advancing the session's `last_seq` under a
//! row lock (correct across nodes too), honours `clientMsgId` idempotency, and inserts the
//! batch. On PostgreSQL all of it is one statement (one round trip per batch, see
//! [`STORE_BATCH_PG`]); on SQLite it is a short transaction of a few statements.

use std::collections::HashMap;

use entity::{chat_session, message};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
};

pub use super::store_pg::STORE_BATCH_PG;
use super::types::{AiSource, FileUrl, Media, MessageDto, MessageKind, Sender};
use crate::error::{AppError, AppResult};
use crate::outbox::{Event, Interest, Pending, SessionData};
use entity::chat_session::SessionStatus;

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub session_pk: String,
    pub session_id: String,
    pub sender: Sender,
    pub content: String,
    pub is_ai: bool,
    pub client_msg_id: Option<String>,
    pub author_id: Option<String>,
    /// A preset message id (the assistant streams under the id its message will have).
    pub id: Option<String>,
    /// An assistant reply cut short.
    pub interrupted: bool,
    /// `text` unless the message carries a file.
    pub kind: MessageKind,
    /// The file of a non-text message (see [`Media`], which checks the pair).
    pub file_url: Option<FileUrl>,
    /// A private note: staff-only (never the visitor's side, the plain-WebSocket listeners
    /// or the assistant); it neither counts as the first response nor reopens.
    pub private: bool,
    /// The staff author's display name, stored with the message.
    pub author_name: Option<String>,
    /// The uploaded file it carries, as the JSON kept with it (`messages.attachment`).
    pub attachment: Option<String>,
    /// What produced an automatic message (with `is_ai`).
    pub source: Option<AiSource>,
}

impl NewMessage {
    /// A plain message from `sender`.
    pub fn new(session_pk: String, session_id: String, sender: Sender, content: String) -> Self {
        NewMessage {
            session_pk,
            session_id,
            sender,
            content,
            is_ai: false,
            client_msg_id: None,
            author_id: None,
            id: None,
            interrupted: false,
            kind: MessageKind::Text,
            file_url: None,
            private: false,
            author_name: None,
            attachment: None,
            source: None,
        }
    }

    /// This message with the type and file a client gave (checked by [`Media`]).
    pub fn with_media(mut self, media: Media) -> Self {
        self.kind = media.kind;
        self.file_url = media.file_url;
        self.attachment = media.attachment.as_ref().map(|a| a.to_stored());
        self
    }
}

/// The outcome of storing one message.
#[derive(Debug, Clone)]
pub struct Stored {
    pub message: MessageDto,
    /// True when a message with the same `clientMsgId` was already stored: nothing new.
    pub duplicate: bool,
    /// Messages the staff side has not read yet (after this one).
    pub unread: i64,
}

/// A resolved session that a visitor's new message reopened.
#[derive(Debug, Clone)]
pub struct Reopened {
    pub session_id: String,
    pub status: SessionStatus,
    pub assignee_id: Option<String>,
}

/// What one group-commit transaction did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// One result per input message, in input order.
    pub results: Vec<AppResult<Stored>>,
    pub reopened: Vec<Reopened>,
}

/// Stores a batch atomically; one result per input, in input order.
pub async fn store_batch<C>(db: &C, batch: &[NewMessage]) -> Result<BatchOutcome, sea_orm::DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    store_batch_recording(db, batch, Interest::NONE).await
}

/// [`store_batch`], writing the webhook outbox in the same transaction when `interest` says
/// an endpoint listens: `message.created` for each new message, `session.status_changed`
/// for each session a visitor's message reopened (one extra statement per batch). On
/// PostgreSQL the batch's one statement then runs in a transaction with the outbox INSERT;
/// when nobody listens it runs alone, as before.
pub async fn store_batch_recording<C>(
    db: &C,
    batch: &[NewMessage],
    interest: Interest,
) -> Result<BatchOutcome, sea_orm::DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    if batch.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let records = interest.wants_any(&[Event::MessageCreated, Event::SessionStatusChanged]);
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        if !records {
            return super::store_pg::store_batch_postgres(db, batch).await;
        }
        let txn = db.begin().await?;
        let outcome = super::store_pg::store_batch_postgres(&txn, batch).await?;
        let stored = outcome.results.iter().filter_map(|r| r.as_ref().ok());
        record_batch(&txn, interest, stored, &outcome.reopened).await?;
        txn.commit().await?;
        return Ok(outcome);
    }
    super::store_sqlite::store_batch(db, batch, interest).await
}

/// Writes the outbox rows of a stored batch (inside its transaction): its new messages, as
/// the REST API serves them, and the sessions it reopened.
pub(super) async fn record_batch<'a, C: ConnectionTrait>(
    txn: &C,
    interest: Interest,
    stored: impl Iterator<Item = &'a Stored>,
    reopened: &[Reopened],
) -> Result<(), sea_orm::DbErr> {
    let mut events = Vec::new();
    if interest.wants(Event::MessageCreated) {
        // The message's id only: the body is rendered from the stored message when sent.
        for s in stored.filter(|s| !s.duplicate) {
            events.push(Pending::message(&s.message.id));
        }
    }
    if interest.wants(Event::SessionStatusChanged) && !reopened.is_empty() {
        let ids: Vec<String> = reopened.iter().map(|r| r.session_id.clone()).collect();
        let rows = chat_session::Entity::find()
            .filter(chat_session::Column::SessionId.is_in(ids))
            .all(txn)
            .await?;
        for s in rows {
            let mut data = SessionData::of(&s);
            data.previous_status = Some(SessionStatus::Resolved.as_str().to_string());
            events.push(
                Pending::new(Event::SessionStatusChanged, &s.updated_at, &data)
                    .map_err(crate::outbox::encode_error)?,
            );
        }
    }
    crate::outbox::service::write(txn, super::types::now_millis(), &events).await
}

/// The answer to a repeat of a clientMsgId within one batch, from its first occurrence's.
pub(super) fn repeat_of(first: Option<&AppResult<Stored>>) -> AppResult<Stored> {
    match first {
        Some(Ok(s)) => Ok(Stored {
            message: s.message.clone(),
            duplicate: true,
            unread: 0,
        }),
        Some(Err(AppError::SessionNotFound)) => Err(AppError::SessionNotFound),
        _ => Err(AppError::Internal(anyhow::anyhow!(
            "message left unresolved"
        ))),
    }
}

/// Who reads: every read of messages names it, so that no path to the visitor's side can
/// forget to leave the private notes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Staff: every message, private notes included.
    Staff,
    /// Anyone else (the visitor's side, the seed protocols, the assistant's context): no
    /// private notes.
    Public,
}

impl Audience {
    /// The condition this audience puts on `messages`.
    fn filter(self) -> Condition {
        match self {
            Audience::Staff => Condition::all(),
            Audience::Public => Condition::all().add(message::Column::Private.eq(false)),
        }
    }
}

/// Up to `limit` messages with `seq > after_seq`, oldest first, and whether more follow.
pub async fn messages_after<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    after_seq: i64,
    limit: u64,
    audience: Audience,
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut rows = message::Entity::find()
        .filter(message::Column::ChatSessionId.eq(session_pk))
        .filter(message::Column::Seq.gt(after_seq))
        .filter(audience.filter())
        .order_by_asc(message::Column::Seq)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Rows fetched per query when a read is bounded by bytes: a page stops at its byte budget
/// with at most this many rows read past what it returns.
const BUDGET_CHUNK: u64 = 50;

/// Messages with `seq > after_seq`, oldest first: at most `limit`, and no more content than
/// `max_bytes` (always at least one message, whatever its size), and whether more follow.
/// Read in chunks so that the rows held in memory stay near the budget whatever the session
/// holds.
pub async fn messages_after_within<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    after_seq: i64,
    limit: u64,
    max_bytes: usize,
    audience: Audience,
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut out: Vec<message::Model> = Vec::new();
    let mut bytes = 0usize;
    let mut after = after_seq;
    loop {
        let want = Ord::min(limit - out.len() as u64, BUDGET_CHUNK);
        let (rows, more) = messages_after(db, session_pk, after, want, audience).await?;
        for m in rows {
            if !out.is_empty() && bytes + m.content.len() > max_bytes {
                return Ok((out, true));
            }
            bytes += m.content.len();
            after = m.seq;
            out.push(m);
        }
        if !more {
            return Ok((out, false));
        }
        if out.len() as u64 >= limit {
            return Ok((out, true));
        }
    }
}

/// Like [`messages_between`] (paging backwards from `before_seq`, after `floor`), with no
/// more content than `max_bytes` (always at least one message): `true` when older ones
/// remain.
pub async fn messages_before_within<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    floor: i64,
    before_seq: Option<i64>,
    limit: u64,
    max_bytes: usize,
    audience: Audience,
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut out: Vec<message::Model> = Vec::new();
    let mut bytes = 0usize;
    let mut before = before_seq;
    let more = loop {
        let want = Ord::min(limit - out.len() as u64, BUDGET_CHUNK);
        let (rows, more) = messages_between(db, session_pk, floor, before, want, audience).await?;
        let mut full = false;
        for m in rows.into_iter().rev() {
            if !out.is_empty() && bytes + m.content.len() > max_bytes {
                full = true;
                break;
            }
            bytes += m.content.len();
            before = Some(m.seq);
            out.push(m);
        }
        if full {
            break true;
        }
        if !more {
            break false;
        }
        if out.len() as u64 >= limit {
            break true;
        }
    };
    out.reverse();
    Ok((out, more))
}

/// The latest messages of a session, oldest first: at most `limit`, no more content than
/// `max_bytes` (possibly none), read newest first in chunks.
pub async fn latest_within<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    limit: u64,
    max_bytes: usize,
    audience: Audience,
) -> AppResult<Vec<message::Model>> {
    let mut out: Vec<message::Model> = Vec::new();
    let mut bytes = 0usize;
    let mut before = None;
    'read: while (out.len() as u64) < limit {
        let want = Ord::min(limit - out.len() as u64, BUDGET_CHUNK);
        let (rows, more) = messages_between(db, session_pk, 0, before, want, audience).await?;
        for m in rows.into_iter().rev() {
            if bytes + m.content.len() > max_bytes {
                break 'read;
            }
            bytes += m.content.len();
            before = Some(m.seq);
            out.push(m);
        }
        if !more {
            break;
        }
    }
    out.reverse();
    Ok(out)
}

/// Up to `limit` messages with `seq < before_seq` (the latest ones when `None`), oldest
/// first, and whether older ones exist.
pub async fn messages_before<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    before_seq: Option<i64>,
    limit: u64,
    audience: Audience,
) -> AppResult<(Vec<message::Model>, bool)> {
    messages_between(db, session_pk, 0, before_seq, limit, audience).await
}

/// Like [`messages_before`], counting only messages with `seq > floor` (a visitor's view
/// after they cleared their history).
pub async fn messages_between<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    floor: i64,
    before_seq: Option<i64>,
    limit: u64,
    audience: Audience,
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut q = message::Entity::find()
        .filter(message::Column::ChatSessionId.eq(session_pk))
        .filter(audience.filter());
    if floor > 0 {
        q = q.filter(message::Column::Seq.gt(floor));
    }
    if let Some(b) = before_seq {
        q = q.filter(message::Column::Seq.lt(b));
    }
    let mut rows = q
        .order_by_desc(message::Column::Seq)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    rows.reverse();
    Ok((rows, more))
}

/// The latest `per_session` messages of each given session, oldest first per session.
pub async fn latest_for_sessions<C: ConnectionTrait>(
    db: &C,
    sessions: &[chat_session::Model],
    per_session: u64,
) -> AppResult<HashMap<String, Vec<message::Model>>> {
    let mut out: HashMap<String, Vec<message::Model>> = HashMap::new();
    // A session without messages (`last_seq` 0, e.g. one just created) needs no query.
    let with_messages: Vec<&chat_session::Model> =
        sessions.iter().filter(|s| s.last_seq > 0).collect();
    if with_messages.is_empty() {
        return Ok(out);
    }
    let mut cond = Condition::any();
    for s in with_messages {
        let floor = Ord::max(s.last_seq - per_session as i64, 0);
        cond = cond.add(
            Condition::all()
                .add(message::Column::ChatSessionId.eq(s.id.clone()))
                .add(message::Column::Seq.gt(floor)),
        );
    }
    let rows = message::Entity::find()
        .filter(cond)
        .order_by_asc(message::Column::ChatSessionId)
        .order_by_asc(message::Column::Seq)
        .all(db)
        .await?;
    for m in rows {
        out.entry(m.chat_session_id.clone()).or_default().push(m);
    }
    Ok(out)
}

/// How many stored messages of a session have `after < seq <= upto`.
pub async fn count_between<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    after: i64,
    upto: i64,
    audience: Audience,
) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(message::Entity::find()
        .filter(message::Column::ChatSessionId.eq(session_pk))
        .filter(audience.filter())
        .filter(message::Column::Seq.gt(after))
        .filter(message::Column::Seq.lte(upto))
        .count(db)
        .await?)
}

/// Erases every message of a session (the session and its `seq` counter stay).
pub async fn clear<C: ConnectionTrait>(db: &C, session_pk: &str) -> AppResult<u64> {
    let res = message::Entity::delete_many()
        .filter(message::Column::ChatSessionId.eq(session_pk))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Messages by internal id, as `GET /api/chats/:id` serves them (each with its session's
/// public id); those that no longer exist (erased) are absent.
pub async fn by_ids<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> AppResult<HashMap<String, MessageDto>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // Two lookups by primary key rather than a join: under a write load the planner
    // chose to hash the whole (much updated) sessions table for a hundred messages.
    let rows = message::Entity::find()
        .filter(message::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?;
    let mut pks: Vec<String> = rows.iter().map(|m| m.chat_session_id.clone()).collect();
    pks.sort_unstable();
    pks.dedup();
    let public: HashMap<String, String> = chat_session::Entity::find()
        .select_only()
        .column(chat_session::Column::Id)
        .column(chat_session::Column::SessionId)
        .filter(chat_session::Column::Id.is_in(pks))
        .into_tuple::<(String, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|m| {
            let sid = public.get(&m.chat_session_id)?.clone();
            Some((m.id.clone(), MessageDto::from_model(m, &sid)))
        })
        .collect())
}
