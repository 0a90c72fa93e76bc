//! Wire types of seed 002's dialect: client frames (a serde-tagged enum) and server frames.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AppError;
use crate::messages::types::{AiSource, ClientMsgId, MessageDto, Sender};
use crate::sessions::types::Reader;

/// A client frame, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum Inbound {
    /// `message {conversationId, content, messageType?, fileUrl?, attachmentId?, clientMsgId?}`: writes in
    /// a conversation (`messageType`: `type` is the frame's own).
    #[serde(rename = "message", rename_all = "camelCase")]
    Message {
        conversation_id: String,
        #[serde(default)]
        content: String,
        #[serde(default)]
        message_type: Option<serde_json::Value>,
        #[serde(default)]
        file_url: Option<serde_json::Value>,
        /// An uploaded file of this conversation.
        #[serde(default)]
        attachment_id: Option<serde_json::Value>,
        #[serde(default)]
        client_msg_id: Option<ClientMsgId>,
    },
    /// `typing {conversationId, isTyping}`.
    #[serde(rename = "typing", rename_all = "camelCase")]
    Typing {
        conversation_id: String,
        is_typing: bool,
    },
    /// `read {conversationId, seq?}`: read up to `seq` (the latest message when absent).
    #[serde(rename = "read", rename_all = "camelCase")]
    Read {
        conversation_id: String,
        #[serde(default)]
        seq: Option<i64>,
    },
    /// `call-offer {targetUserId, offer}`.
    #[serde(rename = "call-offer", rename_all = "camelCase")]
    CallOffer {
        target_user_id: String,
        offer: Value,
    },
    /// `call-answer {targetUserId, answer}`.
    #[serde(rename = "call-answer", rename_all = "camelCase")]
    CallAnswer {
        target_user_id: String,
        answer: Value,
    },
    /// `ice-candidate {targetUserId, candidate}`.
    #[serde(rename = "ice-candidate", rename_all = "camelCase")]
    IceCandidate {
        target_user_id: String,
        candidate: Value,
    },
    /// `ping`: answered with `pong`.
    #[serde(rename = "ping")]
    Ping,
}

impl Inbound {
    /// The frame's `type`, for error frames.
    pub fn name(&self) -> &'static str {
        match self {
            Inbound::Message { .. } => "message",
            Inbound::Typing { .. } => "typing",
            Inbound::Read { .. } => "read",
            Inbound::CallOffer { .. } => "call-offer",
            Inbound::CallAnswer { .. } => "call-answer",
            Inbound::IceCandidate { .. } => "ice-candidate",
            Inbound::Ping => "ping",
        }
    }
}

/// Decodes one client frame; a frame that does not fit is `invalid_payload` with serde's
/// reason.
pub fn parse(text: &str) -> Result<Inbound, AppError> {
    serde_json::from_str(text).map_err(|e| {
        let why = e.to_string();
        // serde_json adds where in the text it stopped; the client needs only the reason.
        let why = why.split(" at line ").next().unwrap_or(&why);
        AppError::InvalidPayload(format!("{why} (send {{\"type\": ...}})"))
    })
}

/// A stored message as seed 002's clients read it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationMessage<'a> {
    pub id: &'a str,
    pub conversation_id: &'a str,
    /// The account that wrote it; none for the assistant (or an anonymous visitor).
    pub sender_id: Option<&'a str>,
    pub content: &'a str,
    /// The message's type (seed 002's `messages.type`).
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_url: Option<&'a str>,
    /// The uploaded file the message carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<&'a crate::messages::types::Attachment>,
    pub seq: i64,
    pub created_at: &'a str,
    /// chatdesk's side of the conversation: `user` (the customer's side) or `admin`.
    pub sender: &'a str,
    #[serde(rename = "isAI")]
    pub is_ai: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<&'a str>,
    /// What produced an automatic message (`llm`, `kb`, `rule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<AiSource>,
}

impl<'a> ConversationMessage<'a> {
    /// `dto` as seed 002 shows it; the visitor side's author is the session's customer.
    pub fn of(dto: &'a MessageDto, customer: Option<&'a str>) -> Self {
        let sender_id = match (dto.author_id.as_deref(), dto.sender.as_str()) {
            (Some(author), _) => Some(author),
            (None, "user") => customer,
            (None, _) => None,
        };
        ConversationMessage {
            id: &dto.id,
            conversation_id: &dto.session_id,
            sender_id,
            content: &dto.content,
            kind: dto.kind.as_str(),
            file_url: dto.file_url.as_deref(),
            attachment: dto.attachment.as_ref(),
            seq: dto.seq,
            created_at: &dto.created_at,
            sender: &dto.sender,
            is_ai: dto.is_ai,
            client_msg_id: dto.client_msg_id.as_deref(),
            source: dto.source,
        }
    }
}

/// A server frame.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum Outbound<'a> {
    /// `connected {userId}`: the first frame of a connection.
    #[serde(rename = "connected", rename_all = "camelCase")]
    Connected { user_id: &'a str },
    /// `message {message}`: a message of one of the user's conversations (their own
    /// included).
    #[serde(rename = "message")]
    Message { message: ConversationMessage<'a> },
    /// `typing {conversationId, isTyping, sender}`: the other side types (or stopped).
    #[serde(rename = "typing", rename_all = "camelCase")]
    Typing {
        conversation_id: &'a str,
        is_typing: bool,
        sender: Sender,
        #[serde(rename = "isAI", skip_serializing_if = "Option::is_none")]
        is_ai: Option<bool>,
    },
    /// `read {conversationId, reader, seq}`: a side's read watermark moved.
    #[serde(rename = "read", rename_all = "camelCase")]
    Read {
        conversation_id: &'a str,
        reader: Reader,
        seq: i64,
    },
    /// `pong`.
    #[serde(rename = "pong")]
    Pong,
    /// `error {message, code, event?}`: a frame was refused; nothing was stored.
    #[serde(rename = "error")]
    Error {
        message: String,
        code: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        event: Option<&'a str>,
    },
}

impl<'a> Outbound<'a> {
    pub fn error(e: &AppError, event: Option<&'a str>) -> Self {
        let body = e.body();
        Outbound::Error {
            message: body.message,
            code: body.code,
            event,
        }
    }
}

/// Call signalling to every connection of its target: `{type, senderId, offer|answer|candidate}`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum Signal<'a> {
    #[serde(rename = "call-offer", rename_all = "camelCase")]
    Offer {
        sender_id: &'a str,
        offer: &'a Value,
    },
    #[serde(rename = "call-answer", rename_all = "camelCase")]
    Answer {
        sender_id: &'a str,
        answer: &'a Value,
    },
    #[serde(rename = "ice-candidate", rename_all = "camelCase")]
    Candidate {
        sender_id: &'a str,
        candidate: &'a Value,
    },
}

impl Signal<'_> {
    /// The event's name (its `type`).
    pub fn event(&self) -> &'static str {
        match self {
            Signal::Offer { .. } => "call-offer",
            Signal::Answer { .. } => "call-answer",
            Signal::Candidate { .. } => "ice-candidate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_frames_decode_by_type() {
        let m = parse(r#"{"type":"message","conversationId":"c","content":"hi"}"#);
        assert!(matches!(m, Ok(Inbound::Message { ref content, .. }) if content == "hi"));
        let r = parse(r#"{"type":"read","conversationId":"c"}"#);
        assert!(matches!(r, Ok(Inbound::Read { seq: None, .. })));
        let o = parse(r#"{"type":"call-offer","targetUserId":"u2","offer":{"sdp":"x"}}"#);
        assert!(matches!(o, Ok(Inbound::CallOffer { ref offer, .. }) if offer["sdp"] == "x"));
        for bad in [
            "not json",
            r#"{"type":"message","content":"no conversation"}"#,
            r#"{"type":"message","conversationId":"c","content":5}"#,
            r#"{"type":"typing","conversationId":"c","isTyping":"yes"}"#,
            r#"{"type":"dance"}"#,
            r#"{"conversationId":"c"}"#,
            r#"[1]"#,
        ] {
            let e = parse(bad).err().map(|e| e.code());
            assert_eq!(e, Some("invalid_payload"), "{bad}");
        }
    }

    #[test]
    fn server_frames_take_the_seeds_shapes() {
        let hello = serde_json::to_value(Outbound::Connected { user_id: "u1" }).ok();
        assert_eq!(hello, Some(json!({"type": "connected", "userId": "u1"})));
        let offer = json!({"sdp": "x"});
        let signal = Signal::Offer {
            sender_id: "u1",
            offer: &offer,
        };
        assert_eq!(signal.event(), "call-offer");
        assert_eq!(
            serde_json::to_value(&signal).ok(),
            Some(json!({"type": "call-offer", "senderId": "u1", "offer": {"sdp": "x"}}))
        );
        let refused = Outbound::error(&AppError::SessionNotFound, Some("message"));
        assert_eq!(
            serde_json::to_value(refused).ok(),
            Some(json!({"type": "error", "message": "session not found",
                        "code": "session_not_found", "event": "message"}))
        );
    }
}
