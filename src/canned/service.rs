//! Canned responses' storage: the only place with their SQL.

use entity::canned_response as canned;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};

use super::types::{ShortCode, SHARED};
use crate::error::{AppError, AppResult};
use crate::messages::types::now_millis;

/// How many responses one list answers at most.
pub const LIST_LIMIT: u64 = 1000;

fn taken(code: &ShortCode) -> AppError {
    AppError::Conflict(format!("/{} is taken", code.as_str()))
}

fn scope(shared: bool, owner: &str) -> String {
    if shared {
        SHARED.to_string()
    } else {
        owner.to_string()
    }
}

/// The shared responses and `account_id`'s own, by short code (a personal one before a
/// shared one with the same code); only codes starting with `prefix` when given.
pub async fn visible_to<C: ConnectionTrait>(
    db: &C,
    account_id: &str,
    prefix: Option<&ShortCode>,
) -> AppResult<Vec<canned::Model>> {
    let mut q = canned::Entity::find().filter(
        Condition::any()
            .add(canned::Column::Scope.eq(SHARED))
            .add(canned::Column::Scope.eq(account_id)),
    );
    if let Some(p) = prefix {
        q = q.filter(canned::Column::ShortCode.starts_with(p.as_str()));
    }
    let mut list = q
        .order_by_asc(canned::Column::ShortCode)
        .limit(LIST_LIMIT)
        .all(db)
        .await?;
    list.sort_by(|a, b| {
        (a.short_code.as_str(), a.scope == SHARED).cmp(&(b.short_code.as_str(), b.scope == SHARED))
    });
    Ok(list)
}

pub async fn create<C: ConnectionTrait>(
    db: &C,
    owner: &str,
    code: &ShortCode,
    content: String,
    shared: bool,
) -> AppResult<canned::Model> {
    let now = now_millis();
    canned::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        scope: Set(scope(shared, owner)),
        short_code: Set(code.as_str().to_string()),
        content: Set(content),
        owner_id: Set(Some(owner.to_string())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => taken(code),
        _ => e.into(),
    })
}

pub async fn get<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<Option<canned::Model>> {
    Ok(canned::Entity::find_by_id(id.to_string()).one(db).await?)
}

/// A change: each field when given. `owner` becomes the owner when the response turns
/// personal.
pub struct Change {
    pub code: Option<ShortCode>,
    pub content: Option<String>,
    pub shared: Option<bool>,
}

pub async fn update<C: ConnectionTrait>(
    db: &C,
    current: canned::Model,
    owner: &str,
    change: Change,
) -> AppResult<canned::Model> {
    let code = change.code.clone();
    let mut am: canned::ActiveModel = current.into();
    if let Some(c) = &change.code {
        am.short_code = Set(c.as_str().to_string());
    }
    if let Some(c) = change.content {
        am.content = Set(c);
    }
    if let Some(shared) = change.shared {
        am.scope = Set(scope(shared, owner));
        if !shared {
            am.owner_id = Set(Some(owner.to_string()));
        }
    }
    am.updated_at = Set(now_millis());
    am.update(db).await.map_err(|e| match (e.sql_err(), &code) {
        (Some(SqlErr::UniqueConstraintViolation(_)), Some(c)) => taken(c),
        (Some(SqlErr::UniqueConstraintViolation(_)), None) => {
            AppError::Conflict("that short code is taken where this response moves".into())
        }
        _ => e.into(),
    })
}

pub async fn delete<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<()> {
    canned::Entity::delete_by_id(id.to_string())
        .exec(db)
        .await?;
    Ok(())
}
