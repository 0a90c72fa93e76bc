//! Wire types of sessions: the seed's `GET /api/chats` item and the `init_session` ack.

use serde::{Deserialize, Serialize};

use crate::messages::types::{format_ts, MessageDto};

/// Read watermarks of both sides.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReadSeq {
    pub user: i64,
    pub admin: i64,
}

/// One item of `GET /api/chats`: the seed's fields plus the desk's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatSummary {
    pub id: String,
    pub session_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: String,
    pub messages: Vec<MessageDto>,
    pub status: String,
    pub code: String,
    pub assignee_id: Option<String>,
    pub last_seq: i64,
    pub updated_at: String,
    pub last_message_at: Option<String>,
}

impl ChatSummary {
    pub fn new(s: entity::chat_session::Model, messages: Vec<MessageDto>) -> Self {
        ChatSummary {
            id: s.id,
            session_id: s.session_id,
            ip: s.ip,
            user_agent: s.user_agent,
            created_at: format_ts(&s.created_at),
            messages,
            status: s.status,
            code: s.code,
            assignee_id: s.assignee_id,
            last_seq: s.last_seq,
            updated_at: format_ts(&s.updated_at),
            last_message_at: s.last_message_at.as_ref().map(format_ts),
        }
    }
}

/// The `init_session` ack: seed-compatible (`sessionId` at the top, not wrapped).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitAck {
    pub session_id: String,
    pub resumed: bool,
    pub status: String,
    pub code: String,
    pub last_seq: i64,
    pub read_seq: ReadSeq,
    /// The agent who owns the session (`{id, name}`), if any.
    pub assignee: Option<crate::desk::types::Assignee>,
    /// Place in the queue while the session waits for an agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageDto>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_more: Option<bool>,
}
