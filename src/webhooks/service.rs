//! Webhooks' storage: the only place with SQL for endpoints and deliveries (the outbox's
//! INSERT lives in `outbox::service`). The worker's side: read the head of each endpoint's
//! queue, claim it with a lease, record each attempt's outcome.

use chrono::{DateTime, Utc};
use entity::{webhook_delivery as delivery, webhook_endpoint as endpoint};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement, Value,
};

use super::types::{Status, MAX_ENDPOINTS};
use crate::error::{AppError, AppResult};
use crate::outbox::service::now_millis;

fn not_found() -> AppError {
    AppError::NotFound("no such webhook".into())
}

/// Every endpoint, oldest first.
pub async fn list<C: ConnectionTrait>(db: &C) -> AppResult<Vec<endpoint::Model>> {
    Ok(endpoint::Entity::find()
        .order_by_asc(endpoint::Column::CreatedAt)
        .order_by_asc(endpoint::Column::Id)
        .all(db)
        .await?)
}

/// The active endpoints (the worker's list).
pub async fn active<C: ConnectionTrait>(db: &C) -> AppResult<Vec<endpoint::Model>> {
    Ok(endpoint::Entity::find()
        .filter(endpoint::Column::Active.eq(true))
        .all(db)
        .await?)
}

pub async fn get<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<endpoint::Model> {
    endpoint::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(not_found)
}

/// Stores a new endpoint.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    url: String,
    events: String,
    active: bool,
    secret: String,
) -> AppResult<endpoint::Model> {
    if endpoint::Entity::find().count(db).await? >= MAX_ENDPOINTS {
        return Err(AppError::Conflict(format!(
            "a desk has at most {MAX_ENDPOINTS} webhooks"
        )));
    }
    let now = now_millis();
    Ok(endpoint::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        url: Set(url),
        secret: Set(secret),
        events: Set(events),
        active: Set(active),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Changes an endpoint's URL, events or switch.
pub async fn update<C: ConnectionTrait>(
    db: &C,
    current: endpoint::Model,
    url: Option<String>,
    events: Option<String>,
    active: Option<bool>,
) -> AppResult<endpoint::Model> {
    let mut am: endpoint::ActiveModel = current.into();
    if let Some(u) = url {
        am.url = Set(u);
    }
    if let Some(e) = events {
        am.events = Set(e);
    }
    if let Some(a) = active {
        am.active = Set(a);
    }
    am.updated_at = Set(now_millis());
    Ok(am.update(db).await?)
}

/// Deletes an endpoint and its deliveries.
pub async fn delete<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<()> {
    // Deliveries first: SQLite enforces the foreign key's cascade only with its pragma on.
    delivery::Entity::delete_many()
        .filter(delivery::Column::EndpointId.eq(id))
        .exec(db)
        .await?;
    let gone = endpoint::Entity::delete_by_id(id.to_string())
        .exec(db)
        .await?;
    if gone.rows_affected == 0 {
        return Err(not_found());
    }
    Ok(())
}

/// A page of an endpoint's deliveries, newest first, and whether older ones remain.
pub async fn deliveries<C: ConnectionTrait>(
    db: &C,
    endpoint_id: &str,
    before: Option<i64>,
    limit: u64,
) -> AppResult<(Vec<delivery::Model>, bool)> {
    let mut q = delivery::Entity::find().filter(delivery::Column::EndpointId.eq(endpoint_id));
    if let Some(b) = before {
        q = q.filter(delivery::Column::Id.lt(b));
    }
    let mut rows = q
        .order_by_desc(delivery::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Asks for one more attempt of a delivery now: a finished one (delivered or failed) goes
/// back to `pending` for a single attempt (a failure marks it `failed` again); one still
/// queued is made due now. Its place in the endpoint's order is its id: an old delivery
/// redelivered goes before the newer ones still queued.
pub async fn redeliver<C: ConnectionTrait>(
    db: &C,
    endpoint_id: &str,
    id: i64,
) -> AppResult<delivery::Model> {
    let row = delivery::Entity::find_by_id(id)
        .filter(delivery::Column::EndpointId.eq(endpoint_id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("no such delivery".into()))?;
    let now = now_millis();
    let mut am: delivery::ActiveModel = row.clone().into();
    am.next_attempt_at = Set(now);
    if matches!(
        Status::stored(&row.status),
        Status::Delivered | Status::Failed
    ) {
        am.status = Set(Status::Pending.as_str().into());
        am.give_up_at = Set(Some(now));
    }
    Ok(am.update(db).await?)
}

/// A queued delivery as the worker reads it.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// The first `limit` deliveries still to send of an endpoint, in order (the partial index
/// `ix_webhook_deliveries_queue` holds exactly these).
pub async fn queue_head<C: ConnectionTrait>(
    db: &C,
    endpoint_id: &str,
    limit: u64,
) -> AppResult<Vec<Queued>> {
    let rows: Vec<(i64, DateTime<Utc>, Option<DateTime<Utc>>)> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .column(delivery::Column::NextAttemptAt)
        .column(delivery::Column::LockedUntil)
        .filter(delivery::Column::EndpointId.eq(endpoint_id))
        .filter(
            delivery::Column::Status.is_in([Status::Pending.as_str(), Status::Retrying.as_str()]),
        )
        .order_by_asc(delivery::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, next_attempt_at, locked_until)| Queued {
            id,
            next_attempt_at,
            locked_until,
        })
        .collect())
}

/// Claims the deliveries `ids` for this node until `until` under the token `lease`, those
/// still queued and not claimed by anyone (an expired lease counts as none); returns the
/// rows claimed, in id order. On PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`:
/// two nodes claiming at once never both get a row, and neither waits for the other.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    lease: &str,
    until: DateTime<Utc>,
) -> AppResult<Vec<delivery::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_millis();
    let backend = db.get_database_backend();
    let mut rows = match backend {
        DbBackend::Postgres => {
            let sql = r#"
UPDATE webhook_deliveries d SET locked_until = $1, lease = $2
WHERE d.id IN (
    SELECT x.id FROM webhook_deliveries x
    WHERE x.id = ANY($3) AND x.status IN ('pending', 'retrying')
      AND (x.locked_until IS NULL OR x.locked_until < $4)
    FOR UPDATE SKIP LOCKED
)
RETURNING d.*"#;
            let values: Vec<Value> = vec![
                until.into(),
                lease.to_string().into(),
                ids.to_vec().into(),
                now.into(),
            ];
            delivery::Entity::find()
                .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
                .all(db)
                .await?
        }
        _ => {
            // One node per SQLite file: its write lock is the only claim needed.
            delivery::Entity::update_many()
                .col_expr(delivery::Column::LockedUntil, Expr::value(until))
                .col_expr(delivery::Column::Lease, Expr::value(lease.to_string()))
                .filter(delivery::Column::Id.is_in(ids.to_vec()))
                .filter(
                    delivery::Column::Status
                        .is_in([Status::Pending.as_str(), Status::Retrying.as_str()]),
                )
                .filter(
                    sea_orm::Condition::any()
                        .add(delivery::Column::LockedUntil.is_null())
                        .add(delivery::Column::LockedUntil.lt(now)),
                )
                .exec(db)
                .await?;
            delivery::Entity::find()
                .filter(delivery::Column::Id.is_in(ids.to_vec()))
                .filter(delivery::Column::Lease.eq(lease))
                .all(db)
                .await?
        }
    };
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Extends this node's claim on `ids` until `until`; how many rows are still its own.
pub async fn renew<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    lease: &str,
    until: DateTime<Utc>,
) -> AppResult<u64> {
    let res = delivery::Entity::update_many()
        .col_expr(delivery::Column::LockedUntil, Expr::value(until))
        .filter(delivery::Column::Id.is_in(ids.to_vec()))
        .filter(delivery::Column::Lease.eq(lease))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Gives back claimed rows that were not attempted.
pub async fn release<C: ConnectionTrait>(db: &C, ids: &[i64], lease: &str) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    delivery::Entity::update_many()
        .col_expr(
            delivery::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(delivery::Column::Lease, Expr::value(Option::<String>::None))
        .filter(delivery::Column::Id.is_in(ids.to_vec()))
        .filter(delivery::Column::Lease.eq(lease))
        .exec(db)
        .await?;
    Ok(())
}

/// Records the successful attempts of deliveries this node holds under `lease` (all
/// answered `status_code`), and releases them; how many were still its own.
pub async fn finish_delivered<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    lease: &str,
    status_code: i32,
) -> AppResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let res = delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Attempts,
            Expr::col(delivery::Column::Attempts).add(1),
        )
        .col_expr(
            delivery::Column::Status,
            Expr::value(Status::Delivered.as_str()),
        )
        .col_expr(delivery::Column::DeliveredAt, Expr::value(now_millis()))
        .col_expr(delivery::Column::LastStatusCode, Expr::value(status_code))
        .col_expr(
            delivery::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            delivery::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(delivery::Column::Lease, Expr::value(Option::<String>::None))
        .filter(delivery::Column::Id.is_in(ids.to_vec()))
        .filter(delivery::Column::Lease.eq(lease))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// What one attempt gave.
#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered {
        status_code: i32,
    },
    /// Failed; `retry_at` when it is tried again, `None` when this was the last attempt.
    Failed {
        status_code: Option<i32>,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Records an attempt of a delivery this node holds under `lease`, and releases it. False
/// when the row is no longer this node's (its lease expired and another node took it, or
/// the endpoint was deleted): nothing is written.
pub async fn finish<C: ConnectionTrait>(
    db: &C,
    id: i64,
    lease: &str,
    outcome: &Outcome,
) -> AppResult<bool> {
    let now = now_millis();
    let mut q = delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Attempts,
            Expr::col(delivery::Column::Attempts).add(1),
        )
        .col_expr(
            delivery::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(delivery::Column::Lease, Expr::value(Option::<String>::None));
    q = match outcome {
        Outcome::Delivered { status_code } => q
            .col_expr(
                delivery::Column::Status,
                Expr::value(Status::Delivered.as_str()),
            )
            .col_expr(delivery::Column::DeliveredAt, Expr::value(now))
            .col_expr(delivery::Column::LastStatusCode, Expr::value(*status_code))
            .col_expr(
                delivery::Column::LastError,
                Expr::value(Option::<String>::None),
            ),
        Outcome::Failed {
            status_code,
            error,
            retry_at,
        } => {
            let q = q
                .col_expr(delivery::Column::LastStatusCode, Expr::value(*status_code))
                .col_expr(delivery::Column::LastError, Expr::value(error.clone()));
            match retry_at {
                Some(at) => q
                    .col_expr(
                        delivery::Column::Status,
                        Expr::value(Status::Retrying.as_str()),
                    )
                    .col_expr(delivery::Column::NextAttemptAt, Expr::value(*at)),
                None => q.col_expr(
                    delivery::Column::Status,
                    Expr::value(Status::Failed.as_str()),
                ),
            }
        }
    };
    let res = q
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::Lease.eq(lease))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}
