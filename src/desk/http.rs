//! Desk REST for staff: `PATCH /api/chats/:sessionId`, `DELETE /api/chats/:sessionId`
//! (admin), `PUT /api/chats/:sessionId/labels`. Sending is `conversation::http`'s.

use axum::extract::{Path, State};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};

use super::types::SessionSummary;
use crate::auth::http::JsonBody;
use crate::auth::{AdminOnly, Staff};
use crate::error::AppResult;
use crate::sessions::service as sessions;
use crate::sessions::types::Cleared;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/chats/{session_id}",
            axum::routing::patch(patch_chat).delete(delete_chat),
        )
        .route(
            "/api/chats/{session_id}/labels",
            axum::routing::put(put_labels),
        )
        .route(
            "/api/chats/{session_id}/summary",
            axum::routing::get(get_summary),
        )
}

/// `GET /api/chats/:sessionId/summary` (staff): the session as agents see it (status,
/// assignee, labels, `contactEmail`, `rating` of the latest resolution, ...).
/// (`GET /api/chats/:sessionId` itself is the seed's array of messages.)
#[utoipa::path(get, path = "/api/chats/{session_id}/summary", tag = "chats", params(("session_id" = String, Path, description = "public session id")), security(("bearer" = [])), responses((status = 200, description = "the session summary"), (status = 400, description = "malformed session id"), (status = 403, description = "not staff"), (status = 404, description = "unknown session")))]
pub(crate) async fn get_summary(
    State(state): State<AppState>,
    Staff(_me): Staff,
    Path(id): Path<String>,
) -> AppResult<Json<SessionSummary>> {
    let session = sessions::get_by_session_id(&state.db, &id).await?;
    Ok(Json(super::summary(&state, &session).await?))
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

/// `DELETE /api/chats/:sessionId` (admin): erases the session's messages and attachments.
/// Erase a session's messages and attachments, files included (admin).
#[utoipa::path(delete, path = "/api/chats/{session_id}", tag = "chats", params(("session_id" = String, Path, description = "public session id")), security(("bearer" = [])), responses((status = 200, description = "`{sessionId, cleared}`"), (status = 400, description = "malformed session id"), (status = 403, description = "not an admin"), (status = 404, description = "unknown session")))]
pub(crate) async fn delete_chat(
    State(state): State<AppState>,
    AdminOnly(_admin): AdminOnly,
    Path(id): Path<String>,
) -> AppResult<Json<Cleared>> {
    let session = sessions::get_by_session_id(&state.db, &id).await?;
    Ok(Json(
        super::erase::for_everyone(&state, &session.id, &session.session_id).await?,
    ))
}

/// `PUT /api/chats/:sessionId/labels {labels: [name...]}` (staff): the session gets exactly
/// these labels.
#[utoipa::path(put, path = "/api/chats/{session_id}/labels", tag = "labels", params(("session_id" = String, Path, description = "public session id")), security(("bearer" = [])), responses((status = 200, description = "the session summary, with `labels`"), (status = 400, description = "an unknown label or a malformed body"), (status = 403, description = "not staff"), (status = 404, description = "unknown session")))]
pub(crate) async fn put_labels(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<SessionSummary>> {
    let session = sessions::get_by_session_id(&state.db, &id).await?;
    let b: crate::labels::types::SetLabels = body.read()?;
    Ok(Json(
        super::labels::set(&state, &me, &session, &b.labels).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            JsonBody::refusal::<PatchChat>(json!({ "status": 5 })),
            "status must be a string"
        );
        assert_eq!(
            JsonBody::refusal::<PatchChat>(json!({ "assigneeId": [] })),
            "assigneeId must be a string or null"
        );
    }
}
