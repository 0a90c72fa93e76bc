//! Webhooks on the wire: an endpoint (its secret only in the answer that created it), the
//! requests that write one, and a delivery of the log.

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::messages::types::format_ts;
use crate::outbox::Event;

/// Most endpoints a desk may register.
pub const MAX_ENDPOINTS: u64 = 50;
/// Longest URL accepted.
pub const MAX_URL: usize = 2048;
/// Most events one POST may carry (`batchSize`).
pub const MAX_BATCH_SIZE: i32 = 500;

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not attempted yet (or redelivery asked).
    Pending,
    /// Attempted and failed; tried again at `nextAttemptAt`.
    Retrying,
    Delivered,
    /// Given up: the retry window passed (or a manual redelivery failed).
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Retrying => "retrying",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
        }
    }

    pub fn stored(s: &str) -> Status {
        match s {
            "retrying" => Status::Retrying,
            "delivered" => Status::Delivered,
            "failed" => Status::Failed,
            _ => Status::Pending,
        }
    }
}

/// An endpoint as admins see it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<Event>,
    pub active: bool,
    /// Most events one POST carries: 1 (the default), one event per POST, the body is the
    /// event; more, the body is `{"events": [...]}` with up to that many, in order.
    pub batch_size: i32,
    pub created_at: String,
    pub updated_at: String,
}

impl From<entity::webhook_endpoint::Model> for Endpoint {
    fn from(m: entity::webhook_endpoint::Model) -> Self {
        Endpoint {
            events: crate::outbox::service::events_of(&m.events),
            id: m.id,
            url: m.url,
            active: m.active,
            batch_size: m.batch_size,
            created_at: format_ts(&m.created_at),
            updated_at: format_ts(&m.updated_at),
        }
    }
}

/// `POST /api/webhooks`'s answer: the endpoint and its signing secret, shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// `whsec_` and 64 hex digits: the HMAC-SHA256 key of the signatures. Returned once.
    pub secret: String,
}

/// `POST /api/webhooks`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
    /// 1 to [`MAX_BATCH_SIZE`]; 1 when absent.
    pub batch_size: Option<i32>,
}

fn yes() -> bool {
    true
}

/// `PATCH /api/webhooks/:id`: any of them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
    pub batch_size: Option<i32>,
}

/// A request's `batchSize`, checked: 1 to [`MAX_BATCH_SIZE`].
pub fn batch_size(n: i32) -> AppResult<i32> {
    if (1..=MAX_BATCH_SIZE).contains(&n) {
        Ok(n)
    } else {
        Err(AppError::InvalidPayload(format!(
            "batchSize must be from 1 to {MAX_BATCH_SIZE}"
        )))
    }
}

/// The events of a request: known names, at least one, no repeats (in the order of
/// [`Event::ALL`]).
pub fn events(names: &[String]) -> AppResult<Vec<Event>> {
    let mut out = Vec::new();
    for n in names {
        let e = Event::parse(n).ok_or_else(|| {
            AppError::InvalidPayload(format!(
                "unknown event {n:?}; events are {}",
                Event::ALL.map(Event::as_str).join(", ")
            ))
        })?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.is_empty() {
        return Err(AppError::InvalidPayload(
            "events must name at least one event".into(),
        ));
    }
    out.sort_by_key(|e| Event::ALL.iter().position(|a| a == e));
    Ok(out)
}

/// The stored form of an event list (a JSON array of names).
pub fn stored_events(events: &[Event]) -> String {
    serde_json::to_string(&events.iter().map(|e| e.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

/// One delivery of the log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The delivery id (`X-Chatdesk-Delivery`), a decimal number as a string.
    pub id: String,
    pub event: String,
    /// The event's id (the body's `id`).
    pub event_id: String,
    pub status: Status,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub last_status_code: Option<i32>,
    /// When the next attempt is due (`pending` and `retrying` only).
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
}

impl From<entity::webhook_delivery::Model> for Delivery {
    fn from(m: entity::webhook_delivery::Model) -> Self {
        let status = Status::stored(&m.status);
        Delivery {
            id: m.id.to_string(),
            event: m.event,
            event_id: m.event_id,
            status,
            attempts: m.attempts,
            last_error: m.last_error,
            last_status_code: m.last_status_code,
            next_attempt_at: matches!(status, Status::Pending | Status::Retrying)
                .then(|| format_ts(&m.next_attempt_at)),
            delivered_at: m.delivered_at.as_ref().map(format_ts),
            created_at: format_ts(&m.created_at),
        }
    }
}

/// `GET /api/webhooks/:id/deliveries?before=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryQuery {
    /// Only deliveries with a smaller id (the next page).
    pub before: Option<i64>,
    pub limit: Option<u64>,
}

/// A page of the delivery log, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deliveries {
    pub deliveries: Vec<Delivery>,
    /// Pass as `before` for the next (older) page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}
