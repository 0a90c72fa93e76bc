//! A seed-004 room: a chat session's stable integer id (`room_id`) and its name.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rooms")]
pub struct Model {
    /// Autoincrement, never reused: the room's id on the seed-004 wire.
    #[sea_orm(primary_key)]
    pub room_id: i64,
    /// The session (`chat_sessions.id`) this room is.
    #[sea_orm(unique)]
    pub session_pk: String,
    pub name: String,
    pub is_direct_chat: bool,
    /// The account that created the room (or owned the session shown as a room).
    pub created_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
