//! A support conversation between one visitor and the desk.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_sessions")]
pub struct Model {
    /// Internal id (UUID v7 text); exposed to clients only as `chatSessionId`, never a handle.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Public session id (random UUID v4): the visitor's capability.
    #[sea_orm(unique)]
    pub session_id: String,
    /// Short code a visitor can read to an agent (6 characters, unambiguous alphabet).
    #[sea_orm(unique)]
    pub code: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `open`, `waiting`, `assigned` or `resolved`.
    pub status: String,
    pub assignee_id: Option<String>,
    pub customer_id: Option<String>,
    pub visitor_identity: Option<String>,
    /// Highest `seq` given to a message of this session.
    pub last_seq: i64,
    pub user_read_seq: i64,
    pub admin_read_seq: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_message_at: Option<DateTimeUtc>,
    pub waiting_since: Option<DateTimeUtc>,
    pub assigned_at: Option<DateTimeUtc>,
    pub first_response_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    /// The visitor cleared their history up to this `seq`: their own views start after it
    /// (staff see everything). 0: never cleared.
    pub visitor_cleared_seq: i64,
    /// The assistant switch: `None` automatic (it answers while the session is `open` and no
    /// human has answered), `Some(true)` on (while `open`, even after a human), `Some(false)`
    /// off.
    pub ai_enabled: Option<bool>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::message::Entity")]
    Message,
}

impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
