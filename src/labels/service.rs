//! Labels' storage: the only place with their SQL.

use std::collections::HashMap;

use entity::{label, session_label};
use sea_orm::sea_query::{Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, SqlErr,
};

use super::types::{LabelName, MAX_PER_SESSION};
use crate::error::{AppError, AppResult};
use crate::messages::types::now_millis;

fn taken(name: &LabelName) -> AppError {
    AppError::Conflict(format!("a label named {:?} exists", name.as_str()))
}

/// Every label, by name.
pub async fn list<C: ConnectionTrait>(db: &C) -> AppResult<Vec<label::Model>> {
    Ok(label::Entity::find()
        .order_by_asc(label::Column::NameNorm)
        .all(db)
        .await?)
}

pub async fn create<C: ConnectionTrait>(
    db: &C,
    name: &LabelName,
    color: String,
) -> AppResult<label::Model> {
    let now = now_millis();
    label::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        name: Set(name.as_str().to_string()),
        name_norm: Set(name.norm()),
        color: Set(color),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => taken(name),
        _ => e.into(),
    })
}

pub async fn get<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<label::Model> {
    label::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("no such label".into()))
}

pub async fn update<C: ConnectionTrait>(
    db: &C,
    current: label::Model,
    name: Option<LabelName>,
    color: Option<String>,
) -> AppResult<label::Model> {
    let mut am: label::ActiveModel = current.into();
    if let Some(n) = &name {
        am.name = Set(n.as_str().to_string());
        am.name_norm = Set(n.norm());
    }
    if let Some(c) = color {
        am.color = Set(c);
    }
    am.updated_at = Set(now_millis());
    am.update(db).await.map_err(|e| match (e.sql_err(), &name) {
        (Some(SqlErr::UniqueConstraintViolation(_)), Some(n)) => taken(n),
        _ => e.into(),
    })
}

/// Deletes a label and takes it off every session.
pub async fn delete(db: &DatabaseConnection, id: &str) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    session_label::Entity::delete_many()
        .filter(session_label::Column::LabelId.eq(id))
        .exec(&txn)
        .await?;
    let gone = label::Entity::delete_by_id(id.to_string())
        .exec(&txn)
        .await?;
    if gone.rows_affected == 0 {
        return Err(AppError::NotFound("no such label".into()));
    }
    txn.commit().await?;
    Ok(())
}

/// The labels named in `names` (any case, repeats ignored); `invalid_payload` naming the
/// first that does not exist.
pub async fn by_names<C: ConnectionTrait>(
    db: &C,
    names: &[String],
) -> AppResult<Vec<label::Model>> {
    let mut wanted: Vec<String> = Vec::new();
    for raw in names {
        let norm = LabelName::parse(raw)?.norm();
        if !wanted.contains(&norm) {
            wanted.push(norm);
        }
    }
    if wanted.len() > MAX_PER_SESSION {
        return Err(AppError::InvalidPayload(format!(
            "a session has at most {MAX_PER_SESSION} labels"
        )));
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let found = label::Entity::find()
        .filter(label::Column::NameNorm.is_in(wanted.clone()))
        .all(db)
        .await?;
    if let Some(missing) = wanted
        .iter()
        .find(|w| !found.iter().any(|l| &l.name_norm == *w))
    {
        return Err(AppError::InvalidPayload(format!(
            "no label named {missing:?} (admins define labels with POST /api/labels)"
        )));
    }
    Ok(found)
}

/// Gives the session exactly `labels`, in one transaction.
pub async fn set_for_session(
    db: &DatabaseConnection,
    session_pk: &str,
    labels: &[label::Model],
) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    session_label::Entity::delete_many()
        .filter(session_label::Column::SessionPk.eq(session_pk))
        .exec(&txn)
        .await?;
    if !labels.is_empty() {
        let now = now_millis();
        session_label::Entity::insert_many(labels.iter().map(|l| session_label::ActiveModel {
            session_pk: Set(session_pk.to_string()),
            label_id: Set(l.id.clone()),
            created_at: Set(now),
        }))
        .exec(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The label names of each of these sessions (by `chat_sessions.id`), each list in name
/// order.
pub async fn of_sessions<C: ConnectionTrait>(
    db: &C,
    session_pks: &[String],
) -> AppResult<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if session_pks.is_empty() {
        return Ok(out);
    }
    let all = list(db).await?;
    if all.is_empty() {
        return Ok(out);
    }
    let names: HashMap<&str, &str> = all
        .iter()
        .map(|l| (l.id.as_str(), l.name.as_str()))
        .collect();
    for chunk in session_pks.chunks(500) {
        for row in session_label::Entity::find()
            .filter(session_label::Column::SessionPk.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            if let Some(name) = names.get(row.label_id.as_str()) {
                out.entry(row.session_pk)
                    .or_default()
                    .push((*name).to_string());
            }
        }
    }
    for v in out.values_mut() {
        v.sort_by_key(|n| n.to_lowercase());
    }
    Ok(out)
}

/// A filter on `chat_sessions`: the sessions that carry the label named `name` (any case).
pub fn tagged(name: &LabelName) -> SimpleExpr {
    entity::chat_session::Column::Id.in_subquery(
        Query::select()
            .column(session_label::Column::SessionPk)
            .from(session_label::Entity)
            .and_where(
                session_label::Column::LabelId.in_subquery(
                    Query::select()
                        .column(label::Column::Id)
                        .from(label::Entity)
                        .and_where(label::Column::NameNorm.eq(name.norm()))
                        .to_owned(),
                ),
            )
            .to_owned(),
    )
}
