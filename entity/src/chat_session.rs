//! A support conversation between one visitor and the desk.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

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
    /// The address a visitor left with the offline form (nobody was online), for staff.
    pub contact_email: Option<String>,
    pub contact_left_at: Option<DateTimeUtc>,
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

/// Where a session stands in the desk's workflow: `open` (the visitor and, maybe, the
/// assistant), `waiting` (in the queue for a human), `assigned` (an agent owns it),
/// `resolved`. Stored as its lowercase word in `chat_sessions.status`; sent as that word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Open,
    Waiting,
    Assigned,
    Resolved,
}

impl SessionStatus {
    /// Every status, in workflow order.
    pub const ALL: [SessionStatus; 4] = [
        SessionStatus::Open,
        SessionStatus::Waiting,
        SessionStatus::Assigned,
        SessionStatus::Resolved,
    ];

    /// What a refused status is told.
    pub const RULE: &'static str = "status must be open, waiting, assigned or resolved";

    /// The word stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Waiting => "waiting",
            SessionStatus::Assigned => "assigned",
            SessionStatus::Resolved => "resolved",
        }
    }

    /// A stored session's status. Every writer of the column goes through this enum, so
    /// another word would be a hand-edited row: it is read as `open` (as `PATCH` always
    /// treated it) and logged.
    pub fn of(s: &Model) -> Self {
        Self::stored(&s.status)
    }

    /// [`SessionStatus::of`] for the column's text alone.
    pub fn stored(raw: &str) -> Self {
        raw.parse().unwrap_or_else(|_| {
            tracing::warn!(status = raw, "unknown session status stored; read as open");
            SessionStatus::Open
        })
    }
}

/// A word that is not a session status (chatdesk answers it `invalid_payload`, with
/// [`SessionStatus::RULE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownStatus;

impl std::fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(SessionStatus::RULE)
    }
}

impl std::error::Error for UnknownStatus {}

impl std::str::FromStr for SessionStatus {
    type Err = UnknownStatus;

    /// Refused unless `s` is one of the four words.
    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        SessionStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or(UnknownStatus)
    }
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored status (the column's text) compared with a status.
impl PartialEq<SessionStatus> for String {
    fn eq(&self, other: &SessionStatus) -> bool {
        self == other.as_str()
    }
}
