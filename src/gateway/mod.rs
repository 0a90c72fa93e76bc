//! The plain-WebSocket gateway: `GET /ws` (also `/` for an upgrade, and `/ws/chat?dialect=session`;
//! `/ws/chat` itself is seed 002's dialect, [`seed002`]), for chat clients that speak JSON over a bare
//! WebSocket instead of socket.io: the chatbot server of `shared/seeds/001` (`ws://host/ws?token=JWT`,
//! `{"type": ...}` messages, AI replies streamed token by token, human escalation) and the AI
//! chatbot of `shared/seeds/000` (history on connect, `message`, `get_history`,
//! `clear_history`, `typing`, `ping`). Both seeds' clients work unchanged.
//!
//! It is a second door to the same sessions, not a second chat server. A connection speaks in
//! one session; what it sends goes through the services the socket.io handlers call
//! (validation, the event budget, the group-commit writer with its gap-free `seq` and
//! exactly-once `clientMsgId`, the assistant, escalation, clear), and what it receives comes
//! from the hub's subscription to that session's room: the very events socket.io visitors and
//! agents get, translated to the seeds' shapes (`types.rs`). So a plain-WebSocket visitor and a
//! socket.io agent (or a socket.io tab of the same visitor) see each other's messages with the
//! same `seq`.
//!
//! ## Connecting
//!
//! - `?token=<JWT>` or `Authorization: Bearer <JWT>`. A customer's connection speaks in their
//!   latest unresolved session (a new one when there is none), so it follows the account
//!   across devices and socket.io tabs. An invalid token is always refused: HTTP 401 with the
//!   JSON error body, before the upgrade. A staff token is taken as a customer's: the account
//!   chats in sessions it owns, never as the visitor of another session (consoles answer
//!   visitors through socket.io `/admin`).
//! - Without a token: 401, unless `WS_ALLOW_ANONYMOUS=true`; then the visitor gets a new
//!   anonymous session, or resumes the anonymous one named by `?sessionId=` (a session that
//!   belongs to a customer is never resumed by anyone else: a new one is made instead).
//! - The `Origin` allow-list and the per-IP connection rate apply (`edge::guard`).
//! - Messages and frames are limited to `MAX_PAYLOAD_BYTES`; a larger one closes that
//!   connection with code 1009. The server sends a ping frame every `WS_PING_INTERVAL_SECS`
//!   (25) and closes (1001) a connection from which nothing, not even a pong, arrived for
//!   `WS_IDLE_TIMEOUT_SECS` (60).
//!
//! ## Client -> server (one JSON text message each)
//!
//! | plain WebSocket | seed | socket.io equivalent | answer |
//! |---|---|---|---|
//! | `{type: "chat", content, clientMsgId?}` | 001 | `user_message {sessionId, content}` | `sent`, then the reply: `stream-start`, `stream-token`..., `message`, `stream-end` (assistant) or `message` (agent) |
//! | `{type: "message", message, clientMsgId?}` | 000 | `user_message` | `sent`; `typing {isTyping: true}` while the assistant prepares, then `message {id, message, timestamp}` |
//! | `{type: "human-escalation", message?}` (alias `request_human`) | 001 | `request_human` / `human-escalation` | `human-escalation-response {message, status, position}` |
//! | `{type: "get_history", beforeSeq?, limit?}` | 000 | `get_history` | `history {messages, hasMore}` |
//! | `{type: "clear_history"}` | 000 | `clear_history` | `history {messages: []}` |
//! | `{type: "typing", isTyping}` | (000) | `typing` | none; agents get `typing {sender: "user"}` |
//! | `{type: "ping"}` | 000, 001 | (engine.io ping) | `pong` |
//! | `{type: "rate_session", rating, comment?}` | | `rate_session` | `rated {sessionId, rating, comment?, createdAt}` |
//! | `{type: "leave_contact", email, message?}` | | `leave_contact` | `sent` (the message), `contact_left {sessionId, contactEmail, status, position}` |
//!
//! Anything else (not JSON, not an object, no or unknown `type`, a wrong field) is answered
//! with `error {code, message, error, event?, timestamp}` and nothing is stored; codes are the
//! socket.io ones (`invalid_payload`, `content_too_long`, `rate_limited` with `retryAfterMs`,
//! `overloaded`, ...). Every message counts against the connection's event budget
//! (`SOCKET_EVENTS_PER_SEC` / `SOCKET_EVENTS_BURST`), like a socket.io event.
//!
//! ## Server -> client (every message has `type` and `timestamp`, RFC 3339 UTC, millis)
//!
//! | plain WebSocket | from socket.io room event |
//! |---|---|
//! | `session {sessionId, code, status, resumed, lastSeq, queuePosition}` (on connect) | `init_session` ack |
//! | `history {messages: [{id, text, content, sender, isAI, seq, timestamp}], hasMore, sessionId}` (on connect, `get_history`, `clear_history`) | `get_history` ack; `history_cleared` |
//! | `sent {id, seq, content, clientMsgId?, duplicate, sessionId}` | `user_message` ack |
//! | `message {id, message, content, sender: "bot" \| "agent", isAI, seq}` | `message` from the staff side |
//! | `user_message {...same fields, sender: "user"}` | `message` the visitor wrote elsewhere (another tab) |
//! | `typing {isTyping, sender: "bot" \| "agent"}` | `typing` from the staff side |
//! | `stream-start {messageId}`, `stream-token {messageId, token, index}`, `stream-end {messageId, content, seq, interrupted?}` | same names |
//! | `human-escalation-response {message}` | same name |
//! | `session_status {status, assignee}`, `queue_position {position}`, `read {reader, seq}` | same names |
//! | `availability {online, agentsOnline, reason?, nextOpening?}` (after `history` on connect, and on change), `rating_request {sessionId}` | same names |
//!
//! `sender` names the author as the seeds do: the visitor `user`, the assistant `bot`, a human
//! of the staff `agent`. The visitor's own messages are confirmed by `sent` and not echoed as
//! `message` (seed 000's clients show every `message` as a reply). A message already given in a
//! history is not sent again (by `seq`). If the client falls so far behind that room events
//! were dropped, it gets `history {..., resync: true}` instead of the lost events.
//! `visitor_presence` and call signalling are not forwarded.

mod connection;
pub mod seed002;
pub mod types;
mod wire;

use axum::extract::{FromRequestParts, Query, Request, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use tracing::Instrument;

use crate::auth::{Identity, Role};
use crate::conversation::{self, OpenRequest};
use crate::edge::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::sessions::Caller;
use crate::state::AppState;

pub use crate::edge::guard::WS_PATHS as PATHS;

/// The `/ws` route, and the paths the seeds' clients use for the same protocol.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATHS[0], get(upgrade))
        .route(PATHS[1], get(seed002::upgrade))
        .route("/", get(root))
}

use crate::edge::guard::is_upgrade;

/// `GET /`: a WebSocket upgrade is the gateway; anything else is not found, as before.
async fn root(state: State<AppState>, req: Request) -> Response {
    if is_upgrade(req.headers()) {
        upgrade(state, req).await
    } else {
        AppError::NotFound("nothing here: the console is at /console, the widget at /widget".into())
            .into_response()
    }
}

/// Authenticates, finds the session, then upgrades. Every refusal is an HTTP answer with
/// the JSON error body, before any WebSocket exists.
pub(crate) async fn upgrade(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &state).await;
    let identity = match authorize(&state, &parts.headers, &parts.uri).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let info = crate::edge::client::client_info(
        &parts.headers,
        &parts.extensions,
        state.config.trust_proxy,
    );
    let wanted = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|Query(q)| q.get("sessionId").cloned());
    let session = match session_for(&state, identity.as_ref(), wanted.as_deref(), &info).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let span = tracing::info_span!(
        "ws",
        session = %session.session_id,
        ip = info.ip.as_deref().unwrap_or("-"),
        account = identity.as_ref().map(|i| i.account_id.as_str()).unwrap_or("-"),
    );
    let max = state.config.max_payload_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| {
            connection::serve(socket, state, session, identity).instrument(span)
        })
}

/// Who is connecting: an account (`Some`), or an anonymous visitor when they are allowed.
async fn authorize(
    state: &AppState,
    headers: &http::HeaderMap,
    uri: &http::Uri,
) -> AppResult<Option<Identity>> {
    let token = crate::auth::query_token(uri).or_else(|| crate::auth::bearer(headers));
    match token {
        Some(t) => Ok(Some(crate::auth::authenticate(state, &t).await?)),
        None if state.config.ws_allow_anonymous => Ok(None),
        None => Err(AppError::Unauthorized(
            "a token is required: ws://host/ws?token=<jwt> or Authorization: Bearer <jwt>".into(),
        )),
    }
}

/// The session a new connection speaks in, as `init_session` finds it: the one named by
/// `?sessionId=` when the caller may reach it, else the customer's latest unresolved one,
/// else a new one (announced to agents as `session_created`).
async fn session_for(
    state: &AppState,
    identity: Option<&Identity>,
    wanted: Option<&str>,
    info: &ClientInfo,
) -> AppResult<connection::Session> {
    // Everyone on /ws is the visitor side of their own sessions. A staff account chats here as
    // a customer would: in sessions it owns, never as the visitor of someone else's.
    let as_visitor = identity.cloned().map(|mut id| {
        id.role = Role::Customer;
        id
    });
    let caller = Caller {
        identity: as_visitor,
        verified: None,
    };
    // Staff see every session id in the console: holding one is no capability for them, so
    // they resume only sessions they own.
    let staff = identity
        .filter(|i| i.is_staff())
        .map(|i| i.account_id.as_str());
    let ip = info.ip.clone().unwrap_or_default();
    let opened = conversation::open(
        state,
        OpenRequest {
            caller: &caller,
            wanted,
            only_owned_by: staff,
            reuse: None,
            client: info.clone(),
            keep: None,
        },
        || state.limits.new_session(&ip, None),
    )
    .await?;
    let (session, resumed) = (opened.session, opened.resumed);
    Ok(connection::Session {
        pk: session.id,
        session_id: session.session_id,
        code: session.code,
        status: crate::sessions::types::SessionStatus::stored(&session.status),
        last_seq: session.last_seq,
        resumed,
    })
}
