//! Ratings over REST: `GET /api/ratings?from=&to=&limit=` (staff).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::service;
use super::types::RatingEntry;
use crate::auth::http::QueryParams;
use crate::auth::Staff;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/ratings", get(list_ratings))
}

/// The most ratings one page carries.
const MAX_LIMIT: u64 = 500;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatingsQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<u64>,
}

fn instant(raw: Option<&str>, name: &str) -> AppResult<Option<chrono::DateTime<chrono::Utc>>> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&chrono::Utc)))
            .map_err(|_| AppError::InvalidPayload(format!("{name} must be an RFC 3339 instant"))),
    }
}

/// Satisfaction ratings given from `from` (included) to `to` (excluded), newest first
/// (staff). Query: from, to (RFC 3339), limit (default 100, at most 500).
#[utoipa::path(get, path = "/api/ratings", tag = "ratings", security(("bearer" = [])), params(("from" = Option<String>, Query, description = "RFC 3339, included"), ("to" = Option<String>, Query, description = "RFC 3339, excluded"), ("limit" = Option<u64>, Query, description = "1-500, default 100")), responses((status = 200, description = "ratings, newest first", body = [RatingEntry]), (status = 400, description = "bad from, to or limit"), (status = 401, description = "no staff token"), (status = 403, description = "not staff")))]
pub(crate) async fn list_ratings(
    State(state): State<AppState>,
    Staff(_me): Staff,
    QueryParams(q): QueryParams<RatingsQuery>,
) -> AppResult<Json<Vec<RatingEntry>>> {
    let from = instant(q.from.as_deref(), "from")?;
    let to = instant(q.to.as_deref(), "to")?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::InvalidPayload(format!(
            "limit must be from 1 to {MAX_LIMIT}"
        )));
    }
    let rows = service::list(&state.db, from, to, limit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(r, s)| RatingEntry::of(&r, s.as_ref()))
            .collect(),
    ))
}
