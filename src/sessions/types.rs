//! Wire types of sessions: the seed's `GET /api/chats` item, the `init_session` ack, and the
//! events of a session's room (`typing`, `read`, `visitor_presence`, `history_cleared`) with
//! the acks of the events that cause them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::messages::types::{format_ts, MessageDto, Sender};

/// A session's public id: a UUID, kept in its canonical lowercase form. The one check of a
/// `sessionId` for every protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// `invalid_payload` unless `raw` is a UUID.
    pub fn parse(raw: &str) -> AppResult<Self> {
        match uuid::Uuid::parse_str(raw) {
            Ok(_) => Ok(SessionId(raw.to_ascii_lowercase())),
            Err(_) => Err(AppError::InvalidPayload(
                "sessionId must be a UUID string".into(),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

pub use entity::chat_session::{SessionStatus, UnknownStatus};

impl From<UnknownStatus> for AppError {
    fn from(_: UnknownStatus) -> Self {
        AppError::InvalidPayload(SessionStatus::RULE.into())
    }
}

/// A paging cursor in a list ordered by (instant, id): the last item of the page before.
/// Written `<RFC 3339>~<id>`, which chatdesk hands out (`X-Next-Before`, `nextBefore`,
/// `nextAfter`) and which is exact even when several sessions share an instant (sessions
/// created together do); an RFC 3339 instant alone, as older clients send, still works and
/// means "strictly before / after that instant".
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    /// The last item's id; the list goes on with the items of the same instant beyond it.
    pub id: Option<String>,
}

impl Cursor {
    /// Parses the `name` parameter; an empty value is no cursor.
    pub fn parse(value: Option<&str>, name: &str) -> AppResult<Option<Cursor>> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let invalid = || {
            AppError::InvalidPayload(format!(
                "{name} must be an RFC 3339 timestamp or a cursor this server handed out"
            ))
        };
        let (at, id) = match v.split_once('~') {
            Some((at, id)) if !id.is_empty() && id.len() <= 64 => (at, Some(id.to_string())),
            Some(_) => return Err(invalid()),
            None => (v, None),
        };
        let at = DateTime::parse_from_rfc3339(at)
            .map_err(|_| invalid())?
            .with_timezone(&Utc);
        Ok(Some(Cursor { at, id }))
    }

    /// The cursor that continues after an item (every digit of the instant kept).
    pub fn encode(at: &DateTime<Utc>, id: &str) -> String {
        format!("{}~{id}", at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

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
    pub status: SessionStatus,
    pub code: String,
    pub assignee_id: Option<String>,
    pub last_seq: i64,
    pub updated_at: String,
    pub last_message_at: Option<String>,
    /// The assistant switch: `auto`, `on` or `off`.
    pub ai_mode: AiMode,
    /// False only when the assistant is switched off for this session.
    pub ai_enabled: bool,
    /// The session's label names (staff lists only; absent for a customer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// The address the visitor left on the offline form (staff lists only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    /// The visitor's rating of the latest resolution (staff lists only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<crate::csat::types::SessionRating>,
}

/// A session's assistant switch as clients see it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AiMode {
    Auto,
    On,
    Off,
}

impl AiMode {
    pub fn of(s: &entity::chat_session::Model) -> Self {
        match s.ai_enabled {
            None => AiMode::Auto,
            Some(true) => AiMode::On,
            Some(false) => AiMode::Off,
        }
    }
}

impl ChatSummary {
    pub fn new(s: entity::chat_session::Model, messages: Vec<MessageDto>) -> Self {
        ChatSummary {
            labels: None,
            contact_email: s.contact_email.clone(),
            rating: None,
            ai_mode: AiMode::of(&s),
            ai_enabled: s.ai_enabled != Some(false),
            id: s.id,
            session_id: s.session_id,
            ip: s.ip,
            user_agent: s.user_agent,
            created_at: format_ts(&s.created_at),
            messages,
            status: SessionStatus::stored(&s.status),
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
    pub status: SessionStatus,
    pub code: String,
    pub last_seq: i64,
    pub read_seq: ReadSeq,
    /// The agent who owns the session (`{id, name}`), if any.
    pub assignee: Option<Assignee>,
    /// Place in the queue while the session waits for an agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageDto>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_more: Option<bool>,
}

/// `typing {sessionId, sender, isTyping, isAI?}` to the session's room: someone types, or
/// stopped. `isAI` (true) only when the assistant is the one writing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    pub session_id: String,
    pub sender: Sender,
    pub is_typing: bool,
    #[serde(rename = "isAI", default, skip_serializing_if = "Option::is_none")]
    pub is_ai: Option<bool>,
}

impl Typing {
    /// A person of one side types (or stopped).
    pub fn by(session_id: &str, sender: Sender, is_typing: bool) -> Self {
        Typing {
            session_id: session_id.to_string(),
            sender,
            is_typing,
            is_ai: None,
        }
    }
}

/// The ack of `typing`: `{sessionId, isTyping}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingAck {
    pub session_id: String,
    pub is_typing: bool,
}

/// `read {sessionId, reader, seq}` to the session's room: a side's read watermark moved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReadReceipt {
    pub session_id: String,
    pub reader: Reader,
    pub seq: i64,
}

/// The ack of `read`: `{reader, seq}`, the watermark stored.
#[derive(Debug, Clone, Serialize)]
pub struct ReadAck {
    pub reader: Reader,
    pub seq: i64,
}

/// `visitor_presence {sessionId, online}`: the session's visitor came or went (on any node).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorPresence {
    pub session_id: String,
    pub online: bool,
}

/// The ack of `get_history`: a page of messages, oldest first.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub messages: Vec<MessageDto>,
    pub has_more: bool,
}

/// `history_cleared {sessionId, clearedSeq?}`: the session's history was erased (for
/// everyone), or hidden from its visitor up to `clearedSeq` (sent to the visitor side only).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryCleared {
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleared_seq: Option<i64>,
}

/// The answer to a clear (`clear_history` ack, `DELETE /api/chats/:id`): `{sessionId,
/// cleared, clearedSeq?}`, how many messages were erased (or hidden, up to `clearedSeq`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cleared {
    pub session_id: String,
    pub cleared: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleared_seq: Option<i64>,
}

/// `{sessionId}`: the ack of joining or leaving a session's room.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAck {
    pub session_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_their_lowercase_words_on_the_wire_and_in_the_database() {
        for st in SessionStatus::ALL {
            let wire = serde_json::to_value(st).unwrap_or_default();
            assert_eq!(wire, serde_json::Value::String(st.as_str().into()));
            assert_eq!(st.as_str().parse::<SessionStatus>().ok(), Some(st));
            assert_eq!(SessionStatus::stored(st.as_str()), st);
            assert!(st.as_str().to_string() == st);
        }
        assert_eq!(SessionStatus::Waiting.as_str(), "waiting");
    }

    #[test]
    fn an_unknown_status_is_refused_with_the_rule() {
        let refused = "closed"
            .parse::<SessionStatus>()
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            refused.as_deref(),
            Some("status must be open, waiting, assigned or resolved")
        );
        assert!("Open".parse::<SessionStatus>().is_err());
    }
}

#[cfg(test)]
mod event_tests {
    use super::*;
    use serde_json::{json, Value};

    fn wire<T: Serialize>(v: &T) -> Value {
        serde_json::to_value(v).unwrap_or_default()
    }

    #[test]
    fn typing_names_the_assistant_only_when_it_types() {
        let person = Typing::by("s1", Sender::User, true);
        assert_eq!(
            wire(&person),
            json!({ "sessionId": "s1", "sender": "user", "isTyping": true })
        );
        let bot = Typing {
            is_ai: Some(true),
            ..Typing::by("s1", Sender::Admin, false)
        };
        assert_eq!(
            wire(&bot),
            json!({ "sessionId": "s1", "sender": "admin", "isTyping": false, "isAI": true })
        );
        let ack = TypingAck {
            session_id: "s1".into(),
            is_typing: true,
        };
        assert_eq!(wire(&ack), json!({ "sessionId": "s1", "isTyping": true }));
    }

    #[test]
    fn read_presence_and_clear_shapes() {
        let receipt = ReadReceipt {
            session_id: "s1".into(),
            reader: Reader::Admin,
            seq: 4,
        };
        assert_eq!(
            wire(&receipt),
            json!({ "sessionId": "s1", "reader": "admin", "seq": 4 })
        );
        let ack = ReadAck {
            reader: Reader::User,
            seq: 4,
        };
        assert_eq!(wire(&ack), json!({ "reader": "user", "seq": 4 }));
        let presence = VisitorPresence {
            session_id: "s1".into(),
            online: false,
        };
        assert_eq!(
            wire(&presence),
            json!({ "sessionId": "s1", "online": false })
        );
        let for_all = HistoryCleared {
            session_id: "s1".into(),
            cleared_seq: None,
        };
        assert_eq!(wire(&for_all), json!({ "sessionId": "s1" }));
        let for_visitor = HistoryCleared {
            cleared_seq: Some(9),
            ..for_all
        };
        assert_eq!(
            wire(&for_visitor),
            json!({ "sessionId": "s1", "clearedSeq": 9 })
        );
        let erased = Cleared {
            session_id: "s1".into(),
            cleared: 3,
            cleared_seq: None,
        };
        assert_eq!(wire(&erased), json!({ "sessionId": "s1", "cleared": 3 }));
        let hidden = Cleared {
            cleared_seq: Some(9),
            ..erased
        };
        assert_eq!(
            wire(&hidden),
            json!({ "sessionId": "s1", "cleared": 3, "clearedSeq": 9 })
        );
    }

    #[test]
    fn counts_by_status_are_keyed_by_the_status_words() {
        let counts: std::collections::BTreeMap<SessionStatus, u64> =
            SessionStatus::ALL.into_iter().zip(1..).collect();
        assert_eq!(
            wire(&counts),
            json!({ "open": 1, "waiting": 2, "assigned": 3, "resolved": 4 })
        );
    }
}

/// Which side reads (`user` or `admin` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reader {
    User,
    Admin,
}

impl Reader {
    pub fn as_str(self) -> &'static str {
        match self {
            Reader::User => "user",
            Reader::Admin => "admin",
        }
    }
}

/// An assignee as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Assignee {
    pub id: String,
    pub name: String,
}
