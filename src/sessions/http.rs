//! REST endpoints of sessions: `GET /api/chats` (newest first, paginated) and
//! `GET /api/chats/mine`. A session's messages are `conversation::http`'s.

use crate::messages::service::Audience;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::service::{self, ListFilter};
use super::types::{ChatSummary, Cursor, SessionStatus};
use crate::auth::http::QueryParams;
use crate::auth::{SignedIn, Staff};
use crate::error::AppResult;
use crate::messages::types::MessageDto;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chats", get(list_chats))
        .route("/api/chats/mine", get(my_chats))
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
    /// Only the sessions with this label (by name, any case).
    pub label: Option<String>,
}

/// `GET /api/chats`: sessions newest first with their (latest) messages. The response
/// header `X-Next-Before` carries the cursor of the next page when there may be one.
/// Sessions newest first (staff). Query: limit, before (the previous page's `X-Next-Before`, or an RFC 3339 instant), status, assignee, label. `X-Next-Before` header is the next cursor.
#[utoipa::path(get, path = "/api/chats", tag = "chats", security(("bearer" = [])), responses((status = 200, description = "array of sessions with their latest messages"), (status = 401, description = "no staff token"), (status = 403, description = "not staff")))]
pub(crate) async fn list_chats(
    State(state): State<AppState>,
    Staff(_staff): Staff,
    QueryParams(q): QueryParams<ListQuery>,
) -> AppResult<impl IntoResponse> {
    let max = state.config.chats_page_limit.max(1);
    let limit = q.limit.unwrap_or(max).clamp(1, max);
    let before = Cursor::parse(q.before.as_deref(), "before")?;
    // An unknown status is refused (as `list_sessions` refuses it), not an empty page.
    let status = match q.status.filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<SessionStatus>()?.as_str().to_string()),
        None => None,
    };
    let filter = ListFilter {
        status,
        assignee_id: q.assignee.filter(|s| !s.is_empty()),
        before,
        limit,
        label: q
            .label
            .as_deref()
            .map(crate::labels::types::LabelName::parse)
            .transpose()?,
        ..Default::default()
    };
    let (headers, mut body) = summaries(&state, &filter, Audience::Staff).await?;
    // Staff see each session's labels.
    let pks: Vec<String> = body.iter().map(|c| c.id.clone()).collect();
    let mut labels = crate::labels::service::of_sessions(&state.db, &pks).await?;
    let mut ratings = crate::csat::service::latest_of(&state.db, &pks).await?;
    for c in &mut body {
        c.labels = Some(labels.remove(&c.id).unwrap_or_default());
        c.rating = ratings
            .remove(&c.id)
            .map(|r| crate::csat::types::SessionRating::from(&r));
    }
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
    // A customer never sees the desk's private notes.
    let (headers, body) = summaries(&state, &filter, Audience::Public).await?;
    let body: Vec<ChatSummary> = body
        .into_iter()
        .map(|mut c| {
            // A customer sees their conversations, not the desk's metadata about them.
            c.ip = None;
            c.user_agent = None;
            c.contact_email = None;
            c
        })
        .collect();
    Ok((headers, Json(body)))
}

/// One page of sessions with their latest messages, and the next-page cursor header. The
/// page ends early when its messages reach `RESPONSE_MAX_BYTES` of content (the first
/// session is always there, with as many of its latest messages as fit).
async fn summaries(
    state: &AppState,
    filter: &ListFilter,
    audience: Audience,
) -> AppResult<(HeaderMap, Vec<ChatSummary>)> {
    let sessions = service::list(&state.db, filter).await?;
    let full_page = sessions.len() as u64 == filter.limit;
    let mut budget = state.config.response_max_bytes;
    let mut body: Vec<ChatSummary> = Vec::with_capacity(sessions.len());
    let mut cut_short = false;
    let mut last_included = None;
    for s in sessions {
        let rows = if s.last_seq > 0 {
            crate::messages::service::latest_within(
                &state.db,
                &s.id,
                state.config.history_limit,
                budget,
                audience,
            )
            .await?
        } else {
            Vec::new()
        };
        let used: usize = rows.iter().map(|m| m.content.len()).sum();
        // A session whose latest message no longer fits waits for the next page.
        if !body.is_empty() && rows.is_empty() && s.last_seq > 0 {
            cut_short = true;
            break;
        }
        budget = budget.saturating_sub(used);
        let msgs = rows
            .into_iter()
            .map(|m| MessageDto::from_model(m, &s.session_id))
            .collect();
        last_included = Some(Cursor::encode(&s.created_at, &s.id));
        body.push(ChatSummary::new(s, msgs));
    }
    let mut headers = HeaderMap::new();
    if full_page || cut_short {
        if let Some(v) = last_included.and_then(|c| c.parse().ok()) {
            headers.insert("x-next-before", v);
        }
    }
    Ok((headers, body))
}
