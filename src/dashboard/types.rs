//! Wire types of the reference dashboard's protocol: its session summary and history item.

use serde::{Deserialize, Serialize};

use crate::desk::types::{AiMode, Assignee, SessionStatus, SessionSummary};
use crate::messages::types::MessageDto;

/// What the sidebar shows when a session has no message.
pub const NO_MESSAGES: &str = "No messages yet";

/// A session in `sessions-list` / `all-sessions-list`: the reference app's fields
/// (`sessionId, user, lastMessage, timestamp, isActive, createdAt`), then what chatdesk
/// knows besides.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSession {
    pub session_id: String,
    /// `User-` and the first 8 characters of the session id.
    pub user: String,
    /// The latest message's content (its first 200 characters), or [`NO_MESSAGES`].
    pub last_message: String,
    /// When the latest message was written (the session's creation when none), RFC 3339.
    pub timestamp: String,
    /// Whether the session's visitor is connected now (on any node).
    pub is_active: bool,
    pub created_at: String,
    pub code: String,
    pub status: SessionStatus,
    pub assignee: Option<Assignee>,
    pub unread: i64,
    pub last_seq: i64,
    pub ai_enabled: bool,
    pub ai_mode: AiMode,
}

impl From<SessionSummary> for DashboardSession {
    fn from(s: SessionSummary) -> Self {
        let last = s.last_message.as_ref();
        let last_message = last
            .map(|m| m.content.to_string())
            .unwrap_or_else(|| NO_MESSAGES.to_string());
        let timestamp = last
            .and_then(|m| m.created_at.clone())
            .unwrap_or_else(|| s.created_at.clone());
        DashboardSession {
            user: format!("User-{}", s.session_id.chars().take(8).collect::<String>()),
            last_message,
            timestamp,
            is_active: s.visitor_online,
            created_at: s.created_at,
            code: s.code,
            status: s.status,
            assignee: s.assignee,
            unread: s.unread,
            last_seq: s.last_seq,
            ai_enabled: s.ai_enabled,
            ai_mode: s.ai_mode,
            session_id: s.session_id,
        }
    }
}

/// A message in `messages-history`: the reference app's `{id, message, isAdmin, timestamp}`
/// and the stored message's own fields (`content`, `sender`, `isAI`, `seq`, ...).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    pub message: String,
    pub is_admin: bool,
    pub timestamp: String,
    #[serde(flatten)]
    pub stored: MessageDto,
}

impl From<MessageDto> for HistoryItem {
    fn from(m: MessageDto) -> Self {
        HistoryItem {
            message: m.content.clone(),
            is_admin: m.sender == "admin",
            timestamp: m.created_at.clone(),
            stored: m,
        }
    }
}

/// The session an event names: `{sessionId}`, or the id alone (some dashboards send that).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SessionRef {
    Object {
        #[serde(rename = "sessionId")]
        session_id: String,
    },
    Bare(String),
}

impl SessionRef {
    pub fn into_id(self) -> String {
        match self {
            SessionRef::Object { session_id } | SessionRef::Bare(session_id) => session_id,
        }
    }
}

/// `toggle-ai-mode {sessionId, enabled}`, or `{sessionId, mode: "auto"|"on"|"off"}` to go
/// back to automatic.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToggleAiMode {
    pub session_id: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub mode: Option<AiMode>,
}

impl ToggleAiMode {
    /// The stored switch (`None`: automatic), or what is wrong with the payload.
    pub fn switch(&self) -> Result<Option<bool>, &'static str> {
        match (self.mode, self.enabled) {
            (Some(AiMode::Auto), _) => Ok(None),
            (Some(AiMode::On), _) => Ok(Some(true)),
            (Some(AiMode::Off), _) => Ok(Some(false)),
            (None, Some(on)) => Ok(Some(on)),
            (None, None) => Err("enabled must be true or false"),
        }
    }
}
