//! Message storage: the only place with SQL for messages. `store_batch` is the group-commit
//! transaction: it assigns each message its gap-free `seq` by advancing the session's
//! `last_seq` under a row lock (correct across nodes too), honours `clientMsgId` idempotency,
//! and inserts the batch in one statement.

use std::collections::{BTreeMap, HashMap};

use entity::{chat_session, message};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};

use super::types::{now_millis, MessageDto, Sender};
use crate::error::{AppError, AppResult};

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
        }
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
    pub status: String,
    pub assignee_id: Option<String>,
}

/// What one group-commit transaction did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// One result per input message, in input order.
    pub results: Vec<AppResult<Stored>>,
    pub reopened: Vec<Reopened>,
}

/// Stores a batch in one transaction; one result per input, in input order.
pub async fn store_batch<C>(db: &C, batch: &[NewMessage]) -> Result<BatchOutcome, sea_orm::DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Sqlite {
        // Take SQLite's write lock first: a deferred transaction that reads before it writes
        // fails at once with SQLITE_BUSY_SNAPSHOT when another write commits in between.
        if let Some(first) = batch.first() {
            txn.execute(
                Query::update()
                    .table(chat_session::Entity)
                    .value(
                        chat_session::Column::LastSeq,
                        Expr::col(chat_session::Column::LastSeq),
                    )
                    .and_where(chat_session::Column::Id.eq(first.session_pk.clone())),
            )
            .await?;
        }
    }
    let mut results: Vec<Option<AppResult<Stored>>> = (0..batch.len()).map(|_| None).collect();

    // 1. Exactly-once: a clientMsgId already stored (or earlier in this batch) returns that message.
    let keyed: Vec<(usize, &String)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.client_msg_id.as_ref().map(|k| (i, k)))
        .collect();
    let mut known: HashMap<(String, String), MessageDto> = HashMap::new();
    if !keyed.is_empty() {
        // Two IN lists (the unique index serves them); pairs that do not belong together are
        // filtered out below.
        let pks: std::collections::HashSet<String> = keyed
            .iter()
            .map(|(i, _)| batch[*i].session_pk.clone())
            .collect();
        let keys: std::collections::HashSet<String> =
            keyed.iter().map(|(_, k)| (*k).clone()).collect();
        let wanted: std::collections::HashSet<(String, String)> = keyed
            .iter()
            .map(|(i, k)| (batch[*i].session_pk.clone(), (*k).clone()))
            .collect();
        let cond = Condition::all()
            .add(message::Column::ChatSessionId.is_in(pks))
            .add(message::Column::ClientMsgId.is_in(keys));
        for m in message::Entity::find().filter(cond).all(&txn).await? {
            let sid = batch
                .iter()
                .find(|b| b.session_pk == m.chat_session_id)
                .map(|b| b.session_id.clone())
                .unwrap_or_default();
            let key = (
                m.chat_session_id.clone(),
                m.client_msg_id.clone().unwrap_or_default(),
            );
            if wanted.contains(&key) {
                known.insert(key, MessageDto::from_model(m, &sid));
            }
        }
    }

    // 2. Group what is new by session (sorted: sessions are locked in one order, no deadlock).
    let mut by_session: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut first_in_batch: HashMap<(String, String), usize> = HashMap::new();
    for (i, m) in batch.iter().enumerate() {
        if let Some(key) = &m.client_msg_id {
            let k = (m.session_pk.clone(), key.clone());
            if let Some(dto) = known.get(&k) {
                results[i] = Some(Ok(Stored {
                    message: dto.clone(),
                    duplicate: true,
                    unread: 0,
                }));
                continue;
            }
            if first_in_batch.contains_key(&k) {
                continue; // resolved after insert, from the first occurrence
            }
            first_in_batch.insert(k, i);
        }
        by_session.entry(m.session_pk.as_str()).or_default().push(i);
    }

    let now = now_millis();
    let mut rows = Vec::new();
    let advanced = advance_sessions(&txn, batch, &by_session, now).await?;
    for (pk, idxs) in &by_session {
        let k = idxs.len() as i64;
        let Some(&(last, admin_read)) = advanced.get(*pk) else {
            for &i in idxs {
                results[i] = Some(Err(AppError::SessionNotFound));
            }
            continue;
        };
        for (seq, &i) in (last - k + 1..).zip(idxs.iter()) {
            let m = &batch[i];
            let model = message::Model {
                id: m
                    .id
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
                chat_session_id: m.session_pk.clone(),
                seq,
                sender: m.sender.as_str().to_string(),
                content: m.content.clone(),
                is_ai: m.is_ai,
                client_msg_id: m.client_msg_id.clone(),
                author_id: m.author_id.clone(),
                interrupted: m.interrupted,
                created_at: now,
            };
            results[i] = Some(Ok(Stored {
                message: MessageDto::from_model(model.clone(), &m.session_id),
                duplicate: false,
                unread: Ord::max(seq - admin_read, 0),
            }));
            rows.push(message::ActiveModel {
                id: Set(model.id),
                chat_session_id: Set(model.chat_session_id),
                seq: Set(model.seq),
                sender: Set(model.sender),
                content: Set(model.content),
                is_ai: Set(model.is_ai),
                client_msg_id: Set(model.client_msg_id),
                author_id: Set(model.author_id),
                interrupted: Set(model.interrupted),
                created_at: Set(model.created_at),
            });
        }
    }
    if !rows.is_empty() {
        message::Entity::insert_many(rows).exec(&txn).await?;
    }
    // A visitor writing in a resolved session reopens it (to its assignee, if any).
    let visitor_sessions: Vec<String> = by_session
        .iter()
        .filter(|(_, idxs)| {
            idxs.iter()
                .any(|&i| batch[i].sender == Sender::User && !batch[i].is_ai)
        })
        .map(|(pk, _)| pk.to_string())
        .collect();
    let mut reopened = Vec::new();
    if !visitor_sessions.is_empty() {
        let reopen = Query::update()
            .table(chat_session::Entity)
            .value(
                chat_session::Column::Status,
                Expr::case(
                    Expr::col(chat_session::Column::AssigneeId).is_null(),
                    "open",
                )
                .finally("assigned"),
            )
            .and_where(chat_session::Column::Id.is_in(visitor_sessions))
            .and_where(chat_session::Column::Status.eq("resolved"))
            .returning(Query::returning().columns([
                chat_session::Column::SessionId,
                chat_session::Column::Status,
                chat_session::Column::AssigneeId,
            ]))
            .to_owned();
        for row in txn.query_all(&reopen).await? {
            reopened.push(Reopened {
                session_id: row.try_get("", "session_id")?,
                status: row.try_get("", "status")?,
                assignee_id: row.try_get("", "assignee_id")?,
            });
        }
    }
    txn.commit().await?;

    // Repeats of a clientMsgId within the batch get the first occurrence's message.
    for (i, m) in batch.iter().enumerate() {
        if results[i].is_none() {
            let first = m
                .client_msg_id
                .as_ref()
                .and_then(|k| first_in_batch.get(&(m.session_pk.clone(), k.clone())))
                .and_then(|&f| results[f].as_ref());
            let repeat = match first {
                Some(Ok(s)) => Ok(Stored {
                    message: s.message.clone(),
                    duplicate: true,
                    unread: 0,
                }),
                Some(Err(AppError::SessionNotFound)) => Err(AppError::SessionNotFound),
                _ => Err(AppError::Internal(anyhow::anyhow!(
                    "message left unresolved"
                ))),
            };
            results[i] = Some(repeat);
        }
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(AppError::Internal(anyhow::anyhow!("unresolved")))))
        .collect();
    Ok(BatchOutcome { results, reopened })
}

/// Advances `last_seq` of every session of the batch by its number of new messages, in one
/// statement (`UPDATE ... FROM (VALUES ...)`), and returns `(last_seq, admin_read_seq)` per
/// session id. On PostgreSQL the rows are locked first in id order, so that nodes writing to
/// the same sessions never deadlock.
async fn advance_sessions<C: ConnectionTrait>(
    txn: &C,
    batch: &[NewMessage],
    by_session: &BTreeMap<&str, Vec<usize>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<HashMap<String, (i64, i64)>, sea_orm::DbErr> {
    use sea_orm::{DbBackend, Statement, Value};
    let mut out = HashMap::new();
    if by_session.is_empty() {
        return Ok(out);
    }
    let backend = txn.get_database_backend();
    let pg = backend == DbBackend::Postgres;
    if pg {
        let lock = Query::select()
            .column(chat_session::Column::Id)
            .from(chat_session::Entity)
            .and_where(chat_session::Column::Id.is_in(by_session.keys().map(|k| k.to_string())))
            .order_by(chat_session::Column::Id, sea_orm::sea_query::Order::Asc)
            .lock(sea_orm::sea_query::LockType::Update)
            .to_owned();
        txn.query_all(&lock).await?;
    }
    let mut values: Vec<Value> = vec![now.into()];
    let mut tuples = Vec::with_capacity(by_session.len());
    for (pk, idxs) in by_session {
        let staff = idxs
            .iter()
            .any(|&i| batch[i].sender == Sender::Admin && !batch[i].is_ai);
        let n = values.len();
        let (a, b, c) = if pg {
            (
                format!("${}", n + 1),
                format!("${}", n + 2),
                format!("${}", n + 3),
            )
        } else {
            ("?".into(), "?".into(), "?".into())
        };
        tuples.push(if pg {
            format!("({a}::varchar, {b}::bigint, {c}::int)")
        } else {
            format!("({a}, {b}, {c})")
        });
        values.push(pk.to_string().into());
        values.push((idxs.len() as i64).into());
        values.push(i32::from(staff).into());
    }
    let now_p = if pg { "$1" } else { "?1" };
    let sql = format!(
        "UPDATE chat_sessions SET last_seq = chat_sessions.last_seq + v.column2, \
         last_message_at = {now_p}, updated_at = {now_p}, \
         first_response_at = CASE WHEN v.column3 = 1 THEN COALESCE(chat_sessions.first_response_at, {now_p}) \
         ELSE chat_sessions.first_response_at END \
         FROM (VALUES {}) AS v WHERE chat_sessions.id = v.column1 \
         RETURNING chat_sessions.id, chat_sessions.last_seq, chat_sessions.admin_read_seq",
        tuples.join(", ")
    );
    let sql = if pg { sql } else { sqlite_numbered(&sql) };
    for row in txn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        let id: String = row.try_get("", "id")?;
        out.insert(
            id,
            (
                row.try_get("", "last_seq")?,
                row.try_get("", "admin_read_seq")?,
            ),
        );
    }
    Ok(out)
}

/// Numbers SQLite's `?` placeholders (`?1` is the shared timestamp, the tuples follow).
fn sqlite_numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut n = 1;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' {
            if chars.peek() == Some(&'1') {
                // the shared timestamp parameter
                chars.next();
                out.push_str("?1");
                continue;
            }
            n += 1;
            out.push_str(&format!("?{n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Up to `limit` messages with `seq > after_seq`, oldest first, and whether more follow.
pub async fn messages_after<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    after_seq: i64,
    limit: u64,
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut rows = message::Entity::find()
        .filter(message::Column::ChatSessionId.eq(session_pk))
        .filter(message::Column::Seq.gt(after_seq))
        .order_by_asc(message::Column::Seq)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Up to `limit` messages with `seq < before_seq` (the latest ones when `None`), oldest
/// first, and whether older ones exist.
pub async fn messages_before<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    before_seq: Option<i64>,
    limit: u64,
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut q = message::Entity::find().filter(message::Column::ChatSessionId.eq(session_pk));
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
    if sessions.is_empty() {
        return Ok(out);
    }
    let mut cond = Condition::any();
    for s in sessions {
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

/// Erases every message of a session (the session and its `seq` counter stay).
pub async fn clear<C: ConnectionTrait>(db: &C, session_pk: &str) -> AppResult<u64> {
    let res = message::Entity::delete_many()
        .filter(message::Column::ChatSessionId.eq(session_pk))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
