//! Wire types of the plain-WebSocket gateway: what a client may send (`Inbound`, decoded
//! from one JSON text message with a `type`), and what it receives (`Outbound`, one JSON
//! object with a `type` and a `timestamp`, RFC 3339 UTC with milliseconds). Events of the
//! session's room (the same ones socket.io clients get) are read with the types their
//! senders wrote them with and translated here to the seeds' shapes.
//!
//! `Inbound` is decoded through a serde-tagged enum ([`Frame`]). The seeds name a message's
//! text differently (`chat` reads `content`, else `message`; `message` the reverse; the
//! first name present wins, even when the other one is malformed), and each refusal names the
//! field and the `type` as these clients have always been told: so the text fields are taken
//! as they come ([`Loose`]) and the frame's own rule picks one.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::assistant::types::{StreamEnd, StreamStart, StreamToken};
use crate::csat::types::{Rated, RatingRequest};
use crate::desk::service::Reader;
use crate::desk::types::{
    Assignee, Availability, ContactLeft, EscalationResponse, QueuePosition, StatusChanged,
};
use crate::error::AppError;
use crate::messages::types::{
    format_ts, now_millis, AiSource, Attachment, ClientMsgId, Media, MessageDto, MessageKind,
    Sender,
};
use crate::sessions::types::{ReadReceipt, SessionStatus, Typing};

/// A client message, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// `chat {content}` (seed 001) or `message {message}` (seed 000): the visitor writes;
    /// `messageType` and `fileUrl`, or `attachmentId`, make it a file message (then the text
    /// may be left out).
    Chat {
        content: String,
        client_msg_id: Option<ClientMsgId>,
        media: Media,
    },
    /// `human-escalation {message?}` (alias `request_human`): the visitor asks for a human.
    Escalate { message: Option<String> },
    /// `ping`: answered with `pong`.
    Ping,
    /// `get_history {beforeSeq?, limit?}`.
    GetHistory {
        before_seq: Option<i64>,
        limit: Option<u64>,
    },
    /// `clear_history`.
    ClearHistory,
    /// `typing {isTyping}`: the visitor is typing (relayed to agents).
    Typing { is_typing: bool },
    /// `rate_session {rating, comment?, sessionId?}`: the visitor rates the resolution.
    Rate {
        session_id: Option<String>,
        rating: Value,
        comment: Option<Value>,
    },
    /// `leave_contact {email, message?, sessionId?}`: nobody is online; the visitor leaves
    /// an address.
    LeaveContact {
        session_id: Option<String>,
        email: String,
        message: Option<String>,
    },
}

/// A client message that could not be decoded: the error, and its `type` when known.
#[derive(Debug)]
pub struct Malformed {
    pub event: Option<String>,
    pub error: AppError,
}

impl From<AppError> for Malformed {
    fn from(error: AppError) -> Self {
        Malformed { event: None, error }
    }
}

fn invalid(event: Option<&str>, why: impl Into<String>) -> Malformed {
    Malformed {
        event: event.map(String::from),
        error: AppError::InvalidPayload(why.into()),
    }
}

/// One client message as it arrives, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Frame {
    #[serde(rename = "chat")]
    Chat(Text),
    #[serde(rename = "message")]
    Message(Text),
    #[serde(rename = "human-escalation", alias = "request_human")]
    Escalate {
        #[serde(default, deserialize_with = "escalation_text")]
        message: Option<String>,
    },
    #[serde(rename = "ping")]
    Ping,
    #[serde(rename = "get_history", rename_all = "camelCase")]
    GetHistory {
        #[serde(default, deserialize_with = "before_seq")]
        before_seq: Option<i64>,
        #[serde(default, deserialize_with = "limit")]
        limit: Option<u64>,
    },
    #[serde(rename = "clear_history")]
    ClearHistory,
    #[serde(rename = "typing", rename_all = "camelCase")]
    Typing {
        #[serde(default, deserialize_with = "flag")]
        is_typing: Option<bool>,
    },
    #[serde(rename = "rate_session", rename_all = "camelCase")]
    Rate {
        #[serde(default)]
        session_id: Option<String>,
        #[serde(default)]
        rating: Value,
        #[serde(default)]
        comment: Option<Value>,
    },
    #[serde(rename = "leave_contact", rename_all = "camelCase")]
    LeaveContact {
        #[serde(default)]
        session_id: Option<String>,
        #[serde(default)]
        email: String,
        #[serde(default)]
        message: Option<String>,
    },
    #[serde(other)]
    Unknown,
}

/// The fields of `chat` and `message`, taken as they come: which one counts, and which
/// refusal is reported first, is the frame's rule ([`Text::decode`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Text {
    #[serde(default)]
    content: Loose<String>,
    #[serde(default)]
    message: Loose<String>,
    #[serde(default)]
    client_msg_id: Loose<Option<ClientMsgId>>,
    /// `messageType` (`type` is the frame's own) and `fileUrl`, checked by [`Media`]'s rule.
    #[serde(default)]
    message_type: Option<Value>,
    #[serde(default)]
    file_url: Option<Value>,
    /// An uploaded file of this session (`POST /api/chats/:sessionId/attachments`).
    #[serde(default)]
    attachment_id: Option<Value>,
}

/// A field that may be absent, well-formed or malformed, without failing the frame.
#[derive(Debug, Default)]
enum Loose<T> {
    #[default]
    Absent,
    Valid(T),
    Malformed,
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Loose<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(T::deserialize(v).map_or(Loose::Malformed, Loose::Valid))
    }
}

impl Text {
    /// The text under `first` (else `second`), and the client's message id.
    fn decode(self, kind: &str) -> Result<Inbound, String> {
        let (first, a, b) = if kind == "chat" {
            ("content", self.content, self.message)
        } else {
            ("message", self.message, self.content)
        };
        let media = Media::from_json(self.message_type.as_ref(), self.file_url.as_ref())
            .and_then(|m| m.with_attachment_id(self.attachment_id.as_ref()))
            .map_err(|e| e.to_string())?;
        let content = match (a, b) {
            (Loose::Valid(s), _) | (Loose::Absent, Loose::Valid(s)) => s,
            (Loose::Absent, Loose::Absent)
                if media.file_url.is_some() || media.attachment_id.is_some() =>
            {
                String::new()
            }
            (Loose::Absent, Loose::Absent) => return Err(format!("{kind} needs a {first} string")),
            // Whichever name was malformed, the client is told the frame's own name.
            (Loose::Malformed, _) | (Loose::Absent, Loose::Malformed) => {
                return Err(format!("{first} must be a string"))
            }
        };
        let client_msg_id = match self.client_msg_id {
            Loose::Absent => None,
            Loose::Valid(id) => id,
            Loose::Malformed => return Err(ClientMsgId::RULE.into()),
        };
        Ok(Inbound::Chat {
            content: media.content(content),
            client_msg_id,
            media,
        })
    }
}

fn refuse<E: serde::de::Error>(rule: &'static str) -> impl FnOnce(E) -> E {
    move |_| E::custom(rule)
}

fn escalation_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d).map_err(refuse("message must be a string"))
}

fn before_seq<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    const RULE: &str = "beforeSeq must be a non-negative integer";
    match Option::<i64>::deserialize(d).map_err(refuse(RULE))? {
        Some(n) if n < 0 => Err(serde::de::Error::custom(RULE)),
        n => Ok(n),
    }
}

fn limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    const RULE: &str = "limit must be a positive integer";
    match Option::<u64>::deserialize(d).map_err(refuse(RULE))? {
        Some(0) => Err(serde::de::Error::custom(RULE)),
        n => Ok(n),
    }
}

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Option::<bool>::deserialize(d).map_err(refuse(TYPING_RULE))
}

const TYPING_RULE: &str = "typing needs isTyping: true or false";

/// Decodes one text message.
pub fn parse(text: &str) -> Result<Inbound, Malformed> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| invalid(None, "message is not valid JSON (send {\"type\": ...})"))?;
    let kind = match value.as_object().map(|o| o.get("type")) {
        None => return Err(invalid(None, "message must be a JSON object")),
        Some(Some(Value::String(t))) => t.clone(),
        Some(Some(_)) => return Err(invalid(None, "type must be a string")),
        Some(None) => return Err(invalid(None, "type is required")),
    };
    let ev = Some(kind.as_str());
    let frame = Frame::deserialize(value).map_err(|e| invalid(ev, e.to_string()))?;
    match frame {
        Frame::Chat(t) | Frame::Message(t) => t.decode(&kind).map_err(|e| invalid(ev, e)),
        Frame::Escalate { message } => Ok(Inbound::Escalate { message }),
        Frame::Ping => Ok(Inbound::Ping),
        Frame::GetHistory { before_seq, limit } => Ok(Inbound::GetHistory { before_seq, limit }),
        Frame::ClearHistory => Ok(Inbound::ClearHistory),
        Frame::Typing { is_typing } => is_typing
            .map(|is_typing| Inbound::Typing { is_typing })
            .ok_or_else(|| invalid(ev, TYPING_RULE)),
        Frame::Rate {
            session_id,
            rating,
            comment,
        } => Ok(Inbound::Rate {
            session_id,
            rating,
            comment,
        }),
        Frame::LeaveContact {
            session_id,
            email,
            message,
        } => Ok(Inbound::LeaveContact {
            session_id,
            email,
            message,
        }),
        Frame::Unknown => Err(invalid(ev, format!("unknown message type {kind:?}"))),
    }
}

/// Now, as every server message's `timestamp`.
pub fn now() -> String {
    format_ts(&now_millis())
}

/// A server message: a JSON object with its `type` and a `timestamp` (when it happened: now,
/// unless the event has its own).
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum Outbound<'a> {
    /// `session {sessionId, code, status, resumed, lastSeq, queuePosition, contactLeft?}`: where the client
    /// is; the first message of a connection.
    #[serde(rename = "session", rename_all = "camelCase")]
    Session {
        session_id: &'a str,
        code: &'a str,
        status: SessionStatus,
        resumed: bool,
        last_seq: i64,
        queue_position: Option<usize>,
        /// True once the visitor left an address on the offline form (absent otherwise).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        contact_left: bool,
        timestamp: String,
    },
    /// `pong`: the answer to `ping`.
    #[serde(rename = "pong")]
    Pong { timestamp: String },
    /// `error {code, message, error, event?, retryAfterMs?}`; `error` repeats the text for
    /// seed 000's clients, which read that field.
    #[serde(rename = "error", rename_all = "camelCase")]
    Error {
        code: &'static str,
        message: String,
        error: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        event: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
        timestamp: String,
    },
    /// `history {messages, hasMore, sessionId, resync?}`.
    #[serde(rename = "history")]
    History(History<'a>),
    /// `message {...}`: what the staff side (an agent or the assistant) wrote.
    #[serde(rename = "message")]
    Message(LiveMessage<'a>),
    /// `user_message {...}`: what the visitor side wrote elsewhere (another tab, a
    /// socket.io widget of the same session).
    #[serde(rename = "user_message")]
    UserMessage(LiveMessage<'a>),
    /// `sent {id, seq, content, sessionId, duplicate, clientMsgId?}`: the visitor's own
    /// message is stored (the answer to `chat` / `message`, in place of socket.io's ack);
    /// `timestamp` is the message's.
    #[serde(rename = "sent", rename_all = "camelCase")]
    Sent {
        id: &'a str,
        seq: i64,
        content: &'a str,
        session_id: &'a str,
        duplicate: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<&'a str>,
        timestamp: &'a str,
    },
    /// `human-escalation-response {message, status, position}`: the answer to this client's
    /// `human-escalation`.
    #[serde(rename = "human-escalation-response")]
    EscalationAnswer {
        message: &'static str,
        status: SessionStatus,
        position: Option<usize>,
        timestamp: String,
    },
    /// `human-escalation-response {message}`: the assistant handed the session over (the
    /// room's event, which has no status or position); `timestamp` is the event's.
    #[serde(rename = "human-escalation-response")]
    EscalationNotice { message: String, timestamp: String },
    /// `typing {isTyping, sender}`: the staff side (`agent` or `bot`) types.
    #[serde(rename = "typing", rename_all = "camelCase")]
    Typing {
        is_typing: bool,
        sender: &'static str,
        timestamp: String,
    },
    /// `stream-start {messageId}`.
    #[serde(rename = "stream-start", rename_all = "camelCase")]
    StreamStart {
        message_id: Cow<'a, str>,
        timestamp: String,
    },
    /// `stream-token {messageId, token, index}`.
    #[serde(rename = "stream-token", rename_all = "camelCase")]
    StreamToken {
        message_id: Cow<'a, str>,
        token: Cow<'a, str>,
        index: usize,
        timestamp: String,
    },
    /// `stream-end {messageId, content?, seq?, interrupted?}`: `content` and `seq` of the
    /// stored reply when one was stored, `interrupted` (true) when it was cut short.
    #[serde(rename = "stream-end", rename_all = "camelCase")]
    StreamEnd {
        message_id: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<i64>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        interrupted: bool,
        timestamp: String,
    },
    /// `session_status {status, assignee}`.
    #[serde(rename = "session_status")]
    StatusChanged {
        status: SessionStatus,
        assignee: Option<Assignee>,
        timestamp: String,
    },
    /// `queue_position {position}`.
    #[serde(rename = "queue_position")]
    QueuePosition { position: usize, timestamp: String },
    /// `read {reader, seq}`: a side read up to `seq`.
    #[serde(rename = "read")]
    Read {
        reader: Reader,
        seq: i64,
        timestamp: String,
    },
    /// `rating_request {sessionId}`: the session was resolved; the visitor is asked to rate
    /// it (`rate_session`).
    #[serde(rename = "rating_request", rename_all = "camelCase")]
    RatingRequest {
        session_id: String,
        timestamp: String,
    },
    /// `rated {sessionId, rating, comment?, createdAt}`: the answer to `rate_session`.
    #[serde(rename = "rated")]
    Rated {
        #[serde(flatten)]
        rated: Rated,
        timestamp: String,
    },
    /// `availability {online, agentsOnline, reason?, nextOpening?}`: whether anyone can
    /// answer now (after `session`, and on each change).
    #[serde(rename = "availability")]
    Availability {
        #[serde(flatten)]
        availability: Availability,
        timestamp: String,
    },
    /// `contact_left {sessionId, contactEmail, status, position}`: the answer to
    /// `leave_contact`.
    #[serde(rename = "contact_left")]
    ContactLeft {
        #[serde(flatten)]
        left: ContactLeft,
        timestamp: String,
    },
}

/// `error {code, message, error, event?, retryAfterMs?}`.
pub fn error<'a>(err: &AppError, event: Option<&'a str>) -> Outbound<'a> {
    let body = err.body();
    Outbound::Error {
        code: body.code,
        error: body.message.clone(),
        message: body.message,
        event,
        retry_after_ms: body.retry_after_ms,
        timestamp: now(),
    }
}

/// Who wrote a message, as the seeds name it: the visitor is `user`, the assistant `bot`,
/// a human of the staff `agent`.
pub fn sender_label(sender: &str, is_ai: bool) -> &'static str {
    match (sender, is_ai) {
        ("user", _) => "user",
        (_, true) => "bot",
        _ => "agent",
    }
}

/// `history {messages, hasMore, sessionId, resync?}`: messages oldest first; `resync` (true)
/// when it is sent again because the client fell behind.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History<'a> {
    pub messages: Vec<HistoryItem<'a>>,
    pub has_more: bool,
    pub session_id: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resync: bool,
    pub timestamp: String,
}

/// One history item: seed 000's `{id, text, sender, timestamp}` plus `content`, `seq`,
/// `isAI`, and `interrupted` (true) for an assistant reply that was cut short.
#[derive(Debug, Serialize)]
pub struct HistoryItem<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub content: &'a str,
    pub sender: &'static str,
    #[serde(rename = "isAI")]
    pub is_ai: bool,
    pub seq: i64,
    pub timestamp: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// The message's type, named as in the live frames.
    #[serde(rename = "messageType")]
    pub message_type: MessageKind,
    #[serde(rename = "fileUrl", skip_serializing_if = "Option::is_none")]
    pub file_url: Option<&'a str>,
    /// The uploaded file the message carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
    /// What produced an automatic message (`llm`, `kb`, `rule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<AiSource>,
}

impl<'a> HistoryItem<'a> {
    pub fn of(m: &'a entity::message::Model) -> Self {
        HistoryItem {
            id: &m.id,
            text: &m.content,
            content: &m.content,
            sender: sender_label(&m.sender, m.is_ai),
            is_ai: m.is_ai,
            seq: m.seq,
            timestamp: format_ts(&m.created_at),
            interrupted: m.interrupted,
            message_type: MessageKind::stored(&m.kind),
            file_url: m.file_url.as_deref(),
            attachment: Attachment::stored(m.attachment.as_deref()),
            source: AiSource::stored(m.source.as_deref()),
        }
    }
}

/// `history {messages, hasMore, sessionId}`.
pub fn history<'a>(
    session_id: &'a str,
    messages: &'a [entity::message::Model],
    has_more: bool,
) -> History<'a> {
    History {
        messages: messages.iter().map(HistoryItem::of).collect(),
        has_more,
        session_id,
        resync: false,
        timestamp: now(),
    }
}

/// A stored message of the room as a plain-WebSocket message: `{id, message, content,
/// sender, isAI, seq, clientMsgId?, interrupted?, messageType, fileUrl?}` (`messageType`:
/// the frame's `type` is its own), `timestamp` the message's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveMessage<'a> {
    pub id: &'a str,
    pub message: &'a str,
    pub content: &'a str,
    pub sender: &'static str,
    #[serde(rename = "isAI")]
    pub is_ai: bool,
    pub seq: i64,
    pub timestamp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub message_type: MessageKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<&'a Attachment>,
    /// What produced an automatic message (`llm`, `kb`, `rule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<AiSource>,
}

/// A stored message of the room (socket.io `message`, a `MessageDto`) as a plain-WebSocket
/// message: `message` for what the staff side (agent or assistant) wrote, `user_message`
/// for what the visitor side wrote elsewhere (another tab, a socket.io widget of the same
/// session).
pub fn live_message(dto: &MessageDto) -> Outbound<'_> {
    let label = sender_label(&dto.sender, dto.is_ai);
    let m = LiveMessage {
        id: &dto.id,
        message: &dto.content,
        content: &dto.content,
        sender: label,
        is_ai: dto.is_ai,
        seq: dto.seq,
        timestamp: &dto.created_at,
        client_msg_id: dto.client_msg_id.as_deref(),
        interrupted: dto.interrupted,
        message_type: dto.kind,
        file_url: dto.file_url.as_deref(),
        attachment: dto.attachment.as_ref(),
        source: dto.source,
    };
    if label == "user" {
        Outbound::UserMessage(m)
    } else {
        Outbound::Message(m)
    }
}

/// `sent {id, seq, content, sessionId, duplicate, clientMsgId?, timestamp}`.
pub fn sent(dto: &MessageDto, duplicate: bool) -> Outbound<'_> {
    Outbound::Sent {
        id: &dto.id,
        seq: dto.seq,
        content: &dto.content,
        session_id: &dto.session_id,
        duplicate,
        client_msg_id: dto.client_msg_id.as_deref(),
        timestamp: &dto.created_at,
    }
}

/// Reads a room event as the type its senders wrote it with.
fn read<'a, T: Deserialize<'a>>(event: &str, data: &'a Value) -> Option<T> {
    match T::deserialize(data) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, event, "room event not understood; not relayed");
            None
        }
    }
}

/// Translates a room event other than `message` and `history_cleared` (handled by the
/// connection, which knows what it sent itself); `None` for events plain clients do not get
/// (`visitor_presence`, call signalling, the visitor side's own `typing`).
pub fn translate<'a>(event: &str, data: &'a Value) -> Option<Outbound<'a>> {
    let frame = match event {
        "typing" => {
            let t: Typing = read(event, data)?;
            if t.sender == Sender::User {
                return None;
            }
            Outbound::Typing {
                is_typing: t.is_typing,
                sender: sender_label(t.sender.as_str(), t.is_ai.unwrap_or(false)),
                timestamp: now(),
            }
        }
        "stream-start" => {
            let s: StreamStart = read(event, data)?;
            Outbound::StreamStart {
                message_id: s.message_id,
                timestamp: now(),
            }
        }
        "stream-token" => {
            let t: StreamToken = read(event, data)?;
            Outbound::StreamToken {
                message_id: t.message_id,
                token: t.token,
                index: t.index,
                timestamp: now(),
            }
        }
        "stream-end" => {
            let e: StreamEnd = read(event, data)?;
            let stored = e.message.map(Cow::into_owned);
            Outbound::StreamEnd {
                message_id: e.message_id,
                interrupted: stored.as_ref().is_some_and(|m| m.interrupted),
                seq: stored.as_ref().map(|m| m.seq),
                content: stored.map(|m| m.content),
                timestamp: now(),
            }
        }
        "human-escalation-response" => {
            let r: EscalationResponse = read(event, data)?;
            Outbound::EscalationNotice {
                message: r.message,
                timestamp: r.timestamp,
            }
        }
        RatingRequest::EVENT => {
            let r: RatingRequest = read(event, data)?;
            Outbound::RatingRequest {
                session_id: r.session_id,
                timestamp: now(),
            }
        }
        Availability::EVENT => Outbound::Availability {
            availability: read(event, data)?,
            timestamp: now(),
        },
        "session_status" => {
            let c: StatusChanged = read(event, data)?;
            Outbound::StatusChanged {
                status: c.status,
                assignee: c.assignee,
                timestamp: now(),
            }
        }
        "queue_position" => {
            let q: QueuePosition = read(event, data)?;
            Outbound::QueuePosition {
                position: q.position,
                timestamp: now(),
            }
        }
        "read" => {
            let r: ReadReceipt = read(event, data)?;
            Outbound::Read {
                reader: r.reader,
                seq: r.seq,
                timestamp: now(),
            }
        }
        _ => return None,
    };
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A server message as the client reads it.
    fn sent_as(frame: Option<Outbound>) -> Option<Value> {
        frame.map(|f| serde_json::to_value(f).unwrap_or_default())
    }

    /// A room's `message` event as the connection reads it, sent as the client gets it.
    fn live(dto: &Value) -> Value {
        let dto = MessageDto::deserialize(dto).unwrap_or_else(|e| panic!("{e}: {dto}"));
        serde_json::to_value(live_message(&dto)).unwrap_or_default()
    }

    fn code(text: &str) -> (&'static str, Option<String>) {
        match parse(text) {
            Ok(m) => panic!("accepted {text}: {m:?}"),
            Err(m) => (m.error.code(), m.event),
        }
    }

    #[test]
    fn decodes_both_seeds_messages() {
        assert_eq!(
            parse(r#"{"type": "chat", "content": "Hello, how can you help me?"}"#).ok(),
            Some(Inbound::Chat {
                content: "Hello, how can you help me?".into(),
                client_msg_id: None,
                media: Media::default()
            })
        );
        assert_eq!(
            parse(r#"{"type": "message", "message": "xin chào", "clientMsgId": 7}"#).ok(),
            Some(Inbound::Chat {
                content: "xin chào".into(),
                client_msg_id: ClientMsgId::from_json(Some(&json!(7))).ok().flatten(),
                media: Media::default()
            })
        );
        let image = parse(
            r#"{"type": "message", "messageType": "image", "fileUrl": "https://x.example/p/cat.png"}"#,
        );
        assert!(
            matches!(&image, Ok(Inbound::Chat { content, media, .. })
                if content == "cat.png" && media.kind == MessageKind::Image),
            "{image:?}"
        );
        assert_eq!(
            parse(
                r#"{"type": "human-escalation", "message": "I need to speak with a human agent"}"#
            )
            .ok(),
            Some(Inbound::Escalate {
                message: Some("I need to speak with a human agent".into())
            })
        );
        assert_eq!(parse(r#"{"type": "ping"}"#).ok(), Some(Inbound::Ping));
        assert_eq!(
            parse(r#"{"type": "get_history"}"#).ok(),
            Some(Inbound::GetHistory {
                before_seq: None,
                limit: None
            })
        );
        assert_eq!(
            parse(r#"{"type": "clear_history"}"#).ok(),
            Some(Inbound::ClearHistory)
        );
        assert_eq!(
            parse(r#"{"type": "typing", "isTyping": true}"#).ok(),
            Some(Inbound::Typing { is_typing: true })
        );
    }

    #[test]
    fn refuses_malformed_messages_with_invalid_payload() {
        assert_eq!(code("not json"), ("invalid_payload", None));
        assert_eq!(code("[1, 2]"), ("invalid_payload", None));
        assert_eq!(code(r#"{"content": "x"}"#), ("invalid_payload", None));
        assert_eq!(code(r#"{"type": 5}"#), ("invalid_payload", None));
        assert_eq!(
            code(r#"{"type": "dance"}"#),
            ("invalid_payload", Some("dance".into()))
        );
        assert_eq!(
            code(r#"{"type": "chat"}"#),
            ("invalid_payload", Some("chat".into()))
        );
        assert_eq!(
            code(r#"{"type": "chat", "content": 3}"#),
            ("invalid_payload", Some("chat".into()))
        );
        assert_eq!(
            code(r#"{"type": "chat", "content": "x", "clientMsgId": {}}"#).0,
            "invalid_payload"
        );
        assert_eq!(
            code(r#"{"type": "typing", "isTyping": "yes"}"#).0,
            "invalid_payload"
        );
        assert_eq!(
            code(r#"{"type": "get_history", "limit": 0}"#).0,
            "invalid_payload"
        );
        assert_eq!(
            code(r#"{"type": "human-escalation", "message": 1}"#).0,
            "invalid_payload"
        );
        for bad in [
            r#"{"type": "chat", "content": "x", "messageType": "gif", "fileUrl": "/a.gif"}"#,
            r#"{"type": "chat", "messageType": "image"}"#,
            r#"{"type": "chat", "content": "x", "fileUrl": "/a.png"}"#,
            r#"{"type": "chat", "messageType": "file", "fileUrl": "javascript:alert(1)"}"#,
            r#"{"type": "message", "messageType": "file", "fileUrl": "//evil.com/x"}"#,
            r#"{"type": "message", "messageType": 1, "fileUrl": "/a"}"#,
        ] {
            assert_eq!(code(bad).0, "invalid_payload", "{bad}");
        }
    }

    fn refusal(text: &str) -> String {
        match parse(text) {
            Ok(m) => panic!("accepted {text}: {m:?}"),
            Err(m) => m.error.to_string(),
        }
    }

    #[test]
    fn the_first_name_present_wins_and_refusals_keep_their_words() {
        // The first name present counts, even when the other one is malformed.
        assert_eq!(
            parse(r#"{"type": "chat", "content": "x", "message": 5}"#).ok(),
            Some(Inbound::Chat {
                content: "x".into(),
                client_msg_id: None,
                media: Media::default()
            })
        );
        assert_eq!(
            parse(r#"{"type": "message", "content": "y"}"#).ok(),
            Some(Inbound::Chat {
                content: "y".into(),
                client_msg_id: None,
                media: Media::default()
            })
        );
        // Refusals name the frame's own field.
        assert!(
            refusal(r#"{"type": "message", "content": 5}"#).contains("message must be a string")
        );
        assert!(
            refusal(r#"{"type": "chat", "content": null}"#).contains("content must be a string")
        );
        assert!(refusal(r#"{"type": "message"}"#).contains("message needs a message string"));
        assert!(refusal(r#"{"type": "typing"}"#).contains(TYPING_RULE));
        assert!(refusal(r#"{"type": "get_history", "beforeSeq": -1}"#)
            .contains("beforeSeq must be a non-negative integer"));
        assert!(
            refusal(r#"{"type": "chat", "content": "x", "clientMsgId": 1.5}"#)
                .contains(ClientMsgId::RULE)
        );
        assert!(refusal(r#"{"type": "dance"}"#).contains("unknown message type \"dance\""));
        // Fields a frame does not use are ignored.
        assert_eq!(
            parse(r#"{"type": "ping", "at": 1}"#).ok(),
            Some(Inbound::Ping)
        );
    }

    #[test]
    fn staff_messages_become_seed_messages() {
        let dto = json!({
            "id": "m2", "sender": "admin", "content": "Xin chào!", "createdAt": "2025-09-12T10:30:00.000Z",
            "isAI": true, "chatSessionId": "c1", "seq": 2, "sessionId": "s1"
        });
        assert_eq!(
            live(&dto),
            json!({
                "type": "message", "id": "m2", "message": "Xin chào!", "content": "Xin chào!",
                "sender": "bot", "isAI": true, "seq": 2, "timestamp": "2025-09-12T10:30:00.000Z",
                "messageType": "text"
            })
        );
        let mut file = dto.clone();
        file["type"] = json!("file");
        file["fileUrl"] = json!("/f/a.pdf");
        assert_eq!(
            (
                live(&file)["messageType"].clone(),
                live(&file)["fileUrl"].clone()
            ),
            (json!("file"), json!("/f/a.pdf"))
        );
        let mut agent = dto.clone();
        agent["isAI"] = json!(false);
        assert_eq!(live(&agent)["sender"], "agent");
        let mut visitor = dto;
        visitor["sender"] = json!("user");
        assert_eq!(live(&visitor)["type"], "user_message");
    }

    #[test]
    fn stream_events_take_seed_001_shapes() {
        let start = json!({ "messageId": "m1", "sessionId": "s" });
        let start = sent_as(translate("stream-start", &start)).unwrap_or_default();
        assert_eq!(start["type"], "stream-start");
        assert_eq!(start["messageId"], "m1");
        assert!(start.get("sessionId").is_none());
        let ts = start["timestamp"].as_str().unwrap_or("");
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
        let token = json!({ "messageId": "m1", "sessionId": "s", "index": 0, "token": "Hello" });
        let token = sent_as(translate("stream-token", &token)).unwrap_or_default();
        assert_eq!(token["token"], "Hello");
        // (room events carry their sessionId, as every sender writes them)
        let user = json!({ "sessionId": "s", "sender": "user", "isTyping": true });
        assert_eq!(sent_as(translate("typing", &user)), None);
        let bot = json!({ "sessionId": "s", "sender": "admin", "isTyping": true, "isAI": true });
        assert_eq!(
            sent_as(translate("typing", &bot))
                .map(|t| (t["isTyping"].clone(), t["sender"].clone())),
            Some((json!(true), json!("bot")))
        );
        assert_eq!(sent_as(translate("visitor_presence", &json!({}))), None);
    }

    #[test]
    fn errors_carry_code_message_and_error() {
        let e = error(
            &AppError::RateLimited {
                retry_after_ms: 250,
            },
            Some("chat"),
        );
        let e = serde_json::to_value(e).unwrap_or_default();
        assert_eq!(e["type"], "error");
        assert_eq!(e["code"], "rate_limited");
        assert_eq!(e["retryAfterMs"], 250);
        assert_eq!(e["event"], "chat");
        assert_eq!(e["message"], e["error"]);
        assert!(e["timestamp"].is_string());
    }

    /// A frame as the client reads it, without its `timestamp` (now, when it was sent).
    fn fields(frame: &Outbound) -> Value {
        let mut v = serde_json::to_value(frame).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            let ts = o.remove("timestamp");
            assert!(ts.as_ref().is_some_and(Value::is_string), "{ts:?}");
        }
        v
    }

    #[test]
    fn own_frames_keep_their_fields() {
        let hello = Outbound::Session {
            session_id: "s1",
            code: "ABC123",
            status: SessionStatus::Open,
            resumed: false,
            last_seq: 0,
            queue_position: None,
            contact_left: false,
            timestamp: now(),
        };
        assert_eq!(
            fields(&hello),
            json!({ "type": "session", "sessionId": "s1", "code": "ABC123", "status": "open",
                    "resumed": false, "lastSeq": 0, "queuePosition": null })
        );
        assert_eq!(
            fields(&Outbound::Pong { timestamp: now() }),
            json!({ "type": "pong" })
        );
        let answer = Outbound::EscalationAnswer {
            message: EscalationResponse::TEXT,
            status: SessionStatus::Waiting,
            position: Some(3),
            timestamp: now(),
        };
        assert_eq!(
            fields(&answer),
            json!({ "type": "human-escalation-response", "message": EscalationResponse::TEXT,
                    "status": "waiting", "position": 3 })
        );
        let e = error(&AppError::SessionNotFound, None);
        assert_eq!(
            fields(&e),
            json!({ "type": "error", "code": "session_not_found",
                    "message": "session not found", "error": "session not found" })
        );
    }

    #[test]
    fn history_and_sent_carry_what_the_seeds_read() {
        let t = now_millis();
        let row = |seq: i64, interrupted: bool| entity::message::Model {
            id: format!("m{seq}"),
            chat_session_id: "c1".into(),
            seq,
            sender: "admin".into(),
            content: "hi".into(),
            is_ai: true,
            client_msg_id: None,
            author_id: None,
            interrupted,
            created_at: t,
            kind: "text".into(),
            file_url: None,
            private: false,
            author_name: None,
            attachment: None,
            source: None,
        };
        let rows = [row(1, false), row(2, true)];
        let mut h = history("s1", &rows, true);
        h.resync = true;
        let item = |seq: i64| {
            json!({ "id": format!("m{seq}"), "text": "hi", "content": "hi", "sender": "bot",
                    "isAI": true, "seq": seq, "timestamp": format_ts(&t), "messageType": "text" })
        };
        let mut cut = item(2);
        cut["interrupted"] = json!(true);
        assert_eq!(
            fields(&Outbound::History(h)),
            json!({ "type": "history", "messages": [item(1), cut], "hasMore": true,
                    "sessionId": "s1", "resync": true })
        );
        assert!(fields(&Outbound::History(history("s1", &[], false)))
            .get("resync")
            .is_none());
        let dto = MessageDto {
            id: "m3".into(),
            sender: "user".into(),
            content: "yo".into(),
            created_at: "2025-01-02T03:04:05.006Z".into(),
            is_ai: false,
            chat_session_id: "c1".into(),
            seq: 3,
            session_id: "s1".into(),
            client_msg_id: Some("k1".into()),
            interrupted: false,
            author_id: None,
            kind: MessageKind::Text,
            file_url: None,
            private: false,
            author_name: None,
            attachment: None,
            source: None,
        };
        assert_eq!(
            serde_json::to_value(sent(&dto, false)).unwrap_or_default(),
            json!({ "type": "sent", "id": "m3", "seq": 3, "content": "yo", "sessionId": "s1",
                    "duplicate": false, "clientMsgId": "k1",
                    "timestamp": "2025-01-02T03:04:05.006Z" })
        );
    }

    #[test]
    fn room_events_become_seed_frames() {
        let translated = |event: &str, data: Value| translate(event, &data).map(|f| fields(&f));
        let stored = json!({
            "id": "m2", "sender": "admin", "content": "Hel", "createdAt": "2025-09-12T10:30:00.000Z",
            "isAI": true, "chatSessionId": "c1", "seq": 2, "sessionId": "s1", "interrupted": true
        });
        assert_eq!(
            translated(
                "stream-end",
                json!({ "messageId": "m2", "sessionId": "s1", "message": stored })
            ),
            Some(
                json!({ "type": "stream-end", "messageId": "m2", "content": "Hel", "seq": 2,
                         "interrupted": true })
            )
        );
        assert_eq!(
            translated(
                "stream-end",
                json!({ "messageId": "m2", "sessionId": "s1", "message": null })
            ),
            Some(json!({ "type": "stream-end", "messageId": "m2" }))
        );
        let notice = json!({ "message": "A human agent will contact you soon.",
                             "timestamp": "2025-09-12T10:30:00.000Z" });
        assert_eq!(
            translate("human-escalation-response", &notice)
                .map(|f| serde_json::to_value(f).unwrap_or_default()),
            Some(json!({ "type": "human-escalation-response",
                         "message": "A human agent will contact you soon.",
                         "timestamp": "2025-09-12T10:30:00.000Z" }))
        );
        assert_eq!(
            translated(
                "session_status",
                json!({ "sessionId": "s1", "status": "waiting", "assignee": null })
            ),
            Some(json!({ "type": "session_status", "status": "waiting", "assignee": null }))
        );
        assert_eq!(
            translated(
                "queue_position",
                json!({ "sessionId": "s1", "position": 1 })
            ),
            Some(json!({ "type": "queue_position", "position": 1 }))
        );
        assert_eq!(
            translated(
                "read",
                json!({ "sessionId": "s1", "reader": "admin", "seq": 5 })
            ),
            Some(json!({ "type": "read", "reader": "admin", "seq": 5 }))
        );
        let person = json!({ "sessionId": "s1", "sender": "admin", "isTyping": false });
        assert_eq!(
            translated("typing", person),
            Some(json!({ "type": "typing", "isTyping": false, "sender": "agent" }))
        );
    }
}
