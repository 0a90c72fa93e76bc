//! A file sent in a conversation: its metadata. The bytes live in the configured store
//! (`attachment_blobs` for the database store, a directory, or a bucket) under `store_key`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The session's internal key (`chat_sessions.id`).
    pub chat_session_id: String,
    /// The file's name as the uploader gave it (cleaned).
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// The content type read from the bytes.
    pub content_type: String,
    pub size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// Which store holds the bytes (`database`, `dir`, `s3`) and under which key.
    pub store: String,
    pub store_key: String,
    /// The thumbnail's key and content type, for images.
    pub thumb_key: Option<String>,
    pub thumb_content_type: Option<String>,
    /// `pending` while the bytes are written, `ready` after.
    pub status: String,
    /// `user` or `admin`: the side that uploaded it.
    pub uploader: String,
    /// The account that uploaded it, when one did.
    pub uploader_id: Option<String>,
    /// Hidden from the visitor by the visitor's own `clear_history`.
    pub visitor_hidden: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
