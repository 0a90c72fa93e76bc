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
        let pairs: Vec<(String, String)> = keyed
            .iter()
            .map(|(i, k)| (batch[*i].session_pk.clone(), (*k).clone()))
            .collect();
        for m in find_by_client_msg_ids(&txn, &pairs).await? {
            let sid = batch
                .iter()
                .find(|b| b.session_pk == m.chat_session_id)
                .map(|b| b.session_id.clone())
                .unwrap_or_default();
            let key = (
                m.chat_session_id.clone(),
                m.client_msg_id.clone().unwrap_or_default(),
            );
            known.insert(key, MessageDto::from_model(m, &sid));
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
        let Some(&Advanced {
            last_seq: last,
            admin_read_seq: admin_read,
            ..
        }) = advanced.get(*pk)
        else {
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
            rows.push(model);
        }
    }
    insert_messages(&txn, rows, now).await?;
    // A visitor writing in a resolved session reopens it (to its assignee, if any).
    // `advance_sessions` returned each (locked) session's status, so the UPDATE runs only
    // when there is something to reopen.
    let visitor_sessions: Vec<String> = by_session
        .iter()
        .filter(|(pk, _)| advanced.get(**pk).is_some_and(|a| a.status == "resolved"))
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

/// A session row after `advance_sessions` moved its `last_seq`.
#[derive(Debug, Clone)]
struct Advanced {
    last_seq: i64,
    admin_read_seq: i64,
    status: String,
}

/// Messages already stored under any of the given `(session pk, clientMsgId)` pairs.
///
/// One probe of the unique index per pair. (Two IN lists, one per column, made PostgreSQL
/// read every message of the batch's sessions and filter on `client_msg_id`: the cost grew
/// with the length of the conversations.) On PostgreSQL the pairs travel as two arrays, so
/// the statement text is the same for every batch and stays prepared.
async fn find_by_client_msg_ids<C: ConnectionTrait>(
    txn: &C,
    pairs: &[(String, String)],
) -> Result<Vec<message::Model>, sea_orm::DbErr> {
    use sea_orm::{DbBackend, Statement, Value};
    let backend = txn.get_database_backend();
    let stmt = if backend == DbBackend::Postgres {
        let (pks, keys): (Vec<String>, Vec<String>) = pairs.iter().cloned().unzip();
        Statement::from_sql_and_values(
            backend,
            "SELECT m.* FROM messages m \
             JOIN unnest($1::varchar[], $2::varchar[]) AS k(pk, key) \
             ON m.chat_session_id = k.pk AND m.client_msg_id = k.key",
            [Value::from(pks), Value::from(keys)],
        )
    } else {
        let tuples = vec!["(?, ?)"; pairs.len()].join(", ");
        let values = pairs
            .iter()
            .flat_map(|(pk, key)| [Value::from(pk.clone()), Value::from(key.clone())]);
        Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT * FROM messages WHERE (chat_session_id, client_msg_id) IN (VALUES {tuples})"
            ),
            values,
        )
    };
    message::Entity::find().from_raw_sql(stmt).all(txn).await
}

/// Inserts the batch's new messages. On PostgreSQL in one `INSERT ... SELECT FROM unnest(..)`
/// whose text never changes (one array per column), so it is prepared once per connection
/// instead of once per batch size; elsewhere with a multi-row `INSERT`.
async fn insert_messages<C: ConnectionTrait>(
    txn: &C,
    rows: Vec<message::Model>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{DbBackend, Statement, Value};
    if rows.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    if backend != DbBackend::Postgres {
        let models = rows.into_iter().map(|m| message::ActiveModel {
            id: Set(m.id),
            chat_session_id: Set(m.chat_session_id),
            seq: Set(m.seq),
            sender: Set(m.sender),
            content: Set(m.content),
            is_ai: Set(m.is_ai),
            client_msg_id: Set(m.client_msg_id),
            author_id: Set(m.author_id),
            interrupted: Set(m.interrupted),
            created_at: Set(m.created_at),
        });
        message::Entity::insert_many(models).exec(txn).await?;
        return Ok(());
    }
    // sea-query binds arrays without NULL elements, so each nullable column travels as a
    // `has_*` flag and a value.
    let n = rows.len();
    let (mut id, mut pk, mut seq, mut sender, mut content) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut is_ai, mut has_key, mut key, mut has_author, mut author, mut interrupted) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for m in rows {
        id.push(m.id);
        pk.push(m.chat_session_id);
        seq.push(m.seq);
        sender.push(m.sender);
        content.push(m.content);
        is_ai.push(m.is_ai);
        has_key.push(m.client_msg_id.is_some());
        key.push(m.client_msg_id.unwrap_or_default());
        has_author.push(m.author_id.is_some());
        author.push(m.author_id.unwrap_or_default());
        interrupted.push(m.interrupted);
    }
    let sql = "INSERT INTO messages (id, chat_session_id, seq, sender, content, is_ai, \
               client_msg_id, author_id, interrupted, created_at) \
               SELECT u.id, u.pk, u.seq, u.sender, u.content, u.is_ai, \
               CASE WHEN u.has_key THEN u.key END, CASE WHEN u.has_author THEN u.author END, \
               u.interrupted, $1 \
               FROM unnest($2::varchar[], $3::varchar[], $4::bigint[], $5::varchar[], $6::text[], \
               $7::bool[], $8::bool[], $9::varchar[], $10::bool[], $11::varchar[], $12::bool[]) \
               AS u(id, pk, seq, sender, content, is_ai, has_key, key, has_author, author, interrupted)";
    let values: Vec<Value> = vec![
        now.into(),
        id.into(),
        pk.into(),
        seq.into(),
        sender.into(),
        content.into(),
        is_ai.into(),
        has_key.into(),
        key.into(),
        has_author.into(),
        author.into(),
        interrupted.into(),
    ];
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Advances `last_seq` of every session of the batch by its number of new messages, in one
/// statement, and returns each session's new `last_seq`, `admin_read_seq` and status by
/// session id. On PostgreSQL the rows are locked first in id order, so that nodes writing to
/// the same sessions never deadlock, and both statements take arrays, so that their text is
/// the same for every batch (prepared once per connection).
async fn advance_sessions<C: ConnectionTrait>(
    txn: &C,
    batch: &[NewMessage],
    by_session: &BTreeMap<&str, Vec<usize>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<HashMap<String, Advanced>, sea_orm::DbErr> {
    use sea_orm::{DbBackend, Statement, Value};
    let mut out = HashMap::new();
    if by_session.is_empty() {
        return Ok(out);
    }
    let backend = txn.get_database_backend();
    let staff = |idxs: &[usize]| {
        idxs.iter()
            .any(|&i| batch[i].sender == Sender::Admin && !batch[i].is_ai)
    };
    let stmt = if backend == DbBackend::Postgres {
        let ids: Vec<String> = by_session.keys().map(|k| k.to_string()).collect();
        let counts: Vec<i64> = by_session.values().map(|v| v.len() as i64).collect();
        let staff: Vec<bool> = by_session.values().map(|v| staff(v)).collect();
        txn.query_all_raw(Statement::from_sql_and_values(
            backend,
            "SELECT id FROM chat_sessions WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            [Value::from(ids.clone())],
        ))
        .await?;
        Statement::from_sql_and_values(
            backend,
            "UPDATE chat_sessions SET last_seq = chat_sessions.last_seq + v.n, \
             last_message_at = $1, updated_at = $1, \
             first_response_at = CASE WHEN v.staff THEN COALESCE(chat_sessions.first_response_at, $1) \
             ELSE chat_sessions.first_response_at END \
             FROM unnest($2::varchar[], $3::bigint[], $4::bool[]) AS v(id, n, staff) \
             WHERE chat_sessions.id = v.id \
             RETURNING chat_sessions.id, chat_sessions.last_seq, chat_sessions.admin_read_seq, \
             chat_sessions.status",
            [now.into(), ids.into(), counts.into(), staff.into()],
        )
    } else {
        let mut values: Vec<Value> = vec![now.into()];
        let mut tuples = Vec::with_capacity(by_session.len());
        for (pk, idxs) in by_session {
            tuples.push("(?, ?, ?)");
            values.push(pk.to_string().into());
            values.push((idxs.len() as i64).into());
            values.push(i32::from(staff(idxs)).into());
        }
        let sql = format!(
            "UPDATE chat_sessions SET last_seq = chat_sessions.last_seq + v.column2, \
             last_message_at = ?1, updated_at = ?1, \
             first_response_at = CASE WHEN v.column3 = 1 THEN COALESCE(chat_sessions.first_response_at, ?1) \
             ELSE chat_sessions.first_response_at END \
             FROM (VALUES {}) AS v WHERE chat_sessions.id = v.column1 \
             RETURNING chat_sessions.id, chat_sessions.last_seq, chat_sessions.admin_read_seq, \
             chat_sessions.status",
            tuples.join(", ")
        );
        Statement::from_sql_and_values(backend, sqlite_numbered(&sql), values)
    };
    for row in txn.query_all_raw(stmt).await? {
        let id: String = row.try_get("", "id")?;
        out.insert(
            id,
            Advanced {
                last_seq: row.try_get("", "last_seq")?,
                admin_read_seq: row.try_get("", "admin_read_seq")?,
                status: row.try_get("", "status")?,
            },
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

/// Erases every message of a session (the session and its `seq` counter stay).
pub async fn clear<C: ConnectionTrait>(db: &C, session_pk: &str) -> AppResult<u64> {
    let res = message::Entity::delete_many()
        .filter(message::Column::ChatSessionId.eq(session_pk))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
