//! Seed 004's rooms API (`shared/seeds/004`, a Go/Gin chat server) under `/api/v1`: a thin
//! protocol layer over chatdesk's sessions, accounts and messages, not a second chat system.
//!
//! A **room is a chat session with members**. Its 6-character `room_code` is the session's
//! code; its integer `room_id` comes from the `rooms` table (autoincrement, never reused,
//! unique per desk), whose row is made when a seed-004 client creates a room, or when a
//! session is first shown as one (a customer's existing sessions appear in their
//! `GET /api/v1/rooms`). Members are in `session_members`. A message in a room is a message
//! of the session, stored by the group-commit writer with its gap-free `seq`; the seed's
//! integer `message_id` is that `seq`. So a room's WebSocket members, the session's
//! socket.io visitor and the agents on `/admin` all see one conversation.
//!
//! ## Who may do what
//!
//! - The seed's `Admin`/`Member` user roles are chatdesk's staff (admins, agents) and
//!   customers. Registration makes customers only.
//! - Customers create rooms (a new session they own, with them as its `Admin` member).
//!   Staff answer rooms; they do not create them (`403`).
//! - Joining by code (`POST /rooms/join-by-code`): staff join any session by its code (a
//!   support room); a customer joins a room whose session belongs to a customer (a colleague
//!   joining by code). Anonymous visitors' sessions are never joined by customers. Every
//!   attempt counts against a budget like logins' (`LOGIN_ATTEMPTS_PER_MIN` per IP, a third
//!   of it per account): a 6-character code can be guessed; past it: `429`.
//! - Joining by id (`POST /rooms/{roomID}/join`, WS `join_room`): ids are sequential, so an id
//!   is no capability. Members, staff and the session's owner (re)join by id; anyone else is
//!   refused as a non-member.
//! - A member reads and writes the room; a non-member gets `403` ("You are not a member of
//!   this room"), and so does a room that does not exist: nothing tells the two apart.
//!   Customers read the room from the owner's last "clear history" on (as the widget does);
//!   staff read all of it.
//! - A customer member writes as the session's visitor side (`sender: user`), a staff member
//!   as the desk (`sender: admin`); either way the message records its author's account, so
//!   every member sees who wrote it.
//!
//! ## REST answers
//!
//! Every `/api/v1` answer is `{"success": true, "message": "...", "data": ...}` (`data` left
//! out when there is nothing to return), or `{"success": false, "message": "...", "error":
//! "<code>"}` with the HTTP status of chatdesk's error (`400` malformed body or parameter,
//! `401` no or bad token, `403` not a member, `404` no room with that code, `409` email
//! taken, `413` body too large, `429` with `Retry-After` and `retry_after_ms`, `503`).
//! Shapes are in `types.rs`.
//!
//! ## WebSocket `/api/v1/chat/ws?token=JWT&room_id=ID`
//!
//! The token comes from `?token=` or `Authorization: Bearer`; without a valid one the upgrade
//! is refused with `401` and the failure body. `room_id` (optional) joins that room at once.
//! Client frames: `join_room {room_id}`, `leave_room {room_id}`, `send_message {room_id,
//! content}`. Server frames: `new_message {room_id, user_uuid, content, timestamp,
//! message_id, data: {message_id, content, user_uuid, user_fullname, user_email,
//! created_at}}` for every message of a joined room, whoever wrote it and over whichever
//! protocol (the sender's own included); `user_joined` / `user_left {room_id, user_uuid,
//! data: {user_uuid}}` when a member's connection joins or leaves the room (or the member
//! leaves it); `{type: "error", content, code}` for anything refused ("You must join the
//! room first", malformed frames, too long content, `rate_limited` with `retry_after_ms`).
//! A connection may be in several rooms at once. Frames count against the connection's
//! event budget like socket.io events; messages and frames are limited to
//! `MAX_PAYLOAD_BYTES` (a larger one closes with 1009); pings and the idle timeout are the
//! gateway's (`WS_PING_INTERVAL_SECS`, `WS_IDLE_TIMEOUT_SECS`).
//!
//! `GET /api/v1/chat/rooms/{roomID}/status` lists the members connected to the room over
//! this WebSocket **on the node that answers**; with several nodes each node knows its own
//! connections only (messages and presence news reach every node's connections through the
//! hub's relay).

pub mod http;
pub mod service;
pub mod types;
mod ws;

use std::collections::HashMap;
use std::sync::Mutex;

use entity::{chat_session, room, session_member};

use crate::auth::Identity;
use crate::conversation::{self, Outgoing, SessionRef};
use crate::error::{AppError, AppResult};
use crate::messages::service::Stored;
use crate::messages::types::{format_ts, Sender};
use crate::messages::Content;
use crate::sessions::service::NewSession;
use crate::state::AppState;
use types::{Author, MemberView, MessageView, RoomPresence, RoomView, StatusView, UserView};

pub use http::router;

/// A room's creator (or its session's owner), and everyone else.
const ROLE_ADMIN: &str = "Admin";
const ROLE_MEMBER: &str = "Member";
/// How many messages a page holds when `limit` is not given.
const DEFAULT_PAGE: u64 = 50;
/// The longest room name.
const NAME_MAX: usize = 255;

/// A room the caller is a member of.
pub struct RoomRef {
    pub room: room::Model,
    pub session: chat_session::Model,
    pub member: session_member::Model,
}

fn not_member() -> AppError {
    AppError::Forbidden("You are not a member of this room".into())
}

/// The room `room_id` as its member `me` reaches it; `403` for a non-member and for a room
/// that does not exist alike.
pub async fn open(state: &AppState, me: &Identity, room_id: i64) -> AppResult<RoomRef> {
    let room = service::find(&state.db, room_id)
        .await?
        .ok_or_else(not_member)?;
    let member = service::membership(&state.db, &room.session_pk, &me.account_id)
        .await?
        .ok_or_else(not_member)?;
    let session = service::session(&state.db, &room.session_pk)
        .await?
        .ok_or_else(not_member)?;
    Ok(RoomRef {
        room,
        session,
        member,
    })
}

/// The rooms of `me`; a customer's sessions that are not rooms yet become rooms now.
pub async fn list(state: &AppState, me: &Identity) -> AppResult<Vec<RoomView>> {
    if !me.is_staff() {
        for s in service::owned_without_room(&state.db, &me.account_id).await? {
            let name = format!("Support chat {}", s.code);
            service::ensure(
                &state.db,
                service::NewRoom {
                    session_pk: &s.id,
                    name: &name,
                    is_direct_chat: false,
                    created_by: Some(&me.account_id),
                },
            )
            .await?;
            service::add_member(&state.db, &s.id, &me.account_id, ROLE_ADMIN).await?;
        }
    }
    Ok(service::rooms_of(&state.db, &me.account_id)
        .await?
        .iter()
        .map(|(r, s, m)| RoomView::new(r, s, Some(m.member_role.clone())))
        .collect())
}

/// A new room: a session owned by the customer `me`, with `me` as its `Admin` member; agents
/// hear of it as of any new session.
pub async fn create(
    state: &AppState,
    me: &Identity,
    ip: Option<String>,
    user_agent: Option<String>,
    name: &str,
    is_direct_chat: bool,
) -> AppResult<RoomView> {
    if me.is_staff() {
        return Err(AppError::Forbidden(
            "staff answer rooms; customers create them".into(),
        ));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.contains('\0') {
        return Err(AppError::InvalidPayload(format!(
            "room_name must be 1 to {NAME_MAX} characters"
        )));
    }
    state
        .limits
        .new_session(ip.as_deref().unwrap_or("unknown"), None)?;
    let session = state
        .sessions
        .create(NewSession {
            ip,
            user_agent,
            customer_id: Some(me.account_id.clone()),
            visitor_identity: None,
        })
        .await?;
    let room = service::ensure(
        &state.db,
        service::NewRoom {
            session_pk: &session.id,
            name,
            is_direct_chat,
            created_by: Some(&me.account_id),
        },
    )
    .await?;
    let (member, _) =
        service::add_member(&state.db, &session.id, &me.account_id, ROLE_ADMIN).await?;
    tracing::info!(session = %session.session_id, room = room.room_id, "room created");
    let sum = crate::desk::summary(state, &session).await?;
    state.hub.to_agents("session_created", &sum, None).await;
    Ok(RoomView::new(&room, &session, Some(member.member_role)))
}

/// Joins the room whose session has `code` (see the module's rules), within the code budget.
pub async fn join_by_code(
    state: &AppState,
    me: &Identity,
    ip: &str,
    code: &str,
) -> AppResult<RoomView> {
    state.limits.room_code(ip, &me.account_id)?;
    let none = || AppError::NotFound("No room with this code".into());
    let code = code.trim();
    if !crate::sessions::service::looks_like_code(code) {
        return Err(none());
    }
    let session = crate::sessions::service::find_by_code(&state.db, code)
        .await?
        .ok_or_else(none)?;
    let room = if me.is_staff() {
        room_of(state, &session).await?
    } else if session.customer_id.is_some() {
        service::of_session(&state.db, &session.id)
            .await?
            .ok_or_else(none)?
    } else {
        return Err(none());
    };
    let role = join_role(me, &session);
    let (member, _) = service::add_member(&state.db, &session.id, &me.account_id, role).await?;
    tracing::info!(room = room.room_id, account = %me.account_id, "joined a room by code");
    Ok(RoomView::new(&room, &session, Some(member.member_role)))
}

/// The session's room, made now when the session was never shown as one.
async fn room_of(state: &AppState, session: &chat_session::Model) -> AppResult<room::Model> {
    if let Some(r) = service::of_session(&state.db, &session.id).await? {
        return Ok(r);
    }
    let name = format!("Support chat {}", session.code);
    service::ensure(
        &state.db,
        service::NewRoom {
            session_pk: &session.id,
            name: &name,
            is_direct_chat: false,
            created_by: session.customer_id.as_deref(),
        },
    )
    .await
}

/// The role a new member gets: the session's owner is the room's `Admin`.
fn join_role(me: &Identity, session: &chat_session::Model) -> &'static str {
    if session.customer_id.as_deref() == Some(me.account_id.as_str()) {
        ROLE_ADMIN
    } else {
        ROLE_MEMBER
    }
}

/// Joins the room `room_id` (a member stays one; staff and the session's owner may join;
/// anyone else is refused as a non-member).
pub async fn join(state: &AppState, me: &Identity, room_id: i64) -> AppResult<RoomRef> {
    let room = service::find(&state.db, room_id)
        .await?
        .ok_or_else(not_member)?;
    let session = service::session(&state.db, &room.session_pk)
        .await?
        .ok_or_else(not_member)?;
    let member = match service::membership(&state.db, &session.id, &me.account_id).await? {
        Some(m) => m,
        None if me.is_staff() || session.customer_id.as_deref() == Some(&me.account_id) => {
            let role = join_role(me, &session);
            service::add_member(&state.db, &session.id, &me.account_id, role)
                .await?
                .0
        }
        None => return Err(not_member()),
    };
    Ok(RoomRef {
        room,
        session,
        member,
    })
}

/// Leaves the room: the membership ends, and the member's room connections (on every node)
/// stop hearing it.
pub async fn leave(state: &AppState, me: &Identity, room_id: i64) -> AppResult<()> {
    let r = open(state, me, room_id).await?;
    service::remove_member(&state.db, &r.session.id, &me.account_id).await?;
    let news = RoomPresence {
        room_id,
        user_uuid: me.account_id.clone(),
        membership_ended: true,
    };
    state
        .hub
        .to_listeners(&r.session.session_id, types::LEFT, &news)
        .await;
    tracing::info!(room = room_id, account = %me.account_id, "left a room");
    Ok(())
}

/// The members of a room `me` is a member of.
pub async fn members(state: &AppState, me: &Identity, room_id: i64) -> AppResult<Vec<MemberView>> {
    let r = open(state, me, room_id).await?;
    Ok(service::members(&state.db, &r.session.id)
        .await?
        .into_iter()
        .map(|(m, a)| MemberView {
            user: UserView::from(&a),
            member_role: m.member_role,
            joined_at: format_ts(&m.created_at),
        })
        .collect())
}

/// A page of a room's messages, in `message_id` (`seq`) order: `offset` messages skipped from
/// the first one the caller may read, then at most `limit` (default 50, at most
/// `HISTORY_LIMIT`).
pub async fn messages(
    state: &AppState,
    me: &Identity,
    room_id: i64,
    limit: Option<u64>,
    offset: Option<u64>,
) -> AppResult<Vec<MessageView>> {
    let r = open(state, me, room_id).await?;
    let limit = limit
        .unwrap_or(DEFAULT_PAGE)
        .clamp(1, state.config.history_limit.max(1));
    let floor = if me.is_staff() {
        0
    } else {
        r.session.visitor_cleared_seq
    };
    let rows =
        service::messages_page(&state.db, &r.session.id, floor, offset.unwrap_or(0), limit).await?;
    let mut ids: Vec<String> = rows.iter().filter_map(|m| m.author_id.clone()).collect();
    ids.extend(r.session.customer_id.clone());
    let accounts = service::accounts(&state.db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|m| {
            let author = author(
                m.author_id.as_deref(),
                sender_of(&m.sender),
                m.is_ai,
                r.session.customer_id.as_deref(),
                &accounts,
            );
            MessageView {
                message_id: m.seq,
                room_id,
                content: m.content,
                user_uuid: author.user_uuid,
                user_fullname: author.user_fullname,
                user_email: author.user_email,
                created_at: format_ts(&m.created_at),
            }
        })
        .collect())
}

/// The stored `sender` column as a [`Sender`].
pub fn sender_of(stored: &str) -> Sender {
    if stored == Sender::Admin.as_str() {
        Sender::Admin
    } else {
        Sender::User
    }
}

/// Who wrote a message: its author's account, else the assistant, the session's owner (a
/// visitor's message) or the desk.
fn author(
    author_id: Option<&str>,
    sender: Sender,
    is_ai: bool,
    owner: Option<&str>,
    accounts: &HashMap<String, entity::account::Model>,
) -> Author {
    if is_ai {
        return Author::assistant();
    }
    let known = |id: Option<&str>| id.and_then(|i| accounts.get(i)).map(Author::of);
    match (known(author_id), sender) {
        (Some(a), _) => a,
        (None, Sender::User) => known(owner).unwrap_or_else(Author::visitor),
        (None, Sender::Admin) => Author::support(),
    }
}

/// Who wrote the stored message `message_id` of a session owned by `owner` (for live
/// frames: the broadcast message does not carry its author).
pub async fn author_of(
    state: &AppState,
    message_id: &str,
    sender: Sender,
    is_ai: bool,
    owner: Option<&str>,
) -> AppResult<Author> {
    if is_ai {
        return Ok(Author::assistant());
    }
    let author_id = service::author_id_of(&state.db, message_id).await?;
    let ids: Vec<String> = author_id
        .iter()
        .cloned()
        .chain(owner.map(String::from))
        .collect();
    let accounts = service::accounts(&state.db, &ids).await?;
    Ok(author(
        author_id.as_deref(),
        sender,
        is_ai,
        owner,
        &accounts,
    ))
}

/// Stores a member's message in the room, through the conversation core (the one place the
/// rooms API writes messages). A customer writes as the visitor side, staff as the desk; the
/// author's account is recorded either way (several customers may share a room).
pub async fn post_message(
    state: &AppState,
    me: &Identity,
    room: &RoomRef,
    content: String,
) -> AppResult<Stored> {
    let content = Content::parse(content, state.config.max_content_length)?;
    let here = SessionRef::from(&room.session);
    let out = if me.is_staff() {
        Outgoing::staff(here, content, me)
    } else {
        Outgoing {
            author_id: Some(me.account_id.clone()),
            ..Outgoing::visitor(here, content)
        }
    };
    conversation::send(state, out, None).await
}

/// The members connected to the room over `/api/v1/chat/ws` on this node.
pub async fn status(state: &AppState, me: &Identity, room_id: i64) -> AppResult<StatusView> {
    let _ = open(state, me, room_id).await?;
    let ids = state.rooms_online.accounts(room_id);
    let accounts = service::accounts(&state.db, &ids).await?;
    let online_users: Vec<UserView> = ids
        .iter()
        .filter_map(|id| accounts.get(id).map(UserView::from))
        .collect();
    Ok(StatusView {
        room_id,
        online_count: online_users.len(),
        online_users,
    })
}

/// Which accounts have a room connection in which room, on this node.
#[derive(Default)]
pub struct Online {
    rooms: Mutex<HashMap<i64, HashMap<String, usize>>>,
}

impl Online {
    /// A connection of `account` joined `room_id`.
    pub fn enter(&self, room_id: i64, account: &str) {
        if let Ok(mut m) = self.rooms.lock() {
            *m.entry(room_id)
                .or_default()
                .entry(account.to_string())
                .or_default() += 1;
        }
    }

    /// A connection of `account` left `room_id`.
    pub fn exit(&self, room_id: i64, account: &str) {
        if let Ok(mut m) = self.rooms.lock() {
            if let Some(room) = m.get_mut(&room_id) {
                if let Some(n) = room.get_mut(account) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        room.remove(account);
                    }
                }
                if room.is_empty() {
                    m.remove(&room_id);
                }
            }
        }
    }

    /// The accounts connected to `room_id` (sorted).
    pub fn accounts(&self, room_id: i64) -> Vec<String> {
        let mut ids: Vec<String> = self
            .rooms
            .lock()
            .ok()
            .and_then(|m| m.get(&room_id).map(|r| r.keys().cloned().collect()))
            .unwrap_or_default();
        ids.sort();
        ids
    }
}
