//! Wire shape of a message: the seed app's six fields, plus `seq`, `sessionId` and
//! (when the client gave one) `clientMsgId`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

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
