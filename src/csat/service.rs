//! Ratings' storage: the only place with their SQL.

use std::collections::HashMap;

use entity::{chat_session, session_rating};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr,
};

use super::types::Score;
use crate::error::{AppError, AppResult};
use crate::messages::types::now_millis;
use entity::chat_session::SessionStatus;

/// Stores `score` for the session's current resolution, in one transaction: the session is
/// read again inside it (it must still be resolved), and the unique `(session_pk,
/// resolved_at)` refuses a second rating of the same resolution (`already_rated`), from
/// this node or another. Returns the stored rating and the session as read.
pub async fn store(
    db: &DatabaseConnection,
    session_pk: &str,
    score: Score,
) -> AppResult<(session_rating::Model, chat_session::Model)> {
    let txn = crate::db::begin_write(db).await?;
    let session = chat_session::Entity::find_by_id(session_pk.to_string())
        .one(&txn)
        .await?
        .ok_or(AppError::SessionNotFound)?;
    let resolved_at = match (SessionStatus::of(&session), session.resolved_at) {
        (SessionStatus::Resolved, Some(at)) => at,
        _ => {
            return Err(AppError::NotResolved(
                "only a resolved session can be rated".into(),
            ))
        }
    };
    let row = session_rating::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        session_pk: Set(session.id.clone()),
        resolved_at: Set(resolved_at),
        agent_id: Set(session.assignee_id.clone()),
        rating: Set(score.rating),
        comment: Set(score.comment),
        created_at: Set(now_millis()),
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => AppError::AlreadyRated,
        _ => e.into(),
    })?;
    // The `rating.created` webhook, delivered if and only if this transaction commits.
    crate::outbox::record(
        &txn,
        crate::outbox::Event::RatingCreated,
        &row.created_at,
        &super::types::RatingEntry::of(&row, Some(&session)),
    )
    .await?;
    txn.commit().await?;
    Ok((row, session))
}

/// Whether the session's current resolution is rated.
pub async fn is_rated<C: ConnectionTrait>(db: &C, s: &chat_session::Model) -> AppResult<bool> {
    let Some(at) = s.resolved_at else {
        return Ok(false);
    };
    Ok(session_rating::Entity::find()
        .filter(session_rating::Column::SessionPk.eq(s.id.clone()))
        .filter(session_rating::Column::ResolvedAt.eq(at))
        .one(db)
        .await?
        .is_some())
}

/// The rating of each session's latest resolution (by internal id), for those rated.
pub async fn of_sessions<C: ConnectionTrait>(
    db: &C,
    sessions: &[chat_session::Model],
) -> AppResult<HashMap<String, session_rating::Model>> {
    let wanted: HashMap<&str, _> = sessions
        .iter()
        .filter_map(|s| s.resolved_at.map(|at| (s.id.as_str(), at)))
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = session_rating::Entity::find()
        .filter(
            session_rating::Column::SessionPk
                .is_in(wanted.keys().map(|k| k.to_string()).collect::<Vec<_>>()),
        )
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| wanted.get(r.session_pk.as_str()) == Some(&r.resolved_at))
        .map(|r| (r.session_pk.clone(), r))
        .collect())
}

/// The rating of each session's latest resolution (by internal id), for lists that hold
/// only the sessions' ids: a session reopened and resolved again shows no rating until that
/// resolution is rated (an earlier resolution's rating is not the current one's).
pub async fn latest_of<C: ConnectionTrait>(
    db: &C,
    pks: &[String],
) -> AppResult<HashMap<String, session_rating::Model>> {
    if pks.is_empty() {
        return Ok(HashMap::new());
    }
    let resolved: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> =
        chat_session::Entity::find()
            .select_only()
            .column(chat_session::Column::Id)
            .column(chat_session::Column::ResolvedAt)
            .filter(chat_session::Column::Id.is_in(pks.to_vec()))
            .into_tuple()
            .all(db)
            .await?;
    let wanted: HashMap<String, chrono::DateTime<chrono::Utc>> = resolved
        .into_iter()
        .filter_map(|(pk, at)| at.map(|at| (pk, at)))
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = session_rating::Entity::find()
        .filter(session_rating::Column::SessionPk.is_in(wanted.keys().cloned().collect::<Vec<_>>()))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| wanted.get(&r.session_pk) == Some(&r.resolved_at))
        .map(|r| (r.session_pk.clone(), r))
        .collect())
}

/// Ratings given in `[from, to)`, newest first, at most `limit`, with their sessions'
/// public ids and codes.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    limit: u64,
) -> AppResult<Vec<(session_rating::Model, Option<chat_session::Model>)>> {
    let mut q = session_rating::Entity::find();
    if let Some(from) = from {
        q = q.filter(session_rating::Column::CreatedAt.gte(from));
    }
    if let Some(to) = to {
        q = q.filter(session_rating::Column::CreatedAt.lt(to));
    }
    let rows = q
        .order_by_desc(session_rating::Column::CreatedAt)
        .order_by_desc(session_rating::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let pks: Vec<String> = rows.iter().map(|r| r.session_pk.clone()).collect();
    let sessions: HashMap<String, chat_session::Model> = if pks.is_empty() {
        HashMap::new()
    } else {
        chat_session::Entity::find()
            .filter(chat_session::Column::Id.is_in(pks))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let s = sessions.get(&r.session_pk).cloned();
            (r, s)
        })
        .collect())
}
