//! Business hours over REST: `GET /api/settings/business-hours` (staff) and `PUT` (admins).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::types::{BusinessHours, BusinessHoursView};
use super::{service, Schedule};
use crate::auth::http::JsonBody;
use crate::auth::{AdminOnly, Staff};
use crate::error::AppResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/settings/business-hours",
        get(get_hours).put(put_hours),
    )
}

fn view(hours: BusinessHours, schedule: Option<&Schedule>) -> BusinessHoursView {
    let now = chrono::Utc::now();
    let open_now = schedule.is_none_or(|s| s.is_open(now));
    let next_opening = match schedule {
        Some(s) if !open_now => s
            .next_opening(now)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
        _ => None,
    };
    BusinessHoursView {
        hours,
        open_now,
        next_opening,
    }
}

/// The business hours (staff): `{enabled, timezone, days, openNow, nextOpening?}`; off and
/// empty until an admin sets them.
#[utoipa::path(get, path = "/api/settings/business-hours", tag = "settings", security(("bearer" = [])), responses((status = 200, description = "the business hours", body = BusinessHoursView), (status = 401, description = "no staff token"), (status = 403, description = "not staff")))]
pub(crate) async fn get_hours(
    State(state): State<AppState>,
    Staff(_me): Staff,
) -> AppResult<Json<BusinessHoursView>> {
    let hours = service::get(&state.db).await?.unwrap_or_default();
    let schedule = match hours.enabled {
        true => Some(Schedule::parse(&hours)?),
        false => None,
    };
    Ok(Json(view(hours, schedule.as_ref())))
}

/// Sets the business hours (admins): `{enabled, timezone, days: {mon: [["09:00","17:00"]],
/// ...}}`. The zone must be an IANA name; each interval starts before it ends (`24:00`
/// allowed as an end); intervals of a day do not overlap; a day left out is closed.
#[utoipa::path(put, path = "/api/settings/business-hours", tag = "settings", security(("bearer" = [])), request_body = BusinessHours, responses((status = 200, description = "the business hours", body = BusinessHoursView), (status = 400, description = "invalid zone, day or interval"), (status = 403, description = "not an admin")))]
pub(crate) async fn put_hours(
    State(state): State<AppState>,
    AdminOnly(me): AdminOnly,
    body: JsonBody,
) -> AppResult<Json<BusinessHoursView>> {
    let hours: BusinessHours = body.read()?;
    let schedule = Schedule::parse(&hours)?;
    service::put(&state.db, &hours).await?;
    tracing::info!(by = %me.account_id, enabled = hours.enabled, timezone = %hours.timezone, "business hours set");
    let in_force = hours.enabled.then(|| Arc::new(schedule));
    state.hours.replace(in_force.clone());
    Ok(Json(view(hours, in_force.as_deref())))
}
