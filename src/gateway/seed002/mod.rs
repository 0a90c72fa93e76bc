//! Seed 002's dialect on `/ws/chat` (`shared/seeds/002`, PROTOCOL Part 3): a person (an
//! account) connects once with `?token=JWT` and hears every conversation they take part in;
//! a message names its conversation. A thin adapter over the conversation core: what it
//! sends goes through `conversation::send`, `typing` and `read`, exactly as socket.io and
//! `/ws` do, and what it hears comes from the same rooms.
//!
//! ## Connecting
//! - `ws://host/ws/chat?token=JWT` (or `Authorization: Bearer`). The upgrade is always
//!   accepted; without a token the connection is closed with 1008 `No token provided`, with
//!   a bad, expired or revoked one with 1008 `Invalid token` (as the seed's server does).
//! - The first frame is `{"type":"connected","userId"}` (the account id).
//! - `/ws/chat?dialect=session` keeps the single-session dialect of `/ws` (seeds 000/001)
//!   for clients that used that path before.
//!
//! ## Conversations
//! A conversation is a chatdesk session the person takes part in: their own as a customer,
//! the ones assigned to them as staff; `conversationId` is the public sessionId. The
//! connection follows them from the start (the newest 200) and looks again every 10 s, so a
//! session assigned later is heard from then on. Writing to a conversation the person does
//! not take part in is refused (`forbidden`; `session_not_found` for an unknown one).
//!
//! ## Client -> server
//! | frame | does |
//! |---|---|
//! | `{type:"message", conversationId, content, clientMsgId?}` | stores it (exactly once by `clientMsgId`); every device of every participant, this one included, gets `message` |
//! | `{type:"typing", conversationId, isTyping}` | the other side gets `typing` |
//! | `{type:"read", conversationId, seq?}` | moves this side's read watermark (to the latest message without `seq`) |
//! | `{type:"call-offer", targetUserId, offer}` (also `call-answer` + `answer`, `ice-candidate` + `candidate`) | relayed to every connection of the target as `{type, senderId, offer}`, only when the two share a conversation |
//! | `{type:"ping"}` | `pong` |
//!
//! ## Server -> client
//! - `{type:"message", message:{id, conversationId, senderId, content, type, seq, createdAt,
//!   sender, isAI, clientMsgId?}}`; `senderId` is the writing account (the customer for the
//!   visitor side; null for the assistant).
//! - `{type:"typing", conversationId, isTyping, sender}`, `{type:"read", conversationId,
//!   reader, seq}`.
//! - `{type:"call-offer"|"call-answer"|"ice-candidate", senderId, offer|answer|candidate}`.
//! - `{type:"error", message, code, event?}` for anything refused; nothing is stored.
//!
//! Every frame counts against the connection's event budget; frames are limited to
//! `MAX_PAYLOAD_BYTES` (larger: close 1009); keep-alive and idle timeout as on `/ws`.

mod connection;
pub mod types;

use axum::extract::ws::close_code;
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::AppError;
use crate::state::AppState;

/// `GET /ws/chat`: seed 002's dialect (or, with `?dialect=session`, the `/ws` one).
pub async fn upgrade(State(state): State<AppState>, req: Request) -> Response {
    if req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "dialect=session"))
    {
        return super::upgrade(State(state), req).await;
    }
    let (mut parts, _body) = req.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let token =
        crate::auth::query_token(&parts.uri).or_else(|| crate::auth::bearer(&parts.headers));
    let who = match token {
        None => Err(("No token provided", close_code::POLICY)),
        Some(t) => match crate::auth::authenticate(&state, &t).await {
            Ok(me) => Ok(me),
            Err(AppError::Unauthorized(_)) => Err(("Invalid token", close_code::POLICY)),
            Err(e) => {
                tracing::warn!(error = %e, "token not checked");
                Err(("try again later", close_code::AGAIN))
            }
        },
    };
    let max = state.config.max_payload_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            match who {
                Ok(me) => {
                    let span = tracing::info_span!("ws_chat", account = %me.account_id);
                    connection::serve(socket, state, me).instrument(span).await
                }
                Err((reason, code)) => connection::refuse(socket, reason, code).await,
            }
        })
}
