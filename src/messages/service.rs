//! Message storage: the only place with SQL for messages. `store_batch` is the group commit:
//! it assigns each message its gap-free `seq` by advancing the session's `last_seq` under a
//! row lock (correct across nodes too), honours `clientMsgId` idempotency, and inserts the
//! batch. On PostgreSQL all of it is one statement (one round trip per batch, see
//! [`STORE_BATCH_PG`]); on SQLite it is a short transaction of a few statements.

use std::collections::{BTreeMap, HashMap};

use entity::{chat_session, message};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};

use super::types::{now_millis, MessageDto, Sender};
use crate::error::{AppError, AppResult};
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
    if batch.is_empty() {
        return Ok(BatchOutcome::default());
    }
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        return store_batch_postgres(db, batch).await;
    }
    let txn = db.begin().await?;
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
    insert_messages(&txn, rows).await?;
    // A visitor writing in a resolved session reopens it (to its assignee, if any).
    // `advance_sessions` returned each (locked) session's status, so the UPDATE runs only
    // when there is something to reopen.
    let visitor_sessions: Vec<String> = by_session
        .iter()
        .filter(|(pk, _)| {
            advanced
                .get(**pk)
                .is_some_and(|a| a.status == SessionStatus::Resolved)
        })
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
                    SessionStatus::Open.as_str(),
                )
                .finally(SessionStatus::Assigned.as_str()),
            )
            .and_where(chat_session::Column::Id.is_in(visitor_sessions))
            .and_where(chat_session::Column::Status.eq(SessionStatus::Resolved.as_str()))
            .returning(Query::returning().columns([
                chat_session::Column::SessionId,
                chat_session::Column::Status,
                chat_session::Column::AssigneeId,
            ]))
            .to_owned();
        for row in txn.query_all(&reopen).await? {
            reopened.push(Reopened {
                session_id: row.try_get("", "session_id")?,
                status: SessionStatus::stored(&row.try_get::<String>("", "status")?),
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
            results[i] = Some(repeat_of(first));
        }
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(AppError::Internal(anyhow::anyhow!("unresolved")))))
        .collect();
    Ok(BatchOutcome { results, reopened })
}

/// The answer to a repeat of a clientMsgId within one batch, from its first occurrence's.
fn repeat_of(first: Option<&AppResult<Stored>>) -> AppResult<Stored> {
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

/// The whole group commit on PostgreSQL, one statement run in autocommit (a single statement
/// is atomic: all of it commits, or none of it). Its text never changes, whatever the batch
/// size: every column travels as one array (`$2`..`$12`, one element per message, `ord` its
/// index in the batch), so it is prepared once per connection. `$1` is the timestamp.
///
/// Data-modifying CTEs all run on the statement's snapshot; the steps:
/// 1. `dup`: clientMsgIds already stored (one probe of the unique index each); those
///    messages take no `seq` and are answered with the stored row. The probe is a LATERAL
///    subquery on purpose: written as a join, the planner, which cannot see how many
///    elements the arrays hold, hashed the batch and scanned the whole `messages` table
///    whenever its statistics were stale (a table that grows fast, before autovacuum's next
///    ANALYZE): 6.4 of the 7.5 ms of a 175-message batch at 28,000 stored rows, and growing.
/// 2. `locked`: the sessions of the new messages, locked in id order (LockRows above Sort), so
///    that two nodes writing to the same sessions never deadlock. It carries each session's
///    counts along, so that `advanced` joins only `locked` to the indexed table: a join of
///    two CTEs has no index, and with the generic plan's estimate of 10 rows PostgreSQL
///    picked a nested loop for it, quadratic in the batch (23 of 32 ms for 430 messages over
///    430 sessions). Under READ COMMITTED a row
///    that another transaction changed is waited for and returned in its latest version; an
///    unknown (or just deleted) session is simply absent, and so are its messages below.
/// 3. `advanced`: moves each locked session's `last_seq` on by its number of new messages
///    (the UPDATE meets the rows it locked itself, and re-reads their latest version), stamps
///    `last_message_at`, `updated_at` and `first_response_at` (first staff message that is
///    not the assistant's), and reopens a `resolved` session that a visitor wrote in (to
///    `assigned` if it has an assignee, else `open`). "Was resolved" comes from `locked`,
///    the latest version under the lock, not from the snapshot.
/// 4. `numbered`: gives the new messages of a session the `seq`s `last_seq - n + 1 ..=
///    last_seq`, in batch order; `inserted` stores them. A clientMsgId that another node
///    stored after this statement's snapshot fails the unique index, and with it the whole
///    statement (nothing is stored); the writer then stores the batch one message at a time,
///    and that message's own statement finds it in `dup`.
///
/// Result rows, told apart by `kind`:
/// - `stored`: a new message (`ord`, `id`, `seq`, `unread`);
/// - `duplicate`: a clientMsgId already stored (`ord` and the stored message's columns);
/// - `reopened`: a session reopened (`session_id`, `status`, `assignee_id`).
///
/// A message with no row of its own belongs to an unknown session.
///
/// sea-query binds arrays without NULL elements, so each nullable column travels as a
/// `has_*` flag and a value.
///
/// Public so that a test can check its plan (`tests/store_batch.rs`).
pub const STORE_BATCH_PG: &str = r#"
WITH input AS MATERIALIZED (
    SELECT *
    FROM unnest($2::bigint[], $3::varchar[], $4::varchar[], $5::varchar[], $6::text[],
                $7::bool[], $8::bool[], $9::varchar[], $10::bool[], $11::varchar[], $12::bool[])
        AS u(ord, pk, id, sender, content, is_ai, has_key, key, has_author, author, interrupted)
),
dup AS (
    SELECT i.ord, m.*
    FROM input i
    CROSS JOIN LATERAL (
        SELECT * FROM messages m
        WHERE m.chat_session_id = i.pk AND m.client_msg_id = i.key
        LIMIT 1
    ) m
    WHERE i.has_key
),
fresh AS (
    SELECT i.* FROM input i WHERE NOT EXISTS (SELECT 1 FROM dup d WHERE d.ord = i.ord)
),
per_session AS (
    SELECT pk,
           count(*) AS n,
           bool_or(sender = 'admin' AND NOT is_ai) AS staff,
           bool_or(sender = 'user' AND NOT is_ai) AS visitor
    FROM fresh
    GROUP BY pk
),
locked AS MATERIALIZED (
    SELECT s.id, s.status, p.n, p.staff, p.visitor
    FROM per_session p
    JOIN chat_sessions s ON s.id = p.pk
    ORDER BY s.id
    FOR UPDATE OF s
),
advanced AS (
    UPDATE chat_sessions s
    SET last_seq = s.last_seq + l.n,
        last_message_at = $1,
        updated_at = $1,
        first_response_at = CASE WHEN l.staff THEN COALESCE(s.first_response_at, $1)
                                 ELSE s.first_response_at END,
        status = CASE WHEN l.visitor AND l.status = 'resolved'
                      THEN CASE WHEN s.assignee_id IS NULL THEN 'open' ELSE 'assigned' END
                      ELSE s.status END
    FROM locked l
    WHERE s.id = l.id
    RETURNING s.id, s.session_id, s.last_seq, s.admin_read_seq, s.status, s.assignee_id, l.n,
              l.visitor AND l.status = 'resolved' AS reopened
),
numbered AS (
    SELECT f.*, a.admin_read_seq,
           a.last_seq - a.n + row_number() OVER (PARTITION BY f.pk ORDER BY f.ord) AS seq
    FROM fresh f
    JOIN advanced a ON a.id = f.pk
),
inserted AS (
    INSERT INTO messages (id, chat_session_id, seq, sender, content, is_ai, client_msg_id,
                          author_id, interrupted, created_at)
    SELECT id, pk, seq, sender, content, is_ai, CASE WHEN has_key THEN key END,
           CASE WHEN has_author THEN author END, interrupted, $1
    FROM numbered
)
SELECT 'stored' AS kind, ord, seq, GREATEST(seq - admin_read_seq, 0) AS unread, id,
       NULL::varchar AS sender, NULL::text AS content, NULL::bool AS is_ai,
       NULL::varchar AS client_msg_id, NULL::varchar AS author_id, NULL::bool AS interrupted,
       NULL::timestamptz AS created_at,
       NULL::varchar AS session_id, NULL::varchar AS status, NULL::varchar AS assignee_id
FROM numbered
UNION ALL
SELECT 'duplicate', ord, seq, 0, id, sender, content, is_ai, client_msg_id, author_id,
       interrupted, created_at, NULL, NULL, NULL
FROM dup
UNION ALL
SELECT 'reopened', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       session_id, status, assignee_id
FROM advanced
WHERE reopened
"#;

/// [`STORE_BATCH_PG`]'s parameters: one array per column, one element per message.
#[derive(Default)]
struct PgBatch {
    ord: Vec<i64>,
    pk: Vec<String>,
    id: Vec<String>,
    sender: Vec<String>,
    content: Vec<String>,
    is_ai: Vec<bool>,
    has_key: Vec<bool>,
    key: Vec<String>,
    has_author: Vec<bool>,
    author: Vec<String>,
    interrupted: Vec<bool>,
}

impl PgBatch {
    fn push(&mut self, ord: usize, m: &NewMessage) {
        self.ord.push(ord as i64);
        self.pk.push(m.session_pk.clone());
        self.id.push(
            m.id.clone()
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        );
        self.sender.push(m.sender.as_str().to_string());
        self.content.push(m.content.clone());
        self.is_ai.push(m.is_ai);
        self.has_key.push(m.client_msg_id.is_some());
        self.key.push(m.client_msg_id.clone().unwrap_or_default());
        self.has_author.push(m.author_id.is_some());
        self.author.push(m.author_id.clone().unwrap_or_default());
        self.interrupted.push(m.interrupted);
    }

    fn into_values(self, now: chrono::DateTime<chrono::Utc>) -> Vec<sea_orm::Value> {
        vec![
            now.into(),
            self.ord.into(),
            self.pk.into(),
            self.id.into(),
            self.sender.into(),
            self.content.into(),
            self.is_ai.into(),
            self.has_key.into(),
            self.key.into(),
            self.has_author.into(),
            self.author.into(),
            self.interrupted.into(),
        ]
    }
}

/// `store_batch` on PostgreSQL: one round trip, see [`STORE_BATCH_PG`].
async fn store_batch_postgres<C: ConnectionTrait>(
    db: &C,
    batch: &[NewMessage],
) -> Result<BatchOutcome, sea_orm::DbErr> {
    use sea_orm::{DbBackend, DbErr, Statement};
    use std::collections::hash_map::Entry;

    // A repeat of a clientMsgId within the batch is not sent: it gets its first occurrence's
    // answer below.
    let mut first_with_key: HashMap<(&str, &str), usize> = HashMap::new();
    let mut repeat_of_first: Vec<Option<usize>> = vec![None; batch.len()];
    let mut input = PgBatch::default();
    for (i, m) in batch.iter().enumerate() {
        if let Some(key) = &m.client_msg_id {
            match first_with_key.entry((m.session_pk.as_str(), key.as_str())) {
                Entry::Occupied(first) => {
                    repeat_of_first[i] = Some(*first.get());
                    continue;
                }
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
            }
        }
        input.push(i, m);
    }

    let now = now_millis();
    let stmt =
        Statement::from_sql_and_values(DbBackend::Postgres, STORE_BATCH_PG, input.into_values(now));
    let rows = db.query_all_raw(stmt).await?;

    let mut results: Vec<Option<AppResult<Stored>>> = (0..batch.len()).map(|_| None).collect();
    let mut reopened = Vec::new();
    for row in rows {
        let kind: String = row.try_get("", "kind")?;
        if kind == "reopened" {
            reopened.push(Reopened {
                session_id: row.try_get("", "session_id")?,
                status: SessionStatus::stored(&row.try_get::<String>("", "status")?),
                assignee_id: row.try_get("", "assignee_id")?,
            });
            continue;
        }
        let ord: i64 = row.try_get("", "ord")?;
        let (i, m) = usize::try_from(ord)
            .ok()
            .and_then(|i| Some((i, batch.get(i)?)))
            .ok_or_else(|| DbErr::Custom(format!("store_batch: no message {ord} in the batch")))?;
        let stored = match kind.as_str() {
            "stored" => {
                let model = message::Model {
                    id: row.try_get("", "id")?,
                    chat_session_id: m.session_pk.clone(),
                    seq: row.try_get("", "seq")?,
                    sender: m.sender.as_str().to_string(),
                    content: m.content.clone(),
                    is_ai: m.is_ai,
                    client_msg_id: m.client_msg_id.clone(),
                    author_id: m.author_id.clone(),
                    interrupted: m.interrupted,
                    created_at: now,
                };
                Stored {
                    message: MessageDto::from_model(model, &m.session_id),
                    duplicate: false,
                    unread: row.try_get("", "unread")?,
                }
            }
            "duplicate" => {
                let model = message::Model {
                    id: row.try_get("", "id")?,
                    chat_session_id: m.session_pk.clone(),
                    seq: row.try_get("", "seq")?,
                    sender: row.try_get("", "sender")?,
                    content: row.try_get("", "content")?,
                    is_ai: row.try_get("", "is_ai")?,
                    client_msg_id: row.try_get("", "client_msg_id")?,
                    author_id: row.try_get("", "author_id")?,
                    interrupted: row.try_get("", "interrupted")?,
                    created_at: row.try_get("", "created_at")?,
                };
                Stored {
                    message: MessageDto::from_model(model, &m.session_id),
                    duplicate: true,
                    unread: 0,
                }
            }
            other => {
                return Err(DbErr::Custom(format!(
                    "store_batch: unexpected row kind {other:?}"
                )))
            }
        };
        results[i] = Some(Ok(stored));
    }

    // Repeats follow their first occurrence (always earlier in the batch, so already
    // answered); any other message without a row belongs to an unknown session.
    for i in 0..batch.len() {
        if results[i].is_none() {
            results[i] = Some(match repeat_of_first[i] {
                Some(first) => repeat_of(results[first].as_ref()),
                None => Err(AppError::SessionNotFound),
            });
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

/// Messages already stored under any of the given `(session pk, clientMsgId)` pairs (SQLite).
///
/// One probe of the unique index per pair. (Two IN lists, one per column, made the database
/// read every message of the batch's sessions and filter on `client_msg_id`: the cost grew
/// with the length of the conversations.)
async fn find_by_client_msg_ids<C: ConnectionTrait>(
    txn: &C,
    pairs: &[(String, String)],
) -> Result<Vec<message::Model>, sea_orm::DbErr> {
    use sea_orm::{Statement, Value};
    let tuples = vec!["(?, ?)"; pairs.len()].join(", ");
    let values = pairs
        .iter()
        .flat_map(|(pk, key)| [Value::from(pk.clone()), Value::from(key.clone())]);
    let stmt = Statement::from_sql_and_values(
        txn.get_database_backend(),
        format!(
            "SELECT * FROM messages WHERE (chat_session_id, client_msg_id) IN (VALUES {tuples})"
        ),
        values,
    );
    message::Entity::find().from_raw_sql(stmt).all(txn).await
}

/// Inserts the batch's new messages with a multi-row `INSERT` (SQLite).
async fn insert_messages<C: ConnectionTrait>(
    txn: &C,
    rows: Vec<message::Model>,
) -> Result<(), sea_orm::DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
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
    Ok(())
}

/// Advances `last_seq` of every session of the batch by its number of new messages, in one
/// statement, and returns each session's new `last_seq`, `admin_read_seq` and status by
/// session id (SQLite: the transaction already holds the database's write lock).
async fn advance_sessions<C: ConnectionTrait>(
    txn: &C,
    batch: &[NewMessage],
    by_session: &BTreeMap<&str, Vec<usize>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<HashMap<String, Advanced>, sea_orm::DbErr> {
    use sea_orm::{Statement, Value};
    let mut out = HashMap::new();
    if by_session.is_empty() {
        return Ok(out);
    }
    let backend = txn.get_database_backend();
    let staff = |idxs: &[usize]| {
        idxs.iter()
            .any(|&i| batch[i].sender == Sender::Admin && !batch[i].is_ai)
    };
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
    let stmt = Statement::from_sql_and_values(backend, sqlite_numbered(&sql), values);
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
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut out: Vec<message::Model> = Vec::new();
    let mut bytes = 0usize;
    let mut after = after_seq;
    loop {
        let want = Ord::min(limit - out.len() as u64, BUDGET_CHUNK);
        let (rows, more) = messages_after(db, session_pk, after, want).await?;
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
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut out: Vec<message::Model> = Vec::new();
    let mut bytes = 0usize;
    let mut before = before_seq;
    let more = loop {
        let want = Ord::min(limit - out.len() as u64, BUDGET_CHUNK);
        let (rows, more) = messages_between(db, session_pk, floor, before, want).await?;
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
) -> AppResult<Vec<message::Model>> {
    let mut out: Vec<message::Model> = Vec::new();
    let mut bytes = 0usize;
    let mut before = None;
    'read: while (out.len() as u64) < limit {
        let want = Ord::min(limit - out.len() as u64, BUDGET_CHUNK);
        let (rows, more) = messages_between(db, session_pk, 0, before, want).await?;
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
) -> AppResult<(Vec<message::Model>, bool)> {
    messages_between(db, session_pk, 0, before_seq, limit).await
}

/// Like [`messages_before`], counting only messages with `seq > floor` (a visitor's view
/// after they cleared their history).
pub async fn messages_between<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    floor: i64,
    before_seq: Option<i64>,
    limit: u64,
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut q = message::Entity::find().filter(message::Column::ChatSessionId.eq(session_pk));
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
) -> AppResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(message::Entity::find()
        .filter(message::Column::ChatSessionId.eq(session_pk))
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
