//! The group commit on SQLite: a short transaction of a few statements.

use std::collections::{BTreeMap, HashMap};

use entity::{chat_session, message};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, TransactionSession,
    TransactionTrait,
};

use super::service::{repeat_of, BatchOutcome, NewMessage, Reopened, Stored};
use super::types::{now_millis, MessageDto, Sender};
use crate::error::{AppError, AppResult};
use entity::chat_session::SessionStatus;

/// The group commit on SQLite: a short transaction that takes the write lock first.
pub(super) async fn store_batch<C>(
    db: &C,
    batch: &[NewMessage],
    interest: crate::outbox::Interest,
) -> Result<BatchOutcome, sea_orm::DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = crate::db::begin_write(db).await?;
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
                kind: m.kind.as_str().to_string(),
                file_url: m.file_url.as_ref().map(|u| u.as_str().to_string()),
                private: m.private,
                author_name: m.author_name.clone(),
                attachment: m.attachment.clone(),
                source: m.source.map(|s| s.as_str().to_string()),
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
    // The webhook outbox, in the same transaction (nothing when nobody listens).
    let stored = results.iter().filter_map(|r| r.as_ref()?.as_ref().ok());
    super::service::record_batch(&txn, interest, stored, &reopened).await?;
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
        kind: Set(m.kind),
        file_url: Set(m.file_url),
        private: Set(m.private),
        author_name: Set(m.author_name),
        attachment: Set(m.attachment),
        source: Set(m.source),
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
            .any(|&i| batch[i].sender == Sender::Admin && !batch[i].is_ai && !batch[i].private)
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
