//! Webhooks over REST (admins only: agents get 403, no token 401):
//! - `GET /api/webhooks`, `POST /api/webhooks {url, events, active?, batchSize?}` (the answer carries
//!   the endpoint's `secret`, this once), `PATCH` and `DELETE /api/webhooks/:id`;
//! - `GET /api/webhooks/:id/deliveries?before=&limit=`: the delivery log, newest first;
//! - `POST /api/webhooks/:id/deliveries/:deliveryId/retry`: redeliver now.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};

use super::types::{
    self, CreatedEndpoint, Deliveries, Delivery, DeliveryQuery, Endpoint, EndpointPatch,
    NewEndpoint,
};
use super::{service, target};
use crate::auth::http::{JsonBody, QueryParams};
use crate::auth::AdminOnly;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/api/webhooks/{id}",
            patch(update_webhook).delete(delete_webhook),
        )
        .route("/api/webhooks/{id}/deliveries", get(list_deliveries))
        .route(
            "/api/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(retry_delivery),
        )
}

/// A new signing secret: `whsec_` and 32 random bytes in hex.
fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// Every webhook endpoint (admins).
#[utoipa::path(get, path = "/api/webhooks", tag = "webhooks", security(("bearer" = [])), responses((status = 200, description = "the endpoints, oldest first (never their secrets)", body = [Endpoint]), (status = 401, description = "no token"), (status = 403, description = "not an admin")))]
pub(crate) async fn list_webhooks(
    State(state): State<AppState>,
    _admin: AdminOnly,
) -> AppResult<Json<Vec<Endpoint>>> {
    let all = service::list(&state.db).await?;
    Ok(Json(all.into_iter().map(Endpoint::from).collect()))
}

/// Registers an endpoint (admins): `{url, events: [...], active?, batchSize?}`. The answer's `secret`
/// signs every delivery and is never shown again.
#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", security(("bearer" = [])), responses((status = 201, description = "the endpoint with its secret (shown once)", body = CreatedEndpoint), (status = 400, description = "bad URL or events"), (status = 403, description = "not an admin")))]
pub(crate) async fn create_webhook(
    State(state): State<AppState>,
    AdminOnly(me): AdminOnly,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<CreatedEndpoint>)> {
    let b: NewEndpoint = body.read()?;
    let url = target::parse(&b.url, state.webhooks.settings.allow_private)?;
    let events = types::events(&b.events)?;
    let batch_size = types::batch_size(b.batch_size.unwrap_or(1))?;
    let secret = new_secret();
    let made = service::create(
        &state.db,
        url.to_string(),
        types::stored_events(&events),
        b.active,
        batch_size,
        secret.clone(),
    )
    .await?;
    tracing::info!(webhook = %made.id, by = %me.account_id, "webhook registered");
    state.webhooks.changed().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpoint {
            endpoint: made.into(),
            secret,
        }),
    ))
}

/// Changes an endpoint (admins): any of `{url, events, active, batchSize}`. The secret stays.
#[utoipa::path(patch, path = "/api/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), security(("bearer" = [])), responses((status = 200, description = "the endpoint", body = Endpoint), (status = 400, description = "bad URL or events"), (status = 403, description = "not an admin"), (status = 404, description = "no such webhook")))]
pub(crate) async fn update_webhook(
    State(state): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<Endpoint>> {
    let b: EndpointPatch = body.read()?;
    let current = service::get(&state.db, &id).await?;
    let url = b
        .url
        .as_deref()
        .map(|u| target::parse(u, state.webhooks.settings.allow_private))
        .transpose()?
        .map(|u| u.to_string());
    let events = b
        .events
        .as_deref()
        .map(types::events)
        .transpose()?
        .map(|e| types::stored_events(&e));
    let batch_size = b.batch_size.map(types::batch_size).transpose()?;
    let row = service::update(&state.db, current, url, events, b.active, batch_size).await?;
    state.webhooks.changed().await?;
    Ok(Json(row.into()))
}

/// Deletes an endpoint and its delivery log (admins).
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), security(("bearer" = [])), responses((status = 204, description = "deleted"), (status = 403, description = "not an admin"), (status = 404, description = "no such webhook")))]
pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    service::delete(&state.db, &id).await?;
    state.webhooks.changed().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's delivery log, newest first (admins): `{deliveries: [{id, event, eventId,
/// status, attempts, lastError, lastStatusCode, nextAttemptAt, deliveredAt, createdAt}],
/// nextBefore?}`.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), ("before" = Option<i64>, Query, description = "only deliveries with a smaller id (the next page)"), ("limit" = Option<u64>, Query, description = "1 to 200, default 50")), security(("bearer" = [])), responses((status = 200, description = "a page of the log", body = Deliveries), (status = 403, description = "not an admin"), (status = 404, description = "no such webhook")))]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<DeliveryQuery>,
) -> AppResult<Json<Deliveries>> {
    service::get(&state.db, &id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let (rows, more) = service::deliveries(&state.db, &id, q.before, limit).await?;
    let next_before = more
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(Deliveries {
        deliveries: rows.into_iter().map(Delivery::from).collect(),
        next_before,
    }))
}

/// Redelivers now (admins): a delivered or failed delivery gets one more attempt; a queued
/// one is made due at once.
#[utoipa::path(post, path = "/api/webhooks/{id}/deliveries/{deliveryId}/retry", tag = "webhooks", params(("id" = String, Path), ("deliveryId" = String, Path)), security(("bearer" = [])), responses((status = 202, description = "queued; the log shows the outcome", body = Delivery), (status = 403, description = "not an admin"), (status = 404, description = "no such webhook or delivery")))]
pub(crate) async fn retry_delivery(
    State(state): State<AppState>,
    _admin: AdminOnly,
    Path((id, delivery_id)): Path<(String, String)>,
) -> AppResult<(StatusCode, Json<Delivery>)> {
    let delivery_id: i64 = delivery_id
        .parse()
        .map_err(|_| AppError::NotFound("no such delivery".into()))?;
    service::get(&state.db, &id).await?;
    let row = service::redeliver(&state.db, &id, delivery_id).await?;
    state.webhooks.subs.written();
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}
