//! Labels over REST: the admins' list of labels, and a session's labels (staff).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};

use super::service;
use super::types::{self, Label, LabelName, LabelPatch, NewLabel, DEFAULT_COLOR};
use crate::auth::http::JsonBody;
use crate::auth::{AdminOnly, Staff};
use crate::error::AppResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/labels", get(list_labels).post(create_label))
        .route("/api/labels/{id}", patch(update_label).delete(delete_label))
}

/// Every label, by name (staff).
#[utoipa::path(get, path = "/api/labels", tag = "labels", security(("bearer" = [])), responses((status = 200, description = "array of labels", body = [Label]), (status = 401, description = "no staff token"), (status = 403, description = "not staff")))]
pub(crate) async fn list_labels(
    State(state): State<AppState>,
    Staff(_me): Staff,
) -> AppResult<Json<Vec<Label>>> {
    let all = service::list(&state.db).await?;
    Ok(Json(all.into_iter().map(Label::from).collect()))
}

/// Defines a label (admins): `{name, color?}`; names are unique whatever their case.
#[utoipa::path(post, path = "/api/labels", tag = "labels", security(("bearer" = [])), responses((status = 201, description = "the label", body = Label), (status = 400, description = "bad name or colour"), (status = 403, description = "not an admin"), (status = 409, description = "the name is taken")))]
pub(crate) async fn create_label(
    State(state): State<AppState>,
    AdminOnly(_me): AdminOnly,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<Label>)> {
    let b: NewLabel = body.read()?;
    let name = LabelName::parse(&b.name)?;
    let color = types::color(b.color.as_deref().unwrap_or(DEFAULT_COLOR))?;
    let made = service::create(&state.db, &name, color).await?;
    Ok((StatusCode::CREATED, Json(made.into())))
}

/// Renames or recolours a label (admins): `{name?, color?}`.
#[utoipa::path(patch, path = "/api/labels/{id}", tag = "labels", params(("id" = String, Path, description = "label id")), security(("bearer" = [])), responses((status = 200, description = "the label", body = Label), (status = 403, description = "not an admin"), (status = 404, description = "no such label"), (status = 409, description = "the name is taken")))]
pub(crate) async fn update_label(
    State(state): State<AppState>,
    AdminOnly(_me): AdminOnly,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<Label>> {
    let current = service::get(&state.db, &id).await?;
    let b: LabelPatch = body.read()?;
    let name = b.name.as_deref().map(LabelName::parse).transpose()?;
    let color = b.color.as_deref().map(types::color).transpose()?;
    Ok(Json(
        service::update(&state.db, current, name, color)
            .await?
            .into(),
    ))
}

/// Deletes a label (admins); it comes off every session.
#[utoipa::path(delete, path = "/api/labels/{id}", tag = "labels", params(("id" = String, Path, description = "label id")), security(("bearer" = [])), responses((status = 204, description = "deleted"), (status = 403, description = "not an admin"), (status = 404, description = "no such label")))]
pub(crate) async fn delete_label(
    State(state): State<AppState>,
    AdminOnly(_me): AdminOnly,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    service::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
