//! Wire types of the desk: the session summary agents see, the updates they get about
//! sessions (`session_updated`, `presence`), what a session's room hears of the workflow
//! (`session_status`, `queue_position`, `human-escalation-response`), and the acks of the
//! staff events.

pub use crate::sessions::types::Assignee;
use serde::{Deserialize, Serialize};

pub use crate::csat::types::SessionRating;
use crate::messages::types::{format_ts, LastMessage, MessageDto};
use crate::presence::OnlineAgent;
pub use crate::sessions::types::AiMode;
use crate::sessions::types::ReadSeq;
pub use crate::sessions::types::SessionStatus;

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
    pub last_message: Option<LastMessage<'static>>,
    /// The assistant switch: `auto`, `on` or `off` (see `toggle-ai-mode`).
    pub ai_mode: AiMode,
    /// False only when the assistant is switched off for this session.
    pub ai_enabled: bool,
    /// The names of the session's labels, in name order (staff only).
    pub labels: Vec<String>,
    /// The address the visitor left on the offline form (`leave_contact`), if any.
    pub contact_email: Option<String>,
    /// The visitor's rating of the latest resolution, if given.
    pub rating: Option<SessionRating>,
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
            labels: Vec::new(),
            contact_email: s.contact_email.clone(),
            rating: None,
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

/// `session_updated` to the agents: a session changed. Each cause sends its own set of
/// fields (the console upserts what it gets, and the hub merges updates of one session that
/// come close together, see `hub::coalesce`); [`SessionUpdated::kind`] names the set.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SessionUpdated<'a> {
    /// The whole summary, after a workflow change (kind `summary`).
    Summary(&'a SessionSummary),
    /// A message was stored (kind `activity`): `{sessionId, lastSeq, lastMessageAt, unread,
    /// lastMessage}`, the message without its `createdAt`.
    #[serde(rename_all = "camelCase")]
    Activity {
        session_id: &'a str,
        last_seq: i64,
        last_message_at: &'a str,
        unread: i64,
        last_message: LastMessage<'a>,
    },
    /// A visitor's message reopened a resolved session (kind `status`): `{sessionId,
    /// status, assigneeId, assignee}`.
    #[serde(rename_all = "camelCase")]
    Reopened {
        session_id: &'a str,
        status: SessionStatus,
        assignee_id: Option<&'a str>,
        assignee: Option<&'a Assignee>,
    },
    /// The staff's read watermark moved (kind `read`): `{sessionId, readSeq, unread}`.
    #[serde(rename_all = "camelCase")]
    Read {
        session_id: &'a str,
        read_seq: ReadSeq,
        unread: i64,
    },
    /// The assistant switch changed (kind `ai`): `{sessionId, aiMode, aiEnabled}`.
    #[serde(rename_all = "camelCase")]
    Ai {
        session_id: &'a str,
        ai_mode: AiMode,
        ai_enabled: bool,
    },
    /// The session's labels changed (kind `labels`): `{sessionId, labels}`, every label
    /// name it now has.
    #[serde(rename_all = "camelCase")]
    Labels {
        session_id: &'a str,
        labels: &'a [String],
    },
    /// The visitor rated the resolution (kind `rating`): `{sessionId, rating: {rating,
    /// comment?, createdAt}}`.
    #[serde(rename_all = "camelCase")]
    Rating {
        session_id: &'a str,
        rating: &'a SessionRating,
    },
    /// The visitor left an address on the offline form (kind `contact`): `{sessionId,
    /// contactEmail}`.
    #[serde(rename_all = "camelCase")]
    Contact {
        session_id: &'a str,
        contact_email: &'a str,
    },
}

impl SessionUpdated<'_> {
    /// The event's name.
    pub const EVENT: &'static str = "session_updated";

    /// Which set of fields this is: a newer update of the same kind replaces an older one
    /// that has not gone out yet; different kinds are merged.
    pub fn kind(&self) -> &'static str {
        match self {
            SessionUpdated::Summary(_) => "summary",
            SessionUpdated::Activity { .. } => "activity",
            SessionUpdated::Reopened { .. } => "status",
            SessionUpdated::Read { .. } => "read",
            SessionUpdated::Ai { .. } => "ai",
            SessionUpdated::Labels { .. } => "labels",
            SessionUpdated::Rating { .. } => "rating",
            SessionUpdated::Contact { .. } => "contact",
        }
    }

    /// The session it is about.
    pub fn session_id(&self) -> &str {
        match self {
            SessionUpdated::Summary(s) => &s.session_id,
            SessionUpdated::Activity { session_id, .. }
            | SessionUpdated::Reopened { session_id, .. }
            | SessionUpdated::Read { session_id, .. }
            | SessionUpdated::Ai { session_id, .. }
            | SessionUpdated::Labels { session_id, .. }
            | SessionUpdated::Rating { session_id, .. }
            | SessionUpdated::Contact { session_id, .. } => session_id,
        }
    }
}

/// `availability {online, agentsOnline, reason?, nextOpening?}` to visitors: whether someone
/// (an agent, or the assistant) can answer now. `reason` says why not: `no_agents`, or
/// `outside_hours` (then `nextOpening`, RFC 3339 with the business hours' zone offset, when
/// the schedule opens again).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub online: bool,
    pub agents_online: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<OfflineReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_opening: Option<String>,
}

impl Availability {
    pub const EVENT: &'static str = "availability";
}

/// Why nobody can answer now.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OfflineReason {
    NoAgents,
    OutsideHours,
}

/// The ack of `leave_contact`: `{sessionId, contactEmail, status, position}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactLeft {
    pub session_id: String,
    pub contact_email: String,
    pub status: SessionStatus,
    pub position: Option<usize>,
}

/// `queue_position {sessionId, position}` to a waiting session's room.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuePosition<'a> {
    pub session_id: &'a str,
    pub position: usize,
}

/// `human-escalation-response {message, timestamp}`: the visitor is told a human will come.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EscalationResponse {
    pub message: String,
    pub timestamp: String,
}

impl EscalationResponse {
    /// The text a visitor gets when they ask for a human.
    pub const TEXT: &'static str = "A human agent will contact you soon.";

    /// [`EscalationResponse::TEXT`], now.
    pub fn now() -> Self {
        EscalationResponse {
            message: Self::TEXT.to_string(),
            timestamp: format_ts(&crate::messages::types::now_millis()),
        }
    }
}

/// The ack of `request_human`: `{status, position}` (the place in the queue, if waiting).
#[derive(Debug, Clone, Serialize)]
pub struct EscalationAck {
    pub status: SessionStatus,
    pub position: Option<usize>,
}

/// `presence {agents}` to the agents: who is online.
#[derive(Debug, Serialize)]
pub struct Presence<'a> {
    pub agents: &'a [OnlineAgent],
}

/// The ack of `list_sessions`: a page of summaries, and the cursor of the next page when
/// there may be one (`nextAfter` in the queue's order, `nextBefore` otherwise).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPage {
    pub sessions: Vec<SessionSummary>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// The ack of `join_session`: the session, its read watermarks and its latest messages.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    pub session_id: String,
    pub read_seq: ReadSeq,
    pub session: SessionSummary,
    pub messages: Vec<MessageDto>,
    pub has_more: bool,
    /// The accounts that joined the session as a room (seed 004), in the order they joined;
    /// empty for a widget conversation.
    pub members: Vec<Member>,
}

/// A member of a session (seed 004's room), as staff see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub account_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The seed's room role: `Admin` (created the room) or `Member`.
    pub role: String,
    pub joined_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::types::LastMessage;
    use serde_json::{json, Value};

    fn wire<T: Serialize>(v: &T) -> Value {
        serde_json::to_value(v).unwrap_or_default()
    }

    #[test]
    fn each_session_updated_keeps_the_fields_of_its_cause() {
        let dto = MessageDto {
            id: "m1".into(),
            sender: "user".into(),
            content: "é".repeat(250),
            created_at: "2025-01-02T03:04:05.006Z".into(),
            is_ai: false,
            chat_session_id: "c1".into(),
            seq: 7,
            session_id: "s1".into(),
            client_msg_id: None,
            interrupted: false,
            author_id: None,
            kind: Default::default(),
            file_url: None,
            private: false,
            author_name: None,
            attachment: None,
            source: None,
        };
        let activity = SessionUpdated::Activity {
            session_id: "s1",
            last_seq: 7,
            last_message_at: &dto.created_at,
            unread: 3,
            last_message: LastMessage::of_new(&dto),
        };
        assert_eq!(activity.kind(), "activity");
        assert_eq!(
            wire(&activity),
            json!({
                "sessionId": "s1", "lastSeq": 7, "lastMessageAt": "2025-01-02T03:04:05.006Z",
                "unread": 3,
                "lastMessage": { "seq": 7, "sender": "user", "content": "é".repeat(200), "isAI": false }
            })
        );
        let reopened = SessionUpdated::Reopened {
            session_id: "s1",
            status: SessionStatus::Open,
            assignee_id: None,
            assignee: None,
        };
        assert_eq!(reopened.kind(), "status");
        assert_eq!(
            wire(&reopened),
            json!({ "sessionId": "s1", "status": "open", "assigneeId": null, "assignee": null })
        );
        let read = SessionUpdated::Read {
            session_id: "s1",
            read_seq: ReadSeq { user: 2, admin: 5 },
            unread: 0,
        };
        assert_eq!(read.kind(), "read");
        assert_eq!(
            wire(&read),
            json!({ "sessionId": "s1", "readSeq": { "user": 2, "admin": 5 }, "unread": 0 })
        );
        let ai = SessionUpdated::Ai {
            session_id: "s1",
            ai_mode: AiMode::Off,
            ai_enabled: false,
        };
        assert_eq!((ai.kind(), ai.session_id()), ("ai", "s1"));
        assert_eq!(
            wire(&ai),
            json!({ "sessionId": "s1", "aiMode": "off", "aiEnabled": false })
        );
    }

    #[test]
    fn room_and_ack_shapes() {
        let changed = StatusChanged {
            session_id: "s1".into(),
            status: SessionStatus::Assigned,
            assignee: Some(Assignee {
                id: "a1".into(),
                name: "Ann".into(),
            }),
        };
        assert_eq!(
            wire(&changed),
            json!({ "sessionId": "s1", "status": "assigned", "assignee": { "id": "a1", "name": "Ann" } })
        );
        let position = QueuePosition {
            session_id: "s1",
            position: 2,
        };
        assert_eq!(wire(&position), json!({ "sessionId": "s1", "position": 2 }));
        let reply = EscalationResponse::now();
        assert_eq!(reply.message, "A human agent will contact you soon.");
        assert_eq!(wire(&reply)["timestamp"].as_str().map(str::len), Some(24));
        let ack = EscalationAck {
            status: SessionStatus::Assigned,
            position: None,
        };
        assert_eq!(
            wire(&ack),
            json!({ "status": "assigned", "position": null })
        );
        let page = SessionPage {
            sessions: Vec::new(),
            has_more: true,
            next_before: None,
            next_after: Some("2025-01-02T03:04:05Z~x".into()),
        };
        assert_eq!(
            wire(&page),
            json!({ "sessions": [], "hasMore": true, "nextAfter": "2025-01-02T03:04:05Z~x" })
        );
        let last = SessionPage {
            next_after: None,
            has_more: false,
            ..page
        };
        assert_eq!(wire(&last), json!({ "sessions": [], "hasMore": false }));
    }
}

/// `ai-mode-changed {sessionId, enabled}` (and the switch's mode).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AiModeChanged {
    pub session_id: String,
    pub enabled: bool,
    pub mode: AiMode,
}
