//! The only SQL on `attachments`: a pending row while the bytes are written, made ready
//! once they are; reads by id and by session; the visitor's hiding; erasing.

use chrono::{DateTime, Utc};
use entity::attachment::{self, Model};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
};

use crate::error::AppResult;
use crate::messages::types::now_millis;

/// `attachments.status` while the bytes are being written.
pub const PENDING: &str = "pending";
/// `attachments.status` once they are all stored.
pub const READY: &str = "ready";

/// A new upload, before its bytes.
pub struct NewUpload {
    pub id: String,
    pub session_pk: String,
    pub name: String,
    pub content_type: String,
    pub store: &'static str,
    pub uploader: &'static str,
    pub uploader_id: Option<String>,
}

/// Records an upload that is starting (`pending`): if the server stops before it is
/// ready, the sweep finds it and removes its bytes.
pub async fn insert_pending<C: ConnectionTrait>(db: &C, u: NewUpload) -> AppResult<()> {
    attachment::Entity::insert(attachment::ActiveModel {
        id: Set(u.id.clone()),
        chat_session_id: Set(u.session_pk),
        name: Set(u.name),
        content_type: Set(u.content_type),
        size: Set(0),
        width: Set(None),
        height: Set(None),
        store: Set(u.store.to_string()),
        store_key: Set(u.id),
        thumb_key: Set(None),
        thumb_content_type: Set(None),
        status: Set(PENDING.into()),
        uploader: Set(u.uploader.into()),
        uploader_id: Set(u.uploader_id),
        visitor_hidden: Set(false),
        created_at: Set(now_millis()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// What is known once the bytes are stored.
pub struct Finished {
    pub size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumb: Option<(String, &'static str)>,
}

/// Makes a pending upload ready; false when its row is gone (the conversation was erased
/// meanwhile: the caller removes the bytes).
pub async fn finish<C: ConnectionTrait>(db: &C, id: &str, f: Finished) -> AppResult<bool> {
    let (thumb_key, thumb_type) = match f.thumb {
        Some((k, t)) => (Some(k), Some(t.to_string())),
        None => (None, None),
    };
    let res = attachment::Entity::update_many()
        .col_expr(attachment::Column::Status, Expr::value(READY))
        .col_expr(attachment::Column::Size, Expr::value(f.size))
        .col_expr(attachment::Column::Width, Expr::value(f.width))
        .col_expr(attachment::Column::Height, Expr::value(f.height))
        .col_expr(attachment::Column::ThumbKey, Expr::value(thumb_key))
        .col_expr(
            attachment::Column::ThumbContentType,
            Expr::value(thumb_type),
        )
        .filter(attachment::Column::Id.eq(id))
        .filter(attachment::Column::Status.eq(PENDING))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// A ready attachment by id.
pub async fn find_ready<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<Option<Model>> {
    Ok(attachment::Entity::find_by_id(id.to_string())
        .filter(attachment::Column::Status.eq(READY))
        .one(db)
        .await?)
}

/// Bytes the session's attachments hold (ready or being written).
pub async fn bytes_held<C: ConnectionTrait>(db: &C, session_pk: &str) -> AppResult<i64> {
    // PostgreSQL's SUM of a bigint is a numeric: cast back, on both databases.
    let sum: Option<Option<i64>> = attachment::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(SUM(size) AS BIGINT)"), "total")
        .filter(attachment::Column::ChatSessionId.eq(session_pk))
        .into_tuple()
        .one(db)
        .await?;
    Ok(sum.flatten().unwrap_or(0))
}

/// Every attachment of a session, whatever its state.
pub async fn of_session<C: ConnectionTrait>(db: &C, session_pk: &str) -> AppResult<Vec<Model>> {
    Ok(attachment::Entity::find()
        .filter(attachment::Column::ChatSessionId.eq(session_pk))
        .all(db)
        .await?)
}

/// Uploads still pending since before `before` (cut short by a crash).
pub async fn stale_pending<C: ConnectionTrait>(
    db: &C,
    before: DateTime<Utc>,
) -> AppResult<Vec<Model>> {
    Ok(attachment::Entity::find()
        .filter(attachment::Column::Status.eq(PENDING))
        .filter(attachment::Column::CreatedAt.lt(before))
        .limit(100)
        .all(db)
        .await?)
}

/// Deletes attachment rows (their bytes are removed first, by the caller).
pub async fn delete<C: ConnectionTrait>(db: &C, ids: Vec<String>) -> AppResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let res = attachment::Entity::delete_many()
        .filter(attachment::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Hides every attachment the session has now from its visitor.
pub async fn hide_from_visitor<C: ConnectionTrait>(db: &C, session_pk: &str) -> AppResult<u64> {
    let res = attachment::Entity::update_many()
        .col_expr(attachment::Column::VisitorHidden, Expr::value(true))
        .filter(attachment::Column::ChatSessionId.eq(session_pk))
        .filter(attachment::Column::VisitorHidden.eq(false))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
