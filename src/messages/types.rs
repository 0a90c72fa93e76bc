//! Wire shape of a message: the seed app's six fields, plus `seq`, `sessionId` and
//! (when the client gave one) `clientMsgId`.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// A client's own id for a message, which makes a retried send exactly-once: a non-empty
/// string of at most 128 characters without NUL, or an integer (kept as its decimal text).
/// The one definition of this rule, for every protocol (socket.io, REST, the plain WebSocket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMsgId(String);

impl ClientMsgId {
    /// What a refused id is told.
    pub const RULE: &'static str =
        "clientMsgId must be a non-empty string of at most 128 characters, or an integer";

    /// `clientMsgId` as a JSON value: absent or null is none.
    pub fn from_json(v: Option<&serde_json::Value>) -> crate::error::AppResult<Option<Self>> {
        use serde_json::Value;
        let refused = || crate::error::AppError::InvalidPayload(Self::RULE.into());
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Self::parse(s).map(Some).ok_or_else(refused),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(Self(n.to_string()))),
            Some(_) => Err(refused()),
        }
    }

    fn parse(s: &str) -> Option<Self> {
        (!s.is_empty() && s.chars().count() <= 128 && !s.contains('\0')).then(|| Self(s.into()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for ClientMsgId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        ClientMsgId::from_json(Some(&v))
            .ok()
            .flatten()
            .ok_or_else(|| serde::de::Error::custom(ClientMsgId::RULE))
    }
}

/// Who wrote a message, from the conversation's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    User,
    Admin,
}

impl Sender {
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::User => "user",
            Sender::Admin => "admin",
        }
    }
}

/// A message as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MessageDto {
    pub id: String,
    pub sender: String,
    pub content: String,
    pub created_at: String,
    #[serde(rename = "isAI")]
    pub is_ai: bool,
    pub chat_session_id: String,
    pub seq: i64,
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_msg_id: Option<String>,
    /// Present (true) only on an assistant reply that was cut short.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub interrupted: bool,
    /// The account that wrote it, when one did as staff (absent for the visitor side and
    /// the assistant).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub author_id: Option<String>,
}

impl MessageDto {
    pub fn from_model(m: entity::message::Model, session_id: &str) -> Self {
        MessageDto {
            id: m.id,
            sender: m.sender,
            content: m.content,
            created_at: format_ts(&m.created_at),
            is_ai: m.is_ai,
            chat_session_id: m.chat_session_id,
            seq: m.seq,
            session_id: session_id.to_string(),
            client_msg_id: m.client_msg_id,
            interrupted: m.interrupted,
            author_id: m.author_id,
        }
    }
}

/// A stored message with its session's id around it (the dashboards' `new-message`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMessage<'a> {
    pub session_id: &'a str,
    pub message: &'a MessageDto,
}

/// How many characters of a message the session lists show.
pub const PREVIEW_CHARS: usize = 200;

/// The first [`PREVIEW_CHARS`] characters of a message's content.
pub fn preview(content: &str) -> &str {
    match content.char_indices().nth(PREVIEW_CHARS) {
        Some((end, _)) => &content[..end],
        None => content,
    }
}

/// `lastMessage`: a session's latest message as the session lists show it (content cut to
/// [`PREVIEW_CHARS`] characters). The summaries (`list_sessions`, `session_updated` after a
/// change, ...) give its `createdAt`; the `session_updated` of each new message does not
/// (its `lastMessageAt` says it), and keeps that shape.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastMessage<'a> {
    pub seq: i64,
    pub sender: Cow<'a, str>,
    pub content: Cow<'a, str>,
    #[serde(rename = "isAI")]
    pub is_ai: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl LastMessage<'static> {
    /// A stored message, with its `createdAt` (the summaries' shape).
    pub fn of_stored(m: entity::message::Model) -> Self {
        LastMessage {
            seq: m.seq,
            content: Cow::Owned(preview(&m.content).to_string()),
            sender: Cow::Owned(m.sender),
            is_ai: m.is_ai,
            created_at: Some(format_ts(&m.created_at)),
        }
    }
}

impl<'a> LastMessage<'a> {
    /// A message just stored, without `createdAt` (the shape of each new message's
    /// `session_updated`).
    pub fn of_new(m: &'a MessageDto) -> Self {
        LastMessage {
            seq: m.seq,
            sender: Cow::Borrowed(&m.sender),
            content: Cow::Borrowed(preview(&m.content)),
            is_ai: m.is_ai,
            created_at: None,
        }
    }
}

/// RFC 3339 UTC with milliseconds: `2026-11-24T10:30:05.000Z`.
pub fn format_ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Now, truncated to milliseconds so that what is stored equals what is sent.
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_serializes_with_seed_field_names() {
        let t = DateTime::parse_from_rfc3339("2024-12-13T10:30:05Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        let m = MessageDto {
            id: "m1".into(),
            sender: "user".into(),
            content: "Hello!".into(),
            created_at: format_ts(&t.unwrap_or_default()),
            is_ai: false,
            chat_session_id: "c1".into(),
            seq: 1,
            session_id: "550e8400-e29b-41d4-a716-446655440000".into(),
            client_msg_id: None,
            interrupted: false,
            author_id: None,
        };
        let json = serde_json::to_value(&m).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "m1",
                "sender": "user",
                "content": "Hello!",
                "createdAt": "2024-12-13T10:30:05.000Z",
                "isAI": false,
                "chatSessionId": "c1",
                "seq": 1,
                "sessionId": "550e8400-e29b-41d4-a716-446655440000"
            })
        );
    }
}

#[cfg(test)]
mod client_msg_id_tests {
    use super::ClientMsgId;
    use serde_json::json;

    #[test]
    fn one_rule_for_every_path() {
        let ok = |v: serde_json::Value| {
            ClientMsgId::from_json(Some(&v)).map(|o| o.map(ClientMsgId::into_inner))
        };
        assert_eq!(ok(json!("abc")).unwrap(), Some("abc".into()));
        assert_eq!(ok(json!(7)).unwrap(), Some("7".into()));
        assert_eq!(ok(json!(null)).unwrap(), None);
        assert_eq!(ok(json!("x".repeat(128))).unwrap(), Some("x".repeat(128)));
        for bad in [
            json!(1.5),
            json!(""),
            json!("x".repeat(129)),
            json!("a\u{0}b"),
            json!({}),
            json!([1]),
            json!(true),
        ] {
            assert!(ok(bad.clone()).is_err(), "{bad} accepted");
        }
        // the same through serde, as socket.io payloads are read
        assert!(serde_json::from_value::<ClientMsgId>(json!(1.5)).is_err());
        assert!(serde_json::from_value::<ClientMsgId>(json!(42)).is_ok());
    }
}
