//! REST endpoints of sessions: `GET /api/chats` (newest first, paginated) and
//! `GET /api/chats/:sessionId` (the session's messages in order; `[]` when unknown).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::service::{self, ListFilter};
use super::types::{ChatSummary, Cursor};
use crate::auth::http::QueryParams;
use crate::auth::{SignedIn, Staff};
use crate::error::AppResult;
use crate::messages::types::MessageDto;
use crate::state::AppState;

/// Most messages `GET /api/chats/:sessionId` returns when the client gives no `limit`.
pub const UNPAGED_HISTORY_CAP: u64 = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chats", get(list_chats))
        .route("/api/chats/mine", get(my_chats))
        .route("/api/chats/{session_id}", get(get_chat))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    pub limit: Option<u64>,
    /// Cursor: `X-Next-Before` of the previous page (or an RFC 3339 instant: sessions
    /// created strictly before it).
    pub before: Option<String>,
    pub status: Option<String>,
    pub assignee: Option<String>,
}

/// `GET /api/chats`: sessions newest first with their (latest) messages. The response
/// header `X-Next-Before` carries the cursor of the next page when there may be one.
/// Sessions newest first (staff). Query: limit, before (the previous page's `X-Next-Before`, or an RFC 3339 instant), status, assignee. `X-Next-Before` header is the next cursor.
#[utoipa::path(get, path = "/api/chats", tag = "chats", security(("bearer" = [])), responses((status = 200, description = "array of sessions with their latest messages"), (status = 401, description = "no staff token"), (status = 403, description = "not staff")))]
pub(crate) async fn list_chats(
    State(state): State<AppState>,
    Staff(_staff): Staff,
    QueryParams(q): QueryParams<ListQuery>,
) -> AppResult<impl IntoResponse> {
    let max = state.config.chats_page_limit.max(1);
    let limit = q.limit.unwrap_or(max).clamp(1, max);
    let before = Cursor::parse(q.before.as_deref(), "before")?;
    let filter = ListFilter {
        status: q.status.filter(|s| !s.is_empty()),
        assignee_id: q.assignee.filter(|s| !s.is_empty()),
        before,
        limit,
        ..Default::default()
    };
    let (headers, body) = summaries(&state, &filter).await?;
    Ok((headers, Json(body)))
}

/// `GET /api/chats/mine`: the signed-in customer's sessions, newest first.
/// The signed-in customer's sessions.
#[utoipa::path(get, path = "/api/chats/mine", tag = "chats", security(("bearer" = [])), responses((status = 200, description = "array of sessions"), (status = 401, description = "not signed in")))]
pub(crate) async fn my_chats(
    State(state): State<AppState>,
    SignedIn(id): SignedIn,
    QueryParams(q): QueryParams<ListQuery>,
) -> AppResult<impl IntoResponse> {
    let max = state.config.chats_page_limit.max(1);
    let filter = ListFilter {
        customer_id: Some(id.account_id),
        limit: q.limit.unwrap_or(max).clamp(1, max),
        before: Cursor::parse(q.before.as_deref(), "before")?,
        ..Default::default()
    };
    let (headers, body) = summaries(&state, &filter).await?;
    let body: Vec<ChatSummary> = body
        .into_iter()
        .map(|mut c| {
            // A customer sees their conversations, not the desk's metadata about them.
            c.ip = None;
            c.user_agent = None;
            c
        })
        .collect();
    Ok((headers, Json(body)))
}

/// One page of sessions with their latest messages, and the next-page cursor header.
async fn summaries(
    state: &AppState,
    filter: &ListFilter,
) -> AppResult<(HeaderMap, Vec<ChatSummary>)> {
    let limit = filter.limit;
    let sessions = service::list(&state.db, filter).await?;
    let mut messages = crate::messages::service::latest_for_sessions(
        &state.db,
        &sessions,
        state.config.history_limit,
    )
    .await?;
    let mut headers = HeaderMap::new();
    if sessions.len() as u64 == limit {
        if let Some(last) = sessions.last() {
            if let Ok(v) = Cursor::encode(&last.created_at, &last.id).parse() {
                headers.insert("x-next-before", v);
            }
        }
    }
    let body: Vec<ChatSummary> = sessions
        .into_iter()
        .map(|s| {
            let msgs = messages
                .remove(&s.id)
                .unwrap_or_default()
                .into_iter()
                .map(|m| MessageDto::from_model(m, &s.session_id))
                .collect();
            ChatSummary::new(s, msgs)
        })
        .collect();
    Ok((headers, body))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryQuery {
    pub after_seq: Option<i64>,
    pub limit: Option<u64>,
}

/// `GET /api/chats/:sessionId`: that session's messages in `seq` order (`[]` if unknown).
/// A session's messages in seq order (`[]` when unknown). Query: afterSeq, limit.
#[utoipa::path(get, path = "/api/chats/{session_id}", tag = "chats", params(("session_id" = String, Path, description = "public session id")), responses((status = 200, description = "array of messages")))]
pub(crate) async fn get_chat(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> AppResult<Json<Vec<MessageDto>>> {
    let Some(session) = service::find_by_session_id(&state.db, &session_id).await? else {
        return Ok(Json(Vec::new()));
    };
    // Seed clients ask without a limit and expect the whole conversation (bounded anyway).
    let limit = match q.limit {
        Some(l) => l.clamp(1, state.config.history_limit.max(1)),
        None => UNPAGED_HISTORY_CAP,
    };
    let (rows, _) = crate::messages::service::messages_after(
        &state.db,
        &session.id,
        q.after_seq.unwrap_or(0),
        limit,
    )
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|m| MessageDto::from_model(m, &session.session_id))
            .collect(),
    ))
}
