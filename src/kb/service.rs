//! Knowledge-base storage: the only place with SQL for articles (`kb_articles`) and
//! auto-reply rules (`auto_replies`).

use entity::{auto_reply, kb_article};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, SqlErr,
};

use super::types::{ArticleFields, AutoReplyFields};
use crate::error::{AppError, AppResult};
use crate::messages::types::now_millis;

fn slug_taken(e: DbErr) -> AppError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::Conflict("an article with this slug exists".into())
        }
        _ => e.into(),
    }
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

/// Every article (drafts too when `drafts`), newest change first.
pub async fn articles<C: ConnectionTrait>(
    db: &C,
    drafts: bool,
) -> AppResult<Vec<kb_article::Model>> {
    let mut q = kb_article::Entity::find().order_by_desc(kb_article::Column::UpdatedAt);
    if !drafts {
        q = q.filter(kb_article::Column::Published.eq(true));
    }
    Ok(q.all(db).await?)
}

/// An article by id.
pub async fn article<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<Option<kb_article::Model>> {
    Ok(kb_article::Entity::find_by_id(id).one(db).await?)
}

/// An article by slug.
pub async fn article_by_slug<C: ConnectionTrait>(
    db: &C,
    slug: &str,
) -> AppResult<Option<kb_article::Model>> {
    Ok(kb_article::Entity::find()
        .filter(kb_article::Column::Slug.eq(slug))
        .one(db)
        .await?)
}

/// Stores a new article (`conflict` when its slug is taken).
pub async fn create_article<C: ConnectionTrait>(
    db: &C,
    f: ArticleFields,
    author_id: Option<String>,
) -> AppResult<kb_article::Model> {
    let now = now_millis();
    let row = kb_article::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        slug: Set(f.slug),
        title: Set(f.title),
        body: Set(f.body),
        tags: Set(tags_json(&f.tags)),
        published: Set(f.published),
        author_id: Set(author_id),
        created_at: Set(now),
        updated_at: Set(now),
    };
    row.insert(db).await.map_err(slug_taken)
}

/// Replaces an article's fields (`conflict` when the new slug is taken).
pub async fn update_article<C: ConnectionTrait>(
    db: &C,
    current: kb_article::Model,
    f: ArticleFields,
    author_id: Option<String>,
) -> AppResult<kb_article::Model> {
    let mut row: kb_article::ActiveModel = current.into();
    row.slug = Set(f.slug);
    row.title = Set(f.title);
    row.body = Set(f.body);
    row.tags = Set(tags_json(&f.tags));
    row.published = Set(f.published);
    if author_id.is_some() {
        row.author_id = Set(author_id);
    }
    row.updated_at = Set(now_millis());
    row.update(db).await.map_err(slug_taken)
}

/// Deletes an article; false when there was none.
pub async fn delete_article<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<bool> {
    let r = kb_article::Entity::delete_by_id(id).exec(db).await?;
    Ok(r.rows_affected > 0)
}

/// Every rule, oldest first (the order in which they are tried).
pub async fn rules<C: ConnectionTrait>(db: &C) -> AppResult<Vec<auto_reply::Model>> {
    Ok(auto_reply::Entity::find()
        .order_by_asc(auto_reply::Column::CreatedAt)
        .order_by_asc(auto_reply::Column::Id)
        .all(db)
        .await?)
}

/// A rule by id.
pub async fn rule<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<Option<auto_reply::Model>> {
    Ok(auto_reply::Entity::find_by_id(id).one(db).await?)
}

/// Stores a new rule.
pub async fn create_rule<C: ConnectionTrait>(
    db: &C,
    f: AutoReplyFields,
) -> AppResult<auto_reply::Model> {
    let now = now_millis();
    let row = auto_reply::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        pattern: Set(f.pattern),
        reply: Set(f.reply),
        active: Set(f.active),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Ok(row.insert(db).await?)
}

/// Replaces a rule's fields.
pub async fn update_rule<C: ConnectionTrait>(
    db: &C,
    current: auto_reply::Model,
    f: AutoReplyFields,
) -> AppResult<auto_reply::Model> {
    let mut row: auto_reply::ActiveModel = current.into();
    row.pattern = Set(f.pattern);
    row.reply = Set(f.reply);
    row.active = Set(f.active);
    row.updated_at = Set(now_millis());
    Ok(row.update(db).await?)
}

/// Deletes a rule; false when there was none.
pub async fn delete_rule<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<bool> {
    let r = auto_reply::Entity::delete_by_id(id).exec(db).await?;
    Ok(r.rows_affected > 0)
}
