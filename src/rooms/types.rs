//! Wire types of seed 004's rooms API (`/api/v1`): snake_case JSON, as the seed's README and
//! schema name things. Every REST answer is an [`Answer`] (`{success: true, message, data?}`)
//! or a [`Failure`] (`{success: false, message, error}`); WebSocket frames are [`Inbound`]
//! and [`Outbound`].

use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::messages::types::format_ts;

/// A successful answer: `{success: true, message, data?}`.
#[derive(Debug, Serialize)]
pub struct Answer<T: Serialize> {
    pub success: bool,
    pub message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

impl<T: Serialize> Answer<T> {
    pub fn ok(message: &'static str, data: T) -> Self {
        Answer {
            success: true,
            message,
            data: Some(data),
        }
    }
}

impl Answer<()> {
    /// Done, with nothing to return.
    pub fn done(message: &'static str) -> Self {
        Answer {
            success: true,
            message,
            data: None,
        }
    }
}

/// A refusal: `{success: false, message, error, retry_after_ms?}`; `error` is chatdesk's
/// stable code (`invalid_payload`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
/// `content_too_long`, `rate_limited`, `overloaded`, `internal`).
#[derive(Debug, Serialize)]
pub struct Failure {
    pub success: bool,
    pub message: String,
    pub error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl Failure {
    pub fn of(e: &AppError) -> Self {
        let body = e.body();
        Failure {
            success: false,
            message: body.message,
            error: body.code,
            retry_after_ms: body.retry_after_ms,
        }
    }
}

/// `POST /api/v1/auth/register`.
#[derive(Debug, Deserialize)]
pub struct RegisterBody {
    pub user_email: String,
    pub user_password: String,
    pub user_fullname: String,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize)]
pub struct LoginBody {
    pub user_email: String,
    pub user_password: String,
}

/// `POST /api/v1/rooms`.
#[derive(Debug, Deserialize)]
pub struct CreateRoomBody {
    pub room_name: String,
    #[serde(default)]
    pub room_is_direct_chat: bool,
}

/// `POST /api/v1/rooms/join-by-code`.
#[derive(Debug, Deserialize)]
pub struct JoinByCodeBody {
    pub room_code: String,
}

/// `POST /api/v1/rooms/{roomID}/messages`.
#[derive(Debug, Deserialize)]
pub struct PostMessageBody {
    pub content: String,
}

/// `GET /api/v1/rooms/{roomID}/messages?limit=&offset=`.
#[derive(Debug, Default, Deserialize)]
pub struct MessagesQuery {
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// The seed's user roles: staff are `Admin`, customers `Member`.
pub fn user_role(role: crate::auth::Role) -> &'static str {
    if role.is_staff() {
        "Admin"
    } else {
        "Member"
    }
}

/// A user as seed 004 shows one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserView {
    pub user_uuid: String,
    pub user_email: Option<String>,
    pub user_fullname: String,
    pub user_role: String,
}

impl From<&entity::account::Model> for UserView {
    fn from(a: &entity::account::Model) -> Self {
        let role = crate::auth::Role::parse(&a.role).unwrap_or(crate::auth::Role::Customer);
        UserView {
            user_uuid: a.id.clone(),
            user_email: a.email.clone(),
            user_fullname: a.name.clone(),
            user_role: user_role(role).into(),
        }
    }
}

/// `data` of register and login: `{token, user}`.
#[derive(Debug, Serialize)]
pub struct AuthData {
    pub token: String,
    pub user: UserView,
}

/// A room as seed 004 shows one (its schema's column names), with the chatdesk session it is.
#[derive(Debug, Serialize)]
pub struct RoomView {
    pub room_id: i64,
    /// The session's 6-character code.
    pub room_code: String,
    pub room_name: String,
    pub room_is_direct_chat: bool,
    pub room_created_by: Option<String>,
    pub room_created_at: String,
    pub room_updated_at: String,
    /// The chatdesk session (its public id): the owner's widget and socket.io clients use it.
    pub session_id: String,
    /// The caller's role in the room (`Admin` or `Member`), when a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_role: Option<String>,
}

impl RoomView {
    pub fn new(
        room: &entity::room::Model,
        session: &entity::chat_session::Model,
        member_role: Option<String>,
    ) -> Self {
        RoomView {
            room_id: room.room_id,
            room_code: session.code.clone(),
            room_name: room.name.clone(),
            room_is_direct_chat: room.is_direct_chat,
            room_created_by: room.created_by.clone(),
            room_created_at: format_ts(&room.created_at),
            room_updated_at: format_ts(&room.updated_at),
            session_id: session.session_id.clone(),
            member_role,
        }
    }
}

/// A member of a room.
#[derive(Debug, Serialize)]
pub struct MemberView {
    #[serde(flatten)]
    pub user: UserView,
    pub member_role: String,
    pub joined_at: String,
}

/// Who wrote a message, as seed 004 names them.
#[derive(Debug, Clone, PartialEq)]
pub struct Author {
    pub user_uuid: String,
    pub user_fullname: String,
    pub user_email: Option<String>,
}

impl Author {
    /// The assistant's replies.
    pub fn assistant() -> Self {
        Author {
            user_uuid: "assistant".into(),
            user_fullname: "Assistant".into(),
            user_email: None,
        }
    }
    /// Staff whose account is not known (legacy open consoles).
    pub fn support() -> Self {
        Author {
            user_uuid: "support".into(),
            user_fullname: "Support".into(),
            user_email: None,
        }
    }
    /// An anonymous visitor (a session without an owner).
    pub fn visitor() -> Self {
        Author {
            user_uuid: "visitor".into(),
            user_fullname: "Visitor".into(),
            user_email: None,
        }
    }
    pub fn of(a: &entity::account::Model) -> Self {
        Author {
            user_uuid: a.id.clone(),
            user_fullname: a.name.clone(),
            user_email: a.email.clone(),
        }
    }
}

/// A stored message as seed 004 shows one. `message_id` is the message's `seq` in its
/// session: an integer, gap-free and in order within the room.
#[derive(Debug, Serialize)]
pub struct MessageView {
    pub message_id: i64,
    pub room_id: i64,
    pub content: String,
    pub user_uuid: String,
    pub user_fullname: String,
    pub user_email: Option<String>,
    pub created_at: String,
}

/// `data` of `GET /api/v1/chat/rooms/{roomID}/status`.
#[derive(Debug, Serialize)]
pub struct StatusView {
    pub room_id: i64,
    /// Members with a live `/api/v1/chat/ws` connection in the room, on the answering node.
    pub online_users: Vec<UserView>,
    pub online_count: usize,
}

// ---------------------------------------------------------------------------------------
// WebSocket frames

/// A client frame of `/api/v1/chat/ws`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Inbound {
    JoinRoom { room_id: i64 },
    LeaveRoom { room_id: i64 },
    SendMessage { room_id: i64, content: String },
}

/// `data` of `new_message`.
#[derive(Debug, Serialize)]
pub struct NewMessageData<'a> {
    pub message_id: i64,
    pub content: &'a str,
    pub user_uuid: &'a str,
    pub user_fullname: &'a str,
    pub user_email: Option<&'a str>,
    pub created_at: &'a str,
}

/// `data` of `user_joined` / `user_left`.
#[derive(Debug, Serialize)]
pub struct PresenceData<'a> {
    pub user_uuid: &'a str,
}

/// A server frame of `/api/v1/chat/ws`, exactly as seed 004's README shows them.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outbound<'a> {
    NewMessage {
        room_id: i64,
        user_uuid: &'a str,
        content: &'a str,
        timestamp: &'a str,
        message_id: i64,
        data: NewMessageData<'a>,
    },
    UserJoined {
        room_id: i64,
        user_uuid: &'a str,
        data: PresenceData<'a>,
    },
    UserLeft {
        room_id: i64,
        user_uuid: &'a str,
        data: PresenceData<'a>,
    },
    /// `{type: "error", content}`, with chatdesk's stable `code` beside it.
    Error {
        content: String,
        code: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

impl Outbound<'_> {
    pub fn error(e: &AppError) -> Outbound<'static> {
        let body = e.body();
        Outbound::Error {
            content: body.message,
            code: body.code,
            retry_after_ms: body.retry_after_ms,
        }
    }
}

/// A room's membership news, carried through the hub to every node's room connections
/// (hub events [`JOINED`] and [`LEFT`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomPresence {
    pub room_id: i64,
    pub user_uuid: String,
    /// The member left the room (not only one connection): their other connections drop it.
    #[serde(default)]
    pub membership_ended: bool,
}

/// Hub event: a member's connection joined the room.
pub const JOINED: &str = "room_user_joined";
/// Hub event: a member's connection left the room, or the member left it.
pub const LEFT: &str = "room_user_left";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_have_the_seed_shapes() {
        let f: Inbound =
            serde_json::from_value(json!({"type": "send_message", "room_id": 1, "content": "Hi"}))
                .expect("send_message");
        assert!(matches!(f, Inbound::SendMessage { room_id: 1, .. }));
        assert!(serde_json::from_value::<Inbound>(json!({"type": "join_room"})).is_err());
        assert!(serde_json::from_value::<Inbound>(json!({"type": "dance", "room_id": 1})).is_err());
        let out = Outbound::NewMessage {
            room_id: 1,
            user_uuid: "u",
            content: "Hello everyone!",
            timestamp: "2023-09-28T10:30:00.000Z",
            message_id: 123,
            data: NewMessageData {
                message_id: 123,
                content: "Hello everyone!",
                user_uuid: "u",
                user_fullname: "John Doe",
                user_email: Some("john@example.com"),
                created_at: "2023-09-28T10:30:00.000Z",
            },
        };
        assert_eq!(
            serde_json::to_value(&out).expect("json"),
            json!({
                "type": "new_message", "room_id": 1, "user_uuid": "u",
                "content": "Hello everyone!", "timestamp": "2023-09-28T10:30:00.000Z",
                "message_id": 123,
                "data": {"message_id": 123, "content": "Hello everyone!", "user_uuid": "u",
                         "user_fullname": "John Doe", "user_email": "john@example.com",
                         "created_at": "2023-09-28T10:30:00.000Z"}
            })
        );
        let joined = Outbound::UserJoined {
            room_id: 1,
            user_uuid: "u",
            data: PresenceData { user_uuid: "u" },
        };
        assert_eq!(
            serde_json::to_value(&joined).expect("json"),
            json!({"type": "user_joined", "room_id": 1, "user_uuid": "u", "data": {"user_uuid": "u"}})
        );
        let err = Outbound::error(&AppError::Forbidden("You must join the room first".into()));
        assert_eq!(
            serde_json::to_value(&err).expect("json"),
            json!({"type": "error", "content": "You must join the room first", "code": "forbidden"})
        );
    }
}
