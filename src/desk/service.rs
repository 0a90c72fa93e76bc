//! Desk storage: status transitions (optimistic: each change applies only if the session is
//! still in the state it was read in, so of two agents claiming at once exactly one wins),
//! the queue, agent loads, read watermarks. The only place with SQL for the workflow.

pub use crate::sessions::types::Reader;
use std::collections::HashMap;

use entity::{account, chat_session};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
};

use crate::error::{AppError, AppResult};
use crate::messages::types::now_millis;
use crate::outbox::{Event, Interest};
use crate::sessions::types::SessionStatus;

/// A change of status and assignee.
#[derive(Debug, Clone)]
pub struct Change {
    pub status: SessionStatus,
    pub assignee_id: Option<String>,
}

/// Applies `change` if the session still has the status and assignee it had in `seen`;
/// `conflict` otherwise. Sets the timestamps the desk reports on. When `interest` says a
/// webhook listens to what changes (`session.status_changed`, `session.assigned`), the
/// change and its outbox rows are written in one transaction (a nested one, a savepoint,
/// when `db` is a transaction already); otherwise the change is its one UPDATE, as before.
pub async fn apply<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    interest: Interest,
    seen: &chat_session::Model,
    change: Change,
) -> AppResult<chat_session::Model> {
    let status_moves = seen.status != change.status.as_str();
    let assignee_moves = seen.assignee_id != change.assignee_id;
    let records = (status_moves && interest.wants(Event::SessionStatusChanged))
        || (assignee_moves && interest.wants(Event::SessionAssigned));
    if !records {
        return update(db, seen, change).await;
    }
    let txn = crate::db::begin_write(db).await?;
    let next = update(&txn, seen, change).await?;
    // Read back in the transaction: the event carries the session as stored.
    let stored = load(&txn, &next.id).await?;
    let events = crate::outbox::session_changes(interest, seen, &stored)
        .map_err(crate::outbox::encode_error)?;
    crate::outbox::service::write(&txn, now_millis(), &events).await?;
    txn.commit().await?;
    Ok(next)
}

/// The UPDATE of [`apply`].
async fn update<C: ConnectionTrait>(
    db: &C,
    seen: &chat_session::Model,
    change: Change,
) -> AppResult<chat_session::Model> {
    let now = now_millis();
    let mut q = Query::update();
    q.table(chat_session::Entity)
        .value(chat_session::Column::Status, change.status.as_str())
        .value(chat_session::Column::AssigneeId, change.assignee_id.clone())
        .value(chat_session::Column::UpdatedAt, now)
        .and_where(chat_session::Column::Id.eq(seen.id.clone()))
        .and_where(chat_session::Column::Status.eq(seen.status.clone()));
    match &seen.assignee_id {
        Some(a) => q.and_where(chat_session::Column::AssigneeId.eq(a.clone())),
        None => q.and_where(chat_session::Column::AssigneeId.is_null()),
    };
    let mut next = seen.clone();
    // Entering the queue starts `waitingSince`; leaving it keeps the value, so the desk can
    // report how long visitors waited.
    if change.status == SessionStatus::Waiting {
        let since = if seen.status == SessionStatus::Waiting {
            seen.waiting_since.unwrap_or(now)
        } else {
            now
        };
        q.value(chat_session::Column::WaitingSince, since);
        next.waiting_since = Some(since);
    }
    if change.status == SessionStatus::Assigned && seen.assignee_id != change.assignee_id {
        q.value(chat_session::Column::AssignedAt, now);
        next.assigned_at = Some(now);
    }
    if change.status == SessionStatus::Resolved {
        q.value(chat_session::Column::ResolvedAt, now);
        next.resolved_at = Some(now);
    }
    let res = db.execute(&q).await?;
    if res.rows_affected() == 0 {
        return Err(AppError::Conflict(
            "the session changed meanwhile (someone else acted first)".into(),
        ));
    }
    next.status = change.status.as_str().to_string();
    next.assignee_id = change.assignee_id;
    next.updated_at = now;
    Ok(next)
}

/// Keeps the visitor's contact address on the session (`contact_email`, `contact_left_at`
/// now); the latest address left wins.
pub async fn set_contact<C: ConnectionTrait>(
    db: &C,
    seen: &chat_session::Model,
    email: &str,
) -> AppResult<chat_session::Model> {
    let now = now_millis();
    let mut q = Query::update();
    q.table(chat_session::Entity)
        .value(chat_session::Column::ContactEmail, email)
        .value(chat_session::Column::ContactLeftAt, now)
        .value(chat_session::Column::UpdatedAt, now)
        .and_where(chat_session::Column::Id.eq(seen.id.clone()));
    let res = db.execute(&q).await?;
    if res.rows_affected() == 0 {
        return Err(AppError::SessionNotFound);
    }
    let mut next = seen.clone();
    next.contact_email = Some(email.to_string());
    next.contact_left_at = Some(now);
    next.updated_at = now;
    Ok(next)
}

/// Reloads a session by internal id.
pub async fn load<C: ConnectionTrait>(db: &C, pk: &str) -> AppResult<chat_session::Model> {
    chat_session::Entity::find_by_id(pk.to_string())
        .one(db)
        .await?
        .ok_or(AppError::SessionNotFound)
}

/// Waiting sessions, oldest waiting first (the queue).
/// Serializes auto-assignment across nodes until `txn` ends: on PostgreSQL (which nodes share)
/// a transaction-level advisory lock, so that two nodes never both count an agent's load
/// before either assigns. SQLite serves one node, whose own mutex is enough.
pub async fn lock_assignment<C: ConnectionTrait>(txn: &C) -> AppResult<()> {
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({ASSIGN_LOCK_KEY})"))
            .await?;
    }
    Ok(())
}

/// The PostgreSQL advisory lock key of auto-assignment: arbitrary, the same on every node.
pub const ASSIGN_LOCK_KEY: i64 = 4_242_170_001;

pub async fn queue<C: ConnectionTrait>(db: &C, limit: u64) -> AppResult<Vec<chat_session::Model>> {
    Ok(chat_session::Entity::find()
        .filter(chat_session::Column::Status.eq(SessionStatus::Waiting.as_str()))
        .order_by_asc(chat_session::Column::WaitingSince)
        .order_by_asc(chat_session::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Number of `assigned` sessions of each given agent.
pub async fn loads<C: ConnectionTrait>(
    db: &C,
    agent_ids: &[String],
) -> AppResult<HashMap<String, i64>> {
    if agent_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Option<String>, i64)> = chat_session::Entity::find()
        .select_only()
        .column(chat_session::Column::AssigneeId)
        .column_as(chat_session::Column::Id.count(), "n")
        .filter(chat_session::Column::Status.eq(SessionStatus::Assigned.as_str()))
        .filter(chat_session::Column::AssigneeId.is_in(agent_ids.to_vec()))
        .group_by(chat_session::Column::AssigneeId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, n)| a.map(|a| (a, n)))
        .collect())
}

/// Sessions assigned to `agent_id` (not resolved).
pub async fn assigned_to<C: ConnectionTrait>(
    db: &C,
    agent_id: &str,
) -> AppResult<Vec<chat_session::Model>> {
    Ok(chat_session::Entity::find()
        .filter(chat_session::Column::Status.eq(SessionStatus::Assigned.as_str()))
        .filter(chat_session::Column::AssigneeId.eq(agent_id))
        .all(db)
        .await?)
}

/// Display names of accounts.
pub async fn names<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> AppResult<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = account::Entity::find()
        .filter(account::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|a| (a.id, a.name)).collect())
}

/// An enabled staff account by id.
pub async fn staff_account<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> AppResult<Option<account::Model>> {
    Ok(account::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .filter(|a| !a.disabled && (a.role == "admin" || a.role == "agent")))
}

/// Moves a read watermark forward to `min(seq, lastSeq)`; returns `(stored, moved)`.
pub async fn mark_read<C: ConnectionTrait>(
    db: &C,
    pk: &str,
    reader: Reader,
    seq: i64,
) -> AppResult<(i64, bool)> {
    let s = load(db, pk).await?;
    let current = match reader {
        Reader::User => s.user_read_seq,
        Reader::Admin => s.admin_read_seq,
    };
    let target = Ord::min(seq, s.last_seq);
    if target <= current {
        return Ok((current, false));
    }
    let col = match reader {
        Reader::User => chat_session::Column::UserReadSeq,
        Reader::Admin => chat_session::Column::AdminReadSeq,
    };
    let res = db
        .execute(
            Query::update()
                .table(chat_session::Entity)
                .value(col, target)
                .and_where(chat_session::Column::Id.eq(pk))
                .and_where(Expr::col(col).lt(target)),
        )
        .await?;
    if res.rows_affected() == 0 {
        // Someone moved it further meanwhile: report what is stored.
        let s = load(db, pk).await?;
        let stored = match reader {
            Reader::User => s.user_read_seq,
            Reader::Admin => s.admin_read_seq,
        };
        return Ok((stored, false));
    }
    Ok((target, true))
}

/// Filters of the agents' session list.
#[derive(Debug, Clone, Default)]
pub struct ListSessions {
    pub status: Option<SessionStatus>,
    /// `Some(None)`: unassigned only; `Some(Some(id))`: that agent's.
    pub assignee: Option<Option<String>>,
    pub before: Option<crate::sessions::types::Cursor>,
    /// Queue paging: only sessions after this one in the queue order.
    pub after: Option<crate::sessions::types::Cursor>,
    pub limit: u64,
    /// Only the sessions with this label.
    pub label: Option<crate::labels::types::LabelName>,
}

/// Sessions for agents: newest first, or the queue order for `status = waiting`.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    f: &ListSessions,
) -> AppResult<Vec<chat_session::Model>> {
    let mut q = chat_session::Entity::find();
    if let Some(s) = f.status {
        q = q.filter(chat_session::Column::Status.eq(s.as_str()));
    }
    match &f.assignee {
        Some(Some(a)) => q = q.filter(chat_session::Column::AssigneeId.eq(a.clone())),
        Some(None) => q = q.filter(chat_session::Column::AssigneeId.is_null()),
        None => {}
    }
    if let Some(b) = &f.before {
        q = q.filter(crate::sessions::service::older_than(b));
    }
    if let Some(a) = &f.after {
        q = q.filter(crate::sessions::service::waiting_after(a));
    }
    if let Some(l) = &f.label {
        q = q.filter(crate::labels::service::tagged(l));
    }
    q = if f.status == Some(SessionStatus::Waiting) {
        q.order_by_asc(chat_session::Column::WaitingSince)
            .order_by_asc(chat_session::Column::Id)
    } else {
        q.order_by_desc(chat_session::Column::CreatedAt)
            .order_by_desc(chat_session::Column::Id)
    };
    Ok(q.limit(f.limit).all(db).await?)
}
