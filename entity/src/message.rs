//! One stored chat message; `seq` is its gap-free position in its session.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub chat_session_id: String,
    pub seq: i64,
    /// `user` or `admin`.
    pub sender: String,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub is_ai: bool,
    pub client_msg_id: Option<String>,
    /// Staff account that wrote it, when known.
    pub author_id: Option<String>,
    /// An assistant reply whose stream was cut short (cancelled or failed).
    pub interrupted: bool,
    pub created_at: DateTimeUtc,
    /// `text`, `image`, `file`, `audio` or `video` (the column is `type`).
    #[sea_orm(column_name = "type")]
    pub kind: String,
    /// The file of a non-text message: an `https:` URL or a path on this server.
    #[sea_orm(column_type = "Text", nullable)]
    pub file_url: Option<String>,
    /// A private note: staff-only, never shown to the visitor's side or the assistant.
    pub private: bool,
    /// The staff author's display name when they wrote it.
    pub author_name: Option<String>,
    /// The attachment a message carries, as its JSON object `{id, name, contentType, size,
    /// url, width?, height?}` (a copy: the message reads back without a join).
    #[sea_orm(column_type = "Text", nullable)]
    pub attachment: Option<String>,
    /// What produced an automatic message: `llm`, `kb` or `rule` (null for people).
    pub source: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::chat_session::Entity",
        from = "Column::ChatSessionId",
        to = "super::chat_session::Column::Id",
        on_delete = "Cascade"
    )]
    ChatSession,
}

impl Related<super::chat_session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ChatSession.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
