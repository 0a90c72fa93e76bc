//! Desk REST for staff: `PATCH /api/chats/:sessionId`, `POST /api/chats/:sessionId/messages`,
//! `DELETE /api/chats/:sessionId` (admin).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::http::JsonBody;
use crate::auth::{AdminOnly, Staff};
use crate::error::{AppError, AppResult};
use crate::messages::service::NewMessage;
use crate::messages::types::{MessageDto, Sender};
use crate::sessions::service as sessions;
use crate::sessions::types::Cleared;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/chats/{session_id}",
            axum::routing::patch(patch_chat).delete(delete_chat),
        )
        .route("/api/chats/{session_id}/messages", post(post_message))
}

/// `PATCH /api/chats/:sessionId {status?, assigneeId?}`.
/// Change status and/or assignee (staff): `{status?, assigneeId?}`.
#[utoipa::path(patch, path = "/api/chats/{session_id}", tag = "chats", params(("session_id" = String, Path, description = "public session id")), security(("bearer" = [])), responses((status = 200, description = "session summary"), (status = 403, description = "not the assignee or an admin"), (status = 400, description = "malformed session id"), (status = 404, description = "unknown session"), (status = 409, description = "changed meanwhile")))]
pub(crate) async fn patch_chat(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> AppResult<Json<Value>> {
    let session = sessions::get_by_session_id(&state.db, &id).await?;
    let status = match body.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(AppError::InvalidPayload("status must be a string".into())),
    };
    let assignee = match body.get("assigneeId") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => {
            return Err(AppError::InvalidPayload(
                "assigneeId must be a string or null".into(),
            ))
        }
    };
    let sum = super::set(&state, &me, session, status.as_deref(), assignee).await?;
    Ok(Json(
        serde_json::to_value(sum).map_err(|e| AppError::Internal(e.into()))?,
    ))
}

/// `POST /api/chats/:sessionId/messages {content, clientMsgId?}`: send as an agent.
/// Send as an agent: `{content, clientMsgId?}`.
#[utoipa::path(post, path = "/api/chats/{session_id}/messages", tag = "chats", params(("session_id" = String, Path, description = "public session id")), security(("bearer" = [])), responses((status = 201, description = "the stored message"), (status = 200, description = "a retry: the message stored earlier with this clientMsgId"), (status = 400, description = "malformed session id or content"), (status = 404, description = "unknown session")))]
pub(crate) async fn post_message(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> AppResult<(StatusCode, Json<MessageDto>)> {
    let session = sessions::get_by_session_id(&state.db, &id).await?;
    let content = body
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| AppError::InvalidPayload("content must be a string".into()))?;
    crate::messages::validate_content(content, state.config.max_content_length)?;
    let client_msg_id = crate::messages::types::ClientMsgId::from_json(body.get("clientMsgId"))?
        .map(crate::messages::types::ClientMsgId::into_inner);
    let mut new = NewMessage::new(
        session.id,
        session.session_id,
        Sender::Admin,
        content.to_string(),
    );
    new.client_msg_id = client_msg_id;
    new.author_id = (!me.legacy).then_some(me.account_id);
    if let Some(ai) = &state.assistant {
        ai.cancel(&new.session_pk);
    }
    let stored = state.writer.store(new, None).await?;
    let status = if stored.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(stored.message)))
}

/// `DELETE /api/chats/:sessionId` (admin): erases the session's messages.
/// Erase a session's messages (admin).
#[utoipa::path(delete, path = "/api/chats/{session_id}", tag = "chats", params(("session_id" = String, Path, description = "public session id")), security(("bearer" = [])), responses((status = 200, description = "`{sessionId, cleared}`"), (status = 400, description = "malformed session id"), (status = 403, description = "not an admin"), (status = 404, description = "unknown session")))]
pub(crate) async fn delete_chat(
    State(state): State<AppState>,
    AdminOnly(_admin): AdminOnly,
    Path(id): Path<String>,
) -> AppResult<Json<Cleared>> {
    let session = sessions::get_by_session_id(&state.db, &id).await?;
    Ok(Json(
        crate::sessions::events::clear(&state, &session.id, &session.session_id).await?,
    ))
}
