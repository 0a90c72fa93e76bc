//! Desk REST for staff: `PATCH /api/chats/:sessionId`, `POST /api/chats/:sessionId/messages`,
//! `DELETE /api/chats/:sessionId` (admin).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};

use super::types::SessionSummary;
use crate::auth::http::JsonBody;
use crate::auth::{AdminOnly, Staff};
use crate::error::{AppError, AppResult};
use crate::messages::service::NewMessage;
use crate::messages::types::{ClientMsgId, Media, MessageDto, Sender};
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

/// The body of `PATCH /api/chats/:sessionId`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchChat {
    /// The new status (checked by the desk, after the assignee); absent or null: unchanged
    /// unless the assignee change implies one.
    #[serde(default, deserialize_with = "status")]
    status: Option<String>,
    /// Absent: unchanged; null: nobody.
    #[serde(default, deserialize_with = "assignee_id")]
    assignee_id: Option<Option<String>>,
}

fn status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
        .map_err(|_| serde::de::Error::custom("status must be a string"))
}

fn assignee_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d)
        .map(Some)
        .map_err(|_| serde::de::Error::custom("assigneeId must be a string or null"))
}

/// The body of `POST /api/chats/:sessionId/messages`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostMessage {
    /// Required: absent or null is refused with [`CONTENT_RULE`].
    #[serde(default, deserialize_with = "content")]
    content: Option<String>,
    #[serde(default)]
    client_msg_id: Option<ClientMsgId>,
    /// `type` and `fileUrl`; a file message may come without `content`.
    #[serde(flatten)]
    media: Media,
}

const CONTENT_RULE: &str = "content must be a string";

fn content<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d).map_err(|_| serde::de::Error::custom(CONTENT_RULE))
}

/// `PATCH /api/chats/:sessionId {status?, assigneeId?}`.
/// Change status and/or assignee (staff): `{status?, assigneeId?}`.
#[utoipa::path(patch, path = "/api/chats/{session_id}", tag = "chats", params(("session_id" = String, Path, description = "public session id")), security(("bearer" = [])), responses((status = 200, description = "session summary"), (status = 403, description = "not the assignee or an admin"), (status = 400, description = "malformed session id"), (status = 404, description = "unknown session"), (status = 409, description = "changed meanwhile")))]
pub(crate) async fn patch_chat(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<SessionSummary>> {
    let session = sessions::get_by_session_id(&state.db, &id).await?;
    let body: PatchChat = body.read()?;
    let sum = super::set(
        &state,
        &me,
        session,
        body.status.as_deref(),
        body.assignee_id,
    )
    .await?;
    Ok(Json(sum))
}

/// `POST /api/chats/:sessionId/messages {content, clientMsgId?, type?, fileUrl?}`: send as
/// an agent.
/// Send as an agent: `{content, clientMsgId?, type?, fileUrl?}` (`type` image, file, audio or video needs `fileUrl`, an https: URL or a path on this server; `content` may then be left out).
#[utoipa::path(post, path = "/api/chats/{session_id}/messages", tag = "chats", params(("session_id" = String, Path, description = "public session id")), security(("bearer" = [])), responses((status = 201, description = "the stored message"), (status = 200, description = "a retry: the message stored earlier with this clientMsgId"), (status = 400, description = "malformed session id or content"), (status = 404, description = "unknown session")))]
pub(crate) async fn post_message(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<MessageDto>)> {
    let session = sessions::get_by_session_id(&state.db, &id).await?;
    let body: PostMessage = body.read()?;
    let content = match body.content {
        Some(c) => c,
        None if body.media.file_url.is_some() => String::new(),
        None => return Err(AppError::InvalidPayload(CONTENT_RULE.into())),
    };
    let content = body.media.content(content);
    crate::messages::validate_content(&content, state.config.max_content_length)?;
    let mut new = NewMessage::new(session.id, session.session_id, Sender::Admin, content)
        .with_media(body.media);
    new.client_msg_id = body.client_msg_id.map(ClientMsgId::into_inner);
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
        crate::sessions::history::clear(&state, &session.id, &session.session_id).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refusal<T: serde::de::DeserializeOwned + std::fmt::Debug>(
        body: serde_json::Value,
    ) -> String {
        match JsonBody(body).read::<T>() {
            Ok(b) => panic!("accepted: {b:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn patch_bodies_tell_absent_from_null() {
        let read = |v| JsonBody(v).read::<PatchChat>().ok();
        let empty = read(json!({})).map(|b| (b.status, b.assignee_id));
        assert_eq!(empty, Some((None, None)));
        let unassign = read(json!({ "status": null, "assigneeId": null }));
        assert_eq!(
            unassign.map(|b| (b.status, b.assignee_id)),
            Some((None, Some(None)))
        );
        let assign = read(json!({ "status": "assigned", "assigneeId": "a1" }));
        assert_eq!(
            assign.map(|b| (b.status, b.assignee_id)),
            Some((Some("assigned".into()), Some(Some("a1".into()))))
        );
        assert_eq!(
            refusal::<PatchChat>(json!({ "status": 5 })),
            "status must be a string"
        );
        assert_eq!(
            refusal::<PatchChat>(json!({ "assigneeId": [] })),
            "assigneeId must be a string or null"
        );
    }

    #[test]
    fn message_bodies_keep_their_refusals() {
        assert_eq!(
            refusal::<PostMessage>(json!({ "content": 5 })),
            "content must be a string"
        );
        assert_eq!(
            refusal::<PostMessage>(json!({ "content": "x", "clientMsgId": 1.5 })),
            ClientMsgId::RULE
        );
        let ok = JsonBody(json!({ "content": "x", "clientMsgId": 7 }))
            .read::<PostMessage>()
            .ok()
            .map(|b| (b.content, b.client_msg_id.map(ClientMsgId::into_inner)));
        assert_eq!(ok, Some((Some("x".into()), Some("7".into()))));
        let missing = JsonBody(json!({})).read::<PostMessage>().ok();
        assert_eq!(missing.map(|b| b.content), Some(None));
        assert!(refusal::<PostMessage>(
            json!({ "type": "image", "fileUrl": "http://x.example/a" })
        )
        .starts_with("fileUrl must be"));
        let file = JsonBody(json!({ "type": "file", "fileUrl": "/f/a.pdf" }))
            .read::<PostMessage>()
            .ok()
            .map(|b| (b.content, b.media.kind));
        assert_eq!(
            file,
            Some((None, crate::messages::types::MessageKind::File))
        );
    }
}
