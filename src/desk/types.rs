//! Wire types of the desk: the session summary agents see.

use serde::{Deserialize, Serialize};

use crate::messages::types::format_ts;
pub use crate::sessions::types::AiMode;
use crate::sessions::types::ReadSeq;
pub use crate::sessions::types::SessionStatus;

/// An assignee as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Assignee {
    pub id: String,
    pub name: String,
}

/// A session as agents see it (list, created, updated, join, PATCH).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub session_id: String,
    pub code: String,
    pub status: SessionStatus,
    pub assignee: Option<Assignee>,
    pub assignee_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub last_message_at: Option<String>,
    pub waiting_since: Option<String>,
    pub assigned_at: Option<String>,
    pub first_response_at: Option<String>,
    pub resolved_at: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub last_seq: i64,
    pub read_seq: ReadSeq,
    pub unread: i64,
    pub visitor_online: bool,
    pub customer_id: Option<String>,
    /// The latest message (content cut to 200 characters), for list previews.
    pub last_message: Option<serde_json::Value>,
    /// The assistant switch: `auto`, `on` or `off` (see `toggle-ai-mode`).
    pub ai_mode: AiMode,
    /// False only when the assistant is switched off for this session.
    pub ai_enabled: bool,
}

/// The `session_updated` agents get when a session's assistant switch changes.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AiUpdate<'a> {
    pub session_id: &'a str,
    pub ai_mode: AiMode,
    pub ai_enabled: bool,
}

impl SessionSummary {
    pub fn new(
        s: &entity::chat_session::Model,
        assignee_name: Option<String>,
        visitor_online: bool,
    ) -> Self {
        SessionSummary {
            session_id: s.session_id.clone(),
            code: s.code.clone(),
            status: SessionStatus::of(s),
            assignee: s.assignee_id.as_ref().map(|id| Assignee {
                id: id.clone(),
                name: assignee_name.unwrap_or_default(),
            }),
            assignee_id: s.assignee_id.clone(),
            created_at: format_ts(&s.created_at),
            updated_at: format_ts(&s.updated_at),
            last_message_at: s.last_message_at.as_ref().map(format_ts),
            waiting_since: s.waiting_since.as_ref().map(format_ts),
            assigned_at: s.assigned_at.as_ref().map(format_ts),
            first_response_at: s.first_response_at.as_ref().map(format_ts),
            resolved_at: s.resolved_at.as_ref().map(format_ts),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            last_seq: s.last_seq,
            read_seq: ReadSeq {
                user: s.user_read_seq,
                admin: s.admin_read_seq,
            },
            unread: (s.last_seq - s.admin_read_seq).max(0),
            visitor_online,
            customer_id: s.customer_id.clone(),
            last_message: None,
            ai_mode: AiMode::of(s),
            ai_enabled: s.ai_enabled != Some(false),
        }
    }
}

/// `session_status {sessionId, status, assignee}` for the session's room: its status or
/// assignee changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChanged {
    pub session_id: String,
    pub status: SessionStatus,
    pub assignee: Option<Assignee>,
}
