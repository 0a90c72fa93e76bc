//! Wire types of the plain-WebSocket gateway: what a client may send (`Inbound`, decoded
//! from one JSON text message with a `type`), and the JSON objects it receives, each with
//! a `type` and a `timestamp` (RFC 3339 UTC with milliseconds). Events of the session's
//! room (the same ones socket.io clients get) are translated here to the seeds' shapes.

use serde_json::{json, Map, Value};

use crate::error::AppError;
use crate::messages::types::{format_ts, now_millis};

/// Messages a history answer holds when the client names no `limit` (the seed's 50).
pub const DEFAULT_HISTORY: u64 = 50;

/// A client message, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// `chat {content}` (seed 001) or `message {message}` (seed 000): the visitor writes.
    Chat {
        content: String,
        client_msg_id: Option<String>,
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
}

/// A client message that could not be decoded: the error, and its `type` when known.
#[derive(Debug)]
pub struct Malformed {
    pub event: Option<String>,
    pub error: AppError,
}

fn invalid(event: Option<&str>, why: impl Into<String>) -> Malformed {
    Malformed {
        event: event.map(String::from),
        error: AppError::InvalidPayload(why.into()),
    }
}

/// Decodes one text message.
pub fn parse(text: &str) -> Result<Inbound, Malformed> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| invalid(None, "message is not valid JSON (send {\"type\": ...})"))?;
    let Value::Object(obj) = value else {
        return Err(invalid(None, "message must be a JSON object"));
    };
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(invalid(None, "type must be a string")),
        None => return Err(invalid(None, "type is required")),
    };
    let ev = Some(kind);
    match kind {
        "chat" | "message" => {
            // Each seed names the text its own way; either name is accepted by both types.
            let (first, second) = if kind == "chat" {
                ("content", "message")
            } else {
                ("message", "content")
            };
            let content = match obj.get(first).or_else(|| obj.get(second)) {
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(invalid(ev, format!("{first} must be a string"))),
                None => return Err(invalid(ev, format!("{kind} needs a {first} string"))),
            };
            let client_msg_id =
                crate::messages::types::ClientMsgId::from_json(obj.get("clientMsgId"))
                    .map_err(|_| invalid(ev, crate::messages::types::ClientMsgId::RULE))?
                    .map(crate::messages::types::ClientMsgId::into_inner);
            Ok(Inbound::Chat {
                content,
                client_msg_id,
            })
        }
        "human-escalation" | "request_human" => match obj.get("message") {
            None | Some(Value::Null) => Ok(Inbound::Escalate { message: None }),
            Some(Value::String(s)) => Ok(Inbound::Escalate {
                message: Some(s.clone()),
            }),
            Some(_) => Err(invalid(ev, "message must be a string")),
        },
        "ping" => Ok(Inbound::Ping),
        "get_history" => {
            let before_seq = match obj.get("beforeSeq") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| invalid(ev, "beforeSeq must be a non-negative integer"))?,
                ),
            };
            let limit = match obj.get("limit") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| invalid(ev, "limit must be a positive integer"))?,
                ),
            };
            Ok(Inbound::GetHistory { before_seq, limit })
        }
        "clear_history" => Ok(Inbound::ClearHistory),
        "typing" => match obj.get("isTyping") {
            Some(Value::Bool(b)) => Ok(Inbound::Typing { is_typing: *b }),
            _ => Err(invalid(ev, "typing needs isTyping: true or false")),
        },
        other => Err(invalid(
            Some(other),
            format!("unknown message type {other:?}"),
        )),
    }
}

/// Now, as every server message's `timestamp`.
pub fn now() -> String {
    format_ts(&now_millis())
}

/// A server message: `{type, ...fields, timestamp}` (`timestamp` defaults to now).
pub fn frame(kind: &str, fields: Value) -> Value {
    let mut obj = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    obj.insert("type".into(), Value::String(kind.into()));
    if !obj.get("timestamp").is_some_and(Value::is_string) {
        obj.insert("timestamp".into(), Value::String(now()));
    }
    Value::Object(obj)
}

/// `error {code, message, error, event?, retryAfterMs?, timestamp}`; `error` repeats the text
/// for seed 000's clients, which read that field.
pub fn error(err: &AppError, event: Option<&str>) -> Value {
    let body = err.body();
    let mut fields = json!({
        "code": body.code,
        "message": body.message,
        "error": body.message,
    });
    if let Some(ev) = event {
        fields["event"] = json!(ev);
    }
    if let Some(ms) = body.retry_after_ms {
        fields["retryAfterMs"] = json!(ms);
    }
    frame("error", fields)
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

/// One history item: seed 000's `{id, text, sender, timestamp}` plus `content`, `seq`, `isAI`.
pub fn history_item(m: &entity::message::Model) -> Value {
    let mut v = json!({
        "id": m.id,
        "text": m.content,
        "content": m.content,
        "sender": sender_label(&m.sender, m.is_ai),
        "isAI": m.is_ai,
        "seq": m.seq,
        "timestamp": format_ts(&m.created_at),
    });
    if m.interrupted {
        v["interrupted"] = json!(true);
    }
    v
}

/// `history {messages, hasMore, sessionId}`.
pub fn history(session_id: &str, messages: &[entity::message::Model], has_more: bool) -> Value {
    let items: Vec<Value> = messages.iter().map(history_item).collect();
    frame(
        "history",
        json!({ "messages": items, "hasMore": has_more, "sessionId": session_id }),
    )
}

/// A stored message of the room (socket.io `message`, a `MessageDto`) as a plain-WebSocket
/// message: `message {id, message, content, sender, isAI, seq, timestamp}` for what the staff
/// side (agent or assistant) wrote, `user_message {...}` for what the visitor side wrote
/// elsewhere (another tab, a socket.io widget of the same session).
pub fn live_message(dto: &Value) -> Value {
    let sender = dto.get("sender").and_then(Value::as_str).unwrap_or("");
    let is_ai = dto.get("isAI").and_then(Value::as_bool).unwrap_or(false);
    let label = sender_label(sender, is_ai);
    let content = dto.get("content").cloned().unwrap_or(Value::Null);
    let mut fields = json!({
        "id": dto.get("id"),
        "message": content,
        "content": content,
        "sender": label,
        "isAI": is_ai,
        "seq": dto.get("seq"),
        "timestamp": dto.get("createdAt"),
    });
    for key in ["clientMsgId", "interrupted"] {
        if let Some(v) = dto.get(key) {
            fields[key] = v.clone();
        }
    }
    frame(
        if label == "user" {
            "user_message"
        } else {
            "message"
        },
        fields,
    )
}

/// `sent {id, seq, content, clientMsgId?, duplicate, timestamp}`: the visitor's own message
/// is stored (the answer to `chat` / `message`, in place of socket.io's ack).
pub fn sent(dto: &crate::messages::types::MessageDto, duplicate: bool) -> Value {
    let mut fields = json!({
        "id": dto.id,
        "seq": dto.seq,
        "content": dto.content,
        "sessionId": dto.session_id,
        "duplicate": duplicate,
        "timestamp": dto.created_at,
    });
    if let Some(c) = &dto.client_msg_id {
        fields["clientMsgId"] = json!(c);
    }
    frame("sent", fields)
}

/// Translates a room event other than `message` and `history_cleared` (handled by the
/// connection, which knows what it sent itself); `None` for events plain clients do not get
/// (`visitor_presence`, call signalling, the visitor side's own `typing`).
pub fn translate(event: &str, data: &Value) -> Option<Value> {
    let get = |k: &str| data.get(k).cloned().unwrap_or(Value::Null);
    match event {
        "typing" => {
            let sender = data.get("sender").and_then(Value::as_str).unwrap_or("");
            if sender == "user" {
                return None;
            }
            let is_ai = data.get("isAI").and_then(Value::as_bool).unwrap_or(false);
            Some(frame(
                "typing",
                json!({ "isTyping": get("isTyping"), "sender": sender_label(sender, is_ai) }),
            ))
        }
        "stream-start" => Some(frame(
            "stream-start",
            json!({ "messageId": get("messageId") }),
        )),
        "stream-token" => Some(frame(
            "stream-token",
            json!({ "messageId": get("messageId"), "token": get("token"), "index": get("index") }),
        )),
        "stream-end" => {
            let mut fields = json!({ "messageId": get("messageId") });
            if let Some(m) = data.get("message").filter(|m| m.is_object()) {
                fields["content"] = m.get("content").cloned().unwrap_or(Value::Null);
                fields["seq"] = m.get("seq").cloned().unwrap_or(Value::Null);
                if m.get("interrupted").and_then(Value::as_bool) == Some(true) {
                    fields["interrupted"] = json!(true);
                }
            }
            Some(frame("stream-end", fields))
        }
        "human-escalation-response" => Some(frame(
            "human-escalation-response",
            json!({ "message": get("message"), "timestamp": get("timestamp") }),
        )),
        "session_status" => Some(frame(
            "session_status",
            json!({ "status": get("status"), "assignee": get("assignee") }),
        )),
        "queue_position" => Some(frame(
            "queue_position",
            json!({ "position": get("position") }),
        )),
        "read" => Some(frame(
            "read",
            json!({ "reader": get("reader"), "seq": get("seq") }),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                client_msg_id: None
            })
        );
        assert_eq!(
            parse(r#"{"type": "message", "message": "xin chào", "clientMsgId": 7}"#).ok(),
            Some(Inbound::Chat {
                content: "xin chào".into(),
                client_msg_id: Some("7".into())
            })
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
    }

    #[test]
    fn staff_messages_become_seed_messages() {
        let dto = json!({
            "id": "m2", "sender": "admin", "content": "Xin chào!", "createdAt": "2025-09-12T10:30:00.000Z",
            "isAI": true, "chatSessionId": "c1", "seq": 2, "sessionId": "s1"
        });
        assert_eq!(
            live_message(&dto),
            json!({
                "type": "message", "id": "m2", "message": "Xin chào!", "content": "Xin chào!",
                "sender": "bot", "isAI": true, "seq": 2, "timestamp": "2025-09-12T10:30:00.000Z"
            })
        );
        let mut agent = dto.clone();
        agent["isAI"] = json!(false);
        assert_eq!(live_message(&agent)["sender"], "agent");
        let mut visitor = dto;
        visitor["sender"] = json!("user");
        assert_eq!(live_message(&visitor)["type"], "user_message");
    }

    #[test]
    fn stream_events_take_seed_001_shapes() {
        let start = translate(
            "stream-start",
            &json!({ "messageId": "m1", "sessionId": "s" }),
        );
        let start = start.unwrap_or_default();
        assert_eq!(start["type"], "stream-start");
        assert_eq!(start["messageId"], "m1");
        assert!(start.get("sessionId").is_none());
        let ts = start["timestamp"].as_str().unwrap_or("");
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
        let token = translate(
            "stream-token",
            &json!({ "messageId": "m1", "sessionId": "s", "index": 0, "token": "Hello" }),
        )
        .unwrap_or_default();
        assert_eq!(token["token"], "Hello");
        assert_eq!(
            translate("typing", &json!({ "sender": "user", "isTyping": true })),
            None
        );
        assert_eq!(
            translate(
                "typing",
                &json!({ "sender": "admin", "isTyping": true, "isAI": true })
            )
            .map(|t| (t["isTyping"].clone(), t["sender"].clone())),
            Some((json!(true), json!("bot")))
        );
        assert_eq!(translate("visitor_presence", &json!({})), None);
    }

    #[test]
    fn errors_carry_code_message_and_error() {
        let e = error(
            &AppError::RateLimited {
                retry_after_ms: 250,
            },
            Some("chat"),
        );
        assert_eq!(e["type"], "error");
        assert_eq!(e["code"], "rate_limited");
        assert_eq!(e["retryAfterMs"], 250);
        assert_eq!(e["event"], "chat");
        assert_eq!(e["message"], e["error"]);
        assert!(e["timestamp"].is_string());
    }
}
