//! Canned responses over REST (staff). Shared ones are the admins' to create and change;
//! personal ones their owner's alone (anyone else is told there is no such response).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};

use super::service::{self, Change};
use super::types::{Canned, CannedPatch, CannedQuery, NewCanned, ShortCode, SHARED};
use crate::auth::http::{JsonBody, QueryParams};
use crate::auth::{Identity, Role, Staff};
use crate::error::{AppError, AppResult};
use crate::messages::Content;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/canned-responses",
            get(list_canned).post(create_canned),
        )
        .route(
            "/api/canned-responses/{id}",
            patch(update_canned).delete(delete_canned),
        )
}

fn admins_only() -> AppError {
    AppError::Forbidden("only admins manage shared canned responses".into())
}

fn content(state: &AppState, raw: String) -> AppResult<String> {
    Ok(Content::parse(raw, state.config.max_content_length)?.into_inner())
}

/// The response `id` if `me` may change it: a shared one for admins (others: forbidden),
/// a personal one for its owner (others: not found, so its existence is not told).
async fn changeable(
    state: &AppState,
    me: &Identity,
    id: &str,
) -> AppResult<entity::canned_response::Model> {
    let none = || AppError::NotFound("no such canned response".into());
    let found = service::get(&state.db, id).await?.ok_or_else(none)?;
    if found.scope == SHARED {
        if me.role != Role::Admin {
            return Err(admins_only());
        }
    } else if found.scope != me.account_id {
        return Err(none());
    }
    Ok(found)
}

/// The shared responses and the caller's own, by short code.
#[utoipa::path(get, path = "/api/canned-responses", tag = "canned-responses", params(("q" = Option<String>, Query, description = "a prefix of the short code")), security(("bearer" = [])), responses((status = 200, description = "array of canned responses", body = [Canned]), (status = 401, description = "no staff token"), (status = 403, description = "not staff")))]
pub(crate) async fn list_canned(
    State(state): State<AppState>,
    Staff(me): Staff,
    QueryParams(q): QueryParams<CannedQuery>,
) -> AppResult<Json<Vec<Canned>>> {
    let prefix = match q.q.as_deref().map(|p| p.trim_start_matches('/')) {
        None | Some("") => None,
        Some(p) => Some(ShortCode::parse(p)?),
    };
    let list = service::visible_to(&state.db, &me.account_id, prefix.as_ref()).await?;
    Ok(Json(list.into_iter().map(Canned::from).collect()))
}

/// Saves a response: `{shortCode, content, shared?}` (shared ones: admins only).
#[utoipa::path(post, path = "/api/canned-responses", tag = "canned-responses", security(("bearer" = [])), responses((status = 201, description = "the canned response", body = Canned), (status = 400, description = "bad short code or content"), (status = 403, description = "a shared one by a non-admin"), (status = 409, description = "the short code is taken")))]
pub(crate) async fn create_canned(
    State(state): State<AppState>,
    Staff(me): Staff,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<Canned>)> {
    let b: NewCanned = body.read()?;
    if b.shared && me.role != Role::Admin {
        return Err(admins_only());
    }
    let code = ShortCode::parse(&b.short_code)?;
    let text = content(&state, b.content)?;
    let made = service::create(&state.db, &me.account_id, &code, text, b.shared).await?;
    Ok((StatusCode::CREATED, Json(made.into())))
}

/// Changes a response: `{shortCode?, content?, shared?}`.
#[utoipa::path(patch, path = "/api/canned-responses/{id}", tag = "canned-responses", params(("id" = String, Path, description = "canned response id")), security(("bearer" = [])), responses((status = 200, description = "the canned response", body = Canned), (status = 403, description = "a shared one by a non-admin"), (status = 404, description = "no such response (or someone else's personal one)"), (status = 409, description = "the short code is taken")))]
pub(crate) async fn update_canned(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<Canned>> {
    let current = changeable(&state, &me, &id).await?;
    let b: CannedPatch = body.read()?;
    if b.shared == Some(true) && me.role != Role::Admin {
        return Err(admins_only());
    }
    let change = Change {
        code: b.short_code.as_deref().map(ShortCode::parse).transpose()?,
        content: b.content.map(|c| content(&state, c)).transpose()?,
        shared: b.shared,
    };
    let updated = service::update(&state.db, current, &me.account_id, change).await?;
    Ok(Json(updated.into()))
}

/// Deletes a response.
#[utoipa::path(delete, path = "/api/canned-responses/{id}", tag = "canned-responses", params(("id" = String, Path, description = "canned response id")), security(("bearer" = [])), responses((status = 204, description = "deleted"), (status = 403, description = "a shared one by a non-admin"), (status = 404, description = "no such response")))]
pub(crate) async fn delete_canned(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let found = changeable(&state, &me, &id).await?;
    service::delete(&state.db, &found.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
